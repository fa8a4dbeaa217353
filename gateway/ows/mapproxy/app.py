"""Build the MapProxy WSGI app from a configuration dict (no YAML file)."""

from __future__ import annotations

import functools
from copy import deepcopy
from typing import Any

from mapproxy.config.config import finish_base_config, load_default_config
from mapproxy.config.configuration.proxy import ProxyConfiguration
from mapproxy.config.loader import load_plugins
from mapproxy.config.spec import validate_options
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
