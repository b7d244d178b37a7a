"""Interaction engine: per-frame interchain interaction fingerprints as one long table.

This module owns the *engine* — topology tables built once, the per-frame neighbour search,
row orientation, the ring-offset labels, the output schema, chunked/parallel runs and the table
I/O.  The criteria live in :mod:`mpflow.analysis.interaction_types`, the chemistry tables in
:mod:`mpflow.analysis.residue_tables`, the ring order in :mod:`mpflow.analysis.ring_order`.

Per frame (vectorised, no loop over atoms)
------------------------------------------
1. one MDAnalysis ``capped_distance`` (``self_capped_distance`` when both selections are the same
   atoms) over the candidate *atoms* at the largest atom cut-off of the enabled types, with the box;
2. one search over the few hundred *group* centroids (aromatic rings, side chains, cation atoms)
   at the largest group cut-off, when a group type is enabled;
3. pairs within one chain are dropped unless ``intra=True`` (then pairs whose residue numbers
   differ by less than ``min_residue_separation`` are dropped);
4. every type derives its rows from those candidate sets with numpy.
Molecules must be whole (as after ``gmx trjconv -pbc mol``); distances use the minimum image.

Offsets: ring order of the chains of ``ring_sel`` (default every protein chain, selected or not)
from the geometry of the first analysed frame (see :mod:`mpflow.analysis.ring_order`; a dimer is
+1 both ways); chains outside ``ring_sel`` get NA.

Row orientation and keys
------------------------
Directional types put the donor / cation / knob on side *a*.  Symmetric types (hydrophobic, vdw,
π-stacking): when the two selections are disjoint, side *a* is the sel-a atom; when they overlap
(default: ``protein`` against ``protein``) the row is turned so its offset is +1 rather than −1,
and for offsets 0 / None / dimers so that (resid, atom rank in residue) of *a* is the smaller.
Symmetric copies in a C_n ring therefore share one key (:func:`interaction_keys`).  Rows are one
per key pair, the closest kept: H-bond per (donor, acceptor) atoms with the best hydrogen; salt
bridge and cation–π per charged group; hydrophobic and vdW per residue pair; π-stacking per ring
pair; knobs-into-holes per (knob, hole).

Table schema (:data:`INTERACTION_SCHEMA`), one row per interaction per frame
---------------------------------------------------------------------------
- ``frame`` int64: trajectory frame index · ``time_ps`` float64
- ``type`` category: the registry names, all of them, in registry order
- ``chain_a``, ``resid_a`` (int64), ``resname_a``, ``atoms_a``, ``index_a`` (int64), and the same
  for side b: chain, residue, the atoms involved (atom names; a group's names comma-joined; for
  ``kih`` side b holds the hole's resids "i,i+3,i+4,i+7"), and the 0-based atom index of the
  representative atom (donor, acceptor, closest atom, first atom of a group)
- ``hydrogen`` category: the H of an H-bond, NA otherwise
- ``offset`` Int64: ring offset a→b (−1, +1, 0), NA for non-adjacent chains
- ``distance_A`` float32 · ``angle_deg`` float32 (NaN when the type has no angle)
- ``fallback`` bool: H-bond found by the heavy-atom fallback
String columns other than ``type`` are categoricals of the used values, sorted, so a table does
not depend on how its frames were chunked.  :func:`write_table` / :func:`read_table` keep the dtypes
for Parquet and restore them for CSV.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from MDAnalysis.analysis.base import AnalysisBase
from MDAnalysis.lib.distances import capped_distance, minimize_vectors, self_capped_distance
from scipy import sparse

from mpflow.analysis.interaction_types import (
    INTERACTION_TYPES,
    Hits,
    Interaction,
    make_interactions,
)
from mpflow.analysis.residue_tables import AtomProperties, atom_properties
from mpflow.analysis.ring_order import OFFSET_NONE, chain_labels, offset_table, ring_order_from_atoms

TYPE_DTYPE = pd.CategoricalDtype(list(INTERACTION_TYPES))

#: column -> dtype of the interaction table (see the module docstring)
INTERACTION_SCHEMA: dict[str, object] = {
    "frame": "int64",
    "time_ps": "float64",
    "type": TYPE_DTYPE,
    "chain_a": "category",
    "resid_a": "int64",
    "resname_a": "category",
    "atoms_a": "category",
    "index_a": "int64",
    "chain_b": "category",
    "resid_b": "int64",
    "resname_b": "category",
    "atoms_b": "category",
    "index_b": "int64",
    "hydrogen": "category",
    "offset": "Int64",
    "distance_A": "float32",
    "angle_deg": "float32",
    "fallback": "bool",
}
_STRING_COLUMNS = ("type", "chain_a", "resname_a", "atoms_a", "chain_b", "resname_b", "atoms_b",
                   "hydrogen")
GROUP_KINDS = ("sidechain", "ring", "cation")
_KEY_STRIDE = np.int64(1 << 31)


def empty_table() -> pd.DataFrame:
    """A table with no rows and the documented dtypes."""
    return apply_schema(pd.DataFrame({c: [] for c in INTERACTION_SCHEMA}))


def apply_schema(df: pd.DataFrame) -> pd.DataFrame:
    """Cast ``df`` to :data:`INTERACTION_SCHEMA` (column order included)."""
    out = {}
    for col, dtype in INTERACTION_SCHEMA.items():
        s = df[col]
        if col in _STRING_COLUMNS:
            if not isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype("object").where(s.notna(), None)
            s = s.astype(dtype)
            if isinstance(dtype, str):  # used categories, sorted: the same whatever the chunking
                s = s.cat.remove_unused_categories()
                s = s.cat.reorder_categories(sorted(s.cat.categories))
        else:
            s = s.astype(dtype)
        out[col] = s
    return pd.DataFrame(out)


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as Parquet (``.parquet``/``.pq``) or CSV (``.csv``); other suffixes refused."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrow = {"int64": pa.int64(), "Int64": pa.int64(), "float64": pa.float64(),
                 "float32": pa.float32(), "bool": pa.bool_()}
        schema = pa.schema([
            (c, pa.dictionary(pa.int32(), pa.string()) if c in _STRING_COLUMNS else arrow[str(t)])
            for c, t in INTERACTION_SCHEMA.items()])
        # an explicit schema keeps all-NA categorical columns categorical on reading back
        pq.write_table(pa.Table.from_pandas(apply_schema(df), schema=schema, preserve_index=False),
                       path)
    elif suffix == ".csv":
        df.to_csv(path, index=False)
    else:
        raise ValueError(f"output {path}: suffix must be .parquet, .pq or .csv")
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table` back with the documented dtypes."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        df = pd.read_csv(path, dtype={c: "string" for c in _STRING_COLUMNS},
                         keep_default_na=False, na_values={"hydrogen": [""], "offset": [""],
                                                           "angle_deg": [""]})
        df["fallback"] = df["fallback"].astype(str).str.lower().eq("true")
        return apply_schema(df)
    return apply_schema(pd.read_parquet(path))


def interaction_keys(df: pd.DataFrame) -> pd.Series:
    """Direction-normalised key per row: type, offset, residues and (for atom-level types) atoms.

    The chain labels are not part of the key, so the symmetric copies of one interaction in a
    C_n ring (or a C2 dimer) share one key.  Hydrophobic and vdW keys are residue-level.
    """
    residue_level = df["type"].astype(str).map(
        {n: not c.key_atoms for n, c in INTERACTION_TYPES.items()}).astype(bool)
    atoms_a = df["atoms_a"].astype(str).where(~residue_level, "")
    atoms_b = df["atoms_b"].astype(str).where(~residue_level, "")
    off = df["offset"].astype("string").fillna("None")
    return (df["type"].astype(str) + "|" + off + "|" + df["resname_a"].astype(str)
            + df["resid_a"].astype(str) + ":" + atoms_a + "|" + df["resname_b"].astype(str)
            + df["resid_b"].astype(str) + ":" + atoms_b)


# --------------------------------------------------------------------------- topology tables
class _PairSearch:
    """Unordered item pairs between sel-a items and sel-b items, one row per pair, filtered by chain."""

    def __init__(self, in_a: np.ndarray, in_b: np.ndarray, chain: np.ndarray,
                 resid: np.ndarray, intra: bool, min_sep: int):
        self.ia = np.flatnonzero(in_a)
        self.ib = np.flatnonzero(in_b)
        self.in_a, self.in_b = in_a, in_b
        if np.array_equal(self.ia, self.ib):
            self.mode = "same"
        elif not np.any(in_a & in_b):
            self.mode = "disjoint"
        else:
            self.mode = "overlap"
        self.chain, self.resid = chain, resid
        self.intra, self.min_sep = intra, min_sep

    def search(self, positions: np.ndarray, cutoff: float, box):
        if len(self.ia) == 0 or len(self.ib) == 0:
            z = np.zeros(0, np.int64)
            return z, z, np.zeros(0)
        if self.mode == "same":
            pairs, d = self_capped_distance(positions[self.ia], cutoff, box=box)
            i, j = self.ia[pairs[:, 0]], self.ia[pairs[:, 1]]
        else:
            pairs, d = capped_distance(positions[self.ia], positions[self.ib], cutoff, box=box)
            i, j = self.ia[pairs[:, 0]], self.ib[pairs[:, 1]]
            if self.mode == "overlap":
                dup = (i == j) | (self.in_a[j] & self.in_b[i] & (i > j))
                i, j, d = i[~dup], j[~dup], d[~dup]
        same = self.chain[i] == self.chain[j]
        if self.intra:
            keep = ~same | (np.abs(self.resid[i] - self.resid[j]) >= self.min_sep)
        else:
            keep = ~same
        return i[keep], j[keep], d[keep]


class _Labels:
    """Interned strings -> integer codes (for categorical columns built from codes)."""

    def __init__(self):
        self.values: list[str] = []
        self.codes: dict[str, int] = {}

    def __call__(self, s: str) -> int:
        c = self.codes.get(s)
        if c is None:
            c = self.codes[s] = len(self.values)
            self.values.append(s)
        return c


class InteractionTables:
    """Everything derived once per topology and selection pair (see the module docstring)."""

    def __init__(self, universe, sel_a: str, sel_b: str, interactions: list[Interaction], *,
                 intra: bool = False, min_residue_separation: int = 3, chain_attr: str = "auto",
                 ring_sel: str = "protein"):
        self.universe = universe
        ag_a = universe.select_atoms(sel_a)
        ag_b = universe.select_atoms(sel_b)
        if ag_a.n_atoms == 0 or ag_b.n_atoms == 0:
            empty = sel_a if ag_a.n_atoms == 0 else sel_b
            raise ValueError(f"selection {empty!r} matches no atom; check the selection string")
        union = ag_a | ag_b
        n = universe.atoms.n_atoms
        self.n_atoms = n
        self.in_a = np.zeros(n, bool)
        self.in_a[ag_a.indices] = True
        self.in_b = np.zeros(n, bool)
        self.in_b[ag_b.indices] = True
        self.union = union
        self.props: AtomProperties = atom_properties(universe, union.indices)
        atoms = universe.atoms
        self.resindex = atoms.resindices.astype(np.int64)
        self.resid = atoms.resids.astype(np.int64)

        # chains
        # chains: labelled over the ring atoms and the selections together; the ring order uses
        # the ring atoms only (every chain of the assembly, not just the selected ones)
        ring_atoms = universe.select_atoms(ring_sel) if ring_sel else union[:0]
        if ring_atoms.n_atoms == 0:
            ring_atoms = union
        labelled = ring_atoms | union
        labels_all = chain_labels(labelled, chain_attr)
        self.chain_names = sorted(set(labels_all.tolist()))
        code_of = {c: k for k, c in enumerate(self.chain_names)}
        self.chain = np.full(n, -1, dtype=np.int64)
        self.chain[labelled.indices] = [code_of[c] for c in labels_all]
        self.ring_atoms = ring_atoms
        self._ring_labels = np.array(self.chain_names, dtype=object)[self.chain[ring_atoms.indices]]

        # strings
        self.labels = _Labels()
        names = atoms.names
        name_codes = {nm: self.labels(nm) for nm in dict.fromkeys(names.tolist())}
        self.atom_label = np.array([name_codes[nm] for nm in names], dtype=np.int64)
        self.group_label = self.atom_label.copy()
        g = self.props.charge_group
        for gid in np.unique(g[g >= 0]):
            members = np.flatnonzero(g == gid)
            self.group_label[members] = self.labels(",".join(names[members]))
        self.resnames = sorted(set(atoms.resnames.tolist()))
        rn_code = {r: k for k, r in enumerate(self.resnames)}
        self.resname_code = np.array([rn_code[r] for r in atoms.resnames], dtype=np.int64)

        # which atom properties and groups the enabled types need
        self.interactions = interactions
        atom_types = [it for it in interactions if it.level == "atoms"]
        group_types = [it for it in interactions if it.level == "groups"]
        roles = {r for it in atom_types for r in it.roles}
        cand = np.zeros(n, bool)
        for r in roles:
            cand |= getattr(self.props, r)
        cand &= self.in_a | self.in_b
        self.atom_cutoff = max((it.search_cutoff_A for it in atom_types), default=0.0)
        self.atom_search = _PairSearch(self.in_a & cand, self.in_b & cand, self.chain,
                                       self.resid, intra, min_residue_separation)
        kinds = {k for it in group_types for k in it.groups}
        self.group_cutoff = max((it.search_cutoff_A for it in group_types), default=0.0)
        self._build_groups(kinds, names, intra, min_residue_separation)

    # groups: side-chain centroids, aromatic rings, cation atoms
    def _build_groups(self, kinds: set[str], names, intra: bool, min_sep: int) -> None:
        p = self.props
        rows: list[np.ndarray] = []
        kind: list[int] = []
        labels: list[int] = []
        keys: list[int] = []
        key_base = self.n_atoms  # group keys live above atom indices
        if "sidechain" in kinds:
            for ri, members in sorted(p.sidechains.items()):
                rows.append(members)
                kind.append(0)
                labels.append(self.labels(",".join(names[members])))
                keys.append(key_base + ri)
        key_base += self.universe.residues.n_residues
        if "ring" in kinds:
            for k, members in enumerate(p.rings):
                rows.append(members)
                kind.append(1)
                labels.append(self.labels(",".join(names[members])))
                keys.append(key_base + k)
        key_base += len(p.rings)
        if "cation" in kinds:
            for atom in np.flatnonzero(p.cation):
                rows.append(np.array([atom]))
                kind.append(2)
                labels.append(int(self.group_label[atom]))
                keys.append(key_base + int(p.charge_group[atom]))
        ng = len(rows)
        self.group_kind = np.array(kind, dtype=np.int64)
        self.group_atom = np.array([r[0] for r in rows], dtype=np.int64)
        self.group_label_of = np.array(labels, dtype=np.int64)
        self.group_key = np.array(keys, dtype=np.int64)
        indptr = np.cumsum([0] + [len(r) for r in rows])
        cols = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        weights = np.concatenate([np.full(len(r), 1.0 / len(r)) for r in rows]) if rows else []
        self.centroid_matrix = sparse.csr_matrix((weights, cols, indptr), shape=(ng, self.n_atoms))
        # ring edges for Newell normals
        e_from, e_to, e_group = [], [], []
        for gi in np.flatnonzero(self.group_kind == 1):
            r = rows[gi]
            e_from.append(r)
            e_to.append(np.roll(r, -1))
            e_group.append(np.full(len(r), gi))
        if e_from:
            self.edge_from = np.concatenate(e_from)
            self.edge_to = np.concatenate(e_to)
            eg = np.concatenate(e_group)
            self.edge_ring = eg
            self.edge_matrix = sparse.csr_matrix(
                (np.ones(len(eg)), (eg, np.arange(len(eg)))), shape=(ng, len(eg)))
        else:
            self.edge_from = self.edge_to = None
        # holes i, i+3, i+4, i+7 (consecutive resids, one chain)
        self.hole_start = np.full((ng, 3), -1, dtype=np.int64)
        self.hole_label = np.full(ng, -1, dtype=np.int64)
        sc = np.flatnonzero(self.group_kind == 0)
        if len(sc):
            rep = self.group_atom[sc]
            where = {(int(self.chain[a]), int(self.resid[a])): g for g, a in zip(sc, rep)}
            for g, a in zip(sc, rep):
                c, r = int(self.chain[a]), int(self.resid[a])
                partners = [where.get((c, r + k), -1) for k in (3, 4, 7)]
                if min(partners) >= 0:
                    self.hole_start[g] = partners
                    self.hole_label[g] = self.labels(f"{r},{r + 3},{r + 4},{r + 7}")
        grp_chain = self.chain[self.group_atom] if ng else np.zeros(0, np.int64)
        grp_res = self.resid[self.group_atom] if ng else np.zeros(0, np.int64)
        self.group_search = _PairSearch(self.in_a[self.group_atom] if ng else np.zeros(0, bool),
                                        self.in_b[self.group_atom] if ng else np.zeros(0, bool),
                                        grp_chain, grp_res, intra, min_sep)
        # canonical rank of a row side: resid, then atom rank inside the residue
        atoms = self.universe.atoms
        starts = np.array([r.atoms.indices.min() for r in self.universe.residues], dtype=np.int64)
        self.rank = self.resid * 100000 + (np.arange(atoms.n_atoms) - starts[self.resindex])

    def ring_order(self) -> list[str]:
        """Ring order of the chains at the universe's current frame."""
        return ring_order_from_atoms(self.ring_atoms, self._ring_labels)


