"""One CORS policy for every door, from the settings.

Origins in ``cors_origins`` (``*``: any) may read: GET, HEAD, POST (and OPTIONS). DELETE
(OGC API job dismissal) is allowed only to the origins in ``cors_delete_origins`` (none by
default). A preflight the policy refuses is answered 403 without any ``Access-Control-*``
header, so the browser does not send the request. The apps' own CORS headers (MapProxy's,
pygeoapi's) are dropped at the edge, so this is the only policy that answers.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.responses import PlainTextResponse, Response

READ_METHODS = (b"GET", b"HEAD", b"POST", b"OPTIONS")
DELETE = b"DELETE"
# Response headers a cross-origin script may read besides the CORS-safelisted ones.
EXPOSED = (
    b"ETag, Location, Link, Retry-After, Preference-Applied, Content-Crs, "
    b"Content-Disposition, X-Cache, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, "
    b"X-Processing-Units, X-Processing-Units-Remaining-Day, X-Processing-Units-Remaining-Month"
)
# CORS response headers the apps behind the edge may set themselves (dropped).
APP_CORS_HEADERS = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-methods",
        b"access-control-allow-headers",
        b"access-control-allow-credentials",
        b"access-control-expose-headers",
        b"access-control-max-age",
    }
)


class CorsPolicy:
    """Which origins may read and which may also DELETE; the headers that say so."""

    def __init__(
        self, origins: Sequence[str], delete_origins: Sequence[str], max_age_s: int
    ) -> None:
        self._any = "*" in origins
        self._origins = frozenset(o.encode("latin-1") for o in origins)
        self._any_delete = "*" in delete_origins
        self._delete_origins = frozenset(o.encode("latin-1") for o in delete_origins)
        self._max_age = str(max_age_s).encode()

    def _reads(self, origin: bytes) -> bool:
        return self._any or origin in self._origins or self._deletes(origin)

    def _deletes(self, origin: bytes) -> bool:
        return self._any_delete or origin in self._delete_origins

    def methods(self, origin: bytes) -> tuple[bytes, ...]:
        """The methods a page of ``origin`` may use (none when it may not read)."""
        if not self._reads(origin):
            return ()
        return (*READ_METHODS, DELETE) if self._deletes(origin) else READ_METHODS

    def response_headers(self, origin: bytes) -> list[tuple[bytes, bytes]]:
        """What an answer to a request from ``origin`` carries (nothing if not allowed)."""
        if self._any:
            return [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-expose-headers", EXPOSED),
            ]
        if not self._reads(origin):
            return []
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-expose-headers", EXPOSED),
            (b"vary", b"Origin"),
        ]

    def preflight(self, origin: bytes, method: bytes, headers: bytes | None) -> Response:
        """The answer to an ``OPTIONS`` preflight from ``origin`` for ``method``."""
        allowed = self.methods(origin)
        if method.strip().upper() not in allowed:
            return PlainTextResponse(
                "CORS preflight refused: this origin may not use this method",
                status_code=403,
                headers={"Vary": "Origin"},
            )
        answer = Response(status_code=204)
        answer.raw_headers += [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-methods", b", ".join(allowed)),
            (b"access-control-max-age", self._max_age),
            (b"vary", b"Origin"),
        ]
        if headers:
            answer.raw_headers.append((b"access-control-allow-headers", headers))
        return answer
