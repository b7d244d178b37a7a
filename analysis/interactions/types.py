"""The interaction types: one class per type, and the registry of them by name the engine reads.

This module owns the *criteria*.  Each class declares, per criteria profile, its thresholds
(named with units: ``_A`` for A, ``_deg`` for degrees) and the tool whose definition it follows,
and a vectorised ``detect(frame)`` turning the frame's candidate pairs (found once per frame by
the engine) into :class:`~mpflow.analysis.interactions.frame_geometry.Hits`; the group tables a
type reads (side-chain centroids, aromatic rings, cation atoms) are built once per topology by
:data:`mpflow.analysis.interactions.topology.GROUP_TABLES`.  The module ends with
:data:`INTERACTION_TYPES`, built from the explicit list of its classes (importing a module never
changes it), and :func:`make_interactions`, instances by name with per-type overrides.  Adding a
type means adding one class here and putting it in that list (and, if it needs a new kind of
group, its builder in the topology tables).

Types and their attribution (``describe(criteria)`` prints the same):

=============  ================================================================================
hbond          D-A <= 3.5 A and D-H...A 130-180 deg (ProLIF 2.2 HBDonor/HBAcceptor).  mpflow:
               donors/acceptors from residue tables; without hydrogens a heavy-atom fallback
               (D-A distance only, ``fallback=True``).  prolif: donors/acceptors as ProLIF's
               SMARTS perceive them (explicit hydrogens required)
saltbridge     cationic-anionic atoms <= 4.5 A (ProLIF 2.2 Cationic/Anionic); one row per pair of
               charged groups.  mpflow: protonated His has both ring N cationic (ProLIF: NE2 only)
hydrophobic    hydrophobic atoms <= 4.5 A, one row per residue pair.  mpflow: its own atom rule
               (carbons bonded to no N/O incl. methyls, Met SD).  prolif: ProLIF 2.2 Hydrophobic
vdw            atoms closer than r1 + r2 + tolerance, one row per residue pair.  mpflow: the rule of
               GetContacts' vdW contact (heavy atoms, tolerance 0.5 A) with Bondi radii.  prolif:
               ProLIF 2.2 VdWContact (all atoms incl. H, MDAnalysis radii, tolerance 0)
pistack_ftf    ring centroids <= 5.5 A, ring planes 0-35 deg, normal-to-centroid <= 33 deg for
               either ring (ProLIF 2.2 FaceToFace)
pistack_etf    centroids <= 6.5 A, planes 50-90 deg, normal-to-centroid <= 30 deg for either ring,
               and ProLIF's intersect test: the planes' intersection line passes within 1.5 A of a
               ring centroid (ProLIF 2.2 EdgeToFace)
cationpi       cation atom to ring centroid <= 4.5 A, ring normal vs centroid->cation 0-30 deg
               (ProLIF 2.2 CationPi/PiCation)
kih            knobs-into-holes, mpflow's own SOCKET-like rule: knob side-chain centroid <= 7.0 A
               from the side-chain centroids of all four residues i, i+3, i+4, i+7 of another chain
=============  ================================================================================

Ring normals: mpflow fits the plane to all ring atoms (Newell); prolif takes, like ProLIF, the
cross product of the first two ring atoms about the centroid (angles near a threshold can differ
between the two on puckered rings).  prolif also applies ProLIF's residue vicinity (a residue
pair is considered only when some atoms are within 6.0 A) and, for edge-to-face, ProLIF's
asymmetric intersect point, projected from the centroid of the ring on ProLIF's ligand side:
the sel-a ring when the selections are disjoint, else the ring on the first chain of the pair
(chains in label order), as ProLIF run with chain A as its ligand does; mpflow accepts the pair
when either ring passes as the reference.

Row orientation: for directional types side *a* is the donor / cation / knob; for symmetric types
(hydrophobic, vdw, pi-stacking) the engine orients the pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from mpflow.analysis.interactions.base import Interaction, instantiate, registry
from mpflow.analysis.interactions.frame_geometry import FrameContext, Hits
from mpflow.analysis.interactions.topology import InteractionTables

_PROLIF = "ProLIF 2.2"


def nan_array(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def minus_one(n: int) -> np.ndarray:
    return np.full(n, -1, dtype=np.int64)


def fold_deg(cos: np.ndarray) -> np.ndarray:
    """Angle in degrees between two undirected axes, in [0, 90]."""
    return np.degrees(np.arccos(np.clip(np.abs(cos), 0.0, 1.0)))


# --------------------------------------------------------------------------- per-frame rings
def ring_geometry(frame: FrameContext) -> tuple[np.ndarray, np.ndarray]:
    """(centroids, unit normals) of the frame's rings, local ring order; computed once per frame."""
    cached = frame.cache.get("ring_geometry")
    if cached is not None:
        return cached
    t = frame.tables
    sl = t.group_slice["ring"]
    ex = t.group_extra["ring"]
    c = frame.group_positions[sl]
    pos = frame.positions
    if len(c) == 0:
        out = (c, c)
    elif t.criteria == "prolif":
        ref = ex["ref"]
        nrm = np.cross(pos[ref[:, 0]] - c, pos[ref[:, 1]] - c)
        out = (c, nrm / np.maximum(np.linalg.norm(nrm, axis=1), 1e-12)[:, None])
    else:  # Newell: sum over edges of (p_k - c) x (p_k+1 - c)
        cc = c[ex["edge_ring"]]
        cr = np.cross(pos[ex["edge_from"]] - cc, pos[ex["edge_to"]] - cc)
        nrm = np.zeros_like(c, dtype=np.float64)
        np.add.at(nrm, ex["edge_ring"], cr)
        out = (c, nrm / np.maximum(np.linalg.norm(nrm, axis=1), 1e-12)[:, None])
    frame.cache["ring_geometry"] = out
    return out


