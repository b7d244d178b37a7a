"""Chains of an assembly and their ring order: the direction normalisation of interactions.

This module owns (1) which chain an atom belongs to (:func:`chain_labels`; topologies without
chain ids are split at peptide-bond breaks) and (2) the ring
order of the chains of a C_n-like assembly taken from the geometry, never from chain letters
(:func:`ring_order`), and the ring offset of a chain pair (:func:`offset_table`).

Rule
----
- Assembly axis: for n >= 3 chains, the normal of the plane that best fits the chain centroids
  (smallest singular vector); its sign is chosen along the sum of the chains' N→C vectors
  (first to last CA), so the axis points the way the helices run.  For n <= 2 no axis is needed.
- Ring order: chains sorted by their azimuth around the axis through the centroid of the chain
  centroids, counter-clockwise (right-handed) about the axis; the first chain in order is the one
  with the smallest label, so the result does not depend on the reference direction.
- Offset of pair (X→Y): d = (pos(Y) − pos(X)) mod n; +1 if d == 1, −1 if d == n−1, 0 if X == Y,
  None otherwise (non-adjacent).  **Dimer (n == 2)**: the partner is both the next and the
  previous chain; both directions are labelled +1, so the two symmetric copies A→B and B→A share
  one key.  n == 1: only 0 (intra-chain).
"""

from __future__ import annotations

import numpy as np

OFFSET_NONE = 127  # sentinel for "non-adjacent" inside int8 tables


def chain_labels(atoms, attr: str = "auto") -> np.ndarray:
    """Chain label per atom of ``atoms``: ``chainIDs`` or ``segids`` (``auto``: the first of the two
    that splits ``atoms`` into more than one value, else bonded fragments, else
    :func:`backbone_segments`).
    """
    if attr != "auto":
        if attr == "fragments":
            return np.array([str(f) for f in atoms.fragindices], dtype=object)
        return np.asarray(getattr(atoms, attr), dtype=object).astype(str)
    for name in ("chainIDs", "segids"):
        try:
            values = np.asarray(getattr(atoms, name)).astype(str)
        except (AttributeError, Exception):  # noqa: BLE001 - attribute absent in this topology
            continue
        if len(set(values.tolist())) > 1:
            return values.astype(object)
    try:
        frag = atoms.fragindices
        if len(set(frag.tolist())) > 1:
            return np.array([f"F{f}" for f in frag], dtype=object)
    except Exception:  # noqa: BLE001 - no bonds: split at peptide-bond breaks below
        pass
    return backbone_segments(atoms)


def backbone_segments(atoms, max_peptide_bond_A: float = 2.0) -> np.ndarray:
    """Chain labels from geometry (current frame): a new chain starts wherever residue i's C and
    residue i+1's N are farther apart than ``max_peptide_bond_A`` or missing (e.g. GRO files)."""
    residues = atoms.residues
    seg = np.zeros(len(residues), dtype=np.int64)
    prev_c = None
    k = 0
    for r, res in enumerate(residues):
        ra = res.atoms
        n = ra.select_atoms("name N")
        if r > 0 and (prev_c is None or len(n) == 0
                      or np.linalg.norm(n.positions[0] - prev_c) > max_peptide_bond_A):
            k += 1
        seg[r] = k
        c = ra.select_atoms("name C")
        prev_c = c.positions[0] if len(c) else None
    names = [chr(ord("A") + i) if seg.max() < 26 else f"S{i}" for i in range(seg.max() + 1)]
    res_pos = {ix: j for j, ix in enumerate(residues.resindices)}
    return np.array([names[seg[res_pos[ix]]] for ix in atoms.resindices], dtype=object)


def assembly_axis(centroids: np.ndarray, directions: np.ndarray | None = None) -> np.ndarray:
    """Unit axis of a ring of chain centroids (n >= 3), sign along the summed chain directions.

    ``centroids`` (n, 3) gives (3,); a stack (..., n, 3), e.g. one ring per frame, gives (..., 3).
    """
    centroids = np.asarray(centroids, dtype=float)
    centred = centroids - centroids.mean(axis=-2, keepdims=True)
    _, _, vt = np.linalg.svd(centred)
    axis = vt[..., -1, :]
    if directions is not None:
        s = np.asarray(directions, dtype=float).sum(axis=-2)
        axis = np.where((np.sum(axis * s, axis=-1) < 0)[..., None], -axis, axis)
    return axis / np.linalg.norm(axis, axis=-1, keepdims=True)


def ring_order(labels: list[str], centroids: np.ndarray, directions: np.ndarray | None = None
               ) -> list[str]:
    """Chain labels in angular order around the assembly axis (see the module docstring)."""
    labels = list(labels)
    n = len(labels)
    if n <= 2:
        return sorted(labels)
    centroids = np.asarray(centroids, dtype=float)
    axis = assembly_axis(centroids, directions)
    centre = centroids.mean(axis=0)
    radial = centroids - centre
    radial -= np.outer(radial @ axis, axis)
    ref = radial[int(np.argmax(np.linalg.norm(radial, axis=1)))]
    u = ref / np.linalg.norm(ref)
    v = np.cross(axis, u)
    azimuth = np.arctan2(radial @ v, radial @ u)
    order = [labels[i] for i in np.argsort(azimuth, kind="stable")]
    start = order.index(min(labels))
    return order[start:] + order[:start]


def ring_order_from_atoms(atoms, chains: np.ndarray) -> list[str]:
    """Ring order of the chains of ``atoms`` (labels ``chains`` per atom) at the current frame.

    Centroids and directions use CA atoms when a chain has at least two, else all its atoms.
    """
    labels = sorted(set(chains.tolist()))
    cents, dirs = [], []
    names = atoms.names
    pos = atoms.positions
    for lab in labels:
        m = chains == lab
        ca = m & (names == "CA")
        use = ca if ca.sum() >= 2 else m
        p = pos[use]
        cents.append(p.mean(axis=0))
        dirs.append(p[-1] - p[0])
    return ring_order(labels, np.array(cents), np.array(dirs))


def offset_table(order: list[str], labels: list[str]) -> np.ndarray:
    """int8 table ``T[i, j]`` = ring offset from chain ``labels[i]`` to ``labels[j]``.

    Values +1, −1, 0 or :data:`OFFSET_NONE` (non-adjacent, or a chain missing from ``order``).
    """
    n = len(order)
    pos = {lab: k for k, lab in enumerate(order)}
    table = np.full((len(labels), len(labels)), OFFSET_NONE, dtype=np.int8)
    for i, li in enumerate(labels):
        for j, lj in enumerate(labels):
            if li == lj:
                table[i, j] = 0
            elif li in pos and lj in pos:
                d = (pos[lj] - pos[li]) % n
                if n == 2 or d == 1:
                    table[i, j] = 1
                elif d == n - 1:
                    table[i, j] = -1
    return table
