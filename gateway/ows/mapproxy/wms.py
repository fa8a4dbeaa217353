"""Checks WMS requests before MapProxy answers them, so bad input gets the WMS exception.

Every parameter the engine takes is validated here with the engine's own parsers (the
same ``RenderRequest`` the MapProxy source will build), then the request is forwarded.
Float GeoTIFF maps (``FORMAT=image/tiff``) are answered here: MapProxy handles only pictures.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mapproxy.config.config import local_base_config
from mapproxy.srs import SRS

from gateway.core.render import IMAGE_FORMATS, MEDIA_TYPES, encode_again, parse_format
from gateway.core.request import RenderRequest, count_pixels, parse_bbox, warning_header
from gateway.core.styles import parse_color
from gateway.core.tiles.grids import TileAddress, TileGrids
from gateway.core.tiles.service import TILE_FORMATS
from gateway.errors import GatewayError, InvalidParameterValue, MissingParameterValue, NotFound
from gateway.ows.exceptions import Dialect
from gateway.ows.mapproxy._compat import STYLES_KEY
from gateway.ows.mapproxy.app import default_base_config
from gateway.ows.mapproxy.config import WMS_FORMATS, WMS_SRS
from gateway.ows.wms_params import RenderParams, parse_int, require
from gateway.runtime import Runtime

VERSIONS = ("1.1.1", "1.3.0")
INFO_FORMATS = ("text/plain", "application/json", "text/xml")
IMAGE_KEYS = {parse_format(f) for f in WMS_FORMATS}
_SRS = {code.upper() for code in WMS_SRS}
WHITE = ("0xffffff", "#ffffff")  # BGCOLOR values that mean MapProxy's default background
EXCEPTION_FORMATS = frozenset(
    {"xml", "inimage", "blank"}
    | {f"application/vnd.ogc.se_{mode}" for mode in ("xml", "inimage", "blank")}
)  # the 1.3.0 and the 1.1.1 names, taken in either version
_RES = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*m?\s*$")
_VERSION = re.compile(r"\d{1,3}(?:\.\d{1,3}){0,2}")
_BOOLEANS = ("true", "false")


@dataclass(frozen=True)
class WmsVersion:
    """What differs between WMS 1.1.1 and 1.3.0, in one table (``WMS_VERSIONS``)."""

    crs: str  # the name of the CRS parameter
    crs_code: str  # the exception code of a CRS refused
    axis_order: bool  # BBOX in the CRS's own axis order (else always x/y)
    point: tuple[str, str]  # GetFeatureInfo's pixel parameters
    dialect: Dialect  # the exception report


WMS_VERSIONS = {
    "1.3.0": WmsVersion("CRS", "InvalidCRS", True, ("I", "J"), Dialect.WMS130),
    "1.1.1": WmsVersion("SRS", "InvalidSRS", False, ("X", "Y"), Dialect.WMS111),
}


def version_of(params: Mapping[str, str]) -> str:
    """The version to write an exception in: the request's if we speak it, else 1.3.0."""
    version = params.get("VERSION") or params.get("WMTVER") or "1.3.0"
    return version if version in VERSIONS else "1.3.0"


def _asked_version(params: Mapping[str, str]) -> str | None:
    text = params.get("VERSION") or params.get("WMTVER") or ""
    return text.strip() or None


def operation_version(params: Mapping[str, str]) -> str:
    """VERSION of a GetMap, GetFeatureInfo or GetLegendGraphic: 1.1.1 or 1.3.0 (the
    default when absent); any other value is an InvalidParameterValue."""
    version = _asked_version(params)
    if version is None:
        return "1.3.0"
    if version not in VERSIONS:
        raise InvalidParameterValue(
            f"VERSION must be one of {', '.join(VERSIONS)}", locator="version"
        )
    return version


def capabilities_version(params: Mapping[str, str]) -> str:
    """WMS version negotiation: 1.3.0 for a version from 1.3.0 up (or none), else 1.1.1.
    A VERSION that is no version number at all is an InvalidParameterValue."""
    version = _asked_version(params)
    if version is None:
        return "1.3.0"
    if not _VERSION.fullmatch(version):
        raise InvalidParameterValue("VERSION must be a number such as 1.3.0", locator="version")
    number = (*(int(part) for part in version.split(".")), 0, 0)[:3]
    return "1.3.0" if number >= (1, 3, 0) else "1.1.1"


