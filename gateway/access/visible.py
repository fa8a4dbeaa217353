"""What the current caller may see, for the doors that list collections and layers in their
capabilities (WCS, WFS, OGC API collections) or read names from request bodies."""

from __future__ import annotations

from gateway.access.callers import current_caller


def may_use_collection(collection_id: str) -> bool:
    return current_caller().grant.collection(collection_id)


def may_use_layer(name: str, collection_id: str) -> bool:
    return current_caller().grant.layer(name, collection_id)
