"""Verified file and tree transfers between clusters, always through the master (this machine).

This module owns moving bytes between two transports and proving they arrived intact:

- every file is written to a temporary name beside its destination (``.<name>.mpflow-tmp-<hex>``),
  its **size and sha256** are checked against the source, its mode bits are copied, and only then is
  it renamed over the destination atomically (SFTP ``posix_rename`` remotely, ``os.replace``
  locally). A bad or partial copy is removed and retried a bounded number of times; after the last
  attempt a ``TransferError`` names the file and the expected and found size/sha256. The
  destination is never replaced by a bad copy and no temporary file is left behind.
- a destination file that already has the source's size and sha256 is not copied again
  (``skipped-identical``).
- sha256 is computed where the file is: locally with ``hashlib``; remotely with one
  ``sha256sum -z`` per batch of files, as an argv list (paths are never put in a shell string).
- when neither side is local (slave → slave, or a remote master), bytes go through a local
  temporary file, itself checked against the source's sha256.
- trees are copied sequentially or by a bounded thread pool; each worker thread opens its own SFTP
  channel over the cluster's one SSH connection (Paramiko SFTP clients are not shared between
  threads), and all of them are closed at the end.

Not owned here: which files travel when (the flows decide), connections (``mpflow.transport``).
Only regular files are transferred; symbolic links and empty folders are not; files present only at
the destination are left alone.

The pure parts (argv builders and output parsers in pairs, the plan of a tree transfer, selection
by patterns, batching) are plain functions with unit tests; the rest is I/O through a transport.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import os
import posixpath
import shutil
import stat as stat_module
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Callable, Iterable, Sequence

from mpflow.transport import LocalTransport, Transport, TransportError, check

log = logging.getLogger(__name__)

TEMP_MARK = ".mpflow-tmp-"
"""Temporary files are ``.<name>.mpflow-tmp-<hex>``; listings never include them."""

DEFAULT_ATTEMPTS = 3
HASH_BATCH_FILES = 64
"""At most this many files per remote ``sha256sum`` (and per verification batch)."""
HASH_BATCH_ARGV_CHARS = 64_000
"""...and at most this many characters of paths, far below any login node's ARG_MAX."""
HASH_SECONDS_PER_GB = 20.0
"""Added to a remote hash command's timeout per GB hashed (sha256sum does ~0.5-2 GB/s)."""
_CHUNK = 1 << 20
_MODE_BITS = 0o777  # permission bits travel; setuid/setgid/sticky do not

AfterCopy = Callable[[Transport, str], None]
"""Hook called with (destination transport, temporary path) after a copy's bytes are written and
before they are verified. Tests use it to really corrupt the temporary file."""


class Action(StrEnum):
    COPIED = "copied"
    SKIPPED = "skipped-identical"


@dataclass(frozen=True)
class FileEntry:
    """One regular file of a listing: path relative to the listed folder (POSIX), size, mode bits,
    and its sha256 once known."""

    path: str
    size: int
    mode: int = 0o644
    sha256: str | None = None


@dataclass(frozen=True)
class TransferResult:
    """What happened to one file. ``seconds`` runs from the start of its first copy (or its check,
    when skipped) to its rename, including its share of the batch's verification."""

    source: str
    path: str
    bytes: int
    sha256: str
    action: Action
    attempts: int
    seconds: float


@dataclass(frozen=True)
class TreePlan:
    copy: tuple[FileEntry, ...]
    skip: tuple[FileEntry, ...]


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


# ------------------------------------------------------------------------------------------------
# Pure functions
# ------------------------------------------------------------------------------------------------

def temp_path(path: str, token: str | None = None) -> str:
    """The temporary name beside ``path``: ``dir/.name.mpflow-tmp-<token>``."""
    head, name = posixpath.split(path)
    return posixpath.join(head, f".{name}{TEMP_MARK}{token or uuid.uuid4().hex[:12]}")


def is_temp_name(path: str) -> bool:
    name = posixpath.basename(path)
    return name.startswith(".") and TEMP_MARK in name


