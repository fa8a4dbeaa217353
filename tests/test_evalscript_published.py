"""Published Sentinel Hub custom scripts (listed in tests/fixtures/evalscripts/SOURCES.md, read
from GATEWAY_TEST_CUSTOM_SCRIPTS: third-party code, not in this repository): each takes the
path it is expected to take (translated, or the JavaScript engine) and gives Node's pixels,
run pixel by pixel on the same arrays. The multi-temporal ones (ORBIT) are in
tests/test_evalscript_temporal.py."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.evalscript import compile_evalscript
from tests.support.evalscript_node import assert_matches_node, needs_node, sample_bands
from tests.support.published_scripts import manifest, published_script

# every script of the corpus and the engine that runs it (a translated script going to the
# JavaScript engine is a regression of the translator); ORBIT: test_evalscript_temporal.py
ENGINES = {
    "bare_soil_detector.js": "translated",  # a decision tree, built with new and this
    "false_color_urban.js": "translated",
    "moisture_eob.js": "translated",
    "ndsi.js": "translated",
    "ndsi_eob.js": "translated",
    "ndvi.js": "translated",
    "ndvi_eob.js": "translated",
    "ndwi.js": "translated",
    "ndwi_eob.js": "translated",
    "quickfire.js": "translated",
    "scene_classification.js": "translated",
    "true_color.js": "translated",
    "true_color_eob.js": "translated",
    "water_bodies.js": "translated",
}
TEMPORAL = {
    "burned_area.js": "translated",
    "cloudless_first_quartile.js": "javascript",  # sorts the samples
    "max_ndvi.js": "translated",
    "monthly_composite.js": "javascript",  # arrays pushed to for some pixels only, sorted
    "white_water.js": "translated",
}
HIGH = {"quickfire.js": 1.3}  # fire hot spots: B11 + B12 above 1 to 2

pytestmark = needs_node


def test_every_script_of_the_corpus_has_its_expected_engine() -> None:
    assert sorted(manifest()) == sorted({**ENGINES, **TEMPORAL})


@pytest.mark.parametrize("name", sorted(ENGINES))
def test_published_script_matches_node(name: str) -> None:
    script = published_script(name)
    compiled = compile_evalscript(script)
    assert compiled.engine == ENGINES[name], getattr(compiled.javascript, "reason", "")
    assert compiled.mosaicking == "SIMPLE"
    bands, valid = sample_bands(compiled.setup.bands, seed=len(name), high=HIGH.get(name, 0.6))
    if "SCL" in bands:  # scene classes 0..12 (12 is not a class: the default branch)
        rng = np.random.default_rng(1)
        bands["SCL"] = rng.integers(0, 13, valid.shape).astype(np.float32)
    assert_matches_node(script, bands, valid)


def test_published_sources_are_sentinel_hubs_at_a_commit() -> None:
    for url, _ in manifest().values():
        assert url.startswith("https://github.com/sentinel-hub/custom-scripts/blob/")
        assert len(url.split("/")[6]) == 40, url  # a commit, not a branch
