"""The runs of ``bench/bench_catalog.py``: each block times one kind of request and adds its
rows (measured vs target) to the results table."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from shapely.geometry import box, shape
from shapely.ops import unary_union

if TYPE_CHECKING:
    from gateway.core.catalog.stac_api import StacApiCatalog

from bench.bench_tiles import Server
from bench.catalog_measure import (
    L2A,
    PLACES,
    SAMPLE_AREA,
    SAMPLE_DAYS,
    TMS,
    Results,
    RssSampler,
    get,
    newest_period,
    percentile,
    tile_bounds,
    timings,
    view_tiles,
)

CAPABILITIES = {
    "WMS": ("/wms", {"SERVICE": "WMS", "REQUEST": "GetCapabilities", "VERSION": "1.3.0"}),
    "WMTS": ("/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"}),
    "WCS": ("/wcs", {"SERVICE": "WCS", "REQUEST": "GetCapabilities", "VERSION": "2.0.1"}),
    "WFS": ("/wfs", {"SERVICE": "WFS", "REQUEST": "GetCapabilities", "VERSION": "2.0.0"}),
    "OGC API collections": ("/ogcapi/collections", {"f": "json"}),
}
ZOOMS = (8, 10, 12)
ZOOMED_IN = 14  # tiles many to a search cache cell
NDVI_BANDS = ("B04", "B08", "SCL")  # what an NDVI tile reads (SCL: its cloud mask)
FULL_SIZE_ZOOMS = (12, 13)  # a full-size view reads the day's scenes (zoomed out: the mosaics)
WHOLE_ITEMS = 10  # tiles also searched for whole items, as the gateway did before
DEEP = 500_000
LISTED = 5_000  # scenes a bounded listing reads (~a week of Europe)
BOUND = 20_000  # features_max_offset's default
StartGateway = Callable[[Path, str, dict[str, str]], tuple[Server, float]]


def catalog_searches(stac_url: str, newest: datetime, views: int, results: Results) -> float:
    """Catalog time of the searches uncached tiles make over Europe (5 x 4 tile views at
    several zooms), straight through the STAC API client and through the search cache; and
    whether the cache answers what the API does. Returns the p95 seconds through the cache."""
    from gateway.core.catalog.cached import CachedCatalog
    from gateway.core.catalog.models import SearchQuery, TimeRange
    from gateway.core.catalog.stac_api import StacApiCatalog

    start, end = newest_period(newest)
    queries = [
        SearchQuery(
            L2A, tile_bounds(tile), TimeRange(start, end), None, "mostRecent", 40, NDVI_BANDS
        )
        for place in list(PLACES.values())[:views]
        for zoom in ZOOMS
        for tile in view_tiles(*place, zoom)
    ]
    backend = StacApiCatalog(stac_url, timeout_s=120)
    backend.search(queries[0])  # the client's connection and the API's landing page
    whole = []
    for query in queries[:WHOLE_ITEMS]:
        started = time.perf_counter()
        backend.search(replace(query, bands=()))
        whole.append(time.perf_counter() - started)
    results.add("catalog per uncached tile, whole items (as before)", timings(whole))
    direct, answers = [], []
    for query in queries:
        started = time.perf_counter()
        answers.append([scene.id for scene in backend.search(query)])
        direct.append(time.perf_counter() - started)
    cached_catalog = CachedCatalog(backend, ttl_s=600)
    cached, differ = [], 0
    for query, expected in zip(queries, answers, strict=True):
        started = time.perf_counter()
        found = [scene.id for scene in cached_catalog.search(query)]
        cached.append(time.perf_counter() - started)
        differ += found != expected
    scenes = [len(a) for a in answers]
    results.add(
        "catalog per uncached tile, no search cache",
        f"{timings(direct)}; {min(scenes)}–{max(scenes)} scenes per tile",
    )
    results.add(
        "catalog per uncached tile, search cache",
        f"{timings(cached)}; {cached_catalog.backend_searches} searches for {len(queries)} tiles",
    )
    results.add(
        "tiles whose cached search differs from the API's",
        f"{differ} of {len(queries)}",
        "0",
        differ == 0,
    )
    p95 = streamed_searches(backend, queries, answers, results)
    zoomed_in = [
        replace(queries[0], bbox=tile_bounds(tile))
        for place in list(PLACES.values())[:views]
        for tile in view_tiles(*place, ZOOMED_IN)
    ]
    zoomed_in_searches(backend, zoomed_in, results)
    return p95


def streamed_searches(
    backend: StacApiCatalog, queries: list, answers: list[list[str]], results: Results
) -> float:
    """The same tiles' searches as a render now makes them (``stream``: a first page of at
    most ``limits.first_scenes``, more pages only while pixels are left unfilled), through the
    search cache. The generated scenes have no pixels, so when a tile is filled is told by
    footprints: once the pages taken cover it (clouds make tiles take more on real data).
    Returns the p95 seconds of that mix."""
    from gateway.config import Limits
    from gateway.core.catalog.cached import CachedCatalog

    first = Limits().first_scenes
    cached_catalog = CachedCatalog(backend, ttl_s=600)
    first_only, whole, mix, uncovered, differ, mix_asked = [], [], [], 0, 0, 0
    with _counting(backend) as asked:
        for query, expected in zip(queries, answers, strict=True):
            before, started = asked[0], time.perf_counter()
            pages = cached_catalog.stream(query, first)
            taken = list(next(pages, []))
            first_only.append(time.perf_counter() - started)
            covered = _covered(taken, query.bbox)
            filled = (first_only[-1], asked[0] - before) if covered else None
            uncovered += not covered
            for page in pages:
                taken += page
                if filled is None and _covered(taken, query.bbox):
                    filled = (time.perf_counter() - started, asked[0] - before)
            whole.append(time.perf_counter() - started)
            seconds, searches = filled or (whole[-1], asked[0] - before)
            mix.append(seconds)
            mix_asked += searches
            differ += [s.id for s in taken] != expected
        every = asked[0]
    results.add(
        f"catalog per uncached tile, streamed: the first page (at most {first} scenes)",
        timings(first_only),
    )
    results.add("  every scene (every page)", f"{timings(whole)}; {every} searches")
    results.add(
        "  tiles whose first page's footprints leave part of the tile uncovered",
        f"{uncovered} of {len(queries)}",
    )
    results.add(
        "  the mix (pages until the footprints cover the tile)",
        f"{timings(mix)}; {mix_asked} searches for {len(queries)} tiles",
    )
    results.add(
        "tiles whose streamed scenes differ from the API's search",
        f"{differ} of {len(queries)}",
        "0",
        differ == 0,
    )
    first_page_sizes(backend, queries, results)
    return percentile(mix, 0.95)


def zoomed_in_searches(backend: StacApiCatalog, queries: list, results: Results) -> None:
    """Tiles zoomed in further (``ZOOMED_IN``) streamed through the search cache, where a cell's
    first page serves many tiles: their catalog time and the searches sent, against each
    tile's own first page straight from the API."""
    from gateway.config import Limits
    from gateway.core.catalog.cached import CachedCatalog

    first = Limits().first_scenes
    cached_catalog = CachedCatalog(backend, ttl_s=600)
    for name, catalog in (("no search cache", backend), ("search cache", cached_catalog)):
        took, filled = [], 0
        with _counting(backend) as asked:
            for query in queries:
                started, taken = time.perf_counter(), []
                for page in catalog.stream(query, first):
                    taken += page
                    if _covered(taken, query.bbox):
                        break
                took.append(time.perf_counter() - started)
                filled += _covered(taken, query.bbox)
        results.add(
            f"catalog per uncached tile at z{ZOOMED_IN}, streamed, {name}",
            f"{timings(took)}; {asked[0]} searches for {len(queries)} tiles ({filled} covered)",
        )


