"""Hostile credentials: garbage in ``Authorization``, ``X-API-Key`` and the ``key`` parameter,
forged and malformed tokens. Each is a 401 in the door's dialect (or the server's own 4xx for
what HTTP itself refuses), never a 5xx, never echoed, never logged; against the gateway served
as ``cdse-gateway serve`` serves it, with access control on."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from lxml import etree

from gateway.access.grants import Grant
from gateway.access.keys import FileKeyStore, create
from tests.support.gateway_server import GatewayServer
from tests.support.jwks_server import AUDIENCE, ISSUER, JwksServer, rsa_key, token

OWS_REPORTS = {
    "{http://www.opengis.net/ows/2.0}ExceptionReport",
    "{http://www.opengis.net/ows/1.1}ExceptionReport",
    "ServiceExceptionReport",
    "{http://www.opengis.net/ogc}ServiceExceptionReport",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(header: dict, claims: dict, signature: bytes = b"sig") -> str:
    parts = (json.dumps(header).encode(), json.dumps(claims).encode(), signature)
    return ".".join(_b64(p) for p in parts)


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    server = JwksServer(rsa_key("k1"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def served(sample_archive, tmp_path_factory, jwks) -> Iterator[tuple[GatewayServer, str]]:
    folder = tmp_path_factory.mktemp("access-hostile")
    store = FileKeyStore(folder / "keys.json")
    key, _ = create(store, "hostile", Grant())
    env = {
        "GATEWAY_DATA_DIR": str(sample_archive),
        "GATEWAY_OUTPUT_DIR": str(folder / "outputs"),
        "GATEWAY_ACCESS": "on",
        "GATEWAY_ACCESS_KEY_FILE": str(store.path),
        "GATEWAY_OIDC_JWKS_URL": jwks.url,
        "GATEWAY_OIDC_ISSUER": ISSUER,
        "GATEWAY_OIDC_AUDIENCE": AUDIENCE,
    }
    server = GatewayServer(env, folder / "server.log", serve_options=[]).start()
    try:
        yield server, key
    finally:
        server.stop()


NOW_CLAIMS = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "exp": 4102444800}
AUTHORIZATION = {
    "bearer-empty": "Bearer",
    "bearer-blank": "Bearer  \t  x",
    "bearer-long": "Bearer " + "A" * 20_000,
    "bearer-dots": "Bearer ....",
    "bearer-three-parts": "Bearer a.b.c",
    "bearer-key-like": "Bearer cdse_" + "A" * 43,
    "alg-none": "Bearer " + _jwt({"alg": "none", "kid": "k1"}, NOW_CLAIMS, b""),
    "alg-hs256": "Bearer " + _jwt({"alg": "HS256", "kid": "k1"}, NOW_CLAIMS),
    "kid-number": "Bearer " + _jwt({"alg": "RS256", "kid": 7}, NOW_CLAIMS),
    "kid-path": "Bearer " + _jwt({"alg": "RS256", "kid": "../../etc/passwd"}, NOW_CLAIMS),
    "kid-url": "Bearer " + _jwt({"alg": "RS256", "kid": "http://127.0.0.1:1/"}, NOW_CLAIMS),
    "jku": "Bearer " + _jwt({"alg": "RS256", "kid": "k1", "jku": "http://127.0.0.1:1/"}, {}),
    "unsigned-claims": "Bearer " + _jwt({"alg": "RS256", "kid": "k1"}, NOW_CLAIMS),
    "not-json": "Bearer " + _b64(b"{") + "." + _b64(b"}") + ".x",
    "basic-empty": "Basic",
    "basic-not-base64": "Basic !!!!",
    "basic-no-colon": "Basic " + base64.b64encode(b"nocolon").decode(),
    "basic-empty-pair": "Basic " + base64.b64encode(b":").decode(),
    "basic-binary": "Basic " + base64.b64encode(b"\xff\xfe:\x00\x01").decode(),
    "basic-long": "Basic " + base64.b64encode(b"u:" + b"p" * 30_000).decode(),
    "digest": 'Digest username="x", realm="y"',
    "latin-1": "Bearer \xe9\xe8\xff",
    "two-schemes": "Bearer Basic x",
}
PATHS = {
    "wcs": "/wcs?SERVICE=WCS&REQUEST=GetCapabilities",
    "wms": "/wms?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.1.1",
    "ogcapi": "/ogcapi/collections",
}


def _check_refusal(answer: httpx.Response, door: str, secret: str | None = None) -> None:
    assert answer.status_code < 500, answer.text
    if answer.status_code != 401:
        assert answer.status_code in (400, 413, 414, 431), answer.status_code  # HTTP's own
        return
    assert answer.headers["www-authenticate"].startswith("Bearer")
    if door == "ogcapi":
        assert answer.json()["status"] == 401
    else:
        parser = etree.XMLParser(no_network=True, resolve_entities=False)
        assert etree.fromstring(answer.content, parser).tag in OWS_REPORTS
    if secret:
        assert secret not in answer.text


@pytest.mark.parametrize("door", PATHS)
@pytest.mark.parametrize("value", AUTHORIZATION.values(), ids=AUTHORIZATION.keys())
def test_garbage_authorization(served, jwks, door, value):
    server, _ = served
    before = jwks.fetches
    headers = [("Authorization", value.encode("latin-1"))]
    answer = httpx.get(server.url + PATHS[door], headers=headers, timeout=30)
    _check_refusal(answer, door, value.partition(" ")[2][:200] or None)
    assert jwks.fetches <= before + 1  # at most one fetch per interval, whatever the kid


KEYS = {
    "empty": "",
    "nul": "%00",
    "quote": "%27%20OR%201%3D1--",
    "script": "%3Cscript%3E",
    "long": "k" * 6000,
    "unicode": "%C3%A9%E2%80%AE",
    "twice": "a&key=b",
    "percent": "%",
}


@pytest.mark.parametrize("door", PATHS)
@pytest.mark.parametrize("value", KEYS.values(), ids=KEYS.keys())
def test_garbage_key_parameter(served, door, value):
    server, _ = served
    path = PATHS[door]
    url = f"{server.url}{path}{'&' if '?' in path else '?'}key={value}"
    _check_refusal(httpx.get(url, timeout=30), door)
    header = httpx.get(server.url + path, headers={"X-API-Key": value[:200]}, timeout=30)
    _check_refusal(header, door)


def test_a_good_key_works_and_no_key_reaches_the_log(served):
    server, key = served
    offset = server.log_offset()
    for path in PATHS.values():
        sep = "&" if "?" in path else "?"
        answer = httpx.get(f"{server.url}{path}{sep}key={key}", timeout=60)
        assert answer.status_code == 200, answer.text
        assert key not in answer.text
        assert httpx.get(f"{server.url}{path}{sep}key={key}x", timeout=30).status_code == 401
    signed = token(rsa_key("k1"))  # the listed kid, another key: forged
    forged = httpx.get(server.url + PATHS["wcs"], headers={"Authorization": f"Bearer {signed}"})
    assert forged.status_code == 401
    logged = server.log_since(offset)
    assert key not in logged and signed not in logged


@pytest.mark.parametrize("door", PATHS)
def test_with_access_off_credentials_are_ignored(gateway, door):
    """The session's gateway (access control off): any key or Authorization is no matter."""
    path = PATHS[door]
    sep = "&" if "?" in path else "?"
    for value in ("%3Cx%3Ehostile%3C%2Fx%3E", "k" * 3000):
        answer = httpx.get(f"{gateway.url}{path}{sep}key={value}", timeout=60)
        assert answer.status_code == 200 and "<x>hostile" not in answer.text
    garbage = {"Authorization": "Bearer " + _jwt({"alg": "none"}, {}), "X-API-Key": "x"}
    assert httpx.get(gateway.url + path, headers=garbage, timeout=60).status_code == 200
