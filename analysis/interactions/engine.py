"""Interaction engine: interchain interaction fingerprints of a trajectory as one long table.

This module owns the *runner*: :class:`FrameRunner` (one frame's rows from prebuilt tables),
:class:`InteractionAnalysis` (the MDAnalysis ``AnalysisBase`` template) and
:func:`compute_interactions` (frames cut into chunks, run in worker processes).  What it runs is
split along its seams in the rest of the package (:mod:`mpflow.analysis.interactions`, whose
``__init__`` is the public import path): the table, the types, the topology tables, the per-frame
geometry, the chemistry and the profiles; chains, bonds and periodic boxes are
:mod:`mpflow.analysis.structure`'s.

Per frame: molecules split across the box are made whole (or the run stops with a hint to
``gmx trjconv -pbc mol`` when there are no bonds); one neighbour search per atom set the enabled
types read and one over the group centroids; every type derives its rows with numpy; the prolif
profile drops residue pairs outside ProLIF's 6.0 A vicinity; symmetric rows are oriented and one
row per key pair is kept.  Offsets come from the ring order of the chains (every protein chain,
selected or not) at the first analysed frame; see :mod:`~mpflow.analysis.structure.ring_order`.

Row orientation: directional types put the donor / cation / knob on side *a*.  Symmetric types
(hydrophobic, vdw, pi-stacking): with disjoint selections side *a* is the sel-a atom; with
overlapping ones (default ``protein`` against ``protein``) the row is turned so its offset is +1
rather than -1, and for offsets 0 / None / dimers so that (resid, atom rank) of *a* is the
smaller.  Symmetric copies in a C_n ring therefore share one key
(:func:`~mpflow.analysis.interactions.table.interaction_keys`).

Parallel runs (:func:`compute_interactions` with ``n_jobs``): the topology tables are built once,
in the calling process, which computes the first chunk of frames itself while the workers do the
others.  When the caller runs no other thread the workers are forked and inherit the tables
(nothing rebuilt or copied; each opens its own trajectory reader); otherwise (e.g. inside a
Prefect task) a fork server starts them and the tables and a reader are shipped pickled.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
from MDAnalysis.analysis.base import AnalysisBase

from mpflow import __version__
from mpflow.analysis.interactions.base import Interaction
from mpflow.analysis.interactions.frame_geometry import FrameContext, orient_and_reduce
from mpflow.analysis.interactions.table import METADATA_KEY, TYPE_DTYPE, empty_table, sorted_categorical
from mpflow.analysis.interactions.topology import InteractionTables, NothingToCompute
from mpflow.analysis.interactions.types import make_interactions
from mpflow.analysis.structure.periodic import FIX_HINT, box_matrix
from mpflow.analysis.structure.ring_order import OFFSET_NONE, offset_table


class BrokenMolecules(ValueError):
    """A frame's molecules cross the periodic box and cannot be made whole (no bonds)."""


class MoleculesMadeWhole(UserWarning):
    """Some frames had molecules split across the periodic box; they were made whole."""


class OutsideProlifCoverage(UserWarning):
    """criteria prolif on residues other than the 20 standard amino acids (agreement unverified)."""


