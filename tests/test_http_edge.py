"""The HTTP edge, as clients see it on the wire: header spelling, tile caching, CORS.

Against the gateway served as ``cdse-gateway serve`` serves it (its uvicorn protocol), with a
Redis tile cache; answers are read from a bare socket, header names as written.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from email.utils import parsedate_to_datetime

import httpx
import morecantile
import pytest

from gateway.settings import Settings
from tests.support.expected import load_items, read_band
from tests.support.gateway_server import GatewayServer
from tests.support.ows_live import live_gateway
from tests.support.raw_http import RawResponse, raw_request

DAY = "2025-06-13"
UTM31 = (700000.0, 5832000.0, 703000.0, 5835000.0)  # inside T31UFU
MAX_AGE = 120
# A conventional header name: capitalised dash-separated words (or ETag, WWW-Authenticate...).
CONVENTIONAL = re.compile(
    rb"^(ETag|WWW-Authenticate|X-Request-ID|[A-Z][a-z0-9]*(-[A-Z][a-z0-9]*)*)$"
)
REDIS_DB = 5  # a database of the session's redis-server of its own


@pytest.fixture(scope="module")
def served(sample_archive, tmp_path_factory, redis_server) -> Iterator[str]:
    redis_url = f"redis://127.0.0.1:{redis_server.port}/{REDIS_DB}"
    import redis

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    folder = tmp_path_factory.mktemp("edge")
    env = {
        "GATEWAY_DATA_DIR": str(sample_archive),
        "GATEWAY_OUTPUT_DIR": str(folder / "out"),
        "GATEWAY_REDIS_URL": redis_url,
        "GATEWAY_TILE_MAX_AGE_S": str(MAX_AGE),
    }
    gateway = GatewayServer(env, folder / "server.log", serve_options=[]).start()
    try:
        yield gateway.url
    finally:
        gateway.stop()


def _names(answer: RawResponse) -> list[bytes]:
    return [name for name, _ in answer.headers]


def _assert_conventional(answer: RawResponse) -> None:
    for name in _names(answer):
        assert CONVENTIONAL.match(name), f"header name {name!r} as written"
    assert not {n.lower() for n in _names(answer)} & {b"server", b"x-powered-by"}


def _featureinfo(url: str, info_format: str = "application/json") -> str:
    params = (
        "SERVICE=WMS&VERSION=1.3.0&REQUEST=GetFeatureInfo&LAYERS=NDVI&QUERY_LAYERS=NDVI"
        "&STYLES=&CRS=EPSG:32631&BBOX=" + ",".join(map(str, UTM31)) + "&WIDTH=300&HEIGHT=300"
        f"&I=120&J=80&INFO_FORMAT={info_format}&FORMAT=image/png&TIME={DAY}"
    )
    return f"{url}/wms?{params}"


def _tile(url: str, z: int, x: int, y: int) -> str:
    return f"{url}/wmts/1.0.0/NDVI/WebMercatorQuad/{DAY}/{z}/{x}/{y}.png"


# -- header names --------------------------------------------------------------------------


def test_qgis_identifies_a_pixel_as_a_feature(served, sample_archive):
    """QGIS 3.22 takes a GetFeatureInfo answer as features when it finds ``Content-Type``
    (spelt so) with a JSON media type; the feature's value is the scene's NDVI there."""
    answer = raw_request(_featureinfo(served))
    assert answer.status == 200
    assert (answer.header(b"Content-Type") or b"").startswith(b"application/json")
    _assert_conventional(answer)
    feature = answer.json()["features"][0]
    x, y = feature["geometry"]["coordinates"]
    item = next(
        i
        for i in load_items(sample_archive, "sentinel-2-l2a")
        if i["properties"]["grid:code"] == "MGRS-31UFU" and i["properties"]["datetime"][:10] == DAY
    )
    nir = read_band(sample_archive, item, "B08_10m").sample(x, y, "EPSG:32631")
    red = read_band(sample_archive, item, "B04_10m").sample(x, y, "EPSG:32631")
    expected = float((nir - red) / (nir + red))
    assert feature["properties"]["values"]["NDVI"] == pytest.approx(expected, abs=1e-4)


CASES = {
    "wms-exception": ("/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=NOPE", 400),
    "wms-map-through-mapproxy": (
        "/wms?SERVICE=WMS&VERSION=1.3.0&REQUEST=GetMap&LAYERS=NDVI&STYLES=&CRS=EPSG:32631"
        "&BBOX=700000,5832000,703000,5835000&WIDTH=300&HEIGHT=300&FORMAT=image/png",
        200,
    ),
    "wmts-capabilities": ("/wmts/1.0.0/WMTSCapabilities.xml", 200),
    "wmts-exception": ("/wmts/1.0.0/NDVI/WebMercatorQuad/default/99/0/0.png", 400),
    "wcs-capabilities": ("/wcs?SERVICE=WCS&REQUEST=GetCapabilities", 200),
    "wfs-exception": ("/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature", 400),
    "ogcapi-json": ("/ogcapi/collections?f=json", 200),
    "ogcapi-problem": ("/ogcapi/collections/nope?f=json", 404),
    "viewer": ("/", 200),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_door_writes_conventional_header_names(served, case):
    path, status = CASES[case]
    answer = raw_request(served + path)
    assert answer.status == status, answer.body[:300]
    _assert_conventional(answer)
    assert answer.header(b"Content-Type") and answer.header(b"Date")


def test_tile_miss_and_hit_write_conventional_header_names(served):
    url = _tile(served, 13, 4233, 2683)
    miss, hit = raw_request(url), raw_request(url)
    assert (miss.header(b"X-Cache"), hit.header(b"X-Cache")) == (b"miss", b"hit")
    for answer in (miss, hit):
        _assert_conventional(answer)
        assert answer.header(b"Content-Type") == b"image/png"
        assert answer.header(b"Content-Length") == str(len(answer.body)).encode()
        assert answer.header(b"ETag") and answer.header(b"Cache-Control")


# -- tile caching -----------------------------------------------------------------------


def _assert_cacheable(answer: httpx.Response) -> str:
    """Validators of a tile answer: a strong ETag of its bytes, Last-Modified, max-age."""
    assert answer.status_code == 200, answer.text[:300]
    assert answer.headers["cache-control"] == f"public, max-age={MAX_AGE}"
    etag = answer.headers["etag"]
    assert etag == '"' + hashlib.sha256(answer.content).hexdigest()[:32] + '"'
    modified = parsedate_to_datetime(answer.headers["last-modified"])
    assert modified <= parsedate_to_datetime(answer.headers["date"])
    return etag


def _assert_revalidates(url: str, etag: str, **params: str) -> None:
    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        answer = httpx.get(url, params=params, headers={"If-None-Match": header}, timeout=60)
        assert answer.status_code == 304, header
        assert answer.content == b"" and answer.headers["etag"] == etag
        assert answer.headers["cache-control"] == f"public, max-age={MAX_AGE}"
    changed = httpx.get(url, params=params, headers={"If-None-Match": '"nope"'}, timeout=60)
    assert changed.status_code == 200 and changed.headers["etag"] == etag


def test_wmts_tiles_carry_validators_and_revalidate(served):
    z, x, y = 14, 8466, 5366
    rest = _tile(served, z, x, y)
    miss = httpx.get(rest, timeout=120)
    assert miss.headers["x-cache"] == "miss"
    etag = _assert_cacheable(miss)
    hit = httpx.get(rest, timeout=60)
    assert hit.headers["x-cache"] == "hit" and _assert_cacheable(hit) == etag
    assert hit.headers["last-modified"] == miss.headers["last-modified"]
    _assert_revalidates(rest, etag)
    kvp = {
        "SERVICE": "WMTS", "REQUEST": "GetTile", "VERSION": "1.0.0", "LAYER": "NDVI",
        "STYLE": "default", "TILEMATRIXSET": "WebMercatorQuad", "TILEMATRIX": str(z),
        "TILECOL": str(x), "TILEROW": str(y), "FORMAT": "image/png", "TIME": DAY,
    }  # fmt: skip
    answer = httpx.get(f"{served}/wmts", params=kvp, timeout=60)
    assert _assert_cacheable(answer) == etag  # the same tile by KVP: the same version
    _assert_revalidates(f"{served}/wmts", etag, **kvp)
    # Its neighbour in the metatile was rendered with it: a hit with its own validators.
    neighbour = httpx.get(_tile(served, z, x + 1, y), timeout=60)
    assert neighbour.headers["x-cache"] == "hit" and _assert_cacheable(neighbour) != etag


def test_wms_getmap_from_tiles_carries_the_tiles_validators(served):
    z, x, y = 14, 8470, 5366
    bounds = morecantile.tms.get("WebMercatorQuad").xy_bounds(x, y, z)
    params = {
        "SERVICE": "WMS", "VERSION": "1.3.0", "REQUEST": "GetMap", "LAYERS": "NDVI",
        "STYLES": "", "CRS": "EPSG:3857", "BBOX": ",".join(map(str, bounds)), "WIDTH": "256",
        "HEIGHT": "256", "FORMAT": "image/png", "TRANSPARENT": "TRUE", "TIME": DAY,
    }  # fmt: skip
    first = httpx.get(f"{served}/wms", params=params, timeout=120)
    assert first.headers["x-cache"] == "miss"
    etag = _assert_cacheable(first)
    assert _assert_cacheable(httpx.get(_tile(served, z, x, y), timeout=60)) == etag
    _assert_revalidates(f"{served}/wms", etag, **params)


def test_ogcapi_tiles_carry_validators_and_revalidate(served):
    tile = morecantile.tms.get("WebMercatorQuad").tile(6.05, 52.6, 15)
    url = f"{served}/ogcapi/collections/NDVI/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}"
    params = {"f": "png", "datetime": DAY}
    first = httpx.get(url, params=params, timeout=120)
    etag = _assert_cacheable(first)
    again = httpx.get(url, params=params, timeout=60)
    assert _assert_cacheable(again) == etag
    assert again.headers["last-modified"] == first.headers["last-modified"]
    _assert_revalidates(url, etag, **params)


# -- CORS -------------------------------------------------------------------------------

ORIGIN = "https://maps.example.org"
DOORS = {
    "wms": "/wms?SERVICE=WMS&REQUEST=GetCapabilities",
    "wmts-tile": f"/wmts/1.0.0/NDVI/WebMercatorQuad/{DAY}/13/4233/2683.png",
    "wcs": "/wcs?SERVICE=WCS&REQUEST=GetCapabilities",
    "wfs": "/wfs?SERVICE=WFS&REQUEST=GetCapabilities",
    "ogcapi": "/ogcapi/collections?f=json",
}


@pytest.mark.parametrize("door", list(DOORS))
def test_one_cors_policy_on_every_door(served, door):
    url = served + DOORS[door]
    answer = raw_request(url, headers={"Origin": ORIGIN})
    assert answer.status == 200
    allow = [v for k, v in answer.headers if k.lower() == b"access-control-allow-origin"]
    assert allow == [b"*"]  # exactly one: MapProxy's and pygeoapi's own are gone
    assert b"ETag" in (answer.header(b"Access-Control-Expose-Headers") or b"")
    for method in ("GET", "POST"):
        preflight = raw_request(
            url,
            "OPTIONS",
            {
                "Origin": ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert preflight.status == 204
        assert preflight.header(b"Access-Control-Allow-Origin") == ORIGIN.encode()
        methods = preflight.header(b"Access-Control-Allow-Methods") or b""
        assert method.encode() in methods and b"DELETE" not in methods
        assert preflight.header(b"Access-Control-Allow-Headers") == b"content-type"


def test_deleting_a_job_from_any_origin_is_refused_by_default(served):
    preflight = raw_request(
        f"{served}/ogcapi/jobs/some-job",
        "OPTIONS",
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "DELETE"},
    )
    assert preflight.status == 403
    assert not [k for k, _ in preflight.headers if k.lower().startswith(b"access-control-")]


def test_configured_origins_read_and_delete(sample_settings):
    """Reading only from the listed origins, DELETE only from the listed admin origin."""
    settings = Settings(
        **{
            **sample_settings.model_dump(),
            "cors_origins": "https://maps.example.org",
            "cors_delete_origins": "https://admin.example.org",
        }
    )
    with live_gateway(settings) as url:

        def preflight(origin: str, method: str) -> httpx.Response:
            headers = {"Origin": origin, "Access-Control-Request-Method": method}
            return httpx.options(f"{url}/ogcapi/jobs/some-job", headers=headers)

        assert preflight(ORIGIN, "GET").status_code == 204
        assert preflight(ORIGIN, "DELETE").status_code == 403
        assert preflight("https://elsewhere.example", "GET").status_code == 403
        admin = preflight("https://admin.example.org", "DELETE")
        assert (
            admin.status_code == 204 and "DELETE" in admin.headers["access-control-allow-methods"]
        )
        wcs = f"{url}/wcs?SERVICE=WCS&REQUEST=GetCapabilities"
        listed = httpx.get(wcs, headers={"Origin": ORIGIN})
        assert listed.headers["access-control-allow-origin"] == ORIGIN
        assert listed.headers["vary"] == "Origin"
        other = httpx.get(wcs, headers={"Origin": "https://elsewhere.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


def test_a_tile_rendered_again_is_answered_with_its_new_validators(served, runtime, redis_server):
    """Another replica renders a tile again (other bytes, its stamp next to them): the next
    hit here carries the new version, although this process remembers the old one."""
    import redis

    from gateway.core.stamps import Stamp, stamp_key
    from gateway.core.tiles.grids import TileAddress
    from gateway.core.tiles.service import TileParams, tile_key

    z, x, y = 14, 8466, 5370
    url = _tile(served, z, x, y)
    old = httpx.get(url, timeout=120)
    assert _assert_cacheable(httpx.get(url, timeout=60)) == _assert_cacheable(old)
    address = TileAddress("NDVI", "WebMercatorQuad", z, x, y, "png")
    key = tile_key(runtime.tiles.request(address, TileParams(time=DAY)))
    again = old.content + b"\0"  # other bytes (a PNG ignores what follows IEND)
    with redis.Redis.from_url(f"redis://127.0.0.1:{redis_server.port}/{REDIS_DB}") as client:
        assert client.get(key) == old.content
        client.set(key, again, px=60_000)
        client.set(stamp_key(key), Stamp.of(again).encode(), px=60_000)
    new = httpx.get(url, timeout=60)
    assert new.content == again and _assert_cacheable(new) != old.headers["etag"]
