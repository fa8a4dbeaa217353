"""WCS 1.0.0 / 1.1.1 / 2.0.1 against a live server: GDAL's WCS driver, OWSLib, pixels vs numpy."""

from __future__ import annotations

import warnings
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
import rasterio.warp
from lxml import etree
from owslib.coverage.wcsdecoder import MpartMime
from owslib.wcs import WebCoverageService
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from gateway.core.request import build_request
from tests.support.expected import load_items, ndvi, pixel_centres, read_band
from tests.support.ogc_schemas import assert_valid, ogc_schema
from tests.support.ows_live import live_gateway
from tests.support.wcs_checks import (
    acquisitions,
    geotiff,
    get,
    same,
    scene_item,
    wcs111_coverage,
)

L2A = "sentinel-2-l2a"
NDVI_COVERAGE = "sentinel-2-l2a__NDVI"
OWS20 = "http://www.opengis.net/ows/2.0"
OWS11 = "http://www.opengis.net/ows/1.1"
OGC = "http://www.opengis.net/ogc"
GML = "http://www.opengis.net/gml/3.2"
SWE = "http://www.opengis.net/swe/2.0"
WCS20 = "http://www.opengis.net/wcs/2.0"
# 2 km of T31UFU, on the 10 m (and 20 m) grid of its assets.
UTM_SUBSET = (700000.0, 5832000.0, 702000.0, 5834000.0)
UTM_SUBSETS = ["E(700000,702000)", "N(5832000,5834000)"]


@pytest.fixture(scope="module")
def server(sample_settings):
    with live_gateway(sample_settings) as url:
        yield url


@pytest.fixture(scope="module")
def wcs(server):
    return f"{server}/wcs"


# --- GDAL's WCS driver -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1.0.0", "1.1.1", "2.0.1"])
@pytest.mark.parametrize("coverage", [NDVI_COVERAGE, L2A])
def test_gdal_reads_each_version_like_the_engine(
    wcs, runtime, sample_archive, tmp_path, version, coverage
):
    """1.1.1 answers multipart/related (GDAL takes the second part); 2.0.1 opens on a bare
    coverage URL (the 2-D coverage: the mosaic over all acquisitions)."""
    window = Window(500, 300, 200, 100)
    options = {"CACHE": str(tmp_path)}
    time = None
    if version == "1.0.0":  # GDAL's 1.0.0 reader always sends TIME = the last time position
        time = acquisitions(sample_archive)[-1]
    url = f"WCS:{wcs}?version={version}&coverage={coverage}"
    with rasterio.open(url, **options) as ds:
        assert ds.crs.to_epsg() == 4326
        assert ds.transform.a == pytest.approx(0.0001) and ds.transform.e == pytest.approx(-0.0001)
        assert ds.count == (1 if coverage == NDVI_COVERAGE else 13)
        band = 1 if coverage == NDVI_COVERAGE else 4  # B04 is the 4th band of the collection
        got = ds.read(band, window=window)
        bounds = ds.window_bounds(window)
    expression = None if coverage == NDVI_COVERAGE else "B04"
    request = build_request(
        runtime.config, bbox=bounds, crs="EPSG:4326", width=200, height=100, format="tiff",
        layer="NDVI" if coverage == NDVI_COVERAGE else None, collection=L2A,
        expression=expression, time=time,
    )  # fmt: skip
    expected = runtime.engine.compute(request).data[0]
    assert got.shape == expected.shape
    assert same(got, expected).all()
    assert np.isfinite(expected).mean() > 0.5


# --- OWSLib ------------------------------------------------------------------------------


def _owslib_unpacked(response, folder: Path) -> bytes:
    """The coverage file of a 1.1.1 answer as OWSLib's ``MpartMime`` writes it out (it takes
    the MIME message as text: the HTTP Content-Type header, a blank line, the body)."""
    head = f"Content-Type: {response.info()['Content-Type']}\r\n\r\n"
    paths = MpartMime(head + response.read().decode("latin-1")).unpackToDir(str(folder))
    assert len(paths) == 2 and paths[1].endswith(f"{NDVI_COVERAGE}.tif")
    return Path(paths[1]).read_bytes()


