"""Multi-temporal evalscripts (mosaicking ORBIT and TILE): evaluatePixel gets a list of samples
per pixel, one per acquisition, most recent first. The translation over a stack of scenes
equals Node's run of the same script on the same per-scene arrays, and an independent numpy
computation."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gateway.evalscript import compile_evalscript
from tests.support.evalscript_node import assert_matches_node, needs_node
from tests.support.published_scripts import published_script
from tests.test_evalscript_published import TEMPORAL

pytestmark = needs_node

MAX_NDVI = """//VERSION=3
function setup() {
  return {
    input: [{ bands: ["B04", "B08", "dataMask"] }],
    output: { bands: 1, sampleType: "FLOAT32" },
    mosaicking: "ORBIT"
  };
}
function evaluatePixel(samples) {
  let max = -1;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i];
    if (s.dataMask === 0) continue;
    const ndvi = (s.B08 - s.B04) / (s.B08 + s.B04);
    if (ndvi > max) max = ndvi;
  }
  return [max];
}
"""

# the most recent sample that has data and is not cloud, shadow or snow (SCL), else nothing
FIRST_CLEAR = """//VERSION=3
function setup() {
  return {
    input: ["B02", "B03", "B04", "SCL", "dataMask"],
    output: { bands: 4 },
    mosaicking: "TILE"
  };
}
function clear(s) {
  return s.dataMask === 1 && ![3, 8, 9, 10, 11].includes(s.SCL);
}
function evaluatePixel(samples) {
  for (const s of samples) {
    if (clear(s)) return [2.5 * s.B04, 2.5 * s.B03, 2.5 * s.B02, 1];
  }
  return [0, 0, 0, 0];
}
"""

MEAN_REDUCE = """//VERSION=3
function setup() {
  return {
    input: ["B04", "dataMask"],
    output: { bands: 2, sampleType: "FLOAT32" },
    mosaicking: "ORBIT"
  };
}
function evaluatePixel(samples) {
  const n = samples.reduce((c, s) => c + s.dataMask, 0);
  const sum = samples.reduce((a, s) => a + s.B04 * s.dataMask, 0);
  return [n > 0 ? sum / n : NaN, n];
}
"""

SCL_CLASSES = np.array([0, 3, 4, 5, 8, 9, 10, 11], dtype=np.float32) / 10000  # as reflectance


def stack(names: tuple[str, ...], scenes: int, seed: int = 1) -> tuple[dict, np.ndarray]:
    """(scenes, h, w) float32 reflectances, SCL as classes (÷10000, as the reader gives DN
    bands), about a third of each scene without data."""
    rng = np.random.default_rng(seed)
    shape = (scenes, 20, 20)
    bands = {n: rng.uniform(0.01, 0.6, shape).astype(np.float32) for n in names if n != "SCL"}
    if "SCL" in names:
        bands["SCL"] = rng.choice(SCL_CLASSES, shape)
    return bands, rng.random(shape) > 0.35


@pytest.mark.parametrize("scenes", [1, 3, 6])
def test_maximum_ndvi_equals_node_and_numpy(scenes: int) -> None:
    bands, valid = stack(("B04", "B08"), scenes)
    got = assert_matches_node(MAX_NDVI, bands, valid)["default"][0]
    b4, b8 = (bands[b].astype(np.float64) for b in ("B04", "B08"))
    ndvi = np.where(valid, (b8 - b4) / (b8 + b4), -np.inf).max(axis=0)
    np.testing.assert_allclose(got, np.where(np.isinf(ndvi), -1, ndvi), rtol=2e-7)


def test_first_clear_sample_equals_node_and_numpy() -> None:
    bands, valid = stack(("B02", "B03", "B04", "SCL"), 5)
    script = FIRST_CLEAR.replace("s.SCL", "Math.round(s.SCL * 10000)")
    got = assert_matches_node(script, bands, valid)["default"]
    classes = np.rint(bands["SCL"] * 10000)
    clear = valid & ~np.isin(classes, [3, 8, 9, 10, 11])
    first = clear.argmax(axis=0)
    any_clear = clear.any(axis=0)
    red = np.take_along_axis(bands["B04"].astype(np.float64), first[None], 0)[0]
    want_red = np.where(any_clear, np.floor(np.clip(2.5 * red, 0, 1) * 255 + 0.5), 0)
    np.testing.assert_array_equal(got[0], want_red)
    np.testing.assert_array_equal(got[3], np.where(any_clear, 255, 0))


def test_reduce_over_samples_equals_node() -> None:
    bands, valid = stack(("B04",), 4)
    got = assert_matches_node(MEAN_REDUCE, bands, valid)["default"]
    np.testing.assert_array_equal(got[1], valid.sum(axis=0))


def test_no_acquisition_gives_the_scripts_empty_answer() -> None:
    bands, valid = stack(("B04", "B08"), 0)
    raster = compile_evalscript(MAX_NDVI).evaluate(bands, valid)["default"]
    assert raster.data.shape == (1, 20, 20) and (raster.data == -1).all()
    assert not raster.mask.any()


def test_setup_reports_the_mosaicking() -> None:
    assert compile_evalscript(MAX_NDVI).mosaicking == "ORBIT"
    assert compile_evalscript(FIRST_CLEAR).mosaicking == "TILE"


@pytest.mark.parametrize("name", sorted(TEMPORAL))
def test_published_multitemporal_script_equals_node(name: str) -> None:
    """Published ORBIT scripts (GATEWAY_TEST_CUSTOM_SCRIPTS): on the engine they are expected
    to take, over four acquisitions, equal to Node."""
    text = published_script(name)
    script = compile_evalscript(text)
    assert script.engine == TEMPORAL[name], getattr(script.javascript, "reason", "")
    assert script.mosaicking == "ORBIT"
    bands, valid = stack(script.bands, 4, seed=len(name))
    if "B10" in bands:  # cirrus: white water is where B10 < 0.015
        bands["B10"] *= np.float32(0.04)
    if "SCL" in bands:  # its classes, as the reader gives them
        bands["SCL"] = np.rint(bands["SCL"] * 10000)
    assert_matches_node(text, bands, valid, classes=("SCL",))


def _orbits(*days: str) -> list[dict]:
    return [{"dateFrom": f"{d}T00:00:00Z", "dateTo": f"{d}T23:59:59Z", "tiles": []} for d in days]


def test_published_pre_process_scenes_keep_their_acquisitions() -> None:
    """burned_area.js keeps the two dates around the Knysna fires; max_ndvi.js the last three
    months (31-day) before the end of the request's period."""
    burned = compile_evalscript(published_script("burned_area.js"))
    days = _orbits("2017-07-01", "2017-06-24", "2017-06-01", "2017-05-15", "2017-05-01")
    assert burned.kept_scenes(days, None, None) == [1, 3]
    max_ndvi = compile_evalscript(published_script("max_ndvi.js"))
    end = datetime(2024, 7, 1, tzinfo=UTC)
    days = _orbits("2024-06-30", "2024-04-01", "2024-03-29", "2024-01-01")
    assert max_ndvi.kept_scenes(days, None, end) == [0, 1]
