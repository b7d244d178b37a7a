"""Verified file and tree transfers between two clusters, through this machine: copy, verify, retry, rename.

The engine talks only to the ``Transport`` protocol; whether a side is this machine or a login node
is the transport's business, and so is keeping every path inside that cluster's workdir.

- every file is streamed from the source (``open_read``) to a temporary name beside its destination
  (``.<name>.mpflow-tmp-<hex>``, ``open_write``); once a batch is written, one hash command on the
  destination checks each copy's **size and sha256** against the source, the mode bits are copied,
  and only then is the copy renamed over the destination atomically. A bad or partial copy is
  removed and tried again, up to ``attempts`` times; after the last, a ``TransferError`` names the
  file and the expected and found size/sha256. The destination is never replaced by a bad copy and
  no temporary file is left behind.
- a destination file that already has the source's size and sha256 is not copied (``skipped-identical``).
- sha256 is computed where each file is (``Transport.sha256``: ``hashlib`` locally, ``sha256sum``
  over SSH), never by reading a remote file back.
- trees are copied in batches (``transfer_plan``) by this thread or by a bounded pool of workers;
  transports are safe to share between threads.

Not owned here: which files travel when (the flows decide); connections and paths (the transports).
Only regular files travel; symbolic links and empty folders do not; files present only at the
destination are left alone.
"""

from __future__ import annotations

import logging
import posixpath
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Sequence

from mpflow.clusters.transport import MODE_BITS, Transport, TransportError, temp_path
from mpflow.transfers.plan import (
    Action,
    FileEntry,
    TransferResult,
    batches,
    mismatch,
    paths_to_hash_at_destination,
    plan_tree,
    select,
)

log = logging.getLogger(__name__)

DEFAULT_ATTEMPTS = 3
_CHUNK = 1 << 15  # SFTP moves 32 KiB per request; bigger reads only make Paramiko join the pieces (measured slower)

__all__ = ["Action", "DEFAULT_ATTEMPTS", "FileEntry", "SourceMissing", "TransferError", "TransferResult",
           "transfer_file", "transfer_tree"]


class TransferError(RuntimeError):
    """A file could not be transferred intact. The destination was left as it was before."""

    def __init__(self, message: str, *, source: str, destination: str, expected_size: int | None = None,
                 expected_sha256: str | None = None, found_size: int | None = None,
                 found_sha256: str | None = None, attempts: int = 0, last_error: str | None = None):
        self.source = source
        self.destination = destination
        self.expected_size = expected_size
        self.expected_sha256 = expected_sha256
        self.found_size = found_size
        self.found_sha256 = found_sha256
        self.attempts = attempts
        self.last_error = last_error
        super().__init__(message)


class SourceMissing(TransferError, FileNotFoundError):
    """The source file or folder does not exist; nothing was created at the destination."""


_COPY_ERRORS = (OSError, TransportError)
"""What a failed copy raises: a file error, or the transport's (a lost connection, a failed command)."""


@dataclass(frozen=True)
class _Item:
    source: str
    destination: str
    size: int
    mode: int
    sha256: str


@dataclass
class _Failure:
    found_size: int | None = None
    found_sha256: str | None = None
    error: str | None = None


