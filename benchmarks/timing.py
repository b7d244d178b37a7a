"""The one timing helper the benchmarks share (each bench runs as a script: this folder is on its path)."""

from __future__ import annotations

import statistics
import time
from typing import Callable, TypeVar

T = TypeVar("T")


def timed(fn: Callable[[], T], repeats: int = 3) -> tuple[float, T]:
    """The median wall time of ``repeats`` calls of ``fn``, and the last call's result."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result
