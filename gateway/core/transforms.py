"""Coordinate transformations between two CRSs, made once per pair, the same for pyproj and GDAL.

PROJ finds the operation between two CRSs by searching its database, which takes 2–4 ms
between Web Mercator and a UTM zone (0.2 ms between WGS 84 and one), and GDAL searches
again for each pair it meets. A worker's first tile over new UTM zones paid that about ten
times, and each thread again: pyproj makes a transformer anew in each thread that uses it,
by the same search. Between two projected CRSs on the same geodetic CRS there is nothing to
choose: the operation is the inverse of the source's projection, then the target's. It is
composed here from the two quick searches to and from that geodetic CRS, gives the pipeline
PROJ's search gives, and is handed to GDAL's warper as its ``COORDINATE_OPERATION``. Every
other pair is searched by PROJ as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pyproj import CRS as ProjCRS
from pyproj import Transformer
from pyproj.exceptions import ProjError
from rasterio.crs import CRS

__all__ = ["gdal_operation", "transformer"]

_TO_DEGREES = "proj=unitconvert xy_in=rad xy_out=deg"
_TO_RADIANS = "proj=unitconvert xy_in=deg xy_out=rad"


@dataclass(frozen=True)
class _Pair:
    transformer: Transformer
    pipeline: str | None  # composed here: the one operation, for GDAL too


def transformer(source: CRS, target: CRS) -> Transformer:
    """A pyproj transformer (x/y order) from ``source`` to ``target``, made once."""
    return _pair(source, target).transformer


def gdal_operation(source: CRS, target: CRS) -> dict[str, str]:
    """GDAL transformer options that spare its own search for ``source`` to ``target``:
    the composed pipeline, or nothing where PROJ chooses among operations."""
    pipeline = _pair(source, target).pipeline
    return {} if pipeline is None else {"COORDINATE_OPERATION": pipeline}


@lru_cache(maxsize=256)
def _pair(source: CRS, target: CRS) -> _Pair:
    source_crs, target_crs = ProjCRS.from_wkt(source.to_wkt()), ProjCRS.from_wkt(target.to_wkt())
    pipeline = _composed(source_crs, target_crs)
    if pipeline is not None:
        try:
            return _Pair(Transformer.from_pipeline(pipeline), pipeline)
        except ProjError:
            pass
    return _Pair(Transformer.from_crs(source_crs, target_crs, always_xy=True), None)


def _composed(source: ProjCRS, target: ProjCRS) -> str | None:
    """The pipeline from one projected CRS to another on the same geodetic CRS, or None."""
    if not (source.is_projected and target.is_projected):
        return None
    if source.is_bound or target.is_bound or source.is_compound or target.is_compound:
        return None
    base = source.geodetic_crs
    if base is None or base != target.geodetic_crs:
        return None
    try:
        down = _steps(Transformer.from_crs(source, base, always_xy=True).definition)
        up = _steps(Transformer.from_crs(base, target, always_xy=True).definition)
    except ProjError:
        return None
    if not down or not up:
        return None
    if down[-1] == _TO_DEGREES and up[0] == _TO_RADIANS:
        down, up = down[:-1], up[1:]  # the round trip through degrees does nothing
    return " ".join(["proj=pipeline", *(f"step {step}" for step in down + up)])


def _steps(definition: str) -> list[str] | None:
    """The steps of a PROJ definition (``inv`` kept with its step), or None when it is not
    one plain operation or a pipeline of steps without options of its own."""
    if not definition.startswith("proj="):
        return None
    if not definition.startswith("proj=pipeline "):
        return [definition]
    head, *steps = definition.split(" step ")
    if head != "proj=pipeline" or not steps:
        return None
    return steps
