"""WCS 2.0.1 GetCoverage KVP: SUBSET, SUBSETTINGCRS/OUTPUTCRS, SCALE*, INTERPOLATION, RANGESUBSET.

Spatial subsets are read by axis label (``Lat``/``Long``, ``E``/``N``, ``x``/``y``), so the
axis order of a CRS never matters here; ``time`` takes a slice or a trim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from rasterio.crs import CRS

from gateway.core.catalog import TimeRange
from gateway.core.crs import Bounds
from gateway.core.dates import day_range, parse_time
from gateway.core.grid import WGS84, reproject_bounds
from gateway.core.request import MAX_PIXELS_PER_AXIS
from gateway.core.vendor_params import read_vendor_texts
from gateway.errors import GatewayError, InvalidParameterValue
from gateway.ows.crs import OwsCrs, parse_ows_crs
from gateway.ows.kvp import Kvp, split_list
from gateway.ows.wcs.coverages import Coverage, Field
from gateway.ows.wcs.domain import native_grid, native_size
from gateway.ows.wcs.getcoverage import CoverageRequest
from gateway.ows.wcs.service import INTERPOLATIONS

X_AXES = frozenset({"long", "lon", "longitude", "e", "x", "easting", "i"})
Y_AXES = frozenset({"lat", "latitude", "n", "y", "northing", "j"})
T_AXES = frozenset({"time", "t", "date", "ansi", "phenomenontime"})
_SUBSET = re.compile(r"^\s*([A-Za-z_][\w.:-]*)\s*(?:,\s*([^()]+?)\s*)?\((.*)\)\s*$")
_SUBSET_KEY = re.compile(r"^SUBSET\d*$")
_AXIS_VALUE = re.compile(r"^\s*([A-Za-z_][\w.-]*)\s*\(\s*([^()]*?)\s*\)\s*$")


def wcs_error(code: str, message: str, locator: str | None = None) -> GatewayError:
    return GatewayError(message, locator=locator, code=code, status=404)


@dataclass(frozen=True)
class Subset:
    axis: str  # "x" | "y" | "t"
    low: str
    high: str | None  # None: a slice


def _axis_kind(label: str, locator: str) -> str:
    name = label.lower()
    for kind, names in (("x", X_AXES), ("y", Y_AXES), ("t", T_AXES)):
        if name in names:
            return kind
    raise wcs_error("InvalidAxisLabel", f"unknown axis {label[:30]!r}", locator)


def subset_values(kvp: Kvp) -> list[str]:
    """Every ``SUBSET``, also those GDAL's WCS driver sends as ``SUBSET0``, ``SUBSET1``... (for
    the axes besides its two spatial ones, e.g. a time slice given with ``-oo Subset=``)."""
    return [value for name in kvp if _SUBSET_KEY.match(name) for value in kvp.all(name)]


def parse_subsets(values: list[str]) -> dict[str, Subset]:
    found: dict[str, Subset] = {}
    for text in values:
        match = _SUBSET.match(text)
        if not match:
            raise InvalidParameterValue(
                "SUBSET must be axis(low,high) or axis(value)", locator="subset"
            )
        kind = _axis_kind(match.group(1), "subset")
        if kind in found:
            raise wcs_error("InvalidAxisLabel", f"axis {match.group(1)!r} subset twice", "subset")
        parts = [p.strip().strip('"').strip("'") for p in match.group(3).split(",")]
        if len(parts) not in (1, 2) or any(p == "" for p in parts):
            raise InvalidParameterValue("SUBSET needs one or two values", locator="subset")
        found[kind] = Subset(kind, parts[0], parts[1] if len(parts) == 2 else None)
    return found


def _number(text: str, default: float) -> float:
    if text == "*":
        return default
    try:
        value = float(text)
    except ValueError:
        raise wcs_error("InvalidSubsetting", f"not a number: {text[:30]!r}", "subset") from None
    if value != value or abs(value) == float("inf"):
        raise wcs_error("InvalidSubsetting", "subset values must be finite", "subset")
    return value


def _time(subset: Subset | None, coverage: Coverage) -> str | None:
    if subset is None:
        return None
    if subset.high is None:
        text = subset.low
    else:
        low, high = (".." if v == "*" else v for v in (subset.low, subset.high))
        text = f"{low}/{high}"
    try:
        wanted = parse_time(text)
    except InvalidParameterValue as error:
        raise wcs_error("InvalidSubsetting", error.message, "subset") from None
    if _outside(wanted, coverage.first, coverage.last):
        raise wcs_error("InvalidSubsetting", "time subset outside the coverage", "subset")
    return text


def _outside(wanted: TimeRange, first: datetime | None, last: datetime | None) -> bool:
    """True when ``wanted`` ends before the coverage's first day or starts after its last
    day (an open end of the coverage, None, holds anything)."""
    start, end = wanted.start, wanted.end
    opens = day_range(first.date()).start if first is not None else None
    closes = day_range(last.date()).end if last is not None else None
    if end is not None and opens is not None and end < opens:
        return True
    return start is not None and closes is not None and start > closes


def _fields(text: str | None, coverage: Coverage) -> tuple[Field, ...]:
    if not text:
        return coverage.fields
    names = coverage.field_names()
    by_name = {name.upper(): i for i, name in enumerate(names)}
    chosen: list[int] = []
    for item in split_list(text):
        ends = [p.strip() for p in item.split(":")]
        indices = [_field_index(end, by_name, len(names)) for end in ends]
        if len(indices) == 2:
            if indices[0] > indices[1]:
                raise wcs_error("IllegalFieldSequence", "range interval is reversed", "rangesubset")
            chosen.extend(range(indices[0], indices[1] + 1))
        elif len(indices) == 1:
            chosen.append(indices[0])
        else:
            raise InvalidParameterValue("bad RANGESUBSET item", locator="rangesubset")
    return tuple(coverage.fields[i] for i in chosen)


def _field_index(text: str, by_name: dict[str, int], count: int) -> int:
    """A field by name, or by its 1-based position."""
    if text.upper() in by_name:
        return by_name[text.upper()]
    if text.isdigit() and 1 <= int(text) <= count:
        return int(text) - 1
    raise wcs_error("NoSuchField", f"no range field {text[:30]!r}", "rangesubset")


def _interpolation(text: str | None) -> str | None:
    if not text:
        return None
    value = text.strip()
    for key, uri in INTERPOLATIONS.items():
        if value.lower() in (key, uri.lower(), uri.rsplit("/", 1)[-1].lower()):
            return key
    raise wcs_error(
        "InterpolationMethodNotSupported",
        f"unsupported interpolation {value[:60]!r}",
        "interpolation",
    )


def _format(kvp: Kvp) -> str:
    value = (kvp.text("FORMAT") or "image/tiff").replace(" ", "").lower()
    cog = value.endswith("profile=cloud-optimized") or (kvp.text("COG") or "").lower() == "true"
    if value.startswith(("image/tiff", "image/geotiff", "image/geo+tiff")):
        return "cog" if cog else "tiff"
    if value == "image/png":
        return "png"
    if value in ("application/netcdf", "application/x-netcdf"):
        return "netcdf"
    raise InvalidParameterValue(f"unsupported format {value[:60]!r}", locator="format")


def _scaled_size(kvp: Kvp, size: tuple[int, int]) -> tuple[int, int]:
    if kvp.text("SCALEEXTENT"):
        raise GatewayError(
            "SCALEEXTENT is not supported; use SCALESIZE", locator="scaleextent",
            code="OptionNotSupported",
        )  # fmt: skip
    width, height = size
    factor = kvp.text("SCALEFACTOR")
    if factor is not None:
        value = _scale_number(factor)
        width, height = _scaled(width, value), _scaled(height, value)
    for key, apply in (("SCALEAXES", "factor"), ("SCALESIZE", "size")):
        for item in split_list(kvp.text(key)):
            match = _AXIS_VALUE.match(item)
            if not match:
                raise InvalidParameterValue(f"{key} must be axis(value),...", locator=key.lower())
            kind = _axis_kind(match.group(1), key.lower())
            if kind == "t":
                raise wcs_error("ScaleAxisUndefined", "time cannot be scaled", key.lower())
            value = _scale_number(match.group(2))
            if apply == "size":
                if value != int(value) or value < 1:
                    raise wcs_error(
                        "InvalidExtent", "SCALESIZE needs positive integers", "scalesize"
                    )
                new = int(value)
            else:
                new = _scaled(width if kind == "x" else height, value)
            width, height = (new, height) if kind == "x" else (width, new)
    if width < 1 or height < 1:
        raise wcs_error("InvalidScaleFactor", "scaling leaves no pixel", "scalefactor")
    return width, height


def _scaled(pixels: int, factor: float) -> int:
    """``pixels`` scaled down by ``factor``; InvalidScaleFactor when that is no size at all."""
    scaled = pixels / factor
    if not scaled <= MAX_PIXELS_PER_AXIS:
        raise wcs_error("InvalidScaleFactor", "the scale factor asks for too many pixels", "scale")
    return round(scaled)


def _scale_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise wcs_error(
            "InvalidScaleFactor", f"not a number: {text[:30]!r}", "scalefactor"
        ) from None
    if not value > 0 or value == float("inf"):
        raise wcs_error("InvalidScaleFactor", "scale factors must be positive", "scalefactor")
    return value


def _crs(text: str, kind: str) -> OwsCrs:
    """A CRS parameter; the CRS extension's ``<kind>-NotSupported`` (404) when unknown."""
    try:
        return parse_ows_crs(text, kind.lower())
    except InvalidParameterValue as error:
        raise wcs_error(f"{kind}-NotSupported", error.message, kind.lower()) from None


