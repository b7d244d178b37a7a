"""Interaction types: one class per type on three geometry bases, and the registry by name.

This module owns the *criteria*: each class holds its thresholds as named fields (units in the
name: ``_A`` for Å, ``_deg`` for degrees) with defaults that say which known tool they follow,
and a vectorised ``detect(frame)`` that turns the frame's candidate pairs (found once per frame by
the engine in :mod:`mpflow.analysis.interactions`) into :class:`Hits` — the atoms or groups
involved, the distance and, where there is one, the angle.  No loop over atoms.

Geometry bases
--------------
- :class:`AtomDistanceInteraction`: two atom roles and a distance cut-off.
- :class:`AtomDistanceAngleInteraction`: adds an angle window (H-bond D–H···A).
- :class:`GroupInteraction`: centroids of groups (aromatic rings, side chains) with a distance
  cut-off and angles to ring normals.

Registered types (``INTERACTION_TYPES``; defaults follow ProLIF 2.2 unless said otherwise)
----------------------------------------------------------------------------------------
=============  ==========================================================================
hbond          D–A ≤ 3.5 Å and D–H···A angle 130–180° (ProLIF 2.2); without hydrogens a
               heavy-atom fallback D–A ≤ 3.5 Å from the donor/acceptor name tables, rows flagged
               ``fallback=True`` (both directions reported when both atoms can donate and accept)
saltbridge     cationic–anionic atoms ≤ 4.5 Å (ProLIF 2.2), one row per pair of charged groups
hydrophobic    hydrophobic atoms ≤ 4.5 Å (ProLIF 2.2), one row per residue pair (closest atoms)
pistack_ftf    face-to-face π-stacking: ring centroids ≤ 5.5 Å, angle between ring planes 0–35°,
               normal-to-centroid angle ≤ 33° for at least one ring (ProLIF 2.2 FaceToFace)
pistack_etf    edge-to-face π-stacking: centroids ≤ 6.5 Å, plane angle 50–90°, normal-to-centroid
               angle ≤ 30° for at least one ring (ProLIF 2.2 EdgeToFace without its
               intersect-radius test)
cationpi       cation atom to ring centroid ≤ 4.5 Å, angle between ring normal and
               centroid→cation 0–30° (ProLIF 2.2)
vdw            heavy atoms closer than r1 + r2 + 0.5 Å (Bondi radii; GetContacts' rule), one row per
               residue pair (closest atoms)
kih            knobs-into-holes (SOCKET-style): knob residue k on one chain whose side-chain
               centroid is ≤ 7.0 Å from the side-chain centroids of all four residues
               i, i+3, i+4, i+7 (consecutive residue numbers, one chain) of another chain;
               one row per (knob, hole i); distance = the largest of the four
=============  ==========================================================================

Row orientation: for directional types side *a* is the donor / cation / knob; for symmetric
types (hydrophobic, vdw, π-stacking) the engine orients the pair (see ``interactions``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from mpflow.analysis.residue_tables import VDW_RADII_A

if TYPE_CHECKING:  # pragma: no cover
    from mpflow.analysis.interactions import FrameContext


@dataclass
class Hits:
    """Detected interactions of one type in one frame (parallel arrays, one entry per row).

    ``a``/``b``: representative atom index per side; ``key_a``/``key_b``: what one row stands for
    (atom, charged group, residue or ring id), used to keep one row per key pair (closest);
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