def select(entries: Iterable[FileEntry], include: Sequence[str] = (), exclude: Sequence[str] = ()
           ) -> list[FileEntry]:
    """Entries whose relative path matches one ``include`` pattern (all, if none given) and no
    ``exclude`` pattern; never temporary files. Patterns are ``fnmatch`` patterns matched against
    the whole relative path, and ``*`` also matches ``/`` (``"*.tpr"`` matches ``"a/b/md.tpr"``)."""
    chosen = []
    for e in entries:
        if is_temp_name(e.path):
            continue
        if include and not any(fnmatch.fnmatchcase(e.path, p) for p in include):
            continue
        if any(fnmatch.fnmatchcase(e.path, p) for p in exclude):
            continue
        chosen.append(e)
    return chosen


def paths_to_hash_at_destination(src: Iterable[FileEntry], dst: Iterable[FileEntry]) -> list[str]:
    """Destination files worth hashing: those whose size equals the source's (others are copied)."""
    sizes = {e.path: e.size for e in src}
    return sorted(e.path for e in dst if sizes.get(e.path) == e.size)


def plan_tree(src: Iterable[FileEntry], dst: Iterable[FileEntry]) -> TreePlan:
    """Which source files to copy and which to skip: a file is skipped only when the destination
    has the same relative path with the same size and a known, equal sha256. Sorted by path."""
    there = {e.path: e for e in dst}
    copy, skip = [], []
    for e in sorted(src, key=lambda e: e.path):
        if e.sha256 is None:
            raise ValueError(f"source entry {e.path!r} has no sha256; hash the source before planning")
        d = there.get(e.path)
        same = d is not None and d.size == e.size and d.sha256 is not None and d.sha256 == e.sha256
        (skip if same else copy).append(e)
    return TreePlan(tuple(copy), tuple(skip))


