"""Inputs and numpy references shared by the OGC API Processes tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import rasterio
from rio_cogeo.cogeo import cog_validate

from tests.support.expected import ndvi, pixel_centres, read_band
from tests.support.ogcapi_checks import geotiff, item_of, same

UTM_BOX = (700000.0, 5832000.0, 703000.0, 5835000.0)  # 300 x 300 px at 10 m
BAND_MATH = {
    "expression": "(B08-B04)/(B08+B04)", "bbox": list(UTM_BOX), "crs": "EPSG:32631",
    "time": "2025-06-13", "resampling": "nearest", "cloud_mask": False,
}  # fmt: skip


def utm_reference(archive: Path) -> np.ndarray:
    """NDVI of the 2025-06-13 T31UFU scene on UTM_BOX's 10 m grid, with numpy."""
    item = item_of(archive, "31UFU", "2025-06-13")
    xs, ys = pixel_centres(UTM_BOX, 300, 300)
    red = read_band(archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    nir = read_band(archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    return ndvi(nir, red)


def check_cog(content: bytes, expected: np.ndarray, path: Path) -> None:
    """``content`` is a valid COG of one band on UTM_BOX's grid holding ``expected``."""
    path.write_bytes(content)
    valid, errors, _ = cog_validate(str(path))
    assert valid, errors
    data, crs, transform, _ = geotiff(content)
    assert crs.to_epsg() == 32631 and data.shape == (1, 300, 300)
    assert transform.almost_equals(rasterio.transform.from_bounds(*UTM_BOX, 300, 300))
    assert same(data[0], expected).all()


@contextmanager
def idle_scheduler() -> Iterator[str]:
    """The address of a Dask scheduler without workers: jobs sent to it are accepted and
    never run (they stay in flight)."""
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address="127.0.0.1:0") as cluster:
        yield cluster.scheduler_address


def execute(url: str, process: str, inputs: dict, prefer: str = "") -> httpx.Response:
    """POST an execute request of ``inputs`` to the gateway at ``url`` (``Prefer`` if given)."""
    return httpx.post(
        f"{url}/ogcapi/processes/{process}/execution",
        json={"inputs": inputs},
        headers={"Prefer": prefer} if prefer else {},
        timeout=120,
    )
