"""Everything the WMS/WMTS door does to MapProxy beyond configuring it, in one place.

Written for MapProxy 7.0.0 (pinned in pyproject.toml). tests/test_mapproxy_compat.py holds a
test for each item that fails when MapProxy changes the behaviour it answers, so that the
patch can be dropped or adapted when the pin moves.

- MapProxy hands a source only an area, a size and a CRS: ``with_request_context`` gives the
  sources the request's parameters (TIME, MAXCC, PRIORITY, EXPRESSION, STYLES) through
  ``gateway.context``.
- MapProxy refuses every STYLES but the default one: the door checks STYLES itself and hands
  the value on under ``STYLES_KEY``, which MapProxy ignores and the sources read as STYLES.
- MapProxy's KVP WMTS capabilities fail with a NameError on a layer with a dimension and name
  MapProxy's own ``/service`` in their operation URLs: ``fix_kvp_capabilities``.
- MapProxy writes ``nearestValue="0"`` on every dimension, and the WMS 1.3.0 form of a
  dimension into WMS 1.1.1 capabilities: ``nearest_time_values`` and ``wms111_dimensions``.
- MapProxy keeps one ``Dimension`` (a list with a ``default``) per layer and reads it whenever
  it writes capabilities: ``time_dimensions`` finds them, ``dates.CapabilityDates`` edits
  them in place when the catalog lists new dates.
- MapProxy's REST WMTS requests write their dimension values into a dict shared by every
  request (``TileRequest.dimensions``, a class attribute), so concurrent REST GetTiles can
  read each other's TIME: the door answers REST GetTile and GetFeatureInfo itself
  (``wmts.rest_tile``, ``featureinfo.rest_info``), MapProxy never parses them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from lxml import etree
from mapproxy.config.configuration.proxy import ProxyConfiguration
from mapproxy.service.wmts import Capabilities, WMTSServer
from mapproxy.wsgiapp import MapProxyApp
from starlette.responses import Response

from gateway.context import answering
from gateway.errors import GatewayError
from gateway.ows.kvp import Kvp

# The answer to a request whose MapProxy rendering recorded a failure: (error, parameters).
FailureAnswer = Callable[[GatewayError, dict[str, str]], Response]

STYLES_KEY = "GATEWAY_STYLES"
WMS_NS = "http://www.opengis.net/wms"
# Capabilities come from MapProxy: no entities, no DTD or other file loaded.
_PARSER = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True)


def with_request_context(
    app: Callable[..., Iterable[bytes]], answer_failure: FailureAnswer
) -> Callable[..., list[bytes]]:
    """Wrap MapProxy's WSGI app: each request is answered inside its context
    (``gateway.context``: its upper-case query parameters, STYLES as the door checked it);
    one whose rendering recorded a failure (``RequestContext.failures``) by
    ``answer_failure``."""

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        params = dict(Kvp.parse(environ.get("QUERY_STRING", "")))
        if STYLES_KEY in params:
            params["STYLES"] = params.pop(STYLES_KEY)
        started: list[tuple[Any, ...]] = []
        with answering(params) as context:
            result = app(environ, lambda *args: started.append(args))
            try:
                body = list(result)  # MapProxy renders while building the body: keep it inside
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        failed = next((e for e in context.failures if isinstance(e, GatewayError)), None)
        if failed is None:
            start_response(*started[0])
            return body
        answer = answer_failure(failed, params)
        status = f"{answer.status_code} {HTTPStatus(answer.status_code).phrase}"
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.raw_headers]
        start_response(status, headers)
        return [bytes(answer.body)]

    return wrapped


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


def _rewritten(document: bytes, change: Callable[[etree._Element], bool]) -> bytes:
    """``document`` with ``change`` applied to its root; as it was when nothing changed."""
    root = etree.fromstring(document, _PARSER)
    if not change(root):
        return document
    tree = root.getroottree()
    return etree.tostring(tree, xml_declaration=True, encoding=tree.docinfo.encoding or "UTF-8")


def nearest_time_values(document: bytes) -> bytes:
    """WMS 1.3.0 time dimensions say ``nearestValue="1"``: a TIME between acquisitions is
    answered with the nearest one (``core.dates``; MapProxy 7 writes ``0``)."""
    return _rewritten(document, _nearest)


def wms130_capabilities(document: bytes, max_size: tuple[int, int]) -> bytes:
    """WMS 1.3.0 capabilities as the gateway means them: ``nearest_time_values``, and
    MaxWidth/MaxHeight the configured limits (MapProxy 7 writes the square root of its pixel
    cap for both)."""

    def change(root: etree._Element) -> bool:
        changed = _nearest(root)
        service = root.find(f"{{{WMS_NS}}}Service")
        for tag, value in zip(("MaxWidth", "MaxHeight"), max_size, strict=True):
            element = service.find(f"{{{WMS_NS}}}{tag}") if service is not None else None
            if element is not None:
                element.text, changed = str(value), True
        return changed

    return _rewritten(document, change)


def _nearest(root: etree._Element) -> bool:
    times = [d for d in root.iter(f"{{{WMS_NS}}}Dimension") if d.get("name") == "time"]
    for dimension in times:
        dimension.set("nearestValue", "1")
    return bool(times)


def wms111_dimensions(document: bytes) -> bytes:
    """WMS 1.1.1 declares a dimension with ``<Dimension name units>`` and lists its values in
    ``<Extent name default nearestValue>``, after the layer's last ``Dimension`` (MapProxy 7
    writes the 1.3.0 form, which OWSLib and the 1.1.1 DTD do not accept); a TIME between
    acquisitions is answered with the nearest one (``nearestValue="1"``)."""

    def change(root: etree._Element) -> bool:
        layers = {d.getparent() for d in root.iter("Dimension") if d.get("default") is not None}
        for layer in layers:
            dimensions = [d for d in layer.findall("Dimension") if d.get("default") is not None]
            after = dimensions[-1]
            for dimension in dimensions:
                name, values = dimension.get("name", ""), dimension.text or ""
                nearest = "1" if name == "time" else dimension.get("nearestValue", "0")
                extent = etree.Element("Extent", name=name, default=dimension.get("default", ""))
                extent.set("nearestValue", nearest)
                extent.text, extent.tail = values, after.tail
                after.addnext(extent)
                after = extent
                units = dimension.get("units", "")
                dimension.attrib.clear()
                dimension.attrib.update({"name": name, "units": units})
                dimension.text = None
        return bool(layers)

    return _rewritten(document, change)
