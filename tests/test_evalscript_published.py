"""Published Sentinel Hub custom scripts (tests/fixtures/evalscripts, sources in SOURCES.md):
the translation gives Node's pixels, run pixel by pixel on the same arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gateway.evalscript import compile_evalscript
from tests.support.evalscript_node import assert_matches_node, needs_node, sample_bands

FIXTURES = Path(__file__).parent / "fixtures" / "evalscripts"
SCRIPTS = sorted(p.name for p in FIXTURES.glob("*.js"))

pytestmark = needs_node


@pytest.mark.parametrize("name", SCRIPTS)
def test_published_script_matches_node(name: str) -> None:
    script = (FIXTURES / name).read_text()
    setup = compile_evalscript(script).setup
    bands, valid = sample_bands(setup.bands, seed=len(name))
    if "SCL" in bands:  # scene classes 0..12 (12 is not a class: the default branch)
        rng = np.random.default_rng(1)
        bands["SCL"] = rng.integers(0, 13, valid.shape).astype(np.float32)
    assert_matches_node(script, bands, valid)


def test_published_sources_are_listed() -> None:
    listed = (FIXTURES / "SOURCES.md").read_text()
    for name in SCRIPTS:
        assert f"| {name} | https://github.com/sentinel-hub/custom-scripts/" in listed
