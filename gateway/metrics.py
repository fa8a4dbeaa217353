"""``/metrics``: what the gateway is doing, for Prometheus (prometheus-client).

Requests by door and status with their latency (counted at the HTTP edge, so every door and
every refusal counts), requests refused for a spent quota by door, the tile cache's hits,
misses, writes and errors, tile renders that waited for another's render or cache lock, the
heavy renders running and waiting (the admission pool), the remote quotas, the requests,
bytes, errors and retries to S3 and the STAC API, and what the doors add (jobs by state).
With ``PROMETHEUS_MULTIPROC_DIR`` set (several uvicorn workers), prometheus-client keeps the
request counters in files shared by the workers and ``/metrics`` sums them; the cache and
admission figures are then the answering worker's.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import Scope

from gateway.runtime import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DOORS = frozenset({"wms", "wmts", "wcs", "wfs", "ows", "ogcapi", "viewer", "healthz", "readyz"})
# Seconds: cached tiles answer in well under a millisecond, uncached ones in tenths of a second,
# coverages and processes in seconds.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def door_of(path: str) -> str:
    """The door a request path belongs to (a small fixed set: label values stay bounded)."""
    first = path.lstrip("/").split("/", 1)[0]
    return first if first in DOORS else "other"


# The KVP operations of the classic doors, as label values (anything else: "other").
OWS_OPERATIONS = frozenset({
    "getcapabilities", "getmap", "getfeatureinfo", "getlegendgraphic", "gettile",
    "getcoverage", "describecoverage", "getfeature", "describefeaturetype",
    "getpropertyvalue", "liststoredqueries", "describestoredqueries",
})  # fmt: skip
# The OGC API resources, as label values, by a path's last word that names one.
OGCAPI_RESOURCES = frozenset({
    "collections", "items", "map", "tiles", "coverage", "queryables", "processes",
    "execution", "jobs", "results", "conformance", "openapi",
})  # fmt: skip
_REQUEST = re.compile(rb"(?:^|&)request=([a-z]{1,40})")


def operation_of(door: str, path: str, query: bytes) -> str:
    """What a request asks, as a bounded label: the KVP REQUEST of the classic doors
    (``gettile`` for a WMTS REST tile), the resource of an OGC API path, else ``-``."""
    if door in ("wms", "wmts", "wcs", "wfs", "ows"):
        found = _REQUEST.search(query.lower()) if query else None
        if found is not None:
            name = found.group(1).decode()
            return name if name in OWS_OPERATIONS else "other"
        if door == "wmts" and "/1.0.0/" in path:
            return "getcapabilities" if path.endswith("Capabilities.xml") else "gettile"
        return "other"
    if door == "ogcapi":
        words = [w for w in path.split("/")[2:] if w]
        for word in reversed(words):
            if word in OGCAPI_RESOURCES:
                return word
        return "landing" if not words else "other"
    return "-"


def caller_class(scope: Scope) -> str:
    """``anonymous``, ``key``, ``token`` or ``basic`` (access control's caller, duck-typed)."""
    kind = getattr(scope.get("gateway.caller"), "kind", None)
    return kind if kind in ("key", "token", "basic") else "anonymous"


class RequestMetrics:
    """Requests by door, operation, status and caller class, and their latency; one per app."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.requests = Counter(
            "gateway_requests",
            "Requests answered, by door, operation, HTTP status and caller class.",
            ("door", "operation", "status", "caller"),
            registry=registry,
        )
        self.latency = Histogram(
            "gateway_request_duration_seconds",
            "Time from a request's arrival to its answer's first bytes, by door.",
            ("door",),
            buckets=BUCKETS,
            registry=registry,
        )

    def observe(self, scope: Scope, status: int, started: float) -> None:
        path = scope["path"]
        door = door_of(path)
        operation = operation_of(door, path, scope.get("query_string", b""))
        self.requests.labels(door, operation, str(status), caller_class(scope)).inc()
        self.latency.labels(door).observe(time.perf_counter() - started)


class RuntimeCollector(Collector):
    """The tile cache's counters and the admission pool's state, read when scraped."""

    def __init__(self, current: Callable[[], Runtime]) -> None:
        self._current = current

    @property
    def _runtime(self) -> Runtime:
        return self._current()

    def collect(self) -> Iterator[Metric]:
        stats = self._runtime.cache.stats.snapshot()
        cache = CounterMetricFamily(
            "gateway_tile_cache_operations",
            "Tile cache operations: hits, misses, sets, errors.",
            labels=("operation",),
        )
        for operation, count in stats.items():
            cache.add_metric((operation,), count)
        yield cache
        waits = CounterMetricFamily(
            "gateway_tile_waits",
            "Tile renders that waited: for the render of their block another request led in "
            "this process (render), for another caller's cache lock (lock).",
            labels=("on",),
        )
        waits.add_metric(("render",), self._runtime.tiles.render_joins)
        waits.add_metric(("lock",), self._runtime.cache.stats.lock_waits)
        yield waits
        admission = self._runtime.engine.admission
        if admission is not None:
            state = admission.state()
            renders = GaugeMetricFamily(
                "gateway_heavy_renders", "Heavy renders running and waiting.", labels=("state",)
            )
            renders.add_metric(("running",), state["running"])
            renders.add_metric(("waiting",), state["waiting"])
            yield renders
        yield from quota_metrics(self._runtime)
        yield from remote_metrics(self._runtime)
        for gauges in self._runtime.gauges:
            yield from gauges()


# Each remote service's figures by service: (tally name, help); the metric is gateway_remote_*.
REMOTE_FIGURES = (
    ("requests", "Requests to a remote service (S3: estimated; STAC: each try)."),
    ("bytes", "Bytes from a remote service (S3: estimated; STAC: answers)."),
    ("errors", "Failed S3 reads and failed STAC API tries."),
    ("retries", "Retried tries (STAC API; GDAL retries S3 reads itself)."),
)


def job_metrics(states: Callable[[], dict[str, int]]) -> Iterator[Metric]:
    """``gateway_jobs{state}``: the OGC API processes' jobs kept, by state (``states``)."""
    jobs = GaugeMetricFamily("gateway_jobs", "Jobs kept, by state.", labels=("state",))
    for state, count in states().items():
        jobs.add_metric((state,), count)
    yield jobs


def remote_metrics(runtime: Runtime) -> Iterator[Metric]:
    """What this process asked of S3 and the STAC API, counted whether or not a quota is set."""
    counts = {name: tally.snapshot() for name, tally in runtime.remote_tallies.items()}
    if not counts:
        return
    for figure, help_text in REMOTE_FIGURES:
        family = CounterMetricFamily(f"gateway_remote_{figure}", help_text, labels=("service",))
        for service, figures in counts.items():
            family.add_metric((service,), figures.get(figure, 0))
        yield family
    meter = runtime.engine.reader.request_meter
    if meter is not None:
        made = meter.totals()
        for figure, value in zip(("requests", "bytes"), made, strict=True):
            family = CounterMetricFamily(
                f"gateway_s3_{figure}_made", f"S3 {figure} GDAL really made (its own count)."
            )
            family.add_metric((), value)
            yield family
    reads = CounterMetricFamily(
        "gateway_remote_reads",
        "Remote file reads by kind (opens, walks, windows, copies, indexing).",
        labels=("service", "kind"),
    )
    for kind in ("opens", "walks", "windows", "copies", "indexing"):
        reads.add_metric(("s3", kind), counts.get("s3", {}).get(kind, 0))
    yield reads
    queue = runtime.engine.reader.index_queue
    if queue is not None:
        queued = CounterMetricFamily(
            "gateway_jp2_indexes_queued",
            "Remote JPEG 2000 files queued for indexing in the background.",
        )
        queued.add_metric((), counts.get("s3", {}).get("indexes_queued", 0))
        yield queued
        pending = GaugeMetricFamily(
            "gateway_jp2_indexes_pending", "Files waiting for or in background indexing."
        )
        pending.add_metric((), queue.pending())
        yield pending
        dropped = CounterMetricFamily(
            "gateway_jp2_indexes_dropped",
            "Files not queued for background indexing: the queue was full.",
        )
        dropped.add_metric((), queue.dropped)
        yield dropped


def quota_metrics(runtime: Runtime) -> Iterator[Metric]:
    """The remote services' quotas: use now (over every process sharing Redis), the limits,
    and this process's reads waiting in line and refused."""
    states = {name: quota.state() for name, quota in runtime.remote_quotas.items()}
    if not states:
        return
    use = GaugeMetricFamily(
        "gateway_quota_use", "Use of a remote service's quota now.", labels=("service", "figure")
    )
    limit = GaugeMetricFamily(
        "gateway_quota_limit", "A remote service's quota.", labels=("service", "figure")
    )
    waiting = GaugeMetricFamily(
        "gateway_quota_waiting", "Reads waiting in line for the quota.", labels=("service",)
    )
    refused = CounterMetricFamily(
        "gateway_quota_refused", "Requests refused (503) by the quota.", labels=("service",)
    )
    for name, state in states.items():
        for figure in ("connections", "requests_last_minute", "bytes_this_month"):
            use.add_metric((name, figure), state[figure] or 0)
        for figure in ("connections", "requests_per_minute", "bytes_per_month"):
            most = state[f"max_{figure}"]
            if most is not None:
                limit.add_metric((name, figure), most)
        waiting.add_metric((name,), state["waiting"] or 0)
        refused.add_metric((name,), state["refused"] or 0)
    yield from (use, limit, waiting, refused)


class Metrics:
    """The app's registry: what ``/metrics`` answers (figures of the runtime ``current``
    returns: the current doors')."""

    def __init__(self, current: Callable[[], Runtime]) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # Several apps in one process (tests) each keep their own request counters; in
        # multiprocess mode the counters live in the shared files, read at scrape time.
        self.registry = CollectorRegistry()
        self.requests = RequestMetrics(None if self.multiprocess else self.registry)
        self.quota_rejections = Counter(
            "gateway_quota_rejections",
            "Requests refused (429) because their caller's quota was spent, by door.",
            ("door",),
            registry=None if self.multiprocess else self.registry,
        )
        self.registry.register(RuntimeCollector(current))

    def quota_rejected(self, path: str) -> None:
        self.quota_rejections.labels(door_of(path)).inc()

    def exposition(self) -> bytes:
        if not self.multiprocess:
            return generate_latest(self.registry)
        shared = CollectorRegistry()
        MultiProcessCollector(shared)
        return generate_latest(shared) + generate_latest(self.registry)
