"""What the current caller may see, for the doors that list collections and layers in their
capabilities or read names from request bodies, and the one check of a request's URL against
a grant (the middleware's, and the listings' of the paths a caller may request)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.access.callers import current_caller
from gateway.access.grants import Grant
from gateway.access.names import NO_DOOR, door_of, named
from gateway.errors import Forbidden

if TYPE_CHECKING:
    from gateway.config import GatewayConfig


def allows(grant: Grant, config: GatewayConfig, name: str) -> bool:
    """Whether ``grant`` allows the layer or collection ``name`` (names of neither: yes, the
    door answers them)."""
    layer = config.layer(name)
    if layer is not None:
        return grant.layer(layer.name, layer.collection)
    if config.collection(name) is not None:
        return grant.collection(name)
    return True


def may_use(config: GatewayConfig, name: str) -> bool:
    """``allows`` for the current caller."""
    return allows(current_caller().grant, config, name)


def may_use_door(door: str) -> bool:
    """Whether the current caller may use ``door`` (``wmts``, ``wcs``...)."""
    return current_caller().grant.door(door)


def may_use_collection(collection_id: str) -> bool:
    return current_caller().grant.collection(collection_id)


def may_use_layer(name: str, collection_id: str) -> bool:
    return current_caller().grant.layer(name, collection_id)


def restricted() -> bool:
    """Whether the current caller may not see every collection and layer."""
    grant = current_caller().grant
    return grant.collections is not None or grant.layers is not None


def refusal(
    grant: Grant, config: GatewayConfig, door: str, path: str, method: str,
    params: Mapping[str, str],
) -> Forbidden | None:  # fmt: skip
    """Why ``grant`` does not allow the request (None: it does): its door, every collection
    and layer its URL names (``path``: ``names.app_path``; ``params``: the query, names upper
    case), running a process when it runs one."""
    if not grant.door(door):
        return Forbidden(f"these credentials do not allow the {door} service")
    if door == "processes" and method == "POST" and not grant.processes:
        return Forbidden("these credentials do not allow running processes")
    if grant.collections is None and grant.layers is None:
        return None
    for name in named(path, params):
        if not allows(grant, config, name):
            return Forbidden(f"these credentials do not allow {name[:60]!r}", locator=name[:60])
    return None


def may_request(config: GatewayConfig, path: str, method: str = "GET") -> bool:
    """Whether the current caller may send ``method`` to ``path`` (``names.app_path``, no
    query) of a door reached by its path (not ``/ows``)."""
    door = door_of(path, {}, lambda scope: NO_DOOR)
    return refusal(current_caller().grant, config, door, path, method, {}) is None
