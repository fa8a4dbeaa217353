"""The WFS 2.0.0 door: ``/wfs`` and ``/ows?SERVICE=WFS``; errors rendered once, here."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.doors import Door
from gateway.errors import GatewayError, InvalidParameterValue, MissingParameterValue
from gateway.ows.crs import parse_ows_crs
from gateway.ows.exceptions import Dialect, error_response
from gateway.ows.kvp import Kvp, negotiate_version, read_kvp
from gateway.ows.scenes import SceneIndex
from gateway.ows.wfs import documents, encode
from gateway.ows.wfs.documents import GET_FEATURE_BY_ID, OPERATIONS
from gateway.ows.wfs.features import GEOMETRY, PROPERTIES, Feature, property_name, scene_feature
from gateway.ows.wfs.query import (
    MAX_COUNT,
    Query,
    not_found,
    output_is_json,
    parse_query,
    type_names,
)
from gateway.ows.xml import xml_response
from gateway.runtime import Runtime

GML_MEDIA_TYPE = "application/gml+xml; version=3.2"
GEOJSON_MEDIA_TYPE = "application/geo+json"
GML_SCHEMA = "http://schemas.opengis.net/gml/3.2.1/gml.xsd"


class WfsService:
    """Answers one WFS 2.0.0 KVP request (synchronously; the door runs it in a thread)."""

    def __init__(self, runtime: Runtime, scenes: SceneIndex) -> None:
        self.runtime = runtime
        self.scenes = scenes

    def collections(self) -> list[str]:
        return [c.id for c in self.runtime.config.collections]

    def features(self, query: Query) -> list[Feature]:
        """Candidate footprints of ``query``'s types, narrowed by its BBOX/TIME in the catalog."""
        return [
            scene_feature(scene)
            for name in query.type_names
            for scene in self.scenes.scenes(name, query.search_bbox, query.search_time)
        ]

    def handle(self, kvp: Kvp, url: str) -> Response:
        try:
            operation = kvp.require("REQUEST")
            if operation.lower() == "getcapabilities":
                negotiate_version(kvp, ("2.0.0",), "2.0.0")
            elif kvp.text("VERSION") not in ("2.0.0", "2.0.2"):
                kvp.require("VERSION")
                raise InvalidParameterValue("VERSION must be 2.0.0", locator="version")
            service = kvp.text("SERVICE")
            if service is not None and service.upper() != "WFS":
                raise InvalidParameterValue("SERVICE must be WFS", locator="service")
            for name in OPERATIONS:
                if name.lower() == operation.lower():
                    return getattr(self, name.lower())(kvp, url)
            raise GatewayError(
                f"unknown operation {operation[:40]!r}",
                locator="request",
                code="OperationNotSupported",
            )
        except Exception as error:  # rendered once, here
            return error_response(error, Dialect.OWS11, version="2.0.0")

    def getcapabilities(self, kvp: Kvp, url: str) -> Response:
        types = []
        for conf in self.runtime.config.collections:
            summary = self.scenes.summary(conf.id)
            types.append((conf.id, conf.title, summary.bbox))
        return xml_response(documents.capabilities(types, url + "?", MAX_COUNT))

    def describefeaturetype(self, kvp: Kvp, url: str) -> Response:
        names = type_names(kvp, self.collections(), required=False)
        schema = documents.feature_schema(names, GML_SCHEMA)
        return xml_response(schema, GML_MEDIA_TYPE)

    def liststoredqueries(self, kvp: Kvp, url: str) -> Response:
        return xml_response(documents.list_stored_queries(self.collections()))

    def describestoredqueries(self, kvp: Kvp, url: str) -> Response:
        wanted = kvp.text("STOREDQUERY_ID")
        if wanted is not None and wanted != GET_FEATURE_BY_ID:
            raise InvalidParameterValue("unknown stored query", locator="storedQuery_Id")
        return xml_response(documents.describe_stored_queries(self.collections()))

    def getfeature(self, kvp: Kvp, url: str) -> Response:
        stored = kvp.text("STOREDQUERY_ID")
        if stored is not None:
            return self._feature_by_id(kvp, stored)
        query = parse_query(kvp, self.collections())
        page, matched = query.select(self.features(query))
        if query.json:
            body = encode.geojson(
                page, matched, query.crs, properties=query.properties, hits=query.hits
            )
            return Response(json.dumps(body), media_type=GEOJSON_MEDIA_TYPE)
        next_url = None
        if query.start + len(page) < matched and page:
            params = {k: v for k, v in kvp.items() if k not in ("STARTINDEX",)}
            params["STARTINDEX"] = str(query.start + len(page))
            next_url = f"{url}?{urlencode(params)}"
        root = encode.feature_collection(
            page,
            matched,
            query.crs,
            properties=query.properties,
            hits=query.hits,
            next_url=next_url,
        )
        return xml_response(root, GML_MEDIA_TYPE)

    def _feature_by_id(self, kvp: Kvp, stored: str) -> Response:
        if stored != GET_FEATURE_BY_ID:
            raise InvalidParameterValue("unknown stored query", locator="storedQuery_Id")
        fid = kvp.text("ID")
        if fid is None:
            raise MissingParameterValue("missing parameter ID", locator="ID")
        query = Query(type_names=self.collections(), json=output_is_json(kvp))
        if kvp.text("SRSNAME"):
            query.crs = parse_ows_crs(kvp.require("SRSNAME"), "srsName")
        found = [f for f in self.features(query) if f.fid == fid]
        if not found:
            raise not_found(fid)
        if query.json:
            body = encode.geojson(found, 1, query.crs)["features"][0]
            return Response(json.dumps(body), media_type=GEOJSON_MEDIA_TYPE)
        return xml_response(encode.feature_element(found[0], query.crs), GML_MEDIA_TYPE)

    def getpropertyvalue(self, kvp: Kvp, url: str) -> Response:
        reference = kvp.require("VALUEREFERENCE")
        name = property_name(reference)
        if name not in PROPERTIES and name != GEOMETRY:
            raise InvalidParameterValue(f"unknown property {name[:40]!r}", locator="valueReference")
        query = parse_query(kvp, self.collections())
        page, matched = query.select(self.features(query))
        values, fids = [], []
        for feature in page:
            value = feature.geometry if name == GEOMETRY else feature.properties.get(name)
            if value is not None:
                values.append(value)
                fids.append(feature.fid)
        return xml_response(encode.value_collection(values, matched, query.crs, fids))


def build_door(runtime: Runtime) -> Door:
    """The WFS door: ``GET /wfs`` and ``SERVICE=WFS`` on ``/ows``."""
    service = WfsService(runtime, SceneIndex(runtime.engine.catalog))

    async def endpoint(request: Request) -> Response:
        try:
            kvp = await read_kvp(request)
        except GatewayError as error:
            return error_response(error, Dialect.OWS11, version="2.0.0")
        root = request.scope.get("root_path", "").removesuffix("/ows")
        url = f"{request.url.scheme}://{request.url.netloc}{root}/wfs"
        return await run_in_threadpool(service.handle, kvp, url)

    route = Route("/wfs", endpoint, methods=["GET", "POST"])
    return Door(routes=[route], ows_services={"WFS": route}, ows_path={"WFS": "/wfs"})