def _subset_box(box: Bounds, source: CRS, target: CRS) -> Bounds:
    """A subset's box in ``target``; InvalidSubsetting when it has no extent there."""
    try:
        return reproject_bounds(box, source, target, "subset")
    except InvalidParameterValue as error:
        raise wcs_error("InvalidSubsetting", error.message, "subset") from None


def coverage_request(kvp: Kvp, coverage: Coverage) -> CoverageRequest:
    """The version-neutral request of a WCS 2.0.1 GetCoverage."""
    subsets = parse_subsets(subset_values(kvp))
    for kind in ("x", "y"):
        if kind in subsets and subsets[kind].high is None:
            raise wcs_error("InvalidSubsetting", "spatial slicing is not supported", "subset")
    subset_crs = _crs(kvp.text("SUBSETTINGCRS") or "EPSG:4326", "SubsettingCrs")
    output_crs = _crs(
        kvp.text("OUTPUTCRS") or kvp.text("SUBSETTINGCRS") or "EPSG:4326", "OutputCrs"
    )
    native = native_grid(coverage.bbox).bounds
    extent = _subset_box(native, WGS84, subset_crs.crs)
    bounds = [extent[0], extent[1], extent[2], extent[3]]
    for kind, (lo, hi) in (("x", (0, 2)), ("y", (1, 3))):
        if kind in subsets:
            bounds[lo] = _number(subsets[kind].low, extent[lo])
            bounds[hi] = _number(subsets[kind].high or "*", extent[hi])
    if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
        raise wcs_error("InvalidSubsetting", "subset low is not below high", "subset")
    if (
        bounds[2] <= extent[0]
        or bounds[0] >= extent[2]
        or bounds[3] <= extent[1]
        or bounds[1] >= extent[3]
    ):
        raise wcs_error("InvalidSubsetting", "subset outside the coverage", "subset")
    if subset_crs.crs == WGS84:  # trim to the coverage, as WCS 2.0 trims do
        bounds = [max(bounds[0], extent[0]), max(bounds[1], extent[1]),
                  min(bounds[2], extent[2]), min(bounds[3], extent[3])]  # fmt: skip
    box = (bounds[0], bounds[1], bounds[2], bounds[3])
    out_bounds = _subset_box(box, subset_crs.crs, output_crs.crs)
    size = _scaled_size(kvp, native_size(out_bounds, output_crs.crs))
    time = _time(subsets.get("t"), coverage) or kvp.text("TIME")
    return CoverageRequest(
        coverage=coverage,
        bbox=out_bounds,
        crs=output_crs.crs.to_string(),
        width=size[0],
        height=size[1],
        fields=_fields(kvp.text("RANGESUBSET"), coverage),
        format=_format(kvp),
        **read_vendor_texts(kvp.text, time=time),
        resampling=_interpolation(kvp.text("INTERPOLATION")),
    )
