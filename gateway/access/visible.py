"""What the current caller may see, for the doors that list collections and layers in their
capabilities or read names from request bodies."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.access.callers import current_caller
from gateway.access.grants import Grant

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


def may_use_collection(collection_id: str) -> bool:
    return current_caller().grant.collection(collection_id)


def may_use_layer(name: str, collection_id: str) -> bool:
    return current_caller().grant.layer(name, collection_id)


def restricted() -> bool:
    """Whether the current caller may not see every collection and layer."""
    grant = current_caller().grant
    return grant.collections is not None or grant.layers is not None
