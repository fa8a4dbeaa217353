"""Sentinel Hub's instance URLs: ``/ogc/{wms,wmts,wcs,wfs}/{instance}``.

An instance (``instances:`` in the configuration) is a named set of configured layers. Its
URLs are answered by the same doors as ``/wms``, ``/wmts``, ``/wcs`` and ``/wfs``, with the
current caller's grant narrowed to the instance's layers and their collections, so the doors'
own access filtering lists only those in capabilities and refuses the others; the URLs in
capabilities point back to the instance path. A layer outside the instance gets the door's
exception (``LayerNotDefined``), as does an unknown instance (404).

Sentinel Hub's clients name WFS feature types by its dataset ids (``DSS2``) and read each
feature's ``date`` and ``time``: instance WFS requests are translated both ways.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

from PIL import Image
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.access.callers import Caller, calling, current_caller
from gateway.access.grants import Grant
from gateway.access.names import COVERAGE_SEPARATOR, named
from gateway.access.visible import refusal
from gateway.config import GatewayConfig, InstanceConfig
from gateway.core.crs import parse_crs
from gateway.doors import Door
from gateway.errors import GatewayError, InvalidParameterValue, NotFound
from gateway.ows.exceptions import Dialect, error_response
from gateway.ows.kvp import Kvp, Received, parse_kvp
from gateway.ows.rewriting import Rewriting, no_body

PREFIX = "/ogc"
# Sentinel Hub's WFS feature type names (its dataset ids) -> collection ids.
SH_FEATURE_TYPES = {"DSS1": "sentinel-2-l1c", "DSS2": "sentinel-2-l2a", "DSS3": "sentinel-1-grd"}
TYPE_PARAMETERS = ("TYPENAMES", "TYPENAME")
# The version a Sentinel Hub client's request without one is answered as.
SH_VERSIONS = {"wms": "1.3.0", "wfs": "2.0.0", "wcs": "1.0.0"}
SH_WMS_CRS = "EPSG:3857"  # Sentinel Hub's WMS default CRS
RESOLUTIONS = ("RESX", "RESY")
PICTURES = ("getmap", "gettile", "getcoverage")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_PALETTE = 3  # IHDR colour type (byte 25 of the file)
# Sentinel Hub's clients send EPSG:4326 boxes in latitude, longitude order.
LAT_LON = {"EPSG:4326": "urn:ogc:def:crs:EPSG::4326"}


@dataclass(frozen=True)
class _Service:
    app: ASGIApp
    path: str  # the door's own path (/wms...)
    reject: Callable[[GatewayError, Scope], Response] | None


def narrowed(grant: Grant, config: GatewayConfig, instance: InstanceConfig) -> Grant:
    """``grant`` allowing no more than the instance's layers and their collections."""
    layers = frozenset(instance.layers)
    collections = frozenset(
        layer.collection for name in instance.layers if (layer := config.layer(name))
    )
    return replace(
        grant,
        layers=layers if grant.layers is None else layers & grant.layers,
        collections=collections if grant.collections is None else collections & grant.collections,
    )


def _outside(config: GatewayConfig, instance: InstanceConfig, path: str, params: Kvp) -> str | None:
    """The first layer or collection the request names that the instance does not have."""
    allowed = narrowed(Grant(), config, instance)
    for name in named(path, {key.upper(): value for key, value in params.items()}):
        layer = config.layer(name)
        if layer is not None and layer.name not in instance.layers:
            return name
        known = layer is None and config.collection(name) is not None
        if known and not allowed.collection(name):
            return name
    return None


def _with_sh_types(params: Kvp, config: GatewayConfig) -> Kvp:
    """WFS type names of Sentinel Hub's datasets (``DSS2``) as the collections they are."""

    def collection(name: str) -> str:
        found = SH_FEATURE_TYPES.get(name.strip().upper())
        return found if found and config.collection(found) else name.strip()

    for parameter in TYPE_PARAMETERS:
        params = _replaced(
            params, parameter, lambda value: ",".join(map(collection, value.split(",")))
        )
    return params


def sh_habits(service: str, params: Kvp, config: GatewayConfig) -> Kvp:
    """The parameters of a Sentinel Hub client as the door reads them: no ``VERSION`` (WMS
    1.3.0, WFS 2.0.0, WCS 1.0.0), no WMS ``CRS`` (EPSG:3857), WCS ``VERSION=1.1.2`` with
    1.0.0's ``COVERAGE`` (what Sentinel Hub's WCS takes: answered as 1.0.0), a layer as the
    coverage, ``RESX=10m``; WFS type names of its datasets and a ``BBOX`` in the ``SRSNAME``
    CRS. EPSG:4326 boxes come in latitude, longitude order (its clients reverse them), as in
    WMS 1.3.0."""
    pairs = list(params.items())
    if params.text("VERSION") is None and service in SH_VERSIONS and "REQUEST" in params:
        pairs.append(("VERSION", SH_VERSIONS[service]))
    if service == "wms" and "CRS" not in params and "SRS" not in params:
        pairs.append(("CRS", SH_WMS_CRS))
    if service == "wfs":
        return _wfs_habits(Kvp(pairs), config)
    if service == "wcs":
        return _wcs_habits(Kvp(pairs), config)
    return Kvp(pairs)