def _nan(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def _minus1(n: int) -> np.ndarray:
    return np.full(n, -1, dtype=np.int64)


def fold_deg(cos: np.ndarray) -> np.ndarray:
    """Angle in degrees between two undirected axes, in [0, 90]."""
    return np.degrees(np.arccos(np.clip(np.abs(cos), 0.0, 1.0)))


@dataclass
class Interaction:
    """Base of all types.  Subclasses declare ``name``, ``symmetric``, ``level`` and thresholds."""

    name: ClassVar[str] = ""
    #: True when the two sides play the same role (the engine then orients each row)
    symmetric: ClassVar[bool] = False
    #: "atoms": uses the per-frame atom pairs; "groups": uses the per-frame group-centroid pairs
    level: ClassVar[str] = "atoms"
    #: which per-atom properties make an atom a candidate for the atom search
    roles: ClassVar[tuple[str, ...]] = ()
    #: group kinds this type needs ("ring", "cation", "sidechain")
    groups: ClassVar[tuple[str, ...]] = ()
    #: whether the atom names are part of the normalised key (False: residue-level key)
    key_atoms: ClassVar[bool] = True
    source: ClassVar[str] = ""

    @property
    def search_cutoff_A(self) -> float:
        """The largest distance this type needs from the shared neighbour search."""
        return float(self.distance_max_A)  # type: ignore[attr-defined]

    def detect(self, frame: "FrameContext") -> Hits:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def parameters(cls) -> dict[str, float]:
        """Named thresholds and their defaults."""
        return {f.name: f.default for f in fields(cls)}

    @classmethod
    def describe(cls) -> str:
        params = ", ".join(f"{k}={v:g}" for k, v in cls.parameters().items())
        return f"{cls.name}: {params} ({cls.source})"


@dataclass
class AtomDistanceInteraction(Interaction):
    """Role ``roles[0]`` atom on side a, ``roles[1]`` atom on side b, distance ≤ ``distance_max_A``."""

    distance_max_A: float = 4.5

    def candidates(self, frame: "FrameContext") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        props = frame.tables.props
        ra, rb = (getattr(props, r) for r in self.roles)
        if self.symmetric:
            i, j, d = frame.atom_pairs
            m = (d <= self.distance_max_A) & ((ra[i] & rb[j]) | (ra[j] & rb[i]))
            return i[m], j[m], d[m]
        i, j, d = frame.atom_pairs_both
        m = (d <= self.distance_max_A) & ra[i] & rb[j]
        return i[m], j[m], d[m]

    def residue_hits(self, frame: "FrameContext", i, j, d) -> Hits:
        t = frame.tables
        n = len(i)
        return Hits(i, j, t.resindex[i], t.resindex[j], t.atom_label[i], t.atom_label[j], d,
                    _nan(n), _minus1(n))


@dataclass
class AtomDistanceAngleInteraction(AtomDistanceInteraction):
    """Adds an angle window ``angle_min_deg`` ≤ angle ≤ ``angle_max_deg``."""

    angle_min_deg: float = 0.0
    angle_max_deg: float = 180.0


@dataclass
class GroupInteraction(Interaction):
    """Group centroids (rings, side chains, cation atoms) within ``distance_max_A``."""

    level: ClassVar[str] = "groups"
    distance_max_A: float = 6.5
    roles: ClassVar[tuple[str, ...]] = ()


# --------------------------------------------------------------------------- registry
INTERACTION_TYPES: dict[str, type[Interaction]] = {}


def register(cls: type[Interaction]) -> type[Interaction]:
    """Class decorator: add a type to :data:`INTERACTION_TYPES` under ``cls.name``."""
    if not cls.name or cls.name in INTERACTION_TYPES:
        raise ValueError(f"interaction name {cls.name!r} missing or already registered")
    INTERACTION_TYPES[cls.name] = cls
    return cls


def make_interactions(types: list[str] | None = None,
                      params: dict[str, dict[str, float]] | None = None) -> list[Interaction]:
    """Instances of the named types (default: all, in registry order) with per-type overrides.

    Unknown type or parameter names raise ``ValueError`` listing the valid ones.
    """
    types = list(INTERACTION_TYPES) if types is None else list(types)
    params = params or {}
    unknown = [t for t in list(types) + list(params) if t not in INTERACTION_TYPES]
    if unknown:
        raise ValueError(f"unknown interaction type(s) {', '.join(sorted(set(unknown)))}; "
                         f"valid: {', '.join(INTERACTION_TYPES)}")
    out = []
    for name in dict.fromkeys(types):
        cls = INTERACTION_TYPES[name]
        over = params.get(name, {})
        bad = [k for k in over if k not in cls.parameters()]
        if bad:
            raise ValueError(f"unknown parameter(s) {', '.join(bad)} for {name}; "
                             f"valid: {', '.join(cls.parameters())}")
        out.append(cls(**{k: float(v) for k, v in over.items()}))
    return out


# --------------------------------------------------------------------------- concrete types
@register
@dataclass
class HydrogenBond(AtomDistanceAngleInteraction):
    """Hydrogen bond D–H···A; heavy-atom fallback (distance only) when there are no hydrogens."""

    name: ClassVar[str] = "hbond"
    roles: ClassVar[tuple[str, ...]] = ("donor", "acceptor")
    source: ClassVar[str] = "ProLIF 2.2 HBDonor/HBAcceptor; fallback: D-A distance only"
    distance_max_A: float = 3.5
    angle_min_deg: float = 130.0
    angle_max_deg: float = 180.0

    def detect(self, frame: "FrameContext") -> Hits:
        t = frame.tables
        p, q, d = self.candidates(frame)
        n = len(p)
        if not t.props.explicit_hydrogens:
            return Hits(p, q, p, q, t.atom_label[p], t.atom_label[q], d, _nan(n), _minus1(n),
                        fallback=True)
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
        ang = np.where(valid, ang, -np.inf)
        best = np.argmax(ang, axis=1)
        rows = np.arange(n)
        a = ang[rows, best]
        keep = (a >= self.angle_min_deg) & (a <= self.angle_max_deg)
        p, q, d, a, h = p[keep], q[keep], d[keep], a[keep], hs[rows, best][keep]
        return Hits(p, q, p, q, t.atom_label[p], t.atom_label[q], d, a, h)


@register
@dataclass
class SaltBridge(AtomDistanceInteraction):
    """Cationic and anionic groups closer than ``distance_max_A`` (closest atom pair)."""

    name: ClassVar[str] = "saltbridge"
    roles: ClassVar[tuple[str, ...]] = ("cation", "anion")
    source: ClassVar[str] = "ProLIF 2.2 Cationic/Anionic"
    distance_max_A: float = 4.5

    def detect(self, frame: "FrameContext") -> Hits:
        t = frame.tables
        p, q, d = self.candidates(frame)
        g = t.props.charge_group
        return Hits(p, q, g[p], g[q], t.group_label[p], t.group_label[q], d, _nan(len(p)),
                    _minus1(len(p)))


@register
@dataclass
class Hydrophobic(AtomDistanceInteraction):
    """Hydrophobic atoms closer than ``distance_max_A``; one row per residue pair."""

    name: ClassVar[str] = "hydrophobic"
    symmetric: ClassVar[bool] = True
    key_atoms: ClassVar[bool] = False
    roles: ClassVar[tuple[str, ...]] = ("hydrophobic", "hydrophobic")
    source: ClassVar[str] = "ProLIF 2.2 Hydrophobic"
    distance_max_A: float = 4.5

    def detect(self, frame: "FrameContext") -> Hits:
        return self.residue_hits(frame, *self.candidates(frame))


@register
@dataclass
class VdWContact(AtomDistanceInteraction):
    """Heavy atoms closer than the sum of their vdW radii plus ``tolerance_A``."""

    name: ClassVar[str] = "vdw"
    symmetric: ClassVar[bool] = True
    key_atoms: ClassVar[bool] = False
    roles: ClassVar[tuple[str, ...]] = ("heavy", "heavy")
    source: ClassVar[str] = "GetContacts vdW: r1 + r2 + 0.5 A, Bondi radii, heavy atoms"
    tolerance_A: float = 0.5
    distance_max_A: float = 0.0  # not a parameter users set; derived from radii (see search_cutoff_A)

    @classmethod
    def parameters(cls) -> dict[str, float]:
        return {"tolerance_A": 0.5}

    @property
    def search_cutoff_A(self) -> float:
        return 2 * max(VDW_RADII_A.values()) + self.tolerance_A

    def detect(self, frame: "FrameContext") -> Hits:
        t = frame.tables
        i, j, d = frame.atom_pairs
        r = t.props.vdw_radius
        heavy = t.props.heavy
        m = heavy[i] & heavy[j] & (d <= r[i] + r[j] + self.tolerance_A)
        return self.residue_hits(frame, i[m], j[m], d[m])


def _ring_pairs(frame: "FrameContext", cutoff: float):
    """Ring–ring pairs (ring ids) within ``cutoff`` with centroid vector and plane angle."""
    gi, gj, d = frame.group_pairs("ring", "ring")
    m = d <= cutoff
    gi, gj, d = gi[m], gj[m], d[m]
    c = frame.group_positions
    nrm = frame.group_normals
    v = frame.minimize(c[gj] - c[gi])
    vn = v / np.maximum(np.linalg.norm(v, axis=1), 1e-9)[:, None]
    plane = fold_deg(np.einsum("ij,ij->i", nrm[gi], nrm[gj]))
    n2c_i = fold_deg(np.einsum("ij,ij->i", nrm[gi], vn))
    n2c_j = fold_deg(np.einsum("ij,ij->i", nrm[gj], vn))
    return gi, gj, d, plane, np.minimum(n2c_i, n2c_j)


@dataclass
class _PiStacking(GroupInteraction):
    symmetric: ClassVar[bool] = True
    groups: ClassVar[tuple[str, ...]] = ("ring",)
    plane_angle_min_deg: float = 0.0
    plane_angle_max_deg: float = 35.0
    normal_to_centroid_angle_max_deg: float = 33.0

    def detect(self, frame: "FrameContext") -> Hits:
        gi, gj, d, plane, n2c = _ring_pairs(frame, self.distance_max_A)
        m = ((plane >= self.plane_angle_min_deg) & (plane <= self.plane_angle_max_deg)
             & (n2c <= self.normal_to_centroid_angle_max_deg))
        return frame.group_hits(gi[m], gj[m], d[m], plane[m])


@register
@dataclass
class PiStackingFaceToFace(_PiStacking):
    """Face-to-face π-stacking of aromatic rings (angle column: angle between ring planes)."""

    name: ClassVar[str] = "pistack_ftf"
    source: ClassVar[str] = "ProLIF 2.2 FaceToFace"
    distance_max_A: float = 5.5  # angle limits: the base's (planes 0-35 deg, normal-to-centroid <= 33 deg)


@register
@dataclass
class PiStackingEdgeToFace(_PiStacking):
    """Edge-to-face (T-shaped) π-stacking (angle column: angle between ring planes)."""

    name: ClassVar[str] = "pistack_etf"
    source: ClassVar[str] = "ProLIF 2.2 EdgeToFace, no intersect-radius test"
    distance_max_A: float = 6.5
    plane_angle_min_deg: float = 50.0
    plane_angle_max_deg: float = 90.0
    normal_to_centroid_angle_max_deg: float = 30.0


@register
@dataclass
class CationPi(GroupInteraction):
    """Cation atom over an aromatic ring (angle column: ring normal vs centroid→cation)."""

    name: ClassVar[str] = "cationpi"
    groups: ClassVar[tuple[str, ...]] = ("ring", "cation")
    source: ClassVar[str] = "ProLIF 2.2 CationPi"
    distance_max_A: float = 4.5
    angle_min_deg: float = 0.0
    angle_max_deg: float = 30.0

    def detect(self, frame: "FrameContext") -> Hits:
        gc, gr, d = frame.group_pairs("cation", "ring")
        m = d <= self.distance_max_A
        gc, gr, d = gc[m], gr[m], d[m]
        c = frame.group_positions
        v = frame.minimize(c[gc] - c[gr])
        cos = np.einsum("ij,ij->i", frame.group_normals[gr], v) / np.maximum(
            np.linalg.norm(v, axis=1), 1e-9)
        ang = fold_deg(cos)
        m = (ang >= self.angle_min_deg) & (ang <= self.angle_max_deg)
        return frame.group_hits(gc[m], gr[m], d[m], ang[m])


@register
@dataclass
class KnobsIntoHoles(GroupInteraction):
    """SOCKET-style knob (side-chain centroid) in a hole i, i+3, i+4, i+7 of another chain."""

    name: ClassVar[str] = "kih"
    groups: ClassVar[tuple[str, ...]] = ("sidechain",)
    source: ClassVar[str] = "SOCKET-style: all four hole centroids within 7.0 A of the knob"
    distance_max_A: float = 7.0

    def detect(self, frame: "FrameContext") -> Hits:
        t = frame.tables
        gk, gh, d = frame.group_pairs("sidechain", "sidechain")
        m = d <= self.distance_max_A
        gk, gh, d = gk[m], gh[m], d[m]
        if len(gk) == 0:
            return Hits.empty()
        ng = len(t.group_kind)
        keys = gk * ng + gh
        order = np.argsort(keys, kind="stable")
        keys, dist = keys[order], d[order]
        start = t.hole_start[gh]  # group id of residue i+3 etc. only where gh starts a hole
        ok = start[:, 0] >= 0
        gk, gh, d = gk[ok], gh[ok], d[ok]
        worst = d.copy()
        for col in range(3):
            partner = t.hole_start[gh, col]
            want = gk * ng + partner
            pos = np.searchsorted(keys, want)
            pos = np.minimum(pos, len(keys) - 1)
            found = keys[pos] == want
            worst = np.maximum(worst, np.where(found, dist[pos], np.inf))
        keep = np.isfinite(worst)
        gk, gh, worst = gk[keep], gh[keep], worst[keep]
        n = len(gk)
        return Hits(t.group_atom[gk], t.group_atom[gh], gk, gh, t.group_label_of[gk],
                    t.hole_label[gh], worst, _nan(n), _minus1(n))
