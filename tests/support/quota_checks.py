"""Shared helpers of the quota tests: requests of a known cost and their answers' checks."""

from __future__ import annotations

import json
import time

from lxml import etree

# A 3 km square of T31UFU on its own 10 m grid: a 512 x 512 true-colour map of it is 1 PU.
UTM31 = "700000,5832000,703000,5835000"


def getmap(size: int = 512, layer: str = "TRUE_COLOR", shift: int = 0, **extra: str) -> dict:
    """WMS 1.3.0 GetMap parameters (``shift``: metres east, another map of the same cost)."""
    west, south, east, north = (float(v) for v in UTM31.split(","))
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": layer,
        "STYLES": "", "CRS": "EPSG:32631", "FORMAT": "image/png", "TIME": "2025-06-13",
        "BBOX": f"{west + shift},{south},{east + shift},{north}",
        "WIDTH": str(size), "HEIGHT": str(size),
    }  # fmt: skip
    params.update(extra)
    return params


def early_in_a_minute(seconds_needed: float) -> None:
    """Wait for the next minute unless ``seconds_needed`` are left of this one (so that the
    requests of a test are counted in one minute's window)."""
    if time.time() % 60 > 60 - seconds_needed:
        time.sleep(60.5 - time.time() % 60)


def units(headers) -> float:
    return float(headers["x-processing-units"])


def left_today(headers) -> float:
    return float(headers["x-processing-units-remaining-day"])


def assert_wms_refusal(answer) -> str:
    """A 429 as WMS 1.3.0 ServiceExceptionReport with Retry-After; its message."""
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) >= 1
    root = etree.fromstring(answer.content)
    assert etree.QName(root).localname == "ServiceExceptionReport"
    return root.findtext("{*}ServiceException")


def assert_problem_refusal(answer) -> str:
    """A 429 as OGC API problem details with Retry-After; its detail."""
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) >= 1
    assert answer.headers["content-type"] == "application/problem+json"
    problem = json.loads(answer.content)
    assert problem["status"] == 429
    return problem["detail"]
