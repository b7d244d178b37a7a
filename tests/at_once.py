"""Real processes started at the same moment, for the tests of what two ticks (or lease takers) do at once."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable


def run_at_once(target: Callable, args: tuple, n: int, *, timeout: float = 180) -> list:
    """``target(*args, start, out)`` in ``n`` spawned processes that pass ``start`` (a barrier) together;
    each puts one result on ``out``. Returns the results (in the order they came); every process must
    exit 0."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(n), ctx.Queue()
    children = [ctx.Process(target=target, args=(*args, start, out)) for _ in range(n)]
    for child in children:
        child.start()
    results = [out.get(timeout=timeout) for _ in children]
    for child in children:
        child.join(60)
        assert child.exitcode == 0, f"a process exited with {child.exitcode}"
    return results
