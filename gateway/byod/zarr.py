"""A Zarr store (v2 or v3, GeoZarr / EOPF layout) read through GDAL's Zarr driver: its
variables, their CRS and grid, their time steps and the levels of a ``multiscales`` group.

GDAL (3.12 in rasterio's wheels) reads the CRS of a CF ``grid_mapping`` variable
(``crs_wkt``/``spatial_ref``) or of its own ``_CRS`` attribute, the grid from regular ``x``/``y``
coordinate arrays, nodata from ``fill_value``, ``scale_factor``/``add_offset``, and shows each
index of a third dimension as a band tagged ``DIM_<name>_VALUE``/``_UNIT``. What it does not
read is taken here from the attributes: the GeoZarr ``proj:code``/``proj:wkt2``/``proj:epsg``
and ``spatial:transform`` conventions, and ``multiscales`` (its levels become overviews).
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError, NotGeoreferencedWarning, RasterioError

from gateway.byod.inputs import BadInput
from gateway.byod.s3folder import S3Folder, is_s3

# A store's folder: local, or a key prefix of an S3 bucket (``s3://``).
Folder = Path | S3Folder

MARKERS = ("zarr.json", ".zgroup", ".zarray", ".zmetadata")
_UNITS = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}  # fmt: skip
_DIM = re.compile(r"^DIM_(.+)_VALUE$")


@dataclass(frozen=True)
class Variable:
    """One array of the store as a band: GDAL names of its levels (finest first), its grid."""

    name: str
    levels: tuple[str, ...]  # ZARR:"<group>":/<name>, level 0 first
    crs: CRS
    transform: Affine
    width: int
    height: int
    dtype: str
    nodata: float | None
    scale: float
    offset: float
    steps: tuple[datetime, ...] | None  # None: two dimensions, no time

    def source(self, level: int, step: int) -> str:
        """The GDAL name of one time step of one level."""
        name = self.levels[level]
        return name if self.steps is None else f"{name}:{step}"


def is_store(path: Path) -> bool:
    """A folder, a ``.zarr`` name or an ``s3://`` URL: read as a Zarr store, not as a raster
    file."""
    return is_s3(str(path)) or path.is_dir() or path.suffix.lower() == ".zarr"


def attributes(group: Folder) -> dict[str, Any]:
    """The attributes of a group (or array) folder: ``zarr.json`` (v3) or ``.zattrs`` (v2)."""
    try:
        if (group / "zarr.json").is_file():
            document = json.loads((group / "zarr.json").read_text(encoding="utf-8"))
            return dict(document.get("attributes") or {})
        if (group / ".zattrs").is_file():
            return dict(json.loads((group / ".zattrs").read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise BadInput(f"unreadable Zarr metadata in {group.name}: {exc}") from None
    return {}


def check_store(path: Folder) -> None:
    """A folder holding Zarr metadata (its path without ``"``: GDAL's ZARR:"path" names)."""
    if '"' in str(path):
        raise BadInput('a Zarr store path with a double quote (") cannot be named to GDAL')
    try:
        if not path.is_dir():
            raise BadInput("not a Zarr store: no such folder")
        if not any((path / marker).is_file() for marker in MARKERS):
            raise BadInput("not a Zarr store: no zarr.json, .zgroup, .zarray or .zmetadata in it")
    except OSError as exc:
        raise BadInput(f"not a Zarr store it can read: {exc}") from None


def level_groups(group: Folder) -> list[Folder]:
    """The groups of a ``multiscales`` attribute (the zarr-conventions ``layout``, the older
    GeoZarr ``datasets`` or a Tile Matrix Set's ``tileMatrices``), else the group itself."""
    scales = attributes(group).get("multiscales")
    if isinstance(scales, list):  # OME-NGFF / GeoZarr draft: a list of multiscale objects
        scales = scales[0] if scales else None
    if not isinstance(scales, dict):
        return [group]
    tms = scales.get("tile_matrix_set") or {}
    entries = (
        [e.get("asset") for e in scales.get("layout") or []]
        or [e.get("path") for e in scales.get("datasets") or []]
        or [e.get("id") for e in (tms.get("tileMatrices") if isinstance(tms, dict) else None) or []]
    )
    paths = [str(e) for e in entries if isinstance(e, str | int)]
    if not paths:
        raise BadInput("its multiscales attribute lists no level (layout, datasets)")
    levels = [group / p for p in paths]
    for level in levels:
        inner, outer = str(level.resolve()), str(group.resolve()).rstrip("/")
        if not inner.startswith(outer + "/") or not level.is_dir():
            raise BadInput(f"multiscales level {level.name!r} is not a group of the store")
    return levels


def array_names(group: Folder) -> dict[str, str]:
    """The arrays of two dimensions or more directly in ``group``: name -> GDAL name."""
    try:
        with warnings.catch_warnings():  # a group has no geotransform of its own
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(str(group)) as src:
                found, count = list(src.subdatasets), src.count
    except RasterioError as exc:
        message = (str(exc).strip().splitlines() or ["unreadable"])[0]
        raise BadInput(f"not a Zarr store GDAL can read: {message}") from None
    if not found and count:  # GDAL opened the group's one such array itself
        found = [f'ZARR:"{group}":/{name}' for name in _arrays_of_2d_or_more(group)]
    names = {}
    for gdal_name in found:
        inner = gdal_name.rsplit('":', 1)[-1].strip("/")
        if "/" not in inner:
            names[inner] = gdal_name
    return names


def _arrays_of_2d_or_more(group: Folder) -> list[str]:
    """Names of the array folders in ``group`` whose metadata has two dimensions or more."""
    found = []
    children: list[Folder] = list(group.iterdir())
    for child in sorted(children, key=str):
        for name in ("zarr.json", ".zarray"):
            try:
                shape = json.loads((child / name).read_text(encoding="utf-8")).get("shape")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(shape, list) and len(shape) >= 2:
                found.append(child.name)
    return found


def read_variables(store: Folder, wanted: tuple[str, ...]) -> list[Variable]:
    """The ``wanted`` variables (default: every array of the finest level, sorted), each
    with its levels (coarser ones of the same name and steps), CRS, grid and time steps."""
    levels = level_groups(store)
    by_level = [array_names(level) for level in levels]
    widths = [_widest(names) for names in by_level]
    order = sorted(range(len(levels)), key=lambda i: -widths[i])
    levels, by_level = [levels[i] for i in order], [by_level[i] for i in order]
    finest = by_level[0]
    if not finest:
        raise BadInput("no array of two dimensions or more in it")
    for name in wanted:
        if name not in finest:
            raise BadInput(f"no variable {name} in the store (it has {', '.join(sorted(finest))})")
    variables = [
        _variable(store, levels[0], name, [names[name] for names in by_level if name in names])
        for name in (wanted or tuple(sorted(finest)))
    ]
    steps = {v.steps for v in variables}
    if len(steps) > 1:
        raise BadInput("its variables have different time steps: ingest them apart (--bands)")
    return variables


def _widest(names: dict[str, str]) -> int:
    widths = []
    for gdal_name in names.values():
        with rasterio.open(gdal_name) as src:
            widths.append(src.width)
    return max(widths, default=0)


def _variable(store: Folder, group: Folder, name: str, levels: list[str]) -> Variable:
    try:
        with rasterio.open(levels[0]) as src:
            tags, crs, transform = src.tags(), src.crs, src.transform
            facts = (
                src.width,
                src.height,
                src.dtypes[0],
                src.nodata,
                src.scales[0],
                src.offsets[0],
            )
            steps = _steps(name, [src.tags(b) for b in range(1, src.count + 1)])
        coarser = []
        for level in levels[1:]:
            with rasterio.open(level) as src:
                if src.count == (len(steps) if steps else 1) and src.width < facts[0]:
                    coarser.append(level)
    except RasterioError as exc:
        raise BadInput(f"variable {name}: GDAL cannot read it: {exc}") from None
    group_attrs = attributes(group) | attributes(store)
    crs = crs or _proj_crs(name, tags | _flat(group_attrs))
    if transform.is_identity:
        transform = _spatial_transform(name, tags | _flat(group_attrs))
    return Variable(name, (levels[0], *coarser), crs, transform, *facts, steps)


def _flat(attrs: dict[str, Any]) -> dict[str, str]:
    """Attributes as GDAL shows them as tags: numbers and lists as JSON text."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in attrs.items()}


def _proj_crs(name: str, tags: dict[str, str]) -> CRS:
    """The CRS of the GeoZarr ``proj:`` convention (``proj:code``, ``proj:wkt2``,
    ``proj:epsg``) on the array, its group or the store."""
    for key in ("proj:code", "proj:wkt2", "proj:projjson", "proj:epsg"):
        value = tags.get(key)
        if value:
            text = f"EPSG:{value}" if key == "proj:epsg" else value
            try:
                return CRS.from_user_input(text)
            except CRSError:
                raise BadInput(f"variable {name}: {key} {value[:80]!r} is not a CRS") from None
    raise BadInput(f"variable {name}: no CRS (a grid_mapping variable with crs_wkt, or proj:code)")


def _spatial_transform(name: str, tags: dict[str, str]) -> Affine:
    """The grid of the ``spatial:transform`` attribute (a, b, c, d, e, f)."""
    try:
        values = [float(v) for v in json.loads(tags.get("spatial:transform", "null"))][:6]
        if len(values) == 6 and values[0] and values[4]:
            return Affine(*values)
    except (TypeError, ValueError):
        pass
    raise BadInput(f"variable {name}: no grid (regular x/y coordinates or spatial:transform)")


def _steps(name: str, band_tags: list[dict[str, str]]) -> tuple[datetime, ...] | None:
    """The datetime of each band of a three-dimensional array (its third dimension a time)."""
    dims = {m.group(1) for m in (_DIM.match(k) for k in band_tags[0]) if m}
    if not dims and len(band_tags) > 1:
        raise BadInput(f"variable {name}: a third dimension without coordinates is not a time")
    if not dims:
        return None
    if len(dims) > 1:
        names = ", ".join(sorted(dims))
        raise BadInput(f"variable {name}: dimensions {names}: only a time one besides y and x")
    dim = dims.pop()
    unit = band_tags[0].get(f"DIM_{dim}_UNIT", "")
    steps = tuple(
        _decode_time(name, dim, tags.get(f"DIM_{dim}_VALUE", ""), unit) for tags in band_tags
    )
    if len(set(steps)) != len(steps):
        raise BadInput(f"variable {name}: two steps of {dim} at the same time")
    return steps


def _decode_time(name: str, dim: str, value: str, unit: str) -> datetime:
    """A CF time value (``days since 2025-06-01``...) as a UTC datetime."""
    found = re.fullmatch(r"\s*(\w+)\s+since\s+(.+?)\s*", unit)
    try:
        if found is None or found.group(1).lower() not in _UNITS:
            raise ValueError(unit)
        epoch = datetime.fromisoformat(found.group(2).strip().replace(" ", "T", 1))
        epoch = epoch if epoch.tzinfo else epoch.replace(tzinfo=UTC)
        return epoch.astimezone(UTC) + timedelta(
            seconds=float(value) * _UNITS[found.group(1).lower()]
        )
    except (ValueError, OverflowError):
        raise BadInput(
            f"variable {name}: dimension {dim} is not a time (CF units such as "
            f"'days since 2025-01-01'; it has {unit[:60]!r})"
        ) from None