@pytest.mark.parametrize("version", ["1.0.0", "1.1.1", "2.0.1"])
def test_owslib_parses_capabilities_and_fetches(wcs, runtime, tmp_path, version):
    service = WebCoverageService(wcs, version=version)
    ids = set(service.contents)
    assert {L2A, NDVI_COVERAGE, "sentinel-2-global-mosaics__MOSAIC_NDVI"} <= ids
    coverages = [layer for layer in runtime.config.layers if layer.evalscript is None]
    assert len(ids) == len(runtime.config.collections) + len(coverages)  # no script layer
    assert "image/tiff" in service.contents[NDVI_COVERAGE].supportedFormats or version == "1.0.0"
    if version == "1.0.0":
        response = service.getCoverage(
            identifier=NDVI_COVERAGE, bbox=(5.95, 52.60, 5.97, 52.61), crs="EPSG:4326",
            width=200, height=100, format="GeoTIFF",
        )  # fmt: skip
    elif version == "1.1.1":  # urn EPSG:4326 boxes are latitude first
        response = service.getCoverage(
            identifier=NDVI_COVERAGE, bbox=(52.60, 5.95, 52.61, 5.97, "urn:ogc:def:crs:EPSG::4326"),
            format="image/tiff",
        )  # fmt: skip
    else:
        response = service.getCoverage(
            identifier=NDVI_COVERAGE, subsets=[("Long", 5.95, 5.97), ("Lat", 52.60, 52.61)],
            format="image/tiff",
        )  # fmt: skip
    content = response.read()
    if version == "1.1.1":  # multipart/related: OWSLib's own decoder unpacks it
        content = _owslib_unpacked(response, tmp_path)
    data, crs, transform, nodata = geotiff(content)
    assert crs.to_epsg() == 4326 and np.isnan(nodata)
    assert data.shape == (1, 100, 200)
    assert transform.c == pytest.approx(5.95) and transform.f == pytest.approx(52.61)
    request = build_request(
        runtime.config, layer="NDVI", bbox=(5.95, 52.60, 5.97, 52.61), crs="EPSG:4326",
        width=200, height=100,
    )  # fmt: skip
    assert same(data[0], runtime.engine.compute(request).data[0]).all()


# --- values against numpy ----------------------------------------------------------------