@contextmanager
def _counting(backend: StacApiCatalog) -> Iterator[list[int]]:
    """Count the HTTP requests ``backend`` sends (its searches: pages, cells, tiles)."""
    io = backend._io  # opened by an earlier search
    assert io is not None
    request, asked = io.request, [0]

    def counted(*args: Any, **kwargs: Any) -> str:
        asked[0] += 1
        return request(*args, **kwargs)

    io.request = counted  # type: ignore[method-assign]
    try:
        yield asked
    finally:
        del io.request  # type: ignore[method-assign]


def _covered(scenes: list, bbox: tuple[float, float, float, float]) -> bool:
    """Whether the scenes' footprints cover the box."""
    return bool(scenes) and unary_union([shape(s.geometry) for s in scenes]).covers(box(*bbox))


def first_page_sizes(backend: StacApiCatalog, queries: list, results: Results) -> None:
    """A tile's first page straight from the API (no search cache) at several sizes: its
    time, and how many tiles its footprints cover (what ``limits.first_scenes`` trades)."""
    for first in (1, 2, 4, 8, 16, 40):
        took, covered = [], 0
        for query in queries:
            started = time.perf_counter()
            head = next(backend.stream(query, first), [])
            took.append(time.perf_counter() - started)
            covered += _covered(head, query.bbox)
        results.add(
            f"  first page of {first}, no search cache",
            f"{timings(took)}; its footprints cover {covered} of {len(queries)} tiles",
        )


