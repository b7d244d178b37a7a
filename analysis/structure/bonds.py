"""Bonds of a topology, or guessed from distances: what chains and whole molecules are built from.

This module owns which atoms are bonded:

- :func:`topology_bonds`: the topology's bond list, each bond once;
- :func:`guess_bonds`: bonds from distances with the box (the VMD rule MDAnalysis' guesser uses:
  ``d < 0.55 (R1 + R2)`` with MDAnalysis' ``vdwradii``, pairs closer than 0.1 A ignored), for
  topologies without bonds (GRO, plain PDB).  The minimum image keeps bonds across the box;
- :func:`bonds_of`: the topology's bonds when they cover the atoms, else guessed ones, else none
  with the reason (read by the chains of :mod:`mpflow.analysis.structure.ring_order` and the
  whole molecules of :mod:`mpflow.analysis.structure.periodic`).
"""

from __future__ import annotations

import itertools

import numpy as np
from MDAnalysis.lib.distances import self_capped_distance

from mpflow.analysis.structure.elements import elements_of, mdanalysis_vdw_radii
from mpflow.analysis.structure.periodic import box_matrix

BOND_FUDGE = 0.55
BOND_LOWER_A = 0.1


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Index pairs (k, 2) sorted within each pair, each pair once, in lexicographic order (a
    PDB's CONECT records list every bond from both ends)."""
    pairs = np.sort(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=1)
    if len(pairs) == 0:
        return pairs
    stride = np.int64(pairs.max()) + 1
    keys = np.unique(pairs[:, 0] * stride + pairs[:, 1])
    return np.stack([keys // stride, keys % stride], axis=1)


def guess_bonds(positions: np.ndarray, elements: np.ndarray, indices: np.ndarray, box) -> np.ndarray:
    """(k, 2) bonds (universe indices) among ``indices`` from their distances (minimum image).

    Raises ``ValueError`` naming the elements MDAnalysis' ``vdwradii`` table has no radius for.
    """
    radii_of = mdanalysis_vdw_radii()
    indices = np.asarray(indices, dtype=np.int64)
    el = elements[indices]
    missing = sorted({str(e) for e in el if e not in radii_of})
    if missing:
        raise ValueError(f"cannot guess bonds: no van der Waals radius for element(s) "
                         f"{', '.join(missing)}")
    if len(indices) < 2:
        return np.zeros((0, 2), np.int64)
    r = np.array([radii_of[e] for e in el])
    pairs, d = self_capped_distance(positions[indices].astype(np.float32),
                                    max_cutoff=2.0 * float(r.max()), min_cutoff=BOND_LOWER_A,
                                    box=box if box_matrix(box) is not None else None)
    keep = d < BOND_FUDGE * (r[pairs[:, 0]] + r[pairs[:, 1]])
    return unique_pairs(indices[pairs[keep]])


def topology_bonds(universe) -> np.ndarray:
    """(k, 2) bond indices of the topology, each bond once (AttributeError when it has none)."""
    try:  # the raw bond list: building MDAnalysis' Bond objects costs ~20 ms per 5,000 bonds
        values = universe._topology.bonds.values
        flat = np.fromiter(itertools.chain.from_iterable(values), dtype=np.int64,
                           count=2 * len(values))
    except AttributeError:
        raise
    except Exception:  # noqa: BLE001 - a private layout we do not know: the public route
        flat = np.asarray(universe.bonds.indices, dtype=np.int64)
    return unique_pairs(flat.reshape(-1, 2))


def bonds_of(atoms, positions: np.ndarray | None = None, box=None
             ) -> tuple[np.ndarray | None, str, str | None]:
    """Bonds among ``atoms``: (bonds, source, error).

    The topology's bonds when every atom of a multi-atom residue takes part in one (source
    "topology"); else bonds guessed from ``positions`` (default: the current frame's) with
    ``box`` (default: its box) ("guessed"); else ``(None, "none", reason)``.
    """
    universe = atoms.universe
    n = universe.atoms.n_atoms
    idx = atoms.indices
    is_sel = np.zeros(n, bool)
    is_sel[idx] = True
    resindex = universe.atoms.resindices
    try:
        b = topology_bonds(universe)
        b = b[is_sel[b[:, 0]] & is_sel[b[:, 1]]]
        counts = np.bincount(resindex[idx], minlength=universe.residues.n_residues)
        need = idx[counts[resindex[idx]] > 1]
        bonded = np.zeros(n, bool)
        bonded[b.ravel()] = True
        if len(b) and bonded[need].all():
            return b, "topology", None
    except (AttributeError, Exception):  # noqa: BLE001 - no bonds in this topology
        pass
    positions = universe.atoms.positions if positions is None else positions
    box = universe.trajectory.ts.dimensions if box is None else box
    elements = np.full(n, "X", dtype=object)
    elements[idx] = elements_of(atoms)
    try:
        return guess_bonds(positions, elements, idx, box), "guessed", None
    except ValueError as exc:
        return None, "none", str(exc)
