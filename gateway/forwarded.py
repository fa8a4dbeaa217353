"""The address a client used, as a trusted reverse proxy tells it.

``ForwardedHeaders`` wraps the whole app. When the connecting peer is a trusted proxy
(``settings.forwarded_allow_ips``, in uvicorn's ``--forwarded-allow-ips`` syntax: addresses,
networks, ``*`` for any), it rewrites the ASGI scope from the proxy's headers, so that every
door's URLs (Starlette's ``request.url`` and ``request.base_url``) are the public ones:

- ``X-Forwarded-For`` and ``X-Forwarded-Proto``: uvicorn's own ``ProxyHeadersMiddleware``
  (the client address and the scheme);
- RFC 7239 ``Forwarded`` (``proto=``, ``host=``) and ``X-Forwarded-Host``: the scheme and the
  ``Host`` header (an ``X-Forwarded-*`` header wins over ``Forwarded``);
- ``X-Forwarded-Prefix``: the path the proxy strips, prepended to ``root_path`` and ``path``.

Of several values the last counts (the one the nearest proxy set); malformed values are
ignored. Headers from any other peer are ignored.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from gateway.settings import Settings

# The root URL written into generated documents and stored links when no public URL is set;
# the OGC API door replaces it in each answer with the request's own (``ogcapi.links``).
STAND_IN = "http://127.0.0.1:8000"

_PAIR = re.compile(r'\s*([A-Za-z][\w-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*([;,]?)')
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~%-]+)+")
_SCHEMES = {"http", "https"}


def configured_root(settings: Settings) -> str:
    """The gateway's root URL as pygeoapi's configuration and stored export hrefs hold it."""
    return (settings.public_url or STAND_IN).rstrip("/")


def forwarded_pairs(value: str) -> list[dict[str, str]]:
    """An RFC 7239 ``Forwarded`` value as one dict per element (names lower-cased)."""
    elements: list[dict[str, str]] = [{}]
    for name, raw, separator in _PAIR.findall(value):
        text = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
        elements[-1][name.lower()] = text
        if separator == ",":
            elements.append({})
    return [element for element in elements if element]


def _last(value: str | None) -> str | None:
    return value.rsplit(",", 1)[-1].strip() if value else None


class ForwardedHeaders:
    """ASGI middleware: the scope as the client addressed it, when a trusted proxy says so."""

    def __init__(self, app: ASGIApp, trusted_hosts: str | list[str] = "127.0.0.1") -> None:
        self.app = ProxyHeadersMiddleware(app, trusted_hosts)  # type: ignore[arg-type]
        self.trusted = self.app.trusted_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if client and client[0] in self.trusted:
                _apply_forwarded(scope)
        await self.app(scope, receive, send)  # type: ignore[arg-type]


def _apply_forwarded(scope: Scope) -> None:
    """Rewrite ``scope`` in place (as uvicorn does: its access log then shows the client)."""
    headers: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in (b"forwarded", b"x-forwarded-host", b"x-forwarded-prefix"):
            text = value.decode("latin-1")
            headers[name] = f"{headers[name]},{text}" if name in headers else text
    if not headers:
        return
    elements = forwarded_pairs(headers.get(b"forwarded", ""))
    last = elements[-1] if elements else {}
    host = _last(headers.get(b"x-forwarded-host")) or last.get("host")
    proto = (last.get("proto") or "").lower()
    prefix = (_last(headers.get(b"x-forwarded-prefix")) or "").rstrip("/")
    if host and _HOST.fullmatch(host):
        kept = [(k, v) for k, v in scope["headers"] if k != b"host"]
        scope["headers"] = [*kept, (b"host", host.encode("latin-1"))]
    if proto in _SCHEMES and scope["type"] == "http":
        scope["scheme"] = proto
    if prefix and _PREFIX.fullmatch(prefix) and not {".", ".."} & set(prefix.split("/")):
        raw_path = scope.get("raw_path") or scope["path"].encode()
        scope["root_path"] = prefix + scope.get("root_path", "")
        scope["path"] = prefix + scope["path"]
        scope["raw_path"] = prefix.encode() + raw_path
