"""Process execution fuzzed with hypothesis: no input makes a 5xx or a traceback in the log.

Each example starts from a valid execute request of one process and changes a few inputs to
values of other types, out of range, not finite, hostile strings (markup, paths, URLs), adds
unknown inputs or removes required ones; it is sent sync or async to a live gateway (OGC API
door, uvicorn thread, jobs in memory, async jobs to a scheduler without workers).
Derandomized, so a run is repeatable; about a minute.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import date

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.hostile.test_ows_fuzz import EVALSCRIPT_NDVI, EVALSCRIPT_VALUES
from tests.support.ows_live import live_gateway
from tests.support.process_checks import BAND_MATH, idle_scheduler
from tests.test_evalscript_doors import VALUES

SMALL = {**BAND_MATH, "bbox": [700000.0, 5832000.0, 700200.0, 5832200.0]}  # 20 x 20 px
VALID = {
    "band-math": {**SMALL, "format": "json"},
    "statistics": {**SMALL, "time": "2025-06-01/2025-06-20", "aggregation_interval": "P10D"},
    "export": SMALL,
}
NAMES = sorted(
    {*VALID["statistics"], "geometry", "resolution", "percentiles", "histogram", "format"}
    | {"collection", "maxcc", "order", "style", "unknown", "evalscript"}
    | {"orbit_direction", "back_coeff", "noise_removal"}
)
HOSTILE_TEXT = [
    "", " ", "NaN", "Infinity", "-1e309", "1e309", "<x>", "'; DROP TABLE x;--", "../../etc/passwd",
    "/vsicurl/http://127.0.0.1:9/x", "http://127.0.0.1:9/x", "ESRI::http://127.0.0.1:9/x",
    "EPSG:0", "EPSG:999999", "EPSG:5773", "EPSG:4978", "+proj=longlat", "%2F", "\x00", "é" * 300,
    "P0D", "P9999Y", "P1D", "2025-13-45", "2025-06-13/2025-06-01", "..", "../..", "/",
    "mostRecent", "nearest", "B04", "B04;B03;B02;B08;B11", "NDVI", "x" * 3000, "2025",
    "2025-06-01/2026-06-30", "1900-01-01/1900-01-02", "9999-12-31", "9999-12",
    "9999-12-31T23:00:00-01:00",
]  # fmt: skip

numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1e-320, 1e308, -1e308, 2**63, 10**400]),
)
scalars = st.one_of(
    st.none(), st.booleans(), numbers, st.sampled_from(HOSTILE_TEXT), st.text(max_size=40)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6),
        st.dictionaries(st.sampled_from(["bins", "low", "high", "type", "coordinates"]), inner),
    ),
    max_leaves=12,
)
geometries = st.builds(
    lambda ring: {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    st.lists(st.tuples(numbers, numbers).map(list), min_size=3, max_size=5),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
# Values of the declared type, in range or just out of it, on areas small enough to compute.
corners = st.tuples(
    st.sampled_from([700000.0, 5832000.0, 0.0, -1e7, 1e7, 5.93, 52.57]),
    st.sampled_from([5832000.0, 700000.0, 0.0, -1e7, 52.57, 91.0]),
    st.floats(1, 1000),
    st.floats(1, 1000),
)
CRS_CHOICES = [
    "EPSG:3857", "EPSG:4326", "EPSG:32631", "EPSG:32632", "EPSG:2154", "EPSG:3035", "EPSG:5773",
    "EPSG:4978", "EPSG:7415", "EPSG:999999", "EPSG:0", "CRS:84", "urn:ogc:def:crs:EPSG::4326",
    "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
]  # fmt: skip
EXPRESSIONS = [
    "NDVI", "B04", "B04;B03;B02", "(B08-B04)/(B08+B04)", "B04/0", "sqrt(B04-1)", "B04*1e30*1e30",
    "log(B04-B04)", "SCL", "B04;B03;B02;B08;B11", "EVI", "B99", "",
]  # fmt: skip
days = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)).map(str)
TYPED = {
    "bbox": st.one_of(
        corners.map(lambda c: [c[0], c[1], c[0] + c[2], c[1] + c[3]]),
        st.lists(finite, min_size=4, max_size=4),
    ),
    "geometry": corners.map(
        lambda c: {
            "type": "Polygon",
            "coordinates": [[[c[0], c[1]], [c[0] + c[2], c[1]], [c[0], c[1] + c[3]], [c[0], c[1]]]],
        }
    ),
    "crs": st.sampled_from(CRS_CHOICES),
    "resolution": st.one_of(st.floats(5, 1e5), st.sampled_from([0.01, 1e5, 0.0099, 1e5 + 1])),
    "maxcc": st.floats(-1, 101),
    "time": st.one_of(days, st.tuples(days, days).map("/".join), st.sampled_from(HOSTILE_TEXT)),
    "aggregation_interval": st.sampled_from(
        ["P1D", "P10D", "P1W", "P1M", "P1Y", "P400D", "P9999D", "p10d", "P1H", "PT1H"]
    ),
    "percentiles": st.lists(st.floats(-1, 101), max_size=22),
    "histogram": st.fixed_dictionaries(
        {},
        optional={"bins": st.integers(-1, 1001), "low": finite, "high": finite},
    ),
    "expression": st.sampled_from(EXPRESSIONS),
    # Valid scripts (base64, text, several outputs) and the hostile ones of the KVP corpus.
    "evalscript": st.sampled_from([EVALSCRIPT_NDVI, *EVALSCRIPT_VALUES, VALUES, VALUES[:-3]]),
    "collection": st.sampled_from(["sentinel-2-l2a", "sentinel-2-global-mosaics", "x"]),
    "format": st.sampled_from(["json", "csv", "cog", "png", "tiff", "JSON"]),
    "style": st.sampled_from(["ndvi", "greyscale", "true_color", "nope"]),
    "order": st.sampled_from(["mostRecent", "leastRecent", "leastCC", "mostrecent"]),
    "resampling": st.sampled_from(["nearest", "bilinear", "cubic", "average", "lanczos"]),
    "cloud_mask": st.booleans(),
    "orbit_direction": st.sampled_from(["ASCENDING", "DESCENDING", "ascending", "UP", ""]),
    "back_coeff": st.sampled_from(["SIGMA0_ELLIPSOID", "BETA0", "GAMMA0_TERRAIN", "sigma0"]),
    "noise_removal": st.booleans(),
}


@st.composite
def requests(draw) -> tuple[str, dict, str]:
    process = draw(st.sampled_from(sorted(VALID)))
    inputs = dict(VALID[process])
    for name in draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True)):
        choice = draw(st.sampled_from(["typed", "typed", "typed", "any", "geometry", "remove"]))
        if choice == "remove":
            inputs.pop(name, None)
        elif choice == "typed" and name in TYPED:
            inputs[name] = draw(TYPED[name])
        else:
            inputs[name] = draw(geometries if choice == "geometry" else values)
    return process, inputs, draw(st.sampled_from(["", "", "", "respond-async"]))


class Records(logging.Handler):
    """Every log record of the gateway, pygeoapi and uvicorn while it is attached."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in ("gateway", "pygeoapi", "uvicorn"):
            self.records.append(record)


