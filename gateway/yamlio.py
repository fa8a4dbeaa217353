"""YAML read and written as ``yaml.safe_load``/``safe_dump`` do, through libyaml where PyYAML
was built with it (its wheels are): the pure-Python parser took ~0.5 s of each start-up on the
gateway's and pygeoapi's configuration files."""

from __future__ import annotations

from typing import IO, Any

import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load(source: str | IO[str]) -> Any:
    """The document of ``source`` (text or a text file), as ``yaml.safe_load``."""
    return yaml.load(source, Loader=LOADER)


def dump(data: Any, **options: Any) -> str:
    """``data`` as YAML text, as ``yaml.safe_dump`` (``options``: its own)."""
    return yaml.dump(data, Dumper=DUMPER, **options)