def map_options(params: Mapping[str, str]) -> dict[str, str]:
    """EXCEPTIONS, TRANSPARENT and BGCOLOR checked (InvalidParameterValue for values WMS does
    not define), as MapProxy should read them: BGCOLOR in its ``0xRRGGBB`` form."""
    exceptions = params.get("EXCEPTIONS")
    if exceptions is not None and exceptions.strip().lower() not in EXCEPTION_FORMATS:
        raise InvalidParameterValue(
            "EXCEPTIONS must be XML, INIMAGE or BLANK", locator="exceptions"
        )
    transparent = params.get("TRANSPARENT")
    if transparent is not None and transparent.strip().lower() not in _BOOLEANS:
        raise InvalidParameterValue("TRANSPARENT must be TRUE or FALSE", locator="transparent")
    options = {}
    bgcolor = params.get("BGCOLOR")
    if bgcolor is not None and bgcolor.strip():
        red, green, blue, _ = parse_color(bgcolor, locator="bgcolor")
        options["BGCOLOR"] = f"0x{red:02X}{green:02X}{blue:02X}"
    return options


@dataclass(frozen=True)
class MapArea:
    """The area of a GetMap/GetFeatureInfo request: CRS, bbox in x/y order, pixel size."""

    crs: str
    bbox: tuple[float, float, float, float]
    size: tuple[int, int]


@functools.lru_cache(maxsize=256)
def _axis_ne(crs: str) -> bool:
    """True when WMS 1.3.0 writes this CRS's BBOX north first (MapProxy's own rule)."""
    try:
        with local_base_config(default_base_config()):
            return bool(SRS(crs).is_axis_order_ne)
    except Exception:
        return False


def parse_area(params: Mapping[str, str], version: str) -> MapArea:
    """CRS/SRS, BBOX (axis order of WMS 1.3.0 handled), WIDTH/HEIGHT or RESX/RESY."""
    rules = WMS_VERSIONS[version]
    crs = require(params, rules.crs).strip()
    if crs.upper() not in _SRS:
        raise InvalidParameterValue(f"CRS {crs[:40]!r} is not offered", locator="crs")
    bbox = parse_bbox(require(params, "BBOX"))
    if rules.axis_order and _axis_ne(crs):
        bbox = (bbox[1], bbox[0], bbox[3], bbox[2])
    if not (bbox[2] > bbox[0] and bbox[3] > bbox[1]):
        raise InvalidParameterValue("BBOX must have min < max on both axes", locator="bbox")
    if "WIDTH" not in params and "RESX" in params:
        size = (
            _from_res(params, "RESX", bbox[2] - bbox[0]),
            _from_res(params, "RESY", bbox[3] - bbox[1]),
        )
    else:
        size = (parse_int(params, "WIDTH"), parse_int(params, "HEIGHT"))
    if size[0] < 1 or size[1] < 1:
        raise InvalidParameterValue("WIDTH and HEIGHT must be positive", locator="size")
    return MapArea(crs, bbox, size)


def _from_res(params: Mapping[str, str], name: str, extent: float) -> int:
    match = _RES.match(require(params, name))
    if not match or float(match.group(1)) <= 0:
        raise InvalidParameterValue(f"{name} must be a positive number", locator=name.lower())
    return count_pixels(extent, float(match.group(1)), "size")


def layer_requests(
    runtime: Runtime, names: list[str], area: MapArea, params: Mapping[str, str], fmt: str
) -> list[RenderRequest]:
    """One validated engine request per layer (the expression checked too, and for a
    picture format whether the style can show it)."""
    if not names:
        raise MissingParameterValue("missing parameter LAYERS", locator="layers")
    render = RenderParams.from_params(params)
    requests = []
    for name in names:
        request = render.request(
            runtime, layer=name, bbox=area.bbox, crs=area.crs, size=area.size, format=fmt
        )
        runtime.engine.check(request)
        requests.append(request)
    return requests


def _names(params: Mapping[str, str], key: str) -> list[str]:
    return [name.strip() for name in params.get(key, "").split(",") if name.strip()]


def _known_layers(runtime: Runtime, names: list[str], locator: str) -> list[str]:
    """The configured names of ``names`` (MissingParameterValue when none, LayerNotDefined)."""
    if not names:
        raise MissingParameterValue(f"missing parameter {locator.upper()}", locator=locator)
    known = []
    for name in names:
        conf = runtime.config.layer(name)
        if conf is None:
            raise NotFound(f"unknown layer {name[:40]!r}", locator=locator, code="LayerNotDefined")
        known.append(conf.name)
    return known


@dataclass
class Checked:
    """The outcome of checking one request: parameters to forward, or an engine request."""

    params: dict[str, str]
    direct: RenderRequest | None = None  # answered by the door itself (float GeoTIFF)
    capabilities_111: bool = False  # MapProxy's 1.1.1 dimensions need rewriting
    tile: TileAddress | None = None  # exactly one WMTS tile: answered from the tile cache
    capabilities: bool = False
    warning: str | None = None  # the HTTP Warning (gateway.core.request.warning_header)
    maps: list[RenderRequest] = field(default_factory=list)  # a GetMap's layers
    picture: Picture | None = None  # MapProxy's map encoded again (Sentinel Hub's QUALITY)


