"""Chains of an assembly and their ring order: the direction normalisation of interactions.

This module owns (1) which chain an atom belongs to (:func:`chain_labels`: chain ids, segments,
molecules or bonded fragments of the topology, never geometry) and (2) the ring
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
from MDAnalysis.lib.distances import minimize_vectors
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from mpflow.analysis.structure.bonds import bonds_of
from mpflow.analysis.structure.periodic import box_matrix

OFFSET_NONE = 127  # sentinel for "non-adjacent" inside int8 tables


def chain_labels(atoms, attr: str = "auto", bonds: np.ndarray | None = None) -> np.ndarray:
    """Chain label per atom of ``atoms``, from the topology only (a box crossing is never a break).

    ``attr``: ``chainIDs``, ``segids``, ``molnums`` (GROMACS TPR molecules) or ``fragments``
    (connected components of ``bonds``, indices into the universe; default: the topology's bonds,
    else bonds guessed with the box, see :func:`mpflow.analysis.structure.bonds.bonds_of`).  ``auto``:
    the first of chainIDs, segids, molnums that splits ``atoms`` into more than one value, else
    the bonded fragments (``ValueError`` when no bonds can be had).  Molecule and fragment labels
    are letters in order of first atom (``M<k>`` beyond 26).
    """
    if attr not in ("auto", "chainIDs", "segids", "molnums", "fragments"):
        raise ValueError(f"chain attribute {attr!r} unknown; valid: auto, chainIDs, segids, "
                         "molnums, fragments")
    if attr == "fragments":
        return _fragment_letters(atoms, bonds)
    if attr != "auto":
        try:
            values = np.asarray(getattr(atoms, attr))
        except AttributeError:
            raise ValueError(f"the topology has no {attr}") from None
        return values.astype(str).astype(object) if attr != "molnums" else _letters(values)
    for name in ("chainIDs", "segids", "molnums"):
        try:
            values = np.asarray(getattr(atoms, name))
        except (AttributeError, Exception):  # noqa: BLE001 - attribute absent in this topology
            continue
        if len(set(values.tolist())) > 1:
            return values.astype(str).astype(object) if name != "molnums" else _letters(values)
    return _fragment_letters(atoms, bonds)


def _fragment_letters(atoms, bonds: np.ndarray | None) -> np.ndarray:
    if bonds is None:
        bonds, _, error = bonds_of(atoms)
        if bonds is None:
            raise ValueError("no chain ids, segments or molecules tell the chains apart and the "
                             f"bonds that would cannot be known: {error}")
    return _letters(bonded_components(atoms.indices, bonds))


def _letters(values: np.ndarray) -> np.ndarray:
    """Letters A, B, ... for the distinct ``values`` in order of first appearance."""
    _, first, inverse = np.unique(values, return_index=True, return_inverse=True)
    rank = np.argsort(np.argsort(first))
    n = len(first)
    names = [chr(ord("A") + k) if n <= 26 else f"M{k}" for k in range(n)]
    return np.array(names, dtype=object)[rank[inverse]] if len(values) else np.zeros(0, object)


def bonded_components(indices: np.ndarray, bonds: np.ndarray | None) -> np.ndarray:
    """Connected-component id per atom of ``indices`` over ``bonds`` (universe indices)."""
    indices = np.asarray(indices, dtype=np.int64)
    n = len(indices)
    if bonds is None or len(bonds) == 0 or n == 0:
        return np.zeros(n, dtype=np.int64)
    local = np.full(int(max(indices.max(), bonds.max())) + 1, -1, dtype=np.int64)
    local[indices] = np.arange(n)
    i, j = local[bonds[:, 0]], local[bonds[:, 1]]
    keep = (i >= 0) & (j >= 0)
    graph = csr_matrix((np.ones(keep.sum()), (i[keep], j[keep])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


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


def ring_order_from_atoms(atoms, chains: np.ndarray, box=None) -> list[str]:
    """Ring order of the chains of ``atoms`` (labels ``chains`` per atom) at the current frame."""
    return ring_order_from_positions(atoms.positions, atoms.names, chains, box)


def ring_order_from_positions(positions: np.ndarray, names: np.ndarray, chains: np.ndarray,
                              box=None) -> list[str]:
    """Ring order of chains from atom ``positions``, ``names`` and chain labels ``chains``.

    Centroids and directions use CA atoms when a chain has at least two, else all its atoms.  With
    a box, each chain centroid is taken as the image nearest to the first chain's, so chains in
    different periodic images still form their ring (chains must be whole).
    """
    labels = sorted(set(chains.tolist()))
    cents, dirs = [], []
    for lab in labels:
        m = chains == lab
        ca = m & (names == "CA")
        use = ca if ca.sum() >= 2 else m
        p = positions[use]
        cents.append(p.mean(axis=0))
        dirs.append(p[-1] - p[0])
    cents = np.array(cents, dtype=np.float32)
    if box_matrix(box) is not None and len(cents) > 1:
        cents = cents[0] + minimize_vectors(cents - cents[0], np.asarray(box, dtype=np.float32))
    return ring_order(labels, cents, np.array(dirs))


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
