"""Which frames the analysis reads: the manifest records, frame selections, tags and chunks.

This module owns the *inputs* of the analysis, as plain records the project database can fill:

- :class:`FrameSource`: one model at one stage — database id, mutant, group (``ConformationN`` or
  ``None``), model name, stage and the files to read (a docked model is a single structure, an
  MD stage a topology plus a trajectory).  A list of them is the *manifest*
  (:func:`read_manifest` reads one from CSV or JSON).
- Frame selections, the one grammar of mpflow (``mpflow analyse --frames STAGE=SPEC``, the
  analysis flow's ``frames`` per stage, ``mpflow interactions --frames SPEC``), parsed by
  :func:`parse_frame_spec` into a :class:`FrameSpec`:

  ==========================  ======================================================================
  ``all``                     every frame
  ``N``                       frame N alone (negative counts from the end: ``-1`` is the last)
  ``START:STOP[:STEP]``       a Python slice, every part optional (``::`` is every frame)
  ``last:N[:STEP]``           the last N frames, every STEP-th of them
  ``windows:SIZE:EVERY``      SIZE consecutive frames every EVERY frames (e.g. windows of a URMD run)
  ==========================  ======================================================================

  A spec that does not parse raises :class:`FrameSelectionError`, one line naming the spec.
- Tags (:func:`frame_tag`): a docked model's frame is ``ConformationN`` or ``None``; frame n of an
  XXMD stage is ``ConformationN:XXMD:Protein_n`` (``None:PRMD:Protein_n`` when unclassified).
- Chunks (:func:`plan_chunks`): the frames still missing from the store, cut into pieces of at most
  ``chunk_frames`` frames of one source; a chunk is the unit of work of one task.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

import MDAnalysis as mda
import numpy as np
from pydantic import BaseModel, Field, ValidationError, field_validator

#: stages the analysis knows, in pipeline order ("docked": the imported models, one frame each)
STAGES: tuple[str, ...] = ("docked", "emmd", "prmd", "urmd")
Stage = Literal["docked", "emmd", "prmd", "urmd"]
MUTANT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
GROUP_PATTERN = r"^Conformation[0-9]+$"

#: default frame selection per stage (EMMD: its final frame; PRMD: its last 50; URMD: all)
DEFAULT_FRAME_SPECS: dict[str, str] = {"docked": "all", "emmd": "last:1", "prmd": "last:50",
                                       "urmd": "all"}


class FrameSource(BaseModel):
    """One model at one stage, and where its frames are (a manifest row)."""

    model_id: int = Field(description="Database id of the model (the key every table carries).")
    mutant: str = Field(description="Mutant name, e.g. GpA-WT or G83I.", pattern=MUTANT_PATTERN)
    group: str | None = Field(None, description="ConformationN, or None for an unclassified model.")
    name: str = Field(description="Model name (from its file name).", min_length=1)
    stage: Stage = Field(description="docked, emmd, prmd or urmd.")
    topology: Path = Field(description="Structure/topology file (PDB, GRO, TPR, ...).")
    trajectory: Path | None = Field(None, description="Trajectory (XTC, TRR, ...); none for a docked "
                                    "model or a single-structure stage.")

    @field_validator("group", mode="before")
    @classmethod
    def _group(cls, value):
        if value in (None, "", "None"):
            return None
        if not re.fullmatch(GROUP_PATTERN, str(value)):
            raise ValueError(f"group must be ConformationN or None, got {value!r}")
        return str(value)

    @property
    def conformation(self) -> str:
        """The group as a label: ``ConformationN`` or ``"None"``."""
        return self.group or "None"

    def files(self) -> list[Path]:
        return [self.topology] + ([self.trajectory] if self.trajectory else [])


def frame_tag(group: str | None, stage: str, frame: int) -> str:
    """The frame's tag (see the module docstring)."""
    conf = group or "None"
    if stage == "docked":
        return conf
    return f"{conf}:{stage.upper()}:Protein_{int(frame)}"


# --------------------------------------------------------------------------- frame specs
@dataclass(frozen=True)
class FrameSpec:
    """A parsed frame selection (see :func:`parse_frame_spec`); :meth:`frames` applies it."""

    kind: Literal["all", "last", "slice", "windows"]
    a: int | None = None
    b: int | None = None
    step: int = 1

    def frames(self, n_frames: int) -> np.ndarray:
        """Selected frame indices (sorted, unique) of a trajectory of ``n_frames`` frames."""
        idx = np.arange(n_frames, dtype=np.int64)
        if self.kind == "all":
            return idx[:: self.step]
        if self.kind == "last":
            return idx[max(0, n_frames - int(self.a)):][:: self.step]
        if self.kind == "slice":
            return idx[slice(self.a, self.b, self.step)]
        size, every = int(self.a), int(self.b)
        starts = np.arange(0, n_frames, every)
        out = (starts[:, None] + np.arange(size)[None, :]).ravel()
        return out[out < n_frames]


