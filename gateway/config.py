"""The gateway's YAML configuration: collections, layers, styles and limits.

Validated with pydantic when the app is created; nothing is read at import time.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway import yamlio
from gateway.core.bandmath import parse_expression
from gateway.core.scripts import check_bands
from gateway.core.styles import Style
from gateway.core.terrain import Terrain
from gateway.errors import GatewayError, InvalidParameterValue
from gateway.evalscript import Evalscript, compile_evalscript
from gateway.evalscript.jsengine import JsLimits
from gateway.evalscript.param import read_script

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
    # Scenes a mosaic asks the catalog for first; it asks for the rest (up to max_scenes) only
    # if those leave pixels unfilled (renders whose work stays under max_work with max_scenes).
    first_scenes: int = Field(default=8, ge=1)
    # An evalscript the translator cannot translate runs in the JavaScript engine: each call
    # (setup, or one tile) within this time and memory.
    evalscript_js_ms: int = Field(default=5000, ge=1)
    evalscript_js_memory_mb: int = Field(default=256, ge=16)


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
    # UCUM units of bands that are not reflectance (the DEM's heights: m), given as a mapping
    # and kept as pairs (the configuration stays hashable).
    band_units: tuple[tuple[str, str], ...] = ()
    # One state of the ground (the DEM): a request's TIME is not read, every request reads the
    # default period (the items' own dates).
    timeless: bool = False
    # Degrees by which the items' files may reach beyond their footprints (the DEM's: the
    # whole-degree cell, the file half a pixel more): the catalog search grows the request's
    # area by it, so a request in that rim still finds the file.
    footprint_pad: float = Field(default=0.0, ge=0, le=1)
    default_order: Order = "mostRecent"
    # No TIME means this many days up to the latest acquisition (gateway.core.dates).
    default_time_days: int = Field(default=31, ge=1)
    # How pixels are read: optical bands (DN x scale + offset, warped from their CRS), or
    # Sentinel-1 GRD (calibrated from the annotation LUTs, geocoded through GCPs: core/sar).
    kind: Literal["optical", "sar-grd"] = "optical"
    # Ground metres of its finest pixels: Sentinel Hub's UPSAMPLING applies to finer output
    # pixels, DOWNSAMPLING to coarser ones (gateway.core.shparams).
    native_m: float = Field(default=10.0, gt=0)
    # Bands named otherwise in the collection's items, as a mapping {band: name in the items}
    # kept as pairs: CDSE's DEM items hold the heights in one asset ``data`` with no band list.
    item_bands: tuple[tuple[str, str], ...] = ()

    @field_validator("band_units", "item_bands", mode="before")
    @classmethod
    def _units_as_pairs(cls, value: object) -> object:
        return tuple(value.items()) if isinstance(value, dict) else value

    def band_unit(self, band: str) -> str | None:
        """The UCUM unit of ``band`` when it is not reflectance."""
        return dict(self.band_units).get(band)

    def item_band(self, band: str) -> str:
        """The name ``band`` has in the collection's items (the band's own by default)."""
        return dict(self.item_bands).get(band, band)


class OverviewSource(_Strict):
    """Where a layer draws its zoomed-out maps from: another collection (say the quarterly
    mosaics' COGs), for outputs whose pixels are coarser than ``beyond_m`` ground metres
    (at the map's centre). ``time_days``: the items searched are those dated within this many
    days up to the end of the request's period (a quarterly mosaic is dated by its first day).
    ``expression``: in the other collection's bands, the layer's own by default."""

    collection: str
    beyond_m: float = Field(gt=0)
    expression: str | None = None
    time_days: int = Field(default=92, ge=1)


class Preview(_Strict):
    """Sentinel Hub's ``PREVIEW`` modes (gateway.core.preview): 0 reads scenes for outputs of
    pixels up to ``full_max_m`` ground metres and answers "zoom in" beyond; 1 goes on up to
    ``low_max_m`` with a bounded preview (at most ``max_scenes`` scenes); 2 goes on at any
    size, beyond ``low_max_m`` on the last ``last_days`` days of the period only.
    ``default``: the mode of a request that names none."""

    default: Literal[0, 1, 2] = 2
    full_max_m: float = Field(default=200.0, gt=0)
    low_max_m: float = Field(default=1500.0, gt=0)
    max_scenes: int = Field(default=16, ge=1)
    last_days: int = Field(default=31, ge=1)

    @model_validator(mode="after")
    def _check_order(self) -> Preview:
        if self.low_max_m < self.full_max_m:
            raise ValueError("preview: low_max_m must not be below full_max_m")
        return self


class LayerConfig(_Strict):
    """A named map: a collection, an expression and a style (and, zoomed out, perhaps
    another collection: ``overview``); or a collection and an ``evalscript`` (its text; in
    the file, its text or a file relative to the configuration), whose ``expression`` is then
    the bands it reads; ``terrain``: the expression's heights become a slope or hillshade
    (``gateway.core.terrain``)."""

    name: str
    title: str
    collection: str
    expression: str = ""
    style: str = "greyscale"  # its legend; a script draws its own colours
    cloud_mask: bool = False
    abstract: str = ""
    resampling: Resampling = "bilinear"
    overview: OverviewSource | None = None
    # A neighbourhood operation on the (single) output: gateway.core.terrain.
    terrain: Terrain | None = None
    # UCUM unit of a single output ("1": reflectance, indices; "m", "deg").
    unit: str = "1"
    evalscript: str | None = None
    evalscript_file: str | None = None  # where ``evalscript`` was read from (for messages)

    @model_validator(mode="after")
    def _check_source(self) -> LayerConfig:
        """One of ``expression`` and ``evalscript``; the script translates (its errors with
        their line and column), and gives ``expression`` its bands."""
        if self.evalscript is None:
            if not self.expression.strip():
                raise ValueError(f"layer {self.name}: give an expression or an evalscript")
            return self
        where = f" ({self.evalscript_file})" if self.evalscript_file else ""
        if self.overview is not None or self.cloud_mask:
            raise ValueError(f"layer {self.name}: a script layer takes no overview or cloud_mask")
        try:
            script = self.script()
        except GatewayError as exc:
            raise ValueError(f"layer {self.name}{where}: {exc.message}") from None
        assert script is not None
        bands = ";".join(script.bands)
        if self.expression.strip() not in ("", bands):  # a dumped layer carries its bands
            raise ValueError(f"layer {self.name}: give an expression or an evalscript, not both")
        object.__setattr__(self, "expression", bands)
        return self

    def script(self) -> Evalscript | None:
        """The translated ``evalscript`` (cached per text), None for an expression layer."""
        return compile_evalscript(self.evalscript) if self.evalscript is not None else None


class InstanceConfig(_Strict):
    """A Sentinel Hub-style instance: a named set of configured layers, served on
    ``/ogc/{wms,wmts,wcs,wfs}/{name}`` (``gateway.ows.instances``)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    title: str = ""
    layers: tuple[str, ...] = Field(min_length=1)


class GatewayConfig(_Strict):
    """The whole validated configuration."""

    limits: Limits = Field(default_factory=Limits)
    preview: Preview = Field(default_factory=Preview)
    collections: tuple[CollectionConfig, ...]
    layers: tuple[LayerConfig, ...]
    styles: tuple[Style, ...]
    instances: tuple[InstanceConfig, ...] = ()

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
            if layer.overview is not None:
                self._check_overview(layer, layer.overview)
            if layer.terrain is not None and ";" in layer.expression:
                raise ValueError(f"layer {layer.name}: terrain needs one output (the heights)")
            script = layer.script()
            if script is not None:
                try:
                    check_bands(script, self.collection(layer.collection))  # type: ignore[arg-type]
                except InvalidParameterValue as exc:
                    raise ValueError(f"layer {layer.name}: {exc.message}") from None
            if layer.name in names:
                raise ValueError(f"layer {layer.name} is defined twice")
            names.add(layer.name)
        return self

    @model_validator(mode="after")
    def _check_instances(self) -> GatewayConfig:
        """Every instance names configured layers, and no name is taken twice."""
        seen: set[str] = set()
        for instance in self.instances:
            if instance.name in seen:
                raise ValueError(f"instance {instance.name} is defined twice")
            seen.add(instance.name)
            for name in instance.layers:
                layer = self.layer(name)
                if layer is None or layer.name != name:  # spelt as the layer is
                    raise ValueError(f"instance {instance.name}: unknown layer {name}")
        return self

    def _check_overview(self, layer: LayerConfig, overview: OverviewSource) -> None:
        """The overview collection exists and has the bands of the expression read there."""
        collection = self.collection(overview.collection)
        if collection is None:
            raise ValueError(f"layer {layer.name}: unknown overview {overview.collection}")
        try:
            parse_expression(overview.expression or layer.expression, collection.bands)
        except InvalidParameterValue as exc:
            raise ValueError(f"layer {layer.name}: overview: {exc.message}") from None

    def collection(self, collection_id: str) -> CollectionConfig | None:
        return next((c for c in self.collections if c.id == collection_id), None)

    def layer(self, name: str) -> LayerConfig | None:
        wanted = name.upper()
        return next((layer for layer in self.layers if layer.name.upper() == wanted), None)

    def instance(self, name: str) -> InstanceConfig | None:
        return next((i for i in self.instances if i.name == name), None)

    def style(self, name: str) -> Style | None:
        return next((s for s in self.styles if s.name == name), None)

    def script(self, text: str | None) -> Evalscript | None:
        """The translated script of a request's evalscript (base64 or its text), None when
        absent (here so that the core, which the translator uses, need not import it)."""
        return read_script(text, self.js_limits)

    @property
    def js_limits(self) -> JsLimits:
        """The JavaScript engine's time and memory per call."""
        return JsLimits(self.limits.evalscript_js_ms, self.limits.evalscript_js_memory_mb << 20)


def _read_yaml(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yamlio.load(handle) or {}


def default_config_file() -> Path:
    """``gateway.yaml`` of the packaged copy of the repository's ``config/`` folder."""
    return Path(str(resources.files("gateway.defaults") / "gateway.yaml"))


def load_config(path: Path | None = None) -> GatewayConfig:
    """Load and validate a configuration file (the packaged default when ``path`` is None).

    ``styles`` may be given inline or as ``styles_file`` relative to the config file; a
    layer's ``evalscript`` inline (its text begins with ``//``) or as a file relative to it.
    """
    path = path or default_config_file()
    raw = _read_yaml(path)
    styles_file = raw.pop("styles_file", None)
    if styles_file is not None:
        raw.setdefault("styles", []).extend(_read_yaml(path.parent / styles_file))
    for layer in raw.get("layers") or []:
        if isinstance(layer, dict):
            _read_evalscript_file(layer, path.parent)
    return GatewayConfig.model_validate(raw)


def _read_evalscript_file(layer: dict, folder: Path) -> None:
    """A layer's ``evalscript`` that names a file: replaced by the file's text."""
    value = layer.get("evalscript")
    if not isinstance(value, str) or value.lstrip().startswith("//"):
        return
    file = folder / value.strip()
    try:
        layer["evalscript"] = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"layer {layer.get('name')}: evalscript file {value!r}: {exc}") from None
    layer["evalscript_file"] = value.strip()