@dataclass(frozen=True)
class Picture:
    """How a map MapProxy composes losslessly is encoded: format, quality, background."""

    format: str
    quality: int
    transparent: bool
    bgcolor: tuple[int, int, int]

    def encode(self, content: bytes) -> bytes:
        return encode_again(
            content,
            self.format,
            quality=self.quality,
            transparent=self.transparent,
            bgcolor=self.bgcolor,
        )


def served_tile(
    grids: TileGrids, request: RenderRequest, area: MapArea, params: Mapping[str, str]
) -> TileAddress | None:
    """The WMTS tile a GetMap of one layer asks for, when the tile's bytes are the answer.

    The map must be one tile of a served tile matrix set (bbox and size), in a tile format;
    PNG/WebP tiles are transparent, so only ``TRANSPARENT=TRUE`` without BGCOLOR takes them,
    and JPEG tiles lie on white, MapProxy's default background. Every other parameter that
    changes pixels (TIME, MAXCC, PRIORITY, EXPRESSION, STYLES) is in the tile's cache key.
    """
    if request.format not in TILE_FORMATS or not engine_picture(request, params):
        return None
    found = grids.tile_at(area.crs, area.bbox, area.size)
    if found is None:
        return None
    name, z, x, y = found
    return TileAddress(str(request.layer), name, z, x, y, request.format)


def engine_picture(request: RenderRequest, params: Mapping[str, str]) -> bool:
    """Whether the engine's picture of ``request`` is the map MapProxy would compose: PNG and
    WebP transparent (``TRANSPARENT=TRUE`` without BGCOLOR), JPEG on white."""
    bgcolor = params.get("BGCOLOR", "").strip()
    if request.format == "jpeg":
        return not bgcolor or bgcolor.lower() in WHITE
    return not bgcolor and params.get("TRANSPARENT", "").strip().lower() == "true"


def check(runtime: Runtime, params: Mapping[str, str], grids: TileGrids | None = None) -> Checked:
    """Validate a WMS request; raises GatewayError with the parameter at fault.

    With ``grids``, a GetMap that is exactly one WMTS tile comes back with its ``tile``.
    """
    out = {name: value for name, value in params.items() if name != STYLES_KEY}
    if "STYLES" in out:  # checked below with the engine; MapProxy only knows the default
        out[STYLES_KEY], out["STYLES"] = out["STYLES"], ""
    operation = params.get("REQUEST", "").strip().lower()
    service = params.get("SERVICE")
    if service is not None and service.strip().upper() != "WMS":
        raise InvalidParameterValue("SERVICE must be WMS", locator="service")
    if operation in ("getcapabilities", "capabilities"):
        version = capabilities_version(params)
        out.pop("WMTVER", None)
        out["VERSION"] = version
        return Checked(out, capabilities_111=version == "1.1.1", capabilities=True)
    if not operation:
        raise MissingParameterValue("missing parameter REQUEST", locator="request")
    checker = _OPERATIONS.get(operation)
    if checker is None:
        raise unknown_operation(operation)
    version = operation_version(params)
    out.pop("WMTVER", None)
    out["VERSION"] = version  # as MapProxy reads it (it fails on a blank one)
    out.setdefault("STYLES", "")  # none given: the default (MapProxy answered 500)
    return checker(runtime, params, out, version, grids)


def _check_map(
    runtime: Runtime,
    params: Mapping[str, str],
    out: dict[str, str],
    version: str,
    grids: TileGrids | None,
) -> Checked:
    """GetMap: the area, format and layers; a TIFF of one layer, or a map of an EVALSCRIPT
    over one layer's collection, is answered directly, a map that is exactly one tile by the
    tile service."""
    out.update(map_options(params))
    area = parse_area(params, version)
    fmt = parse_format(require(params, "FORMAT"), allowed=IMAGE_KEYS)
    out["FORMAT"] = MEDIA_TYPES[fmt] if fmt in IMAGE_FORMATS else out["FORMAT"]
    requests = layer_requests(runtime, _names(params, "LAYERS"), area, params, fmt)
    out["LAYERS"] = ",".join(str(r.layer) for r in requests)  # names as MapProxy knows them
    out["WIDTH"], out["HEIGHT"] = str(area.size[0]), str(area.size[1])
    warning = warning_header(requests)
    if params.get("EVALSCRIPT", "").strip():  # the layer's collection and time, the script's
        if len(requests) != 1:
            raise InvalidParameterValue("EVALSCRIPT takes one layer", locator="layers")
        if grids is not None:  # one tile: from the tile cache, under the script's digest
            tile = served_tile(grids, requests[0], area, params)
            if tile is not None:
                return Checked(out, tile=tile, maps=requests, warning=warning)
        return Checked(out, direct=requests[0], warning=warning)
    if fmt in ("tiff", "cog"):
        if len(requests) != 1:
            raise InvalidParameterValue("image/tiff holds one layer", locator="layers")
        return Checked(out, direct=requests[0], warning=warning)
    if grids is not None and len(requests) == 1:
        tile = served_tile(grids, requests[0], area, params)
        if tile is not None or not _own_quality(requests[0], params):
            return Checked(out, tile=tile, maps=requests, warning=warning)
    if len(requests) == 1 and _own_quality(requests[0], params):
        return Checked(out, direct=requests[0], warning=warning)  # MapProxy's is fixed
    quality = requests[0].quality  # one QUALITY for all: MapProxy's RGBA TIFF encoded here
    if quality is not None:
        out["FORMAT"] = MEDIA_TYPES["tiff"].split(";")[0]
        picture = Picture(fmt, quality, _transparent(params), _background(out))
        return Checked(out, maps=requests, warning=warning, picture=picture)
    return Checked(out, maps=requests, warning=warning)


