"""Bring your own data: ``cdse-gateway ingest`` of a user's rasters, then their pixels
through WCS 2.0.1, OGC API Coverages, WMS and WMTS, against numpy reads of the inputs.

The inputs are written here: a float32 GeoTIFF in EPSG:3035 (LAEA Europe) with a nodata
triangle, a scale and an offset (striped: converted); a 3-band uint16 file in UTM 32N with
nodata 0; a float32 COG in EPSG:4326 (copied as it is). The reference reads each output
pixel's centre in the input with pyproj and numpy (nearest neighbour, the derived layers'
resampling), never through gateway code.
"""

from __future__ import annotations

import copy
import io
import json
import shutil
import time
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
import yaml
from PIL import Image
from pyproj import Transformer
from pystac.errors import STACValidationError
from pystac.validation import validate_dict
from rasterio.crs import CRS
from rasterio.transform import from_origin
from rio_cogeo.cogeo import cog_translate, cog_validate
from rio_cogeo.profiles import cog_profiles
from shapely.geometry import Point, box, shape
from typer.testing import CliRunner

from gateway.byod.catalog import carry_over
from gateway.byod.ingest import IngestOptions, ingest
from gateway.cli import app
from gateway.config import default_config_file
from gateway.core.catalog import StaticCatalog
from gateway.core.catalog.models import SearchQuery, TimeRange, parse_datetime
from gateway.core.grid import Grid
from gateway.core.request import build_request
from gateway.runtime import build_runtime
from gateway.settings import Settings
from tests.support.ows_live import OWS_DOORS, live_gateway
from tests.support.stac_schemas import SCHEMAS, OfflineValidator
from tests.support.wcs_checks import geotiff, get

OGCAPI = "gateway.ogcapi.door:build_door"
MAPPROXY = "gateway.ows.mapproxy.door:build_door"
PLOTS_NAME = "plots_20250614.tif"
SCALE, OFFSET, NODATA = 0.5, 10.0, -9999.0


# --- inputs ------------------------------------------------------------------------------------