@pytest.fixture(scope="module")
def gateway(sample_settings, tmp_path_factory) -> Iterator[tuple[str, Records]]:
    records = Records()
    root = logging.getLogger()
    level = root.level
    root.addHandler(records)
    root.setLevel(logging.INFO)
    with idle_scheduler() as scheduler:
        settings_ = sample_settings.model_copy(
            update={
                "dask_scheduler": scheduler,
                "output_dir": tmp_path_factory.mktemp("fuzz-outputs"),
                "jobs_max_running": 64,
                "jobs_max_running_per_process": 64,
            }
        )
        try:
            with (
                live_gateway(settings_, doors=("gateway.ogcapi.door:build_door",)) as url,
                httpx.Client(base_url=f"{url}/ogcapi", timeout=120) as client,
            ):
                yield client, records
        finally:
            root.removeHandler(records)
            root.setLevel(level)


@settings(
    max_examples=500,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(request=requests())
def test_no_process_input_makes_a_5xx_or_a_traceback(gateway, request):
    client, records = gateway
    process, inputs, prefer = request
    records.records.clear()
    answer = client.post(
        f"/processes/{process}/execution",
        content=json.dumps({"inputs": inputs}),  # NaN and Infinity as Python writes them
        headers={"Content-Type": "application/json", **({"Prefer": prefer} if prefer else {})},
    )
    event(f"{process} {prefer or 'sync'}: {answer.status_code}")
    assert answer.status_code < 500, (inputs, answer.text)
    if answer.status_code >= 400:
        problem = answer.json()
        assert problem["code"] and problem["description"], problem
        assert "<x>" not in answer.text or answer.headers["content-type"].startswith(
            "application/json"
        )
    troubles = [r for r in records.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not troubles, [(r.name, r.getMessage()) for r in troubles]
    # One line for the request (background work, such as a COG copy of a band, logs apart).
    about_it = [r for r in records.records if not r.name.startswith("gateway.core.")]
    assert len(about_it) <= 1, [r.getMessage() for r in about_it]