def batches(items: Sequence, parallel: int = 1, max_files: int = HASH_BATCH_FILES) -> list[list]:
    """Split ``items`` into consecutive batches of at most ``max_files``, and into at least
    ``parallel`` batches when there are enough items, so every worker gets some."""
    if not items:
        return []
    size = max(1, min(max_files, -(-len(items) // max(1, parallel))))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def _chunk_argv_paths(paths: Sequence[str], max_files: int = HASH_BATCH_FILES,
                      max_chars: int = HASH_BATCH_ARGV_CHARS) -> list[list[str]]:
    out: list[list[str]] = []
    cur: list[str] = []
    chars = 0
    for p in paths:
        if cur and (len(cur) >= max_files or chars + len(p) + 1 > max_chars):
            out.append(cur)
            cur, chars = [], 0
        cur.append(p)
        chars += len(p) + 1
    if cur:
        out.append(cur)
    return out


def _argv_path(path: str) -> str:
    # sha256sum treats "-" as stdin even after "--"; find takes a leading "-" as an expression.
    return path if not path.startswith("-") else "./" + path


def sha256sum_argv(paths: Sequence[str]) -> list[str]:
    """One ``sha256sum`` for many files; ``-z`` ends records with NUL and turns off name escaping."""
    return ["sha256sum", "-z", "--", *(_argv_path(p) for p in paths)]


def parse_sha256sum(returncode: int, stdout: str, stderr: str) -> dict[str, str]:
    """``sha256sum -z`` output → {path: hex digest}. Files that could not be read are absent (their
    errors are on stderr and make the exit code 1); anything unparsable raises ``ValueError``."""
    found = {}
    for record in stdout.split("\0"):
        if not record:
            continue
        digest, sep, name = record[:64], record[64:66], record[66:]
        if len(digest) != 64 or sep not in ("  ", " *") or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"unexpected sha256sum output record {record[:200]!r} (stderr: {stderr.strip()[:300]})")
        found[name] = digest
    if returncode != 0 and not found and "No such file" not in stderr and "Is a directory" not in stderr:
        raise ValueError(f"sha256sum failed (exit {returncode}): {stderr.strip()[:500]}")
    return found


def find_files_argv(folder: str) -> list[str]:
    """Every regular file under ``folder`` as NUL-separated (relative path, size, octal mode)."""
    return ["find", "-H", _argv_path(folder), "-type", "f", "-printf", r"%P\0%s\0%m\0"]


def parse_find_files(returncode: int, stdout: str, stderr: str) -> list[FileEntry]:
    if returncode != 0:
        raise ValueError(f"find failed (exit {returncode}): {stderr.strip()[:500]}")
    fields = stdout.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    if len(fields) % 3:
        raise ValueError(f"find output has {len(fields)} fields, not a multiple of 3: {stdout[:300]!r}")
    return sorted((FileEntry(fields[i], int(fields[i + 1]), int(fields[i + 2], 8))
                   for i in range(0, len(fields), 3)), key=lambda e: e.path)


def mismatch(expected_size: int, expected_sha256: str, found_size: int | None, found_sha256: str | None
             ) -> str | None:
    """A sentence saying how a copy differs from its source, or None when it is intact."""
    if found_size is None:
        return "the copy is missing"
    problems = []
    if found_size != expected_size:
        problems.append(f"size {found_size} instead of {expected_size}")
    if found_sha256 != expected_sha256:
        problems.append(f"sha256 {found_sha256 or 'unreadable'} instead of {expected_sha256}")
    return ", ".join(problems) or None


def sha256_local(path: str) -> tuple[int, str]:
    """(size, sha256) of a local file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


# ------------------------------------------------------------------------------------------------
# One side of a transfer: file operations on a transport (local: os; remote: per-thread SFTP)
# ------------------------------------------------------------------------------------------------

class _Side:
    """File operations on one cluster. Remote ones use one SFTP channel per thread over the
    transport's SSH connection, opened on first use and closed by ``close``."""

    def __init__(self, transport: Transport):
        self.transport = transport
        self.name = transport.settings.name
        self.local = isinstance(transport, LocalTransport)
        self._tls = threading.local()
        self._lock = threading.Lock()
        self._channels: list = []
        if not self.local:
            transport.connection()  # connect (or fail with ClusterUnreachable) before any thread starts

    def sftp(self):
        ch = getattr(self._tls, "sftp", None)
        if ch is None or ch.sock.closed:
            ch = self.transport.open_sftp()
            with self._lock:
                self._channels.append(ch)
            self._tls.sftp = ch
        return ch

    def release(self) -> None:
        """Close this thread's SFTP channel (the main thread's, before a pool opens its own)."""
        ch = getattr(self._tls, "sftp", None)
        self._tls.sftp = None
        if ch is not None:
            with self._lock:
                self._channels.remove(ch)
            ch.close()

    def close(self) -> None:
        with self._lock:
            channels, self._channels = self._channels, []
        for ch in channels:
            try:
                ch.close()
            except Exception:  # closing a dead channel may raise anything; it is gone either way
                pass

    def path(self, path: str) -> str:
        if self.local:
            return os.path.abspath(path)
        if not posixpath.isabs(path):
            raise ValueError(f"remote path on {self.name} must be absolute, got {path!r}")
        return posixpath.normpath(path)

    def stat(self, path: str) -> tuple[int, int] | None:
        """(size, mode) of a regular file, None if nothing is there; raises if it is not a file."""
        try:
            st = os.stat(path) if self.local else self.sftp().stat(path)
        except FileNotFoundError:
            return None
        if not stat_module.S_ISREG(st.st_mode):
            raise TransferError(f"[{self.name}] {path} is not a regular file", source=path, destination=path)
        return st.st_size, stat_module.S_IMODE(st.st_mode)

    def is_dir(self, path: str) -> bool:
        try:
            st = os.stat(path) if self.local else self.sftp().stat(path)
        except FileNotFoundError:
            return False
        return stat_module.S_ISDIR(st.st_mode)

    def makedirs(self, folders: Iterable[str]) -> None:
        folders = sorted(set(folders))
        if not folders:
            return
        if self.local:
            for d in folders:
                os.makedirs(d, exist_ok=True)
            return
        for chunk in _chunk_argv_paths(folders):
            check(self.transport.run(["mkdir", "-p", "--", *(_argv_path(d) for d in chunk)]), self.name, "mkdir")

    def hashes(self, files: Sequence[tuple[str, int]]) -> dict[str, str]:
        """{path: sha256} of (path, size) files; unreadable or missing files are absent."""
        if self.local:
            found = {}
            for path, _ in files:
                try:
                    found[path] = sha256_local(path)[1]
                except OSError:
                    pass
            return found
        sizes = dict(files)
        found = {}
        for chunk in _chunk_argv_paths([p for p, _ in files]):
            gb = sum(sizes[p] for p in chunk) / 1e9
            timeout = self.transport.settings.command_timeout_s + HASH_SECONDS_PER_GB * gb
            res = self.transport.run(sha256sum_argv(chunk), timeout=timeout)
            try:
                parsed = parse_sha256sum(res.returncode, res.stdout, res.stderr)
            except ValueError as exc:
                raise TransportError(str(exc), cluster=self.name, argv=res.argv, returncode=res.returncode,
                                     stdout=res.stdout[:500], stderr=res.stderr) from exc
            found.update({p: parsed[_argv_path(p)] for p in chunk if _argv_path(p) in parsed})
        return found

    def list_tree(self, folder: str) -> list[FileEntry] | None:
        """Regular files under ``folder`` (relative paths, sizes, modes), None if it does not exist."""
        if not self.is_dir(folder):
            return None
        if self.local:
            entries = []
            for root, _dirs, names in os.walk(folder):
                for n in names:
                    full = os.path.join(root, n)
                    st = os.lstat(full)
                    if stat_module.S_ISREG(st.st_mode):
                        entries.append(FileEntry(os.path.relpath(full, folder), st.st_size,
                                                 stat_module.S_IMODE(st.st_mode)))
            return sorted(entries, key=lambda e: e.path)
        res = self.transport.run(find_files_argv(folder))
        try:
            return parse_find_files(res.returncode, res.stdout, res.stderr)
        except ValueError as exc:
            raise TransportError(f"listing {folder} failed", cluster=self.name, argv=res.argv,
                                 returncode=res.returncode, stderr=res.stderr) from exc

    def chmod(self, path: str, mode: int) -> None:
        if self.local:
            os.chmod(path, mode & _MODE_BITS)
        else:
            self.sftp().chmod(path, mode & _MODE_BITS)

    def rename(self, src: str, dst: str) -> None:
        """Atomic rename over an existing ``dst``."""
        if self.local:
            os.replace(src, dst)
        else:
            self.sftp().posix_rename(src, dst)

    def remove_quietly(self, path: str) -> None:
        """Remove a temporary file if it is there; a failure is logged, never raised."""
        try:
            if self.local:
                os.unlink(path)
            else:
                try:
                    self.sftp().remove(path)
                except FileNotFoundError:
                    raise
                except Exception:  # the SFTP channel may be broken: try a fresh command instead
                    check(self.transport.run(["rm", "-f", "--", _argv_path(path)]), self.name, "rm")
        except FileNotFoundError:
            pass
        except Exception as exc:  # best effort by design; the caller is already handling a failure
            log.warning("could not remove temporary file %s on %s: %s", path, self.name, exc)


class _StagingMismatch(OSError):
    """The local staging copy (remote → remote) differs from the source."""


def _copy_errors() -> tuple[type[BaseException], ...]:
    import paramiko

    return (OSError, EOFError, paramiko.SSHException, TransportError)


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


class _Session:
    """Two sides, the options of a transfer, and a local staging folder when neither side is local."""

    def __init__(self, src: Transport, dst: Transport, *, attempts: int, after_copy: AfterCopy | None,
                 retry_delay_s: float):
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        self.src = _Side(src)
        self.dst = _Side(dst)
        self.attempts = attempts
        self.after_copy = after_copy
        self.retry_delay_s = retry_delay_s
        self.staging = None if (self.src.local or self.dst.local) else tempfile.mkdtemp(prefix="mpflow-transfer-")
        self._errors = _copy_errors()

    def close(self) -> None:
        self.src.close()
        self.dst.close()
        if self.staging:
            shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> "_Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one copy of one file to its temporary name ------------------------------------------------
    def _write(self, item: _Item, tmp: str) -> None:
        src, dst = self.src, self.dst
        if src.local and dst.local:
            shutil.copyfile(item.source, tmp)
        elif src.local:
            dst.sftp().put(item.source, tmp, confirm=True)
        elif dst.local:
            src.sftp().get(item.source, tmp)
        else:
            stage = os.path.join(self.staging, uuid.uuid4().hex)
            try:
                src.sftp().get(item.source, stage)
                size, sha = sha256_local(stage)
                if problem := mismatch(item.size, item.sha256, size, sha):
                    raise _StagingMismatch(f"local staging copy: {problem}")
                dst.sftp().put(stage, tmp, confirm=True)
            finally:
                if os.path.exists(stage):
                    os.unlink(stage)

    # -- a batch: copy each to a temp, verify all with one hash command, rename the good ones ------
    def run_batch(self, items: Sequence[_Item]) -> list[TransferResult]:
        started: dict[_Item, float] = {}
        failures: dict[_Item, _Failure] = {}
        done: list[TransferResult] = []
        pending = list(items)
        outstanding: set[str] = set()  # temp files that exist or may exist
        try:
            for attempt in range(1, self.attempts + 1):
                written: list[tuple[_Item, str]] = []
                retry: list[_Item] = []
                for item in pending:
                    started.setdefault(item, time.monotonic())
                    tmp = temp_path(item.destination)
                    outstanding.add(tmp)
                    try:
                        self._write(item, tmp)
                    except self._errors as exc:
                        log.warning("copy of %s to %s on %s failed (attempt %d/%d): %s", item.source,
                                    item.destination, self.dst.name, attempt, self.attempts, exc)
                        failures[item] = _Failure(error=f"{type(exc).__name__}: {exc}")
                        self.dst.remove_quietly(tmp)
                        outstanding.discard(tmp)
                        retry.append(item)
                        continue
                    if self.after_copy is not None:
                        self.after_copy(self.dst.transport, tmp)
                    written.append((item, tmp))
                found = self.dst.hashes([(tmp, item.size) for item, tmp in written]) if written else {}
                for item, tmp in written:
                    st = self.dst.stat(tmp)
                    size, sha = (st[0] if st else None), found.get(tmp)
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
                                    item.destination, self.dst.name, attempt, self.attempts, problem)
                        failures[item] = _Failure(size, sha, problem)
                        self.dst.remove_quietly(tmp)
                        outstanding.discard(tmp)
                        retry.append(item)
                pending = retry
                if not pending:
                    break
                if attempt < self.attempts and self.retry_delay_s > 0:
                    time.sleep(self.retry_delay_s * attempt)
        finally:
            for tmp in outstanding:
                self.dst.remove_quietly(tmp)
        if pending:
            raise self._error(pending, failures)
        return done

    def _error(self, pending: list[_Item], failures: dict[_Item, _Failure]) -> TransferError:
        item = pending[0]
        f = failures[item]
        more = f" (and {len(pending) - 1} more file(s) of this batch)" if len(pending) > 1 else ""
        found = (f"found {f.found_size} bytes, sha256 {f.found_sha256 or 'unreadable'}"
                 if f.found_size is not None else f"last error: {f.error}")
        msg = (f"transfer of {item.source} ({self.src.name}) to {item.destination} ({self.dst.name}) failed "
               f"after {self.attempts} attempt(s){more}: expected {item.size} bytes, sha256 {item.sha256}; {found}. "
               f"The temporary copy was removed and the destination left as it was.")
        return TransferError(msg, source=item.source, destination=item.destination, expected_size=item.size,
                             expected_sha256=item.sha256, found_size=f.found_size, found_sha256=f.found_sha256,
                             attempts=self.attempts, last_error=f.error)

    def skipped(self, item: _Item, dst_mode: int, t0: float) -> TransferResult:
        if dst_mode & _MODE_BITS != item.mode & _MODE_BITS:
            self.dst.chmod(item.destination, item.mode)
        return TransferResult(item.source, item.destination, item.size, item.sha256, Action.SKIPPED, 0,
                              time.monotonic() - t0)


