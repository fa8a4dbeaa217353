"""Builds the engine's parts from settings and configuration (one place, no globals)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from prometheus_client.core import Metric

from gateway.byod.collections import own_collection_documents, with_own_collections
from gateway.config import GatewayConfig, load_config
from gateway.core.admission import Admission
from gateway.core.cache import KEY_PREFIX, Cache, create_cache
from gateway.core.catalog import CachedCatalog, StacApiCatalog, StaticCatalog
from gateway.core.catalog.summary import CatalogSummaries, ListingScope
from gateway.core.crs import keep_proj_offline
from gateway.core.dates import TimePolicy
from gateway.core.engine import Engine
from gateway.core.reader import RemoteCharge, SceneReader
from gateway.core.spliced import TilePartIndexes
from gateway.core.storage import Storage
from gateway.core.tally import Tally
from gateway.core.tiles.service import TileService
from gateway.core.upstream import Quota, QuotaLimits, make_quota
from gateway.memory import bound_process_memory
from gateway.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int, str], None]


@dataclass
class Runtime:
    """What a running gateway holds: settings, configuration, the engine with its parts, the
    catalog summaries every door describes its collections from, what TIME means, and the
    tile service every door that serves tiles shares."""

    settings: Settings
    config: GatewayConfig
    engine: Engine
    cache: Cache
    summaries: CatalogSummaries
    times: TimePolicy
    tiles: TileService
    # The remote services' quotas in force, by name ("s3", "stac").
    remote_quotas: dict[str, Quota] = field(default_factory=dict)
    # What this process asked of the remote services, by name ("s3": reads, "stac": requests).
    remote_tallies: dict[str, Tally] = field(default_factory=dict)
    # Figures read when ``/metrics`` is scraped, added by the doors that own them (jobs).
    gauges: list[Callable[[], Iterator[Metric]]] = field(default_factory=list)
    # The configuration as given, before the ingested collections were added to it (None:
    # none are looked for while serving: a STAC API without GATEWAY_STAC_COLLECTIONS_CHECK_S).
    given_config: GatewayConfig | None = None
    # What a door keeps across rebuilds of the doors (the in-memory job store): the same
    # dict in every runtime ``with_config`` derives.
    kept: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        self.engine.reader.close()
        self.cache.close()


def make_storage(settings: Settings) -> Storage:
    secret = settings.s3_secret_access_key
    return Storage(
        serial_ranges=settings.s3_max_connections is not None,
        mode=settings.storage_mode,
        eodata_dir=settings.eodata_dir,
        s3_endpoint=settings.s3_endpoint,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret.get_secret_value() if secret else None,
        https=settings.s3_https,
        virtual_hosting=settings.s3_virtual_hosting,
        region=settings.s3_region,
    )


def s3_quota(settings: Settings) -> Quota | None:
    """The S3 key's quota (None: unlimited, or local storage)."""
    if settings.storage_mode != "s3":
        return None
    limits = QuotaLimits(
        connections=settings.s3_max_connections,
        requests_per_minute=settings.s3_requests_per_minute,
        bytes_per_month=settings.s3_bytes_per_month,
        wait_s=settings.quota_wait_s,
    )
    return make_quota("s3", limits, settings.redis_url, KEY_PREFIX)


def stac_quota(settings: Settings) -> Quota | None:
    """The STAC API's request-rate quota (None: unlimited, or the static catalog)."""
    if not settings.stac_url:
        return None
    limits = QuotaLimits(
        requests_per_minute=settings.stac_requests_per_minute, wait_s=settings.quota_wait_s
    )
    return make_quota("stac", limits, settings.redis_url, KEY_PREFIX)


def make_catalog(
    settings: Settings, quota: Quota | None = None, tally: Tally | None = None
) -> CachedCatalog:
    """The catalog; a STAC API's requests are counted in ``tally`` and charged to ``quota``
    when they are given."""
    backend: StacApiCatalog | StaticCatalog
    if settings.stac_url:
        backend = StacApiCatalog(
            settings.stac_url,
            timeout_s=settings.stac_timeout_s,
            retries=settings.stac_retries,
            quota=quota,
            tally=tally,
            max_offset=settings.features_max_offset,
            exact_count_max=settings.stac_exact_count_max,
        )
    else:
        backend = StaticCatalog(settings.static_catalog_dir)
    return CachedCatalog(backend, ttl_s=settings.search_cache_ttl_s)