def test_outputcrs_differs_from_the_scene(wcs, sample_archive):
    """Subset in UTM 31N, output in Web Mercator: values are the scene's reflectance."""
    response = get(
        wcs, service="WCS", version="2.0.1", request="GetCoverage", coverageId=L2A,
        subsettingCrs="http://www.opengis.net/def/crs/EPSG/0/32631",
        outputCrs="http://www.opengis.net/def/crs/EPSG/0/3857",
        subset=[*UTM_SUBSETS, 'time("2025-06-13")'],
        rangeSubset="B04,B08", scaleSize="i(200),j(200)", interpolation="nearest",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/tiff"
    data, crs, transform, _ = geotiff(response.content)
    assert crs.to_epsg() == 3857 and data.shape == (2, 200, 200)
    expected_bounds = transform_bounds("EPSG:32631", "EPSG:3857", *UTM_SUBSET, densify_pts=21)
    assert transform.c == pytest.approx(expected_bounds[0])
    assert transform.f == pytest.approx(expected_bounds[3])
    assert transform.c + 200 * transform.a == pytest.approx(expected_bounds[2])
    bounds = (
        transform.c,
        transform.f + 200 * transform.e,
        transform.c + 200 * transform.a,
        transform.f,
    )
    cx, cy = pixel_centres(bounds, 200, 200)
    item = scene_item(sample_archive, "31UFU", "2025-06-13")
    for index, key in enumerate(("B04_10m", "B08_10m")):
        expected = read_band(sample_archive, item, key).sample(cx, cy, "EPSG:3857")
        assert np.isfinite(expected).mean() > 0.95
        match = same(data[index], expected)
        assert match.mean() > 0.98, match.mean()  # warping may pick a neighbour at cell edges


def test_scaled_request_matches_the_20m_asset(wcs, sample_archive):
    response = get(
        wcs, service="WCS", version="2.0.1", request="GetCoverage", coverageId=L2A,
        subsettingCrs="EPSG:32631",
        subset=[*UTM_SUBSETS, 'time("2025-06-13")'],
        rangeSubset="B04", scaleFactor="2", interpolation="nearest",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    data, crs, transform, _ = geotiff(response.content)
    assert crs.to_epsg() == 32631 and data.shape == (1, 100, 100)  # 2 km / 10 m / 2
    assert transform.a == pytest.approx(20) and (transform.c, transform.f) == (700000, 5834000)
    item = scene_item(sample_archive, "31UFU", "2025-06-13")
    xs, ys = pixel_centres(UTM_SUBSET, 100, 100)
    expected = read_band(sample_archive, item, "B04_20m").sample(xs, ys, "EPSG:32631")
    assert np.isfinite(expected).all() and same(data[0], expected).all()


def test_index_coverage_png_and_cog(wcs, runtime, sample_archive):
    common = dict(
        service="WCS", version="2.0.1", request="GetCoverage", coverageId=NDVI_COVERAGE,
        subsettingCrs="EPSG:32631", subset=["E(700000,702000)", "N(5832000,5834000)",
                                            'time("2025-06-13")'],
        interpolation="nearest",
    )  # fmt: skip
    cog = get(wcs, **common, format="image/tiff;application=geotiff;profile=cloud-optimized")
    assert cog.status_code == 200
    with rasterio.MemoryFile(cog.content) as memory, memory.open() as src:
        assert src.profile["tiled"] and src.profile["blockxsize"] == 256  # a COG layout
        data = src.read(1)
    item = scene_item(sample_archive, "31UFU", "2025-06-13")
    xs, ys = pixel_centres(UTM_SUBSET, 200, 200)
    nir = read_band(sample_archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    red = read_band(sample_archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    expected = ndvi(nir, red)
    scl = read_band(sample_archive, item, "SCL_20m", reflectance=False).sample(xs, ys, "EPSG:32631")
    expected[np.isin(scl, (3, 8, 9, 10))] = np.nan  # the NDVI layer masks clouds
    assert same(data, expected).all()
    png = get(wcs, **common, format="image/png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


EXPRESSION_VERSIONS = {
    "2.0.1": {"coverageId": NDVI_COVERAGE, "subsettingCrs": "EPSG:32631",
              "subset": [*UTM_SUBSETS, 'time("2025-06-13")'], "interpolation": "nearest"},
    "1.1.1": {"identifier": NDVI_COVERAGE, "timeSequence": "2025-06-13",
              "boundingBox": ",".join(map(str, UTM_SUBSET)) + ",urn:ogc:def:crs:EPSG::32631",
              "rangeSubset": "NDVI:nearest", "format": "image/tiff"},
    "1.0.0": {"coverage": NDVI_COVERAGE, "crs": "EPSG:32631", "time": "2025-06-13",
              "bbox": ",".join(map(str, UTM_SUBSET)), "width": "200", "height": "200",
              "interpolation": "nearest neighbor", "format": "GeoTIFF"},
}  # fmt: skip


@pytest.mark.parametrize("version", list(EXPRESSION_VERSIONS))
def test_expression_replaces_the_coverage_fields(wcs, sample_archive, version):
    """EXPRESSION on the NDVI coverage, as on every door: its values (with the layer's cloud
    mask), one band per output, each named after its output, never after the layer."""
    item = scene_item(sample_archive, "31UFU", "2025-06-13")
    xs, ys = pixel_centres(UTM_SUBSET, 200, 200)
    nir = read_band(sample_archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    red = read_band(sample_archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    scl = read_band(sample_archive, item, "SCL_20m", reflectance=False).sample(xs, ys, "EPSG:32631")
    cloudy = np.isin(scl, (3, 8, 9, 10))
    for expression, names, expected in (
        ("B04", ("B04",), [red]),
        ("(B08-B04)/(B08+B04);B08*2", ("(B08 - B04) / (B08 + B04)", "B08 * 2"),
         [ndvi(nir, red), nir * 2]),
    ):  # fmt: skip
        response = get(wcs, service="WCS", version=version, request="GetCoverage",
                       expression=expression, **EXPRESSION_VERSIONS[version])  # fmt: skip
        assert response.status_code == 200, response.text[:500]
        content = wcs111_coverage(response)[1] if version == "1.1.1" else response.content
        with rasterio.MemoryFile(content) as memory, memory.open() as src:
            data, descriptions = src.read(), src.descriptions
        assert descriptions == names
        assert data.shape == (len(names), 200, 200)
        for band, values in zip(data, expected, strict=True):
            values = np.where(cloudy, np.nan, values)
            assert np.isfinite(values).mean() > 0.9
            assert same(band, values).all()


# --- documents -------------------------------------------------------------------------


def test_describe_coverage_201(wcs, runtime):
    """Fields, nil values and units of a band and an index coverage; the spatial part of the
    domain (the time axis: tests/test_wcs_time.py)."""
    response = get(wcs, service="WCS", version="2.0.1", request="DescribeCoverage",
                   coverageId=f"{L2A},{NDVI_COVERAGE}")  # fmt: skip
    assert response.status_code == 200
    root = etree.fromstring(response.content)
    descs = root.findall(f"{{{WCS20}}}CoverageDescription")
    assert [d.findtext(f"{{{WCS20}}}CoverageId") for d in descs] == [L2A, NDVI_COVERAGE]
    raw, index = descs
    fields = raw.findall(f".//{{{SWE}}}field")
    assert [f.get("name") for f in fields] == list(runtime.config.collection(L2A).bands)
    assert [f.get("name") for f in fields][:4] == ["B01", "B02", "B03", "B04"]
    assert [f.get("name") for f in index.findall(f".//{{{SWE}}}field")] == ["NDVI"]
    for field in [*fields, *index.findall(f".//{{{SWE}}}field")]:
        component = field[0]
        nils = component.find(f"{{{SWE}}}nilValues")
        assert nils.findtext(f"{{{SWE}}}NilValues/{{{SWE}}}nilValue") == "NaN"
        assert nils.nsmap["NilValue"] == "NaN"  # what GDAL reads as nilValues.NilValue
        if component.tag == f"{{{SWE}}}Quantity":
            assert component.find(f"{{{SWE}}}uom").get("code") == "1"
        else:  # SCL: classes
            assert field.get("name") == "SCL" and component.tag == f"{{{SWE}}}Category"
    envelope = raw.find(f"{{{GML}}}boundedBy/{{{GML}}}EnvelopeWithTimePeriod")
    lat0, lon0 = (float(v) for v in envelope.findtext(f"{{{GML}}}lowerCorner").split())
    assert 52.5 < lat0 < 52.6 and 5.9 < lon0 < 6.0  # latitude first, as EPSG:4326 says
    assert_valid(ogc_schema(), envelope)


@pytest.mark.parametrize(
    ("version", "sections"),
    [
        ("2.0.1", ("ServiceIdentification", "ServiceProvider", "OperationsMetadata")),
        ("1.1.1", ("ServiceIdentification", "ServiceProvider", "OperationsMetadata")),
    ],
)
def test_capabilities_ows_sections_validate(wcs, version, sections):
    response = get(wcs, service="WCS", request="GetCapabilities", version=version)
    root = etree.fromstring(response.content)
    assert root.get("version") == version
    ns = OWS20 if version == "2.0.1" else OWS11
    for name in sections:
        assert_valid(ogc_schema(), root.find(f"{{{ns}}}{name}"))


def test_ows_endpoint_and_version_negotiation(server):
    response = get(f"{server}/ows", service="WCS", request="GetCapabilities",
                    acceptVersions="1.1.1,1.0.0")  # fmt: skip
    assert response.status_code == 200
    assert etree.fromstring(response.content).get("version") == "1.1.1"
    response = get(f"{server}/ows", service="WCS", request="GetCapabilities")
    assert etree.fromstring(response.content).get("version") == "2.0.1"


# --- errors ------------------------------------------------------------------------------

GC201 = {"service": "WCS", "version": "2.0.1", "request": "GetCoverage", "coverageId": L2A}
SMALL = ["Long(5.95,5.96)", "Lat(52.60,52.61)"]


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"service": "WCS"}, 400, "MissingParameterValue"),
        ({"service": "WCS", "version": "2.0.1", "request": "Transaction"}, 501,
         "OperationNotSupported"),
        ({"service": "WCS", "request": "GetCapabilities", "acceptVersions": "9.9.9"}, 400,
         "VersionNegotiationFailed"),
        ({**GC201, "version": "3.0.0"}, 400, "InvalidParameterValue"),
        ({**GC201, "coverageId": "nope"}, 404, "NoSuchCoverage"),
        ({**GC201, "coverageId": "sentinel-2-l2a__NOPE"}, 404, "NoSuchCoverage"),
        ({**GC201, "coverageId": "sentinel-2-global-mosaics__NDVI"}, 404, "NoSuchCoverage"),
        ({**GC201, "subset": "height(1,2)"}, 404, "InvalidAxisLabel"),
        ({**GC201, "subset": ["Long(1,2)", "Long(3,4)"]}, 404, "InvalidAxisLabel"),
        ({**GC201, "subset": ["Long(7,8)", "Lat(52.6,52.61)"]}, 404, "InvalidSubsetting"),
        ({**GC201, "subset": ["Long(6,5.99)", "Lat(52.6,52.61)"]}, 404, "InvalidSubsetting"),
        ({**GC201, "subset": [*SMALL, 'time("2030-01-01")']}, 404, "InvalidSubsetting"),
        ({**GC201, "subset": [*SMALL, 'time("yesterday")']}, 404, "InvalidSubsetting"),
        ({**GC201, "subset": "Long(abc,6)"}, 404, "InvalidSubsetting"),
        ({**GC201, "subset": "Long(5.95)"}, 404, "InvalidSubsetting"),
        ({**GC201, "subset": "Long[5,6]"}, 400, "InvalidParameterValue"),
        ({**GC201, "subset": SMALL, "rangeSubset": "B99"}, 404, "NoSuchField"),
        ({**GC201, "subset": SMALL, "rangeSubset": "B08:B02"}, 404, "IllegalFieldSequence"),
        ({**GC201, "subset": SMALL, "interpolation": "sinc"}, 404,
         "InterpolationMethodNotSupported"),
        ({**GC201, "subset": SMALL, "scaleFactor": "0"}, 404, "InvalidScaleFactor"),
        ({**GC201, "subset": SMALL, "scaleSize": "i(0),j(10)"}, 404, "InvalidScaleFactor"),
        ({**GC201, "subset": SMALL, "scaleSize": "k(10)"}, 404, "InvalidAxisLabel"),
        ({**GC201, "subset": SMALL, "scaleExtent": "i(0,9)"}, 501, "OptionNotSupported"),
        ({**GC201, "subset": SMALL, "outputCrs": "EPSG:999999"}, 404, "OutputCrs-NotSupported"),
        ({**GC201, "subset": SMALL, "outputCrs": "EPSG:4978"}, 404, "OutputCrs-NotSupported"),
        ({**GC201, "subset": SMALL, "subsettingCrs": "foo"}, 404, "SubsettingCrs-NotSupported"),
        ({**GC201, "subset": SMALL, "format": "application/x-foo"}, 400, "InvalidParameterValue"),
        ({**GC201, "scaleSize": "i(5000),j(5000)"}, 400, "InvalidParameterValue"),
        ({**GC201, "scaleSize": "i(4000),j(4000)"}, 400, "InvalidParameterValue"),  # x 13 bands
        ({**GC201, "subset": SMALL, "maxcc": "200"}, 400, "InvalidParameterValue"),
        ({**GC201, "subset": SMALL, "priority": "random"}, 400, "InvalidParameterValue"),
        ({**GC201, "subset": SMALL, "expression": "__import__('os')"}, 400,
         "InvalidParameterValue"),
        ({**GC201, "subset": SMALL, "rangeSubset": "B02,B03,B04,B08", "format": "image/png"}, 400,
         "InvalidParameterValue"),
        ({"service": "WCS", "version": "2.0.1", "request": "DescribeCoverage"}, 400,
         "MissingParameterValue"),
        ({"service": "WCS", "version": "2.0.1", "request": "DescribeCoverage", "coverageId": "x"},
         404, "NoSuchCoverage"),
    ],
)  # fmt: skip
def test_wcs201_errors_are_ows20_reports(wcs, params, status, code):
    response = get(wcs, **params)
    assert response.status_code == status, response.text
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{OWS20}}}ExceptionReport"
    assert root.find(f"{{{OWS20}}}Exception").get("exceptionCode") == code
    assert_valid(ogc_schema(), root)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"request": "GetCoverage", "identifier": "nope", "boundingBox": "52.6,5.9,52.7,6.0"}, 404,
         "NoSuchCoverage"),
        ({"request": "GetCoverage", "identifier": L2A}, 400, "MissingParameterValue"),
        ({"request": "GetCoverage", "identifier": L2A, "boundingBox": "52.6,5.9,52.61,5.91",
          "store": "true"}, 400, "InvalidParameterValue"),
        ({"request": "GetCoverage", "identifier": L2A, "boundingBox": "52.6,5.9,52.61,5.91",
          "store": "maybe"}, 400, "InvalidParameterValue"),
        ({"request": "GetCoverage", "identifier": L2A, "boundingBox": "a,b,c,d"}, 400,
         "InvalidParameterValue"),
        ({"request": "GetCoverage", "identifier": L2A,
          "boundingBox": "52.6,5.9,52.7,6.0,urn:ogc:def:crs:EPSG::4326", "gridOffsets": "0,0"},
         400, "InvalidParameterValue"),
        ({"request": "GetCoverage", "identifier": L2A,
          "boundingBox": "52.0,5.0,52.7,6.0,urn:ogc:def:crs:EPSG::4326"}, 400,
         "InvalidParameterValue"),  # 11,000 x 7,000 pixels: over the size limit
    ],
)  # fmt: skip
def test_wcs111_errors_are_ows11_reports(wcs, params, status, code):
    response = get(wcs, service="WCS", version="1.1.1", **params)
    assert response.status_code == status, response.text
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{OWS11}}}ExceptionReport"
    assert root.find(f"{{{OWS11}}}Exception").get("exceptionCode") == code
    assert_valid(ogc_schema(), root)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"coverage": "nope"}, 404, "CoverageNotDefined"),
        ({"format": "JPEG2000"}, 400, "InvalidFormat"),
        ({"crs": ""}, 400, "MissingParameterValue"),
        ({"width": "", "height": ""}, 400, "MissingParameterValue"),
        ({"width": "-3"}, 400, "InvalidParameterValue"),
        ({"bbox": "1,2,3"}, 400, "InvalidParameterValue"),
        ({"time": "2025-13-45"}, 400, "InvalidParameterValue"),
    ],
)  # fmt: skip
def test_wcs100_errors_are_service_exception_reports(wcs, params, status, code):
    query = {
        "service": "WCS", "version": "1.0.0", "request": "GetCoverage", "coverage": L2A,
        "crs": "EPSG:4326", "bbox": "5.95,52.6,5.96,52.61", "width": "10", "height": "10",
        "format": "GeoTIFF", **params,
    }  # fmt: skip
    response = get(wcs, **query)
    assert response.status_code == status, response.text
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{OGC}}}ServiceExceptionReport" and root.get("version") == "1.2.0"
    assert root.find(f"{{{OGC}}}ServiceException").get("code") == code


