"""The scenes of a multi-temporal script (mosaicking ORBIT or TILE): one raster per acquisition,
most recent first, as Sentinel Hub passes ``samples`` to evaluatePixel."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from gateway.core.catalog import Scene
from gateway.core.grid import Raster


@dataclass(frozen=True)
class Acquisitions:
    """``bands``: name -> (n, h, w) float32; ``valid``: (n, h, w); ``groups``: the scenes of
    each acquisition (most recent first)."""

    bands: dict[str, np.ndarray]
    valid: np.ndarray
    groups: tuple[tuple[Scene, ...], ...]


def group_scenes(scenes: list[Scene], mosaicking: str) -> list[tuple[Scene, ...]]:
    """ORBIT: the scenes of each UTC day (one orbit's pass) together; TILE: each scene alone.
    Most recent first; within a day, in the request's order."""
    ordered = sorted(scenes, key=lambda s: s.datetime, reverse=True)
    if mosaicking == "TILE":
        return [(s,) for s in ordered]
    days: dict[object, list[Scene]] = {}
    for scene in ordered:
        days.setdefault(scene.datetime.astimezone(UTC).date(), []).append(scene)
    order = {s.id: i for i, s in enumerate(scenes)}
    return [tuple(sorted(group, key=lambda s: order[s.id])) for group in days.values()]


def read_acquisitions(
    groups: list[tuple[Scene, ...]],
    bands: tuple[str, ...],
    read: Callable[[list[Scene]], Raster],
    shape: tuple[int, int],
) -> Acquisitions:
    """Each group mosaicked by ``read``; groups with no valid pixel on the grid are left out."""
    rasters = [(group, read(list(group))) for group in groups]
    rasters = [(g, r) for g, r in rasters if r.valid.any()]
    if not rasters:
        empty = np.zeros((0, *shape), np.float32)
        return Acquisitions({b: empty for b in bands}, empty.astype(bool), ())
    stacked = {b: np.stack([r.data[i] for _, r in rasters]) for i, b in enumerate(bands)}
    valid = np.stack([r.valid for _, r in rasters])
    return Acquisitions(stacked, valid, tuple(g for g, _ in rasters))


def describe(
    groups: tuple[tuple[Scene, ...], ...] | list[tuple[Scene, ...]], mosaicking: str
) -> list[dict]:
    """Each acquisition as Sentinel Hub describes it to a script (evaluatePixel's ``scenes``,
    preProcessScenes' ``collections.scenes``): ORBIT ``{dateFrom, dateTo, tiles}``, TILE a
    tile ``{date, shId, cloudCoverage, dataPath}``; dates ISO 8601 UTC."""

    def tile(scene: Scene, index: int) -> dict:
        return {
            "date": _iso(scene.datetime),
            "shId": index,
            "cloudCoverage": scene.cloud_cover,
            "dataPath": scene.id,
        }

    if mosaicking == "TILE":
        return [tile(group[0], i) for i, group in enumerate(groups)]
    described = []
    for i, group in enumerate(groups):
        day = group[0].datetime.astimezone(UTC).date().isoformat()
        described.append(
            {
                "dateFrom": f"{day}T00:00:00Z",
                "dateTo": f"{day}T23:59:59Z",
                "tiles": [tile(scene, i) for scene in group],
            }
        )
    return described


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