def _transparent(params: Mapping[str, str]) -> bool:
    return params.get("TRANSPARENT", "").strip().lower() == "true"


def _background(options: Mapping[str, str]) -> tuple[int, int, int]:
    red, green, blue, _ = parse_color(options.get("BGCOLOR", "0xFFFFFF"), locator="bgcolor")
    return red, green, blue


def _own_quality(request: RenderRequest, params: Mapping[str, str]) -> bool:
    """A JPEG or WebP of Sentinel Hub's QUALITY that the engine's picture answers."""
    return request.quality is not None and engine_picture(request, params)


def _check_featureinfo(
    runtime: Runtime,
    params: Mapping[str, str],
    out: dict[str, str],
    version: str,
    grids: TileGrids | None,
) -> Checked:
    """GetFeatureInfo: the map's area and layers, the queried layers, the point, the format."""
    out.update(map_options(params))
    area = parse_area(params, version)
    out["LAYERS"] = ",".join(_known_layers(runtime, _names(params, "LAYERS"), "layers"))
    layers = _names(params, "QUERY_LAYERS")
    if not layers:
        raise MissingParameterValue("missing parameter QUERY_LAYERS", locator="query_layers")
    checked = layer_requests(runtime, layers, area, params, "tiff")  # values, no picture
    out["QUERY_LAYERS"] = ",".join(str(r.layer) for r in checked)
    i_name, j_name = WMS_VERSIONS[version].point
    i, j = parse_int(params, i_name), parse_int(params, j_name)
    if i >= area.size[0] or j >= area.size[1]:
        raise InvalidParameterValue(
            "the point is outside the map", locator=i_name.lower(), code="InvalidPoint"
        )
    info = params.get("INFO_FORMAT", "text/plain").strip().lower()
    if info not in INFO_FORMATS:
        raise InvalidParameterValue(
            f"INFO_FORMAT must be one of {', '.join(INFO_FORMATS)}",
            locator="info_format",
            code="InvalidFormat",
        )
    out["WIDTH"], out["HEIGHT"] = str(area.size[0]), str(area.size[1])
    out["INFO_FORMAT"] = info
    return Checked(out, warning=warning_header(checked))


def _check_legend(
    runtime: Runtime,
    params: Mapping[str, str],
    out: dict[str, str],
    version: str,
    grids: TileGrids | None,
) -> Checked:
    """GetLegendGraphic: a known layer and style, an image format, SLD 1.1.0."""
    (out["LAYER"],) = _known_layers(runtime, [require(params, "LAYER").strip()], "layer")
    style = RenderParams.from_params(params).style
    if style is not None and runtime.config.style(style) is None:
        raise InvalidParameterValue(
            f"unknown style {style[:40]!r}", locator="style", code="StyleNotDefined"
        )
    legend = parse_format(params.get("FORMAT") or "image/png", allowed=IMAGE_FORMATS)
    out["FORMAT"] = MEDIA_TYPES[legend]
    if (params.get("SLD_VERSION") or "1.1.0").strip() != "1.1.0":
        raise InvalidParameterValue("SLD_VERSION must be 1.1.0", locator="sld_version")
    out["SLD_VERSION"] = "1.1.0"
    return Checked(out)


_Checker = Callable[[Runtime, Mapping[str, str], dict[str, str], str, "TileGrids | None"], Checked]
# The operations after GetCapabilities, by their lower-case REQUEST.
_OPERATIONS: dict[str, _Checker] = {
    "getmap": _check_map,
    "map": _check_map,
    "getfeatureinfo": _check_featureinfo,
    "getlegendgraphic": _check_legend,
}


def unknown_operation(operation: str) -> GatewayError:
    """OperationNotSupported for a REQUEST the door does not answer (WMS and WMTS)."""
    return GatewayError(
        f"unknown operation {operation[:40]!r}",
        locator="request",
        code="OperationNotSupported",
        status=400,
    )