# --------------------------------------------------------------------------- one frame
class FrameContext:
    """Coordinates of one frame and the candidate pairs every type reads (computed lazily, once)."""

    def __init__(self, tables: InteractionTables, positions: np.ndarray, box):
        self.tables = tables
        self.positions = positions
        self.box = box

    def minimize(self, v: np.ndarray) -> np.ndarray:
        if self.box is None or len(v) == 0:
            return v
        return minimize_vectors(np.ascontiguousarray(v, dtype=np.float32), self.box)

    @cached_property
    def atom_pairs(self):
        """(i, j, d): unordered atom pairs within the largest atom cut-off, i from the sel-a side."""
        t = self.tables
        return t.atom_search.search(self.positions, t.atom_cutoff, self.box)

    @cached_property
    def atom_pairs_both(self):
        """Both orientations of :attr:`atom_pairs` (for directional types)."""
        i, j, d = self.atom_pairs
        return np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([d, d])

    @cached_property
    def group_positions(self) -> np.ndarray:
        return np.asarray(self.tables.centroid_matrix @ self.positions, dtype=np.float32)

    @cached_property
    def group_normals(self) -> np.ndarray:
        t = self.tables
        c = self.group_positions
        if t.edge_from is None:
            return np.zeros_like(c)
        pos = self.positions
        # Newell: sum over edges of (p_k - c) x (p_k+1 - c), c the centroid of the edge's ring
        cc = c[t.edge_ring]
        cr = np.cross(pos[t.edge_from] - cc, pos[t.edge_to] - cc)
        nrm = np.asarray(t.edge_matrix @ cr)
        return nrm / np.maximum(np.linalg.norm(nrm, axis=1), 1e-9)[:, None]

    @cached_property
    def _group_pairs_all(self):
        t = self.tables
        return t.group_search.search(self.group_positions, t.group_cutoff, self.box)

    def group_pairs(self, kind_1: str, kind_2: str):
        """Group pairs (g1 of kind_1, g2 of kind_2, d); both orientations when the kinds are
        equal and kind is "sidechain" (knob/hole), one orientation for rings."""
        i, j, d = self._group_pairs_all
        k = self.tables.group_kind
        k1, k2 = GROUP_KINDS.index(kind_1), GROUP_KINDS.index(kind_2)
        if k1 == k2:
            m = (k[i] == k1) & (k[j] == k1)
            i, j, d = i[m], j[m], d[m]
            if kind_1 == "sidechain":
                return np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([d, d])
            return i, j, d
        m12 = (k[i] == k1) & (k[j] == k2)
        m21 = (k[i] == k2) & (k[j] == k1)
        return (np.concatenate([i[m12], j[m21]]), np.concatenate([j[m12], i[m21]]),
                np.concatenate([d[m12], d[m21]]))

    def group_hits(self, g1, g2, d, angle) -> Hits:
        t = self.tables
        return Hits(t.group_atom[g1], t.group_atom[g2], t.group_key[g1], t.group_key[g2],
                    t.group_label_of[g1], t.group_label_of[g2], d, angle,
                    np.full(len(g1), -1, dtype=np.int64))


