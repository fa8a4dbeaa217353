"""The domain of a WCS 2.0.1 coverage description: ``gml:boundedBy`` and ``gml:domainSet``.

Two shapes:

- the 2-D coverage (default), what GetCoverage returns: a ``gml:RectifiedGrid`` in EPSG:4326,
  its acquisitions (all, or those of the vendor ``TIME``) in ``gml:EnvelopeWithTimePeriod`` and
  a ``TimeDomain`` list in ``gmlcov:metadata``, as GeoServer describes time-enabled coverages.
  GDAL's WCS driver opens it with its bands and reports the list as its ``TimeDomain``
  metadata item; ``SUBSET=time(...)`` slices or trims it. OWSLib (0.36) reads neither;
- the space-time cube (vendor ``TIMEAXIS=cube``): axes ``Lat Long ansi`` in the compound CRS
  EPSG:4326 + OGC AnsiDate, the domain set a GML 3.3 ``gmlrgrid:ReferenceableGridByVectors``
  whose time axis has one grid point per acquisition. Its coefficients are quoted ISO 8601
  instants, as rasdaman writes them and OWSLib reads them (``timepositions``, ``timelimits``;
  it reads no other form), although GML 3.3 types them as doubles: the one part of a served
  document that does not validate. Envelope and origin carry AnsiDate numbers. GDAL opens a
  cube with zero bands until its time axis is sliced (``-oo Subset=ansi("...")``), hence not
  the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from gateway.ows.wcs.coverages import Coverage
from gateway.ows.wcs.domain import NativeGrid, native_grid
from gateway.ows.wcs.timeaxis import ANSI_CRS, ANSI_LABEL, ANSI_UOM, ansi_day
from gateway.ows.xml import fmt, iso, qname, sub

GML = "http://www.opengis.net/gml/3.2"
GMLCOV = "http://www.opengis.net/gmlcov/1.0"
RGRID = "http://www.opengis.net/gml/3.3/rgrid"
CDSE = "urn:cdse-gateway:wcs"
NATIVE_CRS = "http://www.opengis.net/def/crs/EPSG/0/4326"
CUBE_CRS = f"http://www.opengis.net/def/crs-compound?1={NATIVE_CRS}&2={ANSI_CRS}"


@dataclass(frozen=True)
class Domain:
    """What a description shows of ``coverage``: the cube over all its acquisitions, or the
    2-D grid of ``times`` (the acquisitions of one period)."""

    coverage: Coverage
    times: tuple[datetime, ...]
    cube: bool

    @property
    def subtype(self) -> str:
        return "ReferenceableGridCoverage" if self.cube else "RectifiedGridCoverage"

    @property
    def grid(self) -> NativeGrid:
        return native_grid(self.coverage.bbox)


def _day(moment: datetime) -> str:
    return f"{ansi_day(moment):.8f}"  # about 1 ms


def bounded_by(parent: etree._Element, domain: Domain) -> None:
    grid = domain.grid
    minlon, minlat, maxlon, maxlat = grid.bounds
    lower, upper = f"{fmt(minlat)} {fmt(minlon)}", f"{fmt(maxlat)} {fmt(maxlon)}"
    bounded = sub(parent, qname(GML, "boundedBy"))
    if domain.cube:
        envelope = sub(
            bounded, qname(GML, "Envelope"), srsName=CUBE_CRS,
            axisLabels=f"Lat Long {ANSI_LABEL}", uomLabels=f"deg deg {ANSI_UOM}", srsDimension="3",
        )  # fmt: skip
        sub(envelope, qname(GML, "lowerCorner"), f"{lower} {_day(domain.times[0])}")
        sub(envelope, qname(GML, "upperCorner"), f"{upper} {_day(domain.times[-1])}")
        return
    timed = bool(domain.times)
    envelope = sub(
        bounded, qname(GML, "EnvelopeWithTimePeriod" if timed else "Envelope"),
        srsName=NATIVE_CRS, axisLabels="Lat Long", uomLabels="deg deg", srsDimension="2",
    )  # fmt: skip
    sub(envelope, qname(GML, "lowerCorner"), lower)
    sub(envelope, qname(GML, "upperCorner"), upper)
    if timed:
        sub(envelope, qname(GML, "beginPosition"), iso(domain.times[0]))
        sub(envelope, qname(GML, "endPosition"), iso(domain.times[-1]))


def time_domain(parent: etree._Element, domain: Domain) -> None:
    """The 2-D shape's acquisitions as ``gmlcov:metadata`` (the cube has them on its axis)."""
    if domain.cube or not domain.times:
        return
    extension = sub(sub(parent, qname(GMLCOV, "metadata")), qname(GMLCOV, "Extension"))
    listing = sub(extension, qname(CDSE, "TimeDomain"))
    for index, moment in enumerate(domain.times):
        ident = f"{domain.coverage.id}_t{index}"
        instant = sub(listing, qname(GML, "TimeInstant"), **{qname(GML, "id"): ident})
        sub(instant, qname(GML, "timePosition"), iso(moment))


