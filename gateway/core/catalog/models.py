"""What the catalog answers: scenes with their assets, parsed from CDSE-shaped STAC items."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

STAC_VERSION = "1.1.0"  # of the items and collections the gateway writes
Order = Literal["mostRecent", "leastRecent", "leastCC"]
ORDERS: tuple[Order, ...] = ("mostRecent", "leastRecent", "leastCC")


@dataclass(frozen=True)
class NearestTo:
    """Sentinel Hub's ``leastTimeDifference`` about an instant: scenes by their time distance
    to ``instant``, nearest first; at equal distances the later first, and scenes of one
    datetime in ``mostRecent``'s order up to the instant, ``leastRecent``'s after it (the
    orders a STAC API sorts either side by: ``either_side``)."""

    instant: datetime

    def __str__(self) -> str:
        return f"leastTimeDifference:{self.instant.isoformat()}"


SceneOrder = Order | NearestTo  # what a search orders its scenes by


def parse_datetime(text: str) -> datetime:
    """An RFC 3339 timestamp (``Z`` or offset) -> aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class TimeRange:
    """A closed UTC interval; ``None`` ends are open."""

    start: datetime | None = None
    end: datetime | None = None

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment <= self.end
        )

    def to_stac(self) -> str | None:
        """The STAC API ``datetime`` parameter, or None when fully open."""
        if self.start is None and self.end is None:
            return None

        def fmt(moment: datetime | None) -> str:
            return ".." if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        return f"{fmt(self.start)}/{fmt(self.end)}"


@dataclass(frozen=True)
class DeclaredExtent:
    """The extent a STAC collection document declares (``extent.spatial``/``temporal``): what
    the catalog says it holds, whoever lists how much of it."""

    bbox: tuple[float, float, float, float]
    start: datetime | None
    end: datetime | None


def collection_extent(boxes: list[list[float]], start: str | None, end: str | None) -> dict:
    """A collection's ``extent``: the box around ``boxes`` and the interval start..end."""
    around = [
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    ]
    return {"spatial": {"bbox": [around]}, "temporal": {"interval": [[start, end]]}}