def _orient_and_reduce(hits: Hits, symmetric: bool, tables: InteractionTables,
                       offsets: np.ndarray, canonical: bool) -> Hits:
    """Turn symmetric rows to the canonical orientation, then keep the closest row per key pair."""
    if len(hits) == 0:
        return hits
    if symmetric and canonical:
        ca, cb = tables.chain[hits.a], tables.chain[hits.b]
        off_ab, off_ba = offsets[ca, cb], offsets[cb, ca]
        by_rank = tables.rank[hits.a] > tables.rank[hits.b]
        swap = np.where((off_ab == -1) & (off_ba == 1), True,
                        np.where((off_ab == 1) & (off_ba == -1), False, by_rank))
        if swap.any():
            s = swap
            hits = Hits(np.where(s, hits.b, hits.a), np.where(s, hits.a, hits.b),
                        np.where(s, hits.key_b, hits.key_a), np.where(s, hits.key_a, hits.key_b),
                        np.where(s, hits.label_b, hits.label_a),
                        np.where(s, hits.label_a, hits.label_b), hits.distance, hits.angle,
                        hits.hydrogen, hits.fallback)
    if len(hits) > 1:
        lo, hi = hits.key_a, hits.key_b
        if symmetric:  # one row per unordered pair (A:22-B:22 and B:22-A:22 are one contact)
            lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
        key = lo * _KEY_STRIDE + hi
        order = np.lexsort((hits.distance, key))
        ks = key[order]
        first = np.empty(len(ks), bool)
        first[0] = True
        np.not_equal(ks[1:], ks[:-1], out=first[1:])
        if not first.all():
            hits = hits.take(np.sort(order[first]))
    return hits


