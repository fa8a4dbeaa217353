"""The gateway against CDSE-shaped stand-ins: an S3 ``eodata`` bucket and a real STAC API.

moto's S3 server and stac-fastapi-pgstac (on its own PostgreSQL cluster) are started once per
session on 127.0.0.1, loaded with the sample archive, and counted by small proxies in front.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import chain
from pathlib import Path

import httpx
import morecantile
import numpy as np
import pytest
import rasterio
import redis
from lxml import etree
from PIL import Image
from pygeofilter.parsers.cql2_json import parse as parse_cql2_json
from pygeofilter.parsers.cql2_text import parse as parse_cql2_text

from gateway.app import create_app
from gateway.core import datasets
from gateway.core.cache import MemoryCache
from gateway.core.catalog import (
    NearestTo,
    PageQuery,
    SearchQuery,
    SortKey,
    StacApiCatalog,
    StaticCatalog,
    TimeRange,
    cql2_text,
)
from gateway.core.catalog.cached import snap_bbox
from gateway.core.cogcache import CogCache
from gateway.core.datasets import OpenDatasets
from gateway.core.dates import parse_time
from gateway.core.engine import Engine
from gateway.core.grid import WGS84, Grid
from gateway.core.jp2index import HEAD_BYTES
from gateway.core.mosaic import search_bounds
from gateway.core.reader import SceneReader
from gateway.core.request import build_request
from gateway.core.spliced import TilePartIndexes
from gateway.core.storage import Storage
from gateway.core.upstream import LocalCounters, Quota, QuotaExhausted, QuotaLimits
from gateway.core.warp import overview_factor, read_window
from gateway.errors import UpstreamError
from gateway.metrics import Metrics
from gateway.ogcapi.features import feature_filter
from gateway.ows.kvp import Kvp
from gateway.ows.wfs.query import parse_query
from gateway.ows.wfs.select import select
from gateway.runtime import build_runtime, make_catalog, make_storage
from gateway.settings import Settings
from tests.support.bulk_stac import BULK, bulk_items, config_with, load_bulk
from tests.support.counting_proxy import CountingProxy, Limits
from tests.support.expected import load_items, ndvi, pixel_centres, read_band
from tests.support.gateway_server import GatewayServer, start_together
from tests.support.metric_samples import samples
from tests.support.ows_live import live_gateway
from tests.support.quota_load import coverages, fire
from tests.support.remote_doors import DOOR_REQUESTS, cold, decode, fetch
from tests.support.remote_fixtures import fresh_remote, remote_settings
from tests.support.request_counts import (
    clear_gdal_http_cache,
    cost_of,
    gdal_translate_srcwin,
    measure,
    open_headers,
    source_window,
    tile_bounds,
    tile_request,
)
from tests.support.same_day import DAY as SAME_DAY_DATE
from tests.support.same_day import added_items, same_day_catalog
from tests.support.stac_api import StacApi
from tests.support.wcs_checks import scene_item
from tests.support.wfs_filters import BOTH_TYPES, CQL2_TWINS, FILTERS, Case, fes

L2A = "sentinel-2-l2a"
MOSAICS = "sentinel-2-global-mosaics"
NDVI = "(B08-B04)/(B08+B04)"
AREA = (5.93, 52.57, 6.21, 52.67)  # lon/lat over both sample tiles (UTM 31/32 boundary at 6°E)
WEST = (5.96, 52.62)  # inside T31UFU only
REPO = Path(__file__).resolve().parents[1]


# The stand-ins (s3, stac) and a runtime on them (remote): tests.support.remote_fixtures.

# --- same pixels as the embedded default -------------------------------------------------

MAPS: dict[str, dict] = {
    "ndvi-across-utm-boundary": dict(
        collection=L2A, expression=NDVI, bbox=AREA, crs="EPSG:4326", width=320, height=160,
        time="2025-06-13", style="ndvi",
    ),
    "ndvi-cloud-masked": dict(
        layer="NDVI", bbox=(700000.0, 5832000.0, 703000.0, 5835000.0), crs="EPSG:32631",
        width=300, height=300, time="2025-06",
    ),
    "true-colour-least-cc": dict(
        layer="TRUE_COLOR", bbox=AREA, crs="EPSG:4326", width=256, height=128,
        time="2025-05-25/2025-06-30", order="leastCC", maxcc=40,
    ),
    "mosaic-cog-ndvi": dict(
        layer="MOSAIC_NDVI", bbox=AREA, crs="EPSG:4326", width=300, height=120,
    ),
    "mosaic-cog-true-colour": dict(
        layer="MOSAIC_TRUE_COLOR", bbox=tile_bounds(*WEST, 13), crs="EPSG:3857",
        width=256, height=256,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MAPS))
def test_same_pixels_from_s3_and_stac_api_as_local(name, runtime, remote, s3, stac):
    params = MAPS[name]
    local_request = build_request(runtime.config, **params)
    remote_request = build_request(remote.config, **params)
    s3.proxy.reset()
    stac.proxy.reset()
    remote.engine.catalog.clear()  # each map must search the STAC API itself

    local = runtime.engine.compute(local_request)
    far = remote.engine.compute(remote_request)

    assert [s.id for s in far.scenes] == [s.id for s in local.scenes]
    assert far.valid.mean() > 0.5
    np.testing.assert_array_equal(far.valid, local.valid)
    np.testing.assert_array_equal(far.data, local.data)  # NaN == NaN here
    np.testing.assert_array_equal(far.source, local.source)
    # The remote run really went over the wire, to both stand-ins.
    assert stac.searches() >= 1
    assert remote.engine.reader.storage.mode == "s3"

    png = remote.engine.render(remote_request).content
    assert png == runtime.engine.render(local_request).content


def test_remote_ndvi_equals_numpy_on_the_source_files(remote, sample_archive):
    """Independent of the local engine: plain rasterio + numpy on the sample's own files."""
    bounds = (700000.0, 5832000.0, 703000.0, 5835000.0)  # T31UFU's own 10 m grid
    request = build_request(
        remote.config, collection=L2A, expression=NDVI, bbox=bounds, crs="EPSG:32631",
        width=300, height=300, time="2025-06-13", resampling="nearest",
    )  # fmt: skip
    raster = remote.engine.compute(request)
    (item,) = [
        it
        for it in load_items(sample_archive, L2A)
        if it["id"] == raster.scenes[0].id and "T31UFU" in it["id"]
    ]
    xs, ys = pixel_centres(bounds, 300, 300)
    nir = read_band(sample_archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
    red = read_band(sample_archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
    expected = ndvi(nir, red)
    assert raster.valid.all() and np.isfinite(expected).all()
    np.testing.assert_allclose(raster.data[0], expected, rtol=1e-5, atol=1e-6)


def test_remote_least_time_difference_reads_the_nearest_scene_of_the_day(
    s3, stac, sample_archive, tmp_path
):
    """Through the STAC API and S3 stand-ins, with two more T31UFU scenes on 2025-06-13
    (10:00, 10:40: tests/support/same_day.py): PRIORITY=leastTimeDifference of 10:35 reads
    the 10:40 scene, mostRecent the sample's 10:56; NDVI against numpy on their files."""
    added = added_items(sample_archive)
    (tmp_path / "added.ndjson").write_text("".join(json.dumps(i) + "\n" for i in added))
    stac.load("items", tmp_path / "added.ndjson")
    far = fresh_remote(s3, stac, tmp_path / "data")
    try:
        bounds = (700000.0, 5832000.0, 703000.0, 5835000.0)  # T31UFU's own 10 m grid
        xs, ys = pixel_centres(bounds, 300, 300)
        for priority, day in (("leastTimeDifference", "2025-06-23"), ("mostRecent", SAME_DAY_DATE)):
            request = build_request(
                far.config, collection=L2A, expression=NDVI, bbox=bounds, crs="EPSG:32631",
                width=300, height=300, time=f"{SAME_DAY_DATE}T10:35:00Z", order=priority,
                resampling="nearest", times=far.times,
            )  # fmt: skip
            raster = far.engine.compute(request)
            item = scene_item(sample_archive, "31UFU", day)
            nir = read_band(sample_archive, item, "B08_10m").sample(xs, ys, "EPSG:32631")
            red = read_band(sample_archive, item, "B04_10m").sample(xs, ys, "EPSG:32631")
            assert raster.valid.all(), priority
            np.testing.assert_allclose(raster.data[0], ndvi(nir, red), rtol=1e-5, atol=1e-6)
    finally:
        far.close()
        stac.delete_items(L2A, [i["id"] for i in added])


def test_remote_reads_really_come_from_s3(s3, stac, tmp_path):
    """A never-read map's pixels arrive from the bucket, found by a STAC API search."""
    remote = fresh_remote(s3, stac, tmp_path)  # its own (empty) COG cache
    clear_gdal_http_cache()
    s3.proxy.reset()
    stac.proxy.reset()
    request = build_request(
        remote.config, layer="NDWI", bbox=AREA, crs="EPSG:4326", width=200, height=100,
        time="2025-05-29",
    )  # fmt: skip
    raster = remote.engine.compute(request)
    remote.close()
    keys = {h.path for h in s3.proxy.hits()}
    assert raster.valid.any()
    assert {k.rsplit("_", 2)[-2] for k in keys if k.endswith(".jp2")} >= {"B03", "B08", "SCL"}
    assert stac.searches() == 1
    # moto's own (colour-stripped) log saw the GETs the proxy forwarded.
    logged = [p for m, p, _ in s3.logged_requests() if m == "GET"]
    assert all(path in logged for path in keys)


def test_geotiff_georeferencing_equal(runtime, remote):
    params = dict(MAPS["ndvi-across-utm-boundary"], format="tiff")
    params.pop("style")
    near = runtime.engine.render(build_request(runtime.config, **params)).content
    far = remote.engine.render(build_request(remote.config, **params)).content
    with (
        rasterio.MemoryFile(near) as a,
        a.open() as sa,
        rasterio.MemoryFile(far) as b,
        b.open() as sb,
    ):
        assert sb.crs == sa.crs and sb.transform == sa.transform
        assert sb.bounds == pytest.approx(AREA)
        np.testing.assert_array_equal(sb.read(), sa.read())


def _cli_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "AWS_", "GDAL_"))}
    env.update(extra)
    return env


