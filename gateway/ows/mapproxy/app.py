"""Build the MapProxy WSGI app from a configuration dict (no YAML file)."""

from __future__ import annotations

import functools
import re
from copy import deepcopy
from typing import Any

from mapproxy.config.config import finish_base_config, load_default_config
from mapproxy.config.configuration.proxy import ProxyConfiguration
from mapproxy.config.loader import load_plugins
from mapproxy.config.spec import validate_options
from mapproxy.service.wmts import Capabilities, WMTSServer
from mapproxy.wsgiapp import MapProxyApp

from gateway.errors import GatewayError


class MapProxyConfigError(GatewayError):
    """The generated MapProxy configuration does not validate (a bug, not a client error)."""


def build_mapproxy(conf: dict[str, Any], base_dir: str) -> tuple[MapProxyApp, ProxyConfiguration]:
    """Validate ``conf`` and build the app; also returns the configuration (grids, layers)."""
    load_plugins()
    errors, informal_only = validate_options(deepcopy(conf))
    if not informal_only:
        raise MapProxyConfigError("invalid MapProxy configuration: " + "; ".join(errors))
    proxy = ProxyConfiguration(deepcopy(conf), conf_base_dir=base_dir)
    return MapProxyApp(proxy.configured_services(), proxy.base_config), proxy


@functools.cache
def default_base_config() -> Any:
    """MapProxy's default system configuration, for MapProxy code run outside a request."""
    config = load_default_config()
    config.conf_base_dir = "."
    finish_base_config(config)
    return config


def time_dimensions(proxy: ProxyConfiguration) -> list[tuple[str, Any]]:
    """(layer name, MapProxy ``Dimension``) for TIME, as the services built from ``proxy`` use
    them: one per WMTS layer (shared by its tile matrix sets) and one per WMS layer."""
    found = []
    for name, layer in proxy.layers.items():  # the WMTS tile layers' (memoized: the ones in use)
        if "dimensions" in layer.conf:
            found.append((name, layer.dimensions().get("time")))
    pending = [proxy.wms_root_layer.wms_layer()] if proxy.wms_root_layer else []
    while pending:  # the WMS layer tree, built from its own layer configurations
        layer = pending.pop()
        pending += [*getattr(layer, "layers", []), *filter(None, [getattr(layer, "this", None)])]
        dimensions = getattr(layer, "dimensions", None) or {}
        found.append((layer.name, dimensions.get("time")))
    return [(name, dimension) for name, dimension in found if dimension is not None]


class _KvpCapabilities(Capabilities):
    """MapProxy 7's KVP WMTS capabilities template names dimensions through ``dimension_keys``
    but only the REST variant supplies it (NameError for any layer with a dimension). Its
    operation URLs end in MapProxy's own ``/service``; the door answers KVP at ``/wmts``."""

    def template_context(self) -> dict[str, Any]:
        context = super().template_context()
        names = {name for layer in self.layers for name in layer.dimensions}
        context.setdefault("dimension_keys", {name: name.capitalize() for name in names})
        service = context["service"]
        service.url = re.sub(r"/service$", "/wmts", service.url)
        return context


def fix_kvp_capabilities(app: MapProxyApp) -> None:
    """Give the KVP WMTS service the capabilities class above."""
    for handler in app.handlers.values():
        # The KVP service sits inside MapProxy's OWS dispatcher (``/service``, ``/ows``).
        for service in [handler, *getattr(handler, "services", {}).values()]:
            if type(service) is WMTSServer:
                service.capabilities_class = _KvpCapabilities
