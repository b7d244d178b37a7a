"""Topology tables of the interaction engine: everything derived once per topology and selections.

This module owns :class:`InteractionTables`, built once (in the parent process) from a Universe,
the two selections, the enabled types and the criteria profile, and shipped as plain arrays to
worker processes (it keeps no reference to the Universe):

- the selections (a bad one raises :class:`SelectionProblem` naming ``sel_a``/``sel_b``), their
  union, and the pair mode (same atoms, disjoint, overlapping);
- bonds: the topology's when they cover the selected residues, else guessed with the box
  (:func:`mpflow.analysis.structure.bonds.bonds_of`); the molecules-whole machinery built from
  them (:mod:`mpflow.analysis.structure.periodic`);
- chains from the topology (:func:`mpflow.analysis.structure.ring_order.chain_labels`), and the check that
  some interchain pair is possible at all (:class:`NothingToCompute` otherwise);
- per-atom chemistry under the profile (:func:`mpflow.analysis.interactions.chemistry.atom_properties`);
- anchors (heavy atoms, and hydrogens bonded to none) with their hydrogens, for types that
  expand heavy-atom pairs to hydrogens (prolif's vdW contacts);
- one atom search per atom set the enabled types read (all use "heavy") with its cut-off, and the
  group tables the types declare: :data:`GROUP_TABLES` names the builder of each kind (side-chain
  centroids, aromatic rings, cation atoms), run once when an enabled type reads that kind; the
  groups are stacked into one centroid matrix and one group search; each type's ``prepare`` hook;
- labels (interned atom-name strings), residue names, the canonical rank of an atom, and for the
  prolif profile the per-residue atom lists of ProLIF's residue vicinity.

The enabled types (:class:`mpflow.analysis.interactions.base.Interaction` instances) are read by
their attributes (``level``, ``roles``, ``search_atoms``, ``groups``) and hooks
(``search_cutoff_A``, ``prepare``); this module does not import the type framework, which reads
these tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy import sparse

from mpflow.analysis.interactions.chemistry import AtomProperties, atom_properties
from mpflow.analysis.interactions.frame_geometry import PairSearch
from mpflow.analysis.interactions.profiles import PROLIF_VICINITY_A
from mpflow.analysis.structure.bonds import bonds_of
from mpflow.analysis.structure.periodic import ResidueSpanCheck, WholeMolecules
from mpflow.analysis.structure.ring_order import chain_labels, ring_order_from_positions


class SelectionProblem(ValueError):
    """A selection string that is not valid or selects nothing; ``option`` names which one."""

    def __init__(self, option: str, selection: str, reason: str):
        self.option = option
        self.selection = selection
        self.reason = reason
        super().__init__(f"{option} {selection!r}: {reason}")


class NothingToCompute(ValueError):
    """The request cannot produce any row (no frame selected, no interchain pair possible).

    ``option`` names the option at fault when there is one ("frames"), ``reason`` the bare cause.
    """

    def __init__(self, message: str, option: str | None = None, reason: str | None = None):
        self.option = option
        self.reason = reason or message
        super().__init__(message)


class Labels:
    """Interned strings -> integer codes (for categorical columns built from codes)."""

    def __init__(self, initial: list[str] | None = None):
        self.values: list[str] = list(initial or [])
        self.codes: dict[str, int] = {s: k for k, s in enumerate(self.values)}

    def __call__(self, s: str) -> int:
        c = self.codes.get(s)
        if c is None:
            c = self.codes[s] = len(self.values)
            self.values.append(s)
        return c


def _select(universe, option: str, selection: str):
    try:
        ag = universe.select_atoms(selection)
    except Exception as exc:  # noqa: BLE001 - MDAnalysis raises several types for bad syntax
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SelectionProblem(option, selection, f"not a valid selection: {text}") from None
    if ag.n_atoms == 0:
        raise SelectionProblem(option, selection, "matches no atom")
    return ag


# --------------------------------------------------------------------------- group tables
@dataclass
class GroupSet:
    """Groups of one kind: atoms per group (a centroid each), what a row stands for, labels.

    ``rep``: representative atom (reported as ``index_a``/``index_b``, gives chain and residue);
    ``key``: the id a row stands for, unique within the kind; ``label``: atom-name label;
    ``extra``: kind-specific per-group arrays (read by the types through ``tables.group_extra``).
    """

    members: list[np.ndarray]
    rep: np.ndarray
    key: np.ndarray
    label: list[str]
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.members)


def sidechain_groups(tables: "InteractionTables") -> GroupSet:
    """Side-chain centroids (heavy atoms beyond the backbone; CA for Gly), one per residue."""
    sc = tables.props.sidechains
    keys = sorted(k for k, m in sc.items() if tables.union_mask[m[0]])
    members = [sc[k] for k in keys]
    return GroupSet(members, np.array([m[0] for m in members], np.int64), np.array(keys, np.int64),
                    [",".join(tables.names[m]) for m in members])


def ring_groups(tables: "InteractionTables") -> GroupSet:
    """Aromatic rings (atoms in cyclic order), with the edges of the Newell normal and the two
    atoms of ProLIF's normal."""
    props = tables.props
    ids = [k for k, r in enumerate(props.rings) if tables.union_mask[r[0]]]
    members = [props.rings[k] for k in ids]
    e_from = [m for m in members]
    e_to = [np.roll(m, -1) for m in members]
    extra = {
        "ref": props.ring_ref[ids].reshape(-1, 2),
        "edge_from": np.concatenate(e_from) if members else np.zeros(0, np.int64),
        "edge_to": np.concatenate(e_to) if members else np.zeros(0, np.int64),
        "edge_ring": np.concatenate([np.full(len(m), k) for k, m in enumerate(members)])
        if members else np.zeros(0, np.int64),
    }
    return GroupSet(members, np.array([m[0] for m in members], np.int64), np.array(ids, np.int64),
                    [",".join(tables.names[m]) for m in members], extra)