CLI_MAPS = {
    "ndvi-jp2": (
        ["--layer", "NDVI", "--time", "2025-06-13"],
        dict(layer="NDVI", time="2025-06-13"),
    ),
    "mosaic-cog": (["--layer", "MOSAIC_TRUE_COLOR"], dict(layer="MOSAIC_TRUE_COLOR")),
}


@pytest.mark.parametrize("name", list(CLI_MAPS))
def test_cli_render_from_environment_matches_local(name, runtime, s3, stac, tmp_path):
    arguments, params = CLI_MAPS[name]
    out = tmp_path / "map.png"
    env = _cli_env(
        {
            **s3.env(),
            "GATEWAY_STAC_URL": stac.url,
            "GATEWAY_DATA_DIR": str(tmp_path / "empty"),
            "GATEWAY_SAMPLE_DATA": "false",
        }
    )
    bbox = ",".join(str(v) for v in AREA)
    stac.proxy.reset()
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "render", "-o", str(out), "--bbox", bbox,
         "--size", "320x160", *arguments],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert stac.searches() >= 1  # the CLI's catalog was the STAC API
    assert not (tmp_path / "empty" / "eodata").exists()  # no local files were written or read
    expected = runtime.engine.render(
        build_request(runtime.config, bbox=AREA, crs="EPSG:4326", width=320, height=160, **params)
    ).content
    got, want = Image.open(io.BytesIO(out.read_bytes())), Image.open(io.BytesIO(expected))
    assert got.size == (320, 160) and got.mode == want.mode
    assert np.array_equal(np.asarray(got), np.asarray(want))
    assert np.asarray(got).std() > 0


def test_cog_cache_evicts_the_oldest_copies_beyond_its_size(remote, s3, tmp_path):
    request = build_request(remote.config, **MAPS["ndvi-across-utm-boundary"])
    hrefs = [a.href for s in remote.engine.search(request) for a in s.assets if a.key == "B08_10m"]
    storage = remote.engine.reader.storage
    cache = CogCache(tmp_path / "cache", max_bytes=1)  # room for the newest copy only
    made = []
    with rasterio.Env(session=storage.gdal_session(), **storage.gdal_options()):
        for href in hrefs:
            with rasterio.open(storage.gdal_path(href)) as src:
                made.append(cache.local_copy(src))
                assert cache.existing(storage.gdal_path(href)) == made[-1]
    assert len(made) == 2 and made[0] != made[1]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [Path(made[1]).name]
    assert cache.existing(storage.gdal_path(hrefs[0])) is None
    with rasterio.open(made[1]) as copy:  # a COG whose overviews are the JP2 resolution levels
        assert copy.driver == "GTiff" and copy.overviews(1) == [2, 4, 8]
        assert copy.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"


# --- every door: the same answers from S3 + STAC API as from the sample ----------------------


def _server(env: dict[str, str], folder: Path) -> GatewayServer:
    return GatewayServer({**env, "GATEWAY_OUTPUT_DIR": str(folder / "out")}, folder / "log")


@pytest.fixture(scope="module")
def door_servers(sample_archive, s3, stac, tmp_path_factory) -> Iterator[tuple[str, str, Path]]:
    """Every door twice, each in its own process (the OGC API door's runtime is process-wide),
    started together: on the embedded default (the sample archive), and on the stand-ins with
    no search cache, so each request asks the STAC API. Their URLs and the second's data."""
    local_env = {"GATEWAY_DATA_DIR": str(sample_archive), "GATEWAY_STORAGE": "local"}
    folder = tmp_path_factory.mktemp("remote-doors")
    remote_env = {
        "GATEWAY_DATA_DIR": str(folder / "data"), "GATEWAY_STAC_URL": stac.url,
        "GATEWAY_SEARCH_CACHE_TTL_S": "0", "GATEWAY_STORAGE": "s3",
        "GATEWAY_S3_ENDPOINT": s3.endpoint, "GATEWAY_S3_HTTPS": "false",
        "GATEWAY_S3_VIRTUAL_HOSTING": "false", "GATEWAY_S3_REGION": "us-east-1",
        "GATEWAY_S3_ACCESS_KEY_ID": "test", "GATEWAY_S3_SECRET_ACCESS_KEY": "test",
    }  # fmt: skip
    local, remote = start_together(
        [_server(local_env, tmp_path_factory.mktemp("local-doors")), _server(remote_env, folder)]
    )
    try:
        health = httpx.get(f"{local.url}/healthz", timeout=10).json()
        assert (health["catalog"], health["storage"]) == ("static", "local")
        health = httpx.get(f"{remote.url}/healthz", timeout=10).json()
        assert (health["catalog"], health["storage"]) == ("stac-api", "s3")
        yield local.url, remote.url, folder / "data"
    finally:
        local.stop()
        remote.stop()


@pytest.fixture(scope="module")
def local_doors(door_servers) -> str:
    """Every door on the embedded default (the sample archive), in its own process."""
    return door_servers[0]


@pytest.fixture(scope="module")
def remote_doors(door_servers) -> tuple[str, Path]:
    """Every door on the stand-ins, in its own process; no search cache."""
    return door_servers[1], door_servers[2]


@pytest.mark.parametrize("name", list(DOOR_REQUESTS))
def test_every_door_answers_the_same_from_s3_and_stac_api(
    name, local_doors, remote_doors, s3, stac
):
    request = DOOR_REQUESTS[name]
    remote_url, remote_data = remote_doors
    near = decode(fetch(local_doors, request), request.kind)
    cold(remote_data)
    s3.proxy.reset()
    stac.proxy.reset()
    far = decode(fetch(remote_url, request), request.kind)

    assert stac.searches() >= 1  # the remote gateway searched the STAC API...
    gets = [h for h in s3.proxy.hits() if h.method == "GET" and h.path.startswith("/eodata/")]
    assert bool(gets) == request.reads_pixels  # ...and read its pixels from the bucket
    assert far.media_type == near.media_type
    assert far.georef == near.georef
    if request.kind == "geojson":
        assert len(far.features) == 8
        assert far.features == near.features
    else:
        assert far.arrays.shape == near.arrays.shape
        assert np.unique(far.arrays).size > 10  # a real picture, not a blank one
        np.testing.assert_array_equal(far.arrays, near.arrays)


# --- the STAC API backend against a real STAC API ------------------------------------------


def _query(**kwargs) -> SearchQuery:
    params = dict(collection=L2A, bbox=AREA, time=TimeRange(None, None), order="mostRecent",
                  max_cloud_cover=None, limit=40)  # fmt: skip
    params.update(kwargs)
    return SearchQuery(**params)


def _ids(scenes) -> list[str]:
    return [s.id for s in scenes]


@pytest.mark.parametrize("order", ["mostRecent", "leastRecent", "leastCC"])
def test_stac_api_sortby_matches_static_catalog(order, stac, sample_archive):
    api = StacApiCatalog(stac.url, page_size=3)
    static = StaticCatalog(sample_archive / "stac")
    query = _query(order=order)
    scenes = api.search(query)
    assert len(scenes) == 8
    assert _ids(scenes) == _ids(static.search(query))
    keys = {
        "mostRecent": lambda s: -s.datetime.timestamp(),
        "leastRecent": lambda s: s.datetime.timestamp(),
        "leastCC": lambda s: s.cloud_cover,
    }[order]
    values = [keys(s) for s in scenes]
    assert values == sorted(values)
    # A cut inside a tie (the sample's two tiles of a datatake share their datetime, as
    # CDSE's do) keeps the same scenes from either backend: the API breaks ties as we do.
    for limit in (1, 3, 5, 7):
        cut = replace(query, limit=limit)
        assert _ids(api.search(cut)) == _ids(static.search(cut)), (order, limit)


SAME_DAY = "same-day-l2a"


