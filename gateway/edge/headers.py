"""Conventional capitalisation of HTTP header names (``Content-Type``, ``ETag``).

Header names are case-insensitive (RFC 9110), but not every client reads them so: QGIS 3.22
finds a JSON GetFeatureInfo answer by ``Content-Type`` only. The gateway writes names as
MapServer and GeoServer do.
"""

from __future__ import annotations

# Names whose usual spelling is not "each dash-separated word capitalised".
_SPECIAL = {
    b"etag": b"ETag",
    b"www-authenticate": b"WWW-Authenticate",
    b"content-md5": b"Content-MD5",
    b"te": b"TE",
    b"dnt": b"DNT",
    b"x-xss-protection": b"X-XSS-Protection",
    b"x-request-id": b"X-Request-ID",
    b"ratelimit-limit": b"RateLimit-Limit",
    b"ratelimit-remaining": b"RateLimit-Remaining",
    b"ratelimit-reset": b"RateLimit-Reset",
}
_KNOWN_MAX = 1024  # names remembered (the apps' own names: a small, fixed set)
_known: dict[bytes, bytes] = {}
_LINES_MAX = 4096  # whole header lines remembered (forgotten all at once when full)
_lines: dict[bytes, bytes] = {}


def conventional(name: bytes) -> bytes:
    """``content-type`` -> ``Content-Type``, ``etag`` -> ``ETag``."""
    found = _known.get(name)
    if found is None:
        lower = name.lower()
        found = _SPECIAL.get(lower) or b"-".join(
            word[:1].upper() + word[1:] for word in lower.split(b"-")
        )
        if len(_known) < _KNOWN_MAX:
            _known[name] = found
    return found


def _conventional_line(line: bytes) -> bytes:
    """``name: value`` with the name in conventional capitalisation (remembered)."""
    name, colon, rest = line.partition(b":")
    rewritten = conventional(name) + colon + rest
    if len(_lines) >= _LINES_MAX:
        _lines.clear()
    _lines[line] = rewritten
    return rewritten


def conventional_head(head: bytes) -> bytes:
    """An HTTP/1.1 response head (status line, header lines, blank line) with every header
    name in conventional capitalisation; anything after the head is left as it is.

    Rewritten lines are remembered (most repeat: ``content-type: image/png``, the date of
    this second...), which halves the cost of a head of a cached tile.
    """
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return head
    status, *lines = head[:end].split(b"\r\n")
    done = _lines.get
    rewritten = [done(line) or _conventional_line(line) for line in lines]
    return b"\r\n".join([status, *rewritten]) + head[end:]
