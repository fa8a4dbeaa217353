"""``statistics``: per aggregation interval over a polygon, the statistics of an expression.

Like Sentinel Hub's Statistical API: each interval is mosaicked (the collection's order),
pixels whose SCL class is cloud/shadow/cirrus are masked when ``cloud_mask`` is on, and
min, max, mean, standard deviation, percentiles and a histogram are computed over the valid
pixels inside the polygon, with the counts of sampled, valid, no-data and cloud-masked pixels.
The area is split into chunks computed independently (here or on Dask) and combined by
concatenating their valid values, so results do not depend on where chunks ran.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from gateway.config import CloudMask
from gateway.errors import InvalidParameterValue, LimitExceeded
from gateway.processes.area import Area, build_area
from gateway.processes.base import GatewayProcessor
from gateway.processes.chunks import Chunk, split_grid
from gateway.processes.common import Source, resolve_source, source_request, units_of
from gateway.processes.intervals import interval_query, iso, split_intervals
from gateway.processes.plan import Plan, worker_runtime
from gateway.runtime import Runtime
from gateway.settings import Settings

DEFAULT_PERCENTILES = (10.0, 50.0, 90.0)
DEFAULT_BINS = 10
# Valid values of every chunk are gathered for exact percentiles: bound pixels x intervals
# (float32, so at most ~200 MB combined).
MAX_CELLS = 50_000_000


def cloud_mask_of(runtime: Runtime, source: Source) -> CloudMask | None:
    """The cloud-mask band the statistics read beside the source's, if it masks clouds."""
    collection = runtime.config.collection(source.collection)
    return collection.cloud_mask if collection and source.cloud_mask else None


def chunk_statistics(
    settings: Settings, source: Source, area: Area, chunk: Chunk, time: str
) -> dict[str, Any]:
    """Valid values inside the polygon and the pixel counts of one chunk and interval."""
    runtime = worker_runtime(settings)
    mask_band = cloud_mask_of(runtime, source)
    request = source_request(
        runtime, source, chunk.grid, time=time, extra=mask_band.band if mask_band else None
    )
    raster = runtime.engine.compute(request)
    inside = area.mask(chunk.grid)
    outputs = raster.data[: len(source.names)]
    valid = raster.valid & np.all(np.isfinite(outputs), axis=0)
    cloudy = np.zeros_like(valid)
    if mask_band is not None:
        cloudy = raster.valid & np.isin(raster.data[-1], mask_band.classes)
    good = inside & valid & ~cloudy
    return {
        "values": [band[good].astype(np.float32) for band in outputs],
        "sample": int(inside.sum()),
        "valid": int(good.sum()),
        "cloud": int((inside & cloudy).sum()),
    }


def _histogram(values: np.ndarray, spec: dict[str, Any]) -> dict[str, Any]:
    bins = int(spec.get("bins", DEFAULT_BINS))
    low = float(spec.get("low", values.min() if values.size else 0.0))
    high = float(spec.get("high", values.max() if values.size else 1.0))
    # Bin edges are computed in float64 from the span: keep it finite, and wide enough.
    low, high = np.clip((low, high), -1e300, 1e300).tolist()
    if not high > low:  # one value, or one bound given beyond the values: a narrow range
        high = low + max(1e-6, abs(low) * 1e-6)
    counts, edges = np.histogram(values, bins=bins, range=(low, high))
    return {
        "bins": [
            {"lowEdge": float(edges[i]), "highEdge": float(edges[i + 1]), "count": int(counts[i])}
            for i in range(bins)
        ]
    }


def describe(values: np.ndarray, percentiles: Sequence[float], histogram: dict) -> dict[str, Any]:
    """The statistics of one output over one interval (NaN-free ``values``)."""
    if values.size == 0:
        return {"stats": {"min": None, "max": None, "mean": None, "stDev": None, "percentiles": {}}}
    data = values.astype(np.float64)
    return {
        "stats": {
            "min": float(data.min()),
            "max": float(data.max()),
            "mean": float(data.mean()),
            "stDev": float(data.std()),
            "percentiles": {
                f"{p:g}": float(v)
                for p, v in zip(percentiles, np.percentile(data, percentiles), strict=True)
            },
        },
        "histogram": _histogram(data, histogram),
    }


