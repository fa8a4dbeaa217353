"""CDSE's Sentinel-1 mosaics may mark radar shadow and layover as NaN besides their nodata
(-32768): NaN pixels are no data as -32768's are. Two copies of the sample archive, one with a
block of the T31UFU mosaic's pixels NaN and one with the same pixels -32768, give the same
GeoTIFF values (WCS's encoding: NaN where no data), the same PNG (transparent there) and the
same valid pixels (what the statistics count)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.io import MemoryFile

from tests.support.pictures import rgba
from tests.support.wcs_checks import geotiff
from tests.test_s1_mosaics import S1, UTM_BOX, local, t31ufu

# A block of the file's pixels inside UTM_BOX (rows, columns of the file).
BLOCK = (slice(320, 350), slice(130, 170))


def _archive(sample: Path, root: Path, item: dict, value: float) -> Path:
    """A copy of ``sample`` (links, but the mosaics' files copied) whose T31UFU mosaic has
    BLOCK set to ``value`` in both bands."""
    root.mkdir()
    for entry in sample.iterdir():
        if entry.name not in ("eodata", "cog-cache"):
            os.symlink(entry, root / entry.name)
    mosaics = Path("Global-Mosaics") / "Sentinel-1"
    for entry in (sample / "eodata").iterdir():
        if entry.name != "Global-Mosaics":
            (root / "eodata").mkdir(exist_ok=True)
            os.symlink(entry, root / "eodata" / entry.name)
    for entry in (sample / "eodata" / "Global-Mosaics").iterdir():
        if entry.name != "Sentinel-1":
            (root / "eodata" / "Global-Mosaics").mkdir(parents=True, exist_ok=True)
            os.symlink(entry, root / "eodata" / "Global-Mosaics" / entry.name)
    shutil.copytree(sample / "eodata" / mosaics, root / "eodata" / mosaics)
    for band in ("VV", "VH"):
        path = local(root, item["assets"][band]["href"])
        with rasterio.open(path) as src:
            profile, data = src.profile, src.read(1)
        data[BLOCK] = value
        with MemoryFile() as memory, memory.open(**{**profile, "driver": "GTiff"}) as copy:
            copy.write(data, 1)
            rasterio.shutil.copy(copy, path, driver="COG", blocksize=256)
    return root


@pytest.fixture(scope="module")
def item(sample_archive: Path) -> dict:
    path = sample_archive / "stac" / "collections" / S1 / "items.ndjson"
    return t31ufu([json.loads(line) for line in path.read_text().splitlines()])


@pytest.fixture(scope="module")
def engines(sample_archive: Path, sample_settings, tmp_path_factory, item):
    """Engines on the NaN copy and on the -32768 copy."""
    from gateway.runtime import build_runtime

    built = {}
    for name, value in (("nan", np.nan), ("nodata", -32768.0)):
        root = _archive(sample_archive, tmp_path_factory.mktemp("s1nan") / name, item, value)
        built[name] = build_runtime(sample_settings.model_copy(update={"data_dir": root}))
    yield built
    for runtime in built.values():
        runtime.close()


def _render(runtime, **kwargs) -> bytes:
    from gateway.core.request import build_request

    # 24 m pixels over the 20 m files: bilinear mixes neighbours (the block's edge too).
    request = build_request(
        runtime.config, bbox=UTM_BOX, crs="EPSG:32631", width=250, height=250,
        time="2025-06-01/2025-06-30", **kwargs,
    )  # fmt: skip
    return runtime.engine.render(request).content


@pytest.mark.parametrize("resampling", ["bilinear", "nearest", "cubic"])
def test_nan_pixels_are_no_data_in_geotiff(engines, resampling):
    values = {}
    for name, runtime in engines.items():
        content = _render(
            runtime, collection=S1, expression="VV;VH", format="tiff", resampling=resampling
        )
        values[name], *_ = geotiff(content)
    assert np.array_equal(values["nan"], values["nodata"], equal_nan=True)
    # The block (30 x 40 px of 20 m: 25 x 33 of 24 m) is no data; pixels far from it are read.
    missing = np.isnan(values["nan"][0])
    assert 25 * 30 <= missing.sum() <= 32 * 42
    assert np.array_equal(missing, np.isnan(values["nan"][1]))
    assert np.isfinite(values["nan"][:, :60]).all() and np.isfinite(values["nan"][:, 200:]).all()


def test_nan_pixels_are_transparent_in_png_and_not_valid(engines, sample_archive: Path, item):
    from gateway.core.request import build_request

    pictures = {n: rgba(_render(r, layer="S1_MOSAIC_VV", format="png")) for n, r in engines.items()}
    assert np.array_equal(pictures["nan"], pictures["nodata"])
    alpha = pictures["nan"][..., 3]
    assert 25 * 30 <= (alpha == 0).sum() <= 32 * 42 and set(np.unique(alpha)) == {0, 255}
    # What the statistics count: the engine's valid pixels at the files' own 20 m.
    runtime = engines["nan"]
    request = build_request(
        runtime.config, bbox=UTM_BOX, crs="EPSG:32631", width=300, height=300, collection=S1,
        expression="VV", format="tiff", time="2025-06-01/2025-06-30", resampling="nearest",
    )  # fmt: skip
    raster = runtime.engine.compute(request)
    with rasterio.open(local(sample_archive, item["assets"]["VV"]["href"])) as src:
        window = src.window(*UTM_BOX)
    row, col = round(window.row_off), round(window.col_off)
    expected = np.ones((300, 300), dtype=bool)
    rows, cols = BLOCK
    expected[rows.start - row : rows.stop - row, cols.start - col : cols.stop - col] = False
    assert np.array_equal(raster.valid & np.isfinite(raster.data[0]), expected)