def domain_set(parent: etree._Element, domain: Domain) -> None:
    """Grid axes ``i`` (columns, along Long), ``j`` (rows, along Lat) and, in the cube, ``k``
    (acquisitions); the origin is the centre of the upper-left cell."""
    grid, cube, cid = domain.grid, domain.cube, domain.coverage.id
    ns, kind, crs = (
        (RGRID, "ReferenceableGridByVectors", CUBE_CRS)
        if cube
        else (GML, "RectifiedGrid", NATIVE_CRS)
    )
    element = sub(
        sub(parent, qname(GML, "domainSet")), qname(ns, kind),
        dimension="3" if cube else "2", **{qname(GML, "id"): f"{cid}_grid"},
    )  # fmt: skip
    low, high = ["0", "0"], [str(grid.width - 1), str(grid.height - 1)]
    if cube:
        low, high = [*low, "0"], [*high, str(len(domain.times) - 1)]
    envelope = sub(sub(element, qname(GML, "limits")), qname(GML, "GridEnvelope"))
    sub(envelope, qname(GML, "low"), " ".join(low))
    sub(envelope, qname(GML, "high"), " ".join(high))
    sub(element, qname(GML, "axisLabels"), "i j k" if cube else "i j")
    half = grid.res / 2
    position = f"{fmt(grid.bounds[3] - half)} {fmt(grid.bounds[0] + half)}"
    if cube:
        position += f" {_day(domain.times[0])}"
    point = sub(
        sub(element, qname(ns, "origin")), qname(GML, "Point"), srsName=crs,
        **{qname(GML, "id"): f"{cid}_origin"},
    )  # fmt: skip
    sub(point, qname(GML, "pos"), position)
    columns, rows = f"0 {fmt(grid.res)}", f"{fmt(-grid.res)} 0"
    if cube:
        _time_axis(element, columns, rows, domain.times)
    else:
        sub(element, qname(GML, "offsetVector"), columns, srsName=crs)
        sub(element, qname(GML, "offsetVector"), rows, srsName=crs)


def _time_axis(
    element: etree._Element, columns: str, rows: str, times: tuple[datetime, ...]
) -> None:
    """The cube's three ``GeneralGridAxis``: Long and Lat regular, time by its coefficients."""
    coefficients = " ".join(f'"{iso(moment)}"' for moment in times)
    for vector, values, spanned in (
        (f"{columns} 0", "", "Long"),
        (f"{rows} 0", "", "Lat"),
        ("0 0 1", coefficients, ANSI_LABEL),
    ):
        axis = sub(sub(element, qname(RGRID, "generalGridAxis")), qname(RGRID, "GeneralGridAxis"))
        sub(axis, qname(RGRID, "offsetVector"), vector, srsName=CUBE_CRS)
        sub(axis, qname(RGRID, "coefficients"), values)
        sub(axis, qname(RGRID, "gridAxesSpanned"), spanned)
        sub(axis, qname(RGRID, "sequenceRule"), "Linear", axisOrder="+1")