#: the grammar in one line (help texts and error messages)
FRAME_GRAMMAR = "all, N, START:STOP[:STEP], last:N[:STEP] or windows:SIZE:EVERY"


class FrameSelectionError(ValueError):
    """A frame selection that does not parse: ``text`` is the spec, ``reason`` why (one line)."""

    def __init__(self, text: str, reason: str):
        self.text = text
        self.reason = reason
        super().__init__(f"frame selection {text!r}: {reason}")


def parse_frame_spec(text: str) -> FrameSpec:
    """One frame selection of the grammar in the module docstring (case-insensitive)."""
    t = str(text).strip().lower()
    parts = t.split(":")

    def bad(reason: str = f"expected {FRAME_GRAMMAR}") -> FrameSelectionError:
        return FrameSelectionError(text, reason)

    def as_int(s: str, reason: str) -> int | None:
        s = s.strip()
        if not s:
            return None
        try:
            return int(s)
        except ValueError:
            raise bad(reason) from None

    if t == "all":
        return FrameSpec("all")
    if parts[0] == "last":
        last = "last:N[:STEP] needs whole numbers N >= 1 and STEP >= 1"
        if len(parts) not in (2, 3):
            raise bad(last)
        n = as_int(parts[1], last)
        step = as_int(parts[2], last) if len(parts) == 3 else 1
        if n is None or n < 1 or step is None or step < 1:
            raise bad(last)
        return FrameSpec("last", n, None, step)
    if parts[0] == "windows":
        windows = "windows:SIZE:EVERY needs 1 <= SIZE <= EVERY"
        if len(parts) != 3:
            raise bad(windows)
        size, every = as_int(parts[1], windows), as_int(parts[2], windows)
        if size is None or every is None or size < 1 or every < size:
            raise bad(windows)
        return FrameSpec("windows", size, every)
    if len(parts) == 1:
        frame = as_int(parts[0], f"expected {FRAME_GRAMMAR}")
        if frame is None:
            raise bad()
        return FrameSpec("slice", frame, frame + 1 if frame != -1 else None)
    if len(parts) in (2, 3):
        numbers = "START, STOP and STEP must be integers"
        start, stop = as_int(parts[0], numbers), as_int(parts[1], numbers)
        step = as_int(parts[2], numbers) if len(parts) == 3 else None
        if step is not None and step < 1:
            raise bad("STEP must be positive")
        return FrameSpec("slice", start, stop, step or 1)
    raise bad()


def parse_frame_specs(specs: dict[str, str] | None) -> dict[str, FrameSpec]:
    """Per-stage specs over :data:`DEFAULT_FRAME_SPECS`; unknown stages refused."""
    merged = dict(DEFAULT_FRAME_SPECS)
    for stage, spec in (specs or {}).items():
        if stage not in STAGES:
            raise ValueError(f"frame selection for unknown stage {stage!r}; stages: {', '.join(STAGES)}")
        merged[stage] = spec
    return {s: parse_frame_spec(v) for s, v in merged.items()}


# --------------------------------------------------------------------------- manifest
MANIFEST_COLUMNS = ("model_id", "mutant", "group", "name", "stage", "topology", "trajectory")


