"""``evalscript`` on OGC API Maps, Tiles and Coverages (a query parameter) and on the processes
band-math, statistics and export (an input): decoded answers equal the script run pixel by
pixel in Node on the engine's mosaic of the same grid (the grid read back from the answer)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.transform import array_bounds

from tests.support.evalscript_node import needs_node
from tests.support.ows_live import live_gateway
from tests.support.process_checks import UTM_BOX, execute
from tests.test_evalscript_doors import CLEAR_DAY, RAMP, VALUES, b64, node_on_grid

OGCAPI = "gateway.ogcapi.door:build_door"
BBOX = (5.94, 52.58, 5.99, 52.62)  # inside T31UFU (as tests/test_ogcapi.py)
Z, X, Y = 12, 2116, 1341


@pytest.fixture(scope="module")
def gateway(sample_settings, tmp_path_factory) -> Iterator[str]:
    settings = sample_settings.model_copy(
        update={"dask_scheduler": None, "redis_url": None,
                "output_dir": tmp_path_factory.mktemp("evalscript-outputs")}
    )  # fmt: skip
    with live_gateway(settings, doors=(OGCAPI,)) as url:
        yield url


def picture(content: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(content)).convert("RGBA"))


def node_picture(runtime, **grid) -> np.ndarray:
    outputs, _ = node_on_grid(runtime, RAMP, ("B04", "B08"), **grid)
    return np.moveaxis(outputs["default"].astype(np.uint8), 0, -1)


@needs_node
def test_map_is_the_script_picture(gateway, runtime):
    answer = httpx.get(
        f"{gateway}/ogcapi/collections/NDVI/map",
        params={"f": "png", "bbox": ",".join(map(str, BBOX)), "width": 160, "height": 128,
                "datetime": CLEAR_DAY, "evalscript": b64(RAMP)},
        timeout=120,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text[:300]
    expected = node_picture(runtime, bbox=BBOX, crs="CRS:84", size=(160, 128))
    assert (picture(answer.content) == expected).all()


@needs_node
def test_tile_is_the_script_picture_and_not_the_layer(gateway, runtime):
    path = f"{gateway}/ogcapi/collections/NDVI/tiles/WebMercatorQuad/{Z}/{Y}/{X}"
    scripted = httpx.get(
        path, params={"f": "png", "datetime": CLEAR_DAY, "evalscript": RAMP}, timeout=120
    )
    layer = httpx.get(path, params={"f": "png", "datetime": CLEAR_DAY}, timeout=120)
    assert scripted.status_code == 200, scripted.text[:300]
    bounds = tuple(morecantile.tms.get("WebMercatorQuad").xy_bounds(X, Y, Z))
    expected = node_picture(runtime, bbox=bounds, crs="EPSG:3857", size=(256, 256))
    assert (picture(scripted.content) == expected).all()
    assert layer.content != scripted.content


@needs_node
@pytest.mark.parametrize("f", ["GTiff", "json"])
def test_coverage_is_every_output(gateway, runtime, f):
    params = {
        "f": f,
        "bbox": "5.95,52.60,5.96,52.608",
        "datetime": CLEAR_DAY,
        "evalscript": b64(VALUES),
        "scale-size": "x(40),y(30)",
        "resampling": "nearest",
    }
    answer = httpx.get(f"{gateway}/ogcapi/collections/NDVI/coverage", params=params, timeout=120)
    assert answer.status_code == 200, answer.text[:300]
    if f == "json":
        document = answer.json()
        assert list(document["ranges"]) == ["default_b1", "default_b2", "mask_b1"]
        axes = document["domain"]["axes"]
        width, height = axes["x"]["num"], axes["y"]["num"]
        data = np.array(
            [np.array(r["values"], dtype=float).reshape(height, width)
             for r in document["ranges"].values()]
        )  # fmt: skip
        bounds = _json_bounds(axes)
    else:
        with rasterio.MemoryFile(answer.content) as memory, memory.open() as src:
            data, width, height = src.read(), src.width, src.height
            bounds = array_bounds(height, width, src.transform)
            bounds = (bounds[0], bounds[1], bounds[2], bounds[3])
            assert src.descriptions == ("default_b1", "default_b2", "mask_b1")
    outputs, valid = node_on_grid(
        runtime, VALUES, ("B04", "B08"), bbox=bounds, crs="EPSG:4326", size=(width, height),
        resampling="nearest",
    )  # fmt: skip
    assert valid.mean() > 0.9
    np.testing.assert_allclose(data[:2][:, valid], outputs["default"][:, valid], rtol=1e-6)
    assert (data[2][valid] == outputs["mask"][0][valid]).all()


def _json_bounds(axes: dict) -> tuple[float, float, float, float]:
    """A CoverageJSON regular grid's outer bounds (its axes list pixel centres)."""
    x, y = axes["x"], axes["y"]
    dx = (x["stop"] - x["start"]) / (x["num"] - 1)
    dy = (y["stop"] - y["start"]) / (y["num"] - 1)
    west, east = sorted((x["start"], x["stop"]))
    south, north = sorted((y["start"], y["stop"]))
    return west - abs(dx) / 2, south - abs(dy) / 2, east + abs(dx) / 2, north + abs(dy) / 2