# --------------------------------------------------------------------------- geometry bases
class AtomDistanceInteraction(Interaction):
    """Role ``roles[0]`` atom on side a, ``roles[1]`` atom on side b, distance <= ``distance_max_A``."""

    def candidates(self, frame: FrameContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        roles = frame.tables.props.roles
        ra, rb = roles[self.roles[0]], roles[self.roles[1]]
        if self.symmetric:
            i, j, d = frame.atom_pairs(self.search_atoms)
            m = (d <= self.distance_max_A) & ((ra[i] & rb[j]) | (ra[j] & rb[i]))
            return i[m], j[m], d[m]
        i, j, d = frame.atom_pairs_both(self.search_atoms)
        m = (d <= self.distance_max_A) & ra[i] & rb[j]
        return i[m], j[m], d[m]

    def residue_hits(self, frame: FrameContext, i, j, d) -> Hits:
        t = frame.tables
        n = len(i)
        return Hits(i, j, t.resindex[i], t.resindex[j], t.atom_label[i], t.atom_label[j], d,
                    nan_array(n), minus_one(n))


class GroupInteraction(Interaction):
    """Group centroids (rings, side chains, cation atoms) within ``distance_max_A``."""

    level: ClassVar[str] = "groups"


# --------------------------------------------------------------------------- concrete types
class HydrogenBond(AtomDistanceInteraction):
    """Hydrogen bond D-H...A; heavy-atom fallback (distance only) when there are no hydrogens."""

    name = "hbond"
    roles = ("donor", "acceptor")
    defaults = {c: {"distance_max_A": 3.5, "angle_min_deg": 130.0, "angle_max_deg": 180.0}
                for c in ("mpflow", "prolif")}
    sources = {
        "mpflow": f"{_PROLIF} HBDonor/HBAcceptor thresholds (D-A distance, D-H...A angle); "
                  "donors and acceptors from mpflow's residue tables, not ProLIF's SMARTS (e.g. "
                  "Gly and C-terminal backbone N are not acceptors here); without hydrogens a "
                  "heavy-atom fallback on D-A distance only, rows flagged fallback=True.",
        "prolif": f"{_PROLIF} HBDonor/HBAcceptor: donors and acceptors as its SMARTS perceive them "
                  "(explicit hydrogens required).",
    }

    def detect(self, frame: FrameContext) -> Hits:
        t = frame.tables
        p, q, d = self.candidates(frame)
        n = len(p)
        if not t.props.explicit_hydrogens:
            return Hits(p, q, p, q, t.atom_label[p], t.atom_label[q], d, nan_array(n),
                        minus_one(n), fallback=True)
        if n == 0:
            return Hits.empty()
        hs = t.props.hydrogens[p]  # (n, 4)
        valid = hs >= 0
        hc = np.where(valid, hs, p[:, None])
        pos = frame.positions
        xh = pos[hc]
        v_hd = frame.minimize((pos[p][:, None, :] - xh).reshape(-1, 3)).reshape(n, 4, 3)
        v_ha = frame.minimize((pos[q][:, None, :] - xh).reshape(-1, 3)).reshape(n, 4, 3)
        num = np.einsum("ijk,ijk->ij", v_hd, v_ha)
        den = np.linalg.norm(v_hd, axis=2) * np.linalg.norm(v_ha, axis=2)
        with np.errstate(invalid="ignore", divide="ignore"):
            ang = np.degrees(np.arccos(np.clip(num / den, -1.0, 1.0)))
        ok = valid & (ang >= self.angle_min_deg) & (ang <= self.angle_max_deg)
        # the best hydrogen among those within the window (ProLIF: any hydrogen will do)
        best = np.argmax(np.where(ok, ang, -np.inf), axis=1)
        rows = np.arange(n)
        keep = ok.any(axis=1)
        a = ang[rows, best]
        p, q, d, a, h = p[keep], q[keep], d[keep], a[keep], hs[rows, best][keep]
        return Hits(p, q, p, q, t.atom_label[p], t.atom_label[q], d, a, h)


class SaltBridge(AtomDistanceInteraction):
    """Cationic and anionic atoms closer than ``distance_max_A`` (one row per charged-group pair)."""

    name = "saltbridge"
    roles = ("cation", "anion")
    defaults = {c: {"distance_max_A": 4.5} for c in ("mpflow", "prolif")}
    sources = {
        "mpflow": f"{_PROLIF} Cationic/Anionic distance; charged atoms from mpflow's residue "
                  "tables (protonated His: both ring N; ProLIF: NE2 only).",
        "prolif": f"{_PROLIF} Cationic/Anionic, charges as MDAnalysis' RDKit converter infers them.",
    }

    def detect(self, frame: FrameContext) -> Hits:
        t = frame.tables
        p, q, d = self.candidates(frame)
        g = t.props.charge_group
        return Hits(p, q, g[p], g[q], t.group_label[p], t.group_label[q], d, nan_array(len(p)),
                    minus_one(len(p)))


class Hydrophobic(AtomDistanceInteraction):
    """Hydrophobic atoms closer than ``distance_max_A``; one row per residue pair."""

    name = "hydrophobic"
    symmetric = True
    key_atoms = False
    roles = ("hydrophobic", "hydrophobic")
    defaults = {c: {"distance_max_A": 4.5} for c in ("mpflow", "prolif")}
    sources = {
        "mpflow": "mpflow's own atom rule (side-chain carbons bonded to no N or O, methyls "
                  f"included, and Met SD) at {_PROLIF}'s 4.5 A; ProLIF 2.2 excludes methyl, ring "
                  "CH2 and Pro carbons, so this finds several times more pairs.",
        "prolif": f"{_PROLIF} Hydrophobic: its SMARTS (aromatic C; aliphatic C of classes "
                  "X2H0R0/X3H1R0/X4H2R0/X3H0/X4H1/X4H0 not bonded to N, O, F; thioether S).",
    }

    def detect(self, frame: FrameContext) -> Hits:
        return self.residue_hits(frame, *self.candidates(frame))


class VdWContact(AtomDistanceInteraction):
    """Atoms closer than the sum of their vdW radii plus ``tolerance_A``; one row per residue pair."""

    name = "vdw"
    symmetric = True
    key_atoms = False
    defaults = {"mpflow": {"tolerance_A": 0.5}, "prolif": {"tolerance_A": 0.0}}
    sources = {
        "mpflow": "the rule of GetContacts' vdW contact (heavy atoms closer than r1 + r2 + 0.5 A) "
                  "with Bondi (1964) radii; equality counts.",
        "prolif": f"{_PROLIF} VdWContact: all atoms including hydrogens, MDAnalysis' vdwradii "
                  "(its default preset), distance <= r1 + r2 + tolerance.",
    }

    def __init__(self, criteria: str = "mpflow", **overrides: float):
        super().__init__(criteria, **overrides)
        # prolif: every atom counts, hydrogens included.  The shared heavy-atom search finds the
        # pairs of anchors (heavy atoms, and hydrogens bonded to none) close enough for any of
        # their atoms to touch (see frame_cutoff_A); each pair is expanded to anchor + hydrogens
        self.with_hydrogens = criteria == "prolif"
        self.roles = ("anchor", "anchor") if self.with_hydrogens else ("heavy", "heavy")

    def search_cutoff_A(self, tables: InteractionTables) -> float:
        r = tables.props.vdw_radius[tables.union_mask & tables.props.roles[self.roles[0]]]
        return 2 * float(np.nanmax(r)) + self.tolerance_A if len(r) else self.tolerance_A

    def frame_cutoff_A(self, frame: FrameContext) -> float | None:
        """prolif: anchors within this distance can carry touching atoms: a hydrogen's contact
        distance (its radius + the other's + tolerance) plus the bond(s) to its anchor, with the
        frame's longest hydrogen bond."""
        t = frame.tables
        if not self.with_hydrogens or len(t.h_child) == 0:
            return None
        pos = frame.positions
        b = float(np.sqrt(np.max(np.einsum("ij,ij->i", pos[t.h_child] - pos[t.h_parent],
                                           pos[t.h_child] - pos[t.h_parent]))))
        r = t.props.vdw_radius
        r_h = float(np.max(r[t.h_child]))
        r_any = float(np.nanmax(r[t.union_mask]))
        return max(r_h + r_any + self.tolerance_A + b, 2 * r_h + self.tolerance_A + 2 * b)

    def detect(self, frame: FrameContext) -> Hits:
        t = frame.tables
        i, j, d = frame.atom_pairs(self.search_atoms)
        r = t.props.vdw_radius
        role = t.props.roles[self.roles[0]]
        m = role[i] & role[j]
        if not self.with_hydrogens:
            m &= d <= r[i] + r[j] + self.tolerance_A
            return self.residue_hits(frame, i[m], j[m], d[m])
        mi, mj = t.h_members[i[m]], t.h_members[j[m]]  # (k, 5): anchor, its hydrogens
        pi = frame.positions[np.maximum(mi, 0)]
        pj = frame.positions[np.maximum(mj, 0)]
        diff = frame.minimize((pi[:, :, None, :] - pj[:, None, :, :]).reshape(-1, 3))
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff)).reshape(len(mi), 5, 5)
        limit = r[np.maximum(mi, 0)][:, :, None] + r[np.maximum(mj, 0)][:, None, :] \
            + self.tolerance_A
        hit = (mi >= 0)[:, :, None] & (mj >= 0)[:, None, :] & (dist <= limit)
        k, p, q = np.nonzero(hit)
        return self.residue_hits(frame, mi[k, p], mj[k, q], dist[k, p, q])