class _Engine:
    """Copies batches of files from ``src`` to ``dst`` with verification and retries."""

    def __init__(self, src: Transport, dst: Transport, *, attempts: int, retry_delay_s: float):
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self.src, self.dst = src, dst
        self.src_name, self.dst_name = src.settings.name, dst.settings.name
        self.attempts = attempts
        self.retry_delay_s = retry_delay_s

    def _copy(self, item: _Item, tmp: str) -> None:
        with self.src.open_read(item.source) as reader, self.dst.open_write(tmp) as writer:
            shutil.copyfileobj(reader, writer, _CHUNK)

    def _remove_quietly(self, path: str) -> None:
        try:
            self.dst.remove(path)
        except Exception as exc:  # best effort by design; the caller is already handling a failure
            log.warning("could not remove temporary file %s on %s: %s", path, self.dst_name, exc)

    def run_batch(self, items: Sequence[_Item]) -> list[TransferResult]:
        """Copy each item to a temporary name, verify all with one hash command, rename the good ones;
        repeat for the bad ones."""
        started: dict[_Item, float] = {}
        failures: dict[_Item, _Failure] = {}
        done: list[TransferResult] = []
        pending = list(items)
        outstanding: set[str] = set()  # temporary files that exist or may exist
        try:
            for attempt in range(1, self.attempts + 1):
                written: list[tuple[_Item, str]] = []
                retry: list[_Item] = []
                for item in pending:
                    started.setdefault(item, time.monotonic())
                    tmp = temp_path(item.destination)
                    outstanding.add(tmp)
                    try:
                        self._copy(item, tmp)
                    except _COPY_ERRORS as exc:
                        log.warning("copy of %s to %s on %s failed (attempt %d/%d): %s", item.source,
                                    item.destination, self.dst_name, attempt, self.attempts, exc)
                        failures[item] = _Failure(error=f"{type(exc).__name__}: {exc}")
                        self._remove_quietly(tmp)
                        outstanding.discard(tmp)
                        retry.append(item)
                        continue
                    written.append((item, tmp))
                found = self.dst.sha256([tmp for _, tmp in written], total_bytes=sum(i.size for i, _ in written))
                for item, tmp in written:
                    st = self.dst.stat(tmp)
                    size, sha = (st.size if st else None), found.get(tmp)
                    problem = mismatch(item.size, item.sha256, size, sha)
                    if problem is None:
                        self.dst.chmod(tmp, item.mode)
                        self.dst.rename(tmp, item.destination)
                        outstanding.discard(tmp)
                        failures.pop(item, None)
                        done.append(TransferResult(item.source, item.destination, item.size, item.sha256,
                                                   Action.COPIED, attempt, time.monotonic() - started[item]))
                    else:
                        log.warning("copy of %s to %s on %s is bad (attempt %d/%d): %s; removed", item.source,
                                    item.destination, self.dst_name, attempt, self.attempts, problem)
                        failures[item] = _Failure(size, sha, problem)
                        self._remove_quietly(tmp)
                        outstanding.discard(tmp)
                        retry.append(item)
                pending = retry
                if not pending:
                    break
                if attempt < self.attempts and self.retry_delay_s > 0:
                    time.sleep(self.retry_delay_s * attempt)
        finally:
            for tmp in outstanding:
                self._remove_quietly(tmp)
        if pending:
            raise self._error(pending, failures)
        return done

    def _error(self, pending: list[_Item], failures: dict[_Item, _Failure]) -> TransferError:
        item = pending[0]
        f = failures[item]
        more = f" (and {len(pending) - 1} more file(s) of this batch)" if len(pending) > 1 else ""
        found = (f"found {f.found_size} bytes, sha256 {f.found_sha256 or 'unreadable'}"
                 if f.found_size is not None else f"last error: {f.error}")
        msg = (f"transfer of {item.source} ({self.src_name}) to {item.destination} ({self.dst_name}) failed "
               f"after {self.attempts} attempt(s){more}: expected {item.size} bytes, sha256 {item.sha256}; {found}. "
               f"The temporary copy was removed and the destination left as it was.")
        return TransferError(msg, source=item.source, destination=item.destination, expected_size=item.size,
                             expected_sha256=item.sha256, found_size=f.found_size, found_sha256=f.found_sha256,
                             attempts=self.attempts, last_error=f.error)

    def skipped(self, item: _Item, dst_mode: int, t0: float) -> TransferResult:
        if dst_mode & MODE_BITS != item.mode & MODE_BITS:
            self.dst.chmod(item.destination, item.mode)
        return TransferResult(item.source, item.destination, item.size, item.sha256, Action.SKIPPED, 0,
                              time.monotonic() - t0)


def transfer_file(src: Transport, src_path: str, dst: Transport, dst_path: str, *,
                  attempts: int = DEFAULT_ATTEMPTS, retry_delay_s: float = 0.5) -> TransferResult:
    """Copy one file from ``src`` to ``dst`` (through this machine), verified and atomic: see
    :func:`transfer_files`."""
    return transfer_files(src, dst, [(src_path, dst_path)], attempts=attempts,
                          retry_delay_s=retry_delay_s)[0]


def transfer_files(src: Transport, dst: Transport, pairs: Sequence[tuple[str, str]], *,
                   attempts: int = DEFAULT_ATTEMPTS, retry_delay_s: float = 0.5) -> list[TransferResult]:
    """Copy each file ``(src_path, dst_path)`` of ``pairs`` from ``src`` to ``dst`` (through this
    machine), verified and atomic, as one batch: one hash command on each side for all of them.

    Paths are absolute or relative to each cluster's workdir, and must stay inside it
    (``PathOutsideWorkdir`` otherwise, before anything is read or written). Skips a copy when its
    ``dst_path`` already has the source's size and sha256 (its mode bits are still brought in line).
    Raises ``SourceMissing`` if a source file does not exist (nothing is created at any destination)
    and ``TransferError`` when no intact copy of a file was made in ``attempts`` tries. Returns one
    result per pair, in the order of ``pairs``."""
    engine = _Engine(src, dst, attempts=attempts, retry_delay_s=retry_delay_s)
    t0 = time.monotonic()
    resolved = [(src.resolve(s), dst.resolve(d)) for s, d in pairs]
    stats = []
    for src_path, dst_path in resolved:
        st = src.stat(src_path)
        if st is None:
            raise SourceMissing(f"source file {src_path} does not exist on {engine.src_name}; nothing was "
                                "transferred", source=src_path, destination=dst_path)
        if not st.is_file:
            raise TransferError(f"source {src_path} on {engine.src_name} is not a regular file", source=src_path,
                                destination=dst_path)
        stats.append(st)
    hashes = src.sha256([s for s, _ in resolved], total_bytes=sum(st.size for st in stats))
    items = []
    for (src_path, dst_path), st in zip(resolved, stats):
        if src_path not in hashes:
            raise TransferError(f"cannot read source file {src_path} on {engine.src_name}", source=src_path,
                                destination=dst_path)
        items.append(_Item(src_path, dst_path, st.size, st.mode, hashes[src_path]))
    there = {}
    for item in items:
        found = dst.stat(item.destination)
        if found is not None and not found.is_file:
            raise TransferError(f"destination {item.destination} on {engine.dst_name} is not a regular file",
                                source=item.source, destination=item.destination)
        there[item.destination] = found
    same_size = [i for i in items if there[i.destination] is not None and there[i.destination].size == i.size]
    dst_hashes = dst.sha256([i.destination for i in same_size],
                            total_bytes=sum(i.size for i in same_size)) if same_size else {}
    results: dict[str, TransferResult] = {}
    to_copy = []
    for item in items:
        if dst_hashes.get(item.destination) == item.sha256:
            results[item.destination] = engine.skipped(item, there[item.destination].mode, t0)
        else:
            to_copy.append(item)
    if to_copy:
        dst.makedirs(sorted({posixpath.dirname(i.destination) for i in to_copy}))
        results.update((r.path, r) for r in engine.run_batch(to_copy))
    return [results[d] for _, d in resolved]


