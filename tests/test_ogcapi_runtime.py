"""The OGC API door inside the process: providers built once, one runtime per app, and the
tile cache shared with WMTS. Gateways run in uvicorn threads (so the test sees constructions
and Redis), and are asked over HTTP.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import httpx
import morecantile
import pytest
import redis
import yaml

from gateway.config import load_config
from gateway.ogcapi.coverage import EngineCoverageProvider
from gateway.ogcapi.features import SceneFeatureProvider
from gateway.ogcapi.maps import EngineMapProvider
from gateway.ogcapi.tiles import EngineTileProvider
from tests.support.configs import portable_default_config
from tests.support.ows_live import live_gateway

OGCAPI = "gateway.ogcapi.door:build_door"
MAPPROXY = "gateway.ows.mapproxy.door:build_door"
L2A = "sentinel-2-l2a"
DAY = "2025-06-13"
BBOX = "5.94,52.58,5.99,52.62"
PROVIDERS = (SceneFeatureProvider, EngineCoverageProvider, EngineTileProvider, EngineMapProvider)


def _get(client: httpx.Client, path: str, **params) -> httpx.Response:
    answer = client.get(path, params={"f": "json", **params})
    assert answer.status_code == 200, (path, answer.text[:300])
    return answer


# -- providers are built once --------------------------------------------------------------


def _count_constructions(monkeypatch) -> Counter:
    """Count every run of the real providers' ``__init__`` (wrapped, behaviour unchanged)."""
    built: Counter = Counter()
    for cls in PROVIDERS:

        def counting(self, definition, _init=cls.__init__, _name=cls.__name__):
            built[(_name, definition["data"])] += 1
            _init(self, definition)

        monkeypatch.setattr(cls, "__init__", counting)
    return built


def _expected_providers(config_file: Path | None) -> Counter:
    config = load_config(config_file)
    expected: Counter = Counter()
    for collection in config.collections:
        expected.update({("SceneFeatureProvider", collection.id): 1})
        expected.update({("EngineCoverageProvider", collection.id): 1})
    for layer in config.layers:
        for name in ("EngineCoverageProvider", "EngineTileProvider", "EngineMapProvider"):
            if name != "EngineCoverageProvider" or layer.evalscript is None:  # a script: none
                expected.update({(name, layer.name): 1})
    return expected


def test_providers_are_built_once_when_the_app_starts(sample_settings, monkeypatch):
    built = _count_constructions(monkeypatch)
    tile = morecantile.tms.get("WebMercatorQuad").tile(5.955, 52.60, 13)
    with (
        live_gateway(sample_settings, doors=(OGCAPI,)) as url,
        httpx.Client(base_url=f"{url}/ogcapi", timeout=60) as client,
    ):
        at_start = Counter(built)
        assert at_start == _expected_providers(sample_settings.config_file)
        for _ in range(3):
            _get(client, "/collections")
            _get(client, f"/collections/{L2A}")
            _get(client, f"/collections/{L2A}/queryables")
            _get(client, f"/collections/{L2A}/items", limit=3)
            _get(client, f"/collections/{L2A}/items", filter="eo:cloud_cover < 20")
            _get(client, "/collections/NDVI/coverage", bbox=BBOX, datetime=DAY,
                 **{"scale-size": "Lon(20),Lat(20)"})  # fmt: skip
            _get(client, "/collections/NDVI/tiles")
            _get(client, "/collections/NDVI/tiles/WebMercatorQuad")
            client.get(
                f"/collections/NDVI/tiles/WebMercatorQuad/{tile.z}/{tile.y}/{tile.x}",
                params={"f": "png", "datetime": DAY},
            ).raise_for_status()
            client.get(
                "/collections/TRUE_COLOR/map",
                params={"f": "png", "bbox": BBOX, "width": 32, "height": 32, "datetime": DAY},
            ).raise_for_status()
        assert built == at_start  # no request built a provider


# -- two apps, two runtimes ----------------------------------------------------------------