def capabilities(
    client: httpx.Client, base: str, startup_s: float, rss: RssSampler, results: Results
) -> None:
    """Each door's capabilities: the first answer after start-up (cold), then five (warm)."""
    for name, (path, params) in CAPABILITIES.items():
        first = get(client, base + path, **params)
        cold = first.seconds + (startup_s if name == "WMS" else 0.0)
        warm = [get(client, base + path, **params).seconds for _ in range(5)]
        results.add(
            f"{name} capabilities cold" + (" (start-up + first answer)" if name == "WMS" else ""),
            f"{cold:.2f} s ({len(first.body) // 1024} KiB, HTTP {first.status})",
            "≤ 10 s",
            cold <= 10 and first.status == 200,
        )
        results.add(f"{name} capabilities warm", f"max {max(warm):.3f} s", "≤ 1 s", max(warm) <= 1)
    results.add("gateway RSS after capabilities", f"{rss.now_mb():.0f} MB")


def date_listing(stac_url: str, results: Results) -> None:
    """The catalog summary the capabilities' dates come from, with its default scope."""
    from gateway.core.catalog.stac_api import StacApiCatalog
    from gateway.core.catalog.summary import ListingScope, summarise

    backend = StacApiCatalog(stac_url, timeout_s=120)
    for name, scope, budget in (
        ("first listing (start-up budget 5 s)", ListingScope(), 5.0),
        (f"listing cut at {LISTED:,} scenes (scan limit)", ListingScope(scan_limit=LISTED), None),
    ):
        started = time.perf_counter()
        summary = summarise(backend, L2A, scope, budget_s=budget)
        took = time.perf_counter() - started
        since = summary.authoritative_since
        results.add(
            f"date listing, {name}",
            f"{took:.1f} s; {len(summary.dates)} days, partial={not summary.complete},"
            f" every acquisition listed from {since.date() if since else '-'}",
            "says when partial",
            not summary.complete and since is not None,
        )


def deep_paging(
    client: httpx.Client, base: str, rss: RssSampler, results: Results, baseline_mb: float
) -> None:
    """WFS STARTINDEX and OGC API offset half a million scenes in."""
    wfs = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
           "TYPENAMES": f"cdse:{L2A}", "COUNT": "10", "STARTINDEX": str(DEEP),
           "OUTPUTFORMAT": "application/json"}  # fmt: skip
    ogc = {"offset": str(DEEP), "limit": "10", "f": "json"}
    for name, path, params in (
        (f"WFS GetFeature STARTINDEX={DEEP}", "/wfs", wfs),
        (f"OGC API items offset={DEEP}", f"/ogcapi/collections/{L2A}/items", ogc),
        (f"WFS GetFeature STARTINDEX={BOUND} (the bound)", "/wfs",
         {**wfs, "STARTINDEX": str(BOUND)}),
    ):  # fmt: skip
        started = time.monotonic()
        answer = get(client, base + path, **params)
        peak = rss.peak_between(started, time.monotonic())
        said = answer.status == 400 and b"at most" in answer.body
        whole = answer.status == 200 and "10 features" in _features(answer.body)
        results.add(
            name,
            f"{answer.seconds:.1f} s, HTTP {answer.status}, {_features(answer.body)};"
            f" RSS peak {peak:.0f} MB",
            "exact, or refused saying why; RSS flat",
            (said or whole) and peak < baseline_mb * 1.2 + 50,
        )