def select_frames(n_frames: int, start: int | None = None, stop: int | None = None,
                  step: int | None = None, frames=None) -> np.ndarray:
    """Frame indices ``range(n_frames)[start:stop:step]``, or the given ``frames`` (e.g. a frame
    selection's :meth:`~mpflow.analysis.frames.FrameSpec.frames`); :class:`NothingToCompute`
    when none is selected, ``ValueError`` for a frame outside the trajectory or both forms."""
    if frames is not None:
        if (start, stop, step) != (None, None, None):
            raise ValueError("give the frames or start/stop/step, not both")
        selected = np.asarray(frames, dtype=np.int64).ravel()
        outside = selected[(selected < 0) | (selected >= n_frames)]
        if len(outside):
            raise ValueError(f"frame {int(outside[0])}: not in the trajectory (0-{n_frames - 1})")
        spec = "" if len(selected) else " (an empty list)"
    else:
        if step is not None and step <= 0:
            raise ValueError(f"frame step {step}: must be positive")
        selected = np.arange(n_frames)[slice(start, stop, step)]
        spec = " " + ":".join("" if v is None else str(v) for v in (start, stop))
        spec += "" if step is None else f":{step}"
    if len(selected) == 0:
        reason = f"selects no frame of the {n_frames} in the trajectory (0-{n_frames - 1})"
        raise NothingToCompute(f"frames{spec}: {reason}", option="frames", reason=reason)
    return selected


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def plan_workers(n_jobs: int, n_frames: int) -> tuple[int, str | None]:
    """Worker processes for ``n_jobs`` (-1: one per CPU) and, when it had to be capped, why.

    ``n_jobs`` 0 or below -1 raises ``ValueError``; more than the available CPUs is capped to them
    (processes beyond the cores only add overhead); never more than ``n_frames``.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise ValueError(f"n_jobs={n_jobs!r}: must be an integer")
    cpus = available_cpus()
    if n_jobs == -1:
        n = cpus
    elif n_jobs < 1:
        raise ValueError(f"n_jobs={n_jobs}: must be a positive number of processes, or -1 for one "
                         "per CPU")
    else:
        n = int(n_jobs)
    note = None
    if n > cpus:
        note = f"is more than the {cpus} CPU(s) available; using {cpus}"
        n = cpus
    return max(1, min(n, n_frames)), note


class FrameRunner:
    """Per-frame work over prebuilt tables: coordinates in, hit chunks out (picklable)."""

    def __init__(self, tables: InteractionTables, interactions: list[Interaction],
                 ring_order: list[str]):
        self.tables = tables
        self.interactions = interactions
        self.ring_order = list(ring_order)
        self.offsets = offset_table(self.ring_order, tables.chain_names)
        self.canonical = tables.pair_mode != "disjoint"
        self.type_codes = [TYPE_DTYPE.categories.get_loc(it.name) for it in interactions]

    def whole_positions(self, frame: int, positions: np.ndarray, box) -> tuple[np.ndarray, bool]:
        """``positions`` with molecules whole, and whether they had to be repaired."""
        t = self.tables
        if box_matrix(box) is None:
            return positions, False
        if t.whole is not None:
            if t.whole.broken(positions, box):
                return t.whole.make_whole(positions, box), True
            return positions, False
        if t.span_check is not None and t.span_check.broken(positions, box):
            raise BrokenMolecules(
                f"frame {frame}: molecules are split across the periodic box and cannot be made "
                f"whole without bonds ({t.bonds_error}); {FIX_HINT}")
        return positions, False

    def process(self, frame: int, time: float, positions: np.ndarray, box) -> tuple[list, bool]:
        """Rows of one frame as (frame, time, type code, Hits) chunks, and whether it was repaired."""
        positions, repaired = self.whole_positions(frame, positions, box)
        ctx = FrameContext(self.tables, positions, box)
        chunks = []
        for code, it in zip(self.type_codes, self.interactions):
            hits = it.detect(ctx)
            if it.vicinity:
                hits = ctx.vicinity_filter(hits, it.level)
            if len(hits) == 0:
                continue
            hits = orient_and_reduce(hits, it.symmetric, self.tables, self.offsets, self.canonical)
            chunks.append((frame, time, code, hits))
        return chunks, repaired

    @staticmethod
    def pack(chunks: list) -> dict[str, np.ndarray]:
        """Chunks as one set of compact row arrays (cheap to send between processes): one entry per
        chunk for the frame, time, type and fallback flag with the chunk's row count, 32-bit atom
        and label indices, and the float32 distances and angles the table stores."""
        if not chunks:
            return {}

        def cat(attr, dtype):
            return np.concatenate([getattr(h, attr) for *_, h in chunks]).astype(dtype, copy=False)

        return {
            "rows": np.array([len(h) for *_, h in chunks], dtype=np.int64),
            "frame": np.array([c[0] for c in chunks], dtype=np.int64),
            "time": np.array([c[1] for c in chunks], dtype=np.float64),
            "code": np.array([c[2] for c in chunks], dtype=np.int64),
            "fallback": np.array([h.fallback for *_, h in chunks], dtype=bool),
            **{k: cat(k, np.int32) for k in ("a", "b", "label_a", "label_b", "hydrogen")},
            **{k: cat(k, np.float32) for k in ("distance", "angle")},
        }

    def build_table(self, packed: list[dict[str, np.ndarray]]) -> pd.DataFrame:
        """The table from packed row arrays (see :meth:`pack`), in the given order."""
        t = self.tables
        packed = [p for p in packed if p]
        if not packed:
            return empty_table()
        rows = {k: np.concatenate([p[k] for p in packed]) for k in packed[0]}
        for k in ("frame", "time", "code", "fallback"):  # one per chunk of hits -> one per row
            rows[k] = np.repeat(rows[k], rows["rows"])
        a, b, hyd = rows["a"], rows["b"], rows["hydrogen"]
        names = t.labels.values
        ca, cb = t.chain[a], t.chain[b]
        off = self.offsets[ca, cb].astype(np.int64)
        offset = pd.array(off, dtype="Int64")
        offset[off == OFFSET_NONE] = pd.NA
        # every column already in its schema dtype (string columns as canonical categoricals), in
        # schema order: one DataFrame without apply_schema's second pass (the table's serial cost)
        columns = {
            "frame": rows["frame"],
            "time_ps": rows["time"],
            "type": pd.Categorical.from_codes(rows["code"], dtype=TYPE_DTYPE),
            "chain_a": sorted_categorical(ca, t.chain_names),
            "resid_a": t.resid[a],
            "resname_a": sorted_categorical(t.resname_code[a], t.resnames),
            "atoms_a": sorted_categorical(rows["label_a"], names),
            "index_a": a.astype(np.int64),
            "chain_b": sorted_categorical(cb, t.chain_names),
            "resid_b": t.resid[b],
            "resname_b": sorted_categorical(t.resname_code[b], t.resnames),
            "atoms_b": sorted_categorical(rows["label_b"], names),
            "index_b": b.astype(np.int64),
            "hydrogen": sorted_categorical(np.where(hyd >= 0, t.atom_label[hyd], -1), names),
            "offset": offset,
            "distance_A": rows["distance"],
            "angle_deg": rows["angle"],
            "fallback": rows["fallback"],
        }
        return pd.DataFrame(columns, copy=False)


def _metadata(runner: FrameRunner, *, sel_a, sel_b, intra, min_residue_separation, chain_attr,
              ring_sel) -> dict:
    """How a table was made.  Only what is the same for every chunk of one analysis (no frame
    numbers), so tables of chunks concatenated with pandas keep it."""
    t = runner.tables
    its = runner.interactions
    criteria = its[0].criteria if its else "mpflow"
    return {
        "criteria": criteria,
        "types": [it.name for it in its],
        "parameters": {it.name: dict(it.params) for it in its},
        "sources": {it.name: type(it).sources[criteria] for it in its},
        "vicinity_A": t.vicinity_A,
        "sel_a": sel_a, "sel_b": sel_b, "intra": bool(intra),
        "min_residue_separation": int(min_residue_separation), "chain_attr": chain_attr,
        "ring_sel": ring_sel, "chains": list(t.chain_names), "bonds": t.bonds_source,
        "nonstandard_residues": list(t.props.uncovered),
        "mpflow_version": __version__,
    }


def _note_made_whole(made_whole: int, n_frames: int, tables: InteractionTables) -> None:
    if made_whole:
        warnings.warn(f"{made_whole} of {n_frames} frame(s) had molecules split across the "
                      f"periodic box; made whole from the {tables.bonds_source} bonds",
                      MoleculesMadeWhole, stacklevel=3)


# --------------------------------------------------------------------------- MDAnalysis style
class InteractionAnalysis(AnalysisBase):
    """Interchain interaction fingerprints of ``universe`` frame by frame (MDAnalysis template).

    Parameters
    ----------
    universe : MDAnalysis Universe
    sel_a, sel_b : selection strings (default every protein chain against every other)
    types : names from :data:`INTERACTION_TYPES` (default: all)
    params : per-type threshold overrides, e.g. ``{"hbond": {"distance_max_A": 3.2}}``
    criteria : "mpflow" (default) or "prolif" (ProLIF 2.2's definitions, see interaction_types)
    intra : also report pairs within one chain (offset 0), ``min_residue_separation`` apart
    chain_attr : "auto", "chainIDs", "segids", "molnums" or "fragments"
    ring_sel : atoms whose chains make the ring (default every protein chain, selected or not);
        chains outside it get offset NA
    ring_order : chain labels in ring order; default: from the geometry of the first analysed frame
    tables : prebuilt :class:`InteractionTables` for the same universe and options

    After ``run(start, stop, step)``: ``results.table`` (schema :data:`INTERACTION_SCHEMA`,
    metadata in ``attrs``), ``results.ring_order`` and ``results.frames_made_whole``.
    """

    def __init__(self, universe, sel_a: str = "protein", sel_b: str = "protein",
                 types: list[str] | None = None,
                 params: dict[str, dict[str, float]] | None = None, *, criteria: str = "mpflow",
                 intra: bool = False, min_residue_separation: int = 3, chain_attr: str = "auto",
                 ring_sel: str = "protein", ring_order: list[str] | None = None,
                 tables: InteractionTables | None = None, verbose: bool = False):
        super().__init__(universe.trajectory, verbose=verbose)
        self.universe = universe
        self.interactions = (tables.interactions if tables is not None
                             else make_interactions(types, params, criteria))
        self.tables = tables if tables is not None else InteractionTables(
            universe, sel_a, sel_b, self.interactions, criteria=criteria, intra=intra,
            min_residue_separation=min_residue_separation, chain_attr=chain_attr,
            ring_sel=ring_sel)
        self._options = dict(sel_a=sel_a, sel_b=sel_b, intra=intra,
                             min_residue_separation=min_residue_separation, chain_attr=chain_attr,
                             ring_sel=ring_sel)
        self._given_order = list(ring_order) if ring_order is not None else None

    def _prepare(self):
        if self._given_order is None:
            ts = None
            for ts in self._sliced_trajectory:  # position the universe on the first frame
                break
            order = first_frame_ring_order(self.tables, ts)
        else:
            order = self._given_order
        self.results.ring_order = order
        self._runner = FrameRunner(self.tables, self.interactions, order)
        self._chunks: list = []
        self._frames: list[int] = []
        self._made_whole = 0

    def _single_frame(self):
        ts = self._ts
        chunks, repaired = self._runner.process(ts.frame, ts.time, ts.positions, ts.dimensions)
        self._chunks += chunks
        self._frames.append(ts.frame)
        self._made_whole += repaired

    def _conclude(self):
        table = self._runner.build_table([self._runner.pack(self._chunks)])
        table.attrs[METADATA_KEY] = _metadata(self._runner, **self._options)
        _note_made_whole(self._made_whole, len(self._frames), self.tables)
        self.results.table = table
        self.results.frames_made_whole = self._made_whole


def first_frame_ring_order(tables: InteractionTables, ts) -> list[str]:
    """Ring order from timestep ``ts`` (molecules made whole first when needed)."""
    if ts is None:
        return sorted(tables.chain_names)
    runner = FrameRunner(tables, [], tables.chain_names)
    positions, _ = runner.whole_positions(ts.frame, ts.positions, ts.dimensions)
    return tables.ring_order(positions, ts.dimensions)


# --------------------------------------------------------------------------- chunks, processes
def _run_chunk(runner: FrameRunner, reader, frames: np.ndarray) -> tuple[dict, int]:
    """Packed rows of ``frames`` read with ``reader``, and how many frames were made whole."""
    chunks: list = []
    made_whole = 0
    for ts in reader[frames]:
        got, repaired = runner.process(ts.frame, ts.time, ts.positions, ts.dimensions)
        chunks += got
        made_whole += repaired
    return runner.pack(chunks), made_whole


def _forked_worker(runner: FrameRunner, trajectory, frames: np.ndarray, conn) -> None:
    """Worker body in a forked child: its own reader (the inherited file handle is shared with the
    parent), the chunk, the packed rows back through ``conn``."""
    try:
        reader = pickle.loads(pickle.dumps(trajectory))
        conn.send(("ok", _run_chunk(runner, reader, frames)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        try:
            conn.send(("error", exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle
            conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


def _run_forked(runner: FrameRunner, trajectory, parts: list[np.ndarray], finish):
    """``finish(results)`` of chunks 1.. run in forked children (they inherit the runner: nothing
    to rebuild or unpickle) and chunk 0 run here at the same time; the children are reaped after
    ``finish``, so their exit is not on the critical path."""
    ctx = multiprocessing.get_context("fork")
    children = []
    try:
        for part in parts[1:]:
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_forked_worker, args=(runner, trajectory, part, send),
                               daemon=True)
            proc.start()
            send.close()
            children.append((proc, recv))
        results = [_run_chunk(runner, trajectory, parts[0])]
        for proc, recv in children:
            try:
                status, payload = recv.recv()
            except EOFError:
                proc.join()
                raise RuntimeError(f"interaction worker process died (exit code {proc.exitcode})")
            if status == "error":
                raise payload
            results.append(payload)
        return finish(results)
    finally:
        for proc, recv in children:
            recv.close()
            if proc.is_alive():
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join()


def _run_pool(runner: FrameRunner, trajectory, parts: list[np.ndarray], finish):
    """``finish(results)`` of chunks 1.. run in fork-server (or spawned) workers, which unpickle
    the shipped runner and reader, and chunk 0 run here at the same time."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["mpflow.analysis.interactions"])
    else:  # pragma: no cover - not Linux
        ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(parts) - 1, mp_context=ctx) as pool:
        futures = [pool.submit(_run_chunk, runner, trajectory, p) for p in parts[1:]]
        results = [_run_chunk(runner, trajectory, parts[0])]
        return finish(results + [f.result() for f in futures])


