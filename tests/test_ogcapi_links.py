"""OGC API links point back at the server that was asked (issue #11 item 2).

The gateway runs as ``cdse-gateway serve --port <free port>`` without GATEWAY_PUBLIC_URL. It
is reached directly, and through a reverse proxy that serves it under ``/gw`` on its own port
(``Host`` rewritten, ``X-Forwarded-Host``/``-Proto``/``-Prefix``/``-For`` set, from 127.0.0.1,
trusted by default). Every link of every answer must point at the address the client used:
followed, it must work.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.counting_proxy import CountingProxy
from tests.support.gateway_server import GatewayServer, deployed
from tests.support.ogcapi_checks import L2A
from tests.support.process_checks import BAND_MATH, check_cog, utm_reference

PREFIX = "/gw"
FORWARDED_FOR = "203.0.113.7"
# Documents whose every link is checked (and counted: each has some).
DOCUMENTS = [
    "/", "/collections", f"/collections/{L2A}", "/collections/NDVI", "/collections/NDVI/tiles",
    f"/collections/{L2A}/items", "/processes", "/processes/export", "/jobs",
]  # fmt: skip


def _behind_prefix(upstream_port: int):
    """The proxy's rewrite: strip PREFIX, send its own upstream Host, say what the client
    used in X-Forwarded-* headers."""

    def rewrite(path: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        assert path.startswith(PREFIX + "/"), path
        kept = {k: v for k, v in headers.items() if k.lower() != "host"}
        return path[len(PREFIX) :], {
            **kept,
            "Host": f"127.0.0.1:{upstream_port}",
            "X-Forwarded-Host": headers["Host"],
            "X-Forwarded-Proto": "http",
            "X-Forwarded-Prefix": PREFIX,
            "X-Forwarded-For": FORWARDED_FOR,
        }

    return rewrite


@pytest.fixture(scope="module")
def gateway(sample_archive, tmp_path_factory) -> Iterator[GatewayServer]:
    with deployed(sample_archive, tmp_path_factory.mktemp("ogcapi-links")) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(gateway) -> Iterator[CountingProxy]:
    started = CountingProxy(("127.0.0.1", gateway.port), _behind_prefix(gateway.port)).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module", params=["direct", "behind a path prefix"])
def base(request, gateway, proxy) -> str:
    """The OGC API's URL as one client reaches it."""
    if request.param == "direct":
        return f"{gateway.url}/ogcapi"
    return f"http://127.0.0.1:{proxy.port}{PREFIX}/ogcapi"


def _urls(node) -> list[str]:
    """Every ``href`` (links) and ``url`` (OpenAPI servers and docs) of a JSON document."""
    if isinstance(node, list):
        return [url for item in node for url in _urls(item)]
    if not isinstance(node, dict):
        return []
    found = [v for k, v in node.items() if k in ("href", "url") and isinstance(v, str)]
    return found + [url for v in node.values() for url in _urls(v)]


def _own(urls: list[str], hosts: set[str]) -> list[str]:
    """The URLs on one of ``hosts`` (not schemas.opengis.net, creativecommons.org...)."""
    return [u for u in urls if urlsplit(u).hostname in hosts]


def _assert_all_under(urls: list[str], base: str, *, some: bool = True) -> None:
    """Every URL of the gateway's host starts with ``base`` (and, with ``some``, there are)."""
    own = _own(urls, {"127.0.0.1", "localhost"})
    wrong = [u for u in own if not (u == base or u.startswith((base + "/", base + "?")))]
    assert not wrong, wrong[:5]
    assert own or not some


def _get_json(url: str, **params) -> dict:
    answer = httpx.get(url, params={"f": "json", **params}, timeout=60)
    assert answer.status_code == 200, (url, answer.text[:300])
    return answer.json()


@pytest.mark.parametrize("path", DOCUMENTS)
def test_every_link_of_a_document_points_back(base, path):
    _assert_all_under(_urls(_get_json(base + path)), base)


def test_conformance_and_openapi_point_back(base):
    _assert_all_under(_urls(_get_json(f"{base}/conformance")), base, some=False)
    openapi = _get_json(f"{base}/openapi")
    assert [server["url"] for server in openapi["servers"]] == [base]
    _assert_all_under(_urls(openapi), base)