def _features(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return body[:200].decode("utf-8", "replace")
    matched = doc.get("numberMatched")
    return f"{len(doc.get('features') or [])} features of {matched} matched"


def time_slice(
    client: httpx.Client,
    base: str,
    newest: datetime,
    rss: RssSampler,
    results: Results,
    baseline_mb: float,
) -> None:
    """Every scene of the newest day through OGC API Features, page after page."""
    day = newest.date().isoformat()
    url = f"{base}/ogcapi/collections/{L2A}/items"
    params = {"datetime": f"{day}T00:00:00Z/{day}T23:59:59Z", "limit": "1000", "f": "json"}
    started, pages, features = time.monotonic(), 0, 0
    matched = None
    answer = client.get(url, params=params)
    while True:
        pages += 1
        doc = answer.json()
        matched = doc.get("numberMatched", matched)
        features += len(doc.get("features") or [])
        following = [link["href"] for link in doc.get("links", []) if link.get("rel") == "next"]
        if answer.status_code != 200 or not following:
            break
        answer = client.get(following[0])
    took = time.monotonic() - started
    peak = rss.peak_between(started, time.monotonic())
    results.add(
        f"time slice {day}: every scene, OGC API items pages of 1000",
        f"{features} of {matched} in {pages} pages, {took:.1f} s; RSS peak {peak:.0f} MB",
        "all, said how many; RSS flat",
        features == matched and peak < baseline_mb * 1.2 + 50,
    )


def sample_tiles(data: Path, stac_url: str, results: Results) -> tuple[float, float]:
    """Uncached NDVI tiles where the sample's real scenes are (read and rendered by the
    engine, in this process, on the million-scene catalog): p95 of their time and of their
    catalog phase (``gateway.core.phases``)."""
    from gateway.core.phases import timing
    from gateway.core.request import build_request
    from gateway.runtime import build_runtime
    from gateway.settings import Settings

    settings = Settings(data_dir=data, stac_url=stac_url, sample_data=False, storage="local",
                        redis_url=None, stac_timeout_s=120)  # fmt: skip
    runtime = build_runtime(settings)
    totals, catalog = [], []
    try:
        for day in SAMPLE_DAYS:
            for zoom in (12, 13):
                for tile in TMS.tiles(*SAMPLE_AREA, [zoom]):
                    b = TMS.xy_bounds(tile)
                    request = build_request(
                        runtime.config, bbox=(b.left, b.bottom, b.right, b.top),
                        crs="EPSG:3857", width=256, height=256, layer="NDVI", time=day,
                    )  # fmt: skip
                    with timing() as phases:
                        started = time.perf_counter()
                        runtime.engine.render(request)
                        totals.append(time.perf_counter() - started)
                    catalog.append(phases.seconds().get("catalog", 0.0))
    finally:
        runtime.close()
    results.add("uncached NDVI tile with real scenes (sample area)", timings(totals))
    results.add("  its catalog phase", timings(catalog))
    return percentile(totals, 0.95), percentile(catalog, 0.95)


def full_size_tiles(full: Path, results: Results) -> list[tuple[str, float]]:
    """Uncached NDVI tiles of full-size products (an archive of ``cdse-gateway sample-data
    --profile full``): bench_bandwidth's first views (5 x 4 tiles, its centre and day) at the
    zooms that read the day's scenes, cold, two tiles at a time, from the folder (its files in
    the page cache) and from the S3 stand-in through the proxy enforcing CDSE's per-key limits;
    no COG copies, the archive's own catalog. The p95 of their times, by source."""
    import tempfile

    from bench.bench_bandwidth import (
        DAY,
        cdse_limits,
        direct_reads,
        needed,
        render_tiles,
        settings_for,
        view_requests,
    )
    from gateway.runtime import Runtime, build_runtime
    from gateway.settings import Settings
    from tests.support.s3_server import start_s3

    def tile_seconds(runtime: Runtime, scratch: Path) -> list[float]:
        engine, took = direct_reads(runtime, scratch), []
        for zoom in FULL_SIZE_ZOOMS:
            requests = view_requests(runtime.config, "NDVI", zoom, None, DAY)
            assert requests is not None, "no PREVIEW asked: a view is always read"
            _, tiles, errors = render_tiles(engine, requests)
            if errors:
                raise SystemExit(f"full-size tiles at z{zoom} failed: {errors}")
            took += tiles
        return took

    found = []
    with tempfile.TemporaryDirectory() as tmp:
        local = Settings(data_dir=full, stac_url=None, sample_data=False, storage="local",
                         redis_url=None)  # fmt: skip
        runtime = build_runtime(local)
        try:
            took = tile_seconds(runtime, Path(tmp))
        finally:
            runtime.close()
        results.add("uncached NDVI tile, full-size products, local files", timings(took))
        found.append(("full-size, local files", percentile(took, 0.95)))
        s3 = start_s3(
            full / "eodata", Path(tmp) / "moto", limits=cdse_limits(), include=needed(DAY)
        )
        try:
            runtime = build_runtime(settings_for(full, s3, 1.0))
            try:
                took = tile_seconds(runtime, Path(tmp))
            finally:
                runtime.close()
        finally:
            s3.stop()
        results.add("uncached NDVI tile, full-size products, S3 at CDSE's limits", timings(took))
        found.append(("full-size, S3 at CDSE's limits", percentile(took, 0.95)))
    return found


def measure(
    data: Path,
    stac_url: str,
    start_gateway: StartGateway,
    newest: datetime,
    views: int,
    items: int,
    searches_only: bool = False,
    full: Path | None = None,
) -> Results:
    """Every block (``searches_only``: the tiles' searches and the sample tiles), then the
    table. ``full``: a full-size archive whose uncached tiles are measured too, the catalog's
    p95 over Europe set against theirs."""
    results = Results()
    results.add("items in the catalog", f"{items:,}", "≥ 1,000,000", items >= 1_000_000)
    said = json.loads(httpx.get(f"{stac_url}/search", params={"limit": 1}, timeout=600).text)
    results.add("  numberMatched the STAC API says for them all", f"{said.get('numberMatched')}")
    catalog_p95 = catalog_searches(stac_url, newest, views, results)
    tile_p95, tile_catalog_p95 = sample_tiles(data, stac_url, results)
    europe = "Europe, streamed, search cache"
    measured = [(europe, catalog_p95, "sample tile", tile_p95)]
    measured.append(("sample area", tile_catalog_p95, "sample tile", tile_p95))
    if full is not None:
        measured += [
            (europe, catalog_p95, name, p95) for name, p95 in full_size_tiles(full, results)
        ]
    for name, seconds, tile, tile_seconds in measured:
        ratio = seconds / tile_seconds
        results.add(
            f"catalog p95 ({name}) / uncached tile p95 ({tile})",
            f"{100 * ratio:.1f} %",
            "≤ 10 %",
            ratio <= 0.10,
        )
    if searches_only:
        print()
        print(results.table())
        return results
    date_listing(stac_url, results)
    gateway, startup_s = start_gateway(data, stac_url, {})
    rss = RssSampler(gateway.process.pid).start()
    try:
        with httpx.Client(timeout=1800) as client:
            capabilities(client, gateway.url, startup_s, rss, results)
            baseline = rss.now_mb()
            deep_paging(client, gateway.url, rss, results, baseline)
            time_slice(client, gateway.url, newest, rss, results, baseline)
            results.add(
                "gateway RSS: after start-up / peak / end",
                f"{baseline:.0f} / {max(mb for _, mb in rss.samples):.0f} / {rss.now_mb():.0f} MB",
            )
    finally:
        rss.stop()
        gateway.stop()
    print()
    print(results.table())
    return results