def _can_fork() -> bool:
    """Forking is safe (and fastest) when this process runs no other thread."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def compute_interactions(universe, sel_a: str = "protein", sel_b: str = "protein",
                         types: list[str] | None = None,
                         params: dict[str, dict[str, float]] | None = None, *,
                         criteria: str = "mpflow",
                         start: int | None = None, stop: int | None = None, step: int | None = None,
                         frames=None, n_jobs: int = 1, intra: bool = False,
                         min_residue_separation: int = 3, chain_attr: str = "auto",
                         ring_sel: str = "protein") -> pd.DataFrame:
    """The interaction table of ``universe`` over ``start:stop:step`` (or the frame indices
    ``frames``, e.g. of a frame selection), in ``n_jobs`` processes.

    ``criteria``: "mpflow" (default) or "prolif"; recorded with every type's parameters in
    ``table.attrs[METADATA_KEY]`` (and by :func:`write_table` in the file; the same for every
    chunk of one analysis, so ``pd.concat`` of chunk tables keeps it).  Frames whose molecules
    were split across the periodic box and made whole are reported with a
    :class:`MoleculesMadeWhole` warning.  The topology tables
    are built once; the frame range is cut into contiguous chunks, the first computed here and
    the others in worker processes (``n_jobs=-1``: one per CPU; more than the CPUs is capped with
    a ``RuntimeWarning``).  The ring order is fixed from the first frame of the range so every
    chunk labels offsets the same way.  Rows come back ordered by frame.

    Raises ``ValueError`` for bad options (:class:`SelectionProblem` for a selection), and
    :class:`NothingToCompute` when no row is possible: no frame in the range, or (without
    ``intra``) both selections inside one chain.
    """
    interactions = make_interactions(types, params, criteria)
    trajectory = universe.trajectory
    frames = select_frames(len(trajectory), start, stop, step, frames)
    workers, note = plan_workers(n_jobs, len(frames))
    if note:
        warnings.warn(f"n_jobs={n_jobs} {note}", RuntimeWarning, stacklevel=2)
    original_frame = trajectory.ts.frame
    try:
        ts = trajectory[int(frames[0])]
        tables = InteractionTables(universe, sel_a, sel_b, interactions, criteria=criteria,
                                   intra=intra, min_residue_separation=min_residue_separation,
                                   chain_attr=chain_attr, ring_sel=ring_sel)
        if tables.props.uncovered:
            warnings.warn(f"criteria prolif: residue(s) {', '.join(tables.props.uncovered)} are "
                          "not standard amino acids; ProLIF's definitions are reproduced (and "
                          "tested) for the 20 standard amino acids only", OutsideProlifCoverage,
                          stacklevel=2)
        order = first_frame_ring_order(tables, ts)
        runner = FrameRunner(tables, interactions, order)
        parts = [p for p in np.array_split(frames, workers) if len(p)]

        def assemble(results: list) -> tuple[pd.DataFrame, int]:
            return (runner.build_table([packed for packed, _ in results]),
                    sum(made_whole for _, made_whole in results))

        if len(parts) == 1:
            table, made_whole = assemble([_run_chunk(runner, trajectory, frames)])
        elif _can_fork():
            table, made_whole = _run_forked(runner, trajectory, parts, assemble)
        else:
            table, made_whole = _run_pool(runner, trajectory, parts, assemble)
    finally:
        trajectory[original_frame]
    table.attrs[METADATA_KEY] = _metadata(
        runner, sel_a=sel_a, sel_b=sel_b, intra=intra, min_residue_separation=min_residue_separation,
        chain_attr=chain_attr, ring_sel=ring_sel)
    _note_made_whole(made_whole, len(frames), tables)
    return table


def interactions_for_frames(universe, frames: tuple[int, int, int], **options) -> pd.DataFrame:
    """The interaction table of the frames ``range(*frames)`` of ``universe`` (one process)."""
    start, stop, step = frames
    return compute_interactions(universe, start=start, stop=stop, step=step, **options)
