"""``/ogcapi/collections`` listing only the collections and layers the caller may use.

pygeoapi lists every resource of its configuration; the door answers the listing with
pygeoapi's own handler on a view of its API whose resources are the caller's (a shallow copy
per request: the shared configuration is never changed).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from gateway.access.visible import may_use
from gateway.config import GatewayConfig


def visible_collections(config: GatewayConfig) -> Callable[..., Any]:
    """pygeoapi's ``describe_collections`` on the caller's resources."""
    from pygeoapi.api import describe_collections

    def describe(api: Any, request: Any, *ids: str) -> Any:
        resources = api.config["resources"]
        kept = {name: r for name, r in resources.items() if may_use(config, name)}
        if len(kept) != len(resources):
            view = copy.copy(api)
            view.config = {**api.config, "resources": kept}
            api = view
        return describe_collections(api, request, *ids)

    return describe