# ------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------

def transfer_file(src: Transport, src_path: str, dst: Transport, dst_path: str, *,
                  attempts: int = DEFAULT_ATTEMPTS, after_copy: AfterCopy | None = None,
                  retry_delay_s: float = 0.5) -> TransferResult:
    """Copy one file from ``src`` to ``dst`` (through this machine), verified and atomic.

    Skips the copy when ``dst_path`` already has the source's size and sha256 (its mode bits are
    still brought in line). Raises ``SourceMissing`` if there is no source file (nothing is created
    at the destination) and ``TransferError`` when no intact copy was made in ``attempts`` tries."""
    with _Session(src, dst, attempts=attempts, after_copy=after_copy, retry_delay_s=retry_delay_s) as s:
        t0 = time.monotonic()
        src_path, dst_path = s.src.path(src_path), s.dst.path(dst_path)
        st = s.src.stat(src_path)
        if st is None:
            raise SourceMissing(f"source file {src_path} does not exist on {s.src.name}; nothing was transferred",
                                source=src_path, destination=dst_path)
        sha = s.src.hashes([(src_path, st[0])]).get(src_path)
        if sha is None:
            raise TransferError(f"cannot read source file {src_path} on {s.src.name}", source=src_path,
                                destination=dst_path)
        item = _Item(src_path, dst_path, st[0], st[1], sha)
        there = s.dst.stat(dst_path)
        if there is not None and there[0] == item.size and s.dst.hashes([(dst_path, there[0])]).get(dst_path) == sha:
            return s.skipped(item, there[1], t0)
        s.dst.makedirs([posixpath.dirname(dst_path)])
        return s.run_batch([item])[0]


