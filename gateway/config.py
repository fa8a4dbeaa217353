"""The gateway's YAML configuration: collections, layers, styles and limits.

Validated with pydantic when the app is created; nothing is read at import time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.core.styles import Style

Order = Literal["mostRecent", "leastRecent", "leastCC"]
Resampling = Literal["nearest", "bilinear", "cubic", "average"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Bounds every request must stay within."""

    max_width: int = 4096
    max_height: int = 4096
    max_pixels: int = 4096 * 4096
    max_expression_length: int = 2000
    max_expression_nodes: int = 200
    max_outputs: int = 4
    max_time_span_days: int = 366
    max_scenes: int = 40
    # Work of one request: output pixels x bands read x scenes that may be read (those the
    # catalog finds, at most max_scenes), checked before any pixel is read.
    max_work: int = 1 << 30


class CloudMask(_Strict):
    """Which classification band and classes mark pixels to drop."""

    band: str = "SCL"
    classes: tuple[int, ...] = (3, 8, 9, 10)


class CollectionConfig(_Strict):
    """One catalog collection and how to read its pixels."""

    id: str
    title: str
    bands: tuple[str, ...]
    # Used when an asset has no raster:scale / raster:offset.
    default_scale: float = 1.0
    default_offset: float = 0.0
    # Sentinel-2 L2A: baseline >= 04.00 stores DN with a -1000 offset when raster:offset is absent.
    baseline_offset: float | None = None
    cloud_mask: CloudMask | None = None
    # Bands read with nearest neighbour whatever the request says (classes, counts).
    categorical_bands: tuple[str, ...] = ()
    default_order: Order = "mostRecent"
    # No TIME means this many days up to the latest acquisition (gateway.core.dates).
    default_time_days: int = Field(default=31, ge=1)


class LayerConfig(_Strict):
    """A named map: a collection, an expression and a style."""

    name: str
    title: str
    collection: str
    expression: str
    style: str
    cloud_mask: bool = False
    abstract: str = ""
    resampling: Resampling = "bilinear"


class GatewayConfig(_Strict):
    """The whole validated configuration."""

    limits: Limits = Field(default_factory=Limits)
    collections: tuple[CollectionConfig, ...]
    layers: tuple[LayerConfig, ...]
    styles: tuple[Style, ...]

    @model_validator(mode="after")
    def _check_references(self) -> GatewayConfig:
        collections = {c.id for c in self.collections}
        styles = {s.name for s in self.styles}
        names: set[str] = set()
        for layer in self.layers:
            if layer.collection not in collections:
                raise ValueError(f"layer {layer.name}: unknown collection {layer.collection}")
            if layer.style not in styles:
                raise ValueError(f"layer {layer.name}: unknown style {layer.style}")
            if layer.name in names:
                raise ValueError(f"layer {layer.name} is defined twice")
            names.add(layer.name)
        return self

    def collection(self, collection_id: str) -> CollectionConfig | None:
        return next((c for c in self.collections if c.id == collection_id), None)

    def layer(self, name: str) -> LayerConfig | None:
        wanted = name.upper()
        return next((layer for layer in self.layers if layer.name.upper() == wanted), None)

    def style(self, name: str) -> Style | None:
        return next((s for s in self.styles if s.name == name), None)


def _read_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


def default_config_file() -> Path:
    """``gateway.yaml`` of the packaged copy of the repository's ``config/`` folder."""
    return Path(str(resources.files("gateway.defaults") / "gateway.yaml"))


def load_config(path: Path | None = None) -> GatewayConfig:
    """Load and validate a configuration file (the packaged default when ``path`` is None).

    ``styles`` may be given inline or as ``styles_file`` relative to the config file.
    """
    path = path or default_config_file()
    raw = _read_yaml(path)
    styles_file = raw.pop("styles_file", None)
    if styles_file is not None:
        raw.setdefault("styles", []).extend(_read_yaml(path.parent / styles_file))
    return GatewayConfig.model_validate(raw)
