"""The plan of a transfer, as pure functions on listings: which files to copy, which to skip, in what batches.

No I/O here: the engine (``mpflow.transfers.engine``) lists and hashes both sides through their transports
and hands the listings to these functions. A file is skipped only when the destination already has
it with the same size and sha256; everything else selected is copied, in batches that bound both
the files per verification command and the work per worker thread.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from enum import StrEnum
from typing import Iterable, Sequence

from mpflow.clusters.transport.base import FileEntry, is_temp_name

BATCH_FILES = 64
"""At most this many files per batch (one hash command verifies a batch)."""


class Action(StrEnum):
    COPIED = "copied"
    SKIPPED = "skipped-identical"


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


def batches(items: Sequence, parallel: int = 1, max_files: int = BATCH_FILES) -> list[list]:
    """Split ``items`` into consecutive batches of at most ``max_files``, and into at least
    ``parallel`` batches when there are enough items, so every worker gets some."""
    if not items:
        return []
    size = max(1, min(max_files, -(-len(items) // max(1, parallel))))
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


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
