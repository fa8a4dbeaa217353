"""Schemathesis over the OGC API's own OpenAPI document: no 5xx, no traceback, no ERROR line.

Features, Coverages, Tiles, Maps, the collections, conformance and the landing page (process
execution and jobs are fuzzed in the processes tests). Of the layer collections, which share
their code paths, one of each collection and kind stands for all: an index (NDVI, L1C_NDVI,
MOSAIC_NDVI), a colour picture (TRUE_COLOR), an evalscript (NDVI_RAMP), Sentinel-1 (VV,
S1_MOSAIC_VV) and the DEM (ELEVATION, and HILLSHADE for the neighbourhood operations).
Deterministic generation and a fixed number of examples per operation keep the run repeatable
and short; a failure prints the request that caused it (``curl`` line in schemathesis'
report).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.configs import hostile_config_file
from tests.support.gateway_server import GatewayServer, deployed
from tests.support.openapi_offline import offline_openapi

# Layers that go through the same code as one fuzzed (one of each collection and kind stays:
# NDVI, L1C_NDVI, MOSAIC_NDVI, S1_MOSAIC_VV, VV, ELEVATION, HILLSHADE, NDVI_RAMP, TRUE_COLOR).
SAME_AS_OTHERS = (
    "FALSE_COLOR|NDWI|NDMI|NBR|EVI|SAVI|KNDVI|SCL|MOSAIC_TRUE_COLOR|TRUE_COLOR_GAIN"
    "|L1C_TRUE_COLOR|L1C_FALSE_COLOR|L1C_NDWI|L1C_NDMI|L1C_NBR|L1C_CLOUD_MASK"
    "|S1_MOSAIC_VH|S1_MOSAIC_FALSE_COLOR|VH|VV_VH_RATIO|SAR_FALSE_COLOR|SLOPE"
)
EXCLUDED = rf"(/stac|/admin|/processes|/jobs|/collections/({SAME_AS_OTHERS})(/|$))"
EXAMPLES = 15
# uvicorn's one line for a request it refuses before the app sees it (bytes h11 rejects).
REFUSED = ("Invalid HTTP request received.",)  # uvicorn, for a malformed request line
LIMIT_S = 420  # a hard stop, for a machine under heavy load


@pytest.fixture(scope="module")
def gateway(sample_archive, tmp_path_factory) -> Iterator[GatewayServer]:
    folder = tmp_path_factory.mktemp("ogcapi-fuzz")
    with deployed(sample_archive, folder, hostile_config_file(folder)) as server:
        yield server


def test_fuzzing_finds_no_server_error_and_no_traceback(gateway, tmp_path):
    document = httpx.get(f"{gateway.url}/ogcapi/openapi", params={"f": "json"}, timeout=30)
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(offline_openapi(document.json())))
    start = gateway.log_offset()
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"), "run", str(schema),
            "--url", f"{gateway.url}/ogcapi", "--checks", "not_a_server_error",
            "--phases", "examples,coverage,fuzzing", "--max-examples", str(EXAMPLES),
            "--generation-deterministic", "--workers", "2", "--exclude-path-regex", EXCLUDED,
            "--request-timeout", "60", "--no-color",
        ],
        capture_output=True, text=True, timeout=LIMIT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-8000:]
    tested = re.search(r"Tested: (\d+)", done.stdout)
    assert tested and int(tested.group(1)) >= 30, done.stdout[-3000:]  # operations fuzzed
    log = gateway.log_since(start)
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
    loud = re.findall(r"^(?:WARNING|ERROR|CRITICAL)\b.*$", log, re.MULTILINE)
    assert not [line for line in loud if not line.endswith(REFUSED)], loud[:20]
