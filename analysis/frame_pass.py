"""One pass over a chunk of frames: geometry and interactions of each frame, under one key.

This module owns the per-chunk work of the analysis (what one task does): for every part of a
:class:`~mpflow.analysis.frames.Chunk` (the frames of one model at one stage) it opens the files
once, computes

- the interaction table (:func:`mpflow.analysis.interactions.compute_interactions`, the selections,
  types, parameters and ``criteria`` of :class:`PassOptions`),
- the geometry table (:func:`mpflow.analysis.structure.geometry.geometry_table`, one row per frame),
- the *occurrences*: per frame and normalised interaction key (:func:`interaction_keys`), the
  number of distinct chain pairs showing it; keys use force-field-neutral names
  (:func:`canonical_names`: ``HSD``/``HIE``/... → ``HIS``, ``OT1``/``OC1`` → ``O``,
  ``OT2``/``OC2`` → ``OXT``), so a docked model (PDB names) and its MD frames (CHARMM names from
  ``pdb2gmx``) give the same key for the same contact,
- the *keys*: what each key stands for (type, offset, residues, atoms),
- the *frames*: one row per analysed frame (ids, mutant, group, name, stage, tag, time, number of
  chains) — written last, it is the part's commit mark and the denominator of every probability,

all keyed by (model_id, stage, frame), and writes them to the :class:`TableStore`.  A frame with
no interaction still gets its frames row (it counts in the denominators).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import MDAnalysis as mda
import numpy as np
import pandas as pd

from mpflow.analysis.frames import Chunk, ChunkPart, frame_tag
from mpflow.analysis.interactions import apply_schema, compute_interactions, interaction_keys
from mpflow.analysis.interactions.chemistry import canonical_residue
from mpflow.analysis.interactions.profiles import check_criteria
from mpflow.analysis.interactions.types import INTERACTION_TYPES
from mpflow.analysis.statistics.superbase import empty_keys
from mpflow.analysis.store import TableStore
from mpflow.analysis.structure.geometry import geometry_table
from mpflow.analysis.structure.ring_order import chain_labels
from mpflow.analysis.structure.whole_chains import AssembleChains


@dataclass(frozen=True)
class PassOptions:
    """What to compute for each frame (picklable: sent to Dask workers)."""

    sel_a: str = "protein"
    sel_b: str = "protein"
    types: tuple[str, ...] | None = None
    params: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    criteria: str = "mpflow"
    geometry: bool = True
    ring_sel: str = "protein"
    chain_attr: str = "auto"

    def __post_init__(self):
        check_criteria(self.criteria)

    @classmethod
    def make(cls, *, types=None, params: dict[str, dict[str, float]] | None = None, **kw) -> "PassOptions":
        return cls(types=tuple(types) if types is not None else None,
                   params=tuple((k, tuple(sorted(v.items()))) for k, v in sorted((params or {}).items())),
                   **kw)


@dataclass
class ChunkSummary:
    """What one chunk task did (small: returned to the flow)."""

    parts: int = 0
    frames: int = 0
    interactions: int = 0
    seconds: float = 0.0
    part_ids: list[str] = field(default_factory=list)


def open_universe(part: ChunkPart, options: PassOptions | None = None):
    """The part's files as a Universe; an MD stage's frames get the protein's chains made whole
    and assembled in one periodic image as they are read
    (:class:`mpflow.analysis.structure.whole_chains.AssembleChains`)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        universe = mda.Universe(*[str(f) for f in part.source.files()])
    if part.source.stage != "docked" and universe.dimensions is not None:
        options = options or PassOptions()
        atoms = universe.select_atoms(options.ring_sel) if options.ring_sel else universe.atoms
        if atoms.n_atoms:
            universe.trajectory.add_transformations(AssembleChains(atoms, chain_labels(atoms, options.chain_attr)))
    return universe


def _interactions(universe, part: ChunkPart, options: PassOptions) -> pd.DataFrame:
    kwargs = dict(n_jobs=1, ring_sel=options.ring_sel, chain_attr=options.chain_attr,
                  criteria=options.criteria)
    params = {k: dict(v) for k, v in options.params}
    types = list(options.types) if options.types is not None else None
    tables = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Reader has no dt information")
        for start, stop, step in part.runs():
            tables.append(compute_interactions(universe, options.sel_a, options.sel_b, types, params,
                                               start=start, stop=stop, step=step, **kwargs))
    table = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
    return apply_schema(table)


def _geometry(universe, part: ChunkPart) -> pd.DataFrame:
    geo = geometry_table(universe, frames=list(part.frames))
    return geo.reset_index(drop=True)


def n_chains_of(universe, options: PassOptions) -> int:
    """Number of chains of the assembly, labelled as the interaction engine labels them."""
    atoms = universe.select_atoms(options.ring_sel) if options.ring_sel else universe.atoms
    if atoms.n_atoms == 0:
        atoms = universe.atoms
    return len(set(chain_labels(atoms, options.chain_attr).tolist()))


#: C-terminal oxygens under their PDB names (CHARMM: OT1/OT2, GROMACS: OC1/OC2)
TERMINAL_OXYGEN_NAMES = {"OT1": "O", "OC1": "O", "OT2": "OXT", "OC2": "OXT"}


def canonical_names(table: pd.DataFrame) -> pd.DataFrame:
    """The table with residue and atom names a key is made of in force-field-neutral form."""
    out = table.copy()
    for side in ("a", "b"):
        names = out[f"resname_{side}"].astype(str)
        out[f"resname_{side}"] = names.map({n: canonical_residue(n)[0] for n in names.unique()})
        atoms = out[f"atoms_{side}"].astype(str)
        out[f"atoms_{side}"] = atoms.map({a: ",".join(TERMINAL_OXYGEN_NAMES.get(x, x) for x in a.split(","))
                                          for a in atoms.unique()})
    return out


