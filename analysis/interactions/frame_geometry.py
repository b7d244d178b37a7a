"""Per-frame geometry of the interaction engine: neighbour searches, the frame context, the hits.

This module owns what is computed from one frame's coordinates and shared by the types:

- :class:`PairSearch`: unordered pairs between sel-a items and sel-b items (atoms or group
  centroids) within a cut-off, one row per pair, the sel-a item first, filtered by chain (pairs
  inside one chain only with ``intra``, and then ``min_residue_separation`` apart).  When the
  searched points are compact enough that no periodic image can come within the cut-off (their
  extent along each box direction plus the cut-off fits in the box, or there is no box) a
  k-d tree search without the box is exact and several times faster than a box-aware grid; else
  MDAnalysis' ``capped_distance`` with the box (minimum image).
- :class:`FrameContext`: one frame's coordinates (float64), the candidate pairs of each atom set
  and of the groups (each computed once, lazily), group centroids, minimum-image vectors,
  ProLIF's residue vicinity, and a ``cache`` for per-frame quantities several types share.
- :class:`Hits`: what a type's ``detect`` returns for one frame (parallel arrays);
- :func:`orient_and_reduce`: symmetric rows turned to the canonical orientation, then one row
  per key pair (the closest).

The frame context reads the topology tables (:mod:`mpflow.analysis.interactions.topology`) and the
enabled types' per-frame cut-offs by their attributes; it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from MDAnalysis.lib.distances import capped_distance, minimize_vectors, self_capped_distance
from scipy.spatial import cKDTree

from mpflow.analysis.structure.periodic import box_matrix

_KEY_STRIDE = np.int64(1 << 31)
#: searches run this much beyond the cut-off; every type then filters with its own <= threshold
_SEARCH_SLACK_A = 1e-4


@dataclass
class Hits:
    """Detected interactions of one type in one frame (parallel arrays, one entry per row).

    ``a``/``b``: representative atom index per side; ``key_a``/``key_b``: what one row stands for
    (atom, charged group, residue or ring id), used to keep one row per key pair (the closest);
    ``label_a``/``label_b``: codes of the atom-name labels; ``hydrogen``: H atom index or -1.
    """

    a: np.ndarray
    b: np.ndarray
    key_a: np.ndarray
    key_b: np.ndarray
    label_a: np.ndarray
    label_b: np.ndarray
    distance: np.ndarray
    angle: np.ndarray
    hydrogen: np.ndarray
    fallback: bool = False

    @classmethod
    def empty(cls) -> "Hits":
        z = np.zeros(0, dtype=np.int64)
        f = np.zeros(0, dtype=np.float64)
        return cls(z, z, z, z, z, z, f, f, z)

    def __len__(self) -> int:
        return len(self.a)

    def take(self, idx: np.ndarray) -> "Hits":
        return Hits(self.a[idx], self.b[idx], self.key_a[idx], self.key_b[idx], self.label_a[idx],
                    self.label_b[idx], self.distance[idx], self.angle[idx], self.hydrogen[idx],
                    self.fallback)


class BoxInfo:
    """One frame's box: vectors, inverse, heights between opposite faces (``mat`` None: no box)."""

    def __init__(self, box):
        self.mat = box_matrix(box)
        self.box = np.asarray(box, dtype=np.float32) if self.mat is not None else None
        if self.mat is not None:
            self.inv = np.linalg.inv(self.mat)
            self.orthorhombic = not np.any(self.mat - np.diag(np.diag(self.mat)))
            volume = abs(np.linalg.det(self.mat))
            self.heights = volume / np.linalg.norm(
                np.cross(self.mat[[1, 2, 0]], self.mat[[2, 0, 1]]), axis=1)

    def tree_search_is_exact(self, lo: np.ndarray, hi: np.ndarray, cutoff: float) -> bool:
        """True when points inside the Cartesian bounding box ``lo``-``hi`` have no periodic image
        within ``cutoff`` of one another (their extent along each box direction plus ``cutoff``
        fits in the box; for a triclinic box the corners of the bounding box are used)."""
        if self.mat is None:
            return True
        if self.orthorhombic:
            extent = (hi - lo) / np.diag(self.mat)
        else:
            corners = np.array([[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                                for z in (lo[2], hi[2])])
            frac = corners @ self.inv
            extent = frac.max(axis=0) - frac.min(axis=0)
        return bool(np.all((1.0 - extent) * self.heights >= cutoff))


def _tree(x: np.ndarray) -> cKDTree:
    # unbalanced, non-compact nodes: built in a fraction of the default time; queries stay fast
    return cKDTree(x, balanced_tree=False, compact_nodes=False)


def pairs_within(xa: np.ndarray, xb: np.ndarray | None, cutoff: float,
                 box: BoxInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(i, j, d, direct): pairs within ``cutoff`` (minimum image), i into ``xa``, j into ``xb``;
    with ``xb=None`` the unordered pairs i < j of ``xa`` with itself.  ``direct``: the points
    were compact enough for a k-d tree search without the box (exact, and several times faster
    than a box-aware grid), else MDAnalysis' ``capped_distance`` with the box was used."""
    r = cutoff + _SEARCH_SLACK_A
    ta = _tree(xa)
    tb = _tree(xb) if xb is not None else None
    lo, hi = ta.mins, ta.maxes
    if tb is not None:
        lo, hi = np.minimum(lo, tb.mins), np.maximum(hi, tb.maxes)
    direct = box.tree_search_is_exact(lo, hi, r)
    if direct:
        if tb is None:
            pairs = ta.query_pairs(r, output_type="ndarray").astype(np.int64)
            i, j = pairs[:, 0], pairs[:, 1]
            d = np.linalg.norm(xa[i] - xa[j], axis=1)
        else:
            res = ta.sparse_distance_matrix(tb, r, output_type="ndarray")
            i, j, d = res["i"].astype(np.int64), res["j"].astype(np.int64), res["v"]
    else:
        if xb is None:
            pairs, d = self_capped_distance(xa.astype(np.float32), r, box=box.box)
        else:
            pairs, d = capped_distance(xa.astype(np.float32), xb.astype(np.float32), r,
                                       box=box.box)
        i, j = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    keep = d <= cutoff
    return i[keep], j[keep], d[keep], direct


class PairSearch:
    """Unordered item pairs between sel-a items and sel-b items, one row per pair, filtered by chain."""

    def __init__(self, in_a: np.ndarray, in_b: np.ndarray, chain: np.ndarray,
                 resid: np.ndarray, intra: bool, min_sep: int):
        self.ia = np.flatnonzero(in_a)
        self.ib = np.flatnonzero(in_b)
        self.iu = np.flatnonzero(in_a | in_b)
        self.in_a, self.in_b = in_a, in_b
        if np.array_equal(self.ia, self.ib):
            self.mode = "same"
        elif not np.any(in_a & in_b):
            self.mode = "disjoint"
        else:
            self.mode = "overlap"
        self.chain, self.resid = chain, resid
        self.intra, self.min_sep = intra, min_sep

    def search(self, positions: np.ndarray, cutoff: float, box: BoxInfo):
        """(i, j, d, direct): see :func:`pairs_within`; i, j are item indices."""
        if len(self.ia) == 0 or len(self.ib) == 0 or cutoff <= 0:
            z = np.zeros(0, np.int64)
            return z, z, np.zeros(0), True
        if self.mode == "disjoint":
            i, j, d, direct = pairs_within(positions[self.ia], positions[self.ib], cutoff, box)
            i, j = self.ia[i], self.ib[j]
        else:
            i, j, d, direct = pairs_within(positions[self.iu], None, cutoff, box)
            i, j = self.iu[i], self.iu[j]
            if self.mode == "overlap":
                ab = self.in_a[i] & self.in_b[j]
                ba = self.in_a[j] & self.in_b[i]
                keep = ab | ba
                swap = ~ab & ba
                i, j = np.where(swap, j, i)[keep], np.where(swap, i, j)[keep]
                d = d[keep]
        same = self.chain[i] == self.chain[j]
        if self.intra:
            keep = ~same | (np.abs(self.resid[i] - self.resid[j]) >= self.min_sep)
        else:
            keep = ~same
        return i[keep], j[keep], d[keep], direct


class FrameContext:
    """Coordinates of one frame and the candidate pairs every type reads (computed lazily, once)."""

    def __init__(self, tables, positions: np.ndarray, box):
        self.tables = tables
        self.positions = np.asarray(positions, dtype=np.float64)
        self.box_info = BoxInfo(box)
        self.box = np.asarray(box, dtype=np.float64) if self.box_info.mat is not None else None
        self.cache: dict = {}
        #: every search so far was direct (no periodic image near): vectors need no minimum image
        self.direct = True
        self._atom_pairs: dict[str, tuple] = {}
        self._group_positions = None
        self._group_pairs = None

    def minimize(self, v: np.ndarray) -> np.ndarray:
        """Minimum-image form of displacement vectors ``v`` between candidates of this frame's
        searches (unchanged without a box, or when the searched points sat in one image)."""
        if self.box is None or self.direct or len(v) == 0:
            return v
        return minimize_vectors(np.ascontiguousarray(v, dtype=np.float64), self.box)

    def atom_pairs(self, atom_set: str = "heavy"):
        """(i, j, d): unordered atom pairs of ``atom_set`` within its cut-off, i on the sel-a side."""
        got = self._atom_pairs.get(atom_set)
        if got is None:
            t = self.tables
            cut = t.atom_cutoff[atom_set]
            for it in t.atom_cutoff_types[atom_set]:
                extra = it.frame_cutoff_A(self)
                if extra is not None:
                    cut = max(cut, extra)
            *got, direct = t.atom_search[atom_set].search(self.positions, cut, self.box_info)
            self.direct &= direct
            self._atom_pairs[atom_set] = got
        return got

    def atom_pairs_both(self, atom_set: str = "heavy"):
        """Both orientations of :meth:`atom_pairs` (for directional types)."""
        key = atom_set + "|both"
        got = self._atom_pairs.get(key)
        if got is None:
            i, j, d = self.atom_pairs(atom_set)
            got = np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([d, d])
            self._atom_pairs[key] = got
        return got

    @property
    def group_positions(self) -> np.ndarray:
        if self._group_positions is None:
            self._group_positions = np.asarray(self.tables.centroid_matrix @ self.positions)
        return self._group_positions

    def group_pairs(self, kind_1: str, kind_2: str, both: bool = False):
        """Group pairs (g1 of ``kind_1``, g2 of ``kind_2``, d), global group indices.  For equal
        kinds one orientation per pair (sel-a group first), or both with ``both=True``."""
        t = self.tables
        if self._group_pairs is None:
            *self._group_pairs, direct = t.group_search.search(self.group_positions,
                                                               t.group_cutoff, self.box_info)
            self.direct &= direct
        i, j, d = self._group_pairs
        k = t.group_kind
        k1, k2 = t.group_kinds.index(kind_1), t.group_kinds.index(kind_2)
        if k1 == k2:
            m = (k[i] == k1) & (k[j] == k1)
            i, j, d = i[m], j[m], d[m]
            if both:
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

    def residues_within(self, atoms_a: np.ndarray, atoms_b: np.ndarray, cutoff: float) -> np.ndarray:
        """Whether the residues of ``atoms_a[k]`` and ``atoms_b[k]`` have atoms within ``cutoff``
        (ProLIF's residue vicinity; the selected atoms of each residue, minimum image)."""
        t = self.tables
        if len(atoms_a) == 0:
            return np.zeros(0, bool)
        ra, rb = t.res_atoms[t.res_row[atoms_a]], t.res_atoms[t.res_row[atoms_b]]
        pa = self.positions[np.maximum(ra, 0)]
        pb = self.positions[np.maximum(rb, 0)]
        diff = pa[:, :, None, :] - pb[:, None, :, :]
        diff = self.minimize(diff.reshape(-1, 3)).reshape(diff.shape)
        d2 = np.einsum("kabx,kabx->kab", diff, diff)
        valid = (ra >= 0)[:, :, None] & (rb >= 0)[:, None, :]
        d2 = np.where(valid, d2, np.inf)
        return d2.reshape(len(ra), -1).min(axis=1) <= cutoff * cutoff

    def vicinity_filter(self, hits: Hits, level: str) -> Hits:
        """prolif: drop hits whose residues have no atoms within the profile's vicinity."""
        cut = self.tables.vicinity_A
        if cut is None or len(hits) == 0:
            return hits
        check = np.ones(len(hits), bool) if level == "groups" else hits.distance > cut
        if not check.any():
            return hits
        keep = np.ones(len(hits), bool)
        idx = np.flatnonzero(check)
        keep[idx] = self.residues_within(hits.a[idx], hits.b[idx], cut)
        return hits if keep.all() else hits.take(np.flatnonzero(keep))


def orient_and_reduce(hits: Hits, symmetric: bool, tables, offsets: np.ndarray,
                      canonical: bool) -> Hits:
    """Turn symmetric rows to the canonical orientation, then keep the closest row per key pair.

    Canonical (overlapping selections): offset +1 rather than -1, else (resid, atom rank in
    residue) of side a the smaller; disjoint selections keep the sel-a atom on side a.
    """
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