def read_manifest(path: str | Path) -> list[FrameSource]:
    """Manifest rows from CSV (header :data:`MANIFEST_COLUMNS`) or JSON (a list of objects).

    Relative file paths are taken relative to the manifest's folder.  Errors name the file and row.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"manifest {path}: file not found")
    try:
        if path.suffix.lower() == ".json":
            rows = json.loads(path.read_text())
            if not isinstance(rows, list):
                raise ValueError("expected a JSON list of objects")
        elif path.suffix.lower() == ".csv":
            with path.open(newline="") as fh:
                rows = list(csv.DictReader(fh))
        else:
            raise ValueError("suffix must be .csv or .json")
    except (OSError, ValueError) as exc:
        raise ValueError(f"manifest {path}: {str(exc).splitlines()[0]}") from None
    out = []
    for i, row in enumerate(rows, start=1):
        row = {k: (v if v not in ("",) else None) for k, v in dict(row).items()}
        for key in ("topology", "trajectory"):
            if row.get(key) and not Path(row[key]).is_absolute():
                row[key] = str(path.parent / row[key])
        try:
            out.append(FrameSource(**row))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(x) for x in err["loc"]) or "row"
            raise ValueError(f"manifest {path}, row {i}: {where}: {err['msg']}") from None
    check_manifest(out, str(path))
    return out


def check_manifest(sources: Iterable[FrameSource], where: str = "manifest") -> None:
    """One model id means one model: same mutant, group and name on every row; (id, stage) once."""
    seen: dict[int, tuple] = {}
    pairs: set[tuple[int, str]] = set()
    for s in sources:
        ident = (s.mutant, s.group, s.name)
        if seen.setdefault(s.model_id, ident) != ident:
            raise ValueError(f"{where}: model id {s.model_id} names two models "
                             f"({seen[s.model_id]} and {ident})")
        if (s.model_id, s.stage) in pairs:
            raise ValueError(f"{where}: model id {s.model_id} stage {s.stage} appears twice")
        pairs.add((s.model_id, s.stage))
        for f in s.files():
            if not Path(f).is_file():
                raise ValueError(f"{where}: model {s.model_id} ({s.name}) stage {s.stage}: "
                                 f"file not found: {f}")


def write_manifest(sources: Iterable[FrameSource], path: str | Path) -> Path:
    """Write a manifest as CSV or JSON (temp name, then rename)."""
    path = Path(path)
    rows = [s.model_dump(mode="json") for s in sources]
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix.lower() == ".json":
        tmp.write_text(json.dumps(rows, indent=1))
    else:
        with tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(MANIFEST_COLUMNS))
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r[k] is None else r[k]) for k in MANIFEST_COLUMNS})
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- chunks
@dataclass(frozen=True)
class ChunkPart:
    """Frames of one source inside a chunk (sorted frame indices); stored as one set of files."""

    source: FrameSource
    frames: tuple[int, ...]

    @property
    def part_id(self) -> str:
        f = self.frames
        return f"f{f[0]:09d}-{f[-1]:09d}-n{len(f)}"

    def runs(self) -> list[tuple[int, int, int]]:
        """The frames as arithmetic runs ``(start, stop, step)`` (what a slice reader takes)."""
        return arithmetic_runs(np.asarray(self.frames, dtype=np.int64))


@dataclass(frozen=True)
class Chunk:
    """The work of one task: at most ``chunk_frames`` frames, from one or more sources."""

    parts: tuple[ChunkPart, ...]

    @property
    def n_frames(self) -> int:
        return sum(len(p.frames) for p in self.parts)

    def describe(self) -> str:
        return ", ".join(f"model {p.source.model_id} {p.source.stage} frames "
                         f"{p.frames[0]}..{p.frames[-1]} ({len(p.frames)})" for p in self.parts)


def arithmetic_runs(frames: np.ndarray) -> list[tuple[int, int, int]]:
    """Split sorted frame indices into maximal runs of constant step, as (start, stop, step)."""
    out: list[tuple[int, int, int]] = []
    i, n = 0, len(frames)
    while i < n:
        if i == n - 1:
            out.append((int(frames[i]), int(frames[i]) + 1, 1))
            break
        step = int(frames[i + 1] - frames[i])
        j = i + 1
        while j + 1 < n and frames[j + 1] - frames[j] == step:
            j += 1
        out.append((int(frames[i]), int(frames[j]) + 1, step))
        i = j + 1
    return out


def n_frames_of(source: FrameSource) -> int:
    """Number of frames in the source's files (MDAnalysis reads only the trajectory's index)."""
    if source.trajectory is None:
        return 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(source.topology), str(source.trajectory))
        return len(u.trajectory)


def wanted_frames(source: FrameSource, specs: dict[str, FrameSpec]) -> np.ndarray:
    """The frames of ``source`` its stage's selection asks for (a docked model: frame 0)."""
    if source.stage == "docked" or source.trajectory is None:
        return np.zeros(1, dtype=np.int64)
    return specs[source.stage].frames(n_frames_of(source))


def plan_chunks(wanted: list[tuple[FrameSource, np.ndarray]], done: set[tuple[int, str, int]],
                chunk_frames: int) -> list[Chunk]:
    """Chunks of at most ``chunk_frames`` frames covering the wanted frames not yet ``done``.

    ``wanted``: each source with its selected frames; ``done``: the (model_id, stage, frame) keys
    already in the store.  Sources are taken in (stage, model id) order and packed greedily, so
    many one-frame docked models share a task and a long trajectory spreads over several.
    """
    if chunk_frames < 1:
        raise ValueError("chunk_frames must be >= 1")
    order = {s: k for k, s in enumerate(STAGES)}
    chunks: list[Chunk] = []
    parts: list[ChunkPart] = []
    room = chunk_frames
    for source, frames in sorted(wanted, key=lambda sf: (order[sf[0].stage], sf[0].model_id)):
        todo = [int(f) for f in np.asarray(frames).tolist()
                if (source.model_id, source.stage, int(f)) not in done]
        while todo:
            take, todo = todo[:room], todo[room:]
            parts.append(ChunkPart(source, tuple(take)))
            room -= len(take)
            if room == 0:
                chunks.append(Chunk(tuple(parts)))
                parts, room = [], chunk_frames
    if parts:
        chunks.append(Chunk(tuple(parts)))
    return chunks
