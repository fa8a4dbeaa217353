"""Sentinel-1 GRD through the doors of a live gateway, with real clients: OWSLib's WMS
GetMap, GDAL's WCS driver, OGC API Coverages, ogrinfo on the WFS. Decoded pixels are
compared with the independent numpy reference (tests/support/s1_reference.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import rasterio
from owslib.wms import WebMapService
from PIL import Image
from rasterio.io import MemoryFile

from gateway.app import DOORS
from tests.support import s1_reference as ref
from tests.support.mapproxy_live import LiveServer, live_server
from tests.support.ogr import feature_count
from tests.test_sentinel1 import files, utm_grid_lonlat

S1 = "sentinel-1-grd"
# 2 x 3 km of the lake and the forest on UTM 31N's 10 m grid (a read of the full resolution).
BOUNDS = (707000.0, 5834000.0, 709000.0, 5837000.0)
SIZE = (200, 300)


@pytest.fixture(scope="module")
def live(sample_settings) -> Iterator[LiveServer]:
    with live_server(sample_settings, DOORS) as server:
        yield server


@pytest.fixture(scope="module")
def items(sample_archive: Path) -> list[dict]:
    path = sample_archive / "stac" / "collections" / S1 / "items.ndjson"
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def descending(items) -> dict:
    return next(i for i in items if i["properties"]["sat:orbit_state"] == "descending")


def reference(sample_archive: Path, item: dict, pol: str, lon, lat) -> np.ndarray:
    """Sigma0 (linear, noise removed) of ``item`` at lon/lat points."""
    measurement, calibration, noise = files(sample_archive, item, pol)
    full = ref.calibrated(measurement, calibration, noise)
    return ref.sample_at(full, ref.gcp_affine(measurement), lon, lat)


def test_wms_getmap_draws_the_decibels(live, sample_archive, items, descending):
    wms = WebMapService(f"{live.url}/wms", version="1.3.0", timeout=60)
    assert {"VV", "VH", "VV_VH_RATIO", "SAR_FALSE_COLOR"} <= set(wms.contents)
    pictures = {}
    for state in ("ASCENDING", "DESCENDING"):
        answer = wms.getmap(
            layers=["VV"], styles=[""], srs="EPSG:32631", bbox=BOUNDS, size=SIZE,
            format="image/png", transparent=True, time="2025-06-01/2025-06-30",
            ORBITDIRECTION=state,
        )  # fmt: skip
        pictures[state] = np.asarray(Image.open(io.BytesIO(answer.read())).convert("RGBA"))
    lon, lat = utm_grid_lonlat(BOUNDS, *SIZE)
    db = 10 * np.log10(reference(sample_archive, descending, "vv", lon, lat))
    expected = np.clip((db + 25) / 25, 0, 1) * 255
    got = pictures["DESCENDING"]
    shown = got[..., 3] > 0
    assert shown.mean() > 0.99 and (shown == np.isfinite(db)).mean() > 0.999
    both = shown & np.isfinite(db)
    assert np.percentile(np.abs(got[..., 0][both] - expected[both]), 99) <= 1.5
    assert not np.array_equal(pictures["ASCENDING"], got)  # the other pass: other speckle


def test_wmts_tiles_follow_the_orbit_direction(live):
    tile = "/wmts/1.0.0/VV/WebMercatorQuad/2025-06-01--2025-06-30/14/8468/5364.png"
    answers = {
        state: httpx.get(f"{live.url}{tile}", params={"ORBITDIRECTION": state}, timeout=60)
        for state in ("ASCENDING", "DESCENDING", "")
    }
    assert all(a.status_code == 200 for a in answers.values()), answers
    pictures = {k: np.asarray(Image.open(io.BytesIO(a.content))) for k, a in answers.items()}
    assert not np.array_equal(pictures["ASCENDING"], pictures["DESCENDING"])
    # no direction: the newest scene first, an ascending one
    assert np.array_equal(pictures[""], pictures["ASCENDING"])
    bad = httpx.get(f"{live.url}{tile}", params={"ORBITDIRECTION": "UP"}, timeout=60)
    assert bad.status_code == 400 and "orbitdirection" in bad.text.lower()


def test_gdal_wcs_reads_the_decibels(live, sample_archive, descending, tmp_path):
    url = f"WCS:{live.url}/wcs?version=2.0.1&coverage={S1}__VV"
    with rasterio.open(
        url, CACHE=str(tmp_path), GetCoverageExtra="&ORBITDIRECTION=DESCENDING"
    ) as ds:
        assert ds.crs.to_epsg() == 4326 and ds.count == 1
        window = ds.window(6.06, 52.63, 6.09, 52.65)
        window = window.round_offsets().round_lengths()
        got = ds.read(1, window=window)
        transform = ds.window_transform(window)
    rows, cols = np.mgrid[0 : got.shape[0], 0 : got.shape[1]] + 0.5
    lon = transform.c + cols * transform.a
    lat = transform.f + rows * transform.e
    expected = 10 * np.log10(reference(sample_archive, descending, "vv", lon, lat))
    both = np.isfinite(got) & np.isfinite(expected)
    assert both.mean() > 0.99
    assert np.percentile(np.abs(got[both] - expected[both]), 99) < 0.01


def test_ogcapi_coverage_holds_the_linear_backscatter(live, sample_archive, descending):
    area = (6.06, 52.63, 6.09, 52.65)
    answer = httpx.get(
        f"{live.url}/ogcapi/collections/{S1}/coverage",
        params={
            "f": "GTiff", "bbox": ",".join(map(str, area)), "width": "300", "height": "200",
            "datetime": descending["properties"]["datetime"][:10],
            "orbitdirection": "descending", "backcoeff": "sigma0_ellipsoid",
        },
        timeout=60,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    with MemoryFile(answer.content) as mem, mem.open() as ds:
        data = ds.read()
        transform = ds.transform
    assert data.shape == (2, 200, 300)
    rows, cols = np.mgrid[0:200, 0:300] + 0.5
    lon = transform.c + cols * transform.a
    lat = transform.f + rows * transform.e
    for index, pol in enumerate(("vv", "vh")):
        expected = reference(sample_archive, descending, pol, lon, lat)
        both = np.isfinite(data[index]) & np.isfinite(expected)
        assert both.mean() > 0.99
        rel = np.abs(data[index][both] - expected[both]) / expected[both]
        assert np.percentile(rel, 99) < 1e-3


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/wms", {"SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "VV",
                  "STYLES": "", "CRS": "EPSG:32631", "BBOX": "707000,5834000,707100,5834100",
                  "WIDTH": "10", "HEIGHT": "10", "FORMAT": "image/png",
                  "ORBITDIRECTION": "NORTHWARDS"}, "orbitdirection"),
        ("/wcs", {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage",
                  "COVERAGEID": f"{S1}__VV", "SUBSET": "Long(6.06,6.061)",
                  "BACKCOEFF": "GAMMA0_TERRAIN"}, "backcoeff"),
        (f"/ogcapi/collections/{S1}/coverage",
         {"f": "GTiff", "bbox": "6.06,52.63,6.07,52.64", "noiseremoval": "perhaps"},
         "noiseremoval"),
    ],
)  # fmt: skip
def test_bad_vendor_parameters_get_the_door_s_error(live, path, params, parameter):
    answer = httpx.get(f"{live.url}{path}", params=params, timeout=60)
    assert answer.status_code == 400
    assert parameter in answer.text.lower()
    if path.startswith("/ogcapi"):
        assert answer.headers["content-type"].startswith("application/")
        assert parameter in json.dumps(answer.json()).lower()
    else:
        assert "Exception" in answer.text


def test_band_math_process_reads_the_orbit_asked(live, sample_archive, descending):
    inputs = {
        "expression": "VV", "collection": S1, "bbox": list(BOUNDS), "crs": "EPSG:32631",
        "resolution": 10, "time": "2025-06-01/2025-06-30",
        "resampling": "bilinear", "format": "cog", "orbit_direction": "DESCENDING",
        "back_coeff": "SIGMA0_ELLIPSOID", "noise_removal": True,
    }  # fmt: skip
    answer = httpx.post(
        f"{live.url}/ogcapi/processes/band-math/execution", json={"inputs": inputs}, timeout=120
    )
    assert answer.status_code == 200, answer.text[:300]
    with MemoryFile(answer.content) as mem, mem.open() as ds:
        got = ds.read(1)
        assert tuple(ds.bounds) == BOUNDS and got.shape == SIZE[::-1]
    # "VV" names the layer (decibels) where a process takes an index name
    linear = reference(sample_archive, descending, "vv", *utm_grid_lonlat(BOUNDS, *SIZE))
    expected = 10 * np.log10(linear)
    both = np.isfinite(got) & np.isfinite(expected)
    assert both.mean() > 0.99
    assert np.percentile(np.abs(got[both] - expected[both]), 99) < 0.01
    refused = httpx.post(
        f"{live.url}/ogcapi/processes/band-math/execution",
        json={"inputs": {**inputs, "orbit_direction": "NORTH"}},
        timeout=60,
    )
    assert refused.status_code == 400 and "orbit_direction" in refused.text


def test_ogrinfo_lists_the_scenes_by_orbit(live, items):
    def count(*args: str) -> int:
        return feature_count(f"WFS:{live.url}/wfs", f"cdse:{S1}", *args)

    assert count() == len(items) == 3
    assert count("-where", "orbit_state = 'descending'") == 1
    assert count("-where", "orbit_state = 'ascending'") == 2


def _cli(sample_archive: Path, *args: str):
    from typer.testing import CliRunner

    from gateway.cli import app

    env = {"GATEWAY_DATA_DIR": str(sample_archive), "GATEWAY_SAMPLE_DATA": "false",
           "GATEWAY_STAC_URL": "", "GATEWAY_REDIS_URL": ""}  # fmt: skip
    return CliRunner().invoke(app, list(args), env=env)


def test_cli_render_takes_the_s1_options(sample_archive, descending, tmp_path):
    """``cdse-gateway render --orbit-direction --back-coeff --noise-removal``: the float
    GeoTIFF of the VV layer is the descending scene's sigma0 in dB, as numpy reads it."""
    common = [
        "render", "--layer", "VV", "--bbox", ",".join(map(str, BOUNDS)), "--crs", "EPSG:32631",
        "--size", f"{SIZE[0]}x{SIZE[1]}", "--time", "2025-06-01/2025-06-30",
    ]  # fmt: skip
    out, other = tmp_path / "vv.tif", tmp_path / "ascending.tif"
    options = ["--back-coeff", "SIGMA0_ELLIPSOID", "--noise-removal", "true"]
    result = _cli(
        sample_archive, *common, *options, "--orbit-direction", "DESCENDING", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    with rasterio.open(out) as src:
        got = src.read(1)
        assert tuple(src.bounds) == BOUNDS
    expected = 10 * np.log10(
        reference(sample_archive, descending, "vv", *utm_grid_lonlat(BOUNDS, *SIZE))
    )
    both = np.isfinite(got) & np.isfinite(expected)
    assert both.mean() > 0.99
    assert np.percentile(np.abs(got[both] - expected[both]), 99) < 0.01
    result = _cli(sample_archive, *common, "--orbit-direction", "ascending", "-o", str(other))
    assert result.exit_code == 0, result.output
    with rasterio.open(other) as src:
        assert not np.allclose(src.read(1), got, equal_nan=True)  # the other pass
    gamma = _cli(sample_archive, *common, "--orbit-direction", "DESCENDING",
                 "--back-coeff", "GAMMA0_ELLIPSOID", "-o", str(other))  # fmt: skip
    assert gamma.exit_code == 0, gamma.output
    with rasterio.open(other) as src:
        assert not np.allclose(src.read(1), got, equal_nan=True)  # gamma0 is not sigma0


@pytest.mark.parametrize(
    ("option", "value"),
    [("--orbit-direction", "NORTH"), ("--back-coeff", "GAMMA0_TERRAIN"),
     ("--noise-removal", "perhaps")],
)  # fmt: skip
@pytest.mark.parametrize("command", ["render", "seed"])
def test_cli_refuses_bad_s1_options(sample_archive, tmp_path, command, option, value):
    if command == "render":
        args = ["render", "--layer", "VV", "--bbox", "6.06,52.63,6.07,52.64",
                "-o", str(tmp_path / "x.png")]  # fmt: skip
    else:
        args = ["seed", "--layer", "VV", "--bbox", "6.06,52.63,6.07,52.64", "--zoom", "12"]
    result = _cli(sample_archive, *args, option, value)
    assert result.exit_code == 2, result.output
    assert option.strip("-").replace("-", "") in result.output.lower()
    assert "Traceback" not in result.output


def test_cli_seed_takes_the_s1_options(sample_archive):
    args = ["seed", "--layer", "VV", "--bbox", "6.06,52.63,6.07,52.64", "--zoom", "12",
            "--time", "2025-06-01/2025-06-30", "--orbit-direction", "DESCENDING",
            "--back-coeff", "GAMMA0_ELLIPSOID", "--noise-removal", "false"]  # fmt: skip
    result = _cli(sample_archive, *args)
    assert result.exit_code == 0, result.output
    import morecantile

    count = len(list(morecantile.tms.get("WebMercatorQuad").tiles(6.06, 52.63, 6.07, 52.64, [12])))
    assert f"{count} tiles: {count} rendered" in result.output