def transfer_tree(src: Transport, src_dir: str, dst: Transport, dst_dir: str, *, parallel: int = 1,
                  include: Sequence[str] = (), exclude: Sequence[str] = (), attempts: int = DEFAULT_ATTEMPTS,
                  after_copy: AfterCopy | None = None, retry_delay_s: float = 0.5) -> list[TransferResult]:
    """Copy every regular file under ``src_dir`` to the same relative path under ``dst_dir``.

    ``include``/``exclude`` select files by ``fnmatch`` patterns on the relative path (see
    ``select``). Identical files are skipped; the others are copied in batches, verified with one
    hash command per batch, by ``parallel`` worker threads (1: in this thread). Each worker holds up
    to two SSH sessions on a remote side: stay within the login node's MaxSessions (OpenSSH default
    10, so ``parallel <= 4`` fits anywhere). Returns one result per selected file, sorted by
    destination path. On a file that cannot be copied intact it raises ``TransferError`` after the
    other workers finish; files already renamed stay (each is whole)."""
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, got {parallel}")
    with _Session(src, dst, attempts=attempts, after_copy=after_copy, retry_delay_s=retry_delay_s) as s:
        t0 = time.monotonic()
        src_dir, dst_dir = s.src.path(src_dir), s.dst.path(dst_dir)
        listing = s.src.list_tree(src_dir)
        if listing is None:
            raise SourceMissing(f"source folder {src_dir} does not exist on {s.src.name}; nothing was transferred",
                                source=src_dir, destination=dst_dir)
        src_entries = select(listing, include, exclude)
        src_hash = s.src.hashes([(posixpath.join(src_dir, e.path), e.size) for e in src_entries])
        unreadable = [e.path for e in src_entries if posixpath.join(src_dir, e.path) not in src_hash]
        if unreadable:
            raise TransferError(f"cannot read {len(unreadable)} source file(s) under {src_dir} on {s.src.name}: "
                                f"{unreadable[:5]}", source=src_dir, destination=dst_dir)
        src_entries = [replace(e, sha256=src_hash[posixpath.join(src_dir, e.path)]) for e in src_entries]

        dst_entries = s.dst.list_tree(dst_dir) or []
        sizes = {e.path: e.size for e in dst_entries}
        want = paths_to_hash_at_destination(src_entries, dst_entries)
        dst_hash = s.dst.hashes([(posixpath.join(dst_dir, p), sizes[p]) for p in want])
        dst_entries = [replace(e, sha256=dst_hash.get(posixpath.join(dst_dir, e.path))) for e in dst_entries]
        plan = plan_tree(src_entries, dst_entries)

        def item(e: FileEntry) -> _Item:
            return _Item(posixpath.join(src_dir, e.path), posixpath.join(dst_dir, e.path), e.size, e.mode, e.sha256)

        dst_modes = {e.path: e.mode for e in dst_entries}
        results = [s.skipped(item(e), dst_modes[e.path], t0) for e in plan.skip]
        items = [item(e) for e in plan.copy]
        s.dst.makedirs([dst_dir, *(posixpath.dirname(i.destination) for i in items)])
        work = batches(items, parallel)
        if parallel == 1 or len(work) <= 1:
            for b in work:
                results += s.run_batch(b)
        else:
            # SSH sessions per remote side: one SFTP channel per worker plus, while a batch is verified,
            # one command; OpenSSH's default MaxSessions is 10, so parallel <= 4 fits any login node.
            s.src.release()
            s.dst.release()
            with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="mpflow-transfer") as pool:
                futures = [pool.submit(s.run_batch, b) for b in work]
                errors = []
                for f in futures:
                    try:
                        results += f.result()
                    except Exception as exc:  # collected so every worker finishes and cleans up first
                        errors.append(exc)
            if errors:
                raise errors[0]
        return sorted(results, key=lambda r: r.path)
