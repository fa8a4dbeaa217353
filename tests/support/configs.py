"""The default configuration as a dict that can be written anywhere: the files it names
(``styles_file``, layers' ``evalscript`` files) made absolute."""

from __future__ import annotations

from pathlib import Path
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


# Hostile scripts spin until the JavaScript engine's time limit stops them: 0.3 s in the gateways
# of the hostile suites instead of the default 5 s, so the suite is not spent waiting (the limit
# itself, and that it stops a script, are tested on the engine: test_evalscript_javascript.py).
HOSTILE_JS_MS = 300


def hostile_config_file(folder: Path) -> Path:
    """The default configuration with ``HOSTILE_JS_MS``, written into ``folder``."""
    raw = portable_default_config()
    raw.setdefault("limits", {})["evalscript_js_ms"] = HOSTILE_JS_MS
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