def _wfs_habits(params: Kvp, config: GatewayConfig) -> Kvp:
    crs, box = params.text("SRSNAME"), params.text("BBOX")
    if crs and box and box.count(",") == 3:  # the box is in SRSNAME's CRS
        axes = LAT_LON.get(crs.strip().upper(), crs)
        params = _replaced(params, "BBOX", lambda value: f"{value},{axes}")
    return _with_sh_types(params, config)


def _wcs_habits(params: Kvp, config: GatewayConfig) -> Kvp:
    if params.text("VERSION") == "1.1.2" and "COVERAGE" in params:
        params = _replaced(params, "VERSION", lambda value: "1.0.0")
        if (params.text("CRS") or "").strip().upper() in LAT_LON:  # 1.0.0 is lon/lat
            params = _replaced(params, "BBOX", _swapped_axes)
    params = _replaced(params, "COVERAGE", lambda value: _coverage_id(value, config))
    crs = params.text("CRS")
    for name in RESOLUTIONS:
        params = _replaced(params, name, lambda value: _metres(value, crs))
    return params


def _replaced(params: Kvp, name: str, change: Callable[[str], str]) -> Kvp:
    return Kvp([(k, change(v) if k.upper() == name else v) for k, v in params.items()])


def _swapped_axes(box: str) -> str:
    """``lat,lon,lat,lon`` as ``lon,lat,lon,lat`` (anything else as it is: the door says)."""
    parts = box.split(",")
    return ",".join([parts[1], parts[0], parts[3], parts[2]]) if len(parts) == 4 else box


def _metres(value: str, crs: str | None) -> str:
    """Sentinel Hub's ``RESX=10m`` (metres) as a number in a CRS in metres; refused in
    another (degrees: its conversion is not done here)."""
    if not value.strip().lower().endswith("m"):
        return value
    parsed = parse_crs(crs or "EPSG:4326")
    if not parsed.is_projected or parsed.linear_units not in ("metre", "meter"):
        raise InvalidParameterValue(
            "RESX/RESY in metres ('10m') needs a CRS in metres here: give them in the CRS's "
            "units, or a projected CRS",
            locator="resx",
        )
    return value.strip()[:-1]


def _coverage_id(name: str, config: GatewayConfig) -> str:
    """A layer named as Sentinel Hub names coverages (the layer's name) as its coverage id."""
    layer = config.layer(name)
    return f"{layer.collection}{COVERAGE_SEPARATOR}{layer.name}" if layer is not None else name


def with_dates(body: bytes) -> bytes:
    """GeoJSON features with Sentinel Hub's ``date`` and ``time`` properties (from
    ``datetime``), which its clients read; any other body as it is."""
    try:
        document = json.loads(body)
    except ValueError:
        return body
    if not isinstance(document, dict) or not isinstance(document.get("features"), list):
        return body
    for feature in document["features"]:
        properties = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(properties, dict):
            continue
        when = properties.get("datetime")
        if isinstance(when, str) and "T" in when:
            date, _, time = when.partition("T")
            properties.setdefault("date", date)
            properties.setdefault("time", time.removesuffix("Z").split("+")[0])
    return json.dumps(document).encode()


def without_palette(body: bytes) -> bytes:
    """A palette PNG as an RGBA one (Sentinel Hub's client reads a PNG's array as it is: a
    palette's indices otherwise); any other body as it is."""
    if not (body.startswith(PNG_SIGNATURE) and len(body) > 25 and body[25] == PNG_PALETTE):
        return body
    out = io.BytesIO()
    with Image.open(io.BytesIO(body)) as picture:
        picture.convert("RGBA").save(out, "PNG")
    return out.getvalue()


def _urls_rewritten(origin: str, door_path: str, instance_path: str) -> Callable[[bytes], bytes]:
    """Capabilities whose URLs of the door (and MapProxy's ``/service``) name the instance."""
    pattern = re.compile(
        re.escape(origin).encode()
        + rb"(?:"
        + re.escape(door_path).encode()
        + rb"|/service|/ows)(?![A-Za-z0-9_.-])"
    )
    target = (origin + instance_path).encode()
    return lambda body: pattern.sub(target, body)


