"""The analysis store: per-part Parquet tables keyed by (model_id, stage, frame), written once.

This module owns where the frame-level tables live and how they are read back:

    <root>/<kind>/<stage>/model-<model_id>/<part_id>.parquet

for the kinds of :data:`KINDS`.  One *part* is the frames of one source analysed by one chunk task
(:class:`mpflow.analysis.frames.ChunkPart`).  Every kind carries ``model_id``, ``stage`` and (but
``keys``) ``frame`` columns, so the geometry and the interaction tables of a frame always join on
the same key.

Commit rule: a part's ``frames`` file is written last; a part without it is incomplete (the task
died) and :meth:`TableStore.clean_incomplete` removes its other files before new work is planned.
:meth:`TableStore.done_frames` (read from the ``frames`` files only) is what makes re-runs
incremental.  Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: table kinds, in write order (``frames`` last: it marks a part complete)
KINDS: tuple[str, ...] = ("interactions", "geometry", "occurrences", "keys", "frames")


def write_parquet(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as Parquet at ``path`` through a temporary name in the same folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def read_parquet_files(paths: list[Path], columns: list[str] | None = None) -> pd.DataFrame | None:
    """Concatenate Parquet files (dictionary columns unified), or None when there are none."""
    if not paths:
        return None
    tables = [pq.read_table(p, columns=columns) for p in paths]
    table = pa.concat_tables(tables, promote_options="permissive").unify_dictionaries()
    return table.to_pandas()


class TableStore:
    """The frame-level tables of one analysis (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def part_path(self, kind: str, stage: str, model_id: int, part_id: str) -> Path:
        if kind not in KINDS:
            raise ValueError(f"unknown table kind {kind!r}; kinds: {', '.join(KINDS)}")
        return self.root / kind / stage / f"model-{int(model_id)}" / f"{part_id}.parquet"

    def write_part(self, stage: str, model_id: int, part_id: str,
                   tables: dict[str, pd.DataFrame]) -> None:
        """Write one part's tables, ``frames`` last (its presence marks the part complete)."""
        missing = set(KINDS) - set(tables)
        if missing:
            raise ValueError(f"part {part_id}: missing table(s) {sorted(missing)}")
        for kind in KINDS:
            write_parquet(tables[kind], self.part_path(kind, stage, model_id, part_id))

    def files(self, kind: str, stages: list[str] | None = None) -> list[Path]:
        base = self.root / kind
        if not base.is_dir():
            return []
        dirs = [base / s for s in stages] if stages is not None else [base]
        return sorted(p for d in dirs if d.is_dir() for p in d.rglob("*.parquet"))

    def clean_incomplete(self) -> list[Path]:
        """Remove the files of parts whose ``frames`` file is missing; return what was removed."""
        complete = {p.relative_to(self.root / "frames") for p in self.files("frames")}
        removed = []
        for kind in KINDS[:-1]:
            for p in self.files(kind):
                if p.relative_to(self.root / kind) not in complete:
                    p.unlink()
                    removed.append(p)
        for p in self.root.rglob(".*.tmp"):
            p.unlink()
            removed.append(p)
        return removed

    def read(self, kind: str, stages: list[str] | None = None,
             columns: list[str] | None = None) -> pd.DataFrame | None:
        """All parts of one kind (optionally some stages / columns), or None when there are none."""
        return read_parquet_files(self.files(kind, stages), columns)

    def frames(self) -> pd.DataFrame:
        """The frames table of every complete part (empty with the key columns when none)."""
        df = self.read("frames")
        if df is None:
            return pd.DataFrame({"model_id": pd.Series([], dtype="int64"),
                                 "stage": pd.Series([], dtype="object"),
                                 "frame": pd.Series([], dtype="int64")})
        return df

    def done_frames(self) -> set[tuple[int, str, int]]:
        """(model_id, stage, frame) of every frame already analysed."""
        df = self.read("frames", columns=["model_id", "stage", "frame"])
        if df is None:
            return set()
        return set(zip(df["model_id"].astype(int), df["stage"].astype(str), df["frame"].astype(int)))
