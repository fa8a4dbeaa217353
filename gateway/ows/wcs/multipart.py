"""``multipart/related`` responses (RFC 2387), as WCS 1.1 GetCoverage answers them.

The first part is the root (its media type and Content-ID are the ``type`` and ``start``
parameters); later parts are referenced from it by ``cid:`` URLs. Every part header starts
with ``Content-``: GDAL's parser (``CPLHTTPParseMultipartMime``) stops reading headers at the
first line that does not, and its WCS driver takes the second part as the coverage file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from starlette.responses import Response


@dataclass(frozen=True)
class Part:
    """One body part; ``content_id`` without angle brackets (``cid:`` URLs use it as is)."""

    media_type: str
    content_id: str
    content: bytes
    filename: str | None = None


def _boundary(parts: list[Part]) -> str:
    while True:
        boundary = f"wcs-{uuid.uuid4().hex}"
        if not any(b"--" + boundary.encode() in part.content for part in parts):
            return boundary


def _head(part: Part) -> str:
    headers = [f"Content-Type: {part.media_type}", f"Content-ID: <{part.content_id}>"]
    if part.filename is not None:
        headers.append("Content-Transfer-Encoding: binary")
        headers.append(f'Content-Disposition: inline; filename="{part.filename}"')
    return "\r\n".join(headers) + "\r\n\r\n"


def multipart_related(parts: list[Part]) -> Response:
    """One response holding ``parts`` in order (the first is the root)."""
    boundary = _boundary(parts)
    body = b"".join(
        f"--{boundary}\r\n{_head(part)}".encode() + part.content + b"\r\n" for part in parts
    )
    root = parts[0]
    media_type = (
        f'multipart/related; type="{root.media_type}"; start="<{root.content_id}>"; '
        f"boundary={boundary}"
    )
    return Response(body + f"--{boundary}--\r\n".encode(), media_type=media_type)