def combine_statistics(
    names: tuple[str, ...],
    intervals: list[tuple[str, str]],
    n_chunks: int,
    percentiles: tuple[float, ...],
    histogram: dict[str, Any],
    fmt: str,
    results: Sequence[dict[str, Any]],
) -> tuple[str, Any]:
    """Join chunk results (interval-major: interval i, chunk j at ``i * n_chunks + j``)."""
    data = []
    for i, (start, stop) in enumerate(intervals):
        parts = results[i * n_chunks : (i + 1) * n_chunks]
        sample = sum(p["sample"] for p in parts)
        valid = sum(p["valid"] for p in parts)
        cloud = sum(p["cloud"] for p in parts)
        outputs = {}
        for k, name in enumerate(names):
            values = np.concatenate([p["values"][k] for p in parts])
            outputs[name] = describe(values, percentiles, histogram)
        data.append(
            {
                "interval": {"from": start, "to": stop},
                "sampleCount": sample,
                "validCount": valid,
                "noDataCount": sample - valid,
                "cloudMaskedCount": cloud,
                "outputs": outputs,
            }
        )
    document = {"status": "OK", "data": data}
    if fmt == "csv":
        return "text/csv", to_csv(document, percentiles)
    return "application/json", document


def to_csv(document: dict[str, Any], percentiles: Sequence[float]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = [f"p{p:g}" for p in percentiles]
    writer.writerow(
        [
            "interval_from",
            "interval_to",
            "output",
            "sampleCount",
            "validCount",
            "noDataCount",
            "cloudMaskedCount",
            "min",
            "max",
            "mean",
            "stDev",
            *keys,
        ]
    )
    for row in document["data"]:
        for name, output in row["outputs"].items():
            stats = output["stats"]
            pct = [stats["percentiles"].get(f"{p:g}") for p in percentiles]
            writer.writerow(
                [
                    row["interval"]["from"],
                    row["interval"]["to"],
                    name,
                    row["sampleCount"],
                    row["validCount"],
                    row["noDataCount"],
                    row["cloudMaskedCount"],
                    stats["min"],
                    stats["max"],
                    stats["mean"],
                    stats["stDev"],
                    *pct,
                ]
            )
    return out.getvalue()


def _percentiles(value: Any) -> tuple[float, ...]:
    """The percentiles asked for (validated: 1-20 numbers in 0..100), or the defaults."""
    return DEFAULT_PERCENTILES if value is None else tuple(float(v) for v in value)


def _histogram_spec(value: Any) -> dict[str, Any]:
    """``{bins, low, high}`` (validated: integer bins, finite numbers) with low below high."""
    spec = {"bins": DEFAULT_BINS, **(value or {})}
    low, high = spec.get("low"), spec.get("high")
    if low is not None and high is not None and not low < high:
        raise InvalidParameterValue("histogram low must be below high", locator="histogram")
    return spec


def plan_statistics(inputs: dict[str, Any], runtime: Runtime, settings: Settings) -> Plan:
    """Validate the inputs and plan one task per (interval, chunk)."""
    source = resolve_source(runtime.config, inputs)
    area = build_area(inputs)
    period = runtime.times.resolve(source.collection, inputs.get("time")).period
    intervals = split_intervals(period, inputs.get("aggregation_interval") or "P1M")
    fmt = str(inputs.get("format") or "json").lower()
    if fmt not in ("json", "csv"):
        raise InvalidParameterValue("format must be json or csv", locator="format")
    cells = area.grid.width * area.grid.height * len(intervals)
    if cells > MAX_CELLS:
        raise LimitExceeded(
            f"{cells} pixel-intervals exceed the limit of {MAX_CELLS}: use a smaller area, "
            "a coarser resolution or fewer intervals",
            locator="bbox",
        )
    chunks = split_grid(area.grid)
    # Validate the expression once, before any task is queued.
    when = interval_query(*intervals[0])
    first = source_request(runtime, source, chunks[0].grid, time=when)
    runtime.engine.expression(first)
    # Each interval reads every chunk: the units of one interval's chunks, times the intervals.
    mask_band = cloud_mask_of(runtime, source)
    extra = mask_band.band if mask_band else None
    per_interval = units_of(
        runtime,
        (source_request(runtime, source, chunk.grid, time=when, extra=extra) for chunk in chunks),
    )
    tasks = [
        (chunk_statistics, (settings, source, area, chunk, interval_query(start, stop)))
        for start, stop in intervals
        for chunk in chunks
    ]
    combine = functools.partial(
        combine_statistics,
        source.names,
        [(iso(a), iso(b)) for a, b in intervals],
        len(chunks),
        _percentiles(inputs.get("percentiles")),
        _histogram_spec(inputs.get("histogram")),
        fmt,
    )
    return Plan(tasks=tasks, combine=combine, units=per_interval * len(intervals))


class StatisticsProcessor(GatewayProcessor):
    """OGC API process ``statistics``."""

    planner = staticmethod(plan_statistics)
    metadata_file = "statistics"