def test_netcdf_output_holds_the_same_values(wcs, tmp_path):
    common = {**GC201, "subset": SMALL, "rangeSubset": "B04,B08"}
    tiff = get(wcs, **common)
    netcdf = get(wcs, **common, format="application/netcdf")
    assert netcdf.status_code == 200 and netcdf.headers["content-type"] == "application/netcdf"
    assert netcdf.content[:3] in (b"CDF", b"\x89HD")  # netCDF classic or netCDF-4/HDF5
    expected, crs, transform, _ = geotiff(tiff.content)
    path = tmp_path / "coverage.nc"
    path.write_bytes(netcdf.content)
    with warnings.catch_warnings():  # the container itself has no geotransform
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        container = rasterio.open(path)
    with container:
        assert container.driver == "netCDF"
        variables = container.subdatasets  # one 2-D variable per range field
    assert len(variables) == 2
    for index, name in enumerate(variables):
        with rasterio.open(name) as src:
            assert src.crs.to_epsg() == crs.to_epsg() == 4326
            assert src.transform.almost_equals(transform)
            assert same(src.read(1), expected[index]).all()


def test_form_encoded_post_and_xml_post(wcs):
    body = "service=WCS&version=2.0.1&request=DescribeCoverage&coverageId=sentinel-2-l2a__NDVI"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    response = httpx.post(wcs, content=body, headers=headers, timeout=60)
    assert response.status_code == 200 and b"CoverageDescriptions" in response.content
    response = httpx.post(wcs, content=b"<GetCoverage/>", headers={"content-type": "text/xml"})
    assert response.status_code == 501
    root = etree.fromstring(response.content)
    assert root.find(f"{{{OWS20}}}Exception").get("exceptionCode") == "OperationNotSupported"


