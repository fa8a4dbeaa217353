"""What one map tile costs on the wire: HTTP requests, bytes and byte ranges at the S3 stand-in.

Shared by tests/test_remote.py (which asserts the targets) and bench/bench_requests.py
(which prints them all).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import morecantile
import rasterio
from rasterio.shutil import copy as gdal_copy
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from gateway.core.datasets import OpenDatasets
from gateway.core.libgdal import libgdal
from gateway.core.request import build_request
from gateway.core.storage import EODATA_PREFIX, Storage
from tests.support.counting_proxy import CountingProxy, Hit

WEB_MERCATOR = morecantile.tms.get("WebMercatorQuad")


def clear_gdal_http_cache() -> None:
    """A cold worker: forget every cached HTTP block and file property in this process's GDAL,
    and close the datasets the reader keeps open in this thread (their decoded blocks)."""
    OpenDatasets.close_all_pools()
    libgdal().VSICurlClearCache()


@dataclass(frozen=True)
class Cost:
    """Requests and bytes of some work, per file and in total."""

    requests: int
    bytes: int
    per_file: dict[str, int]  # S3 key -> requests
    duplicate_ranges: int  # a (file, range) asked for more than once
    listings: int  # bucket/prefix listings (GET on the bucket)
    header_reads: int  # GETs of a range starting at byte 0
    refetched_bytes: int  # bytes of ranges that overlap a range already fetched from the file

    @property
    def max_per_file(self) -> int:
        return max(self.per_file.values(), default=0)


def cost_of(hits: list[Hit]) -> Cost:
    gets = [h for h in hits if h.method in ("GET", "HEAD")]
    objects = [h for h in gets if h.path.count("/") >= 2 and not h.path.endswith("/")]
    ranges = Counter((h.path, h.range) for h in objects)
    return Cost(
        requests=len(gets),
        bytes=sum(h.body_bytes for h in gets),
        per_file=dict(Counter(h.path.removeprefix("/eodata/") for h in objects)),
        duplicate_ranges=sum(n - 1 for n in ranges.values() if n > 1),
        listings=len(gets) - len(objects),
        header_reads=sum(1 for h in objects if (h.range or "").startswith("bytes=0-")),
        refetched_bytes=_refetched(objects),
    )


def _refetched(hits: list[Hit]) -> int:
    """Bytes asked for again: the overlap of each range with earlier ranges of its file."""
    seen: dict[str, list[tuple[int, int]]] = {}
    again = 0
    for hit in hits:
        asked = hit.range or ""
        if not asked.startswith("bytes="):
            continue
        first, _, last = asked.removeprefix("bytes=").partition("-")
        start, end = int(first), int(last) + 1
        earlier = seen.setdefault(hit.path, [])
        covered = [(max(a, start), min(b, end)) for a, b in earlier if a < end and b > start]
        again += _union_length(covered)
        earlier.append((start, end))
    return again


def _union_length(spans: list[tuple[int, int]]) -> int:
    total, reach = 0, -1
    for a, b in sorted(spans):
        if b > reach:
            total += b - max(a, reach)
            reach = b
    return total


def tile_bounds(lon: float, lat: float, zoom: int) -> tuple[float, float, float, float]:
    """EPSG:3857 bounds of the WebMercatorQuad tile holding (lon, lat) at ``zoom``."""
    tile = WEB_MERCATOR.tile(lon, lat, zoom)
    b = WEB_MERCATOR.xy_bounds(tile)
    return (b.left, b.bottom, b.right, b.top)


def tile_request(config, bounds, **params):
    """A 256 px PNG tile request in EPSG:3857."""
    return build_request(config, bbox=bounds, crs="EPSG:3857", width=256, height=256, **params)


def measure[T](proxy: CountingProxy, work: Callable[[], T]) -> tuple[T, Cost]:
    """Run ``work()`` and return its result and what it cost at ``proxy``."""
    proxy.reset()
    result = work()
    return result, cost_of(proxy.hits())


def open_headers(storage: Storage, hrefs: list[str]) -> None:
    """Open each file once, so that its header is known (GDAL caches it per process)."""
    with rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()):
        for href in hrefs:
            with rasterio.open(storage.gdal_path(href)):
                pass


def source_window(href_path: str, storage: Storage, bounds, crs: str) -> Window:
    """The pixel window of a file that a map's bounds cover, rounded outwards."""
    with (
        rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()),
        rasterio.open(href_path) as src,
    ):
        local = transform_bounds(crs, src.crs, *bounds, densify_pts=21)
        window = from_bounds(*local, transform=src.transform)
        col0, row0 = max(0, math.floor(window.col_off)), max(0, math.floor(window.row_off))
        col1 = min(src.width, math.ceil(window.col_off + window.width))
        row1 = min(src.height, math.ceil(window.row_off + window.height))
    return Window(col0, row0, col1 - col0, row1 - row0)


def gdal_translate_srcwin(storage: Storage, href: str, window: Window) -> None:
    """``gdal_translate -srcwin`` of ``window`` with the wheel's GDAL (a ``vrt://`` copy)."""
    path = storage.gdal_path(href)
    srcwin = f"{window.col_off},{window.row_off},{window.width},{window.height}"
    with rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()):
        gdal_copy(f"vrt://{path}?srcwin={srcwin}", "/vsimem/srcwin.tif", driver="GTiff")


def s3_href(key: str) -> str:
    return EODATA_PREFIX + key
