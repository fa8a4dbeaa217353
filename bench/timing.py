"""Timing helpers and inputs shared by the kernel benchmarks."""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Mapping, Sequence

import numexpr
import numpy as np


def mpix_per_s(run: Callable[[], object], pixels: int, repeat: int) -> float:
    """Median throughput of ``run`` in megapixels per second, after one warm-up call."""
    run()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return pixels / statistics.median(times) / 1e6


def mpix_per_s_interleaved(
    runs: Mapping[str, Callable[[], object]], pixels: int, repeat: int
) -> dict[str, float]:
    """The throughput of each of ``runs`` (Mpix/s of its fastest round, after one warm-up
    call), timed in turn, round after round: on a shared machine other work slows some
    rounds of each, and the fastest is the nearest to its own cost."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: pixels / min(t) / 1e6 for name, t in times.items()}


def kernel_arguments(description: str, size: int, repeat: int) -> argparse.Namespace:
    """--size, --threads, --repeat; sets numexpr's threads."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--size", type=int, default=size, help="arrays are size x size")
    parser.add_argument("--threads", type=int, default=numexpr.detect_number_of_cores())
    parser.add_argument("--repeat", type=int, default=repeat)
    args = parser.parse_args()
    numexpr.set_num_threads(args.threads)
    return args


def reflectances(names: Sequence[str], size: int) -> dict[str, np.ndarray]:
    """Random float32 reflectances in [0.01, 0.6) of size x size, one array per band."""
    rng = np.random.default_rng(0)
    return {b: rng.uniform(0.01, 0.6, (size, size)).astype(np.float32) for b in names}
