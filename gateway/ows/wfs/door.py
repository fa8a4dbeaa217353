"""The WFS 2.0.0 door: ``/wfs`` and ``/ows?SERVICE=WFS``, on the OWS service base.

Requests come as KVP (GET, or a form-encoded POST) or as XML (POST); XML is read into the
same KVP (``xml_requests``), so both take one code path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar, cast
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from gateway.access.visible import may_use_collection
from gateway.core.catalog import PagedCatalog
from gateway.doors import Door
from gateway.errors import InvalidParameterValue, MissingParameterValue
from gateway.ows.crs import parse_ows_crs
from gateway.ows.exceptions import OWS_CODES, Dialect
from gateway.ows.kvp import Kvp, Received, parse_kvp, split_list
from gateway.ows.service import Operation, OwsService, service_url
from gateway.ows.wfs import documents, encode
from gateway.ows.wfs.documents import GET_FEATURE_BY_ID, OPERATIONS
from gateway.ows.wfs.features import GEOMETRY, PROPERTIES, property_name
from gateway.ows.wfs.query import (
    Query,
    not_found,
    output_is_json,
    parse_query,
    resource_constraint,
    type_names,
)
from gateway.ows.wfs.select import select
from gateway.ows.wfs.xml_requests import kvp_from_xml, looks_like_xml
from gateway.ows.xml import xml_response
from gateway.runtime import Runtime

GML_MEDIA_TYPE = "application/gml+xml; version=3.2"
GEOJSON_MEDIA_TYPE = "application/geo+json"


def page_links(kvp: Kvp, url: str, query: Query, returned: int, matched: int | None) -> dict:
    """``next`` / ``previous`` (rel -> URL): the same request, as KVP, at another STARTINDEX."""
    if query.hits or query.count == 0:
        return {}

    def at(start: int) -> str:
        params = {"SERVICE": "WFS", "VERSION": "2.0.0"}
        params.update({k: v for k, v in kvp.items() if k != "STARTINDEX"})
        params["STARTINDEX"] = str(start)
        return f"{url}?{urlencode(params)}"

    links = {}
    more = query.start + returned < matched if matched is not None else returned == query.count
    if more and returned:
        links["next"] = at(query.start + returned)
    if query.start > 0:
        links["previous"] = at(max(0, query.start - query.count))
    return links


class WfsService(OwsService[str]):
    """Answers one WFS 2.0.0 request (synchronously; the door runs it in a thread); every
    operation is told the door's URL."""

    SERVICE = "WFS"
    VERSIONS = ("2.0.0",)
    ALIASES: ClassVar[Mapping[str, str]] = {"2.0.2": "2.0.0"}  # the corrigendum
    DIALECTS: ClassVar[Mapping[str, tuple[Dialect, Mapping[str, str]]]] = {
        "2.0.0": (Dialect.OWS11, OWS_CODES)
    }

    def __init__(self, runtime: Runtime, catalog: PagedCatalog) -> None:
        self.runtime = runtime
        self.catalog = catalog
        self.count_default = runtime.settings.wfs_count_default
        self.scan_limit = runtime.settings.wfs_scan_limit
        super().__init__()

    def operations(self, version: str) -> Mapping[str, Operation[str]]:
        return {name: getattr(self, name.lower()) for name in OPERATIONS}

    def read(self, received: Received) -> Kvp:
        return request_kvp(received)

    def collections(self) -> list[str]:
        """The feature types the current caller may use (others are unknown to it)."""
        return [c.id for c in self.runtime.config.collections if may_use_collection(c.id)]

    def getcapabilities(self, kvp: Kvp, url: str) -> Response:
        types = [
            (conf.id, conf.title, self.runtime.summaries.get(conf.id).extent)
            for conf in self.runtime.config.collections
            if may_use_collection(conf.id)
        ]
        return xml_response(documents.capabilities(types, url, self.count_default))

    def describefeaturetype(self, kvp: Kvp, url: str) -> Response:
        names = type_names(kvp, self.collections(), required=False)
        schema = documents.feature_schema(names, documents.GML_SCHEMA)
        return xml_response(schema, GML_MEDIA_TYPE)

    def liststoredqueries(self, kvp: Kvp, url: str) -> Response:
        return xml_response(documents.list_stored_queries(self.collections()))

    def describestoredqueries(self, kvp: Kvp, url: str) -> Response:
        if any(q != GET_FEATURE_BY_ID for q in split_list(kvp.text("STOREDQUERY_ID"))):
            raise InvalidParameterValue("unknown stored query", locator="storedQuery_Id")
        return xml_response(documents.describe_stored_queries(self.collections()))

    def getfeature(self, kvp: Kvp, url: str) -> Response:
        stored = kvp.text("STOREDQUERY_ID")
        if stored is not None:
            return self._feature_by_id(kvp, stored, url)
        query = parse_query(kvp, self.collections(), self.count_default)
        page, matched = select(self.catalog, query, scan_limit=self.scan_limit)
        links = page_links(kvp, url, query, len(page), matched)
        options: dict[str, Any] = {
            "properties": query.properties,
            "hits": query.hits,
            "links": links,
        }
        body: bytes | memoryview
        if query.json:
            body = encode.geojson(page, matched, query.crs, **options)
            return Response(body, media_type=GEOJSON_MEDIA_TYPE)
        schema = documents.feature_schema_url(url, query.type_names)
        body = encode.feature_collection(page, matched, query.crs, **options, feature_schema=schema)
        return Response(body, media_type=GML_MEDIA_TYPE)

    def _feature_by_id(self, kvp: Kvp, stored: str, url: str) -> Response:
        if stored != GET_FEATURE_BY_ID:
            raise InvalidParameterValue("unknown stored query", locator="storedQuery_Id")
        fid = kvp.text("ID")
        if fid is None:
            raise MissingParameterValue("missing parameter ID", locator="ID")
        query = Query(type_names=self.collections(), json=output_is_json(kvp), count=1)
        query.constraints.append(resource_constraint([fid]))
        if kvp.text("SRSNAME"):
            query.crs = parse_ows_crs(kvp.require("SRSNAME"), "srsName")
        found, _ = select(self.catalog, query, scan_limit=self.scan_limit)
        if not found:
            raise not_found(fid)
        if query.json:
            body = encode.geojson_feature(found[0], query.crs)
            return Response(json.dumps(body), media_type=GEOJSON_MEDIA_TYPE)
        schema = documents.feature_schema_url(url, [found[0].type_name])
        return xml_response(encode.feature_document(found[0], query.crs, schema), GML_MEDIA_TYPE)

    def getpropertyvalue(self, kvp: Kvp, url: str) -> Response:
        reference = kvp.require("VALUEREFERENCE")
        name = property_name(reference)
        if name not in PROPERTIES and name != GEOMETRY:
            raise InvalidParameterValue(f"unknown property {name[:40]!r}", locator="valueReference")
        query = parse_query(kvp, self.collections(), self.count_default)
        page, matched = select(self.catalog, query, scan_limit=self.scan_limit)
        values, fids = [], []
        for feature in page:
            value = feature.geometry if name == GEOMETRY else feature.properties.get(name)
            if value is not None:
                values.append(value)
                fids.append(feature.fid)
        links = page_links(kvp, url, query, len(page), matched)
        return xml_response(encode.value_collection(values, matched, query.crs, fids, links))


def request_kvp(received: Received) -> Kvp:
    """KVP of a GET, of a form-encoded POST, or read from an XML POST body."""
    if received.method == "POST" and looks_like_xml(received.body):
        return kvp_from_xml(received.body)
    return parse_kvp(received)


def _url(request: Request) -> str:
    return service_url(request, "/wfs")


def build_door(runtime: Runtime) -> Door:
    """The WFS door: ``/wfs`` (GET and POST) and ``SERVICE=WFS`` on ``/ows``."""
    catalog = cast(PagedCatalog, runtime.engine.catalog)  # every backend pages (make_catalog)
    return WfsService(runtime, catalog).door("/wfs", _url)