PROCESS = {"bbox": list(UTM_BOX), "crs": "EPSG:32631", "time": CLEAR_DAY,
           "resampling": "nearest", "resolution": 20}  # fmt: skip


@needs_node
@pytest.mark.parametrize("process", ["band-math", "export"])
def test_band_math_and_export_cogs_are_every_output(gateway, runtime, process):
    answer = execute(gateway, process, {**PROCESS, "evalscript": VALUES})
    assert answer.status_code == 200, answer.text[:300]
    content = answer.content
    if process == "export":
        content = httpx.get(answer.json()["href"], timeout=60).content
    with rasterio.MemoryFile(content) as memory, memory.open() as src:
        data, names = src.read(), src.descriptions
        assert (src.width, src.height) == (150, 150)
    assert names == ("default_b1", "default_b2", "mask_b1")
    outputs, valid = node_on_grid(
        runtime, VALUES, ("B04", "B08"), bbox=UTM_BOX, crs="EPSG:32631", size=(150, 150),
        resampling="nearest",
    )  # fmt: skip
    assert valid.mean() > 0.9
    np.testing.assert_allclose(data[:2][:, valid], outputs["default"][:, valid], rtol=1e-6)
    assert (data[2][valid] == outputs["mask"][0][valid]).all()


@needs_node
def test_statistics_of_a_script(gateway, runtime):
    inputs = {**PROCESS, "evalscript": b64(VALUES), "aggregation_interval": "P1D"}
    answer = execute(gateway, "statistics", inputs)
    assert answer.status_code == 200, answer.text[:300]
    (row,) = answer.json()["data"]
    outputs, valid = node_on_grid(
        runtime, VALUES, ("B04", "B08"), bbox=UTM_BOX, crs="EPSG:32631", size=(150, 150),
        resampling="nearest",
    )  # fmt: skip
    assert row["validCount"] == int(valid.sum())
    for name, band in (("default_b1", outputs["default"][0]), ("mask_b1", outputs["mask"][0])):
        stats = row["outputs"][name]["stats"]
        assert stats["mean"] == pytest.approx(float(band[valid].astype(np.float64).mean()), 1e-5)
        assert stats["max"] == pytest.approx(float(band[valid].max()), 1e-6)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"evalscript": "//VERSION=3\nfunction setup() {"}, "(line 2, column 19)"),
        ({"evalscript": "not base64!"}, "base64"),
        ({"evalscript": VALUES, "expression": "B04"}, "an expression or an evalscript"),
        ({"evalscript": VALUES, "cloud_mask": True}, "cloud_mask does not apply"),
        ({"evalscript": VALUES, "format": "png"}, "cog or json"),
        ({"evalscript": 12}, "evalscript"),
    ],
)
def test_bad_evalscript_inputs_are_400(gateway, inputs, message):
    """Problem details naming the fault (the script's line and column), never a 500."""
    answer = execute(gateway, "band-math", {**PROCESS, **inputs})
    assert answer.status_code == 400, answer.text[:300]
    assert message in answer.json()["description"]


def test_a_script_layer_named_as_the_expression_runs_its_script(gateway):
    """``expression: NDVI_RAMP`` (a layer defined by an evalscript): its four AUTO bands."""
    answer = execute(gateway, "band-math", {**PROCESS, "expression": "NDVI_RAMP", "format": "json"})
    assert answer.status_code == 200, answer.text[:300]
    outputs = answer.json()["outputs"]
    assert list(outputs) == ["b1", "b2", "b3", "b4"]
    assert all(0 <= o["min"] <= o["max"] <= 255 for o in outputs.values())
    assert outputs["b4"]["min"] == outputs["b4"]["max"] == 255  # dataMask of valid pixels
