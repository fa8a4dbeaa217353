"""A process's peak memory while something runs (Linux ``/proc``: VmHWM, reset first)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def peak_growth_mb[T](pid: int, action: Callable[[], T]) -> tuple[T, float]:
    """``action()``'s result and how far the process's resident memory peaked above what it
    was before, in MB (the peak is reset first, so earlier peaks do not hide this one)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = _kib(pid, "VmRSS")
    result = action()
    return result, (_kib(pid, "VmHWM") - before) / 1024
