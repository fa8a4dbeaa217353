"""Run evalscripts pixel by pixel in Node (tests/support/evalscript_reference.js) and compare
the translator's outputs with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from gateway.evalscript import compile_evalscript

HARNESS = Path(__file__).with_name("evalscript_reference.js")
NODE = shutil.which("node")

# scripts/setup-tests.sh installs Node; under CI a missing Node fails the tests, never skips them.
needs_node = pytest.mark.skipif(
    NODE is None and os.environ.get("CI") != "true", reason="Node is not installed"
)


def sample_bands(
    names: Sequence[str], shape: tuple[int, int] = (24, 24), seed: int = 0, high: float = 0.6
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """float32 reflectances in [0, high) with a few exact zeros, equal pairs and invalid pixels."""
    rng = np.random.default_rng(seed)
    bands = {n: rng.uniform(0, high, shape).astype(np.float32) for n in names}
    flat = [b.reshape(-1) for b in bands.values()]
    for b in flat:
        b[:5] = 0.0  # zero sums
        b[5:9] = np.float32(0.25)  # equal values, values on thresholds
    valid = rng.random(shape) > 0.08
    return bands, valid


def node_reference(
    script: str,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray,
    dn_factor: float = 10000.0,
    scenes: Mapping[str, object] | None = None,
    raw_dn: Mapping[str, np.ndarray] | None = None,
    classes: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Each output (bands, h, w) as Node computes it, pixel by pixel. ``bands`` and ``valid``
    of shape (scenes, h, w) are the acquisitions of an ORBIT/TILE script (a list of samples
    per pixel, most recent first); ``scenes``: evaluatePixel's argument of that name;
    ``raw_dn``: what the source files' DN add (harmonizeValues false), SIMPLE only;
    ``classes``: the bands read as classes (SCL), whose DN are their values."""
    assert NODE is not None

    def arrays(bands: Mapping[str, np.ndarray], valid: np.ndarray) -> dict[str, object]:
        # invalid pixels' values (NaN where a scene has no data) are never read: 0 in JSON
        return {
            "bands": {
                k: [float(x) for x in np.where(valid, v, 0).reshape(-1)] for k, v in bands.items()
            },
            "valid": [int(x) for x in valid.reshape(-1)],
        }

    request: dict[str, object] = {"script": script, "dnFactor": dn_factor, "classes": [*classes]}
    if valid.ndim == 3:
        per_scene = [
            arrays({b: v[k] for b, v in bands.items()}, valid[k]) for k in range(len(valid))
        ]
        request.update(scenes=per_scene, pixels=int(np.prod(valid.shape[1:])))
        if scenes is not None:
            request["sceneInfo"] = scenes
        valid = valid[0] if len(valid) else np.zeros(valid.shape[1:], bool)
    else:
        request.update(arrays(bands, valid))
        if raw_dn is not None:
            request["rawDn"] = {k: [float(x) for x in v.reshape(-1)] for k, v in raw_dn.items()}
    done = subprocess.run(
        [NODE, str(HARNESS)], input=json.dumps(request), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads(done.stdout)
    types = {o["id"]: o["sampleType"] for o in answer["setup"]}
    outputs = {}
    for id_, values in answer["outputs"].items():
        data = np.array([[float(x) for x in band] for band in values], dtype=np.float64)
        data = data.reshape(len(values), *valid.shape)
        outputs[id_] = data.astype(np.float32) if types[id_] == "FLOAT32" else data
    return outputs


def assert_matches_node(
    script: str,
    bands: Mapping[str, np.ndarray],
    valid: np.ndarray,
    dn_factor: float = 10000.0,
    classes: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """The translation's outputs equal Node's: exactly for integer sample types, within float32
    rounding for FLOAT32 (NaN where Node has NaN). Returns the translation's outputs."""
    expected = node_reference(script, bands, valid, dn_factor, classes=classes)
    got = compile_evalscript(script).evaluate(bands, valid, dn_factor=dn_factor, classes=classes)
    assert set(got) == set(expected)
    for id_, raster in got.items():
        want = expected[id_]
        assert raster.data.shape == want.shape, id_
        if raster.data.dtype == np.float32:
            np.testing.assert_allclose(raster.data, want, rtol=2e-7, atol=1e-30, equal_nan=True)
        else:
            mismatch = np.argwhere(raster.data.astype(np.float64) != want)
            assert mismatch.size == 0, (
                id_,
                mismatch[:5],
                raster.data[tuple(mismatch[0])],
                want[tuple(mismatch[0])],
            )
    return {k: v.data for k, v in got.items()}
