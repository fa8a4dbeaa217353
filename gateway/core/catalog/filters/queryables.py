"""The queryable properties of a scene footprint, one table for every door.

Each has its STAC name (what the catalog filters and sorts on, and OGC API Features' name),
its WFS feature property name and a JSON Schema type. ``assets`` is not searchable in a
catalog (an object); ``geometry`` is the footprint.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Queryable:
    """``stac``: the catalog's name; ``wfs``: the WFS property; ``kind``: a JSON Schema type
    (``string``, ``number``, ``integer``, ``date-time``, ``object``, ``geometry``)."""

    stac: str
    wfs: str
    kind: str
    about: str

    @property
    def searchable(self) -> bool:
        """The catalog filters and sorts on it (``geometry``: filters only)."""
        return self.kind != "object"

    @property
    def text(self) -> bool:
        return self.kind == "string"


# In the order of WFS's DescribeFeatureType and of OGC API's queryables.
QUERYABLES: tuple[Queryable, ...] = (
    Queryable("id", "scene_id", "string", "catalog item id"),
    Queryable("collection", "collection", "string", "catalog collection"),
    Queryable("datetime", "datetime", "date-time", "acquisition time (UTC)"),
    Queryable("eo:cloud_cover", "cloud_cover", "number", "eo:cloud_cover, percent"),
    Queryable("grid:code", "grid_code", "string", "grid:code (MGRS tile)"),
    Queryable("platform", "platform", "string", "satellite"),
    Queryable("sat:relative_orbit", "relative_orbit", "integer", "sat:relative_orbit"),
    Queryable("sat:orbit_state", "orbit_state", "string", "sat:orbit_state (Sentinel-1)"),
    Queryable(
        "processing:version", "processing_version", "string", "processing:version (baseline)"
    ),
    Queryable("assets", "assets", "object", "asset key -> href"),
    Queryable("geometry", "footprint", "geometry", "footprint"),
)
BY_STAC: dict[str, Queryable] = {q.stac: q for q in QUERYABLES}
# What a footprint reads of an item, as STAC API Fields ``include`` (``PageQuery.fields``):
# its queryables, box and start time, and of each asset its href and what tells a raster
# (``models.is_raster``). A CDSE L2A item is ~65 kB with its 43 assets; this is a tenth.
FOOTPRINT_FIELDS: tuple[str, ...] = (
    "id", "collection", "bbox", "geometry", "properties.start_datetime",
    *(f"properties.{q.stac}" for q in QUERYABLES if q.stac not in ("id", "collection")
      and q.kind not in ("object", "geometry")),
    "assets.*.href", "assets.*.type", "assets.*.roles",
)  # fmt: skip
BY_WFS: dict[str, Queryable] = {q.wfs: q for q in QUERYABLES}
# Never missing from a scene: a comparison on them is never unknown.
NEVER_NULL = frozenset({"id", "collection", "datetime", "geometry"})
