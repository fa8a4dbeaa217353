"""An uncached load for the S3 quota: WCS coverages, each of one scene no other one reads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import cycle

import httpx

L2A = "sentinel-2-l2a"
DATES = ("2025-05-29", "2025-06-03", "2025-06-13", "2025-06-23")
# A 2 km square inside each sample tile, in its own UTM zone.
SQUARES = (
    ("EPSG:32631", "E(700000,702000)", "N(5832000,5834000)"),
    ("EPSG:32632", "E(304000,306000)", "N(5836000,5838000)"),
)


def coverages(count: int, start: int = 0) -> list[dict[str, str | list[str]]]:
    """``count`` different NDVI GetCoverage requests (2 bands of one scene each), shifted by
    100 m once every scene was asked, so that no answer is in a cache; ``start``: the first
    one's number (loads from ``start`` on share no request with those before it)."""
    found: list[dict[str, str | list[str]]] = []
    scenes = [(square, date) for square in SQUARES for date in DATES]
    for index in range(start, start + count):
        (crs, east, north), date = scenes[index % len(scenes)]
        shift = 100 * (index // len(scenes))
        low, high = (int(v) + shift for v in east[2:-1].split(","))
        found.append(
            {
                "SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "GetCoverage",
                "COVERAGEID": f"{L2A}__NDVI", "SUBSETTINGCRS": crs, "FORMAT": "image/tiff",
                "SUBSET": [f"E({low},{high})", north, f'time("{date}")'],
            }
        )  # fmt: skip
    return found


def fire(urls: list[str], requests: list[dict], workers: int) -> list[httpx.Response]:
    """Send ``requests`` at once, spread over the gateways at ``urls`` in turn."""
    pairs = list(zip(cycle(urls), requests, strict=False))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda p: httpx.get(f"{p[0]}/ows", params=p[1], timeout=120), pairs))
