"""WCS test helpers: requests, GeoTIFF and multipart decoding, sample scenes, comparisons."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from pathlib import Path

import httpx
import numpy as np
import rasterio
from lxml import etree

from tests.support.expected import load_items

L2A = "sentinel-2-l2a"
WCS111 = "http://www.opengis.net/wcs/1.1.1"
OWS11 = "http://www.opengis.net/ows/1.1"
XLINK = "http://www.w3.org/1999/xlink"


def get(url: str, **params: str | list[str]) -> httpx.Response:
    return httpx.get(url, params=params, timeout=60, follow_redirects=True)


def geotiff(content: bytes):
    """(bands, crs, transform, nodata) of an in-memory GeoTIFF."""
    with rasterio.MemoryFile(content) as memory, memory.open() as src:
        return src.read(), src.crs, src.transform, src.nodata


def same(actual: np.ndarray, expected: np.ndarray, atol: float = 1e-5) -> np.ndarray:
    """Cells equal within float32 rounding, NaN matching NaN."""
    both_nan = np.isnan(actual) & np.isnan(expected)
    return both_nan | np.isclose(actual, expected, atol=atol, rtol=1e-5)


def scene_item(archive: Path, tile: str, day: str) -> dict:
    """The sample L2A item of MGRS ``tile`` acquired on ``day``."""
    found = [
        i
        for i in load_items(archive, L2A)
        if i["properties"]["grid:code"] == f"MGRS-{tile}"
        and i["properties"]["datetime"].startswith(day)
    ]
    assert len(found) == 1
    return found[0]


def acquisitions(archive: Path) -> list[str]:
    """The sample L2A acquisition instants, ISO 8601 with milliseconds (``...T10:56:19.024Z``),
    oldest first."""
    moments = {
        datetime.fromisoformat(i["properties"]["datetime"].replace("Z", "+00:00"))
        for i in load_items(archive, L2A)
    }
    return [
        m.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m.microsecond // 1000:03d}Z" for m in sorted(moments)
    ]


def acquisition(archive: Path, day: str) -> str:
    """The sample acquisition instant on ``day`` (YYYY-MM-DD)."""
    (found,) = [moment for moment in acquisitions(archive) if moment.startswith(day)]
    return found


def multipart_parts(content_type: str, body: bytes) -> list[email.message.EmailMessage]:
    """The body parts of a multipart HTTP response, parsed by the standard library."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.message_from_bytes(head + body, policy=email.policy.HTTP)
    assert message.is_multipart()
    return list(message.iter_parts())


def wcs111_coverage(response: httpx.Response) -> tuple[etree._Element, bytes]:
    """A WCS 1.1.1 GetCoverage answer: the ``Coverages`` document and the file its
    ``ows:Reference`` points at (``cid:`` = the second part's Content-ID)."""
    assert response.status_code == 200, response.text
    content_type = response.headers["content-type"]
    assert content_type.startswith("multipart/related;")
    manifest, coverage = multipart_parts(content_type, response.content)
    assert manifest.get_content_type() == "text/xml"
    assert manifest["Content-ID"] == content_type.split('start="')[1].split('"')[0]
    root = etree.fromstring(manifest.get_payload(decode=True))
    assert root.tag == f"{{{WCS111}}}Coverages"
    href = root.find(f"{{{WCS111}}}Coverage/{{{OWS11}}}Reference").get(f"{{{XLINK}}}href")
    assert href.startswith("cid:") and coverage["Content-ID"] == f"<{href[4:]}>"
    return root, coverage.get_payload(decode=True)
