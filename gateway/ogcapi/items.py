"""``/collections/{id}/items`` in front of pygeoapi's own handler.

GDAL's OAPIF driver and other clients ask every collection for items. pygeoapi 0.24 answers
those of a collection without features (the layers: coverage, tiles and map only) with a 400
"Invalid provider type" and fails with a 500 on a POST without a Content-Type; the door
answers them with a 404 and a 415 problem detail instead and hands every other request on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from types import ModuleType
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.ogcapi.endpoints import problem

FEATURE_TYPES = ("feature", "record")


def feature_collections(resources: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """The ids of the configured collections that have features."""
    return {
        name
        for name, resource in resources.items()
        if resource.get("type") == "collection"
        and any(p.get("type") in FEATURE_TYPES for p in resource.get("providers", []))
    }


def items_endpoint(starlette_app: ModuleType) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of ``/collections/{collection_id}/items[/{item_id}]`` of the door's
    pygeoapi module."""
    resources = starlette_app.CONFIG["resources"]
    with_features = feature_collections(resources)
    without_features = {n for n, r in resources.items() if r.get("type") == "collection"}
    without_features -= with_features

    async def endpoint(request: Request) -> Response:
        collection = request.path_params["collection_id"]
        if collection in without_features:
            message = f"collection {collection!r} has no items (it has coverage, tiles and map)"
            return await problem(starlette_app, request, HTTPStatus.NOT_FOUND, "NotFound", message)
        if request.method == "POST" and not request.headers.get("content-type"):
            message = (
                "a POST to /items is a CQL2-JSON query: Content-Type application/query-cql-json"
            )
            status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
            return await problem(starlette_app, request, status, "InvalidParameterValue", message)
        return await starlette_app.collection_items(request)

    return endpoint
