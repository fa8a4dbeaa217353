"""MapProxy sources that render through the engine: maps, feature info and legends.

They never read pixels: ``engine.render`` / ``engine.compute`` do, with the engine's cache.
The request's own parameters (TIME, MAXCC, PRIORITY, EXPRESSION, STYLES) come from
``gateway.context`` (``_compat.with_request_context``); MapProxy itself hands a source only
the area and size.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from mapproxy.extent import DefaultMapExtent
from mapproxy.featureinfo import JSONFeatureInfoDoc, TextFeatureInfoDoc, XMLFeatureInfoDoc
from mapproxy.image import ImageResult
from mapproxy.image.opts import ImageOptions
from mapproxy.layer.map_layer import MapLayer
from mapproxy.source import InfoSource, LegendSource, SourceError

from gateway.context import current
from gateway.core.crs import parse_crs
from gateway.errors import GatewayError
from gateway.ows.mapproxy.legend import legend_image
from gateway.ows.wms_params import RenderParams
from gateway.runtime import Runtime

log = logging.getLogger(__name__)

# The engine renders lossless, transparent PNG; MapProxy re-encodes to the requested format.
SOURCE_IMAGE = ImageOptions(format="image/png", transparent=True)
# Half-size of the box feature info reads around a point (~1 cm): finer than any asset.
POINT_METRES = 0.01
POINT_DEGREES = 1e-7


def _params() -> RenderParams:
    return RenderParams.from_params(current().params)


class EngineMapLayer(MapLayer):
    """A layer's map for any bbox/size/CRS MapProxy asks, from ``engine.render``."""

    supports_meta_tiles = True

    def __init__(self, runtime: Runtime, layer: str) -> None:
        super().__init__(image_opts=SOURCE_IMAGE)
        self.runtime = runtime
        self.layer = layer
        self.extent = DefaultMapExtent()
        self.res_range = None

    def get_map(self, query: Any) -> ImageResult:
        try:
            request = _params().request(
                self.runtime,
                layer=self.layer,
                bbox=tuple(query.bbox),
                crs=query.srs.srs_code,
                size=tuple(query.size),
            )
            rendered = self.runtime.engine.render(request)
        except GatewayError as error:
            log.info("map of %s failed: %s", self.layer, error.message)
            raise SourceError(error.message) from None
        return ImageResult(
            BytesIO(rendered.content), size=tuple(query.size), image_opts=SOURCE_IMAGE
        )


def pixel_bounds(
    bbox: tuple[float, float, float, float], size: tuple[int, int], pos: tuple[int, int]
) -> tuple[float, float, float, float]:
    """The footprint of pixel ``pos`` (column, row from the top) of a ``size`` grid on ``bbox``."""
    minx, miny, maxx, maxy = bbox
    resx, resy = (maxx - minx) / size[0], (maxy - miny) / size[1]
    col, row = pos
    return (minx + col * resx, maxy - (row + 1) * resy, minx + (col + 1) * resx, maxy - row * resy)


def point_grid(crs: str, x: float, y: float, pixel: float) -> tuple[float, float, float, float]:
    """A tiny box around ``(x, y)``: read on it, the finest asset's pixel under the point."""
    half = min(pixel / 2, POINT_DEGREES if parse_crs(crs).is_geographic else POINT_METRES)
    return (x - half, y - half, x + half, y + half)