def test_stac_api_nearest_first_matches_static_catalog(stac, sample_archive, tmp_path):
    """PRIORITY=leastTimeDifference about an instant (a STAC API cannot sort by time
    distance): searched either side of it, the API's scenes are the static catalog's, cut at
    any limit, over a day of four scenes at three times (10:00, 10:40 and the sample's two
    tiles at 10:56:19)."""
    folder = same_day_catalog(sample_archive, tmp_path / "stac", SAME_DAY)
    stac.load("collections", folder / "collection.ndjson")
    stac.load("items", folder / "items.ndjson")
    try:
        api, static = StacApiCatalog(stac.url, page_size=2), StaticCatalog(tmp_path / "stac")
        day = parse_time(SAME_DAY_DATE)
        moments = ("2025-06-13T10:35:00Z", "2025-06-13T10:05:00Z", "2025-06-13T10:50:00Z",
                   "2025-06-11T08:00:00Z", "2025-06-14T12:00:00Z")  # fmt: skip
        for moment in moments:
            order = NearestTo(parse_time(moment).start)
            for limit in (1, 2, 3, 4, 40):
                query = _query(collection=SAME_DAY, time=day, order=order, limit=limit)
                assert _ids(api.search(query)) == _ids(static.search(query)), (moment, limit)
        query = _query(collection=SAME_DAY, time=day, order=NearestTo(parse_time(moments[0]).start))
        times = [s.datetime.strftime("%H:%M") for s in static.search(query)]
        assert times == ["10:40", "10:56", "10:56", "10:00"]
        stac.proxy.reset()
        assert len(StacApiCatalog(stac.url).search(replace(query, limit=2))) == 2
        assert stac.searches() == 2  # one each side of the instant
    finally:
        stac.delete_collection(SAME_DAY)


@pytest.mark.parametrize("order", ["mostRecent", "leastRecent", "leastCC"])
def test_stac_api_stream_is_the_search_fetched_as_it_is_taken(order, stac, sample_archive):
    """A render's scenes fetched as its mosaic takes them: the same scenes in the same order as
    one search (and the static catalog's), ``first`` of them in the first request, the rest
    only once one past those is taken, in one more request."""
    api = StacApiCatalog(stac.url)
    query = _query(order=order)
    whole = _ids(api.search(query))
    assert whole == _ids(StaticCatalog(sample_archive / "stac").search(query))
    for first in (1, 3, 7):
        stac.proxy.reset()
        found = api.stream(query, first)
        assert _ids(next(found)) == whole[:first]
        assert stac.searches() == 1, first  # no more asked while no more are taken
        assert [_ids(page) for page in found] == [whole[first:]]
        assert stac.searches() == 2, first  # the rest at once, not a page of `first` each
    for limit in (1, 2, 5):  # a render's limit (max_scenes, a preview's) cuts the stream too
        assert (
            _ids(chain.from_iterable(api.stream(replace(query, limit=limit), 2))) == whole[:limit]
        )
    assert [_ids(page) for page in api.stream(query, 40)] == [whole]


def test_stac_api_stream_nearest_first_is_the_search(stac):
    """PRIORITY=leastTimeDifference's two searches, merged, whatever the first page's size."""
    api = StacApiCatalog(stac.url)
    order = NearestTo(parse_time("2025-06-13T10:35:00Z").start)
    query = _query(order=order)
    whole = _ids(api.search(query))
    assert [_ids(page) for page in api.stream(query, 1)] == [whole[:1], whole[1:]]


class _TakenScenes:
    """A catalog counting the scenes of the pages its streams hand out."""

    def __init__(self, inner: StacApiCatalog) -> None:
        self.inner, self.taken = inner, 0

    def stream(self, query: SearchQuery, first: int) -> Iterator:
        for page in self.inner.stream(query, first):
            self.taken += len(page)
            yield page


def _counted_engine(runtime, stac, first: int) -> tuple[Engine, _TakenScenes]:
    """An engine on the STAC API stand-in without the search cache, asking ``first`` scenes of
    the catalog first, and its catalog."""
    limits = runtime.config.limits.model_copy(update={"first_scenes": first})
    config = runtime.config.model_copy(update={"limits": limits})
    catalog = _TakenScenes(StacApiCatalog(stac.url))
    return Engine(config, catalog, runtime.engine.reader, None), catalog  # type: ignore[arg-type]


def _search_answer_bytes(stac: StacApi) -> int:
    return sum(h.body_bytes for h in stac.proxy.hits() if h.path == "/search")


PAGED_MAPS = {  # how many scenes each mosaic takes (of the sample's 8, most recent first)
    "filled by its first scene": (dict(layer="NDVI", bbox=tile_bounds(*WEST, 14),
                                       crs="EPSG:3857", width=256, height=256), 1),
    "clouds filled from an older scene": (dict(layer="NDVI", bbox=tile_bounds(*WEST, 13),
                                               crs="EPSG:3857", width=256, height=256), 2),
}  # fmt: skip


@pytest.mark.parametrize("name", list(PAGED_MAPS))
def test_a_mosaic_asks_the_catalog_for_no_scene_past_the_first_page_it_does_not_take(
    name, stac, remote
):
    """A tile filled by the scenes of the first page asks the STAC API once, for that page;
    one that needs older scenes asks for the rest once; both the same pixels, from the same
    scenes, as a render given every scene of its search at once (as before)."""
    params, used = PAGED_MAPS[name]
    whole, _ = _counted_engine(remote, stac, first=40)
    stac.proxy.reset()
    expected = whole.compute(build_request(whole.config, **params))
    assert stac.searches() == 1
    assert len(expected.scenes) == used
    request = build_request(whole.config, **params)
    found = len(
        whole.catalog.inner.search(
            _query(bbox=search_bounds(request.grid, None), time=request.time)
        )
    )
    assert found > used
    every_scene = _search_answer_bytes(stac)
    for first in (1, used, found):
        engine, catalog = _counted_engine(remote, stac, first)
        stac.proxy.reset()
        got = engine.compute(build_request(engine.config, **params))
        assert stac.searches() == 1 + (used > first), (name, first)
        assert catalog.taken == (first if used <= first else found), (name, first)
        if first == used:  # the scenes it took and no other
            assert _search_answer_bytes(stac) < every_scene, name
        assert [s.id for s in got.scenes] == [s.id for s in expected.scenes]
        assert np.array_equal(got.valid, expected.valid)
        np.testing.assert_array_equal(got.data, expected.data)


def test_stac_api_cql2_cloud_cover_filter_and_time(stac, sample_archive):
    api = StacApiCatalog(stac.url)
    static = StaticCatalog(sample_archive / "stac")
    for maxcc, expected in ((20.0, 4), (1.0, 2), (100.0, 8)):
        scenes = api.search(_query(max_cloud_cover=maxcc, order="leastCC"))
        assert len(scenes) == expected
        assert all(s.cloud_cover <= maxcc for s in scenes)
        assert _ids(scenes) == _ids(static.search(_query(max_cloud_cover=maxcc, order="leastCC")))
    june = api.search(_query(time=parse_time("2025-06")))
    assert len(june) == 6 and all(s.datetime.month == 6 for s in june)
    west = api.search(_query(bbox=(5.93, 52.60, 5.98, 52.64)))
    assert {s.id.split("_")[5] for s in west} == {"T31UFU"}


def test_stac_api_pages_with_small_page_size(stac):
    stac.proxy.reset()
    scenes = StacApiCatalog(stac.url, page_size=3).search(_query())
    assert len(scenes) == len(set(_ids(scenes))) == 8
    searches = [h for h in stac.proxy.hits() if h.path == "/search"]
    assert len(searches) == 3  # 3 + 3 + 2 items
    assert all(h.method == "POST" and h.status == 200 for h in searches)


def test_burst_of_tiles_over_one_area_makes_one_search(s3, stac, tmp_path):
    runtime = fresh_remote(s3, stac, tmp_path)
    try:
        tiles = [  # 12 z14 tiles east of 6°E: one 0.5° search cell
            tile_bounds(lon, lat, 14)
            for lon in (6.04, 6.07, 6.10, 6.13, 6.16, 6.19)
            for lat in (52.60, 52.64)
        ]
        requests = [tile_request(runtime.config, b, layer="NDVI", time="2025-06-13") for b in tiles]
        stac.proxy.reset()
        with ThreadPoolExecutor(4) as pool:
            rendered = list(pool.map(runtime.engine.render, requests))
        assert all(r.content[:4] == b"\x89PNG" for r in rendered)
        assert stac.searches() == 1
        assert runtime.engine.catalog.backend_searches == 1

        # Tiles straddling a cell line cost one search per distinct snapped area, not per tile.
        west = [tile_bounds(lon, 52.62, 14) for lon in (5.97, 5.99, 6.01)]
        cells = {snap_bbox(tile_request(runtime.config, b, layer="NDVI").grid.bounds_in(WGS84), 0.5)
                 for b in west}  # fmt: skip
        stac.proxy.reset()
        for bounds in west:
            runtime.engine.render(tile_request(runtime.config, bounds, layer="NDVI",
                                               time="2025-06-13"))  # fmt: skip
        assert stac.searches() == len(cells - {(6.0, 52.5, 6.5, 53.0)}) == 2
    finally:
        runtime.close()


# --- time-outs and 5xx ----------------------------------------------------------------------


