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

NAMESPACE = "urn:cdse-gateway:features"
PREFIX = "cdse"
GEOMETRY = "footprint"

# name -> (XSD type, what it holds); the order of DescribeFeatureType and GML output.
PROPERTIES: dict[str, tuple[str, str]] = {
    "scene_id": ("string", "catalog item id"),
    "collection": ("string", "catalog collection"),
    "datetime": ("dateTime", "acquisition time (UTC)"),
    "cloud_cover": ("double", "eo:cloud_cover, percent"),
    "grid_code": ("string", "grid:code (MGRS tile)"),
    "platform": ("string", "satellite"),
    "relative_orbit": ("int", "sat:relative_orbit"),
    "processing_version": ("string", "processing:version (baseline)"),
    "assets": ("string", "asset key -> href, as JSON"),
}
# name -> the STAC name the catalog filters and sorts on (``assets`` is not searchable).
STAC_NAMES: dict[str, str] = {
    "scene_id": "id",
    "collection": "collection",
    "datetime": "datetime",
    "cloud_cover": "eo:cloud_cover",
    "grid_code": "grid:code",
    "platform": "platform",
    "relative_orbit": "sat:relative_orbit",
    "processing_version": "processing:version",
    GEOMETRY: "geometry",
}
NEVER_NULL = frozenset({"id", "collection", "datetime", "geometry"})  # STAC names
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
            "processing_version": scene.processing_version,
            "assets": json.dumps({a.key: a.href for a in scene.assets}, sort_keys=True),
        },
        geometry=shape(scene.geometry) if scene.geometry else box(*scene.bbox),
    )


ALIASES = {
    "eo:cloud_cover": "cloud_cover",
    "grid:code": "grid_code",
    "sat:relative_orbit": "relative_orbit",
    "processing:version": "processing_version",
    "id": "scene_id",
}


def property_name(reference: str) -> str:
    """A ValueReference / PROPERTYNAME (``cdse:cloud_cover``, ``eo:cloud_cover``...) -> name."""
    text = reference.strip().split("/")[-1]
    if text in ALIASES:
        return ALIASES[text]
    return text.split(":", 1)[1] if ":" in text else text