def collection_links(items: list[dict]) -> list[dict]:
    """The links of a static catalog's ``collections/<id>/collection.json`` to its root,
    itself, its ``items.ndjson`` and each of ``items`` (``items/<id>.json``)."""
    return [
        {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
        {"rel": "parent", "href": "../../catalog.json", "type": "application/json"},
        {"rel": "self", "href": "./collection.json", "type": "application/json"},
        {"rel": "items", "href": "./items.ndjson", "type": "application/x-ndjson"},
    ] + [
        {"rel": "item", "href": f"./items/{i['id']}.json", "type": "application/geo+json"}
        for i in items
    ]


def declared_extent(collection: dict[str, Any]) -> DeclaredExtent | None:
    """The overall extent of a STAC collection document, or None when it declares none."""
    try:
        extent = collection["extent"]
        west, south, east, north = (float(v) for v in extent["spatial"]["bbox"][0][:4])
        start, end = extent["temporal"]["interval"][0]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return DeclaredExtent(
        (west, south, east, north),
        parse_datetime(start) if start else None,
        parse_datetime(end) if end else None,
    )


@dataclass(frozen=True)
class Asset:
    """One raster file of a scene."""

    key: str
    href: str
    band: str | None  # the single band this asset holds (None for multi-band visuals)
    gsd: float | None
    scale: float | None
    offset: float | None
    nodata: float | None
    data_type: str | None
    media_type: str | None
    proj_code: str | None = None
    shape: tuple[int, int] | None = None  # rows, columns (``proj:shape``), when the item says


@dataclass(frozen=True)
class Scene:
    """One catalog item reduced to what the engine needs (the raw item is kept)."""

    id: str
    collection: str
    datetime: datetime
    cloud_cover: float | None
    bbox: tuple[float, float, float, float]  # EPSG:4326 lon/lat
    geometry: dict[str, Any]
    assets: tuple[Asset, ...]
    processing_version: str | None = None
    orbit_state: str | None = None  # sat:orbit_state: ascending, descending
    item: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def band_assets(self, band: str) -> list[Asset]:
        """Assets that hold ``band``, finest resolution first."""
        found = [a for a in self.assets if a.band == band]
        return sorted(found, key=lambda a: a.gsd or 0.0)


def asset_band(key: str, asset: dict[str, Any]) -> str | None:
    """The one band an asset (or an ``item_assets`` entry) holds, if it holds one."""
    bands = asset.get("bands") or asset.get("eo:bands")
    if bands and len(bands) == 1:
        return bands[0].get("name")
    if bands:
        # A multi-band visual (TCI) is no band; a multi-band data file of flags (L1C's
        # MSK_CLASSI, read as one value of bits) is the band its key names.
        return key if "data" in asset.get("roles", []) else None
    # SCL_20m, AOT_10m... carry no band list: the key says which band it is.
    return key.split("_")[0] if key else None


# Media types the reader opens (VRT: ``gateway.core.storage.VRT_TYPE``).
RASTER_TYPES = ("image/jp2", "image/tiff", "profile=gdal-vrt")


def is_raster(asset: dict[str, Any]) -> bool:
    """True for a data raster (JPEG 2000, GeoTIFF, or a GDAL VRT: a step of a Zarr store)."""
    media = asset.get("type", "")
    roles = asset.get("roles", [])
    return any(kind in media for kind in RASTER_TYPES) and "data" in roles


def stac_number(value: Any) -> float | None:
    """A number STAC may write as a string (``nodata``: "nan", "inf", "-inf")."""
    return None if value is None else float(value)


def _shape(value: object) -> tuple[int, int] | None:
    """``proj:shape`` as (rows, columns); None unless two positive integers."""
    if isinstance(value, list) and len(value) == 2:
        rows, columns = value
        if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            return rows, columns
    return None


L1C_MASK = "MSK_CLASSI"


def l1c_cloud_mask(item: dict[str, Any], assets: tuple[Asset, ...]) -> tuple[Asset, ...]:
    """The granule's cloud mask of a Sentinel-2 L1C item, which CDSE's items do not list:
    ``QI_DATA/MSK_CLASSI_B00.jp2`` (60 m, processing baseline 04.00 and later) beside the
    ``IMG_DATA`` folder of its band files."""
    if item.get("collection") != "sentinel-2-l1c" or any(a.key == L1C_MASK for a in assets):
        return ()
    try:
        baseline = float(item["properties"].get("processing:version") or 0)
    except (TypeError, ValueError):
        return ()
    band = next((a for a in assets if "/IMG_DATA/" in a.href), None)
    if baseline < 4.0 or band is None:
        return ()
    granule = band.href.rsplit("/IMG_DATA/", 1)[0]
    mask = Asset(
        key=L1C_MASK,
        href=f"{granule}/QI_DATA/MSK_CLASSI_B00.jp2",
        band=L1C_MASK,
        gsd=60.0,
        scale=None,
        offset=None,
        nodata=None,
        data_type="uint8",
        media_type="image/jp2",
        proj_code=band.proj_code,
    )
    return (mask,)


# The fields of a raster asset that ``scene_from_item``, ``asset_band`` and ``is_raster`` read:
# all a search need ask of an asset. A CDSE asset is ~1.6 kB, mostly alternates, checksums and
# paths; a first page of 8 items with an NDVI's 6 assets took pgstac (hydrating in SQL) p50
# 76 ms whole, 54 ms with these fields named, 19 ms without assets (bench/bench_catalog.py).
ASSET_FIELDS = (
    "href", "type", "roles", "bands", "eo:bands", "gsd", "nodata", "data_type",
    "proj:code", "proj:shape", "raster:scale", "raster:offset",
)  # fmt: skip


def scene_from_item(item: dict[str, Any]) -> Scene:
    """Parse a STAC item shaped like CDSE's (see shared/fixtures/cdse-stac)."""
    props = item["properties"]
    when = props.get("datetime") or props.get("start_datetime")
    assets = tuple(
        Asset(
            key=key,
            href=asset["href"],
            band=asset_band(key, asset),
            gsd=asset.get("gsd", props.get("gsd")),
            scale=asset.get("raster:scale"),
            offset=asset.get("raster:offset"),
            nodata=stac_number(asset.get("nodata")),
            data_type=asset.get("data_type"),
            media_type=asset.get("type"),
            proj_code=asset.get("proj:code", props.get("proj:code")),
            shape=_shape(asset.get("proj:shape")),
        )
        for key, asset in item.get("assets", {}).items()
        if is_raster(asset)
    )
    assets += l1c_cloud_mask(item, assets)
    bbox = item.get("bbox") or (-180.0, -90.0, 180.0, 90.0)
    return Scene(
        id=item["id"],
        collection=item.get("collection", ""),
        datetime=parse_datetime(when),
        cloud_cover=props.get("eo:cloud_cover"),
        bbox=tuple(float(v) for v in bbox[:4]),  # type: ignore[arg-type]
        geometry=item.get("geometry") or {},
        assets=assets,
        processing_version=props.get("processing:version"),
        orbit_state=props.get("sat:orbit_state"),
        item=item,
    )


@dataclass(frozen=True)
class SearchQuery:
    """A catalog search: one collection, an area in lon/lat, a time range, cloud cover, order."""

    collection: str
    bbox: tuple[float, float, float, float]
    time: TimeRange = TimeRange()
    max_cloud_cover: float | None = None
    order: SceneOrder = "mostRecent"
    limit: int = 100
    bands: tuple[str, ...] = ()  # the bands to be read: a backend may leave out other assets
    orbit_state: str | None = None  # sat:orbit_state wanted (ascending, descending), or any


def order_scenes(scenes: list[Scene], order: SceneOrder) -> list[Scene]:
    """Sort scenes for mosaicking; ties are broken by id so results are stable."""
    if isinstance(order, NearestTo):
        after = order_scenes([s for s in scenes if s.datetime > order.instant], "leastRecent")
        up_to = order_scenes([s for s in scenes if s.datetime <= order.instant], "mostRecent")
        # a stable sort keeps each side's order, and the later side first, among equals
        return sorted(after + up_to, key=lambda s: abs(s.datetime - order.instant))
    if order == "leastCC":
        return sorted(
            scenes,
            key=lambda s: (
                s.cloud_cover if s.cloud_cover is not None else 101.0,
                -s.datetime.timestamp(),
                s.id,
            ),
        )
    reverse = order == "mostRecent"
    return sorted(scenes, key=lambda s: (s.datetime, s.id), reverse=reverse)


def first_and_rest(scenes: list[Scene], first: int) -> Iterator[list[Scene]]:
    """``scenes`` as the pages of a stream (``Catalog.stream``): the first ``first``, then the
    rest; no page empty."""
    for page in (scenes[:first], scenes[first:]):
        if page:
            yield page


def either_side(query: SearchQuery) -> list[SearchQuery]:
    """A ``NearestTo`` query as searches a backend sorting by datetime can answer (a STAC
    API cannot sort by distance): the scenes up to the instant, most recent first, and those
    from it, least recent first, each within the query's time (none on a side it excludes).
    The first ``limit`` scenes of each hold the query's ``limit`` nearest."""
    assert isinstance(query.order, NearestTo)
    instant, time = query.order.instant, query.time
    sides: list[SearchQuery] = []
    if time.start is None or instant >= time.start:
        up_to = instant if time.end is None else min(instant, time.end)
        sides.append(replace(query, time=TimeRange(time.start, up_to), order="mostRecent"))
    if time.end is None or instant <= time.end:
        since = instant if time.start is None else max(instant, time.start)
        sides.append(replace(query, time=TimeRange(since, time.end), order="leastRecent"))
    return sides


@dataclass(frozen=True)
class SortKey:
    """One sort key of a paged search: ``id``, ``collection``, ``datetime`` or an item
    property (``eo:cloud_cover``...), ascending unless ``descending``."""

    field: str
    descending: bool = False


@dataclass(frozen=True)
class PageQuery:
    """One page of a filtered, sorted search over whole collections (WFS, feature doors).

    ``filter`` is CQL2-JSON as canonical text (``cql2_text``), so queries hash and compare;
    its property names are the STAC ones (``eo:cloud_cover``, ``datetime``, ``id``,
    ``geometry`` in lon/lat). Backends sort by ``sortby`` (nulls after every value, so first
    when descending, as PostgreSQL does), then break ties by collection and id in the
    direction of the first key, as pgstac does; an empty ``sortby`` means datetime descending.
    ``fields`` names the only item fields (STAC API Fields ``include``: ``id``, ``bbox``,
    ``properties.datetime``, ``assets.*.href``...) a backend need return, for listings and
    feature pages that read few of them; the scenes' items hold no others (``project_item``).
    """

    collections: tuple[str, ...]
    filter: str | None = None
    sortby: tuple[SortKey, ...] = ()
    offset: int = 0
    limit: int = 10  # 0: only count
    fields: tuple[str, ...] = ()  # the item fields a backend need return (empty: all)


# A field of every asset (``assets.*.href``), which a STAC API client names asset by asset.
EVERY_ASSET = "assets.*."


def project_item(item: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The parts of ``item`` that ``fields`` name (dotted paths; ``*`` is every key of its
    level), as Fields ``include`` would have returned them; ``item`` itself when ``fields``
    is empty. Drops what a backend sent beyond them (an API without the Fields extension)."""
    if not fields:
        return item
    kept: dict[str, Any] = {}
    for name in fields:
        _include(item, kept, name.split("."))
    return kept


def _include(source: dict[str, Any], target: dict[str, Any], path: list[str]) -> None:
    head, rest = path[0], path[1:]
    for key in source if head == "*" else [head] if head in source else []:
        value = source[key]
        if not rest or not isinstance(value, dict):
            target[key] = value
        elif target.get(key) is not value:  # not already kept whole
            _include(value, target.setdefault(key, {}), rest)


@dataclass(frozen=True)
class ScenePage:
    """The scenes of one page and how many scenes match in all (None: the backend did not say)."""

    scenes: tuple[Scene, ...]
    matched: int | None


def cql2_text(expression: dict[str, Any] | None) -> str | None:
    """A CQL2-JSON expression as the canonical text ``PageQuery.filter`` holds."""
    if expression is None:
        return None
    return json.dumps(expression, sort_keys=True, separators=(",", ":"))
