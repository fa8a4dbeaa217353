"""Inputs every raster process shares: what to compute, when, and how to mosaic."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.access.visible import may_use_collection, may_use_layer
from gateway.config import GatewayConfig
from gateway.core.grid import Grid
from gateway.core.request import RenderRequest, build_request
from gateway.core.sar import SarOptions, parse_sar_options
from gateway.core.scripts import check_bands
from gateway.core.terrain import Terrain
from gateway.errors import Forbidden, InvalidParameterValue, MissingParameterValue, NotFound
from gateway.evalscript.param import read_script
from gateway.runtime import Runtime


@dataclass(frozen=True)
class Source:
    """The expression, its collection and the mosaic options of a process request."""

    collection: str
    expression: str
    names: tuple[str, ...]
    time: str | None
    maxcc: float | None
    order: str | None
    resampling: str | None
    cloud_mask: bool
    # Sentinel-1's orbit_direction, back_coeff and noise_removal
    sar: SarOptions = field(default_factory=SarOptions)
    # An index layer's terrain (SLOPE, HILLSHADE): computed from the expression's heights.
    terrain: Terrain | None = None
    evalscript: str | None = None  # in place of the expression (its bands: ``expression``)


def resolve_source(config: GatewayConfig, inputs: dict[str, Any]) -> Source:
    """``expression`` (band math or an index layer name such as ``NDVI``) or ``evalscript``,
    ``collection``, ``time``, ``maxcc``, ``order``, ``resampling``, ``cloud_mask``, and
    Sentinel-1's ``orbit_direction``, ``back_coeff``, ``noise_removal``."""
    evalscript = inputs.get("evalscript")
    script = read_script(evalscript) if isinstance(evalscript, str) else None
    text = ";".join(script.bands) if script is not None else inputs.get("expression")
    if script is not None and inputs.get("expression"):
        raise InvalidParameterValue("give an expression or an evalscript", locator="evalscript")
    if text is None:
        raise MissingParameterValue(
            "give an expression (band math or an index name) or an evalscript",
            locator="expression",
        )
    if not isinstance(text, str) or not text.strip():
        raise InvalidParameterValue(
            "expression must be band math or an index name", locator="expression"
        )
    layer = config.layer(text.strip()) if script is None else None
    if layer is not None and layer.evalscript is not None:  # a layer defined by a script
        evalscript, script = layer.evalscript, layer.script()
    collection = inputs.get("collection") or (layer.collection if layer else "sentinel-2-l2a")
    conf = config.collection(str(collection))
    if conf is None:
        raise NotFound(f"unknown collection {str(collection)[:40]!r}", locator="collection")
    if not may_use_collection(conf.id) or (
        layer is not None and not may_use_layer(layer.name, layer.collection)
    ):
        named = layer.name if layer is not None else conf.id
        raise Forbidden(f"these credentials do not allow {named!r}", locator="expression")
    expression = layer.expression if layer else text.strip()
    outputs = [part.strip() for part in expression.split(";") if part.strip()]
    names = tuple(outputs) if len(outputs) > 1 else ((layer.name if layer else "value"),)
    default_mask = bool(conf.cloud_mask) and (layer.cloud_mask if layer else script is None)
    cloud_mask = inputs.get("cloud_mask", default_mask)
    if not isinstance(cloud_mask, bool):
        raise InvalidParameterValue("cloud_mask must be true or false", locator="cloud_mask")
    if script is not None:
        check_bands(script, conf)
        names = script.data_names
        if cloud_mask:
            raise InvalidParameterValue(
                "cloud_mask does not apply to an evalscript: it masks with dataMask, or SCL",
                locator="cloud_mask",
            )
    if cloud_mask and conf.cloud_mask is None:
        raise InvalidParameterValue("this collection has no cloud mask band", locator="cloud_mask")
    return Source(
        collection=conf.id,
        expression=expression,
        names=names,
        time=inputs.get("time"),
        maxcc=inputs.get("maxcc"),
        order=inputs.get("order"),
        resampling=inputs.get("resampling"),
        cloud_mask=cloud_mask,
        sar=_sar_options(inputs),
        terrain=layer.terrain if layer else None,
        evalscript=evalscript if script is not None else None,
    )


def _sar_options(inputs: dict[str, Any]) -> SarOptions:
    """Sentinel-1's inputs (the metadata's schemas checked their types before)."""
    texts = {}
    for name in ("back_coeff", "orbit_direction"):
        value = inputs.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidParameterValue(f"{name} must be a string", locator=name)
        texts[name] = value
    noise = inputs.get("noise_removal", True)
    if not isinstance(noise, bool):
        raise InvalidParameterValue("noise_removal must be true or false", locator="noise_removal")
    return parse_sar_options(texts["back_coeff"], noise, texts["orbit_direction"])


def source_request(
    runtime: Runtime,
    source: Source,
    grid: Grid,
    *,
    time: str | None = None,
    extra: str | None = None,
    fmt: str = "tiff",
) -> RenderRequest:
    """The engine request for ``source`` on ``grid`` (``extra`` appends outputs, e.g. SCL)."""
    expression = source.expression + (f";{extra}" if extra else "")
    request = build_request(
        runtime.config,
        bbox=grid.bounds,
        crs=grid.crs.to_string(),
        width=grid.width,
        height=grid.height,
        collection=source.collection,
        expression=expression,
        style="greyscale",
        format=fmt,
        time=time if time is not None else source.time,
        maxcc=source.maxcc,
        order=source.order,
        cloud_mask=False if extra else source.cloud_mask,
        resampling=source.resampling,
        times=runtime.times,
        sar=source.sar,
        evalscript=source.evalscript,
    )
    if source.terrain is not None and not extra:
        return replace(request, terrain=source.terrain)
    return request


def units_of(runtime: Runtime, requests: Iterable[RenderRequest]) -> float:
    """The processing units the engine charges for rendering each of ``requests``."""
    return sum(runtime.engine.units(request) for request in requests)
