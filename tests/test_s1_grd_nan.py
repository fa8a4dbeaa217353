"""Sentinel-1 GRD: a block of no data in a measurement file, as DN 0 (GRD's own no data, as at a
scene's border) or as NaN (a float file), is no data in every output: NaN in GeoTIFF (never
-inf in the dB layers, never NaN or 0 spread around it by bilinear or cubic resampling beyond
the neighbours that touch it), transparent in PNG; elsewhere the outputs equal the unmodified
archive's."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling

from gateway.runtime import Runtime
from tests.support import s1_reference as ref
from tests.support.pictures import rgba
from tests.support.wcs_checks import geotiff
from tests.test_sentinel1 import S1, by_orbit, local, utm_grid_lonlat

BOX = (706500.0, 5833000.0, 709500.0, 5836000.0)  # 3 km of UTM 31N over the sample's landscape
SIZE = 300  # 10 m pixels, the files' own: the full-resolution level is read
HALF = 20  # the block: 40 x 40 file pixels about the box's centre


@pytest.fixture(scope="module")
def item(sample_archive: Path) -> dict:
    path = sample_archive / "stac" / "collections" / S1 / "items.ndjson"
    return by_orbit([json.loads(line) for line in path.read_text().splitlines()], "descending")


@pytest.fixture(scope="module")
def block(sample_archive: Path, item) -> tuple[slice, slice]:
    """File rows and columns of the block (the files of VV and VH share their GCPs)."""
    affine = ref.gcp_affine(local(sample_archive, item["assets"]["vv"]["href"]))
    lon, lat = utm_grid_lonlat(BOX, 1, 1)
    col, row = affine @ np.array([lon[0, 0], lat[0, 0], 1.0])
    return slice(int(row) - HALF, int(row) + HALF), slice(int(col) - HALF, int(col) + HALF)


def _rewrite(path: Path, block: tuple[slice, slice], kind: str) -> None:
    """``path`` (a link into the sample) replaced by a GeoTIFF of its DNs with ``block`` DN 0
    (kind "dn0") or, as float32, NaN ("nan"); the same GCPs, RMS overviews rebuilt."""
    with rasterio.open(path) as src:
        profile, data, gcps = src.profile, src.read(1), src.gcps
    path.unlink()
    if kind == "nan":
        data = data.astype(np.float32)
        data[block] = np.nan
        profile.update(dtype="float32", nodata=None)
    else:
        data[block] = 0
    profile.update(driver="GTiff", tiled=True, blockxsize=256, blockysize=256)
    profile.pop("crs", None), profile.pop("transform", None)
    with rasterio.open(path, "w", **profile, gcps=gcps[0], crs=gcps[1]) as dst:
        dst.write(data, 1)
        dst.build_overviews([2, 4], Resampling.rms)


@pytest.fixture(scope="module", params=["dn0", "nan"])
def modified(request, sample_archive: Path, sample_settings, tmp_path_factory, item, block):
    """A runtime on a copy of the sample (links) whose item's VV and VH files have the block
    of no data (``dn0`` or ``nan``)."""
    from gateway.runtime import build_runtime

    root = _linked_copy(sample_archive, tmp_path_factory.mktemp(f"s1grd-{request.param}"))
    for pol in ("vv", "vh"):
        _rewrite(local(root, item["assets"][pol]["href"]), block, request.param)
    runtime = build_runtime(sample_settings.model_copy(update={"data_dir": root}))
    yield Modified(request.param, runtime)
    runtime.close()


@dataclass(frozen=True)
class Modified:
    kind: str  # "dn0" or "nan"
    runtime: Runtime


def _linked_copy(sample: Path, parent: Path) -> Path:
    """A copy of ``sample`` whose files are links to the sample's."""

    def link(source: str, target: str) -> None:
        Path(target).symlink_to(source)

    return Path(shutil.copytree(sample, parent / "archive", copy_function=link))


def _render(runtime, item: dict, size: int = SIZE, **kwargs) -> bytes:
    from gateway.core.request import build_request

    request = build_request(
        runtime.config, bbox=BOX, crs="EPSG:32631", width=size, height=size,
        time=item["properties"]["datetime"][:10], **kwargs,
    )  # fmt: skip
    return runtime.engine.render(request).content


def _zones(
    archive: Path, item: dict, block: tuple[slice, slice], size: int = SIZE
) -> tuple[np.ndarray, ...]:
    """Output pixels whose centre falls well inside the block, and those well away from it
    (bilinear's neighbours in the level read, its pixels' alignment, the GCP fit's error)."""
    factor = SIZE // size  # the level read: its pixels are ``factor`` file pixels
    affine = ref.gcp_affine(local(archive, item["assets"]["vv"]["href"]))
    lon, lat = utm_grid_lonlat(BOX, size, size)
    col = affine[0, 0] * lon + affine[0, 1] * lat + affine[0, 2]
    row = affine[1, 0] * lon + affine[1, 1] * lat + affine[1, 2]
    rows, cols = block

    def within(margin: float) -> np.ndarray:
        return (
            (row > rows.start - margin)
            & (row < rows.stop + margin)
            & (col > cols.start - margin)
            & (col < cols.stop + margin)
        )

    return within(-2.0 * factor), ~within(3.0 * factor)


