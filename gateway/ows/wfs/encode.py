"""Footprints out: GML 3.2 (WFS 2.0 FeatureCollection, single features, values) and GeoJSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from lxml import etree
from shapely.geometry import MultiPolygon, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from gateway.core.grid import WGS84
from gateway.ows.crs import OwsCrs, reproject_geometry
from gateway.ows.wfs.documents import GML_SCHEMA, WFS_SCHEMA, schema_location
from gateway.ows.wfs.features import GEOMETRY, NAMESPACE, PREFIX, PROPERTIES, Feature
from gateway.ows.xml import XSI, fmt, iso, sub, xml_chunked

WFS = "http://www.opengis.net/wfs/2.0"
GML = "http://www.opengis.net/gml/3.2"
NSMAP = {"wfs": WFS, "gml": GML, PREFIX: NAMESPACE, "xsi": XSI}


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def project(geometry: BaseGeometry, crs: OwsCrs) -> BaseGeometry:
    """A lon/lat geometry in ``crs`` (x/y)."""
    return reproject_geometry(geometry, WGS84, crs.crs)


def _poslist(coords: Any, crs: OwsCrs) -> str:
    values = []
    for x, y, *_ in coords:
        a, b = (y, x) if crs.north_first else (x, y)
        values += [fmt(a), fmt(b)]
    return " ".join(values)


def _polygon(parent: etree._Element, polygon: Polygon, crs: OwsCrs, gid: str) -> None:
    element = sub(parent, _q(GML, "Polygon"), srsName=crs.urn, **{_q(GML, "id"): gid})
    ring = sub(sub(element, _q(GML, "exterior")), _q(GML, "LinearRing"))
    sub(ring, _q(GML, "posList"), _poslist(polygon.exterior.coords, crs), srsDimension="2")
    for interior in polygon.interiors:
        ring = sub(sub(element, _q(GML, "interior")), _q(GML, "LinearRing"))
        sub(ring, _q(GML, "posList"), _poslist(interior.coords, crs), srsDimension="2")


def gml_geometry(parent: etree._Element, geometry: BaseGeometry, crs: OwsCrs, gid: str) -> None:
    """Append a GML 3.2 Polygon or MultiSurface of ``geometry`` (already in ``crs``)."""
    if isinstance(geometry, Polygon):
        _polygon(parent, geometry, crs, gid)
        return
    polygons = list(geometry.geoms) if isinstance(geometry, MultiPolygon) else []
    multi = sub(parent, _q(GML, "MultiSurface"), srsName=crs.urn, **{_q(GML, "id"): gid})
    for index, polygon in enumerate(polygons):
        _polygon(sub(multi, _q(GML, "surfaceMember")), polygon, crs, f"{gid}.{index}")


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, float):
        return fmt(value)
    return str(value)


def feature_element(
    feature: Feature, crs: OwsCrs, properties: tuple[str, ...] | None = None
) -> etree._Element:
    """``<cdse:{type} gml:id=...>`` with its properties in schema order."""
    element = etree.Element(_q(NAMESPACE, feature.type_name), nsmap=NSMAP)
    element.set(_q(GML, "id"), feature.fid)
    geometry = project(feature.geometry, crs)
    minx, miny, maxx, maxy = geometry.bounds
    envelope = sub(sub(element, _q(GML, "boundedBy")), _q(GML, "Envelope"), srsName=crs.urn)
    lower, upper = crs.xy(minx, miny), crs.xy(maxx, maxy)  # xy() is symmetric: swaps back
    sub(envelope, _q(GML, "lowerCorner"), f"{fmt(lower[0])} {fmt(lower[1])}")
    sub(envelope, _q(GML, "upperCorner"), f"{fmt(upper[0])} {fmt(upper[1])}")
    for name in PROPERTIES:
        value = feature.properties.get(name)
        if value is not None and (properties is None or name in properties):
            sub(element, _q(NAMESPACE, name), _text(value))
    if properties is None or GEOMETRY in properties:
        holder = sub(element, _q(NAMESPACE, GEOMETRY))
        gml_geometry(holder, geometry, crs, f"{feature.fid}.geom")
    return element


def feature_document(feature: Feature, crs: OwsCrs, feature_schema: str) -> etree._Element:
    """One feature as a document of its own (GetFeatureById), naming its schema
    (``feature_schema``: the DescribeFeatureType URL of its type)."""
    element = feature_element(feature, crs)
    schema_location(element, (NAMESPACE, feature_schema))
    return element


def _counted(tag: str, matched: int | None, returned: int, links: dict[str, str]) -> etree._Element:
    """A wfs:FeatureCollection or wfs:ValueCollection with its counts and paging links."""
    root = etree.Element(_q(WFS, tag), nsmap=NSMAP)
    root.set("timeStamp", iso(datetime.now(UTC)))
    root.set("numberMatched", "unknown" if matched is None else str(matched))
    root.set("numberReturned", str(returned))
    for rel in ("next", "previous"):
        if rel in links:
            root.set(rel, links[rel])
    return root


def feature_collection(
    features: list[Feature],
    matched: int | None,
    crs: OwsCrs,
    *,
    properties: tuple[str, ...] | None = None,
    hits: bool = False,
    links: dict[str, str] | None = None,
    feature_schema: str | None = None,
) -> bytes | memoryview:
    """The document, encoded a feature at a time (``xml_chunked``). ``links``: rel (next,
    previous) -> URL; ``feature_schema``: the DescribeFeatureType URL of the queried types,
    named in ``xsi:schemaLocation`` with WFS 2.0's (what the features need; the door always
    gives it)."""
    root = _counted("FeatureCollection", matched, 0 if hits else len(features), links or {})
    features_schema = [(NAMESPACE, feature_schema)] if feature_schema else []
    schema_location(root, (WFS, WFS_SCHEMA), *features_schema)

    def member(feature: Feature) -> etree._Element:
        element = etree.Element(_q(WFS, "member"), nsmap=NSMAP)
        element.append(feature_element(feature, crs, properties))
        return element

    return xml_chunked(root, () if hits else (member(f) for f in features))


def value_collection(
    values: list[Any],
    matched: int | None,
    crs: OwsCrs,
    fids: list[str],
    links: dict[str, str] | None = None,
) -> etree._Element:
    root = _counted("ValueCollection", matched, len(values), links or {})
    schema_location(root, (WFS, WFS_SCHEMA), (GML, GML_SCHEMA))  # values may be geometries
    for value, fid in zip(values, fids, strict=True):
        member = sub(root, _q(WFS, "member"))
        if isinstance(value, BaseGeometry):
            gml_geometry(member, project(value, crs), crs, f"{fid}.value")
        else:
            member.text = _text(value)
    return root


def geojson_feature(
    feature: Feature, crs: OwsCrs, properties: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """A GeoJSON Feature (coordinates x/y in ``crs``), with ``properties`` only if given."""
    props = {
        k: (iso(v) if isinstance(v, datetime) else v)
        for k, v in feature.properties.items()
        if properties is None or k in properties
    }
    if "assets" in props:
        props["assets"] = json.loads(props["assets"])
    keep_geometry = properties is None or GEOMETRY in properties
    return {
        "type": "Feature",
        "id": feature.fid,
        "geometry": mapping(project(feature.geometry, crs)) if keep_geometry else None,
        "properties": props,
    }


def geojson(
    features: list[Feature],
    matched: int | None,
    crs: OwsCrs,
    *,
    properties: tuple[str, ...] | None = None,
    hits: bool = False,
    links: dict[str, str] | None = None,
) -> memoryview:
    """A GeoJSON FeatureCollection (coordinates x/y in ``crs``; CRS84 by default) with
    numberMatched (left out when unknown), numberReturned and next/previous links, as
    ``json.dumps`` writes it, encoded a feature at a time."""
    body: dict[str, Any] = {"type": "FeatureCollection"}
    if matched is not None:
        body["numberMatched"] = matched
    body["numberReturned"] = 0 if hits else len(features)
    body["timeStamp"] = iso(datetime.now(UTC))
    body["links"] = [
        {"rel": rel, "href": href, "type": "application/geo+json"}
        for rel, href in (links or {}).items()
    ]
    out = bytearray(json.dumps(body)[:-1].encode())
    out += b', "features": ['
    for index, feature in enumerate(() if hits else features):
        out += (", " if index else "").encode() + json.dumps(
            geojson_feature(feature, crs, properties)
        ).encode()
    out += b"]}"
    return memoryview(out)