class InstanceDoors:
    """The ASGI app of ``/ogc/{service}/{instance}[/...]``: the door of ``service`` with the
    caller narrowed to the instance."""

    def __init__(self, doors: list[Door], config: GatewayConfig) -> None:
        self.config = config
        self.services: dict[str, _Service] = {}
        for door in doors:
            for name, app in door.ows_services.items():
                path = door.ows_path.get(name, "/")
                self.services[name.lower()] = _Service(app, path, door.reject)

    def _split(self, scope: Scope) -> tuple[str, str, str]:
        rest: str = scope.get("path_params", {}).get("rest", "")
        service, _, rest = rest.partition("/")
        instance, slash, tail = rest.partition("/")
        return service.lower(), instance, slash + tail

    def _inner(self, scope: Scope, service: _Service, tail: str, query: bytes) -> Scope:
        path = service.path + tail
        inner = {**scope, "path": path, "raw_path": path.encode(), "query_string": query}
        inner.pop("path_params", None)
        return inner

    def reject(self, error: GatewayError, scope: Scope) -> Response:
        """An error as the exception of the door the path names (OWS 2.0 when none)."""
        name, _, tail = self._split(scope)
        service = self.services.get(name)
        if service is None or service.reject is None:
            return error_response(error, Dialect.OWS11, version="2.0.0")
        return service.reject(error, self._inner(scope, service, tail, scope["query_string"]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        name, instance_name, tail = self._split(scope)
        service = self.services.get(name)
        if service is None:
            known = ", ".join(sorted(self.services))
            unknown = NotFound(f"no service {name[:20]!r} on /ogc: one of {known}", locator="path")
            await error_response(unknown, Dialect.OWS11, version="2.0.0")(scope, receive, send)
            return
        inner = self._inner(scope, service, tail, scope.get("query_string", b""))
        instance = self.config.instance(instance_name)
        try:
            if _form_post(scope):  # checked as the GET of the same KVP, which it becomes
                received = await Received.read(Request(scope, receive))
                sent = await run_in_threadpool(parse_kvp, received)
                inner["method"], receive = "GET", no_body
            else:
                sent = Kvp.of_scope(scope)
            params = sh_habits(name, sent, self.config)
            inner["query_string"] = urlencode(list(params.items())).encode()
            error = self._refused(instance, instance_name, inner, params)
        except GatewayError as refused:
            error = refused
        if error is not None:
            response = self.reject(error, scope)
            response.status_code = error.status
            await response(scope, receive, send)
            return
        assert instance is not None
        caller = current_caller()
        grant = narrowed(caller.grant, self.config, instance)
        send = self._rewriting(scope, send, name, service, instance_name, tail, params)
        with calling(Caller(caller.id, caller.kind, grant)):
            await service.app(inner, receive, send)

    def _refused(
        self, instance: InstanceConfig | None, name: str, inner: Scope, params: Kvp
    ) -> GatewayError | None:
        if instance is None:
            return NotFound(f"no instance {name[:60]!r}", locator="instance")
        outside = _outside(self.config, instance, inner["path"], params)
        if outside is not None:
            return GatewayError(
                f"layer {outside[:60]!r} is not in this instance",
                code="LayerNotDefined",
                status=404,
                locator="layers",
            )
        upper: Mapping[str, str] = {key.upper(): value for key, value in params.items()}
        door = "wmts" if inner["path"].startswith("/wmts") else inner["path"].strip("/")
        return refusal(current_caller().grant, self.config, door, inner["path"], "GET", upper)

    def _rewriting(
        self, scope: Scope, send: Send, name: str, service: _Service, instance: str, tail: str,
        params: Kvp,
    ) -> Send:  # fmt: skip
        """Capabilities pointing back to the instance; WFS features with SH's dates."""
        operation = (params.text("REQUEST") or "").lower()
        if operation == "getcapabilities" or tail.endswith("WMTSCapabilities.xml"):
            url = Request(scope).url
            origin = f"{url.scheme}://{url.netloc}{scope.get('root_path', '')}"
            instance_path = f"{PREFIX}/{name}/{instance}"
            return Rewriting(send, _urls_rewritten(origin, service.path, instance_path))
        if name == "wfs" and operation == "getfeature":
            return Rewriting(send, with_dates)
        if operation in PICTURES or tail.endswith(".png"):
            return Rewriting(send, without_palette)
        return send


def _form_post(scope: Scope) -> bool:
    if scope["method"] != "POST":
        return False
    for key, value in scope["headers"]:
        if key == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/x-www-form-urlencoded"
    return False


def instance_door(doors: list[Door], config: GatewayConfig) -> Door:
    """The door of every instance URL (``/ogc/...``), rendering errors as the named door."""
    router = InstanceDoors(doors, config)
    return Door(routes=[Route(PREFIX + "/{rest:path}", router)], reject=router.reject)