class _Misbehaving:
    """A tiny HTTP server on 127.0.0.1 that answers every request through ``answer``."""

    def __init__(self, answer: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.count = 0
        self.seen: list[tuple[str, str, str | None]] = []
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _any(self) -> None:
                with lock:
                    owner.count += 1
                    owner.seen.append((self.command, self.path, self.headers.get("Range")))
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                answer(self)
                self.close_connection = True  # no thread left waiting on a kept-alive socket

            do_GET = do_POST = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", kind)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")  # else a client may reuse a socket we close
    handler.end_headers()
    handler.wfile.write(body)


def test_stac_api_5xx_bounded_retries_then_upstream_error():
    server = _Misbehaving(lambda h: _send(h, 503, b'{"detail": "busy"}', "application/json"))
    try:
        catalog = StacApiCatalog(server.url, timeout_s=2.0, retries=2)
        started = time.monotonic()
        with pytest.raises(UpstreamError) as info:
            catalog.search(_query())
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert server.count == 3  # the first try and 2 retries
    assert catalog.tally.snapshot() == {"requests": 3, "errors": 3, "retries": 2}
    assert elapsed < 3.0
    assert info.value.status == 502
    assert info.value.message == "the catalog service did not answer"


def test_stac_api_tries_errors_retries_and_bytes_are_counted():
    root = b'{"type": "Catalog", "id": "t", "description": "t", "stac_version": "1.0.0", '
    root += b'"links": []}'
    missing = b'{"detail": "no such collection"}'

    def answer(handler: BaseHTTPRequestHandler) -> None:
        if server.count == 1:
            _send(handler, 503, b'{"detail": "busy"}', "application/json")  # retried
        elif handler.path.startswith("/collections/"):
            _send(handler, 404, missing, "application/json")
        else:
            _send(handler, 200, root, "application/json")

    server = _Misbehaving(answer)
    try:
        catalog = StacApiCatalog(server.url, timeout_s=2.0, retries=2)
        with pytest.raises(UpstreamError):
            catalog.declared_extent("nowhere")
    finally:
        server.close()
    assert server.count == 3  # the root (503, then 200 on the retry), the collection (404)
    figures = catalog.tally.snapshot()
    # bytes of the answers requests saw (urllib3 drops the retried 503's)
    assert figures == {"requests": 3, "errors": 2, "retries": 1, "bytes": len(root + missing)}


def test_stac_api_429_is_retried_with_backoff_and_each_try_charged_to_the_quota():
    server = _Misbehaving(lambda h: _send(h, 429, b'{"detail": "slow down"}', "application/json"))
    quota = Quota("stac", QuotaLimits(requests_per_minute=3, wait_s=0.5), LocalCounters())
    try:
        catalog = StacApiCatalog(server.url, timeout_s=2.0, retries=2, quota=quota)
        started = time.monotonic()
        with pytest.raises(UpstreamError):
            catalog.search(_query())
        elapsed = time.monotonic() - started
        with pytest.raises(QuotaExhausted) as refused:  # the minute's 3 requests are spent
            catalog.search(_query())
    finally:
        server.close()
    assert server.count == 3  # the first try and 2 retries, none after the quota said no
    assert elapsed >= 0.4  # backed off (0.2 s, then 0.4 s, with jitter), not hammered
    assert refused.value.status == 503
    assert quota.state()["requests_last_minute"] == 3


def test_stac_api_hang_times_out_with_bounded_retries():
    server = _Misbehaving(lambda h: time.sleep(5))
    try:
        catalog = StacApiCatalog(server.url, timeout_s=0.3, retries=2)
        started = time.monotonic()
        with pytest.raises(UpstreamError) as info:
            catalog.search(_query())
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert server.count == 3
    assert 0.9 <= elapsed < 3.0  # 3 × 0.3 s time-outs plus a short back-off
    assert info.value.status == 502


def test_s3_5xx_is_retried_a_bounded_number_of_times_then_upstream_error(runtime, tmp_path):
    server = _Misbehaving(
        lambda h: _send(h, 503, b"<Error><Code>SlowDown</Code></Error>", "text/xml")
    )
    settings = Settings(
        data_dir=runtime.settings.data_dir, storage="s3",
        s3_endpoint=server.url.removeprefix("http://"), s3_https=False,
        s3_access_key_id="test", s3_secret_access_key="test", sample_data=False,
    )  # fmt: skip
    broken = build_runtime(settings)  # static catalog on the sample, pixels from the broken S3
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamError) as info:
            broken.engine.compute(build_request(broken.config, **MAPS["mosaic-cog-ndvi"]))
    finally:
        server.close()
        broken.close()
    assert info.value.status == 502
    elapsed = time.monotonic() - started
    object_gets = [s for s in server.seen if s[2] == "bytes=0-32767"]
    assert len(object_gets) == 4  # GDAL_HTTP_MAX_RETRY = 3 after the first try
    assert len({s[1] for s in object_gets}) == 1  # the first failing file ends the map
    assert server.count <= 5  # plus GDAL's one "is it a folder?" listing after the failure
    # counted with no quota set: the open's estimated request, and the failed read
    assert broken.remote_tallies["s3"].snapshot() == {
        "opens": 1, "requests": 1, "bytes": 0, "errors": 1,
    }  # fmt: skip
    assert 1.0 < elapsed < 8.0  # back-off 0.5 s, doubling


def test_s3_hang_times_out_with_bounded_retries(runtime):
    server = _Misbehaving(lambda h: time.sleep(6))
    storage = Storage(
        mode="s3", s3_endpoint=server.url.removeprefix("http://"), https=False,
        access_key_id="test", secret_access_key="test", http_timeout_s=1, http_retries=1,
    )  # fmt: skip
    engine = Engine(runtime.config, runtime.engine.catalog, SceneReader(storage))
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamError) as info:
            engine.compute(build_request(runtime.config, **MAPS["mosaic-cog-ndvi"]))
    finally:
        server.close()
    elapsed = time.monotonic() - started
    assert info.value.status == 502
    gets = [s for s in server.seen if s[2] == "bytes=0-32767"]
    # One open tries the file twice, each time once plus 1 retry; then one listing.
    assert len(gets) == 4 and server.count == 5
    assert 5.0 <= elapsed < 9.0  # 5 × 1 s time-outs plus 2 × 0.5 s back-off


