"""Process settings from the environment (prefix ``GATEWAY_``), read only when asked."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CDSE_STAC_URL = "https://stac.dataspace.copernicus.eu/v1"
CDSE_S3_ENDPOINT = "eodata.dataspace.copernicus.eu"


def default_data_dir() -> Path:
    """Per-user data folder: ``$XDG_DATA_HOME/cdse-gateway`` or ``~/.local/share/cdse-gateway``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "cdse-gateway"


class Settings(BaseSettings):
    """Everything that varies between deployments.

    Storage credentials use the variable names CDSE documents for GDAL
    (``AWS_S3_ENDPOINT``, ``AWS_ACCESS_KEY_ID``...), so one environment serves GDAL
    tools and the gateway alike.
    """

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default_factory=default_data_dir)
    config_file: Path | None = None
    # Log lines as text or as one JSON object each (gateway.logs).
    log_format: Literal["text", "json"] = "text"
    # A request taking this long (seconds) is logged with where its time went (0: never).
    slow_request_s: float = Field(default=5.0, ge=0)
    # On SIGTERM the server stops accepting and gives the requests in flight this long to end.
    shutdown_timeout_s: int = Field(default=30, ge=1)
    # The public URL of the gateway (scheme, host, root path) for OGC API links; unset: each
    # answer links to the address its request used.
    public_url: str | None = None
    # Reverse proxies whose Forwarded / X-Forwarded-* headers are believed (uvicorn's
    # --forwarded-allow-ips syntax: comma-separated addresses or networks, "*" for any).
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        validation_alias=AliasChoices("GATEWAY_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"),
    )

    # Catalog: a STAC API URL switches from the static catalog in data_dir/stac.
    stac_url: str | None = None
    stac_timeout_s: float = 10.0
    stac_retries: int = 3
    search_cache_ttl_s: float = 60.0

    # WFS: the most features one GetFeature returns (CountDefault), and how many scenes past
    # the page are read to count numberMatched when part of a FILTER is evaluated in the
    # gateway (beyond: numberMatched="unknown").
    wfs_count_default: int = Field(default=10_000, ge=1)
    wfs_scan_limit: int = Field(default=10_000, ge=0)
    # WFS STARTINDEX and OGC API Features offset on a STAC API: at most this deep (a STAC API
    # pages by token, so reaching an offset reads every id before it; pgstac: ~1 ms each).
    features_max_offset: int = Field(default=20_000, ge=0)
    # A STAC API's numberMatched above this is an estimate (pgstac estimates beyond its
    # context_estimated_count, 100,000 by default): WFS says numberMatched="unknown" and OGC API
    # Features leaves it out, unless the last page is read.
    stac_exact_count_max: int | None = Field(default=100_000, ge=0)
    # Collections ingested into the static catalog while serving: looked for (a stat of each
    # collection.json) at most this often, on a request; when they changed, the doors are
    # built again and swapped in.
    collections_check_s: float = Field(default=5.0, gt=0)
    # On a STAC API: its collections (GET /collections, every page) looked at this often, for
    # those ingested since the start (unset: not looked for; they appear at the next start).
    stac_collections_check_s: float | None = Field(default=None, gt=0)
    # WMS/WMTS capabilities: the TIME dimension's dates are listed again after this long.
    capabilities_ttl_s: float = 300.0
    # The scenes that listing reads: those touching this lon/lat box ("west,south,east,north")
    # acquired in the last N days, newest first, at most this many (unset: everywhere, all
    # time). A deployment on a global catalog such as CDSE's names its area and period.
    capabilities_bbox: Annotated[tuple[float, float, float, float] | None, NoDecode] = None
    capabilities_days: int | None = Field(default=None, ge=1)
    capabilities_scan_limit: int = Field(default=100_000, ge=1)
    # Start-up and the first capabilities wait at most this long for the first listing (then
    # partial, and said so); the whole listing then runs in the background. Empty: no limit.
    capabilities_first_listing_s: float | None = Field(default=5.0, gt=0)

    # Storage: "auto" reads from S3 when an endpoint is configured, else local files.
    storage: Literal["auto", "local", "s3"] = "auto"
    s3_endpoint: str | None = Field(
        default=None, validation_alias=AliasChoices("GATEWAY_S3_ENDPOINT", "AWS_S3_ENDPOINT")
    )
    s3_access_key_id: str | None = Field(
        default=None,
        validation_alias=AliasChoices("GATEWAY_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
        repr=False,  # keys never reach logs
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("GATEWAY_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
    )
    s3_https: bool = Field(
        default=True, validation_alias=AliasChoices("GATEWAY_S3_HTTPS", "AWS_HTTPS")
    )
    s3_virtual_hosting: bool = Field(
        default=False,
        validation_alias=AliasChoices("GATEWAY_S3_VIRTUAL_HOSTING", "AWS_VIRTUAL_HOSTING"),
    )
    s3_region: str = Field(
        default="default", validation_alias=AliasChoices("GATEWAY_S3_REGION", "AWS_REGION")
    )

    # The S3 key's quota (CDSE eodata: 4 connections, 2000 requests per minute, 12 TB per 30
    # days), kept by all processes sharing GATEWAY_REDIS_URL together (without Redis: per
    # process). Unset: no limit. A request's reads wait in line up to quota_wait_s in all,
    # then it answers 503.
    # s3_requests_per_read: the requests one window read is charged (measured: 1-3, plus one
    # to open the file).
    s3_max_connections: int | None = Field(default=None, ge=1)
    s3_requests_per_minute: int | None = Field(default=None, ge=1)
    s3_bytes_per_month: int | None = Field(default=None, ge=1)
    s3_requests_per_read: int = Field(default=3, ge=1)
    # Remote JPEG 2000 files without a TLM marker are indexed once (their tile-part headers,
    # kept in the cache) and opened with the index (docs/performance.md): off, OpenJPEG walks
    # the headers in every process.
    s3_jp2_tile_index: bool = True
    # Only files of at least this many tiles of 1024 px are indexed (fewer: few headers).
    s3_jp2_index_min_tiles: int = Field(default=16, ge=1)
    # A file no process indexed yet is opened as it is and indexed in the background (its
    # reads between the requests' remote reads); false: indexed by the request that meets it,
    # before it is read.
    s3_jp2_index_later: bool = True
    # Files indexed at once in the background per process (a connection each while no
    # request waits for one; CDSE allows a key 4).
    s3_jp2_index_workers: int = Field(default=2, ge=1, le=4)
    # The STAC API's request-rate limit (requests per minute), shared the same way.
    stac_requests_per_minute: int | None = Field(default=None, ge=1)
    quota_wait_s: float = Field(default=20.0, ge=0)

    # Cache: Redis when a URL is given, in-process LRU otherwise.
    redis_url: str | None = None
    memory_cache_mb: int = 256
    # GDAL's block cache per process (unless GDAL_CACHEMAX is set), and glibc's fixed mmap
    # threshold (0: glibc's dynamic one): gateway.memory.
    gdal_cache_mb: int = Field(default=256, ge=8)
    malloc_mmap_threshold_kb: int = Field(default=128, ge=0, le=32768)
    # A serving worker's threads other than its event loop's at this nice value (0: as
    # started), and the interpreter's switch interval in ms (0: Python's own, 5 ms): the
    # loop answers cached tiles (gateway.priority).
    thread_nice: int = Field(default=10, ge=0, le=19)
    switch_interval_ms: float = Field(default=0.0, ge=0.0, le=100.0)
    # Connections to Redis a serving worker's event loop opens when it starts, for cache
    # hits (more are opened when more hits are read at once; 0: none beforehand).
    hit_connections: int = Field(default=32, ge=0, le=1024)

    # OGC API Processes: a Dask scheduler address (None: a local cluster of 2 workers) and
    # the folder exports are written to (None: <data_dir>/outputs).
    dask_scheduler: str | None = None
    output_dir: Path | None = None
    # Exports to S3 instead: "s3://bucket/prefix", with its own endpoint and keys (each
    # unset one falls back to the eodata S3 setting above).
    output_s3_url: str | None = None
    output_s3_endpoint: str | None = None
    output_s3_access_key_id: str | None = Field(default=None, repr=False)
    output_s3_secret_access_key: SecretStr | None = None
    output_s3_https: bool | None = None
    output_s3_region: str | None = None
    # Jobs (sync and async executions) in flight at once, over every process and per process,
    # counted in the job store (so across replicas with Redis); beyond: 429. A job still in
    # flight after job_timeout_s (its worker died) no longer holds its place.
    jobs_max_running: int = Field(default=8, ge=1)
    jobs_max_running_per_process: int = Field(default=4, ge=1)
    job_timeout_s: float = Field(default=3600.0, gt=0)
    # A job result larger than this is written to the output storage, not into the job store.
    job_result_inline_bytes: int = Field(default=1_048_576, ge=0)
    # Jobs and their results, and exports, are removed after these many days, by a cleanup
    # that runs every cleanup_interval_s in each web process.
    job_retention_days: float = Field(default=7.0, gt=0)
    export_retention_days: float = Field(default=7.0, gt=0)
    cleanup_interval_s: float = Field(default=3600.0, gt=0)

    # HTTP edge (gateway/edge/), the same for every door. CORS: origins that may read
    # (GET, HEAD, POST; "*": any) and origins that may also DELETE (OGC API jobs; none by
    # default), comma-separated; how long a browser may keep a preflight answer.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ("*",)
    cors_delete_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # ``cdse-gateway ingest`` reads files inside these folders only, comma-separated (empty:
    # the current working folder).
    ingest_dirs: Annotated[tuple[Path, ...], NoDecode] = ()
    cors_max_age_s: int = Field(default=600, ge=0)
    # Request bodies: the most bytes read of one (JSON bodies: CQL2-JSON, process inputs;
    # every other: KVP forms, XML); more is answered 413 before anything parses it.
    max_body_bytes: int = Field(default=1 << 20, ge=0)
    max_json_body_bytes: int = Field(default=4 << 20, ge=0)
    # Tiles: how long browsers and CDNs may keep one (Cache-Control max-age; the tile cache
    # keeps one for an hour, engine.DEFAULT_TTL_MS).
    tile_max_age_s: int = Field(default=3600, ge=0)
    # Admission of large renders (work of at least admission_min_work: pixels x bands x
    # scenes): this many at once per process, this many more waiting up to admission_wait_s,
    # beyond that 503 with Retry-After: retry_after_s.
    admission_slots: int = Field(default=2, ge=1)
    admission_queue: int = Field(default=4, ge=0)
    admission_wait_s: float = Field(default=30.0, ge=0)
    admission_min_work: int = Field(default=1 << 24, ge=0)
    retry_after_s: int = Field(default=10, ge=1)

    # Quotas per caller (gateway/quotas/, docs/quotas.md), off by default: requests per minute
    # and processing units per UTC day and month (unset: no limit), counted in Redis when
    # redis_url is set (shared by every worker and replica), else per process. Authenticated
    # callers get the first three, anonymous ones the anonymous_* (all anonymous callers
    # share one budget, or one each per client address with quotas_anonymous_by_address);
    # quotas_file gives callers their own (YAML or JSON). An answer from the cache costs
    # quotas_cached_fraction of its rendered units.
    quotas: bool = False
    quotas_requests_per_minute: int | None = Field(default=300, ge=0)
    quotas_units_per_day: float | None = Field(default=None, ge=0)
    quotas_units_per_month: float | None = Field(default=10_000.0, ge=0)
    quotas_anonymous_requests_per_minute: int | None = Field(default=120, ge=0)
    quotas_anonymous_units_per_day: float | None = Field(default=100.0, ge=0)
    quotas_anonymous_units_per_month: float | None = Field(default=1_000.0, ge=0)
    quotas_anonymous_by_address: bool = False
    quotas_cached_fraction: float = Field(default=0.1, ge=0, le=1)
    quotas_file: Path | None = None
    # Access control (gateway/access/, docs/access.md): off, every request may use everything.
    # On: API keys (kept in key_file, or in Redis at redis_url with access_key_store redis),
    # OpenID Connect bearer tokens (RS256 JWTs checked against the issuer's JWKS) and HTTP
    # Basic users; access_file (YAML) says what tokens, users and callers without credentials
    # may use.
    access: Literal["off", "on"] = "off"
    access_file: Path | None = None
    access_key_store: Literal["file", "redis"] = "file"
    access_key_file: Path | None = None  # None: <data_dir>/access-keys.json
    oidc_jwks_url: str | None = None
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    oidc_jwks_ttl_s: float = Field(default=3600.0, gt=0)

    # Embedded default: make the sample archive on first start when it is missing.
    sample_data: bool = True
    sample_profile: Literal["small", "full"] = "small"

    @field_validator(
        "quotas_requests_per_minute",
        "quotas_units_per_day",
        "quotas_units_per_month",
        "quotas_anonymous_requests_per_minute",
        "quotas_anonymous_units_per_day",
        "quotas_anonymous_units_per_month",
        "capabilities_first_listing_s",
        mode="before",
    )
    @classmethod
    def _no_limit(cls, value: object) -> object:
        """An empty value (``GATEWAY_QUOTAS_UNITS_PER_DAY=``) or "none": no limit."""
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
            return None
        return value

    @field_validator("capabilities_bbox", mode="before")
    @classmethod
    def _lon_lat_box(cls, value: object) -> object:
        """``"west,south,east,north"`` in degrees (a list or tuple passes as it is)."""
        if isinstance(value, str):
            parts = [p for p in value.replace(" ", "").split(",") if p]
            if not parts:
                return None
            value = tuple(parts)
        return value

    @field_validator("cors_origins", "cors_delete_origins", "ingest_dirs", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        """Origins (or folders) as ``"https://a.example,https://b.example"`` (a list passes
        as it is)."""
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("capabilities_bbox")
    @classmethod
    def _ordered_box(
        cls, value: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        if value is not None:
            west, south, east, north = value
            if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
                raise ValueError("capabilities_bbox must be west,south,east,north in degrees")
        return value

    @property
    def storage_mode(self) -> Literal["local", "s3"]:
        """Where ``s3://eodata/...`` hrefs are read from."""
        if self.storage != "auto":
            return self.storage
        return "s3" if self.s3_endpoint else "local"

    @property
    def uses_static_catalog(self) -> bool:
        return self.stac_url is None

    @property
    def static_catalog_dir(self) -> Path:
        return self.data_dir / "stac"

    @property
    def key_file(self) -> Path:
        return self.access_key_file or self.data_dir / "access-keys.json"

    @property
    def allowed_ingest_dirs(self) -> tuple[Path, ...]:
        """The folders ``cdse-gateway ingest`` reads from."""
        return self.ingest_dirs or (Path.cwd(),)

    @property
    def eodata_dir(self) -> Path:
        return self.data_dir / "eodata"
