"""The one KVP reader of every OGC door (WMS, WMTS, WCS, WFS, and ``/ows`` itself).

OGC KVP names are case-insensitive; values are not. The policy for a repeated name is here
and nowhere else: ``kvp["X"]`` is the last value given for X (what a one-valued parameter
means), ``kvp.all("X")`` every value in request order (``SUBSET`` and a few others repeat).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import Scope

from gateway.errors import GatewayError, InvalidParameterValue, MissingParameterValue


class Kvp(Mapping[str, str]):
    """Request parameters by upper-case name; ``kvp["X"]`` is the last value given for X."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name.strip().upper(), []).append(value)

    @classmethod
    def parse(cls, query_string: str) -> Kvp:
        return cls(parse_qsl(query_string, keep_blank_values=True))

    @classmethod
    def of_scope(cls, scope: Scope) -> Kvp:
        """The query string of an ASGI request."""
        return cls.parse(scope.get("query_string", b"").decode("latin-1"))

    def __getitem__(self, name: str) -> str:
        return self._values[name.upper()][-1]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def all(self, name: str) -> list[str]:
        """Every value of a repeatable parameter (``SUBSET``), in request order."""
        return list(self._values.get(name.upper(), []))

    def text(self, name: str) -> str | None:
        """The stripped value, or None when absent or blank."""
        value = self.get(name.upper())
        return value.strip() if value is not None and value.strip() else None

    def require(self, name: str) -> str:
        """The stripped value of a mandatory parameter, or MissingParameterValue."""
        value = self.text(name)
        if value is None:
            raise MissingParameterValue(f"missing parameter {name}", locator=name)
        return value

    def integer(self, name: str, *, minimum: int = 0) -> int | None:
        """An optional integer parameter (``COUNT``, ``WIDTH``...), at least ``minimum``."""
        value = self.text(name)
        if value is None:
            return None
        if not value.lstrip("+").isdigit() or len(value) > 9 or int(value) < minimum:
            raise InvalidParameterValue(f"{name} must be an integer >= {minimum}", locator=name)
        return int(value)

    def number(self, name: str) -> float | None:
        """An optional positive number (``RESX``, ``SCALEFACTOR``...)."""
        value = self.text(name)
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            raise InvalidParameterValue(f"{name} must be a number", locator=name) from None
        if not number > 0 or number == float("inf"):
            raise InvalidParameterValue(f"{name} must be a positive number", locator=name)
        return number


def split_list(text: str | None) -> list[str]:
    """A comma-separated KVP list without blanks."""
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def negotiate_version(kvp: Kvp, supported: tuple[str, ...], default: str) -> str:
    """The version to answer in: ``VERSION``, else the first supported of ``ACCEPTVERSIONS``.

    ``supported`` lists versions newest first. Raises VersionNegotiationFailed (400) when
    ``ACCEPTVERSIONS`` names none we speak and InvalidParameterValue for an unknown ``VERSION``.
    """
    version = kvp.text("VERSION")
    if version is not None:
        if version in supported:
            return version
        raise InvalidParameterValue(
            f"unsupported version {version[:20]!r}; use one of {', '.join(supported)}",
            locator="version",
        )
    accepted = split_list(kvp.text("ACCEPTVERSIONS"))
    if not accepted:
        return default
    for candidate in accepted:
        if candidate in supported:
            return candidate
    raise InvalidParameterValue(
        f"none of the accepted versions is supported; use one of {', '.join(supported)}",
        locator="acceptversions",
        code="VersionNegotiationFailed",
    )


@dataclass(frozen=True)
class Received:
    """What a request brought, read in the event loop; parsed in a worker thread (a large
    body parsed in the loop would hold every other request up)."""

    method: str
    media_type: str
    query: str
    body: bytes

    @classmethod
    async def read(cls, request: Request) -> Received:
        body = await request.body() if request.method == "POST" else b""
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        return cls(request.method, media_type, request.url.query, body)


def parse_kvp(received: Received) -> Kvp:
    """KVP of a GET query string or a form-encoded POST body; XML POST is not supported."""
    if received.method != "POST":
        return Kvp.parse(received.query)
    if received.media_type != "application/x-www-form-urlencoded":
        raise GatewayError(
            "only KVP requests (GET, or POST application/x-www-form-urlencoded) are supported",
            locator="request",
            code="OperationNotSupported",
            status=501,
        )
    body = received.body.decode("utf-8", errors="replace")
    return Kvp(
        parse_qsl(received.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
    )