def test_items_links_lead_to_the_next_page_and_to_an_item(base):
    first = _get_json(f"{base}/collections/{L2A}/items", limit=3)
    _assert_all_under(_urls(first), base)
    following = next(link["href"] for link in first["links"] if link["rel"] == "next")
    second = httpx.get(following, timeout=60).json()  # the link as given, parameters and all
    _assert_all_under(_urls(second), base)
    assert len(second["features"]) == 3
    assert not {f["id"] for f in first["features"]} & {f["id"] for f in second["features"]}
    item = _get_json(f"{base}/collections/{L2A}/items/{first['features'][0]['id']}")
    _assert_all_under(_urls(item), base)


def test_the_html_landing_page_points_back(base):
    page = httpx.get(base, params={"f": "html"}, timeout=60, follow_redirects=True)
    assert page.status_code == 200
    urls = re.findall(r'(?:href|src)="(https?://[^"]+)"', page.text)
    _assert_all_under(urls, base)


def test_an_async_job_points_back_and_its_output_can_be_fetched(base, sample_archive, tmp_path):
    accepted = httpx.post(
        f"{base}/processes/export/execution",
        json={"inputs": BAND_MATH},
        headers={"Prefer": "respond-async"},
        timeout=60,
    )
    assert accepted.status_code == 201, accepted.text
    location = accepted.headers["location"]
    assert location == f"{base}/jobs/{accepted.json()['jobID']}"
    deadline = time.monotonic() + 180
    while (status := _get_json(location))["status"] in ("accepted", "running"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    assert status["status"] == "successful", status
    _assert_all_under(_urls(status), base)
    results = next(link["href"] for link in status["links"] if link["rel"].endswith("/results"))
    output = _get_json(results)
    assert output["href"].startswith(f"{base}/outputs/export-")
    cog = httpx.get(output["href"], timeout=60)
    assert cog.status_code == 200
    check_cog(cog.content, utm_reference(sample_archive), tmp_path / "export.tif")


def test_two_clients_with_different_hosts_at_once_get_their_own_links(gateway):
    hosts = ["a.example:1111", "b.example:2222"]

    def fetch(i: int) -> tuple[str, list[str]]:
        host = hosts[i % 2]
        answer = httpx.get(
            f"{gateway.url}/ogcapi/collections",
            params={"f": "json"},
            headers={"Host": host},
            timeout=60,
        )
        assert answer.status_code == 200
        return host, _own(_urls(answer.json()), {"a.example", "b.example", "127.0.0.1"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        for host, urls in pool.map(fetch, range(48)):
            assert urls and all(u.startswith(f"http://{host}/ogcapi") for u in urls), urls[:3]


def test_ogrinfo_lists_and_reads_the_feature_collections(gateway, base):
    ogrinfo = shutil.which("ogrinfo")
    assert ogrinfo, "gdal-bin is needed (apt-get install gdal-bin)"
    start = gateway.log_offset()
    listed = subprocess.run(
        [ogrinfo, "-ro", "-so", f"OAPIF:{base}"], capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert f": {L2A} " in listed.stdout and ": sentinel-2-global-mosaics " in listed.stdout
    read = subprocess.run(
        [ogrinfo, "-ro", "-al", "-q", f"OAPIF:{base}", L2A, "sentinel-2-global-mosaics"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert read.returncode == 0, read.stderr
    expected = _count(base, L2A) + _count(base, "sentinel-2-global-mosaics")
    assert read.stdout.count("OGRFeature") == expected > 8
    log = gateway.log_since(start)
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


def _count(base: str, collection: str) -> int:
    return _get_json(f"{base}/collections/{collection}/items", limit=1)["numberMatched"]


def test_other_doors_follow_the_proxy_too_and_the_log_names_the_client(gateway, proxy):
    start = gateway.log_offset()
    capabilities = httpx.get(
        f"http://127.0.0.1:{proxy.port}{PREFIX}/wfs",
        params={"SERVICE": "WFS", "REQUEST": "GetCapabilities"},
        timeout=60,
    )
    assert capabilities.status_code == 200
    assert f'href="http://127.0.0.1:{proxy.port}{PREFIX}/wfs' in capabilities.text
    assert f'{FORWARDED_FOR}:0 - "GET /gw/wfs?' in gateway.log_since(start)  # X-Forwarded-For
