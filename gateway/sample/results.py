"""What writing one item produced: the facts its STAC item is built from."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileFacts:
    """A written file: bucket-relative path (``s3://eodata/<path>``), size and digests."""

    path: str
    size: int
    sha3_256: str
    md5: str


@dataclass(frozen=True)
class ItemResult:
    """Files of one item by asset key, plus measured facts about its data."""

    item_id: str
    files: dict[str, FileFacts]
    geometry: dict  # lon/lat GeoJSON footprint of the valid data
    scl_counts: tuple[int, ...] = ()  # SCL_20m pixels per class value (L2A only)
    sun: tuple[float, float] = (0.0, 0.0)  # azimuth, elevation (L2A only)
    shapes: dict[str, tuple[int, int]] = field(default_factory=dict)  # e.g. thumbnail shape