# --------------------------------------------------------------------------- the analysis
class InteractionAnalysis(AnalysisBase):
    """Interchain interaction fingerprints of ``universe`` frame by frame (MDAnalysis template).

    Parameters
    ----------
    universe : MDAnalysis Universe
    sel_a, sel_b : selection strings (default every protein chain against every other)
    types : names from :data:`INTERACTION_TYPES` (default: all)
    params : per-type threshold overrides, e.g. ``{"hbond": {"distance_max_A": 3.2}}``
    intra : also report pairs within one chain (offset 0), ``min_residue_separation`` apart
    chain_attr : "auto", "chainIDs", "segids" or "fragments"
    ring_sel : atoms whose chains make the ring (default every protein chain, selected or not);
        chains outside it get offset NA
    ring_order : chain labels in ring order; default: from the geometry of the first analysed frame

    After ``run(start, stop, step)``: ``results.table`` (schema :data:`INTERACTION_SCHEMA`) and
    ``results.ring_order``.
    """

    def __init__(self, universe, sel_a: str = "protein", sel_b: str = "protein",
                 types: list[str] | None = None,
                 params: dict[str, dict[str, float]] | None = None, *, intra: bool = False,
                 min_residue_separation: int = 3, chain_attr: str = "auto",
                 ring_sel: str = "protein", ring_order: list[str] | None = None,
                 verbose: bool = False):
        super().__init__(universe.trajectory, verbose=verbose)
        self.universe = universe
        self.interactions = make_interactions(types, params)
        self.tables = InteractionTables(universe, sel_a, sel_b, self.interactions, intra=intra,
                                        min_residue_separation=min_residue_separation,
                                        chain_attr=chain_attr, ring_sel=ring_sel)
        self._given_order = list(ring_order) if ring_order is not None else None
        self._type_codes = [TYPE_DTYPE.categories.get_loc(it.name) for it in self.interactions]

    def _prepare(self):
        t = self.tables
        if self._given_order is None:
            for _ in self._sliced_trajectory:  # position the universe on the first frame
                break
            self.results.ring_order = t.ring_order()
        else:
            self.results.ring_order = self._given_order
        self._offsets = offset_table(self.results.ring_order, t.chain_names)
        self._canonical = t.atom_search.mode != "disjoint"
        self._chunks: list[tuple] = []

    def _single_frame(self):
        ts = self._ts
        box = ts.dimensions
        if box is not None and not np.all(box[:3] > 0):
            box = None
        frame = FrameContext(self.tables, ts.positions, box)
        for code, it in zip(self._type_codes, self.interactions):
            hits = it.detect(frame)
            if len(hits) == 0:
                continue
            hits = _orient_and_reduce(hits, it.symmetric, self.tables, self._offsets,
                                      self._canonical)
            self._chunks.append((ts.frame, ts.time, code, hits))

    def _conclude(self):
        self.results.table = self._build_table()

    def _build_table(self) -> pd.DataFrame:
        t = self.tables
        if not self._chunks:
            return empty_table()
        lens = np.array([len(h) for *_, h in self._chunks])

        def cat(attr):
            return np.concatenate([getattr(h, attr) for *_, h in self._chunks])

        a, b = cat("a"), cat("b")
        hyd = cat("hydrogen")
        names = t.labels.values
        ca, cb = t.chain[a], t.chain[b]
        off = self._offsets[ca, cb].astype(np.int64)
        offset = pd.array(off, dtype="Int64")
        offset[off == OFFSET_NONE] = pd.NA
        atom_label = t.atom_label
        df = pd.DataFrame({
            "frame": np.repeat([c[0] for c in self._chunks], lens).astype(np.int64),
            "time_ps": np.repeat([c[1] for c in self._chunks], lens).astype(np.float64),
            "type": pd.Categorical.from_codes(np.repeat([c[2] for c in self._chunks], lens),
                                              dtype=TYPE_DTYPE),
            "chain_a": pd.Categorical.from_codes(ca, t.chain_names),
            "resid_a": t.resid[a],
            "resname_a": pd.Categorical.from_codes(t.resname_code[a], t.resnames),
            "atoms_a": pd.Categorical.from_codes(cat("label_a"), names),
            "index_a": a,
            "chain_b": pd.Categorical.from_codes(cb, t.chain_names),
            "resid_b": t.resid[b],
            "resname_b": pd.Categorical.from_codes(t.resname_code[b], t.resnames),
            "atoms_b": pd.Categorical.from_codes(cat("label_b"), names),
            "index_b": b,
            "hydrogen": pd.Categorical.from_codes(np.where(hyd >= 0, atom_label[hyd], -1), names),
            "offset": offset,
            "distance_A": cat("distance").astype(np.float32),
            "angle_deg": cat("angle").astype(np.float32),
            "fallback": np.repeat([h.fallback for *_, h in self._chunks], lens).astype(bool),
        })
        return apply_schema(df)


