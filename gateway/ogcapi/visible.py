"""OGC API answers listing only what the caller may use: ``/collections``, the landing page's
links and the OpenAPI document.

pygeoapi lists every resource of its configuration and every path of its generated OpenAPI
document. The door answers these paths with pygeoapi's own handlers on a view of its API
(``_compat.api_view``: a shallow copy per request, the shared API never changed) whose
resources are the caller's, and filters the generated landing page and OpenAPI document with
the check the access middleware makes of a request (``gateway.access.visible.may_request``):
a path is listed when the caller may request it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.access.callers import current_caller
from gateway.access.grants import EVERYTHING
from gateway.access.visible import may_request
from gateway.config import GatewayConfig
from gateway.ogcapi._compat import api_view, landing_links, openapi_document

METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
Allowed = Callable[[str, str], bool]  # (path below the API's base, HTTP method)


def _allowed(config: GatewayConfig, prefix: str) -> Allowed:
    return lambda path, method: may_request(config, prefix + path, method)


def _path(name: str, resource: dict[str, Any]) -> str:
    """The path of a resource of pygeoapi's configuration."""
    return f"/processes/{name}" if resource.get("type") == "process" else f"/collections/{name}"


def _caller_view(api: Any, allowed: Allowed) -> Any:
    """``api`` with only the collections and processes the caller may request."""
    resources = api.config["resources"]
    kept = {name: r for name, r in resources.items() if allowed(_path(name, r), "GET")}
    if len(kept) == len(resources):
        return api
    return api_view(api, config={**api.config, "resources": kept})


def visible_collections(config: GatewayConfig, prefix: str) -> Callable[..., Any]:
    """pygeoapi's ``describe_collections`` on the caller's resources."""
    from pygeoapi.api import describe_collections

    allowed = _allowed(config, prefix)

    def describe(api: Any, request: Any, *ids: str) -> Any:
        return describe_collections(_caller_view(api, allowed), request, *ids)

    return describe


def openapi_for(document: dict[str, Any], allowed: Allowed) -> dict[str, Any]:
    """``document`` with only its ``allowed`` operations: a path left without any goes, and
    a tag only operations that went used."""
    paths: dict[str, Any] = {}
    used: set[str] = set()
    unused: set[str] = set()
    for path, item in document["paths"].items():
        kept = {}
        for key, value in item.items():
            if key not in METHODS:  # parameters, summary...
                kept[key] = value
                continue
            tags = set(value.get("tags", ()))
            if allowed(path, key.upper()):
                kept[key] = value
                used |= tags
            else:
                unused |= tags
        if METHODS & kept.keys():
            paths[path] = kept
    described = {**document, "paths": paths}
    if "tags" in document:
        gone = unused - used
        described["tags"] = [tag for tag in document["tags"] if tag.get("name") not in gone]
    return described


def visible_openapi(config: GatewayConfig, prefix: str, api: Any) -> Callable[..., Any]:
    """pygeoapi's ``openapi_`` answering the caller's part of ``api``'s document."""
    from pygeoapi.api import openapi_

    document = openapi_document(api)
    allowed = _allowed(config, prefix)

    def describe(api: Any, request: Any) -> Any:
        if current_caller().grant == EVERYTHING:
            return openapi_(api, request)
        return openapi_(api_view(api, openapi=openapi_for(document, allowed)), request)

    return describe


def _below(href: str, base: str) -> str | None:
    """``href``'s path below ``base`` (``/`` for the base itself), or None when outside it."""
    if not href.startswith(base) or href[len(base) : len(base) + 1] not in ("", "/", "?"):
        return None
    return href[len(base) :].partition("?")[0] or "/"


def visible_landing_page(config: GatewayConfig, prefix: str) -> Callable[..., Any]:
    """pygeoapi's ``landing_page`` on the caller's resources, its JSON links only to the paths
    the caller may request."""
    from pygeoapi.api import landing_page

    allowed = _allowed(config, prefix)

    def land(api: Any, request: Any) -> Any:
        if current_caller().grant == EVERYTHING:
            return landing_page(api, request)
        headers, status, content = landing_page(_caller_view(api, allowed), request)

        def keep(link: dict[str, Any]) -> bool:
            path = _below(str(link.get("href", "")), api.base_url)
            return path is None or allowed(path, "GET")

        return headers, status, landing_links(api, content, keep)

    return land