def _second_gateway(sample_settings, sample_archive: Path, folder: Path):
    """Settings of another gateway: a catalog of the T32ULD scenes only, smaller limits."""
    stac = folder / "data" / "stac"
    shutil.copytree(sample_archive / "stac", stac)
    items = stac / "collections" / L2A / "items.ndjson"
    lines = [line for line in items.read_text().splitlines() if "MGRS-32ULD" in line]
    items.write_text("\n".join(lines) + "\n")
    (folder / "data" / "eodata").symlink_to(sample_archive / "eodata")
    raw = portable_default_config()
    raw["limits"].update({"max_width": 64, "max_height": 64, "max_pixels": 64 * 64})
    (folder / "gateway.yaml").write_text(yaml.safe_dump(raw))
    return sample_settings.model_copy(
        update={"data_dir": folder / "data", "config_file": folder / "gateway.yaml"}
    ), len(lines)


def test_two_apps_in_one_process_answer_from_their_own_runtime(
    sample_settings, sample_archive, tmp_path
):
    other, other_scenes = _second_gateway(sample_settings, sample_archive, tmp_path)
    all_scenes = len((sample_archive / "stac/collections" / L2A / "items.ndjson").read_text()
                     .strip().splitlines())  # fmt: skip
    assert 0 < other_scenes < all_scenes
    coverage = {"bbox": BBOX, "datetime": DAY, "scale-size": "Lon(100),Lat(100)", "f": "GTiff"}
    with (
        live_gateway(sample_settings, doors=(OGCAPI,)) as first,
        live_gateway(other, doors=(OGCAPI,)) as second,
        httpx.Client(timeout=60) as client,
    ):
        for _ in range(2):  # interleaved: neither app takes the other's runtime over
            for url, scenes, grids in (
                (first, all_scenes, {"MGRS-31UFU", "MGRS-32ULD"}),
                (second, other_scenes, {"MGRS-32ULD"}),
            ):
                page = _get(client, f"{url}/ogcapi/collections/{L2A}/items", limit=100).json()
                assert page["numberMatched"] == scenes
                assert {f["properties"]["grid:code"] for f in page["features"]} == grids
            big = client.get(f"{first}/ogcapi/collections/NDVI/coverage", params=coverage)
            assert big.status_code == 200, big.text[:300]
            limited = client.get(f"{second}/ogcapi/collections/NDVI/coverage", params=coverage)
            assert limited.status_code == 400, limited.text[:300]
            assert "64" in limited.json()["description"]


# -- one tile cache with WMTS --------------------------------------------------------------


@pytest.fixture
def shared_cache(sample_settings, redis_server):
    settings = sample_settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{redis_server.port}/7"}
    )
    db = redis.Redis(port=redis_server.port, db=7)
    db.flushdb()
    with live_gateway(settings, doors=(OGCAPI, MAPPROXY)) as url:
        yield url, db
    db.flushdb()


def _ogcapi_tile(url: str, scheme: str, tile) -> httpx.Response:
    return httpx.get(
        f"{url}/ogcapi/collections/NDVI/tiles/{scheme}/{tile.z}/{tile.y}/{tile.x}",
        params={"f": "png", "datetime": DAY},
        timeout=60,
    )


def _wmts_tile(url: str, scheme: str, tile) -> httpx.Response:
    return httpx.get(
        f"{url}/wmts/1.0.0/NDVI/{scheme}/{DAY}/{tile.z}/{tile.x}/{tile.y}.png", timeout=60
    )


@pytest.mark.parametrize("scheme", ["WebMercatorQuad", "WorldCRS84Quad"])
@pytest.mark.parametrize(
    "ogcapi_first", [True, False], ids=["ogcapi-then-wmts", "wmts-then-ogcapi"]
)
def test_ogcapi_tiles_and_wmts_share_the_tile_cache(shared_cache, scheme, ogcapi_first):
    url, db = shared_cache
    # z15 over T31UFU: a level where tile bounds computed by morecantile and by MapProxy's
    # grid differ in the 9th decimal (they once gave different keys).
    tile = morecantile.tms.get(scheme).tile(5.9551, 52.6007, 15)
    fetchers = (_ogcapi_tile, _wmts_tile) if ogcapi_first else (_wmts_tile, _ogcapi_tile)
    first = fetchers[0](url, scheme, tile)
    assert first.status_code == 200, first.text[:300]
    assert first.headers["content-type"] == "image/png"
    keys, misses = db.dbsize(), db.info("stats")["keyspace_misses"]
    assert keys > 0
    second = fetchers[1](url, scheme, tile)
    assert second.status_code == 200, second.text[:300]
    assert second.content == first.content
    assert db.dbsize() == keys  # nothing new was cached: the second door hit the same key
    assert db.info("stats")["keyspace_misses"] == misses