# --------------------------------------------------------------------------- chunks, processes
@dataclass(frozen=True)
class EngineOptions:
    """Everything but the universe and the frames: picklable, sent to worker processes."""

    sel_a: str = "protein"
    sel_b: str = "protein"
    types: tuple[str, ...] | None = None
    params: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()
    intra: bool = False
    min_residue_separation: int = 3
    chain_attr: str = "auto"
    ring_sel: str = "protein"

    def kwargs(self) -> dict:
        return dict(sel_a=self.sel_a, sel_b=self.sel_b,
                    types=list(self.types) if self.types is not None else None,
                    params={k: dict(v) for k, v in self.params}, intra=self.intra,
                    min_residue_separation=self.min_residue_separation, chain_attr=self.chain_attr,
                    ring_sel=self.ring_sel)


def interactions_for_frames(universe, frames: tuple[int, int, int], options: EngineOptions,
                            ring_order: list[str] | None = None) -> pd.DataFrame:
    """The interaction table of the frames ``range(*frames)`` of ``universe`` (one chunk)."""
    ana = InteractionAnalysis(universe, ring_order=ring_order, **options.kwargs())
    start, stop, step = frames
    ana.run(start=start, stop=stop, step=step)
    return ana.results.table


def _worker(args):
    universe, frames, options, order = args
    return interactions_for_frames(universe, frames, options, order)


