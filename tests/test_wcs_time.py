"""WCS 2.0.1 time axis and range type against a live server: OWSLib, GDAL's WCS driver, numpy.

Every coverage is described as the 2-D coverage GetCoverage returns, its acquisitions listed
(GeoServer's way, which GDAL reads with its bands), or, with the vendor TIMEAXIS=cube, as a
Lat/Long/ansi cube whose time axis holds them; a slice returns that acquisition, a trim the
mosaic of the period (2-D GeoTIFF either way).
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
import rasterio
from lxml import etree
from owslib.wcs import WebCoverageService

from gateway.core.request import build_request
from tests.support.expected import pixel_centres, read_band
from tests.support.ogc_schemas import assert_valid, ogc_schema
from tests.support.ows_live import live_gateway
from tests.support.wcs_checks import (
    L2A,
    acquisition,
    acquisitions,
    geotiff,
    get,
    same,
    scene_item,
)

NDVI_COVERAGE = "sentinel-2-l2a__NDVI"
WCS20 = "http://www.opengis.net/wcs/2.0"
GML = "http://www.opengis.net/gml/3.2"
GMLCOV = "http://www.opengis.net/gmlcov/1.0"
RGRID = "http://www.opengis.net/gml/3.3/rgrid"
SWE = "http://www.opengis.net/swe/2.0"
OWS20 = "http://www.opengis.net/ows/2.0"
CUBE_CRS = (
    "http://www.opengis.net/def/crs-compound?1=http://www.opengis.net/def/crs/EPSG/0/4326"
    "&2=http://www.opengis.net/def/crs/OGC/0/AnsiDate"
)
UTM_SUBSET = (700000.0, 5832000.0, 702000.0, 5834000.0)  # 2 km of T31UFU
GC201 = {
    "service": "WCS", "version": "2.0.1", "request": "GetCoverage", "coverageId": L2A,
    "subsettingCrs": "EPSG:32631", "rangeSubset": "B04", "interpolation": "nearest",
}  # fmt: skip
SPACE = ["E(700000,702000)", "N(5832000,5834000)"]


@pytest.fixture(scope="module")
def wcs(sample_settings):
    with live_gateway(sample_settings) as url:
        yield f"{url}/wcs"


def _ansi(text: str) -> float:
    """An ISO instant as OGC AnsiDate (days since 1600-12-31T00:00Z)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment - datetime(1600, 12, 31, tzinfo=UTC)).total_seconds() / 86400


def _describe(wcs: str, **extra: str) -> etree._Element:
    response = get(wcs, service="WCS", version="2.0.1", request="DescribeCoverage",
                   coverageId=NDVI_COVERAGE, **extra)  # fmt: skip
    assert response.status_code == 200, response.text
    return etree.fromstring(response.content).find(f"{{{WCS20}}}CoverageDescription")