def _in_window(a: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (a >= lo) & (a <= hi)


class _PiStacking(GroupInteraction):
    symmetric = True
    groups = ("ring",)
    intersect: ClassVar[bool] = False

    def detect(self, frame: FrameContext) -> Hits:
        t = frame.tables
        gi, gj, d = frame.group_pairs("ring", "ring")
        m = d <= self.distance_max_A
        gi, gj, d = gi[m], gj[m], d[m]
        c, nrm = ring_geometry(frame)
        base = t.group_slice["ring"].start
        li, lj = gi - base, gj - base
        v = frame.minimize(c[lj] - c[li])
        vn = v / np.maximum(np.linalg.norm(v, axis=1), 1e-12)[:, None]
        plane = fold_deg(np.einsum("ij,ij->i", nrm[li], nrm[lj]))
        n2c_i = fold_deg(np.einsum("ij,ij->i", nrm[li], vn))
        n2c_j = fold_deg(np.einsum("ij,ij->i", nrm[lj], vn))
        lo, hi = self.normal_to_centroid_angle_min_deg, self.normal_to_centroid_angle_max_deg
        m = (_in_window(plane, self.plane_angle_min_deg, self.plane_angle_max_deg)
             & (_in_window(n2c_i, lo, hi) | _in_window(n2c_j, lo, hi)))
        if self.intersect and m.any():
            ok_i = _intersect_within(c[li], nrm[li], c[lj], nrm[lj], v, self.intersect_radius_A)
            ok_j = _intersect_within(c[lj], nrm[lj], c[li], nrm[li], -v, self.intersect_radius_A)
            if t.criteria == "prolif":  # ProLIF: projected from the ligand ring's centroid
                side = t.prolif_ligand_side(t.group_atom[gi], t.group_atom[gj])
                m &= np.where(side > 0, ok_i, np.where(side < 0, ok_j, ok_i | ok_j))
            else:
                m &= ok_i | ok_j
        return frame.group_hits(gi[m], gj[m], d[m], plane[m])


def _intersect_within(c1, n1, c2, n2, v12, radius: float) -> np.ndarray:
    """ProLIF's edge-to-face intersect test, ring 1 as the reference: the line where the two ring
    planes meet; the foot P of ring 1's centroid on it; pass when P is within ``radius`` of either
    centroid.  ``v12``: minimum-image vector c1 -> c2 (c2 is taken as c1 + v12)."""
    n = len(c1)
    if n == 0:
        return np.zeros(0, bool)
    c2 = c1 + v12
    direction = np.cross(n1, n2)
    # a point X on the line: n1.X = n1.c1, n2.X = n2.c2, direction.X = 0
    a = np.stack([n1, n2, direction], axis=1)
    rhs = np.stack([np.einsum("ij,ij->i", n1, c1), np.einsum("ij,ij->i", n2, c2), np.zeros(n)],
                   axis=1)
    det = np.linalg.det(a)
    ok = det != 0
    x = np.zeros((n, 3))
    if ok.any():
        x[ok] = np.linalg.solve(a[ok], rhs[ok][:, :, None])[:, :, 0]
    u = direction / np.maximum(np.linalg.norm(direction, axis=1), 1e-300)[:, None]
    foot = x + u * np.einsum("ij,ij->i", u, c1 - x)[:, None]
    dist = np.minimum(np.linalg.norm(c1 - foot, axis=1), np.linalg.norm(c2 - foot, axis=1))
    return ok & (dist <= radius)


class PiStackingFaceToFace(_PiStacking):
    """Face-to-face pi-stacking of aromatic rings (angle column: angle between ring planes)."""

    name = "pistack_ftf"
    defaults = {c: {"distance_max_A": 5.5, "plane_angle_min_deg": 0.0, "plane_angle_max_deg": 35.0,
                    "normal_to_centroid_angle_min_deg": 0.0,
                    "normal_to_centroid_angle_max_deg": 33.0} for c in ("mpflow", "prolif")}
    sources = {
        "mpflow": f"{_PROLIF} FaceToFace thresholds; ring normal fitted to all ring atoms "
                  "(Newell) instead of ProLIF's two-atom normal.",
        "prolif": f"{_PROLIF} FaceToFace (two-atom ring normal, its 6.0 A residue vicinity).",
    }


class PiStackingEdgeToFace(_PiStacking):
    """Edge-to-face (T-shaped) pi-stacking (angle column: angle between ring planes)."""

    name = "pistack_etf"
    intersect = True
    defaults = {c: {"distance_max_A": 6.5, "plane_angle_min_deg": 50.0, "plane_angle_max_deg": 90.0,
                    "normal_to_centroid_angle_min_deg": 0.0,
                    "normal_to_centroid_angle_max_deg": 30.0, "intersect_radius_A": 1.5}
                for c in ("mpflow", "prolif")}
    sources = {
        "mpflow": f"{_PROLIF} EdgeToFace thresholds and intersect test; ring normal fitted to all "
                  "ring atoms (Newell); either ring may be the intersect reference.",
        "prolif": f"{_PROLIF} EdgeToFace (two-atom ring normal, intersect point projected from "
                  "the centroid of the ligand's ring: sel-a's, or with overlapping selections the "
                  "first chain's; its 6.0 A residue vicinity).",
    }


class CationPi(GroupInteraction):
    """Cation atom over an aromatic ring (angle column: ring normal vs centroid->cation)."""

    name = "cationpi"
    groups = ("ring", "cation")
    defaults = {c: {"distance_max_A": 4.5, "angle_min_deg": 0.0, "angle_max_deg": 30.0}
                for c in ("mpflow", "prolif")}
    sources = {
        "mpflow": f"{_PROLIF} CationPi/PiCation thresholds; cations from mpflow's residue tables, "
                  "ring normal fitted to all ring atoms (Newell).",
        "prolif": f"{_PROLIF} CationPi/PiCation (two-atom ring normal, its 6.0 A residue vicinity).",
    }

    def detect(self, frame: FrameContext) -> Hits:
        t = frame.tables
        gc, gr, d = frame.group_pairs("cation", "ring")
        m = d <= self.distance_max_A
        gc, gr, d = gc[m], gr[m], d[m]
        c, nrm = ring_geometry(frame)
        lr = gr - t.group_slice["ring"].start
        v = frame.minimize(frame.group_positions[gc] - c[lr])
        cos = np.einsum("ij,ij->i", nrm[lr], v) / np.maximum(np.linalg.norm(v, axis=1), 1e-12)
        ang = fold_deg(cos)
        m = _in_window(ang, self.angle_min_deg, self.angle_max_deg)
        return frame.group_hits(gc[m], gr[m], d[m], ang[m])


class KnobsIntoHoles(GroupInteraction):
    """SOCKET-like knob (side-chain centroid) in a hole i, i+3, i+4, i+7 of another chain."""

    name = "kih"
    groups = ("sidechain",)
    vicinity = False
    defaults = {c: {"distance_max_A": 7.0} for c in ("mpflow", "prolif")}
    sources = {
        "mpflow": "mpflow's own SOCKET-like rule (after Walshaw & Woolfson 2001): the knob's "
                  "side-chain centroid within 7.0 A of the side-chain centroids of all four "
                  "residues i, i+3, i+4, i+7 (consecutive numbers, one chain) of another chain; no "
                  "helix assignment or centroid extension as in SOCKET.",
        "prolif": "not a ProLIF type: mpflow's own SOCKET-like rule, as under criteria mpflow.",
    }

    def prepare(self, tables: InteractionTables) -> None:
        sl = tables.group_slice["sidechain"]
        ng = len(tables.group_kind)
        hole_start = np.full((ng, 3), -1, dtype=np.int64)
        hole_label = np.full(ng, -1, dtype=np.int64)
        groups = np.arange(sl.start, sl.stop)
        rep = tables.group_atom[groups]
        where = {(int(tables.chain[a]), int(tables.resid[a])): g for g, a in zip(groups, rep)}
        for g, a in zip(groups, rep):
            c, r = int(tables.chain[a]), int(tables.resid[a])
            partners = [where.get((c, r + k), -1) for k in (3, 4, 7)]
            if min(partners) >= 0:
                hole_start[g] = partners
                hole_label[g] = tables.labels(f"{r},{r + 3},{r + 4},{r + 7}")
        tables.type_data[self.name] = {"hole_start": hole_start, "hole_label": hole_label}

    def detect(self, frame: FrameContext) -> Hits:
        t = frame.tables
        data = t.type_data[self.name]
        gk, gh, d = frame.group_pairs("sidechain", "sidechain", both=True)
        m = d <= self.distance_max_A
        gk, gh, d = gk[m], gh[m], d[m]
        if len(gk) == 0:
            return Hits.empty()
        ng = len(t.group_kind)
        keys = gk * ng + gh
        order = np.argsort(keys, kind="stable")
        keys, dist = keys[order], d[order]
        start = data["hole_start"][gh]  # partners of residue i, only where gh starts a hole
        ok = start[:, 0] >= 0
        gk, gh, d = gk[ok], gh[ok], d[ok]
        worst = d.copy()
        for col in range(3):
            want = gk * ng + data["hole_start"][gh, col]
            pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
            worst = np.maximum(worst, np.where(keys[pos] == want, dist[pos], np.inf))
        keep = np.isfinite(worst)
        gk, gh, worst = gk[keep], gh[keep], worst[keep]
        n = len(gk)
        return Hits(t.group_atom[gk], t.group_atom[gh], gk, gh, t.group_label_of[gk],
                    data["hole_label"][gh], worst, nan_array(n), minus_one(n))


# --------------------------------------------------------------------------- the registry
#: every interaction type by name, in table order (the engine, the table schema and the CLI read it)
INTERACTION_TYPES: Mapping[str, type[Interaction]] = registry(
    HydrogenBond, SaltBridge, Hydrophobic, VdWContact, PiStackingFaceToFace, PiStackingEdgeToFace,
    CationPi, KnobsIntoHoles,
)


def make_interactions(types: list[str] | None = None,
                      params: dict[str, dict[str, float]] | None = None,
                      criteria: str = "mpflow") -> list[Interaction]:
    """Instances of the named types (default: all, in registry order) with per-type overrides,
    e.g. ``make_interactions(["hbond"], {"hbond": {"distance_max_A": 3.2}})``.

    Unknown type or parameter names and invalid values raise ``ValueError`` naming them.
    """
    return instantiate(INTERACTION_TYPES, types, params, criteria)
