"""OGC API Features provider: scene footprints from the engine's catalog."""

from __future__ import annotations

from typing import Any

from pygeoapi.provider.base import BaseProvider, ProviderItemNotFoundError

from gateway.core.catalog import SearchQuery
from gateway.core.catalog.models import Scene, TimeRange
from gateway.core.request import parse_time
from gateway.errors import InvalidParameterValue
from gateway.ogcapi.cql import compile_filter
from gateway.ogcapi.errors import gateway_errors
from gateway.ogcapi.registry import get_runtime

WORLD = (-180.0, -90.0, 180.0, 90.0)
MAX_SCENES = 1000  # one search answers a page; paging goes no deeper than this

# Queryable properties of a footprint and their JSON types (the same fields as WFS).
FIELDS: dict[str, dict[str, str]] = {
    "collection": {"type": "string"},
    "datetime": {"type": "string", "format": "date-time"},
    "eo:cloud_cover": {"type": "number"},
    "grid:code": {"type": "string"},
    "platform": {"type": "string"},
    "sat:relative_orbit": {"type": "integer"},
    "processing:version": {"type": "string"},
    "assets": {"type": "object"},
}


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


def _time_range(datetime_: str | None) -> TimeRange:
    return parse_time(datetime_) if datetime_ else TimeRange()


class SceneFeatureProvider(BaseProvider):
    """Footprints of one catalog collection (``data`` is the collection id)."""

    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)
        self.collection = str(provider_def["data"])
        self.id_field = "id"
        self.time_field = "datetime"

    def get_fields(self) -> dict[str, dict[str, str]]:
        return dict(FIELDS)

    @property
    def fields(self) -> dict[str, dict[str, str]]:
        return self.get_fields()

    def _scenes(
        self, bbox: list[float] | None, datetime_: str | None, limit: int = MAX_SCENES
    ) -> list[Scene]:
        area = tuple(float(v) for v in bbox[:4]) if bbox else WORLD
        if len(area) != 4 or not (area[0] <= area[2] and area[1] <= area[3]):
            raise InvalidParameterValue("bbox must be minx,miny,maxx,maxy", locator="bbox")
        query = SearchQuery(
            collection=self.collection,
            bbox=area,  # type: ignore[arg-type]
            time=_time_range(datetime_),
            order="mostRecent",
            limit=limit,
        )
        return get_runtime().engine.catalog.search(query)

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
        scenes = self._scenes(bbox, datetime_)
        for name, value in properties or []:
            scenes = [s for s in scenes if str(scene_properties(s).get(name)) == str(value)]
        if filterq is not None:
            keep = compile_filter(filterq)
            scenes = [
                s
                for s in scenes
                if keep({**scene_properties(s), "id": s.id, "datetime": s.datetime})
            ]
        features = [scene_feature(s, skip_geometry=skip_geometry) for s in scenes]
        for order in reversed(sortby or []):
            name = order["property"]
            features.sort(
                key=lambda f, n=name: (f["properties"].get(n) is None, f["properties"].get(n)),
                reverse=order.get("order") == "-",
            )
        matched = len(features)
        page = [] if resulttype == "hits" else features[offset : offset + limit]
        if select_properties:
            for feature in page:
                feature["properties"] = {
                    k: v for k, v in feature["properties"].items() if k in select_properties
                }
        return {
            "type": "FeatureCollection",
            "features": page,
            "numberMatched": matched,
            "numberReturned": len(page),
        }

    @gateway_errors
    def get(self, identifier: str, **kwargs: Any) -> dict[str, Any]:
        for scene in self._scenes(None, None):
            if scene.id == identifier:
                return scene_feature(scene)
        raise ProviderItemNotFoundError(user_msg=f"no scene {identifier[:80]!r}")