def compute_interactions(universe, sel_a: str = "protein", sel_b: str = "protein",
                         types: list[str] | None = None,
                         params: dict[str, dict[str, float]] | None = None, *,
                         start: int | None = None, stop: int | None = None, step: int | None = None,
                         n_jobs: int = 1, intra: bool = False, min_residue_separation: int = 3,
                         chain_attr: str = "auto", ring_sel: str = "protein") -> pd.DataFrame:
    """The interaction table of ``universe`` over ``start:stop:step``, in ``n_jobs`` processes.

    The frame range is cut into ``n_jobs`` contiguous chunks run by a ``ProcessPoolExecutor``
    (``n_jobs=-1``: one per CPU); the ring order is fixed once from the first frame of the range so
    every chunk labels offsets the same way.  Rows come back ordered by frame.
    """
    options = EngineOptions(sel_a, sel_b, tuple(types) if types is not None else None,
                            tuple((k, tuple(sorted(v.items()))) for k, v in (params or {}).items()),
                            intra, min_residue_separation, chain_attr, ring_sel)
    frames = np.arange(len(universe.trajectory))[slice(start, stop, step)]
    probe = InteractionAnalysis(universe, **options.kwargs())  # validates options early
    if len(frames) == 0:
        return empty_table()
    universe.trajectory[int(frames[0])]
    order = probe.tables.ring_order()
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
    step_ = int(step or 1)
    if n_jobs == 1 or len(frames) < 2:
        probe._given_order = order
        probe.run(frames=frames)
        return probe.results.table
    parts = [p for p in np.array_split(frames, n_jobs) if len(p)]
    jobs = [(universe, (int(p[0]), int(p[-1]) + 1, step_), options, order) for p in parts]
    with ProcessPoolExecutor(max_workers=len(jobs)) as pool:
        tables = list(pool.map(_worker, jobs))
    return apply_schema(pd.concat(tables, ignore_index=True))
