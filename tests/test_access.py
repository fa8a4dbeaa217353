"""Access control (``gateway.access``) over real HTTP: API keys (header, bearer, ``key=``),
OpenID Connect tokens checked against a local JWKS endpoint serving keys made here, HTTP Basic;
each door's 401 and 403 validated as that door's exception dialect; capabilities listing only
what the caller may use; jobs belonging to their owner; OWSLib sending credentials."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
import yaml
from openapi_spec_validator import validate as validate_spec
from starlette.testclient import TestClient

from gateway.access.grants import Grant
from gateway.access.keys import FileKeyStore, create
from gateway.access.secrets import hash_password
from gateway.app import DOORS, create_app
from gateway.config import load_config
from tests.support.jwks_server import AUDIENCE, ISSUER, JwksServer, rsa_key, token
from tests.support.ogc_schemas import validate
from tests.support.openapi_offline import offline_openapi
from tests.support.ows_live import live_gateway
from tests.support.process_checks import BAND_MATH, idle_scheduler

OGC = "http://schemas.opengis.net/"
WMS111_EXCEPTION = OGC + "wms/1.1.1/exception_1_1_1.dtd"
WMS130_EXCEPTION = OGC + "wms/1.3.0/exceptions_1_3_0.xsd"
OWS11_EXCEPTION = OGC + "ows/1.1.0/owsExceptionReport.xsd"
OWS20_EXCEPTION = OGC + "ows/2.0/owsExceptionReport.xsd"
WCS100_EXCEPTION = OGC + "wcs/1.0.0/OGC-exception.xsd"
WMTS_CAPABILITIES = OGC + "wmts/1.0/wmtsGetCapabilities_response.xsd"
SLD = "http://www.opengis.net/sld"
CONFIG = load_config()
ALL_LAYERS = {layer.name for layer in CONFIG.layers} | {c.id for c in CONFIG.collections}
PROBLEM_TYPES = ("application/problem+json", "application/json")
L2A = "sentinel-2-l2a"
MOSAICS = "sentinel-2-global-mosaics"
PASSWORD = "wonder land ü"
VIEWER_DOOR = "gateway.ows.mapproxy.door:build_door"  # the viewer's routes are the WMS door's
REST_TILE = "/wmts/1.0.0/{layer}/WebMercatorQuad/2025-06-13/14/8465/5367.png"
GETMAP = {
    "SERVICE": "WMS", "REQUEST": "GetMap", "VERSION": "1.3.0", "CRS": "EPSG:3857",
    "BBOX": "333958,6621293,343742,6631077", "WIDTH": "64", "HEIGHT": "64",
    "FORMAT": "image/png", "STYLES": "", "TIME": "2025-06-13",
}  # fmt: skip


class Gateway:
    def __init__(self, url: str, keys: dict[str, str], store: FileKeyStore) -> None:
        self.url = url
        self.keys = keys
        self.store = store

    def get(self, path: str, key: str | None = None, **options) -> httpx.Response:
        """GET ``path`` (its query merged with ``params``) with ``key``'s X-API-Key."""
        path, _, query = path.partition("?")
        options["params"] = {**dict(parse_qsl(query)), **options.get("params", {})}
        headers = options.pop("headers", {})
        if key is not None:
            headers["X-API-Key"] = self.keys[key]
        return httpx.get(self.url + path, headers=headers, timeout=60, **options)