@pytest.mark.parametrize(
    ("size", "resampling"),
    [(SIZE, "bilinear"), (SIZE, "nearest"), (SIZE, "cubic"), (SIZE // 4, "bilinear")],
)  # SIZE // 4: 40 m pixels, read from the files' second overview (4 x 4 file pixels)
def test_no_data_block_is_nan_in_geotiff_and_the_rest_unchanged(
    modified, runtime, sample_archive, item, block, size, resampling
):
    inside, away = _zones(sample_archive, item, block, size)
    factor = SIZE // size
    assert inside.sum() > 0.8 * ((2 * HALF - 4 * factor) / factor) ** 2 and away.mean() > 0.9
    for expression in ("VV;VH", "10*log10(VV);10*log10(VH)"):
        values = {}
        for name, engine in (("modified", modified.runtime), ("sample", runtime)):
            content = _render(
                engine, item, size, collection=S1, expression=expression, format="tiff",
                resampling=resampling,
            )  # fmt: skip
            values[name], *_ = geotiff(content)
        got, expected = values["modified"], values["sample"]
        assert not np.isinf(got).any()
        assert np.isnan(got[:, inside]).all()
        assert np.isfinite(expected[:, inside]).mean() > 0.99  # the sample has data there
        if modified.kind == "nan" and factor > 1:  # float overviews: DN² means not rounded
            assert np.isfinite(got[:, away]).all()
            assert np.median(np.abs(got[:, away] / expected[:, away] - 1)) < 1e-2
        else:
            np.testing.assert_array_equal(got[:, away], expected[:, away])
        # what no data spreads to: the block and its neighbours only
        spread = (2 * HALF + 6 * SIZE // size) * size / SIZE
        assert np.isnan(got).sum() - np.isnan(expected).sum() <= spread**2 * 2


def test_no_data_block_is_transparent_in_the_db_layer_and_not_valid(
    modified, runtime, sample_archive, item, block
):
    from gateway.core.request import build_request

    inside, away = _zones(sample_archive, item, block)
    got = rgba(_render(modified.runtime, item, layer="VV", format="png"))
    expected = rgba(_render(runtime, item, layer="VV", format="png"))
    assert (got[inside][:, 3] == 0).all() and (expected[inside][:, 3] == 255).mean() > 0.99
    assert np.array_equal(got[away], expected[away])
    request = build_request(
        modified.runtime.config, bbox=BOX, crs="EPSG:32631", width=SIZE, height=SIZE, layer="VV",
        format="tiff", time=item["properties"]["datetime"][:10],
    )  # fmt: skip
    raster = modified.runtime.engine.compute(request)
    assert not raster.valid[inside].any() and np.isnan(raster.data[0][inside]).all()
    assert np.isfinite(raster.data[0][raster.valid]).all()


@pytest.fixture(scope="module")
def zero_lut(sample_archive: Path, sample_settings, tmp_path_factory, item):
    """A runtime on a copy of the sample whose item's VV calibration table is all zeros."""
    from gateway.runtime import build_runtime

    root = _linked_copy(sample_archive, tmp_path_factory.mktemp("s1grd-lut"))
    path = local(root, item["assets"]["schema-calibration-vv"]["href"])
    text = path.read_text()
    path.unlink()
    path.write_text(re.sub(r"(<sigmaNought[^>]*>)([^<]*)", _zeros, text))
    runtime = build_runtime(sample_settings.model_copy(update={"data_dir": root}))
    yield runtime
    runtime.close()


def _zeros(match: re.Match) -> str:
    return match.group(1) + " ".join("0" for _ in match.group(2).split())


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no division by zero either
def test_a_zero_calibration_table_gives_no_data_not_infinity(zero_lut, runtime, item):
    """DN / 0: no data in the linear and the dB values (the other polarisation, read alone,
    unchanged); the PNG of the dB layer transparent."""
    for expression in ("VV", "10*log10(VV)", "VV;VH"):
        content = _render(zero_lut, item, collection=S1, expression=expression, format="tiff")
        values, *_ = geotiff(content)
        assert np.isnan(values).all(), expression
    got, *_ = geotiff(_render(zero_lut, item, collection=S1, expression="VH", format="tiff"))
    expected, *_ = geotiff(_render(runtime, item, collection=S1, expression="VH", format="tiff"))
    assert np.isfinite(expected).mean() > 0.99
    np.testing.assert_array_equal(got, expected)
    assert (rgba(_render(zero_lut, item, layer="VV", format="png"))[..., 3] == 0).all()
