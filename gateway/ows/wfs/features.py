"""Scene footprints as WFS features: a flat property record and a shapely geometry per scene."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from gateway.core.catalog import Scene
from gateway.core.catalog.filters.evaluate import Lookup
from gateway.core.catalog.filters.queryables import BY_STAC, QUERYABLES

NAMESPACE = "urn:cdse-gateway:features"
PREFIX = "cdse"
GEOMETRY = "footprint"

_XSD = {"string": "string", "date-time": "dateTime", "number": "double", "integer": "int",
        "object": "string"}  # fmt: skip
_ABOUT = {"assets": "asset key -> href, as JSON"}
# name -> (XSD type, what it holds); the order of DescribeFeatureType and GML output.
PROPERTIES: dict[str, tuple[str, str]] = {
    q.wfs: (_XSD[q.kind], _ABOUT.get(q.wfs, q.about)) for q in QUERYABLES if q.wfs != GEOMETRY
}
FID = "gml:id"  # a filter's name for a feature's gml:id (ResourceId), which no catalog knows
_NCNAME = re.compile(r"^[A-Za-z_][\w.-]*$")


@dataclass(frozen=True)
class Feature:
    """One footprint: ``fid`` is the gml:id / GeoJSON id, ``geometry`` in lon/lat."""

    fid: str
    type_name: str
    properties: dict[str, Any]
    geometry: BaseGeometry

    @property
    def when(self) -> datetime:
        return self.properties["datetime"]


def feature_id(scene_id: str) -> str:
    """A gml:id-safe id (an NCName) for a scene id."""
    return scene_id if _NCNAME.match(scene_id) else "f_" + re.sub(r"[^\w.-]", "_", scene_id)


def scene_feature(scene: Scene) -> Feature:
    props = scene.item.get("properties", {})
    orbit = props.get("sat:relative_orbit")
    return Feature(
        fid=feature_id(scene.id),
        type_name=scene.collection,
        properties={
            "scene_id": scene.id,
            "collection": scene.collection,
            "datetime": scene.datetime,
            "cloud_cover": scene.cloud_cover,
            "grid_code": props.get("grid:code"),
            "platform": props.get("platform"),
            "relative_orbit": int(orbit) if orbit is not None else None,
            "orbit_state": scene.orbit_state,
            "processing_version": scene.processing_version,
            "assets": json.dumps({a.key: a.href for a in scene.assets}, sort_keys=True),
        },
        geometry=shape(scene.geometry) if scene.geometry else box(*scene.bbox),
    )


# Other names of the properties: their STAC names (not ``geometry``).
ALIASES = {q.stac: q.wfs for q in QUERYABLES if q.wfs != GEOMETRY}


def feature_lookup(feature: Feature) -> Lookup:
    """How a filter reads a property of ``feature``, by its STAC name (or ``FID``)."""

    def get(name: str) -> Any:
        if name == FID:
            return feature.fid
        if name == "geometry":
            return feature.geometry
        known = BY_STAC.get(name)
        return feature.properties.get(known.wfs) if known is not None else None

    return get


def property_name(reference: str) -> str:
    """A ValueReference / PROPERTYNAME (``cdse:cloud_cover``, ``eo:cloud_cover``...) -> name."""
    text = reference.strip().split("/")[-1]
    if text in ALIASES:
        return ALIASES[text]
    return text.split(":", 1)[1] if ":" in text else text