def _owslib_iso(moment: datetime) -> str:
    """An instant OWSLib parsed (naive, UTC) in the gateway's ISO form."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"


def _b04(archive, day: str) -> np.ndarray:
    """B04 reflectance of T31UFU on ``day`` at the cell centres of the 10 m UTM grid."""
    xs, ys = pixel_centres(UTM_SUBSET, 200, 200)
    item = scene_item(archive, "31UFU", day)
    return read_band(archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")


def test_the_cube_lists_the_acquisitions_on_its_time_axis(wcs, sample_archive):
    times = acquisitions(sample_archive)
    desc = _describe(wcs, timeaxis="cube")
    envelope = desc.find(f"{{{GML}}}boundedBy/{{{GML}}}Envelope")
    assert envelope.get("srsName") == CUBE_CRS
    assert envelope.get("axisLabels") == "Lat Long ansi" and envelope.get("srsDimension") == "3"
    lower = [float(v) for v in envelope.findtext(f"{{{GML}}}lowerCorner").split()]
    upper = [float(v) for v in envelope.findtext(f"{{{GML}}}upperCorner").split()]
    assert lower[2] == pytest.approx(_ansi(times[0]), abs=1e-7)
    assert upper[2] == pytest.approx(_ansi(times[-1]), abs=1e-7)
    assert_valid(ogc_schema(), envelope)  # AnsiDate coordinates are numbers, as GML wants
    grid = desc.find(f"{{{GML}}}domainSet/{{{RGRID}}}ReferenceableGridByVectors")
    assert grid.get("dimension") == "3"
    assert grid.findtext(f".//{{{GML}}}high").split()[2] == str(len(times) - 1)
    axes = {
        axis.findtext(f"{{{RGRID}}}gridAxesSpanned"): axis
        for axis in grid.iter(f"{{{RGRID}}}GeneralGridAxis")
    }
    assert list(axes) == ["Long", "Lat", "ansi"]
    coefficients = axes["ansi"].findtext(f"{{{RGRID}}}coefficients").split()
    assert coefficients == [f'"{moment}"' for moment in times]
    subtype = desc.findtext(f"{{{WCS20}}}ServiceParameters/{{{WCS20}}}CoverageSubtype")
    assert subtype == "ReferenceableGridCoverage"


def test_owslib_reads_the_cube_time_axis_and_slices_it(wcs, sample_archive):
    """OWSLib's 2.0.1 parser reads time only from a grid axis: given the service URL with the
    vendor TIMEAXIS=cube (it keeps that parameter on its DescribeCoverage requests) it sees
    every acquisition and the time limits; a slice at one of them, requested through OWSLib,
    is that scene (numpy)."""
    times = acquisitions(sample_archive)
    service = WebCoverageService(f"{wcs}?timeaxis=cube", version="2.0.1")
    coverage = service.contents[L2A]
    assert coverage.grid.axislabels == ["i", "j", "k"]
    assert [_owslib_iso(t) for t in coverage.timepositions] == times
    assert [_owslib_iso(t) for t in coverage.timelimits] == [times[0], times[-1]]
    (instant,) = [t for t in coverage.timepositions if _owslib_iso(t).startswith("2025-05-29")]
    response = service.getCoverage(
        identifier=L2A, format="image/tiff",
        subsets=[("E", 700000, 702000), ("N", 5832000, 5834000), ("ansi", _owslib_iso(instant))],
        subsettingCrs="EPSG:32631", rangeSubset="B04", interpolation="nearest",
    )  # fmt: skip
    data, crs, _, _ = geotiff(response.read())
    assert crs.to_epsg() == 32631 and data.shape == (1, 200, 200)
    expected = _b04(sample_archive, "2025-05-29")
    assert np.isfinite(expected).mean() > 0.95 and same(data[0], expected).all()


def test_by_default_the_2d_coverage_lists_its_acquisitions(wcs, sample_archive):
    times = acquisitions(sample_archive)
    desc = _describe(wcs)
    envelope = desc.find(f"{{{GML}}}boundedBy/{{{GML}}}EnvelopeWithTimePeriod")
    assert envelope.get("axisLabels") == "Lat Long" and envelope.get("srsDimension") == "2"
    assert envelope.findtext(f"{{{GML}}}beginPosition") == times[0]
    assert envelope.findtext(f"{{{GML}}}endPosition") == times[-1]
    instants = desc.findall(f"{{{GMLCOV}}}metadata/{{{GMLCOV}}}Extension/*/{{{GML}}}TimeInstant")
    assert [i.findtext(f"{{{GML}}}timePosition") for i in instants] == times
    grid = desc.find(f"{{{GML}}}domainSet/{{{GML}}}RectifiedGrid")
    assert grid.get("dimension") == "2"
    for element in (envelope, grid, *instants):  # the GML parts (no WCS/GMLCOV XSD at hand)
        assert_valid(ogc_schema(), element)
    ids = [e.get(f"{{{GML}}}id") for e in desc.iter() if e.get(f"{{{GML}}}id")]
    assert len(ids) == len(set(ids))  # gml:ids are unique in the document
    subtype = desc.findtext(f"{{{WCS20}}}ServiceParameters/{{{WCS20}}}CoverageSubtype")
    assert subtype == "RectifiedGridCoverage"
    # OWSLib (0.36) reads the 2-D grid but neither the envelope's period nor the metadata list
    coverage = WebCoverageService(wcs, version="2.0.1").contents[NDVI_COVERAGE]
    assert coverage.grid.axislabels == ["i", "j"] and coverage.timepositions is None


def test_describe_coverage_of_one_period(wcs, sample_archive):
    """The vendor TIME describes the 2-D coverage GetCoverage returns for that TIME."""
    june = [t for t in acquisitions(sample_archive) if t.startswith("2025-06")]
    desc = _describe(wcs, time="2025-06")
    envelope = desc.find(f"{{{GML}}}boundedBy/{{{GML}}}EnvelopeWithTimePeriod")
    assert envelope.get("axisLabels") == "Lat Long"
    assert envelope.findtext(f"{{{GML}}}beginPosition") == june[0]
    assert envelope.findtext(f"{{{GML}}}endPosition") == june[-1]
    positions = desc.findall(f".//{{{GML}}}TimeInstant/{{{GML}}}timePosition")
    assert [p.text for p in positions] == june
    grid = desc.find(f"{{{GML}}}domainSet/{{{GML}}}RectifiedGrid")
    assert grid.get("dimension") == "2"
    assert_valid(ogc_schema(), envelope)
    assert_valid(ogc_schema(), grid)
    for time in ("2030-01-01", "June"):
        response = get(wcs, service="WCS", version="2.0.1", request="DescribeCoverage",
                       coverageId=NDVI_COVERAGE, time=time)  # fmt: skip
        assert response.status_code == 400
        report = etree.fromstring(response.content)
        exception = report.find(f"{{{OWS20}}}Exception")
        assert exception.get("exceptionCode") == "InvalidParameterValue"
        assert exception.get("locator") == "time"


def test_time_slice_returns_that_acquisition(wcs, sample_archive):
    """A slice by day (``time``) or at an axis coefficient (``ansi``, in the SUBSET0 key
    GDAL's driver uses for non-spatial axes) is the scene of that date."""
    instant = acquisition(sample_archive, "2025-05-29")
    for extra, day in (
        ({"subset": [*SPACE, 'time("2025-06-03")']}, "2025-06-03"),
        ({"subset": SPACE, "subset0": f'ansi("{instant}")'}, "2025-05-29"),
    ):
        response = get(wcs, **{**GC201, **extra})
        assert response.status_code == 200, response.text
        data, crs, _, _ = geotiff(response.content)
        assert crs.to_epsg() == 32631 and data.shape == (1, 200, 200)
        expected = _b04(sample_archive, day)
        assert np.isfinite(expected).mean() > 0.95
        assert same(data[0], expected).all()


def test_time_trim_returns_the_mosaic_of_the_period(wcs, sample_archive):
    """05-29 and 06-03 are in the period; the most recent valid pixel wins (06-23, the latest
    acquisition overall, is not in it)."""
    trim = get(wcs, **{**GC201, "subset": [*SPACE, 'ansi("2025-05-25","2025-06-10")']})
    assert trim.status_code == 200, trim.text
    data = geotiff(trim.content)[0][0]
    newer, older = _b04(sample_archive, "2025-06-03"), _b04(sample_archive, "2025-05-29")
    expected = np.where(np.isfinite(newer), newer, older)
    assert same(data, expected).all()
    whole = geotiff(get(wcs, **{**GC201, "subset": SPACE}).content)[0][0]
    assert same(whole, _b04(sample_archive, "2025-06-23")).all()
    assert not same(whole, data).all()


def test_gdal_reads_the_2d_coverage_and_sees_the_cube_on_request(
    wcs, runtime, sample_archive, tmp_path
):
    """A bare coverage URL opens with its band (the mosaic over all acquisitions) and the
    acquisitions as GDAL's ``TimeDomain`` item; the vendor TIME in the URL (sent with every
    request) reads the mosaic of that period, the open option ``Subset=time("...")`` (sent as
    SUBSET0) the slice of that day; the cube opens with no band and reports its axis."""
    times = acquisitions(sample_archive)
    early_june = [t for t in times if "2025-06-01" <= t < "2025-06-16"]
    url = f"WCS:{wcs}?version=2.0.1&coverage={NDVI_COVERAGE}"
    window = rasterio.windows.Window(500, 300, 200, 100)
    reads = []
    for extra, options, time, listed in (
        ("", {}, None, times),
        ("&time=2025-06-01/2025-06-15", {}, "2025-06-01/2025-06-15", early_june),
        ("", {"SUBSET": 'time("2025-05-29")'}, "2025-05-29", times),
    ):
        cache = str(tmp_path / f"read{len(reads)}")
        with rasterio.open(url + extra, CACHE=cache, **options) as ds:
            assert ds.count == 1 and ds.transform.a == pytest.approx(0.0001)
            assert ds.tags()["TimeDomain"].split(",") == listed
            got = ds.read(1, window=window)
            bounds = ds.window_bounds(window)
        request = build_request(
            runtime.config, layer="NDVI", collection=L2A, bbox=bounds, crs="EPSG:4326",
            width=200, height=100, time=time, format="tiff",
        )  # fmt: skip
        expected = runtime.engine.compute(request).data[0]
        assert np.isfinite(expected).mean() > 0.3 and same(got, expected).all()
        reads.append(got)
    assert not any(same(reads[a], reads[b]).all() for a, b in ((0, 1), (0, 2), (1, 2)))
    with rasterio.open(f"{url}&timeaxis=cube", CACHE=str(tmp_path / "cube")) as ds:
        assert ds.count == 0
        tags = ds.tags()
    assert tags["DIMENSION_2_AXIS"] == "ansi"
    assert tags["DIMENSION_2_COEFFS"].split() == [f'"{t}"' for t in acquisitions(sample_archive)]


@pytest.mark.parametrize("coverage", [L2A, NDVI_COVERAGE])
def test_gdal_reports_the_geotiff_nodata_and_field_names(wcs, sample_archive, tmp_path, coverage):
    """GDAL's 2.0.1 reader: nodata = the GeoTIFF's (NaN), band NAME = the range field names =
    the GeoTIFF's band descriptions (GDAL's WCS bands carry the names as metadata)."""
    instant = acquisition(sample_archive, "2025-06-13")
    desc = etree.fromstring(
        get(wcs, service="WCS", version="2.0.1", request="DescribeCoverage",
            coverageId=coverage).content
    )  # fmt: skip
    names = [f.get("name") for f in desc.iter(f"{{{SWE}}}field")]
    response = get(wcs, service="WCS", version="2.0.1", request="GetCoverage",
                   coverageId=coverage, subset=["Long(5.95,5.96)", "Lat(52.60,52.61)",
                                                f'ansi("{instant}")'])  # fmt: skip
    with rasterio.MemoryFile(response.content) as memory, memory.open() as tiff:
        assert np.isnan(tiff.nodata) and list(tiff.descriptions) == names
    url = f"WCS:{wcs}?version=2.0.1&coverage={coverage}"
    with rasterio.open(url, CACHE=str(tmp_path)) as ds:
        assert ds.count == len(names)
        assert all(np.isnan(value) for value in ds.nodatavals)
        assert [ds.tags(band)["NAME"] for band in range(1, ds.count + 1)] == names