def test_storage_follows_the_variables_cdse_documents_for_gdal(monkeypatch, tmp_path):
    for key in [k for k in os.environ if k.startswith(("GATEWAY_", "AWS_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(tmp_path))
    assert make_storage(Settings()).mode == "local"  # nothing set: the embedded default
    monkeypatch.setenv("AWS_S3_ENDPOINT", "eodata.example:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LEAKY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LEAKY_SECRET)
    monkeypatch.setenv("AWS_HTTPS", "NO")
    monkeypatch.setenv("AWS_VIRTUAL_HOSTING", "TRUE")
    storage = make_storage(Settings())
    options = storage.gdal_options()
    assert storage.mode == "s3"
    assert storage.gdal_path("s3://eodata/Sentinel-2/a/b.jp2") == "/vsis3/eodata/Sentinel-2/a/b.jp2"
    assert options["AWS_S3_ENDPOINT"] == "eodata.example:9000"
    assert options["AWS_HTTPS"] == "NO" and options["AWS_VIRTUAL_HOSTING"] == "TRUE"
    assert options["GDAL_DISABLE_READDIR_ON_OPEN"] == "EMPTY_DIR"
    assert "AWS_NO_SIGN_REQUEST" not in options
    # The keys reach GDAL only through the session, never the plain options or a repr.
    assert storage.gdal_session().get_credential_options() == {
        "AWS_ACCESS_KEY_ID": LEAKY_ID,
        "AWS_SECRET_ACCESS_KEY": LEAKY_SECRET,
    }
    for text in (str(options), repr(storage), repr(storage.gdal_session()), repr(Settings())):
        assert LEAKY_ID not in text and LEAKY_SECRET not in text
    monkeypatch.setenv("GATEWAY_STAC_URL", "https://stac.example/v1")
    assert isinstance(make_catalog(Settings())._backend, StacApiCatalog)


# --- a door: OGC API Maps --------------------------------------------------------------------

MAP_QUERY = {"bbox": ",".join(map(str, AREA)), "width": "320", "height": "160",
             "datetime": "2025-06-13", "f": "png"}  # fmt: skip


def _get(runtime, path: str, params: dict) -> httpx.Response:
    app = create_app(runtime=runtime, doors=("gateway.ogcapi.door:build_door",))

    async def fetch() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.get(path, params=params)

    return asyncio.run(fetch())


def test_ogcapi_map_same_pixels_from_s3_and_stac_api(runtime, remote, stac):
    stac.proxy.reset()
    far = _get(remote, "/ogcapi/collections/NDVI/map", MAP_QUERY)
    near = _get(runtime, "/ogcapi/collections/NDVI/map", MAP_QUERY)
    assert far.status_code == near.status_code == 200
    assert far.headers["content-type"] == "image/png"
    got = np.asarray(Image.open(io.BytesIO(far.content)))
    assert got.shape[:2] == (160, 320) and got.std() > 0
    assert np.array_equal(got, np.asarray(Image.open(io.BytesIO(near.content))))


def test_ogcapi_map_answers_502_when_the_stac_api_fails(runtime, tmp_path):
    server = _Misbehaving(lambda h: _send(h, 503, b'{"detail": "busy"}', "application/json"))
    settings = Settings(
        data_dir=runtime.settings.data_dir, storage="local", stac_url=server.url,
        stac_retries=1, stac_timeout_s=1, sample_data=False,
    )  # fmt: skip
    broken = build_runtime(settings)
    try:
        answer = _get(broken, "/ogcapi/collections/NDVI/map", MAP_QUERY)
    finally:
        server.close()
        broken.close()
    assert answer.status_code == 502
    assert answer.json()["description"] == "the catalog service did not answer"
    assert "Traceback" not in answer.text and server.url not in answer.text
    # Each catalog search is 1 try + 1 retry: one listing per collection for the summaries
    # (each left UNKNOWN) and the map's one search; and at start, one look for the ingested
    # collections (GET /collections, not retried: none found, the gateway starts).
    listed = len(broken.summaries.snapshot())
    assert listed >= 1 and server.count == 2 * (listed + 1) + 1


# --- keys never leak ------------------------------------------------------------------------

LEAKY_ID = "AKIDLEAKCHECK7Q3Z"
LEAKY_SECRET = "leak-check-secret-9f8e7d"


def _echo_auth(handler: BaseHTTPRequestHandler) -> None:
    """Answer 403 the way S3 does, echoing what the client sent (as real S3 errors can)."""
    auth = handler.headers.get("Authorization", "")
    body = (
        "<?xml version='1.0'?><Error><Code>SignatureDoesNotMatch</Code>"
        f"<Message>denied for {auth} {LEAKY_SECRET}</Message>"
        f"<AWSAccessKeyId>{LEAKY_ID}</AWSAccessKeyId></Error>"
    ).encode()
    _send(handler, 403, body, "application/xml")


def test_keys_never_in_logs_or_errors(runtime, tmp_path, caplog, capfd):
    server = _Misbehaving(_echo_auth)
    settings = Settings(
        data_dir=runtime.settings.data_dir, storage="s3",
        s3_endpoint=server.url.removeprefix("http://"), s3_https=False,
        s3_access_key_id=LEAKY_ID, s3_secret_access_key=LEAKY_SECRET, sample_data=False,
    )  # fmt: skip
    broken = build_runtime(settings)
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(UpstreamError) as info:
            broken.engine.render(build_request(broken.config, **MAPS["mosaic-cog-ndvi"]))
    finally:
        server.close()
        broken.close()
    assert server.count >= 1  # the read really reached the server, with the keys
    captured = capfd.readouterr()
    texts = [
        caplog.text,
        captured.out,
        captured.err,
        str(info.value),
        info.value.message,
        repr(broken.engine.reader.storage),
        repr(settings.s3_secret_access_key),
    ]
    assert "cannot read asset" in caplog.text  # the failure was logged...
    for text in texts:  # ...without either key
        assert LEAKY_ID not in text and LEAKY_SECRET not in text


def test_cli_error_for_a_failed_read_has_no_keys(tmp_path, sample_archive):
    server = _Misbehaving(_echo_auth)
    env = _cli_env(
        {
            "AWS_S3_ENDPOINT": server.url.removeprefix("http://"),
            "AWS_ACCESS_KEY_ID": LEAKY_ID,
            "AWS_SECRET_ACCESS_KEY": LEAKY_SECRET,
            "AWS_HTTPS": "NO",
            "AWS_VIRTUAL_HOSTING": "FALSE",
            "GATEWAY_DATA_DIR": str(sample_archive),
            "GATEWAY_SAMPLE_DATA": "false",
        }
    )
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gateway.cli", "render", "-o", str(tmp_path / "x.png"),
             "--bbox", ",".join(map(str, AREA)), "--size", "64x32", "--layer", "MOSAIC_NDVI"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        server.close()
    assert result.returncode == 2
    assert "error: the storage service could not deliver a scene" in result.stderr
    assert server.count >= 1
    for text in (result.stdout, result.stderr):
        assert LEAKY_ID not in text and LEAKY_SECRET not in text


# --- few requests, few bytes ----------------------------------------------------------------


def test_zoomed_in_cog_tile_costs_at_most_two_ranges_per_band(remote, s3):
    bounds = tile_bounds(*WEST, 15)
    request = tile_request(remote.config, bounds, layer="MOSAIC_NDVI")
    scenes = remote.engine.search(request)
    hrefs = [a.href for s in scenes for a in s.assets if a.band in ("B04", "B08")]
    clear_gdal_http_cache()
    _, header_cost = measure(s3.proxy, lambda: open_headers(remote.engine.reader.storage, hrefs))
    assert header_cost.requests == len(hrefs) == 2  # one 32 KiB GET per file, no listing
    rendered, cost = measure(s3.proxy, lambda: remote.engine.render(request))
    assert not rendered.cached
    assert set(cost.per_file) == {h.removeprefix("s3://eodata/") for h in hrefs}
    assert cost.max_per_file <= 2
    assert cost.duplicate_ranges == 0 and cost.refetched_bytes == 0
    assert cost.listings == 0 and cost.header_reads == 0
    # Another request in the same worker reads neither headers nor the same blocks again.
    again = tile_request(remote.config, bounds, layer="MOSAIC_NDVI", format="jpeg")
    _, repeat = measure(s3.proxy, lambda: remote.engine.render(again))
    assert repeat.requests == 0


def test_remote_reads_and_stac_requests_are_counted_and_the_quota_holds_the_real_ones(
    s3, stac, tmp_path
):
    """Reads are charged their estimate first, then trued up to the requests and bytes GDAL
    really asked for: the quota holds what the S3 stand-in saw."""
    quota = dict(s3_max_connections=8, s3_requests_per_minute=10_000, s3_bytes_per_month=2**40)
    charged = build_runtime(remote_settings(s3, stac, tmp_path, **quota))
    request = tile_request(charged.config, tile_bounds(*WEST, 15), layer="MOSAIC_NDVI")
    stac.proxy.reset()
    clear_gdal_http_cache()
    s3.proxy.reset()
    try:
        assert not charged.engine.render(request).cached
        exposition = Metrics(lambda: charged).exposition().decode()
    finally:
        charged.close()
    s3_figures = charged.remote_tallies["s3"].snapshot()
    assert s3_figures["opens"] == s3_figures["windows"] == 2  # B04 and B08, one COG each
    assert "copies" not in s3_figures and "errors" not in s3_figures
    state = charged.remote_quotas["s3"].state()
    fetched = s3.proxy.hits()
    assert 0 < len(fetched) < s3_figures["requests"]  # estimated on the safe side
    assert (state["requests_last_minute"], state["bytes_this_month"]) == (
        len(fetched), sum(hit.body_bytes for hit in fetched)
    )  # fmt: skip
    searched = stac.proxy.hits()
    stac_figures = charged.remote_tallies["stac"].snapshot()
    assert stac_figures["requests"] == len(searched) > 0
    assert stac_figures["bytes"] == sum(hit.body_bytes for hit in searched)
    found = samples(exposition)
    for service, figures in (("s3", s3_figures), ("stac", stac_figures)):
        for figure in ("requests", "bytes"):
            labels = (("service", service),)
            assert found[(f"gateway_remote_{figure}_total", labels)] == figures[figure]
    opens = (("kind", "opens"), ("service", "s3"))
    assert found[("gateway_remote_reads_total", opens)] == 2
    assert found[("gateway_s3_requests_made_total", ())] >= len(fetched)  # the process's


def test_a_zoomed_out_view_holds_the_quota_it_really_used(s3, stac, tmp_path):
    """Zoomed out, the estimates charge JPEG 2000 reads several times their requests (GDAL's
    caches serve the rest); trued up as each read ends, the quota holds what S3 saw: the
    indexes, the reads and the COG copies made in the background."""
    quota = dict(s3_max_connections=4, s3_requests_per_minute=10_000, s3_bytes_per_month=2**40)
    charged = build_runtime(remote_settings(s3, stac, tmp_path, **quota))
    params = dict(collection=L2A, expression=NDVI, time="2025-06-13", style="ndvi")
    tiles = [tile_bounds(6.07, lat, 11) for lat in (52.62, 52.55)]
    requests = [tile_request(charged.config, bounds, **params) for bounds in tiles]
    clear_gdal_http_cache()
    s3.proxy.reset()
    try:
        with ThreadPoolExecutor(2) as pool:
            rasters = list(pool.map(charged.engine.compute, requests))
        charged.engine.reader.cog_cache.close()  # waits for the background copies
        state = charged.remote_quotas["s3"].state()
    finally:
        charged.close()
    assert all(raster.valid.any() for raster in rasters)
    figures = charged.remote_tallies["s3"].snapshot()
    fetched = s3.proxy.hits()
    assert figures["copies"] > 0 and figures["requests"] > 2 * len(fetched)  # the estimates
    assert (state["requests_last_minute"], state["bytes_this_month"]) == (
        len(fetched), sum(hit.body_bytes for hit in fetched)
    )  # fmt: skip


def test_a_scene_s_windows_are_charged_together_or_none_is_read(s3, stac, tmp_path):
    """A minute's budget that holds the scene's two opens but not both its windows: the map
    is refused before either window is read, and only the opens are charged (band by band,
    the first band's window would have been charged and read for a map that never came)."""
    quota = dict(s3_max_connections=2, s3_requests_per_minute=7, quota_wait_s=0.2)
    charged = build_runtime(remote_settings(s3, stac, tmp_path, **quota))
    request = tile_request(charged.config, tile_bounds(*WEST, 15), layer="MOSAIC_NDVI")
    clear_gdal_http_cache()
    s3.proxy.reset()
    try:
        with pytest.raises(QuotaExhausted):
            charged.engine.render(request)
        state = charged.remote_quotas["s3"].state()
    finally:
        charged.close()
    figures = charged.remote_tallies["s3"].snapshot()
    assert figures == {"opens": 2, "requests": 2, "bytes": 0}  # B04's and B08's COG
    assert state["requests_last_minute"] == 2 and state["refused"] == 1
    hits = s3.proxy.hits()
    assert len({hit.path for hit in hits}) == 2
    assert all(hit.range is not None and hit.range.startswith("bytes=0-") for hit in hits)


def test_zoomed_in_jp2_tile_needs_no_more_requests_than_gdal_srcwin(remote, s3):
    bounds = tile_bounds(*WEST, 15)
    request = tile_request(
        remote.config, bounds, collection=L2A, expression="B04", time="2025-06-13", style="ndvi"
    )
    (scene,) = remote.engine.search(request)
    (asset,) = [a for a in scene.assets if a.key == "B04_10m"]
    storage = remote.engine.reader.storage
    window = source_window(storage.gdal_path(asset.href), storage, bounds, "EPSG:3857")

    clear_gdal_http_cache()
    _, gdal_cost = measure(s3.proxy, lambda: gdal_translate_srcwin(storage, asset.href, window))
    clear_gdal_http_cache()
    _, cost = measure(s3.proxy, lambda: remote.engine.compute(request))
    assert set(cost.per_file) == {asset.href.removeprefix("s3://eodata/")}
    assert cost.requests <= gdal_cost.requests
    assert cost.bytes <= gdal_cost.bytes
    assert cost.duplicate_ranges == 0 and cost.refetched_bytes == 0 and cost.listings == 0


def test_neighbouring_tiles_side_by_side_fetch_no_more_than_one_by_one(
    remote, s3, tmp_path, monkeypatch
):
    """A browser asks for a view's tiles six at a time: from S3 they cost no more GETs and
    bytes than the same tiles asked one by one, with the same pixels, and each file level is
    opened once. GDAL's HTTP cache shares what was fetched, not what is being fetched: each
    request fetched the ranges the others were fetching (a zoom 11 view of full-size
    products: 49 GETs against 10; bench_scale)."""
    opened: list[tuple[str, int | None]] = []
    real_open = datasets.rasterio.open

    def counted_open(path, *args, **kwargs):
        opened.append((path, kwargs.get("overview_level")))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(datasets.rasterio, "open", counted_open)
    never = CogCache(tmp_path / "no-copies", min_coverage=float("inf"))
    reader = SceneReader(remote.engine.reader.storage, never)
    engine = Engine(remote.config, remote.engine.catalog, reader)
    tms = morecantile.tms.get("WebMercatorQuad")
    centre = tms.tile(6.0, 52.63, 13)  # T31UFU and T32ULD overlap there
    tiles = [
        morecantile.Tile(centre.x + dx, centre.y + dy, 13) for dx in (0, 1, 2) for dy in (0, 1)
    ]

    def render(tile: morecantile.Tile):
        bounds = tuple(tms.xy_bounds(tile))
        return engine.compute(tile_request(remote.config, bounds, layer="NDVI", time="2025-06-13"))

    def side_by_side() -> list:
        start = threading.Barrier(len(tiles))

        def run(tile: morecantile.Tile):
            start.wait()
            return render(tile)

        with ThreadPoolExecutor(len(tiles)) as pool:
            return list(pool.map(run, tiles))

    for tile in tiles:
        render(tile)  # the catalog's answers, kept: only pixels are fetched below
    OpenDatasets.close_all_pools()
    clear_gdal_http_cache()
    alone, one_by_one = measure(s3.proxy, lambda: [render(tile) for tile in tiles])
    OpenDatasets.close_all_pools()
    clear_gdal_http_cache()
    opened.clear()
    together, beside = measure(s3.proxy, side_by_side)
    assert all(raster.valid.any() for raster in alone)
    assert opened and len(opened) == len(set(opened)), sorted(opened)
    assert one_by_one.requests > 0
    assert beside.requests <= one_by_one.requests, (beside.requests, one_by_one.requests)
    assert beside.bytes <= one_by_one.bytes
    for mine, theirs in zip(together, alone, strict=True):
        np.testing.assert_array_equal(mine.data, theirs.data)
        np.testing.assert_array_equal(mine.valid, theirs.valid)


def test_zoomed_out_jp2_tile_reads_the_level_that_fits_and_copies_in_the_background(
    runtime, s3, stac, tmp_path, sample_archive, monkeypatch
):
    remote_once = fresh_remote(s3, stac, tmp_path)
    cache = remote_once.engine.reader.cog_cache
    copied_in: list[str] = []  # the threads that made COG copies
    local_copy = cache.local_copy

    def spy_copy(src, path=None):
        copied_in.append(threading.current_thread().name)
        return local_copy(src, path)

    levels: list[tuple[str, int, Grid]] = []  # each dataset read: its file, width, the grid

    def spy_read(src, grid, **kwargs):
        levels.append((src.name, src.width, grid))
        return read_window(src, grid, **kwargs)

    monkeypatch.setattr(cache, "local_copy", spy_copy)
    monkeypatch.setattr("gateway.core.reader.read_window", spy_read)
    try:
        params = dict(collection=L2A, expression=NDVI, time="2025-06-13", style="ndvi")
        whole, part = tile_bounds(6.07, 52.62, 11), tile_bounds(6.07, 52.55, 11)
        first = tile_request(remote_once.config, whole, **params)
        south = tile_request(remote_once.config, part, **params)
        clear_gdal_http_cache()
        raster, cost = measure(s3.proxy, lambda: remote_once.engine.compute(first))
        # The request read each file through its resolution level that fits the tile, never
        # its full resolution, and made no copy itself.
        assert len(levels) == 4  # B04 20 m and B08 10 m of both scenes
        indexes = remote_once.engine.reader.indexes
        for name, width, grid in levels:
            key = indexes.file_of(name).removeprefix("/vsis3/eodata/")
            with rasterio.open(sample_archive / "eodata" / key) as full:
                factor = overview_factor(full, grid)
                assert factor > 1 and width == full.width // factor, name
        sizes = {key: (sample_archive / "eodata" / key).stat().st_size for key in cost.per_file}
        assert len(sizes) == 4
        # Each file's tile-part index was made first (its head, then 12 bytes a tile-part):
        # what GDAL fetched next overlaps those reads, nothing else was fetched twice.
        walks = [h for h in s3.proxy.hits() if h.body_bytes in (12, HEAD_BYTES)]
        assert cost.duplicate_ranges == 0 and cost.listings == 0
        assert cost.refetched_bytes <= sum(h.body_bytes for h in walks)
        assert cost.bytes <= sum(sizes.values()) + sum(h.body_bytes for h in walks)
        local = runtime.engine.compute(tile_request(runtime.config, whole, **params))
        np.testing.assert_array_equal(raster.data, local.data)

        cache.close()  # waits for the background copies
        assert len(copied_in) == 4
        assert all(name.startswith("cog-cache") for name in copied_in), copied_in
        assert len(list((tmp_path / "cog-cache").glob("*.tif"))) == 4
        figures = remote_once.remote_tallies["s3"].snapshot()
        assert figures["copies"] == 4 and "errors" not in figures

        levels.clear()
        clear_gdal_http_cache()  # even without GDAL's block cache: no request at all
        raster, cost = measure(s3.proxy, lambda: remote_once.engine.compute(south))
        assert cost.requests == 0
        assert {Path(name).parent for name, *_ in levels} == {tmp_path / "cog-cache"}
        assert 0.1 < raster.valid.mean() < 0.5
        local = runtime.engine.compute(tile_request(runtime.config, part, **params))
        np.testing.assert_array_equal(raster.data, local.data)
    finally:
        remote_once.close()


def test_jp2_files_opened_with_their_tile_part_index_read_the_same_pixels(runtime, remote, s3):
    """Every remote JPEG 2000 file indexed (``min_tiles=1``: the sample's bands have 4 tiles,
    fewer than the product indexes): a reader that makes the indexes and one in a cold
    process that finds them in the shared cache read the same pixels as the local files, the
    second without walking any file and in no more GETs than a reader without indexes."""
    shared = MemoryCache()
    storage = remote.engine.reader.storage

    def engine(indexes: TilePartIndexes | None) -> Engine:
        return Engine(remote.config, remote.engine.catalog, SceneReader(storage, indexes=indexes))

    params = dict(collection=L2A, expression=NDVI, time="2025-06-13", style="ndvi")
    tiles = [tile_bounds(*WEST, 13), tile_bounds(6.07, 52.57, 13), tile_bounds(6.15, 52.66, 12)]
    costs = {}
    for name, indexes in (
        ("plain", None),
        ("making", TilePartIndexes(shared, min_tiles=1)),
        ("made", TilePartIndexes(shared, min_tiles=1)),
    ):
        reading = engine(indexes)
        clear_gdal_http_cache()
        s3.proxy.reset()
        for bounds in tiles:
            raster = reading.compute(tile_request(remote.config, bounds, **params))
            local = runtime.engine.compute(tile_request(runtime.config, bounds, **params))
            np.testing.assert_array_equal(raster.data, local.data)
            assert raster.valid.any()
        costs[name] = cost_of(s3.proxy.hits())
        headers = [h for h in s3.proxy.hits() if h.body_bytes == 12]  # SOT headers read
        walked = {h.path for h in headers}
        figures = reading.reader.tally.snapshot()
        made = figures.get("indexes", 0)
        if name == "making":  # the 10 m bands (1200 px: 4 tiles), each walked once
            assert made == len(walked) >= 2, (made, walked)
            assert figures["indexing"] == len(headers) + made  # and each file's head
        else:
            assert made == 0 and walked == set(), (name, made, walked)
            assert "indexing" not in figures
    assert costs["made"].requests <= costs["plain"].requests, costs
    assert costs["making"].requests > costs["plain"].requests, costs  # the walks, once


# --- WFS: filters, sorting and paging pushed down into the STAC API -------------------------

WFS_TYPES = (L2A, MOSAICS)
WFS_BASE = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature"}


def _wfs(base_url: str, **params: str) -> httpx.Response:
    response = httpx.get(f"{base_url}/wfs", params={**WFS_BASE, **params}, timeout=120)
    assert response.status_code == 200, response.text[:500]
    return response


def _searches(stac: StacApi) -> list:
    return [h for h in stac.proxy.hits() if h.path.rstrip("/").endswith("/search")]


def _without_time(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in ("timeStamp", "links")}


@pytest.mark.parametrize("case", BOTH_TYPES, ids=lambda c: c.name)
def test_wfs_pushdown_stac_api_equals_static_catalog(case: Case, stac, sample_archive):
    names = ",".join(f"cdse:{t}" for t in WFS_TYPES)
    query = parse_query(Kvp([("TYPENAMES", names), ("FILTER", fes(case.body))]), list(WFS_TYPES))
    static = StaticCatalog(sample_archive / "stac")
    api = StacApiCatalog(stac.url)
    want, matched = select(static, query, scan_limit=100)
    stac.proxy.reset()
    got, api_matched = select(api, query, scan_limit=100)
    assert [f.fid for f in got] == [f.fid for f in want] and want
    assert api_matched == matched == len(want)
    assert len(_searches(stac)) == 1  # one page of the STAC API: pushed down, or narrowed


@pytest.mark.parametrize("name", list(CQL2_TWINS))
def test_wfs_and_ogcapi_select_the_same_features(name, stac, sample_archive):
    """One filter, in FES to the WFS and in CQL2 to OGC API Features, selects the same
    features from the STAC API (pgstac) and from the static catalog: SQL's answer, missing
    values included, whether the catalog decides it or the WFS evaluates it in Python."""
    case = next(c for c in BOTH_TYPES if c.name == name)
    twin = CQL2_TWINS[name]
    ast = parse_cql2_text(twin) if isinstance(twin, str) else parse_cql2_json(twin)
    expression = cql2_text(feature_filter(None, None, None, ast))
    names = ",".join(f"cdse:{t}" for t in WFS_TYPES)
    query = parse_query(Kvp([("TYPENAMES", names), ("FILTER", fes(case.body))]), list(WFS_TYPES))
    items = [i for t in WFS_TYPES for i in load_items(sample_archive, t)]
    want = sorted(i["id"] for i in items if case.expected(i))
    assert 0 < len(want) < len(items)
    for catalog in (StaticCatalog(sample_archive / "stac"), StacApiCatalog(stac.url)):
        wfs, _ = select(catalog, query, scan_limit=100)
        ogcapi = catalog.search_page(PageQuery(WFS_TYPES, filter=expression, limit=100))
        assert sorted(f.properties["scene_id"] for f in wfs) == want
        assert sorted(s.id for s in ogcapi.scenes) == want


def test_wfs_stac_paging_reads_ids_up_to_the_offset_then_one_page(stac):
    api = StacApiCatalog(stac.url)
    keys = (SortKey("eo:cloud_cover", descending=True), SortKey("datetime"), SortKey("id"))
    every = api.search_page(PageQuery(WFS_TYPES, sortby=keys, limit=100))
    assert every.matched == 10 and len(every.scenes) == 10
    stac.proxy.reset()
    page = api.search_page(PageQuery(WFS_TYPES, sortby=keys, offset=5, limit=2))
    assert [s.id for s in page.scenes] == [s.id for s in every.scenes[5:7]]
    assert page.matched == 10
    skip, read = _searches(stac)
    assert skip.body_bytes < 1500 < read.body_bytes  # 5 ids, then 2 whole items
    filtered = PageQuery((L2A,), filter=cql2_text({"op": "<", "args": [
        {"property": "eo:cloud_cover"}, 20]}), sortby=keys, offset=3, limit=5)  # fmt: skip
    assert [s.cloud_cover for s in api.search_page(filtered).scenes] == [0.24]
    stac.proxy.reset()
    assert api.search_page(PageQuery(WFS_TYPES, limit=0)).matched == 10
    assert api.search_page(PageQuery(WFS_TYPES, offset=12, limit=3)).scenes == ()
    assert len(_searches(stac)) == 2


def test_wfs_count_2_reads_one_stac_page_with_exact_number_matched(local_doors, remote_doors, stac):
    remote_url, _ = remote_doors
    params = {"TYPENAMES": f"cdse:{L2A}", "COUNT": "2", "SORTBY": "cloud_cover",
              "OUTPUTFORMAT": "application/geo+json"}  # fmt: skip
    for extra, searches in (({}, 1), ({"STARTINDEX": "4"}, 2), ({"RESULTTYPE": "hits"}, 1)):
        near = _wfs(local_doors, **params, **extra).json()
        stac.proxy.reset()
        far = _wfs(remote_url, **params, **extra).json()
        assert len(_searches(stac)) == searches, extra
        assert far["numberMatched"] == 8
        assert _without_time(far) == _without_time(near)
    gml = etree.fromstring(_wfs(remote_url, TYPENAMES=f"cdse:{L2A}", COUNT="2").content)
    assert (gml.get("numberMatched"), gml.get("numberReturned")) == ("8", "2")


def test_ogcapi_items_read_the_footprint_fields_and_answer_as_the_static_catalog(
    local_doors, remote_doors, stac
):
    """An OGC API items page over the STAC API: the features it gives over the static
    catalog, from a search answer a quarter of whole items' size or less (Fields include)."""
    remote_url, _ = remote_doors
    path, params = f"/ogcapi/collections/{L2A}/items", {"limit": "8", "f": "json"}

    def features(base: str) -> list[dict]:
        response = httpx.get(base + path, params=params, timeout=120)
        assert response.status_code == 200, response.text[:500]
        return [{k: v for k, v in f.items() if k != "links"} for f in response.json()["features"]]

    near = features(local_doors)
    stac.proxy.reset()
    assert features(remote_url) == near and len(near) == 8
    (slim,) = _searches(stac)
    stac.proxy.reset()
    assert len(StacApiCatalog(stac.url).search_page(PageQuery((L2A,), limit=8)).scenes) == 8
    assert slim.body_bytes * 4 < _searches(stac)[-1].body_bytes  # whole items


def test_a_count_above_what_the_stac_api_counts_exactly_is_unknown_until_the_end(stac):
    """pgstac estimates numberMatched above 100,000 matches (its context_estimated_count):
    above ``exact_count_max`` the count is not passed on as exact; the last page counts."""
    trusting = StacApiCatalog(stac.url)
    doubting = StacApiCatalog(stac.url, exact_count_max=5)  # the API's 8 is "an estimate"
    first, hits = PageQuery((L2A,), limit=2), PageQuery((L2A,), limit=0)
    assert trusting.search_page(first).matched == trusting.search_page(hits).matched == 8
    page = doubting.search_page(first)
    assert len(page.scenes) == 2 and page.matched is None
    assert doubting.search_page(hits).matched is None
    last = doubting.search_page(PageQuery((L2A,), offset=6, limit=10))
    assert len(last.scenes) == 2 and last.matched == 8  # the end is reached: counted
    assert StacApiCatalog(stac.url, exact_count_max=8).search_page(first).matched == 8


@pytest.mark.parametrize(
    "body", [f[0] for f in FILTERS[:4]] + [c.body for c in BOTH_TYPES if not c.exact]
)
def test_wfs_filters_same_from_stac_api_as_static(body, local_doors, remote_doors):
    remote_url, _ = remote_doors
    params = {"TYPENAMES": f"cdse:{L2A},cdse:{MOSAICS}", "FILTER": fes(body),
              "OUTPUTFORMAT": "application/geo+json", "SORTBY": "datetime DESC", "COUNT": "3",
              "STARTINDEX": "1"}  # fmt: skip
    near, far = _wfs(local_doors, **params).json(), _wfs(remote_url, **params).json()
    assert far["features"] and _without_time(far) == _without_time(near)


def test_wfs_xml_post_same_from_stac_api(local_doors, remote_doors, stac):
    remote_url, _ = remote_doors
    body = (
        '<wfs:GetFeature service="WFS" version="2.0.0" count="2" startIndex="1" '
        'outputFormat="application/geo+json" xmlns:wfs="http://www.opengis.net/wfs/2.0" '
        f'xmlns:fes="http://www.opengis.net/fes/2.0"><wfs:Query typeNames="cdse:{L2A}">'
        f"{fes(FILTERS[1][0])}<fes:SortBy><fes:SortProperty><fes:ValueReference>cloud_cover"
        "</fes:ValueReference><fes:SortOrder>DESC</fes:SortOrder></fes:SortProperty>"
        "</fes:SortBy></wfs:Query></wfs:GetFeature>"
    )

    def post(url: str) -> dict:
        answer = httpx.post(f"{url}/wfs", content=body, headers={"content-type": "text/xml"})
        assert answer.status_code == 200, answer.text[:500]
        return answer.json()

    near = post(local_doors)
    stac.proxy.reset()
    far = post(remote_url)
    assert len(_searches(stac)) == 2  # the id before the page, then the page
    assert [f["properties"]["cloud_cover"] for f in far["features"]] == [62.04, 36.7]
    assert far["numberMatched"] == 3 and _without_time(far) == _without_time(near)


@pytest.fixture(scope="module")
def bulk_wfs(stac, tmp_path_factory):
    """A WFS on a STAC collection of 12,000 footprints (beyond the old 10,000 cap)."""
    folder = tmp_path_factory.mktemp("bulk")
    items = bulk_items(12_000)
    load_bulk(stac, folder, items)
    settings = Settings(
        data_dir=folder / "data", config_file=config_with(folder), stac_url=stac.url,
        search_cache_ttl_s=0, sample_data=False, redis_url=None, storage="local",
    )  # fmt: skip
    try:
        with live_gateway(settings, doors=("gateway.ows.wfs.door:build_door",)) as url:
            yield url, items
    finally:
        stac.delete_collection(BULK)


def test_wfs_pages_a_stac_collection_larger_than_the_old_cap(bulk_wfs, stac):
    url, items = bulk_wfs
    stac.proxy.reset()
    hits = etree.fromstring(_wfs(url, TYPENAMES=f"cdse:{BULK}", RESULTTYPE="hits").content)
    assert hits.get("numberMatched") == "12000" and len(_searches(stac)) == 1

    stac.proxy.reset()
    deep = _wfs(url, TYPENAMES=f"cdse:{BULK}", STARTINDEX="10050", COUNT="3", OUTPUTFORMAT="json")
    body = deep.json()
    assert [f["id"] for f in body["features"]] == ["bulk-10050", "bulk-10051", "bulk-10052"]
    assert (body["numberMatched"], body["numberReturned"]) == (12000, 3)
    *skips, _page = _searches(stac)  # 5 x 2,000 ids and 50 ids, then the page
    assert len(skips) == 6 and sum(h.body_bytes for h in skips) < 10_050 * 100  # ids only

    cloudy = fes("<PropertyIsGreaterThanOrEqualTo><ValueReference>cloud_cover</ValueReference>"
                 "<Literal>1</Literal></PropertyIsGreaterThanOrEqualTo>")  # fmt: skip
    kept = [i for i in items if i["properties"]["eo:cloud_cover"] >= 1]
    kept.sort(key=lambda i: (-i["properties"]["eo:cloud_cover"], i["properties"]["datetime"]))
    body = _wfs(url, TYPENAMES=f"cdse:{BULK}", FILTER=cloudy, SORTBY="cloud_cover DESC",
                STARTINDEX="20", COUNT="20", OUTPUTFORMAT="json").json()  # fmt: skip
    assert body["numberMatched"] == len(kept) == 11_880
    assert [f["id"] for f in body["features"]] == [i["id"] for i in kept[20:40]]
    assert {link["rel"] for link in body["links"]} == {"next", "previous"}


# --- CDSE's quota, kept by two gateway processes together ----------------------------------


def _quota_gateways(s3_port, stac, redis_server, folder, **quota) -> tuple[CountingProxy, list]:
    """An S3 proxy enforcing ``quota`` (Limits fields) and two gateways sharing one Redis
    that are told the same quota."""
    enforcing = CountingProxy(("127.0.0.1", s3_port), limits=Limits(**quota)).start()
    env = {
        "GATEWAY_STAC_URL": stac.url, "GATEWAY_STORAGE": "s3",
        "GATEWAY_S3_ENDPOINT": enforcing.address, "GATEWAY_S3_HTTPS": "false",
        "GATEWAY_S3_VIRTUAL_HOSTING": "false", "GATEWAY_S3_REGION": "us-east-1",
        "GATEWAY_S3_ACCESS_KEY_ID": "test", "GATEWAY_S3_SECRET_ACCESS_KEY": "test",
        "GATEWAY_REDIS_URL": redis_server.url, "GATEWAY_QUOTA_WAIT_S": "20",
        "GATEWAY_S3_MAX_CONNECTIONS": str(quota["connections"]),
        "GATEWAY_STAC_REQUESTS_PER_MINUTE": "1000",
    }  # fmt: skip
    if quota.get("requests_per_minute"):
        env["GATEWAY_S3_REQUESTS_PER_MINUTE"] = str(quota["requests_per_minute"])
    servers = []
    for name in ("one", "two"):
        (folder / name).mkdir()
        mine = {**env, "GATEWAY_DATA_DIR": str(folder / name / "data")}
        servers.append(_server(mine, folder / name))
    try:
        start_together(servers)
    except BaseException:
        enforcing.stop()
        raise
    return enforcing, servers


@pytest.mark.parametrize(
    ("quota", "first"),  # each its own requests: no answer an earlier one cached is asked again
    [
        (dict(connections=2, bytes_per_s=4_000_000), 0),
        (dict(connections=2, requests_per_minute=40), 16),
    ],
)
def test_two_gateways_keep_the_s3_quota_together(quota, first, s3, stac, redis_server, tmp_path):
    redis_server.start()
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushdb()  # no quota figures, and no map, from an earlier test
    enforcing, servers = _quota_gateways(s3.port, stac, redis_server, tmp_path, **quota)
    try:
        urls = [server.url for server in servers]
        stac.proxy.reset()
        started = time.monotonic()
        answers = fire(urls, coverages(16, first), workers=8)
        elapsed = time.monotonic() - started
        searched = len(stac.proxy.hits())
        quotas = [httpx.get(f"{url}/healthz", timeout=10).json()["quotas"] for url in urls]
        health = [state["s3"] for state in quotas]
        metrics = httpx.get(f"{urls[0]}/metrics", timeout=10).text
    finally:
        for server in servers:
            server.stop()
        enforcing.stop()

    hits = enforcing.hits()
    assert enforcing.gate.refused == 0, [h for h in hits if h.status == 503]
    assert 1 <= enforcing.gate.peak <= quota["connections"]
    good = [a for a in answers if a.status_code == 200]
    busy = [a for a in answers if a.status_code != 200]
    assert all(a.status_code == 503 for a in busy), [a.text[:300] for a in busy]
    for answer in busy:  # the clean 503: Retry-After, and WCS's exception report
        assert answer.headers["retry-after"] == "10"
        report = etree.fromstring(answer.content)
        assert etree.QName(report).localname == "ExceptionReport"
        assert "quota" in answer.text
    for answer in good:
        with rasterio.MemoryFile(answer.content) as memory, memory.open() as src:
            assert np.isfinite(src.read(1)).any()
    rpm = quota.get("requests_per_minute")
    if rpm is None:  # no budget but connections: everyone waits in line, everyone served
        assert len(good) == len(answers)
    else:
        told = ([a.status_code for a in answers], health, f"{elapsed:.1f} s", len(hits))
        assert len(hits) <= rpm and good and busy, told
        assert sum(state["refused"] for state in health) == len(busy)
        # both processes' charges trued up to what GDAL sent: the shared minute holds the
        # proxy's count (charged their estimates alone, 40 against 23 GETs: 2 of 16 served)
        assert health[0]["requests_last_minute"] == len(hits), told
    for state in health:  # the figures are the shared ones, the same in both processes
        assert state["max_connections"] == quota["connections"]
        assert state["connections"] == 0 and state["waiting"] == 0
        assert state["requests_last_minute"] == health[0]["requests_last_minute"] > 0
    assert 'gateway_quota_use{figure="requests_last_minute",service="s3"}' in metrics
    # the STAC API's requests of both processes, each charged to the shared minute
    assert quotas[0]["stac"]["requests_last_minute"] >= searched > 0