def cation_groups(tables: "InteractionTables") -> GroupSet:
    """Each cationic atom alone (a row stands for its charged group)."""
    atoms = np.flatnonzero(tables.props.cation & tables.union_mask)
    return GroupSet([np.array([a]) for a in atoms], atoms.astype(np.int64),
                    tables.props.charge_group[atoms].astype(np.int64),
                    [tables.labels.values[c] for c in tables.group_label[atoms]])


#: group kind -> builder(tables) -> GroupSet, in the order the groups are stacked; a type reads
#: kinds of this table (``Interaction.groups``), built once per topology when an enabled type needs them
GROUP_TABLES: Mapping[str, Callable[["InteractionTables"], GroupSet]] = MappingProxyType({
    "sidechain": sidechain_groups,
    "ring": ring_groups,
    "cation": cation_groups,
})


class InteractionTables:
    """Everything derived once per topology, selection pair, enabled types and profile."""

    def __init__(self, universe, sel_a: str, sel_b: str, interactions: list, *,
                 criteria: str = "mpflow", intra: bool = False, min_residue_separation: int = 3,
                 chain_attr: str = "auto", ring_sel: str = "protein"):
        self.criteria = criteria
        self.intra = intra
        ag_a = _select(universe, "sel_a", sel_a)
        ag_b = _select(universe, "sel_b", sel_b)
        union = ag_a | ag_b
        atoms = universe.atoms
        n = atoms.n_atoms
        self.n_atoms = n
        self.in_a = np.zeros(n, bool)
        self.in_a[ag_a.indices] = True
        self.in_b = np.zeros(n, bool)
        self.in_b[ag_b.indices] = True
        self.union_mask = self.in_a | self.in_b
        self.union_idx = np.flatnonzero(self.union_mask)
        if np.array_equal(ag_a.indices, ag_b.indices):
            self.pair_mode = "same"
        elif not np.any(self.in_a & self.in_b):
            self.pair_mode = "disjoint"
        else:
            self.pair_mode = "overlap"
        self.names = np.asarray(atoms.names, dtype=object)
        self.resindex = atoms.resindices.astype(np.int64)
        self.resid = atoms.resids.astype(np.int64)
        box = universe.trajectory.ts.dimensions
        positions = atoms.positions

        # ring atoms: every chain of the assembly, selected or not (the selections when none)
        ring_atoms = union
        if ring_sel:
            try:
                ring_atoms = _select(universe, "ring_sel", ring_sel)
            except SelectionProblem as exc:
                if exc.reason != "matches no atom":
                    raise
        labelled = ring_atoms | union
        self._bonds_and_pbc(universe, labelled, positions, box)

        # chains
        try:
            labels_all = chain_labels(labelled, chain_attr, self.bonds)
        except ValueError as exc:
            raise ValueError(f"chains: {exc}") from None
        self.chain_names = sorted(set(labels_all.tolist()))
        code_of = {c: k for k, c in enumerate(self.chain_names)}
        self.chain = np.full(n, -1, dtype=np.int64)
        self.chain[labelled.indices] = [code_of[c] for c in labels_all]
        self.ring_atom_idx = ring_atoms.indices
        self.ring_chain_labels = np.array(self.chain_names, dtype=object)[
            self.chain[self.ring_atom_idx]]
        self._check_pairs_possible()

        # chemistry
        ub = self.bonds[self.union_mask[self.bonds[:, 0]] & self.union_mask[self.bonds[:, 1]]] \
            if self.bonds is not None else np.zeros((0, 2), np.int64)
        same_side = (self.in_a[ub[:, 0]] & self.in_a[ub[:, 1]]) | (self.in_b[ub[:, 0]] & self.in_b[ub[:, 1]])
        self.props: AtomProperties = atom_properties(
            universe, union.indices, criteria=criteria, bonds=ub, molecule_bonds=ub[same_side],
            box=box)

        self._anchors()

        # strings
        codes, uniq = pd.factorize(self.names)
        self.labels = Labels([str(s) for s in uniq])
        self.atom_label = codes.astype(np.int64)
        self.group_label = self.atom_label.copy()
        g = self.props.charge_group
        used = np.flatnonzero(g >= 0)
        if len(used):
            order = used[np.argsort(g[used], kind="stable")]
            cuts = np.flatnonzero(np.diff(g[order])) + 1
            for members in np.split(order, cuts):
                self.group_label[members] = self.labels(",".join(self.names[members]))
        self.resnames = sorted(set(atoms.resnames.tolist()))
        rn_code = {r: k for k, r in enumerate(self.resnames)}
        self.resname_code = np.array([rn_code[r] for r in universe.residues.resnames],
                                     dtype=np.int64)[self.resindex]
        first_atom = np.zeros(universe.residues.n_residues, dtype=np.int64)
        res_u, res_first = np.unique(self.resindex, return_index=True)
        first_atom[res_u] = res_first
        # canonical rank of a row side: resid, then atom rank inside the residue
        self.rank = self.resid * 100000 + (np.arange(n) - first_atom[self.resindex])

        # what the enabled types read
        self.interactions = interactions
        self.type_data: dict[str, dict] = {}
        self._atom_searches(interactions, min_residue_separation)
        self._groups(interactions, min_residue_separation)
        self._vicinity_tables()
        for it in interactions:
            it.prepare(self)

    # ------------------------------------------------------------------ bonds and boxes
    def _bonds_and_pbc(self, universe, labelled, positions, box) -> None:
        """Bonds among ``labelled`` atoms and the per-frame whole-molecule machinery."""
        self.bonds, self.bonds_source, self.bonds_error = bonds_of(labelled, positions, box)
        if self.bonds is not None:
            self.whole: WholeMolecules | None = WholeMolecules(self.bonds, self.n_atoms)
            self.span_check: ResidueSpanCheck | None = None
        else:
            self.whole = None
            self.span_check = ResidueSpanCheck(labelled.indices, self.resindex)

    def _anchors(self) -> None:
        """Anchors: selected heavy atoms, and selected hydrogens bonded to none.  ``h_members``
        (n_atoms, 5): an anchor, then its selected hydrogens (-1 padded); ``h_child``/``h_parent``:
        every selected hydrogen with its anchor (for the per-frame hydrogen bond-length bound)."""
        p = self.props
        sel = self.union_mask
        hyd = np.where(sel[np.maximum(p.hydrogens, 0)], p.hydrogens, -1)
        heavy = p.roles["heavy"] & sel
        hyd[~heavy] = -1
        has_parent = np.zeros(self.n_atoms, bool)
        has_parent[hyd[hyd >= 0]] = True
        is_h = sel & ~p.roles["heavy"]
        anchor = heavy | (is_h & ~has_parent)
        p.roles["anchor"] = anchor
        self.h_members = np.concatenate([np.where(anchor, np.arange(self.n_atoms), -1)[:, None],
                                         hyd], axis=1)
        rows, cols = np.nonzero(hyd >= 0)
        self.h_parent = rows.astype(np.int64)
        self.h_child = hyd[rows, cols].astype(np.int64)

    def _check_pairs_possible(self) -> None:
        if self.intra:
            return
        ca = sorted({self.chain_names[c] for c in set(self.chain[self.in_a].tolist())})
        cb = sorted({self.chain_names[c] for c in set(self.chain[self.in_b].tolist())})
        if len(set(ca) | set(cb)) <= 1:
            raise NothingToCompute(
                f"no interchain pairs: sel_a and sel_b are both only chain {ca[0]} "
                "(chains come from the topology: chain ids, segments, molecules or bonds; "
                "use intra=True for pairs within a chain)")

    # ------------------------------------------------------------------ searches
    def _atom_searches(self, interactions: list, min_sep: int) -> None:
        """One atom search per atom set ("heavy", "all") that the enabled atom-level types read."""
        sets: dict[str, tuple[np.ndarray, float]] = {}
        roles = self.props.roles
        for it in interactions:
            if it.level != "atoms":
                continue
            mask, cut = sets.get(it.search_atoms, (np.zeros(self.n_atoms, bool), 0.0))
            for r in it.roles:
                mask = mask | roles[r]
            sets[it.search_atoms] = (mask, max(cut, it.search_cutoff_A(self)))
        self.atom_search: dict[str, PairSearch] = {}
        self.atom_cutoff: dict[str, float] = {}
        self.atom_cutoff_types: dict[str, list] = {}
        for name, (mask, cut) in sets.items():
            self.atom_search[name] = PairSearch(self.in_a & mask, self.in_b & mask, self.chain,
                                                self.resid, self.intra, min_sep)
            self.atom_cutoff[name] = cut
            self.atom_cutoff_types[name] = [it for it in interactions
                                            if it.level == "atoms" and it.search_atoms == name]

    def _groups(self, interactions: list, min_sep: int) -> None:
        """Build and stack the group tables the enabled types declare."""
        wanted = {k for it in interactions if it.level == "groups" for k in it.groups}
        kinds = [k for k in GROUP_TABLES if k in wanted]
        self.group_kinds = kinds
        self.group_slice: dict[str, slice] = {}
        self.group_extra: dict[str, dict] = {}
        members: list[np.ndarray] = []
        kind_code, rep, key, label = [], [], [], []
        key_base = self.n_atoms  # group keys live above atom indices
        for code, kind in enumerate(kinds):
            gs = GROUP_TABLES[kind](self)
            start = len(members)
            members += list(gs.members)
            self.group_slice[kind] = slice(start, len(members))
            self.group_extra[kind] = gs.extra
            kind_code.append(np.full(len(gs), code, dtype=np.int64))
            rep.append(np.asarray(gs.rep, dtype=np.int64))
            key.append(key_base + np.asarray(gs.key, dtype=np.int64))
            label += [self.labels(s) for s in gs.label]
            key_base += int(np.max(gs.key)) + 1 if len(gs) else 0
        ng = len(members)
        cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64))
        self.group_kind = cat(kind_code)
        self.group_atom = cat(rep)
        self.group_key = cat(key)
        self.group_label_of = np.array(label, dtype=np.int64)
        sizes = np.array([len(m) for m in members], dtype=np.int64)
        indptr = np.r_[0, np.cumsum(sizes)]
        cols = np.concatenate(members) if members else np.zeros(0, np.int64)
        weights = np.repeat(1.0 / np.maximum(sizes, 1), sizes)
        self.centroid_matrix = sparse.csr_matrix((weights, cols, indptr), shape=(ng, self.n_atoms))
        self.group_cutoff = max((it.search_cutoff_A(self) for it in interactions
                                 if it.level == "groups"), default=0.0)
        ga = self.group_atom
        self.group_search = PairSearch(self.in_a[ga], self.in_b[ga], self.chain[ga],
                                       self.resid[ga], self.intra, min_sep)

    def _vicinity_tables(self) -> None:
        """prolif: union atoms of each residue (padded), for ProLIF's 6.0 A residue vicinity."""
        self.vicinity_A = PROLIF_VICINITY_A if self.criteria == "prolif" else None
        self.res_row = np.full(self.n_atoms, -1, dtype=np.int64)
        self.res_atoms = np.zeros((0, 1), dtype=np.int64)
        if self.vicinity_A is None:
            return
        idx = np.flatnonzero(self.union_mask)
        order = idx[np.argsort(self.resindex[idx], kind="stable")]
        rows = np.split(order, np.flatnonzero(np.diff(self.resindex[order])) + 1)
        width = max(len(r) for r in rows)
        table = np.full((len(rows), width), -1, dtype=np.int64)
        for k, r in enumerate(rows):
            table[k, :len(r)] = r
            self.res_row[r] = k
        self.res_atoms = table

    def prolif_ligand_side(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Which atom of each pair (``a[k]``, ``b[k]``) is on ProLIF's ligand side, for its
        asymmetric tests: +1 ``a``, -1 ``b``, 0 neither (a pair inside one chain of overlapping
        selections).  ProLIF runs with sel-a as its ligand, so with disjoint selections the sel-a
        atom; otherwise (chains found automatically) the atom on the first chain of the pair, in
        label order, as ProLIF run with chain A as its ligand against chain B."""
        if self.pair_mode == "disjoint":
            return np.where(self.in_a[a], 1, -1)
        return np.sign(self.chain[b] - self.chain[a])

    # ------------------------------------------------------------------ per run
    def ring_order(self, positions: np.ndarray, box) -> list[str]:
        """Ring order of the chains at ``positions`` (molecules whole)."""
        return ring_order_from_positions(positions[self.ring_atom_idx],
                                         self.names[self.ring_atom_idx], self.ring_chain_labels,
                                         box)