def occurrences_of(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(occurrences, keys) of an interaction table.

    occurrences: ``frame``, ``key``, ``count`` = distinct (chain_a, chain_b) pairs showing the key in
    that frame.  keys: one row per key with what it stands for; ``self_pair`` marks a symmetric type
    whose two sides are the same residue (and atoms), whose two orientations are one copy.
    """
    if len(table) == 0:
        occ = pd.DataFrame({"frame": pd.Series([], dtype="int64"), "key": pd.Series([], dtype="object"),
                            "count": pd.Series([], dtype="uint8")})
        return occ, empty_keys()
    table = canonical_names(table)
    keys = interaction_keys(table)
    typ = table["type"].astype(str)
    residue_level = typ.map({n: not c.key_atoms for n, c in INTERACTION_TYPES.items()}).astype(bool)
    atoms_a = table["atoms_a"].astype(str).where(~residue_level, "")
    atoms_b = table["atoms_b"].astype(str).where(~residue_level, "")
    pairs = pd.DataFrame({"frame": table["frame"].to_numpy(), "key": keys.to_numpy(),
                          "ca": table["chain_a"].astype(str).to_numpy(),
                          "cb": table["chain_b"].astype(str).to_numpy()}).drop_duplicates()
    occ = pairs.groupby(["frame", "key"], sort=True).size().rename("count").reset_index()
    occ["count"] = occ["count"].astype("uint8")
    occ["key"] = occ["key"].astype("category")
    symmetric = typ.map({n: bool(c.symmetric) for n, c in INTERACTION_TYPES.items()}).astype(bool)
    meta = pd.DataFrame({
        "key": keys.to_numpy(), "type": typ.to_numpy(), "offset": table["offset"].to_numpy(),
        "resname_a": table["resname_a"].astype(str).to_numpy(), "resid_a": table["resid_a"].to_numpy(),
        "atoms_a": atoms_a.to_numpy(), "resname_b": table["resname_b"].astype(str).to_numpy(),
        "resid_b": table["resid_b"].to_numpy(), "atoms_b": atoms_b.to_numpy(),
        "symmetric": symmetric.to_numpy()}).drop_duplicates("key").sort_values("key")
    meta["self_pair"] = (meta["symmetric"] & (meta["resid_a"] == meta["resid_b"])
                         & (meta["atoms_a"] == meta["atoms_b"]))
    meta["offset"] = meta["offset"].astype("Int64")
    return occ, meta.reset_index(drop=True)


def _keyed(df: pd.DataFrame, model_id: int, stage: str) -> pd.DataFrame:
    out = df.copy()
    out.insert(0, "stage", pd.Categorical([stage] * len(out)))
    out.insert(0, "model_id", np.int64(model_id))
    return out


def analyse_part(part: ChunkPart, options: PassOptions) -> dict[str, pd.DataFrame]:
    """The five tables of one part (see the module docstring), keyed by (model_id, stage, frame)."""
    src = part.source
    universe = open_universe(part, options)
    n_traj = len(universe.trajectory)
    if part.frames[-1] >= n_traj:
        raise ValueError(f"model {src.model_id} stage {src.stage}: frame {part.frames[-1]} asked, "
                         f"{n_traj} in {src.trajectory or src.topology}")
    table = _interactions(universe, part, options)
    frames = np.asarray(part.frames, dtype=np.int64)
    if options.geometry:
        geo = _geometry(universe, part)
        if sorted(geo["frame"].astype(int).tolist()) != frames.tolist():
            raise RuntimeError(f"geometry of model {src.model_id} {src.stage} did not return the "
                               f"frames asked ({len(geo)} rows for {len(frames)} frames)")
    else:
        geo = pd.DataFrame({"frame": frames})
    occ, keys = occurrences_of(table)
    with warnings.catch_warnings():  # a single-structure stage has no time step
        warnings.filterwarnings("ignore", message="Reader has no dt information")
        ts = universe.trajectory[int(frames[0])]
        t0 = float(ts.time)
        dt = float(universe.trajectory.dt) if n_traj > 1 else 0.0
    frames_df = pd.DataFrame({
        "mutant": src.mutant, "group": src.group, "conformation": src.conformation,
        "name": src.name, "frame": frames, "time_ps": t0 + (frames - frames[0]) * dt,
        "tag": [frame_tag(src.group, src.stage, f) for f in frames],
        "n_chains": np.int64(n_chains_of(universe, options)),
    })
    keys = keys.copy()
    keys.insert(0, "model_id", np.int64(src.model_id))
    return {
        "interactions": _keyed(table, src.model_id, src.stage),
        "geometry": _keyed(geo, src.model_id, src.stage),
        "occurrences": _keyed(occ, src.model_id, src.stage),
        "keys": keys,
        "frames": _keyed(frames_df, src.model_id, src.stage),
    }


def analyse_chunk(chunk: Chunk, store_root: str, options: PassOptions) -> ChunkSummary:
    """Analyse every part of ``chunk`` and write its tables to the store under ``store_root``."""
    t0 = time.perf_counter()
    store = TableStore(store_root)
    summary = ChunkSummary()
    for part in chunk.parts:
        tables = analyse_part(part, options)
        store.write_part(part.source.stage, part.source.model_id, part.part_id, tables)
        summary.parts += 1
        summary.frames += len(part.frames)
        summary.interactions += len(tables["interactions"])
        summary.part_ids.append(f"{part.source.stage}/model-{part.source.model_id}/{part.part_id}")
    summary.seconds = time.perf_counter() - t0
    return summary
