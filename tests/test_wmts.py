"""WMTS 1.0.0 (REST and KVP) on the served tile matrix sets, tiles cached in Redis.

Tile bounds are checked with morecantile (independent of MapProxy's grids), pictures against
the engine's render of those bounds; cache keys, the render lock and a Redis outage are
exercised on a live server backed by a real redis-server.
"""

from __future__ import annotations

import threading
import time

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
from owslib.wmts import WebMapTileService

from tests.support.expected import load_items
from tests.support.mapproxy_live import CountingCompute, assert_valid, live_server, schema
from tests.support.pictures import assert_same_picture, engine_tile, rgba

# A zoom-12 WebMercatorQuad tile and a zoom-11 WorldCRS84Quad tile over the sample area.
Z, X, Y = 12, 2116, 1341
GEO = (11, 2116, 425)
WMTS_NS = {"w": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1"}


@pytest.fixture(scope="module")
def live(sample_settings, redis_server):
    redis_server.start()
    with live_server(sample_settings.model_copy(update={"redis_url": redis_server.url})) as server:
        yield server


def _rest(
    live,
    layer="NDVI",
    tms="WebMercatorQuad",
    time_="2025-06-13",
    z=Z,
    x=X,
    y=Y,
    ext="png",
    **params,
):
    url = f"{live.url}/wmts/1.0.0/{layer}/{tms}/{time_}/{z}/{x}/{y}.{ext}"
    return httpx.get(url, params=params, timeout=60)


KVP = {
    "SERVICE": "WMTS",
    "REQUEST": "GetTile",
    "VERSION": "1.0.0",
    "LAYER": "NDVI",
    "STYLE": "default",
    "TILEMATRIXSET": "WebMercatorQuad",
    "TILEMATRIX": str(Z),
    "TILECOL": str(X),
    "TILEROW": str(Y),
    "FORMAT": "image/png",
}


def _kvp(live, path: str = "/wmts", **params) -> httpx.Response:
    """A KVP GetTile of the test tile with ``params`` changed (a None value drops one)."""
    merged = {k: v for k, v in {**KVP, **params}.items() if v is not None}
    return httpx.get(f"{live.url}{path}", params=merged, timeout=60, follow_redirects=True)


def _dates(archive) -> list[str]:
    return sorted({i["properties"]["datetime"][:10] for i in load_items(archive, "sentinel-2-l2a")})


# Capabilities ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rest", "kvp"])
def test_capabilities_validate_and_list_sets_and_dates(live, sample_archive, kind):
    if kind == "rest":
        response = httpx.get(f"{live.url}/wmts/1.0.0/WMTSCapabilities.xml", timeout=60)
    else:
        response = httpx.get(
            f"{live.url}/wmts", params={"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}, timeout=60
        )
    assert response.status_code == 200
    document = assert_valid(schema("wmts/1.0/wmtsGetCapabilities_response.xsd"), response.content)
    sets = document.xpath(
        "/w:Capabilities/w:Contents/w:TileMatrixSet/ows:Identifier/text()", namespaces=WMTS_NS
    )
    assert {
        "WebMercatorQuad",
        "GoogleMapsCompatible",
        "WorldCRS84Quad",
        "WebMercatorQuad512",
        "WorldCRS84Quad512",
    } <= set(sets)
    layer = document.xpath("//w:Layer[ows:Identifier='NDVI']", namespaces=WMTS_NS)[0]
    values = layer.xpath("w:Dimension[ows:Identifier='Time']/w:Value/text()", namespaces=WMTS_NS)
    assert values == _dates(sample_archive)
    if kind == "rest":
        template = layer.xpath("w:ResourceURL[@resourceType='tile']/@template", namespaces=WMTS_NS)[
            0
        ]
        assert template.endswith(
            "/wmts/1.0.0/NDVI/{TileMatrixSet}/{Time}/{TileMatrix}/{TileCol}/{TileRow}.png"
        )
    # WorldCRS84Quad is OGC's: two tiles at level 0, 180/256 degrees per pixel.
    geo = document.xpath(
        "//w:TileMatrixSet[ows:Identifier='WorldCRS84Quad']/w:TileMatrix", namespaces=WMTS_NS
    )[0]
    assert geo.findtext("w:MatrixWidth", namespaces=WMTS_NS) == "2"
    assert geo.findtext("w:MatrixHeight", namespaces=WMTS_NS) == "1"


def test_owslib_reads_capabilities_and_fetches_tiles(live):
    service = WebMapTileService(f"{live.url}/wmts/1.0.0/WMTSCapabilities.xml", timeout=60)
    assert {"NDVI", "TRUE_COLOR", "SCL"} <= set(service.contents)
    layer = service.contents["NDVI"]
    assert {"WebMercatorQuad", "WorldCRS84Quad", "WebMercatorQuad512"} <= set(
        layer.tilematrixsetlinks
    )
    matrix = service.tilematrixsets["WebMercatorQuad"].tilematrix[str(Z)]
    assert (matrix.tilewidth, matrix.matrixwidth) == (256, 2**Z)
    for tms, (z, x, y), size in (
        ("WebMercatorQuad", (Z, X, Y), 256),
        ("WorldCRS84Quad", GEO, 256),
        ("WebMercatorQuad512", (Z - 1, X // 2, Y // 2), 512),
    ):
        reply = service.gettile(
            layer="NDVI", tilematrixset=tms, tilematrix=str(z), row=y, column=x,
            format="image/png", Time="2025-06-13",
        )  # fmt: skip
        picture = rgba(reply.read())
        base = tms.removesuffix("512")
        expected = engine_tile(live.runtime, base, z, x, y, size, time="2025-06-13")
        assert picture.shape == (size, size, 4)
        assert_same_picture(picture, expected)
        assert (picture[..., 3] == 255).mean() > 0.3, tms  # there is data in it


def test_rest_and_kvp_tiles_are_the_same(live):
    rest = _rest(live, time_="2025-05-29")
    kvp = _kvp(live, TIME="2025-05-29")
    assert rest.status_code == kvp.status_code == 200
    assert rest.content == kvp.content
    expected = engine_tile(live.runtime, "WebMercatorQuad", Z, X, Y, time="2025-05-29")
    assert_same_picture(rgba(rest.content), expected)


def test_gdal_wmts_driver_reads_tiles(live):
    capabilities = f"{live.url}/wmts/1.0.0/WMTSCapabilities.xml"
    url = f"WMTS:{capabilities},layer=NDVI,tilematrixset=WebMercatorQuad,zoom_level={Z}"
    bounds = morecantile.tms.get("WebMercatorQuad").xy_bounds(X, Y, Z)
    with rasterio.Env(GDAL_HTTP_TIMEOUT="60"), rasterio.open(url) as src:
        assert src.crs.to_epsg() == 3857
        assert src.res == pytest.approx(((bounds.right - bounds.left) / 256,) * 2)
        window = src.window(bounds.left, bounds.bottom, bounds.right, bounds.top)
        assert window.width == pytest.approx(256) and window.height == pytest.approx(256)
        pixels = np.moveaxis(src.read(window=window.round_offsets().round_lengths()), 0, -1)
    # GDAL fills {Time} with the capabilities' default: the 31 days up to the latest date,
    # what a request without TIME gets.
    default = rgba(_rest(live, time_="2025-05-24--2025-06-23").content)
    assert (pixels == default).all()
    assert (default == rgba(_kvp(live).content)).all()
    assert (pixels[..., 3] == 255).mean() > 0.3


# The cache -------------------------------------------------------------------------------


def _fresh_tile(live, **params) -> tuple[httpx.Response, httpx.Response]:
    return _kvp(live, **params), _kvp(live, **params)


def test_two_times_and_two_expressions_never_share_a_tile(live, redis_client):
    before = len(redis_client.keys("cdsegw:*"))
    variants = [
        {"TIME": "2025-05-29"},
        {"TIME": "2025-06-03"},
        {"TIME": "2025-06-13", "EXPRESSION": "(B08-B04)/(B08+B04)"},
        {"TIME": "2025-06-13", "EXPRESSION": "(B03-B08)/(B03+B08)"},
        {"TIME": "2025-06-13", "MAXCC": "0"},  # its scenes (0.x % cloud) drop out
        {"TIME": "2025-05-01/2025-06-30", "PRIORITY": "leastRecent"},
        {"TIME": "2025-06-13", "STYLE": "greyscale"},
        {"TIME": "2025-06-13", "FORMAT": "image/webp"},
        {"TIME": "2025-06-13", "TILEMATRIXSET": "GoogleMapsCompatible", "TILEMATRIX": "12"},
    ]
    suffix = {"TILECOL": str(X - 1)}  # a tile no other test asked for
    first = [_kvp(live, **suffix, **v) for v in variants]
    again = [_kvp(live, **suffix, **v) for v in variants]
    assert [r.status_code for r in first + again] == [200] * (2 * len(variants))
    # Every variant is its own render, then its own hit; the same key -> the same bytes.
    headers = [r.headers["x-cache"] for r in first]
    assert headers[:8] == ["miss"] * 8
    assert [r.headers["x-cache"] for r in again] == ["hit"] * len(variants)
    assert all(a.content == b.content for a, b in zip(first, again, strict=True))
    pictures = [rgba(r.content) for r in first]
    # Two TIMEs, two EXPRESSIONs, MAXCC and PRIORITY against the first picture of the same day.
    for i, j in ((0, 1), (2, 3), (2, 4), (2, 5), (2, 6)):
        assert (pictures[i] != pictures[j]).any(), (variants[i], variants[j])
    # Each variant is what the engine draws for those parameters.
    engine = engine_tile(live.runtime, "WebMercatorQuad", Z, X - 1, Y, time="2025-06-03")
    assert_same_picture(pictures[1], engine)
    water = engine_tile(
        live.runtime,
        "WebMercatorQuad",
        Z,
        X - 1,
        Y,
        time="2025-06-13",
        expression="(B03-B08)/(B03+B08)",
    )
    assert_same_picture(pictures[3], water)
    # They live in Redis: at least one new key per distinct tile.
    assert len(redis_client.keys("cdsegw:*")) >= before + 8


def test_concurrent_requests_for_one_missing_tile_render_once(live):
    barrier = threading.Barrier(8)
    replies: list[httpx.Response] = []

    def fetch() -> None:
        barrier.wait()
        replies.append(_kvp(live, TIME="2025-05-01/2025-06-30", MAXCC="33", TILECOL=str(X + 1)))

    with CountingCompute(live.runtime) as counter:
        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [r.status_code for r in replies] == [200] * 8
    assert len({r.content for r in replies}) == 1
    assert counter.calls == 1
    assert sorted(r.headers["x-cache"] for r in replies).count("miss") == 1


def test_serves_without_redis_and_uses_it_again(live, redis_server, redis_client):
    cache = live.runtime.cache
    errors = cache.stats.snapshot()["errors"]
    redis_server.stop()
    try:
        down = [_kvp(live, TIME="2025-06-23", TILECOL=str(X + 2)) for _ in range(2)]
        assert [r.status_code for r in down] == [200, 200]
        assert [r.headers["x-cache"] for r in down] == ["miss", "miss"]
        expected = engine_tile(live.runtime, "WebMercatorQuad", Z, X + 2, Y, time="2025-06-23")
        assert_same_picture(rgba(down[0].content), expected)
        assert cache.stats.snapshot()["errors"] > errors
    finally:
        redis_server.start()
    time.sleep(1.1)  # the cache leaves a dead Redis alone for retry_after_s
    back = [_kvp(live, TIME="2025-06-23", TILECOL=str(X + 2)) for _ in range(2)]
    assert [r.headers["x-cache"] for r in back] == ["miss", "hit"]
    assert redis_client.dbsize() > 0


# Bad requests ----------------------------------------------------------------------------

BAD = [
    ({"LAYER": "NOPE"}, "InvalidParameterValue", "layer"),
    ({"STYLE": "nope"}, "InvalidParameterValue", "style"),  # WMTS has no StyleNotDefined
    ({"TILEMATRIXSET": "Mars"}, "InvalidParameterValue", "tilematrixset"),
    ({"TILEMATRIX": "30"}, "TileOutOfRange", "tilematrix"),
    ({"TILECOL": "99999"}, "TileOutOfRange", "tilecol"),
    ({"TILEROW": "-1"}, "InvalidParameterValue", "tilerow"),
    ({"TIME": "yesterday"}, "InvalidParameterValue", "time"),
    ({"EXPRESSION": "B04+os.system"}, "InvalidParameterValue", "expression"),
    ({"FORMAT": "image/gif"}, "InvalidParameterValue", "format"),
    ({"MAXCC": "-3"}, "InvalidParameterValue", "maxcc"),
    ({"LAYER": None}, "MissingParameterValue", "layer"),
    ({"TILEMATRIX": None}, "MissingParameterValue", "tilematrix"),
]


def _ows_exception(response: httpx.Response) -> tuple[str | None, str | None]:
    """The code and locator of a schema-valid OWS 1.1 exception report."""
    document = assert_valid(schema("ows/1.1.0/owsExceptionReport.xsd"), response.content)
    exception = document.find("{http://www.opengis.net/ows/1.1}Exception")
    return exception.get("exceptionCode"), exception.get("locator")


@pytest.mark.parametrize(("change", "code", "locator"), BAD)
def test_bad_gettile_gets_an_ows_exception_report(live, change, code, locator):
    response = _kvp(live, **change)
    assert response.status_code == 400
    assert _ows_exception(response) == (code, locator)


def test_an_expression_its_style_cannot_show_is_refused_before_any_read(live):
    """EXPRESSION=B04;B03 on NDVI (a one-band ramp): refused as GetTile is validated, not after
    the tile's metatile block was read and computed."""
    with CountingCompute(live.runtime) as counter:
        response = _kvp(live, EXPRESSION="B04;B03", TIME="2025-06-13")
    assert response.status_code == 400
    assert _ows_exception(response) == ("InvalidParameterValue", "expression")
    assert counter.calls == 0


def test_bad_rest_tiles(live):
    unknown = _rest(live, layer="NOPE")
    outside = _rest(live, z=3, x=20, y=1)
    bad_time = _rest(live, time_="2025-99-01")
    for response in (unknown, outside, bad_time):
        assert response.status_code == 400
        assert_valid(schema("ows/1.1.0/owsExceptionReport.xsd"), response.content)
    assert b'exceptionCode="TileOutOfRange"' in outside.content
    missing = httpx.get(f"{live.url}/wmts", params={"SERVICE": "WMTS"}, timeout=60)
    assert missing.status_code == 400 and b"MissingParameterValue" in missing.content


def test_an_unknown_operation_is_501_as_wmts_says(live):
    """WMTS 1.0.0 tables 23 and 28: OperationNotSupported is 501 Not Implemented (the door
    answered 400, the WMS door's status)."""
    params = {"SERVICE": "WMTS", "VERSION": "1.0.0", "REQUEST": "DescribeEverything"}
    response = httpx.get(f"{live.url}/wmts", params=params, timeout=60)
    assert response.status_code == 501
    assert _ows_exception(response) == ("OperationNotSupported", "request")


def test_ows_endpoint_dispatches_to_wmts(live):
    response = _kvp(live, path="/ows", TIME="2025-05-29")
    assert response.status_code == 200
    assert response.content == _rest(live, time_="2025-05-29").content


def test_seed_command_fills_the_cache_the_door_reads(live, redis_server, sample_archive):
    from typer.testing import CliRunner

    from gateway.cli import app

    env = {
        "GATEWAY_DATA_DIR": str(sample_archive),
        "GATEWAY_SAMPLE_DATA": "false",
        "GATEWAY_REDIS_URL": redis_server.url,
        "GATEWAY_STAC_URL": "",
    }
    bbox = "5.98,52.58,6.06,52.62"
    args = ["seed", "--layer", "NDVI", "--bbox", bbox, "--zoom", "11-12", "--time", "2025-06-03"]
    result = CliRunner().invoke(app, [*args, "--maxcc", "80"], env=env)
    assert result.exit_code == 0, result.output
    seeded = [
        tile
        for z in (11, 12)
        for tile in morecantile.tms.get("WebMercatorQuad").tiles(5.98, 52.58, 6.06, 52.62, [z])
    ]
    assert f"{len(seeded)} tiles: {len(seeded)} rendered" in result.output
    for tile in seeded:
        response = _rest(live, time_="2025-06-03", z=tile.z, x=tile.x, y=tile.y, MAXCC="80")
        assert response.headers["x-cache"] == "hit", tile
    again = CliRunner().invoke(app, [*args, "--maxcc", "80"], env=env)
    assert f"0 rendered, {len(seeded)} already cached" in again.output


def test_concurrent_requests_for_tiles_of_one_block_render_it_once(live):
    params = {"TIME": "2025-05-29", "MAXCC": "85"}  # parameters no other test uses
    block = [(X, Y - 1), (X + 1, Y - 1), (X, Y), (X + 1, Y)]
    start = threading.Barrier(len(block))
    replies: dict[tuple[int, int], httpx.Response] = {}

    def ask(x: int, y: int) -> None:
        start.wait()
        replies[(x, y)] = _kvp(live, TILECOL=str(x), TILEROW=str(y), **params)

    with CountingCompute(live.runtime, delay_s=0.5) as counter:
        threads = [threading.Thread(target=ask, args=tile) for tile in block]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert counter.calls == 1
    assert sorted(r.headers["x-cache"] for r in replies.values()).count("miss") >= 1
    for (x, y), reply in replies.items():
        expected = engine_tile(
            live.runtime, "WebMercatorQuad", Z, x, y, **{"time": "2025-05-29", "maxcc": 85}
        )
        assert_same_picture(rgba(reply.content), expected)


def test_a_missing_tile_renders_its_metatile_block_once(live):
    params = {"TIME": "2025-05-29", "MAXCC": "90"}  # parameters no other test uses
    block = [(X, Y - 1), (X + 1, Y - 1), (X, Y), (X + 1, Y)]  # one 2x2 block: X even, Y odd
    with CountingCompute(live.runtime) as counter:
        replies = [_kvp(live, TILECOL=str(x), TILEROW=str(y), **params) for x, y in block]
    assert [r.headers["x-cache"] for r in replies] == ["miss", "hit", "hit", "hit"]
    assert counter.calls == 1
    for (x, y), reply in zip(block, replies, strict=True):
        expected = engine_tile(
            live.runtime, "WebMercatorQuad", Z, x, y, **{"time": "2025-05-29", "maxcc": 90}
        )
        assert_same_picture(rgba(reply.content), expected)