def transfer_tree(src: Transport, src_dir: str, dst: Transport, dst_dir: str, *, parallel: int = 1,
                  include: Sequence[str] = (), exclude: Sequence[str] = (), attempts: int = DEFAULT_ATTEMPTS,
                  retry_delay_s: float = 0.5) -> list[TransferResult]:
    """Copy every regular file under ``src_dir`` to the same relative path under ``dst_dir``.

    Folders are absolute or relative to each cluster's workdir and must stay inside it.
    ``include``/``exclude`` select files by ``fnmatch`` patterns on the relative path (see
    ``transfer_plan.select``). Identical files are skipped; the others are copied in batches,
    verified with one hash command per batch, by ``parallel`` worker threads (1: in this thread).
    Each worker holds up to two SSH sessions on a remote side (an SFTP channel and, while a batch is
    verified, a command): stay within the login node's MaxSessions (OpenSSH default 10, so
    ``parallel <= 4`` fits anywhere). Returns one result per selected file, sorted by destination
    path. On a file that cannot be copied intact it raises ``TransferError`` after the other workers
    finish; files already renamed stay (each is whole)."""
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, got {parallel}")
    engine = _Engine(src, dst, attempts=attempts, retry_delay_s=retry_delay_s)
    t0 = time.monotonic()
    src_dir, dst_dir = src.resolve(src_dir), dst.resolve(dst_dir)
    listing = src.list_files(src_dir)
    if listing is None:
        raise SourceMissing(f"source folder {src_dir} does not exist on {engine.src_name}; nothing was transferred",
                            source=src_dir, destination=dst_dir)
    src_entries = select(listing, include, exclude)
    src_hash = src.sha256([posixpath.join(src_dir, e.path) for e in src_entries],
                          total_bytes=sum(e.size for e in src_entries))
    unreadable = [e.path for e in src_entries if posixpath.join(src_dir, e.path) not in src_hash]
    if unreadable:
        raise TransferError(f"cannot read {len(unreadable)} source file(s) under {src_dir} on {engine.src_name}: "
                            f"{unreadable[:5]}", source=src_dir, destination=dst_dir)
    src_entries = [replace(e, sha256=src_hash[posixpath.join(src_dir, e.path)]) for e in src_entries]

    dst_entries = dst.list_files(dst_dir) or []
    sizes = {e.path: e.size for e in dst_entries}
    want = paths_to_hash_at_destination(src_entries, dst_entries)
    dst_hash = dst.sha256([posixpath.join(dst_dir, p) for p in want], total_bytes=sum(sizes[p] for p in want))
    dst_entries = [replace(e, sha256=dst_hash.get(posixpath.join(dst_dir, e.path))) for e in dst_entries]
    plan = plan_tree(src_entries, dst_entries)

    def item(e: FileEntry) -> _Item:
        return _Item(posixpath.join(src_dir, e.path), posixpath.join(dst_dir, e.path), e.size, e.mode, e.sha256)

    dst_modes = {e.path: e.mode for e in dst_entries}
    results = [engine.skipped(item(e), dst_modes[e.path], t0) for e in plan.skip]
    items = [item(e) for e in plan.copy]
    dst.makedirs([dst_dir, *(posixpath.dirname(i.destination) for i in items)])
    work = batches(items, parallel)
    if parallel == 1 or len(work) <= 1:
        for b in work:
            results += engine.run_batch(b)
    else:
        with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="mpflow-transfer") as pool:
            futures = [pool.submit(engine.run_batch, b) for b in work]
            errors = []
            for f in futures:
                try:
                    results += f.result()
                except Exception as exc:  # collected so every worker finishes and cleans up first
                    errors.append(exc)
        if errors:
            raise errors[0]
    return sorted(results, key=lambda r: r.path)
