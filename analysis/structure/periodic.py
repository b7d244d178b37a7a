"""Periodic boxes: molecules split across the box are detected and made whole, frame by frame.

This module owns the interaction engine's answer to a trajectory whose molecules cross the
periodic boundary (a ring centroid or a chain centroid of split coordinates is wrong, silently):

- :func:`box_matrix`: the 3x3 box vectors of MDAnalysis dimensions (None: no box);
- :class:`WholeMolecules`: built once from the bonds (:mod:`mpflow.analysis.structure.bonds`);
  per frame :meth:`WholeMolecules.broken` is one vectorised check (a bond whose vector changes
  under the minimum image, i.e. longer than half the box) and, only when a frame is broken,
  :meth:`WholeMolecules.make_whole` shifts atoms by box vectors along a spanning tree of the bonds
  so every bonded molecule is whole (what MDAnalysis' ``make_whole``/``unwrap`` transformation
  does; done here on arrays so worker processes need no Universe);
- :class:`ResidueSpanCheck`: without bonds, a residue spanning more than half the box marks a
  broken frame; the engine then stops with :data:`FIX_HINT`.

Whole chains assembled in one image as an MD frame is read are
:mod:`mpflow.analysis.structure.whole_chains`' job.
"""

from __future__ import annotations

import numpy as np
from MDAnalysis.lib.mdamath import triclinic_vectors
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

FIX_HINT = ("make molecules whole first, e.g. `gmx trjconv -pbc mol` (or give a topology with "
            "bonds: TPR, PSF, PDB with CONECT)")


def box_matrix(box) -> np.ndarray | None:
    """3x3 box vectors (rows) from MDAnalysis dimensions, or None for no / degenerate box."""
    if box is None:
        return None
    box = np.asarray(box, dtype=np.float64)
    if box.shape[0] < 6 or not np.all(box[:3] > 0):
        return None
    if box[3] == 90.0 and box[4] == 90.0 and box[5] == 90.0:
        return np.diag(box[:3])
    return np.asarray(triclinic_vectors(box), dtype=np.float64)


class WholeMolecules:
    """Broken-bond check and make-whole over a fixed set of bonds (universe atom indices)."""

    def __init__(self, bonds: np.ndarray, n_atoms: int):
        bonds = np.asarray(bonds, dtype=np.int64).reshape(-1, 2)
        self.bond_i, self.bond_j = bonds[:, 0], bonds[:, 1]
        atoms = np.unique(bonds) if len(bonds) else np.zeros(0, np.int64)
        self.atoms = atoms
        m = len(atoms)
        self.parent = np.full(m, -1, dtype=np.int64)  # local parent index, -1 for roots
        if m == 0:
            return
        local = np.full(n_atoms, -1, dtype=np.int64)
        local[atoms] = np.arange(m)
        li, lj = local[self.bond_i], local[self.bond_j]
        graph = csr_matrix((np.ones(len(li)), (li, lj)), shape=(m, m))
        _, comp = connected_components(graph, directed=False)
        roots = np.unique(comp, return_index=True)[1]  # first (lowest-index) atom of each molecule
        # one breadth-first search from a virtual node joined to every molecule's root
        vi = np.concatenate([li, np.full(len(roots), m)])
        vj = np.concatenate([lj, roots])
        vgraph = csr_matrix((np.ones(len(vi)), (vi, vj)), shape=(m + 1, m + 1))
        _, pred = breadth_first_order(vgraph, m, directed=False, return_predecessors=True)
        parent = pred[:m].astype(np.int64)
        parent[parent == m] = -1
        self.parent = parent

    def broken(self, positions: np.ndarray, box) -> bool:
        """True when some bond vector is longer than half the box along a box vector."""
        mat = box_matrix(box)
        if mat is None or len(self.bond_i) == 0:
            return False
        d = positions[self.bond_j] - positions[self.bond_i]
        if not np.any(mat - np.diag(np.diag(mat))):  # orthorhombic: compare with half the edges
            np.abs(d, out=d)
            return bool((d > (0.5 * np.diag(mat)).astype(d.dtype)).any())
        return bool(np.any(np.abs(d @ np.linalg.inv(mat)) > 0.5))

    def make_whole(self, positions: np.ndarray, box) -> np.ndarray:
        """A copy of ``positions`` with every bonded molecule whole (its root atom stays put)."""
        mat = box_matrix(box)
        out = np.array(positions, dtype=np.float32, copy=True)
        if mat is None or len(self.atoms) == 0:
            return out
        pos = out[self.atoms].astype(np.float64)
        has_parent = self.parent >= 0
        step = np.zeros_like(pos)
        child = np.flatnonzero(has_parent)
        frac = (pos[child] - pos[self.parent[child]]) @ np.linalg.inv(mat)
        step[child] = -np.round(frac) @ mat
        # shift of each atom = sum of the steps on its path to the root (pointer jumping)
        anc = self.parent.copy()
        acc = step
        while True:
            live = np.flatnonzero(anc >= 0)
            if len(live) == 0:
                break
            up = anc[live]
            acc_new = acc.copy()
            acc_new[live] += acc[up]
            anc_new = anc.copy()
            anc_new[live] = anc[up]
            acc, anc = acc_new, anc_new
        out[self.atoms] = (pos + acc).astype(np.float32)
        return out


class ResidueSpanCheck:
    """Without bonds: a frame is broken when a residue spans more than half the box."""

    def __init__(self, atom_indices: np.ndarray, resindex: np.ndarray):
        idx = np.asarray(atom_indices, dtype=np.int64)
        order = np.argsort(resindex[idx], kind="stable")
        self.atoms = idx[order]
        res = resindex[self.atoms]
        self.starts = np.r_[0, np.flatnonzero(np.diff(res)) + 1] if len(res) else np.zeros(0, int)

    def broken(self, positions: np.ndarray, box) -> bool:
        mat = box_matrix(box)
        if mat is None or len(self.atoms) == 0:
            return False
        frac = positions[self.atoms] @ np.linalg.inv(mat)
        span = np.maximum.reduceat(frac, self.starts) - np.minimum.reduceat(frac, self.starts)
        return bool(np.any(span > 0.5))