def pixel_info(
    runtime: Runtime,
    layer: str,
    params: RenderParams,
    *,
    bbox: tuple[float, float, float, float],
    size: tuple[int, int],
    pos: tuple[int, int],
    crs: str,
) -> dict[str, Any]:
    """The layer's value(s) at the centre of map pixel ``pos``, with the scene it came from.

    The value is the source pixel under that point (finest resolution, nearest neighbour,
    ``engine.compute``), as a GIS "identify" gives it, not a resampled map pixel.
    """
    bounds = pixel_bounds(bbox, size, pos)
    x, y = (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    pixel = min(bounds[2] - bounds[0], bounds[3] - bounds[1])
    request = params.request(
        runtime, layer=layer, bbox=point_grid(crs, x, y, pixel), crs=crs, size=(1, 1)
    )
    raster = runtime.engine.compute(replace(request, resampling="nearest"))
    valid = bool(raster.valid[0, 0])
    values: dict[str, float | None] = {}
    for name, band in zip(raster.band_names, raster.data[:, 0, 0], strict=True):
        number = float(band)
        values[name] = round(number, 6) if valid and math.isfinite(number) else None
    index = int(raster.source[0, 0]) if raster.source is not None else -1
    scene = raster.scenes[index] if valid and 0 <= index < len(raster.scenes) else None
    return {
        "layer": layer,
        "crs": crs,
        "x": x,
        "y": y,
        "values": values,
        "scene": scene.id if scene else None,
        "date": scene.datetime.isoformat() if scene else None,
        "cloud_cover": scene.cloud_cover if scene else None,
    }


def info_document(info: dict[str, Any], info_format: str) -> Any:
    """``info`` as MapProxy's text, JSON or XML feature-info document."""
    if "json" in info_format:
        feature = {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [info["x"], info["y"]]},
            "properties": {k: v for k, v in info.items() if k not in ("x", "y")},
        }
        return JSONFeatureInfoDoc(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    if "xml" in info_format:
        values = "".join(
            f"<Value band={quoteattr(name)}>{'' if v is None else v}</Value>"
            for name, v in info["values"].items()
        )
        scene = (
            f"<Scene id={quoteattr(info['scene'])} date={quoteattr(info['date'])}/>"
            if info["scene"]
            else ""
        )
        return XMLFeatureInfoDoc(
            f"<FeatureInfoResponse><Layer name={quoteattr(info['layer'])} "
            f'crs={quoteattr(info["crs"])} x="{info["x"]}" y="{info["y"]}">'
            f"{values}{scene}</Layer></FeatureInfoResponse>"
        )
    lines = [f"layer = {info['layer']}"]
    lines += [f"{name} = {'' if v is None else v}" for name, v in info["values"].items()]
    lines += [f"scene = {info['scene'] or ''}", f"date = {info['date'] or ''}"]
    return TextFeatureInfoDoc(escape("\n".join(lines)) + "\n")


class EngineInfoSource(InfoSource):
    """GetFeatureInfo: value(s), scene id and date at the clicked pixel."""

    def __init__(self, runtime: Runtime, layer: str) -> None:
        self.runtime = runtime
        self.layer = layer

    def get_info(self, query: Any) -> Any:
        try:
            info = pixel_info(
                self.runtime,
                self.layer,
                _params(),
                bbox=tuple(query.bbox),
                size=tuple(query.size),
                pos=tuple(query.pos),
                crs=query.srs.srs_code,
            )
        except GatewayError as error:
            # MapProxy's feature info has no answer for a source's error but a 500 and a
            # traceback: the door's wrapper answers with the WMS exception (with_request_context).
            log.info("feature info of %s failed: %s", self.layer, error.message)
            current().failures.append(error)
            return None
        return info_document(info, query.info_format or "text/plain")


class EngineLegendSource(LegendSource):
    """GetLegendGraphic: the layer style's colours with value labels."""

    def __init__(self, runtime: Runtime, layer: str) -> None:
        self.runtime = runtime
        self.layer = layer

    def _image(self) -> Any:
        conf = self.runtime.config.layer(self.layer)
        assert conf is not None  # the MapProxy configuration lists configured layers only
        style = self.runtime.config.style(
            _params().style or conf.style
        ) or self.runtime.config.style(conf.style)
        assert style is not None  # a layer's own style is checked when the configuration loads
        bands = tuple(part.strip() for part in conf.expression.split(";"))
        return legend_image(style, conf.title, bands)

    @property
    def size(self) -> tuple[int, int]:
        return self._image().size

    def get_legend(self, query: Any) -> ImageResult:
        return ImageResult(self._image(), image_opts=ImageOptions(format="image/png"))