def needs_sample_data(settings: Settings) -> bool:
    """True when the embedded default is in use and its sample archive is not there yet, or
    was written by an older version (without collections served now)."""
    from gateway.sample import sample_is_current

    return (
        settings.sample_data
        and settings.uses_static_catalog
        and settings.storage_mode == "local"
        and not sample_is_current(settings.data_dir)
    )


def ensure_sample_data(settings: Settings, progress: Progress | None = None) -> bool:
    """Write the sample archive into the data folder if the embedded default needs it.

    Returns True when it was written now.
    """
    from gateway.sample import write_sample_archive

    if not needs_sample_data(settings):
        return False
    log.info("writing the sample archive into %s", settings.data_dir)
    write_sample_archive(settings.data_dir, settings.sample_profile, progress=progress)
    return True


def build_runtime(settings: Settings, config: GatewayConfig | None = None) -> Runtime:
    """Validate configuration and wire storage, catalog, reader, cache and engine."""
    keep_proj_offline()
    bound_process_memory(settings.gdal_cache_mb, settings.malloc_mmap_threshold_kb)
    given = config or load_config(settings.config_file)
    config = with_own_collections(given, own_collection_documents(settings))
    cache = create_cache(settings.redis_url, memory_max_bytes=settings.memory_cache_mb * 2**20)
    quotas = {"s3": s3_quota(settings), "stac": stac_quota(settings)}
    tallies = {"s3": Tally(), "stac": Tally()}
    catalog = make_catalog(settings, quotas["stac"], tallies["stac"])
    admission = Admission(
        slots=settings.admission_slots,
        queue=settings.admission_queue,
        wait_s=settings.admission_wait_s,
        min_work=settings.admission_min_work,
    )
    reader = SceneReader(
        make_storage(settings),
        quota=quotas["s3"],
        charge=RemoteCharge(per_read=settings.s3_requests_per_read),
        tally=tallies["s3"],
        indexes=TilePartIndexes(cache, min_tiles=settings.s3_jp2_index_min_tiles)
        if settings.s3_jp2_tile_index
        else None,
        index_later=settings.s3_jp2_index_later,
        index_workers=settings.s3_jp2_index_workers,
    )
    engine = Engine(config, catalog, reader, cache, admission=admission)
    summaries = CatalogSummaries(catalog, settings.capabilities_ttl_s, listing_scope(settings))
    times = TimePolicy(config, summaries)
    return Runtime(
        settings=settings,
        config=config,
        engine=engine,
        cache=cache,
        summaries=summaries,
        times=times,
        tiles=TileService(engine, times, redis_url=settings.redis_url),
        remote_quotas={name: quota for name, quota in quotas.items() if quota is not None},
        remote_tallies=tallies,
        given_config=given if watches_collections(settings) else None,
    )


def watches_collections(settings: Settings) -> bool:
    """Whether collections ingested while serving are looked for: always on the static
    catalog, on a STAC API when ``stac_collections_check_s`` is set."""
    return settings.uses_static_catalog or settings.stac_collections_check_s is not None


def with_config(runtime: Runtime, config: GatewayConfig) -> Runtime:
    """``runtime`` for another configuration (collections ingested since it was built): a new
    engine, TIME policy and tile service; settings, cache (and the tile service's connections
    for hits), catalog, reader, admission, catalog summaries, quotas, tallies, gauges and what
    doors keep are shared."""
    old = runtime.engine
    engine = Engine(config, old.catalog, old.reader, old.cache, admission=old.admission)
    times = TimePolicy(config, runtime.summaries)
    tiles = TileService(
        engine, times, redis_url=runtime.settings.redis_url, hits=runtime.tiles.hits
    )
    return replace(runtime, config=config, engine=engine, times=times, tiles=tiles)


def listing_scope(settings: Settings) -> ListingScope:
    """The catalog summaries' scope (``capabilities_bbox``, ``_days``, ``_scan_limit``,
    ``_first_listing_s``)."""
    return ListingScope(
        settings.capabilities_bbox,
        settings.capabilities_days,
        settings.capabilities_scan_limit,
        settings.capabilities_first_listing_s,
    )