def test_expression_maxcc_priority_and_time_trim(wcs, sample_archive):
    """EXPRESSION on the raw collection; MAXCC and PRIORITY pick the clear scene in a time trim."""
    response = get(
        wcs, **{**GC201, "subsettingCrs": "EPSG:32631"},
        subset=[*UTM_SUBSETS, 'time("2025-05-25","2025-06-30")'],
        expression="(B08-B04)/(B08+B04)", maxcc="5", priority="leastCC", interpolation="nearest",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    data, crs, transform, _ = geotiff(response.content)
    assert crs.to_epsg() == 32631  # OUTPUTCRS defaults to SUBSETTINGCRS
    assert data.shape == (1, 200, 200) and transform.a == pytest.approx(10)
    item = scene_item(sample_archive, "31UFU", "2025-06-13")  # the only scene under 5 % cloud
    xs, ys = pixel_centres(UTM_SUBSET, 200, 200)
    nir = read_band(sample_archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    red = read_band(sample_archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    assert same(data[0], ndvi(nir, red)).all()
    cloudy = get(
        wcs, **{**GC201, "subsettingCrs": "EPSG:32631"},
        subset=[*UTM_SUBSETS, 'time("2025-05-25","2025-06-30")'],
        expression="(B08-B04)/(B08+B04)", priority="mostRecent", interpolation="nearest",
    )  # fmt: skip
    assert not same(geotiff(cloudy.content)[0][0], data[0]).all()  # 2025-06-23 comes first


def test_wcs100_response_crs_and_resolution(wcs, sample_archive):
    """WCS 1.0.0: BBOX in EPSG:4326, RESPONSE_CRS UTM 31N, RESX/RESY 20 m."""
    to_lonlat = rasterio.warp.transform_bounds("EPSG:32631", "EPSG:4326", *UTM_SUBSET)
    response = get(
        wcs, service="WCS", version="1.0.0", request="GetCoverage", coverage=L2A,
        crs="EPSG:4326", bbox=",".join(f"{v:.8f}" for v in to_lonlat),
        response_crs="EPSG:32631", resx="20", resy="20", format="GeoTIFF", band="B04",
        time="2025-06-13", interpolation="nearest neighbor",
    )  # fmt: skip
    assert response.status_code == 200, response.text
    data, crs, transform, _ = geotiff(response.content)
    assert crs.to_epsg() == 32631 and transform.a == pytest.approx(20, rel=0.02)
    height, width = data.shape[1:]
    bounds = (transform.c, transform.f + height * transform.e, transform.c + width * transform.a,
              transform.f)  # fmt: skip
    xs, ys = pixel_centres(bounds, width, height)
    item = scene_item(sample_archive, "31UFU", "2025-06-13")
    expected = read_band(sample_archive, item, "B04_20m").sample(xs, ys, "EPSG:32631")
    assert np.isfinite(expected).all() and same(data[0], expected).mean() > 0.97


def test_wcs111_grid_base_crs_and_offsets(wcs, sample_archive):
    """WCS 1.1.1: a UTM box (x/y), GridBaseCRS UTM, GridOffsets 20 m: cell centres on the box."""
    response = get(
        wcs, service="WCS", version="1.1.1", request="GetCoverage", identifier=L2A,
        boundingBox="700010,5832010,701990,5833990,urn:ogc:def:crs:EPSG::32631",
        gridBaseCRS="urn:ogc:def:crs:EPSG::32631", gridOffsets="20,-20",
        rangeSubset="values:nearest[Band[B04]]", timeSequence="2025-06-13",
    )  # fmt: skip
    _, content = wcs111_coverage(response)
    data, crs, transform, _ = geotiff(content)
    assert crs.to_epsg() == 32631 and data.shape == (1, 100, 100)
    assert (transform.a, transform.c, transform.f) == (20, 700000, 5834000)
    item = scene_item(sample_archive, "31UFU", "2025-06-13")
    xs, ys = pixel_centres(UTM_SUBSET, 100, 100)
    expected = read_band(sample_archive, item, "B04_20m").sample(xs, ys, "EPSG:32631")
    assert same(data[0], expected).all()


def test_wcs111_answers_multipart_related(wcs):
    """Part 1: a Coverages document (its wcs:Coverage is an ows:ReferenceGroup) whose
    ows:Reference names part 2, the GeoTIFF, by Content-ID."""
    response = get(
        wcs, service="WCS", version="1.1.1", request="GetCoverage", identifier=NDVI_COVERAGE,
        boundingBox="52.6,5.95,52.61,5.96,urn:ogc:def:crs:EPSG::4326", format="image/tiff",
        store="false",
    )  # fmt: skip
    root, content = wcs111_coverage(response)
    (entry,) = root.findall("{http://www.opengis.net/wcs/1.1.1}Coverage")
    assert entry.findtext(f"{{{OWS11}}}Identifier") == NDVI_COVERAGE
    assert entry.findtext(f"{{{OWS11}}}Reference/{{{OWS11}}}Format") == "image/tiff"
    group = etree.Element(f"{{{OWS11}}}ReferenceGroup")
    group.extend(entry)
    assert_valid(ogc_schema(), group)
    data, crs, _, nodata = geotiff(content)
    assert crs.to_epsg() == 4326 and data.shape == (1, 100, 100) and np.isnan(nodata)


def test_time_axis_in_1x_descriptions(wcs, sample_archive):
    times = sorted({i["properties"]["datetime"][:19] for i in load_items(sample_archive, L2A)})
    service = WebCoverageService(wcs, version="1.0.0")
    assert [t[:19] for t in service.contents[NDVI_COVERAGE].timepositions] == times
    response = get(wcs, service="WCS", version="1.1.1", request="DescribeCoverage",
                    identifiers=NDVI_COVERAGE)  # fmt: skip
    root = etree.fromstring(response.content)
    domain = root.find(".//{http://www.opengis.net/wcs/1.1.1}TemporalDomain")
    positions = domain.findall("{http://www.opengis.net/gml}timePosition")
    assert [p.text[:19] for p in positions] == times