@pytest.fixture(scope="module")
def jwks() -> Iterator[JwksServer]:
    server = JwksServer(rsa_key("k1"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def gateway(sample_settings, jwks, tmp_path_factory) -> Iterator[Gateway]:
    folder = tmp_path_factory.mktemp("access")
    policy = {
        "anonymous": {"doors": ["wms"], "layers": ["TRUE_COLOR"]},
        "tokens": {"grant": {"processes": False}, "roles": {"processor": {}}},
        "users": {"alice": {"password": hash_password(PASSWORD), "grant": {"doors": ["wfs"]}}},
    }
    (folder / "access.yaml").write_text(yaml.safe_dump(policy))
    store = FileKeyStore(folder / "keys.json")
    grants = {
        "full": {},
        "other": {},
        "wcs_only": {"doors": ["wcs"]},
        "ndvi": {"collections": [L2A], "layers": ["NDVI"]},
        "no_runs": {"processes": False},
        "no_processes": {"doors": ["ogcapi"]},
    }
    keys = {name: create(store, name, Grant.of(grant))[0] for name, grant in grants.items()}
    with idle_scheduler() as scheduler:
        settings = sample_settings.model_copy(
            update={
                "access": "on",
                "access_file": folder / "access.yaml",
                "access_key_file": store.path,
                "oidc_jwks_url": jwks.url,
                "oidc_issuer": ISSUER,
                "oidc_audience": AUDIENCE,
                "dask_scheduler": scheduler,
                "output_dir": folder / "outputs",
            }
        )
        with live_gateway(settings, DOORS) as url:
            yield Gateway(url, keys, store)


def _validated(answer: httpx.Response, schema: str | None) -> None:
    """The answer is its door's exception report (``schema``) or problem details (None)."""
    if schema is None:  # the edge's problem details, or pygeoapi's exception of the door
        assert answer.headers["content-type"].split(";")[0] in PROBLEM_TYPES
        body = answer.json()
        assert body["code"] and body["description"]
        assert body.get("status", answer.status_code) == answer.status_code
        return
    validate(answer.content, [schema])


# -- off by default ------------------------------------------------------------------------


def test_off_by_default_everyone_may_use_everything(sample_settings, runtime):
    assert sample_settings.access == "off"
    with TestClient(create_app(sample_settings, runtime=runtime)) as client:
        answer = client.get("/wcs", params={"SERVICE": "WCS", "REQUEST": "GetCapabilities"})
        assert answer.status_code == 200
        assert f"{MOSAICS}__MOSAIC_NDVI" in answer.text
        openapi = client.get("/ogcapi/openapi", params={"f": "json"}).json()
        assert _collections_named(openapi["paths"]) == ALL_LAYERS
        assert "/processes/band-math/execution" in openapi["paths"]
        links = {link["href"] for link in client.get("/ogcapi").json()["links"]}
        assert {"http://testserver/ogcapi/processes", "http://testserver/ogcapi/jobs"} <= links
        layers = client.get("/viewer/layers.json").json()
        assert set(layers["layers"]) == {layer.name for layer in CONFIG.layers}


# -- API keys --------------------------------------------------------------------------------

WCS_CAPS = "/wcs?SERVICE=WCS&REQUEST=GetCapabilities"


def test_a_key_in_a_header_as_a_bearer_or_as_a_parameter(gateway):
    key = gateway.keys["full"]
    for headers, params in (
        ({"X-API-Key": key}, {}),
        ({"Authorization": f"Bearer {key}"}, {}),
        ({}, {"key": key}),
    ):
        answer = gateway.get(WCS_CAPS, headers=headers, params=params)
        assert answer.status_code == 200, answer.text
    # the key parameter is taken off the request: no link of the answer repeats it
    answer = gateway.get("/ogcapi/collections", params={"f": "json", "key": key})
    assert answer.status_code == 200 and key not in answer.text
    assert "key=" not in answer.text


def test_every_spelling_of_the_key_parameter_is_taken_off():
    from gateway.access.middleware import without_key

    query = b"a=1&k%65y=x&KEY=y&+key+=z&key&b=%26key%3D&keys=2"
    assert without_key(query) == b"a=1&b=%26key%3D&keys=2"


def test_a_wrong_or_revoked_key_is_401(gateway):
    answer = gateway.get(WCS_CAPS, headers={"X-API-Key": "cdse_" + "x" * 43})
    assert answer.status_code == 401
    assert 'Bearer realm="cdse-gateway"' in answer.headers.get_list("www-authenticate")
    key, record = create(gateway.store, "short-lived", Grant())
    assert gateway.get(WCS_CAPS, params={"key": key}).status_code == 200
    assert gateway.store.remove(record.id)
    assert gateway.get(WCS_CAPS, params={"key": key}).status_code == 401


def test_keys_are_stored_hashed(gateway):
    stored = gateway.store.path.read_text()
    assert not any(key in stored for key in gateway.keys.values())
    assert oct(gateway.store.path.stat().st_mode & 0o777) == "0o600"


# -- OpenID Connect tokens -----------------------------------------------------------------


def _with_token(gateway: Gateway, value: str, path: str = WCS_CAPS) -> httpx.Response:
    return gateway.get(path, headers={"Authorization": f"Bearer {value}"})


def test_a_valid_token(gateway, jwks):
    assert _with_token(gateway, token(jwks.keys[0])).status_code == 200
    listed = token(jwks.keys[0], aud=["account", AUDIENCE])  # Keycloak's list of audiences
    assert _with_token(gateway, listed).status_code == 200


@pytest.mark.parametrize(
    "claims",
    [
        {"lifetime": -120},  # expired (beyond the 30 s leeway)
        {"aud": "another-client"},
        {"iss": "https://elsewhere.test/realms/CDSE"},
        {"sub": None},  # no subject: whose would its jobs be?
        {"exp": None},  # never expires
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "no-subject", "no-expiry"],
)
def test_a_token_that_is_not_for_us_now_is_401(gateway, jwks, claims):
    answer = _with_token(gateway, token(jwks.keys[0], **claims))
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    _validated(answer, OWS20_EXCEPTION)


def test_a_token_signed_by_another_key_is_401(gateway, jwks):
    forged = token(rsa_key(jwks.keys[0].kid))  # the listed kid, another key
    assert _with_token(gateway, forged).status_code == 401
    assert _with_token(gateway, "not.a.jwt").status_code == 401
    assert _with_token(gateway, token(rsa_key("nobody-lists-this"))).status_code == 401


def test_an_unknown_kid_fetches_the_jwks_again(gateway, jwks, monkeypatch):
    """The issuer rotated its keys: a token of the new key is accepted once the JWKS is
    fetched again; a kid the issuer does not list costs at most one fetch per interval."""
    import gateway.access.tokens as tokens

    assert _with_token(gateway, token(jwks.keys[0])).status_code == 200
    rotated = rsa_key("k2")
    jwks.keys.append(rotated)
    before = jwks.fetches
    monkeypatch.setattr(tokens, "MIN_REFRESH_S", 0.0)
    assert _with_token(gateway, token(rotated)).status_code == 200
    assert jwks.fetches == before + 1
    monkeypatch.setattr(tokens, "MIN_REFRESH_S", 3600.0)
    for _ in range(3):
        assert _with_token(gateway, token(rsa_key("random"))).status_code == 401
    assert jwks.fetches == before + 1


def test_token_grants_follow_the_roles(gateway, jwks):
    execute = "/ogcapi/processes/band-math/execution"
    body = {"inputs": BAND_MATH}
    plain = {"Authorization": f"Bearer {token(jwks.keys[0])}"}
    answer = httpx.post(gateway.url + execute, json=body, headers=plain, timeout=60)
    assert answer.status_code == 403
    _validated(answer, None)
    processor = token(jwks.keys[0], realm_access={"roles": ["processor"]})
    answer = httpx.post(
        gateway.url + execute,
        json=body,
        headers={"Authorization": f"Bearer {processor}", "Prefer": "respond-async"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text


# -- HTTP Basic ------------------------------------------------------------------------------


def _basic(user: str, password: str) -> dict[str, str]:
    pair = f"{user}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def test_basic_users(gateway):
    caps = "/wfs?SERVICE=WFS&REQUEST=GetCapabilities"
    assert gateway.get(caps, headers=_basic("alice", PASSWORD)).status_code == 200
    wrong = gateway.get(caps, headers=_basic("alice", "guess"))
    assert wrong.status_code == 401
    assert 'Basic realm="cdse-gateway", charset="UTF-8"' in wrong.headers.get_list(
        "www-authenticate"
    )
    _validated(wrong, OWS11_EXCEPTION)
    assert gateway.get(WCS_CAPS, headers=_basic("alice", PASSWORD)).status_code == 403


# -- permissions per door, in each door's dialect -------------------------------------------

WMS = dict(GETMAP, LAYERS="NDVI")
WCS201 = {"SERVICE": "WCS", "VERSION": "2.0.1", "REQUEST": "DescribeCoverage"}
WCS100 = {"SERVICE": "WCS", "VERSION": "1.0.0", "REQUEST": "DescribeCoverage"}
FEATURES = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature"}
REFUSED = [
    # (key, path, params, status, schema of the answer: None for problem details)
    (None, "/wcs", {"SERVICE": "WCS", "REQUEST": "GetCapabilities"}, 401, OWS20_EXCEPTION),
    (None, "/ows", {"SERVICE": "WFS", "REQUEST": "GetCapabilities"}, 401, OWS11_EXCEPTION),
    (None, "/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}, 401, OWS11_EXCEPTION),
    (None, "/wms", WMS, 401, WMS130_EXCEPTION),  # anonymous may only see TRUE_COLOR
    (None, "/ogcapi/collections", {}, 401, None),
    ("wcs_only", "/wms", WMS, 403, WMS130_EXCEPTION),
    ("wcs_only", "/wms", dict(WMS, VERSION="1.1.1"), 403, WMS111_EXCEPTION),
    ("wcs_only", "/ows", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}, 403, OWS11_EXCEPTION),
    ("wcs_only", REST_TILE.format(layer="NDVI"), {}, 403, OWS11_EXCEPTION),
    ("wcs_only", "/wfs", {"SERVICE": "WFS", "REQUEST": "GetCapabilities"}, 403, OWS11_EXCEPTION),
    ("wcs_only", "/ogcapi/collections", {}, 403, None),
    ("wcs_only", "/ogcapi/jobs", {}, 403, None),
    ("ndvi", "/wms", dict(WMS, LAYERS="TRUE_COLOR"), 403, WMS130_EXCEPTION),
    ("ndvi", REST_TILE.format(layer="TRUE_COLOR"), {}, 403, OWS11_EXCEPTION),
    ("ndvi", "/wcs", dict(WCS201, COVERAGEID=MOSAICS), 403, OWS20_EXCEPTION),
    ("ndvi", "/wcs", dict(WCS100, COVERAGE=f"{L2A}__TRUE_COLOR"), 403, WCS100_EXCEPTION),
    ("ndvi", "/wfs", dict(FEATURES, TYPENAMES=f"cdse:{MOSAICS}"), 403, OWS11_EXCEPTION),
    ("ndvi", "/ogcapi/collections/TRUE_COLOR/map", {}, 403, None),
    ("ndvi", f"/ogcapi/collections/{MOSAICS}/items", {}, 403, None),
]


@pytest.mark.parametrize("key,path,params,status,schema", REFUSED)
def test_refusals_in_each_doors_dialect(gateway, key, path, params, status, schema):
    answer = gateway.get(path, key, params=params)
    assert answer.status_code == status, answer.text
    assert ("www-authenticate" in answer.headers) == (status == 401)
    _validated(answer, schema)


def test_what_a_grant_allows_passes(gateway):
    assert gateway.get("/wms", "ndvi", params=WMS).headers["content-type"] == "image/png"
    tile = gateway.get(REST_TILE.format(layer="NDVI"), "ndvi")
    assert tile.status_code == 200
    assert tile.headers["cache-control"].startswith("private")  # no shared cache keeps it
    anonymous = gateway.get("/wms", params=dict(WMS, LAYERS="TRUE_COLOR"))
    assert anonymous.headers["content-type"] == "image/png"
    assert gateway.get("/healthz").status_code == 200  # probes need no credentials


def test_behind_a_proxy_prefix_and_on_unknown_paths_credentials_are_needed(gateway):
    """A proxy's X-Forwarded-Prefix puts the prefix in the path: the door is still found."""
    prefixed = {"X-Forwarded-Prefix": "/gateway"}
    assert gateway.get(WCS_CAPS, headers=prefixed).status_code == 401
    assert gateway.get(WCS_CAPS, "full", headers=prefixed).status_code == 200
    assert gateway.get(WCS_CAPS, "ndvi", headers=prefixed).status_code == 200
    assert gateway.get("/wms", "wcs_only", params=WMS, headers=prefixed).status_code == 403
    assert gateway.get("/healthz", headers=prefixed).status_code == 200
    wrong = {"X-API-Key": "cdse_wrong"}
    assert gateway.get("/no-such-door", headers=wrong).status_code == 401
    assert gateway.get("/no-such-door", "full").status_code == 404
    assert gateway.get("/no-such-door").status_code == 404  # this policy has an anonymous grant


def test_an_unknown_service_is_the_dispatchers_400_not_a_refusal(gateway):
    answer = gateway.get("/ows", "wcs_only", params={"SERVICE": "<x>", "REQUEST": "GetMap"})
    assert answer.status_code == 400 and "<x>" not in answer.text


def test_running_processes_is_a_permission_of_its_own(gateway):
    headers = {"X-API-Key": gateway.keys["no_runs"]}
    assert gateway.get("/ogcapi/processes", headers=headers).status_code == 200
    answer = httpx.post(
        gateway.url + "/ogcapi/processes/band-math/execution",
        json={"inputs": BAND_MATH},
        headers=headers,
        timeout=60,
    )
    assert answer.status_code == 403
    _validated(answer, None)


def test_process_inputs_name_only_what_the_caller_may_use(gateway):
    def run(expression: str, **inputs) -> httpx.Response:
        return httpx.post(
            gateway.url + "/ogcapi/processes/band-math/execution",
            json={"inputs": {**BAND_MATH, "expression": expression, **inputs}},
            headers={"X-API-Key": gateway.keys["ndvi"], "Prefer": "respond-async"},
            timeout=60,
        )

    for refused in (run("TRUE_COLOR"), run("B04", collection=MOSAICS)):
        assert refused.status_code == 403, refused.text
        _validated(refused, None)
    assert run("NDVI").status_code == 201


# -- capabilities list what the caller may use ----------------------------------------------


def test_capabilities_list_only_what_the_caller_may_use(gateway):
    wcs = gateway.get(WCS_CAPS, "ndvi").text
    assert set(re.findall(r"CoverageId>([^<]+)<", wcs)) == {L2A, f"{L2A}__NDVI"}
    wfs = gateway.get("/wfs?SERVICE=WFS&REQUEST=GetCapabilities", "ndvi").text
    assert re.findall(r"<wfs:Name>([^<]+)<", wfs) == [f"cdse:{L2A}"]
    listed = gateway.get("/ogcapi/collections", "ndvi", params={"f": "json"}).json()
    assert {c["id"] for c in listed["collections"]} == {L2A, "NDVI"}
    everything = gateway.get("/ogcapi/collections", "full", params={"f": "json"}).json()
    assert {MOSAICS, "TRUE_COLOR", "NDVI"} <= {c["id"] for c in everything["collections"]}
    # a feature type named in an XML body is checked by the door: unknown to this caller
    query = (
        '<wfs:GetFeature service="WFS" version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0"'
        f' xmlns:cdse="urn:cdse"><wfs:Query typeNames="cdse:{MOSAICS}"/></wfs:GetFeature>'
    )
    answer = httpx.post(
        gateway.url + "/wfs", content=query, headers={"X-API-Key": gateway.keys["ndvi"]}
    )
    assert answer.status_code in (400, 404) and MOSAICS in answer.text


CAPABILITIES = [
    ("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"},
     OGC + "wms/1.3.0/capabilities_1_3_0.xsd", ".//{*}Layer/{*}Name"),
    ("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.1.1"},
     OGC + "wms/1.1.1/WMS_MS_Capabilities.dtd", ".//Layer/Name"),
    ("/wmts/1.0.0/WMTSCapabilities.xml", {}, WMTS_CAPABILITIES, ".//{*}Layer/{*}Identifier"),
    ("/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}, WMTS_CAPABILITIES,
     ".//{*}Layer/{*}Identifier"),
]  # fmt: skip


@pytest.mark.parametrize("path,params,schema,names", CAPABILITIES)
def test_wms_and_wmts_capabilities_list_the_callers_layers(gateway, path, params, schema, names):
    def listed(key: str) -> set[str]:
        answer = gateway.get(path, key, params=params)
        assert answer.status_code == 200, answer.text
        root = validate(answer.content, [schema], vendor=[SLD, ""])
        return {element.text for element in root.iterfind(names)}

    everything = listed("full")
    assert {"TRUE_COLOR", "NDVI", "MOSAIC_NDVI"} <= everything
    assert listed("ndvi") == {"NDVI"} | (everything - ALL_LAYERS)  # the root layer stays


def _collections_named(paths) -> set[str]:
    return {path.split("/")[2] for path in paths if path.startswith("/collections/")}


def test_the_openapi_document_describes_only_what_the_caller_may_use(gateway):
    def described(key: str) -> dict:
        answer = gateway.get("/ogcapi/openapi", key, params={"f": "json"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    everything = described("full")
    assert _collections_named(everything["paths"]) == ALL_LAYERS
    ndvi = described("ndvi")
    assert _collections_named(ndvi["paths"]) == {L2A, "NDVI"}
    assert {"/collections/NDVI/map", "/collections/NDVI/tiles", "/processes"} <= set(ndvi["paths"])
    assert {tag["name"] for tag in ndvi["tags"]} & ALL_LAYERS == {L2A, "NDVI"}
    validate_spec(offline_openapi(ndvi))  # OpenAPI 3 (every collection's: getMap is not unique)
    no_runs = described("no_runs")
    assert not [path for path in no_runs["paths"] if path.endswith("/execution")]
    assert "/processes/band-math" in no_runs["paths"] and "/jobs" in no_runs["paths"]
    no_processes = described("no_processes")
    assert not [p for p in no_processes["paths"] if p.startswith(("/processes", "/jobs"))]
    assert _collections_named(no_processes["paths"]) == ALL_LAYERS


def test_the_landing_page_links_only_to_what_the_caller_may_use(gateway):
    def linked(key: str, **params) -> set[str]:
        answer = gateway.get("/ogcapi", key, params=params)
        assert answer.status_code == 200, answer.text
        return {link["href"].split("?")[0] for link in answer.json()["links"]}

    base = gateway.url + "/ogcapi"
    processes = {f"{base}/processes", f"{base}/jobs"}
    everything = linked("full", f="json")
    assert processes | {f"{base}/collections", f"{base}/openapi"} <= everything
    assert linked("no_runs") == everything  # listing processes and jobs is allowed
    assert linked("no_processes", f="json") == everything - processes
    assert gateway.get("/ogcapi/", "no_processes", params={"f": "jsonld"}).status_code == 200
    html = gateway.get("/ogcapi/", "no_processes", params={"f": "html"}).text
    assert f"{base}/processes?f=html" not in html and f"{base}/collections?f=html" in html


def test_the_viewer_lists_only_the_callers_layers(gateway):
    def catalog(key: str | None) -> dict:
        answer = gateway.get("/viewer/layers.json", key)
        assert answer.status_code == 200
        return answer.json()

    everything = catalog("full")
    assert set(everything["layers"]) == {layer.name for layer in CONFIG.layers}
    assert everything["backdrop"] == "MOSAIC_TRUE_COLOR"
    assert catalog("ndvi") == {
        "layers": {"NDVI": {"collection": L2A, "cloudMask": True}},
        "backdrop": None,
    }
    # The viewer draws its layers from the WMTS: none for a grant without it (the anonymous
    # grant here has WMS only, and its TRUE_COLOR layer).
    assert catalog(None) == catalog("wcs_only") == {"layers": {}, "backdrop": None}
    wrong = gateway.get("/viewer/layers.json", headers={"X-API-Key": "cdse_wrong"})
    assert wrong.status_code == 200 and wrong.json() == {"layers": {}, "backdrop": None}


def test_without_an_anonymous_grant_the_viewer_lists_no_layers(sample_settings, tmp_path):
    settings = sample_settings.model_copy(
        update={"access": "on", "access_key_file": tmp_path / "keys.json"}
    )
    with TestClient(create_app(settings, doors=(VIEWER_DOOR,))) as client:  # closes its runtime
        assert client.get("/viewer/layers.json").json() == {"layers": {}, "backdrop": None}
        assert client.get("/").status_code == 200


# -- jobs belong to their owner ------------------------------------------------------------


def test_jobs_belong_to_their_owner(gateway):
    def call(method: str, path: str, key: str, **options) -> httpx.Response:
        headers = {"X-API-Key": gateway.keys[key], **options.pop("headers", {})}
        return httpx.request(method, gateway.url + path, headers=headers, timeout=60, **options)

    accepted = call(
        "POST",
        "/ogcapi/processes/band-math/execution",
        "full",
        json={"inputs": BAND_MATH},
        headers={"Prefer": "respond-async"},
    )
    assert accepted.status_code == 201, accepted.text
    job = accepted.json()["jobID"]

    def listed(key: str) -> set[str]:
        answer = call("GET", "/ogcapi/jobs", key, params={"f": "json"})
        assert answer.status_code == 200
        return {j["jobID"] for j in answer.json()["jobs"]}

    assert job in listed("full")
    assert job not in listed("other")
    for method, path in (
        ("GET", f"/ogcapi/jobs/{job}"),
        ("GET", f"/ogcapi/jobs/{job}/results"),
        ("DELETE", f"/ogcapi/jobs/{job}"),
    ):
        answer = call(method, path, "other", params={"f": "json"})
        assert answer.status_code == 404, (method, path, answer.text)
    assert call("GET", f"/ogcapi/jobs/{job}", "full", params={"f": "json"}).status_code == 200
    assert call("DELETE", f"/ogcapi/jobs/{job}", "full", params={"f": "json"}).status_code == 200
    assert job not in listed("full")


# -- real clients ----------------------------------------------------------------------------


def test_owslib_sends_a_key_header_and_basic_credentials(gateway):
    from owslib.util import Authentication
    from owslib.wcs import WebCoverageService
    from owslib.wfs import WebFeatureService

    wcs = WebCoverageService(
        gateway.url + "/wcs", version="2.0.1", headers={"X-API-Key": gateway.keys["ndvi"]}
    )
    assert set(wcs.contents) == {L2A, f"{L2A}__NDVI"}
    wfs = WebFeatureService(
        gateway.url + "/wfs",
        version="2.0.0",
        auth=Authentication(username="alice", password=PASSWORD),
    )
    # alice: every collection
    assert set(wfs.contents) == {f"cdse:{c.id}" for c in CONFIG.collections}
    with pytest.raises(Exception, match="401"):
        WebCoverageService(gateway.url + "/wcs", version="2.0.1")


def test_the_key_file_is_read_again_when_it_changes(tmp_path: Path):
    store = FileKeyStore(tmp_path / "keys.json")
    assert store.find("0" * 64) is None
    _, record = create(store, "a", Grant())
    assert FileKeyStore(store.path).find(record.digest) == record
    assert store.find(record.digest) == record


# -- the command and the caller handed on ----------------------------------------------------


def test_the_keys_command(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from gateway.cli import app

    monkeypatch.setenv("GATEWAY_ACCESS_KEY_FILE", str(tmp_path / "keys.json"))
    runner = CliRunner()
    made = runner.invoke(app, ["keys", "create", "--name", "ops", "--doors", "wms,wcs"])
    assert made.exit_code == 0, made.output
    key_id = re.search(r"id: (\w+)", made.output)[1]
    key = re.search(r"key: (cdse_\S+)", made.output)[1]
    listed = runner.invoke(app, ["keys", "list"]).output
    assert key_id in listed and "doors=wcs,wms" in listed and key not in listed
    assert runner.invoke(app, ["keys", "create", "--name", "x", "--doors", "ftp"]).exit_code != 0
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 1
    assert key_id not in runner.invoke(app, ["keys", "list"]).output
    hashed = runner.invoke(app, ["keys", "hash-password"], input="pw\npw\n").output
    assert re.search(r"scrypt\$\S+", hashed)


def test_the_caller_is_handed_on(sample_settings, runtime, tmp_path):
    """``scope["gateway.caller"]`` (the rate limits) and the context's caller id (the jobs)."""
    import asyncio

    from gateway.access.callers import ANONYMOUS
    from gateway.access.middleware import Access
    from gateway.access.setup import authenticator
    from gateway.context import current
    from gateway.edge.rejections import Rejections
    from gateway.ows.dispatch import requested_service
    from gateway.ows.kvp import Kvp

    store = FileKeyStore(tmp_path / "keys.json")
    key, record = create(store, "seen", Grant())
    seen: list = []

    async def door(scope, receive, send) -> None:
        seen.append((scope["gateway.caller"], current().caller))

    def call(access: str) -> None:
        settings = sample_settings.model_copy(
            update={"access": access, "access_key_file": store.path}
        )
        middleware = Access(
            door,
            authenticator=authenticator(settings),
            config=runtime.config,
            rejections=Rejections([], requested_service),
            service_of=requested_service,
            params_of=Kvp.of_scope,
        )
        scope = {
            "type": "http", "method": "GET", "path": "/wcs", "query_string": b"",
            "headers": [(b"x-api-key", key.encode())],
        }  # fmt: skip
        asyncio.run(middleware(scope, None, None))

    call("off")
    call("on")
    assert seen[0] == (ANONYMOUS, None)
    caller, owner = seen[1]
    assert (caller.id, caller.kind, owner) == (f"key:{record.id}", "key", f"key:{record.id}")


def test_keys_in_redis_are_shared_and_revoked_within_the_memory(redis_server, monkeypatch):
    import gateway.access.keys as keys
    from gateway.access.keys import REDIS_HASH, RedisKeyStore
    from gateway.access.secrets import key_digest

    url = f"redis://127.0.0.1:{redis_server.port}/7"
    writer, reader = RedisKeyStore(url), RedisKeyStore(url)  # two replicas
    key, record = create(writer, "shared", Grant.of({"doors": ["wms"]}))
    assert reader.find(key_digest(key)) == record
    assert [r.id for r in reader.all()] == [record.id]
    raw = writer._redis.hgetall(REDIS_HASH)
    assert key.encode() not in b"".join(k + v for k, v in raw.items())
    assert writer.remove(record.id) and not writer.remove(record.id)
    assert reader.find(key_digest(key)) == record  # remembered up to REDIS_TTL_S
    monkeypatch.setattr(keys, "REDIS_TTL_S", 0.0)
    assert reader.find(key_digest(key)) is None