def write_plots(path: Path, seed: int = 1, east: float = 0.0) -> None:
    """1200 x 800 float32, 20 m LAEA pixels near Luxembourg (``east``: metres further east);
    the upper-left triangle nodata."""
    rows, cols = np.mgrid[0:800, 0:1200]
    data = np.random.default_rng(seed).uniform(0, 100, (800, 1200)).astype("float32")
    data[rows * 1200 < (600 - cols) * 800] = NODATA
    profile = {
        "driver": "GTiff", "width": 1200, "height": 800, "count": 1, "dtype": "float32",
        "crs": "EPSG:3035", "transform": from_origin(4_030_000 + east, 2_960_000, 20, 20),
        "nodata": NODATA,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.scales, dst.offsets = (SCALE,), (OFFSET,)


def write_survey(path: Path) -> None:
    """3 bands uint16, 5 m UTM 32N pixels, nodata 0 in the last 40 columns."""
    data = np.random.default_rng(2).integers(1, 4000, (3, 300, 400)).astype("uint16")
    data[:, :, 360:] = 0
    profile = {
        "driver": "GTiff", "width": 400, "height": 300, "count": 3, "dtype": "uint16",
        "crs": "EPSG:32632", "transform": from_origin(300_000, 5_520_000, 5, 5), "nodata": 0,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)


def write_heights_cog(path: Path) -> None:
    """A float32 COG in EPSG:4326 (heights in metres), valid as given."""
    plain = path.with_suffix(".plain.tif")
    data = np.random.default_rng(3).uniform(200, 400, (600, 600)).astype("float32")
    profile = {
        "driver": "GTiff", "width": 600, "height": 600, "count": 1, "dtype": "float32",
        "crs": "EPSG:4326", "transform": from_origin(6.0, 50.0, 0.0005, 0.0005),
    }  # fmt: skip
    with rasterio.open(plain, "w", **profile) as dst:
        dst.write(data, 1)
    cog_translate(str(plain), str(path), cog_profiles.get("deflate"), quiet=True)
    plain.unlink()


def write_bad_inputs(folder: Path, outside: Path) -> dict[str, str]:
    """Refused inputs, by file name: the words their message must hold."""
    (folder / "notes.tif").write_text("not a raster\n")
    (folder / "empty.tif").write_bytes(b"")
    with rasterio.open(
        folder / "nocrs.tif", "w", driver="GTiff", width=64, height=64, count=1,
        dtype="uint8", transform=from_origin(0, 64, 1, 1),
    ) as dst:  # fmt: skip
        dst.write(np.ones((1, 64, 64), "uint8"))
    write_plots(folder / "whole.tif")
    content = (folder / "whole.tif").read_bytes()
    (folder / "corrupt.tif").write_bytes(content[: len(content) // 2])
    (folder / "whole.tif").unlink()
    write_survey(outside / "elsewhere.tif")
    (folder / "link.tif").symlink_to(outside / "elsewhere.tif")
    return {
        "link.tif": "outside the allowed folders",
        "notes.tif": "not a raster",
        "empty.tif": "0 bytes",
        "nocrs.tif": "no CRS",
        "corrupt.tif": "not a raster",
        "elsewhere.tif": "outside the allowed folders",
    }


def data_dir_beside(sample: Path, root: Path) -> Path:
    """A data folder holding the sample's collections (links) and its eodata."""
    data = root / "data"
    collections = data / "stac" / "collections"
    collections.mkdir(parents=True)
    shutil.copy(sample / "stac" / "catalog.json", data / "stac" / "catalog.json")
    for folder in (sample / "stac" / "collections").iterdir():
        (collections / folder.name).symlink_to(folder)
    (data / "eodata").symlink_to(sample / "eodata")
    return data


def options(data: Path, inputs: Path, collection: str, **extra) -> IngestOptions:
    return IngestOptions(collection=collection, data_dir=data, allowed=(inputs,), **extra)


def cli_env(data: Path, inputs: Path) -> dict[str, str]:
    """The command's environment: this data folder (no sample written), these inputs."""
    return {
        "GATEWAY_DATA_DIR": str(data),
        "GATEWAY_INGEST_DIRS": str(inputs),
        "GATEWAY_SAMPLE_DATA": "false",
    }


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (links followed), by relative path: its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part == "eodata" for part in p.relative_to(folder).parts)
    }


@pytest.fixture(scope="module")
def own(sample_archive: Path, tmp_path_factory: pytest.TempPathFactory):
    """The sample's data folder with three ingested collections; yields (data, inputs)."""
    root = tmp_path_factory.mktemp("byod")
    data, inputs = data_dir_beside(sample_archive, root), root / "inputs"
    inputs.mkdir()
    write_plots(inputs / PLOTS_NAME)
    write_survey(inputs / "survey.tif")
    write_heights_cog(inputs / "heights.tif")
    rgb, metres = ("red", "green", "blue"), {"height": "m"}
    runs = [
        (PLOTS_NAME, options(data, inputs, "plots", datetime_from_name=r"_(\d{8})")),
        ("survey.tif", options(data, inputs, "survey", bands=rgb, datetime="2025-06-01T10:30Z")),
        ("heights.tif", options(data, inputs, "heights", bands=("height",), units=metres)),
    ]
    for name, opts in runs:
        report = ingest([inputs / name], opts)
        assert report.failed == [] and report.done == [Path(name).stem], report.failed
    return data, inputs


@pytest.fixture(scope="module")
def server(own):
    data, _ = own
    settings = Settings(
        data_dir=data, sample_data=False, redis_url=None, stac_url=None, storage="local",
        capabilities_ttl_s=1, search_cache_ttl_s=1,
    )  # fmt: skip
    with live_gateway(settings, doors=(*OWS_DOORS, OGCAPI, MAPPROXY)) as url:
        yield url


def item(data: Path, collection: str, item_id: str) -> dict:
    path = data / "stac" / "collections" / collection / "items" / f"{item_id}.json"
    return json.loads(path.read_text(encoding="utf-8"))


# --- the reference --------------------------------------------------------------------------------


# GDAL warps through an approximate transformer (error under 0.125 pixel): a centre this close
# to an input pixel's edge may take the pixel across it.
EDGE = 0.2


def nearest_reference(path: Path, grid: Grid, band: int = 1) -> list[np.ndarray]:
    """The input's value at each output pixel centre (nearest; NaN at nodata or outside),
    stored x scale + offset; then the values across the nearest row edge, column edge and
    both where a centre is within ``EDGE`` of one (the same value elsewhere)."""
    with rasterio.open(path) as src:
        stored = src.read(band).astype("float64")
        nodata, left, top = src.nodata, src.bounds.left, src.bounds.top
        rx, ry = src.res
        scale, offset = src.scales[band - 1], src.offsets[band - 1]
        to_src = Transformer.from_crs(grid.crs.to_wkt(), src.crs.to_wkt(), always_xy=True)
    if nodata is not None:
        stored[stored == nodata] = np.nan
    physical = stored * scale + offset
    minx, _, _, maxy = grid.bounds
    gx, gy = grid.resolution
    cols, rows = np.meshgrid(np.arange(grid.width), np.arange(grid.height))
    x, y = to_src.transform(minx + (cols + 0.5) * gx, maxy - (rows + 0.5) * gy)
    fx, fy = (x - left) / rx, (top - y) / ry
    c, r = np.floor(fx).astype(int), np.floor(fy).astype(int)

    def at(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        inside = (c >= 0) & (c < stored.shape[1]) & (r >= 0) & (r < stored.shape[0])
        out = np.full(r.shape, np.nan)
        out[inside] = physical[r[inside], c[inside]]
        return out.astype("float32")

    def across(f: np.ndarray) -> np.ndarray:
        part = f - np.floor(f)
        return np.where(part < EDGE, -1, np.where(part > 1 - EDGE, 1, 0))

    dr, dc = across(fy), across(fx)
    return [at(r, c), at(r + dr, c), at(r, c + dc), at(r + dr, c + dc)]


def native_grid(path: Path, window: tuple[int, int, int, int]) -> Grid:
    """The input's own pixels of ``window`` (col, row, width, height)."""
    col, row, width, height = window
    with rasterio.open(path) as src:
        (left, top), (right, bottom) = (
            src.xy(row, col, offset="ul"),
            src.xy(row + height, col + width, offset="ul"),
        )
        return Grid(src.crs, tuple(map(float, (left, bottom, right, top))), width, height)


def lonlat_grid(path: Path, step: float) -> Grid:
    """A lon/lat grid of ``step`` degree pixels over the input's middle."""
    with rasterio.open(path) as src:
        to_lonlat = Transformer.from_crs(src.crs.to_wkt(), "EPSG:4326", always_xy=True)
        lon, lat = to_lonlat.transform(*src.xy(src.height // 2, src.width // 2))
    west, north = round(lon / step) * step - 150 * step, round(lat / step) * step + 100 * step
    return Grid(CRS.from_epsg(4326), (west, north - 200 * step, west + 300 * step, north), 300, 200)


def matches(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return (np.isnan(got) & np.isnan(expected)) | (np.abs(got - expected) < 1e-4)


def assert_same(got: np.ndarray, reference: list[np.ndarray]) -> None:
    """Every pixel is the nearest input pixel's value (or, a centre on an edge, the one
    across it); NaN exactly where that is nodata or outside."""
    nearest = reference[0]
    assert got.shape == nearest.shape
    first = matches(got, nearest)
    either = np.logical_or.reduce([matches(got, r) for r in reference])
    assert either.all(), [(tuple(i), got[tuple(i)], [float(r[tuple(i)]) for r in reference])
                          for i in np.argwhere(~either)[:5]]  # fmt: skip
    assert (~first).mean() < 0.05  # edge cases stay rare
    assert np.isfinite(nearest).mean() > 0.3  # the comparison saw valid pixels


def wcs(url: str, coverage_id: str, grid: Grid, day: str | None = None) -> np.ndarray:
    """WCS 2.0.1 GetCoverage on ``grid`` (on ``day``), nearest neighbour, float32 GeoTIFF
    bands."""
    epsg = grid.crs.to_epsg()
    crs = f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"
    minx, miny, maxx, maxy = grid.bounds
    axes = ("Long", "Lat") if epsg == 4326 else ("E", "N")
    answer = get(
        f"{url}/wcs", SERVICE="WCS", VERSION="2.0.1", REQUEST="GetCoverage",
        COVERAGEID=coverage_id, SUBSET=[f"{axes[0]}({minx!r},{maxx!r})",
        f"{axes[1]}({miny!r},{maxy!r})", *([f'time("{day}")'] if day else [])],
        SUBSETTINGCRS=crs, OUTPUTCRS=crs,
        SCALESIZE=f"i({grid.width}),j({grid.height})", INTERPOLATION="nearest",
        FORMAT="image/tiff",
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:500]
    data, out_crs, transform, _ = geotiff(answer.content)
    assert out_crs.to_epsg() == epsg and data.dtype == np.float32
    assert transform.c == pytest.approx(minx) and transform.f == pytest.approx(maxy)
    return data


def ogcapi_coverage(url: str, collection: str, grid: Grid) -> np.ndarray:
    """OGC API Coverages of ``collection`` on a lon/lat ``grid``: its first band."""
    answer = httpx.get(
        f"{url}/ogcapi/collections/{collection}/coverage",
        params={"f": "GTiff", "bbox": ",".join(repr(v) for v in grid.bounds),
                "scale-size": f"Lon({grid.width}),Lat({grid.height})"},
        timeout=60,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    data, crs, _, _ = geotiff(answer.content)
    assert crs.to_epsg() == 4326
    return data[0]


# --- ingest: files and items ----------------------------------------------------------------------


def test_outputs_are_valid_cogs_tiled_and_compressed_for_their_type(own):
    data, _ = own
    files = sorted((data / "byod").rglob("*.tif"))
    assert [str(p.relative_to(data / "byod")) for p in files] == [
        "heights/heights/height.tif",
        "plots/plots_20250614/b1.tif",
        "survey/survey/blue.tif",
        "survey/survey/green.tif",
        "survey/survey/red.tif",
    ]
    for path in files:
        valid, errors, _ = cog_validate(str(path), quiet=True)
        assert valid, (path, errors)
        with rasterio.open(path) as src:
            assert src.count == 1 and src.compression.name == "deflate"
    with rasterio.open(data / "byod/plots/plots_20250614/b1.tif") as src:
        assert src.block_shapes == [(512, 512)] and src.overviews(1)
        assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "3"  # floating point
        assert src.nodata == NODATA and src.scales == (SCALE,) and src.offsets == (OFFSET,)
    with rasterio.open(data / "byod/survey/survey/red.tif") as src:
        assert src.dtypes == ("uint16",) and src.nodata == 0
        assert src.tags(ns="IMAGE_STRUCTURE")["PREDICTOR"] == "2"  # integers


def test_items_hold_proj_raster_bands_datetime_and_the_valid_footprint(own):
    data, _ = own
    plots = item(data, "plots", "plots_20250614")
    asset = plots["assets"]["b1"]
    assert asset["proj:code"] == "EPSG:3035" and asset["proj:shape"] == [800, 1200]
    assert asset["proj:transform"] == [20.0, 0.0, 4_030_000.0, 0.0, -20.0, 2_960_000.0]
    assert asset["nodata"] == NODATA and asset["data_type"] == "float32"
    assert asset["raster:scale"] == SCALE and asset["raster:offset"] == OFFSET
    assert asset["bands"][0]["name"] == "b1"
    assert plots["properties"]["datetime"] == "2025-06-14T00:00:00.000000Z"
    # The footprint leaves out the nodata triangle: well under the bounding box.
    footprint = shape(plots["geometry"])
    assert footprint.area < 0.85 * box(*plots["bbox"]).area
    to_lonlat = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    inside = Point(to_lonlat.transform(4_030_000 + 20 * 1100, 2_960_000 - 20 * 700))
    outside = Point(to_lonlat.transform(4_030_000 + 20 * 50, 2_960_000 - 20 * 50))
    assert footprint.contains(inside) and not footprint.contains(outside)
    survey = item(data, "survey", "survey")
    assert list(survey["assets"]) == ["red", "green", "blue"]
    assert survey["properties"]["datetime"] == "2025-06-01T10:30:00.000000Z"
    assert {a["nodata"] for a in survey["assets"].values()} == {0}
    heights = item(data, "heights", "heights")["assets"]["height"]
    assert heights["bands"][0]["unit"] == "m" and heights["proj:code"] == "EPSG:4326"
    collection = json.loads((data / "stac/collections/plots/collection.json").read_text())
    assert collection["extent"]["temporal"]["interval"] == [[plots["properties"]["datetime"]] * 2]


# The extensions ingested items may name (each only where it uses one of its fields: their schemas
# require one). Their schemas are third-party files no package registry holds: read from
# GATEWAY_TEST_STAC_SCHEMAS (tests/fixtures/stac-schemas/SOURCES.md).
EXTENSIONS = {
    "eo": "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "projection": "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "raster": "https://stac-extensions.github.io/raster/v2.0.0/schema.json",
}
CORE_SCHEMA = "https://schemas.stacspec.org/v1.1.0/item-spec/json-schema/item.json"


def check_stac_schemas(document: dict) -> None:
    """``document`` (an ingested item) against the STAC 1.1 core item schema (pystac's own copy:
    offline), a broken geometry failing it; and against its extensions' schemas where
    ``GATEWAY_TEST_STAC_SCHEMAS`` names them (``check_extension_schemas``)."""
    assert validate_dict(document, extensions=[]) == [CORE_SCHEMA]
    with pytest.raises(STACValidationError):
        validate_dict({**document, "geometry": {"type": "Polygon"}}, extensions=[])
    named = document["stac_extensions"]
    assert named == [url for url in EXTENSIONS.values() if url in named]  # none other
    if SCHEMAS.folder() is not None:
        check_extension_schemas(document)


def _broken(document: dict, change) -> dict:
    """A copy of ``document`` with ``change`` applied to its first asset."""
    broken = copy.deepcopy(document)
    change(next(iter(broken["assets"].values())))
    return broken


# A value each extension's schema refuses and the core schema lets through.
WRONG_VALUES = {
    "eo": lambda asset: asset["bands"][0].update({"eo:common_name": "ultraviolet"}),
    "projection": lambda asset: asset.update({"proj:shape": [1]}),
    "raster": lambda asset: asset.update({"raster:scale": "twice"}),
}


def check_extension_schemas(document: dict) -> set[str]:
    """``document`` against the schemas of the extensions it names, offline (the test skips
    without ``GATEWAY_TEST_STAC_SCHEMAS``); a wrong value of each fails its schema where the
    core schema alone lets it through. The extensions checked."""
    validator = OfflineValidator()
    named = document["stac_extensions"]
    assert validate_dict(document, validator=validator) == [CORE_SCHEMA, *named]
    checked = {name for name, url in EXTENSIONS.items() if url in named}
    for extension in checked:
        broken = _broken(document, WRONG_VALUES[extension])
        assert validate_dict(broken, extensions=[]) == [CORE_SCHEMA]
        with pytest.raises(STACValidationError, match=extension):
            validate_dict(broken, validator=validator)
    return checked


def test_items_validate_against_the_stac_schemas(own):
    """The GeoTIFF items (the Zarr store's: tests/test_byod_zarr.py)."""
    data, _ = own
    for collection, item_id in GEOTIFF_ITEMS:
        check_stac_schemas(item(data, collection, item_id))


GEOTIFF_ITEMS = (("plots", "plots_20250614"), ("survey", "survey"), ("heights", "heights"))


def test_items_validate_against_their_extension_schemas(own):
    """The GeoTIFF items against the eo, projection and raster schemas (offline, from
    ``GATEWAY_TEST_STAC_SCHEMAS``: skips without; the Zarr store's: tests/test_byod_zarr.py):
    between them they name all three."""
    data, _ = own
    checked = set()
    for collection, item_id in GEOTIFF_ITEMS:
        checked |= check_extension_schemas(item(data, collection, item_id))
    assert checked == set(EXTENSIONS)


def test_an_item_names_the_extensions_it_uses_and_only_those(own):
    """Bands named by an eo common name carry it (eo); scale and offset only where the file has
    them (raster); the projection always. The collection names what its summaries use."""
    data, _ = own
    survey, heights = item(data, "survey", "survey"), item(data, "heights", "heights")
    assert [b["bands"][0].get("eo:common_name") for b in survey["assets"].values()] == [
        "red",
        "green",
        "blue",
    ]
    assert survey["stac_extensions"] == [EXTENSIONS["eo"], EXTENSIONS["projection"]]
    assert heights["stac_extensions"] == [EXTENSIONS["projection"]]
    assert "eo:common_name" not in heights["assets"]["height"]["bands"][0]
    collection = json.loads((data / "stac/collections/survey/collection.json").read_text())
    assert collection["stac_extensions"] == [EXTENSIONS["eo"]]  # its summaries' bands


# --- ingest: bad inputs, re-ingest, remove --------------------------------------------------------


def test_bad_inputs_are_reported_by_name_and_reason_and_change_nothing(
    sample_archive: Path, tmp_path: Path, monkeypatch
):
    data = data_dir_beside(sample_archive, tmp_path)
    inputs, outside = tmp_path / "inputs", tmp_path / "outside"
    inputs.mkdir()
    outside.mkdir()
    reasons = write_bad_inputs(inputs, outside)
    before = tree(data)
    for name, value in cli_env(data, inputs).items():
        monkeypatch.setenv(name, value)
    paths = [str(inputs / n) for n in reasons if n != "elsewhere.tif"]
    paths.append(str(outside / "elsewhere.tif"))
    result = CliRunner().invoke(app, ["ingest", *paths, "--collection", "mine"])
    assert result.exit_code == 1, result.output
    assert "0 ingested, 6 refused (mine)" in result.stdout
    for name, words in reasons.items():
        line = next(line for line in result.stderr.splitlines() if name in line)
        assert words in line, line
    assert tree(data) == before
    assert not (data / "byod").exists() or not any((data / "byod").rglob("*.tif"))


def test_a_copernicus_collection_or_a_bad_name_is_refused(own, tmp_path: Path):
    data, inputs = own
    before = tree(data)
    for collection in ("sentinel-2-l2a", "../escape", "has space"):
        report = None
        with pytest.raises(Exception, match=r"not one of your own|a letter, then"):
            report = ingest([inputs / PLOTS_NAME], options(data, inputs, collection))
        assert report is None
    assert tree(data) == before


def test_a_file_with_other_bands_than_the_collection_is_refused(own):
    data, inputs = own
    before = tree(data)
    report = ingest([inputs / "survey.tif"], options(data, inputs, "plots"))
    assert report.done == []
    assert report.failed == [
        (inputs / "survey.tif", "bands b1,b2,b3: the collection's items have b1 (see --bands)")
    ]
    assert tree(data) == before


def test_reingest_replaces_the_item_and_remove_takes_it_out(sample_archive, tmp_path: Path):
    data = data_dir_beside(sample_archive, tmp_path)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_plots(inputs / PLOTS_NAME, seed=1)
    opts = options(data, inputs, "again", datetime="2025-01-01")
    assert ingest([inputs / PLOTS_NAME], opts).done == ["plots_20250614"]
    write_plots(inputs / PLOTS_NAME, seed=7)
    assert ingest([inputs / PLOTS_NAME], opts).done == ["plots_20250614"]
    ndjson = data / "stac/collections/again/items.ndjson"
    assert len(ndjson.read_text().splitlines()) == 1
    with (
        rasterio.open(data / "byod/again/plots_20250614/b1.tif") as got,
        rasterio.open(inputs / PLOTS_NAME) as given,
    ):
        assert np.array_equal(got.read(1), given.read(1))
    result = CliRunner().invoke(
        app, ["ingest", str(inputs / PLOTS_NAME), "--collection", "again", "--remove"],
        env=cli_env(data, inputs),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 removed" in result.stdout
    assert ndjson.read_text() == ""
    assert not (data / "byod/again/plots_20250614").exists()
    again = CliRunner().invoke(
        app, ["ingest", str(inputs / PLOTS_NAME), "--collection", "again", "--remove"],
        env=cli_env(data, inputs),
    )  # fmt: skip
    assert again.exit_code == 1 and "no item plots_20250614" in again.stderr


def test_a_new_sample_archive_keeps_the_ingested_collections(own, tmp_path: Path):
    """``carry_over`` (the sample writer's, when it writes the sample again): the ingested
    collections move into the new catalog, the sample's own stay behind."""
    data, _ = own
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(data / "stac", old, symlinks=True)
    (new / "collections").mkdir(parents=True)
    assert carry_over(old, new) == ["heights", "plots", "survey"]
    assert sorted(p.name for p in (new / "collections").iterdir()) == ["heights", "plots", "survey"]
    links = json.loads((new / "catalog.json").read_text())["links"]
    assert {"./collections/plots/collection.json"} <= {link["href"] for link in links}


def test_the_static_catalog_finds_an_item_ingested_after_it_was_read(own, tmp_path: Path):
    """No restart: the same catalog object searches the new item (its items file changed)."""
    data, inputs = own
    catalog = StaticCatalog(data / "stac")
    query = SearchQuery(
        collection="later", bbox=(-180, -90, 180, 90),
        time=TimeRange(parse_datetime("2020-01-01T00:00:00Z"),
                       parse_datetime("2030-01-01T00:00:00Z")),
    )  # fmt: skip
    assert catalog.search(query) == []
    extra = inputs / "later.tif"
    write_survey(extra)
    assert ingest([extra], options(data, inputs, "later", datetime="2025-03-01")).failed == []
    assert [s.id for s in catalog.search(query)] == ["later"]
    assert ingest([extra], options(data, inputs, "later"), remove=True).done == ["later"]
    assert catalog.search(query) == []


# --- pixels through the doors -------------------------------------------------------------------


def test_wcs_native_grid_is_the_inputs_values_with_scale_offset_and_nodata(server, own):
    _, inputs = own
    path = inputs / PLOTS_NAME
    grid = native_grid(path, (100, 50, 400, 300))  # crosses the nodata triangle's edge
    got = wcs(server, "plots", grid)
    assert got.shape == (1, 300, 400)
    assert_same(got[0], nearest_reference(path, grid))


def test_wcs_multiband_in_lonlat(server, own):
    _, inputs = own
    path = inputs / "survey.tif"
    grid = lonlat_grid(path, 0.00004)
    got = wcs(server, "survey", grid)
    assert got.shape == (3, grid.height, grid.width)
    for band in range(3):
        assert_same(got[band], nearest_reference(path, grid, band + 1))


def test_ogcapi_coverage_equals_numpy(server, own):
    _, inputs = own
    path = inputs / PLOTS_NAME
    grid = lonlat_grid(path, 0.0002)
    assert_same(ogcapi_coverage(server, "PLOTS", grid), nearest_reference(path, grid))


def wms_tiff(url: str, layer: str, grid: Grid) -> np.ndarray:
    """WMS 1.3.0 GetMap of ``layer`` on an EPSG:3857 ``grid`` as a float GeoTIFF: its band."""
    answer = get(
        f"{url}/wms", SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS=layer,
        STYLES="", CRS="EPSG:3857", BBOX=",".join(repr(v) for v in grid.bounds),
        WIDTH=str(grid.width), HEIGHT=str(grid.height), FORMAT="image/tiff",
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    data, crs, _, _ = geotiff(answer.content)
    assert crs.to_epsg() == 3857
    return data[0]


def test_wms_float_map_in_3857_equals_numpy(server, own):
    _, inputs = own
    path = inputs / "heights.tif"
    bounds = (6.05, 49.8, 6.25, 49.95)
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    (x0, x1), (y0, y1) = to_merc.transform(bounds[::2], bounds[1::2])
    grid = Grid(CRS.from_epsg(3857), (x0, y0, x1, y1), 400, 300)
    assert_same(wms_tiff(server, "HEIGHTS", grid), nearest_reference(path, grid))


def test_capabilities_list_the_derived_layers(server):
    wms = get(f"{server}/wms", SERVICE="WMS", VERSION="1.3.0", REQUEST="GetCapabilities").text
    wmts = get(f"{server}/wmts", SERVICE="WMTS", REQUEST="GetCapabilities").text
    for name in ("PLOTS", "SURVEY", "HEIGHTS"):
        assert f"<Name>{name}</Name>" in wms
        assert f">{name}</ows:Identifier>" in wmts
    described = get(
        f"{server}/wcs", SERVICE="WCS", VERSION="2.0.1", REQUEST="DescribeCoverage",
        COVERAGEID="heights",
    ).text  # fmt: skip
    assert 'code="m"' in described


def assert_edge_tile(url: str, layer: str, path: Path) -> tuple[morecantile.Tile, list]:
    """The WebMercatorQuad tile of ``layer`` (``write_plots``' input ``path``) on the nodata
    triangle's edge is transparent exactly where the input has nodata; returns the tile and
    its reference."""
    to_lonlat = Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    lon, lat = to_lonlat.transform(4_030_000 + 20 * 300, 2_960_000 - 20 * 200)  # on the edge
    tile = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 16)
    answer = httpx.get(
        f"{url}/wmts/1.0.0/{layer}/WebMercatorQuad/default/{tile.z}/{tile.x}/{tile.y}.png",
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    picture = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGBA"))
    west, south, east, north = morecantile.tms.get("WebMercatorQuad").xy_bounds(tile)
    grid = Grid(CRS.from_epsg(3857), (west, south, east, north), 256, 256)
    reference = nearest_reference(path, grid)
    assert 0.05 < np.isnan(reference[0]).mean() < 0.95  # the tile crosses the triangle's edge
    clear = picture[..., 3] == 0
    assert np.logical_or.reduce([clear == np.isnan(r) for r in reference]).all()
    return tile, reference


def test_wmts_tile_values_and_transparency_follow_numpy(server, own):
    """A WebMercatorQuad tile finer than the input: transparent exactly where the input has
    nodata (or nothing); GetFeatureInfo values at pixels of it are the input's."""
    _, inputs = own
    tile, reference = assert_edge_tile(server, "PLOTS", inputs / PLOTS_NAME)
    assert_featureinfo(server, "PLOTS", tile, reference)


def assert_featureinfo(
    server: str, layer: str, tile: morecantile.Tile, reference: list[np.ndarray], **extra: str
) -> None:
    """WMTS GetFeatureInfo at pixels of ``tile``: the reference's values (none at NaN)."""
    expected = reference[0]
    for i, j in ((10, 20), (128, 128), (250, 240), (40, 200)):
        info = httpx.get(f"{server}/wmts", params={
            "SERVICE": "WMTS", "REQUEST": "GetFeatureInfo", "VERSION": "1.0.0",
            "LAYER": layer, "STYLE": "default", "FORMAT": "image/png",
            "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(tile.z),
            "TILECOL": str(tile.x), "TILEROW": str(tile.y), "I": str(i), "J": str(j),
            "INFOFORMAT": "application/json", **extra}, timeout=60)  # fmt: skip
        assert info.status_code == 200, info.text[:300]
        features = json.loads(info.text)["features"]
        if np.isnan(expected[j, i]):
            values = features[0]["properties"]["values"] if features else {}
            assert all(v is None for v in values.values()), values
            continue
        value = next(iter(features[0]["properties"]["values"].values()))
        assert any(value == pytest.approx(float(r[j, i]), abs=1e-4) for r in reference), (i, j)


def test_an_item_ingested_while_serving_is_served_without_a_restart(server, own):
    """A file ingested into a served collection: once the catalog summaries are listed again
    (``capabilities_ttl_s`` after the last listing, 1 s here, when a WMS/WMTS request comes),
    WCS serves its pixels."""
    data, inputs = own
    path = inputs / "plots_east_20250614.tif"
    write_plots(path, seed=5, east=60_000.0)
    opts = options(data, inputs, "plots", datetime_from_name=r"_(\d{8})")
    assert ingest([path], opts).done == ["plots_east_20250614"]
    grid = native_grid(path, (700, 500, 300, 200))
    deadline = time.monotonic() + 30
    while True:
        get(f"{server}/wms", SERVICE="WMS", VERSION="1.3.0", REQUEST="GetCapabilities")
        try:
            got = wcs(server, "plots", grid)
            assert_same(got[0], nearest_reference(path, grid))
            break
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_band_math_on_the_given_band_names_through_wms(server, own):
    """``EXPRESSION`` on a derived layer reads the bands by the names ``--bands`` gave."""
    _, inputs = own
    path = inputs / "survey.tif"
    grid = lonlat_grid(path, 0.00004)
    answer = get(
        f"{server}/wms", SERVICE="WMS", VERSION="1.3.0", REQUEST="GetMap", LAYERS="SURVEY",
        STYLES="", CRS="EPSG:4326", BBOX=",".join(repr(v) for v in (
            grid.bounds[1], grid.bounds[0], grid.bounds[3], grid.bounds[2])),
        WIDTH=str(grid.width), HEIGHT=str(grid.height), FORMAT="image/tiff",
        EXPRESSION="(red-blue)/(red+blue)",
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    data, _, _, _ = geotiff(answer.content)
    red, blue = nearest_reference(path, grid, 1), nearest_reference(path, grid, 3)
    reference = [(r - b) / (r + b) for r, b in zip(red, blue, strict=True)]
    assert_same(data[0], reference)


def test_a_collection_described_in_the_configuration_is_served_as_configured(own, tmp_path):
    """``survey`` described in a configuration file (bands with units, a band-math layer
    with its own style): that layer is served, no layer is derived for it."""
    data, inputs = own
    config = yaml.safe_load(default_config_file().read_text(encoding="utf-8"))
    folder = default_config_file().parent  # files named in it: relative to it
    config["styles_file"] = str(folder / config["styles_file"])
    for layer in config["layers"]:
        script = layer.get("evalscript", "//")
        if not script.lstrip().startswith("//"):
            layer["evalscript"] = str(folder / script)
    config["collections"].append(
        {"id": "survey", "title": "Field survey", "bands": ["red", "green", "blue"],
         "band_units": {"red": "W m-2 sr-1"}}
    )  # fmt: skip
    config["layers"].append(
        {"name": "SURVEY_INDEX", "title": "Red-blue index", "collection": "survey",
         "expression": "(red-blue)/(red+blue)", "style": "ndvi", "resampling": "nearest"}
    )  # fmt: skip
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    settings = Settings(
        data_dir=data, sample_data=False, redis_url=None, stac_url=None, storage="local",
        config_file=path,
    )  # fmt: skip
    runtime = build_runtime(settings)
    try:
        assert runtime.config.layer("SURVEY") is None  # not derived: configured
        assert runtime.config.layer("PLOTS") is not None  # still derived
        assert runtime.config.collection("survey").band_unit("red") == "W m-2 sr-1"
        source = inputs / "survey.tif"
        grid = lonlat_grid(source, 0.00004)
        request = build_request(
            runtime.config, bbox=grid.bounds, crs="EPSG:4326", width=grid.width,
            height=grid.height, layer="SURVEY_INDEX", format="tiff", times=runtime.times,
        )  # fmt: skip
        got, _, _, _ = geotiff(runtime.engine.render(request).content)
    finally:
        runtime.close()
    red, blue = nearest_reference(source, grid, 1), nearest_reference(source, grid, 3)
    assert_same(got[0], [(r - b) / (r + b) for r, b in zip(red, blue, strict=True)])


def test_cogs_to_s3_are_served_from_there_and_removed_from_there(
    sample_archive: Path, tmp_path: Path
):
    """``--s3``: the COGs go to ``GATEWAY_OUTPUT_S3_URL`` (moto here) through the exports'
    storage, the items point at ``s3://``, WCS reads them through ``/vsis3/``, ``--remove``
    deletes the objects."""
    from pydantic import SecretStr

    from tests.support.s3_server import ACCESS_KEY, REGION, SECRET_KEY, s3_client, start_s3

    server = start_s3(tmp_path / "no-eodata", tmp_path / "moto")
    try:
        client = s3_client(server.direct_url)
        client.create_bucket(Bucket="own-data")
        data = data_dir_beside(sample_archive, tmp_path)
        inputs = tmp_path / "inputs"
        inputs.mkdir()
        write_plots(inputs / PLOTS_NAME)
        env = {
            **cli_env(data, inputs), **server.env(),
            "GATEWAY_OUTPUT_S3_URL": "s3://own-data/cogs",
        }  # fmt: skip
        args = ["ingest", str(inputs / PLOTS_NAME), "--collection", "remote", "--s3"]
        result = CliRunner().invoke(app, args, env=env)
        assert result.exit_code == 0, result.output
        listed = client.list_objects_v2(Bucket="own-data")["Contents"]
        assert [o["Key"] for o in listed] == ["cogs/byod/remote/plots_20250614/b1.tif"]
        assert not (data / "byod").exists() or not any((data / "byod").rglob("*.tif"))
        href = item(data, "remote", "plots_20250614")["assets"]["b1"]["href"]
        assert href == "s3://own-data/cogs/byod/remote/plots_20250614/b1.tif"
        settings = Settings(
            data_dir=data, sample_data=False, redis_url=None, stac_url=None, storage="s3",
            s3_endpoint=server.endpoint, s3_https=False, s3_virtual_hosting=False,
            s3_access_key_id=ACCESS_KEY, s3_secret_access_key=SecretStr(SECRET_KEY),
            s3_region=REGION,
        )  # fmt: skip
        grid = native_grid(inputs / PLOTS_NAME, (100, 50, 400, 300))
        with live_gateway(settings) as url:
            assert_same(wcs(url, "remote", grid)[0], nearest_reference(inputs / PLOTS_NAME, grid))
        removed = CliRunner().invoke(app, [*args, "--remove"], env=env)
        assert removed.exit_code == 0, removed.output
        assert client.list_objects_v2(Bucket="own-data").get("KeyCount") == 0
    finally:
        server.stop()
