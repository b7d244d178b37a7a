"""Wrappers around a real transport, for tests: faults injected through it, and its calls counted.

``Damaging`` wraps a real transport (local or SSH) and, for the first ``times`` files written through
``open_write``, really damages the bytes that land on the cluster: it flips 16 bytes in the middle
of the stream, or withholds the last 100 bytes (a partial copy). Everything else goes to the real
transport unchanged. It also records which files it wrote and from which threads.

``Counting`` passes every call through and counts them by operation (a command, an upload...), so a
test can check how many round trips an action cost.
"""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager

OPERATIONS = ("run", "write_files", "open_read", "open_write", "stat", "rename", "remove", "chmod", "makedirs",
              "sha256", "list_files")

FLIP_AT = 1000


class _DamagingWriter:
    def __init__(self, inner, damage: str):
        self.inner, self.damage = inner, damage
        self.offset = 0
        self.tail = b""

    def write(self, data: bytes) -> int:
        n = len(data)
        if self.damage == "flip":
            start, stop = max(FLIP_AT - self.offset, 0), min(FLIP_AT + 16 - self.offset, n)
            if start < stop:
                data = data[:start] + bytes(b ^ 0xFF for b in data[start:stop]) + data[stop:]
            self.inner.write(data)
        elif self.damage == "truncate":
            self.tail += data
            if len(self.tail) > 100:
                self.inner.write(self.tail[:-100])
                self.tail = self.tail[-100:]
        else:
            raise ValueError(f"unknown damage {self.damage!r}")
        self.offset += n
        return n


class Damaging:
    """A real transport whose ``open_write`` damages the first ``times`` files (None: every file)."""

    def __init__(self, inner, damage: str, times: int | None = None):
        self.inner, self.damage, self.times = inner, damage, times
        self.written: list[str] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    @contextmanager
    def open_write(self, path: str):
        with self._lock:
            self.written.append(path)
            self.threads.add(threading.current_thread().name)
            harm = self.times is None or len(self.written) <= self.times
        with self.inner.open_write(path) as f:
            yield _DamagingWriter(f, self.damage) if harm else f


class Counting:
    """A real transport whose operations are counted in ``calls`` (``calls["run"]``: commands run)."""

    def __init__(self, inner):
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.commands: list[tuple[str, ...]] = []

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name not in OPERATIONS:
            return attr

        def counted(*args, **kwargs):
            self.calls[name] += 1
            if name == "run":
                self.commands.append(tuple(args[0]))
            return attr(*args, **kwargs)

        return counted
