"""OGC API Features provider: scene footprints from the engine's catalog.

Every query (bbox, datetime, property values, the CQL2 filter, sortby, offset and limit) is
one paged catalog search (``catalog.search_page``): a STAC API answers it on the server, the
static catalog in memory; nothing is capped or filtered afterwards.
"""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import BaseProvider, ProviderItemNotFoundError

from gateway.core.catalog import PageQuery, Scene, SortKey, cql2_text
from gateway.core.catalog.filters.queryables import FOOTPRINT_FIELDS, QUERYABLES
from gateway.core.catalog.filters.translate import (
    FilterTranslator,
    Json,
    all_of,
    box_polygon,
    op,
    time_range,
)
from gateway.core.dates import parse_time
from gateway.errors import InvalidParameterValue
from gateway.ogcapi.errors import gateway_errors
from gateway.registry import BuiltOnce, runtime_for

_JSON_TYPES = {"date-time": {"type": "string", "format": "date-time"}}
# Queryable properties of a footprint and their JSON types (the same fields as WFS); the
# footprint's id and geometry are the feature's own.
FIELDS: dict[str, dict[str, str]] = {
    q.stac: _JSON_TYPES.get(q.kind, {"type": q.kind})
    for q in QUERYABLES
    if q.stac not in ("id", "geometry")
}
# Scalar properties: what property parameters and sortby take (a filter also takes id, geometry).
FILTERABLE = tuple(q.stac for q in QUERYABLES if q.stac in FIELDS and q.searchable)
TRANSLATE = FilterTranslator((*FILTERABLE, "id", "geometry"))


def scene_properties(scene: Scene) -> dict[str, Any]:
    """The flat properties a footprint carries; ``assets`` maps asset keys to hrefs."""
    props = scene.item.get("properties", {})
    return {
        "collection": scene.collection,
        "datetime": scene.datetime.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "eo:cloud_cover": scene.cloud_cover,
        "grid:code": props.get("grid:code"),
        "platform": props.get("platform"),
        "sat:relative_orbit": props.get("sat:relative_orbit"),
        "sat:orbit_state": scene.orbit_state,
        "processing:version": scene.processing_version,
        "assets": {asset.key: asset.href for asset in scene.assets},
    }


def scene_feature(scene: Scene, *, skip_geometry: bool = False) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": scene.id,
        "geometry": None if skip_geometry else scene.geometry,
        "bbox": list(scene.bbox),
        "properties": scene_properties(scene),
    }


def _typed(name: str, value: Any) -> Any:
    """A property parameter's text as the property's JSON type."""
    kind = FIELDS[name]["type"]
    try:
        return int(value) if kind == "integer" else float(value) if kind == "number" else value
    except ValueError:
        raise InvalidParameterValue(f"{name} must be a number", locator=name) from None


def feature_filter(
    bbox: list[float] | None,
    datetime_: str | None,
    properties: list[tuple[str, Any]] | None,
    filterq: Any,
) -> Json | None:
    """One CQL2-JSON expression for the query parameters and the filter."""
    equal = []
    for name, value in properties or []:
        if name not in FILTERABLE:
            raise InvalidParameterValue(f"unknown property {name[:40]!r}", locator=name)
        equal.append(op("=", {"property": name}, _typed(name, value)))
    return all_of(
        [
            op("s_intersects", {"property": "geometry"}, box_polygon(bbox)) if bbox else None,
            time_range(parse_time(datetime_)) if datetime_ else None,
            *equal,
            TRANSLATE(filterq) if filterq is not None else None,
        ]
    )


def sort_keys(sortby: list[dict[str, Any]] | None) -> tuple[SortKey, ...]:
    keys = []
    for order in sortby or []:
        name = str(order.get("property"))
        if name not in (*FILTERABLE, "id"):
            raise InvalidParameterValue(f"cannot sort by {name[:40]!r}", locator="sortby")
        keys.append(SortKey(name, descending=order.get("order") == "-"))
    return tuple(keys)


class SceneFeatureProvider(BaseProvider, metaclass=BuiltOnce):
    """Footprints of one catalog collection (``data`` is the collection id)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.runtime = runtime_for(provider_def)
        self.collection = str(provider_def["data"])
        self.id_field = "id"
        self.time_field = "datetime"

    def get_fields(self) -> dict[str, dict[str, str]]:
        return dict(FIELDS)

    @property
    def fields(self) -> dict[str, dict[str, str]]:
        return self.get_fields()

    def _page(self, expression: Json | None, **page: Any) -> Any:
        query = PageQuery(
            (self.collection,), filter=cql2_text(expression), fields=FOOTPRINT_FIELDS, **page
        )
        return self.runtime.engine.catalog.search_page(query)

    @gateway_errors
    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: list[float] | None = None,
        datetime_: str | None = None,
        properties: list[tuple[str, Any]] | None = None,
        sortby: list[dict[str, Any]] | None = None,
        select_properties: list[str] | None = None,
        skip_geometry: bool = False,
        filterq: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        found = self._page(
            feature_filter(bbox, datetime_, properties, filterq),
            sortby=sort_keys(sortby),
            offset=int(offset),
            limit=0 if resulttype == "hits" else int(limit),
        )
        page = [scene_feature(s, skip_geometry=skip_geometry) for s in found.scenes]
        if select_properties:
            for feature in page:
                feature["properties"] = {
                    k: v for k, v in feature["properties"].items() if k in select_properties
                }
        answer: dict[str, Any] = {
            "type": "FeatureCollection",
            "features": page,
            "numberReturned": len(page),
        }
        if found.matched is not None:
            answer["numberMatched"] = found.matched
        return answer

    @gateway_errors
    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        found = self._page(op("=", {"property": "id"}, str(identifier)), limit=1)
        if not found.scenes:
            raise ProviderItemNotFoundError(user_msg=f"no scene {identifier[:80]!r}")
        return scene_feature(found.scenes[0])
