"""The default configuration as a dict that can be written anywhere: the files it names
(``styles_file``, layers' ``evalscript`` files) made absolute."""

from __future__ import annotations

from typing import Any

import yaml

from gateway.config import default_config_file


def portable_default_config() -> dict[str, Any]:
    """``gateway.yaml`` read, its relative file references pointing at the packaged files."""
    default = default_config_file()
    raw = yaml.safe_load(default.read_text())
    raw["styles_file"] = str(default.parent / raw["styles_file"])
    for layer in raw["layers"]:
        script = layer.get("evalscript")
        if script is not None and not script.lstrip().startswith("//"):
            layer["evalscript"] = str(default.parent / script)
    return raw
