"""Write a whole sample archive: scenes in a process pool, then mosaics, catalog and marker.

Everything is written into a hidden staging folder inside ``root`` and moved into place at the
end; the marker ``sample.json`` is written last, so its presence means the archive is complete.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from pathlib import Path

from gateway.sample.catalog import write_catalog
from gateway.sample.dem import plan_dem, write_dem
from gateway.sample.dem_stac import dem_item
from gateway.sample.layout import (
    L1C_COLLECTION,
    L2A_COLLECTION,
    MOSAIC_COLLECTION,
    ScenePlan,
    plan_sample,
)
from gateway.sample.mosaics import write_mosaic
from gateway.sample.results import ItemResult
from gateway.sample.s1_layout import S1_COLLECTION, S1Plan, plan_s1
from gateway.sample.s1mosaic import plan_s1_mosaics, write_s1_mosaic
from gateway.sample.s1mosaic_stac import s1_mosaic_item
from gateway.sample.sentinel1 import write_s1_product
from gateway.sample.sentinel2 import write_scene
from gateway.sample.sentinel2_l1c import write_l1c_scene
from gateway.sample.stac import l2a_item, mosaic_item
from gateway.sample.stac_l1c import l1c_item
from gateway.sample.stac_s1 import s1_item

SAMPLE_MARKER = "sample.json"
# 2: with the Sentinel-1 GRD products; 3: with the Sentinel-2 L1C products; 4: L1C and DEM
# items as CDSE writes them (no MSK_CLASSI asset, no band list on the DEM data asset); 5: the
# Sentinel-1 mosaics and DEM items and files as CDSE's (float32 gamma0, nodata -32768, CDSE's
# ids, userdata.json; the DEM's manifest XML, no Product asset)
MARKER_VERSION = 5
_CONTENT = ("eodata", "stac")

Progress = Callable[[int, int, str], None]


class _InlineExecutor(Executor):
    """Runs each task at submit time, in this process (workers=1)."""

    def submit(self, fn: Callable, /, *args: object, **kwargs: object) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future


def _executor(workers: int) -> Executor:
    if workers <= 1:
        return _InlineExecutor()
    # spawn: workers start clean (no inherited GDAL/pyproj state or threads from the parent)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _generate(
    plans: list[ScenePlan],
    radar: list[S1Plan],
    staging: Path,
    workers: int,
    progress: Progress,
) -> dict[str, ItemResult]:
    """Write every item's files under ``staging/eodata``; mosaics start when their tile is done."""
    eodata, scratch = staging / "eodata", staging / "scratch"
    scenes = [p for p in plans if p.collection == L2A_COLLECTION]
    toa = [p for p in plans if p.collection == L1C_COLLECTION]
    mosaics = {p.tile.name: p for p in plans if p.collection == MOSAIC_COLLECTION}
    left = Counter(p.tile.name for p in scenes)
    total = len(plans) + len(radar) + 1
    results: dict[str, ItemResult] = {}
    with _executor(workers) as pool:
        pending: dict[Future, ScenePlan | S1Plan] = {
            pool.submit(write_s1_product, p, eodata, scratch / p.item_id): p for p in radar
        }
        pending.update(
            {pool.submit(write_scene, p, eodata, scratch / p.item_id): p for p in scenes}
        )
        pending.update(
            {pool.submit(write_l1c_scene, p, eodata, scratch / p.item_id): p for p in toa}
        )
        try:
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    plan = pending.pop(future)
                    results[plan.item_id] = future.result()
                    progress(len(results), total, f"{plan.collection}/{plan.item_id}")
                    if not isinstance(plan, ScenePlan) or plan.collection != L2A_COLLECTION:
                        continue
                    left[plan.tile.name] -= 1
                    mosaic = mosaics.get(plan.tile.name)
                    if left[plan.tile.name] == 0 and mosaic is not None:
                        scl = [
                            eodata / p.layer_path("SCL", 20) for p in scenes if p.tile == plan.tile
                        ]
                        job = pool.submit(
                            write_mosaic, mosaic, eodata, scratch / mosaic.item_id, scl
                        )
                        pending[job] = mosaic
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def sample_is_current(root: Path) -> bool:
    """True when ``root`` holds a complete sample archive of this version of the writer (an
    older one lacks collections the configuration serves: it is written again)."""
    try:
        marker = json.loads((Path(root) / SAMPLE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("version") == MARKER_VERSION


def _install(staging: Path, root: Path, marker: dict) -> None:
    """Move the staged content over any previous sample (keeping the collections
    ``cdse-gateway ingest`` added to its catalog), then write the marker last."""
    (root / SAMPLE_MARKER).unlink(missing_ok=True)
    replaced = staging / "replaced"
    replaced.mkdir()
    for name in _CONTENT:
        if (root / name).exists():
            (root / name).rename(replaced / name)
        (staging / name).rename(root / name)
    if (replaced / "stac").is_dir():
        from gateway.byod.catalog import carry_over  # the ingest's, kept over a new sample

        carry_over(replaced / "stac", root / "stac")
    tmp = staging / SAMPLE_MARKER
    tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, root / SAMPLE_MARKER)


def write_sample_archive(
    root: Path,
    profile: str = "small",
    progress: Progress | None = None,
    workers: int | None = None,
) -> Path:
    """Write the CDSE-shaped sample archive of a profile under ``root`` and return ``root``.

    ``root/eodata`` holds the bucket tree, ``root/stac`` the static catalog, and
    ``root/sample.json`` (written last) marks the archive complete. A previous sample archive
    in ``root`` is replaced; any other ``eodata``/``stac`` folder there is refused.
    ``progress(done, total, label)`` is called as items complete; ``workers`` defaults to the
    number of CPUs (1 runs everything in this process).
    """
    plans = plan_sample(profile)
    radar = plan_s1(profile)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if not (root / SAMPLE_MARKER).exists() and any((root / n).exists() for n in _CONTENT):
        raise FileExistsError(f"{root} holds eodata/stac that are not a sample archive")
    report = progress or (lambda done, total, label: None)
    total = len(plans) + len(radar) + 1
    report(0, total, f"profile {profile}")
    workers = workers if workers is not None else min(os.cpu_count() or 1, len(plans))
    staging = Path(tempfile.mkdtemp(prefix=".sample-partial-", dir=root))
    try:
        results = _generate(plans, radar, staging, workers, report)
        items: dict[str, list[dict]] = {
            L2A_COLLECTION: [],
            L1C_COLLECTION: [],
            MOSAIC_COLLECTION: [],
        }
        builders = {L2A_COLLECTION: l2a_item, L1C_COLLECTION: l1c_item}
        for plan in plans:
            build = builders.get(plan.collection, mosaic_item)
            items[plan.collection].append(build(plan, results[plan.item_id]))
        items[S1_COLLECTION] = [s1_item(p, results[p.item_id]) for p in radar]
        for s1 in plan_s1_mosaics(profile):
            result = write_s1_mosaic(s1, staging / "eodata", staging / "scratch" / s1.item_id)
            items.setdefault(s1.collection, []).append(s1_mosaic_item(s1, result))
        for dem in plan_dem(profile):
            result = write_dem(dem, staging / "eodata", staging / "scratch" / dem.item_id)
            items.setdefault(dem.collection, []).append(dem_item(dem, result))
        write_catalog(staging / "stac", items)
        marker = {
            "profile": profile,
            "version": MARKER_VERSION,
            "collections": {cid: len(found) for cid, found in items.items()},
        }
        _install(staging, root, marker)
        report(total, total, "catalog")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return root
