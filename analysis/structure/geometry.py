"""Geometry of oligomers of transmembrane helices, for docked models and trajectory frames alike.

This module owns the helix-packing measures of one assembly: which residues form each chain's
helix (the *layout*, computed once), the helix axes, the assembly axis, per-helix tilt, the
crossing angle and interhelical distance of neighbouring helices, and the pore radius profile of
rings.  :func:`geometry_table` is the one entry point (one row per frame); the numpy functions
below it work on stacks of frames at once (shape ``(n_frames, ...)``), with no loop over frames.

Definitions
-----------
- **Helix segment** (layout, from the first analysed frame): per chain, the longest run of
  residues that mdtraj's DSSP (simplified) calls ``H``, at least ``min_helix_residues`` long.
  Chains without one are left out; ``n_helices`` counts the helices found.
- **Helix axis**: for each CA ``i`` inside the segment, the bisector
  ``b_i = CA(i-1) + CA(i+1) - 2 CA(i)`` points from the CA to the axis; the helix radius
  ``r = <|b|> / (2 (1 - <cos φ>))``, with ``φ`` the angle between consecutive bisectors, puts an
  axis point at ``CA(i) + r b̂_i`` (exact for an ideal helix, like HELANAL's local axes).  The
  axis is the least-squares line through those points, directed N→C; its ends are the
  projections of the segment's first and last CA.
- **Assembly axis**: for three or more helices the normal of the plane that best fits the helix
  centres (:func:`mpflow.analysis.structure.ring_order.assembly_axis`); for a dimer the bisector of the two
  helix axes (the C2 axis of a symmetric dimer); both point the way the helices run (N→C).
  A single helix has none (tilt NaN).
- **Tilt** of a helix: angle between its axis and the assembly axis, 0-90° for a parallel bundle.
- **Neighbours**: the two helices of a dimer; in a ring of n ≥ 3, consecutive helices in ring
  order (:func:`mpflow.analysis.structure.ring_order.ring_order`: counter-clockwise about the assembly
  axis).
- **Crossing angle Ω** of neighbours 1 and 2 (Chothia, Levitt & Richardson 1981; the convention
  of TM-helix packing, e.g. glycophorin A's right-handed Ω ≈ −40°): the dihedral angle between
  the two axis vectors ``a1`` and ``a2`` (N→C) about their common perpendicular ``d`` taken from
  axis 1 to axis 2: ``Ω = atan2(d̂ · (a1 × a2), a1 · a2)``, in (−180°, 180°].  Looking along
  ``d`` (from helix 1 towards helix 2), Ω > 0 when the far axis is turned clockwise from the
  near one.  Ω is the same for (2, 1) as for (1, 2).  A pair that forms a piece of a
  **right-handed** supercoil has **Ω < 0**; a left-handed pair (coiled-coil-like) has Ω > 0.
- **Interhelical distance**: the closest approach of the two axis *segments* (the finite axes
  between their ends), so splayed helices whose lines would meet far away are not read as 0.
- **Pore** (rings of n ≥ 3 only, NaN otherwise): along the assembly axis through the centre of
  the helix centres, every ``pore_spacing_A`` over the stretch where all helix segments are
  present, the radius of the largest sphere centred on the axis that touches no heavy atom of the
  helices' chains (Bondi van der Waals radii): ``min(|x − p| − r_vdW)``, floored at 0 (0: the
  axis is blocked).  Like HOLE with the sphere centres kept on the axis (no lateral optimisation),
  so it under-estimates an off-centre pore.  ``pore_radius_min_A`` is the profile's minimum.

Columns of :func:`geometry_table`
---------------------------------
``frame`` (int), ``n_helices``, ``tilt_deg`` (mean over helices), ``crossing_angle_deg`` and
``distance_A`` (means over neighbour pairs), ``pore_radius_min_A``; then per helix
``tilt_deg.<chain>`` and per neighbour pair ``crossing_angle_deg.<c1>-<c2>`` and
``distance_A.<c1>-<c2>`` (chains in ring order).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import MDAnalysis as mda
import mdtraj as md
import numpy as np
import pandas as pd
from MDAnalysis.coordinates.memory import MemoryReader

from mpflow.analysis.structure.elements import BONDI_RADII_A, elements_of
from mpflow.analysis.structure.ring_order import assembly_axis, chain_labels, ring_order

#: van der Waals radius (Å) the pore profile gives an element without a Bondi radius
DEFAULT_VDW_RADIUS_A = 1.80
#: largest number of (frame, profile point, atom) distances computed at once in the pore profile
_PORE_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class HelixSegment:
    """The helix of one chain: residues ``first_resid``..``last_resid`` and their CA atoms."""

    chain: str
    first_resid: int
    last_resid: int
    ca_indices: np.ndarray  # 0-based indices into universe.atoms, N→C

    @property
    def n_residues(self) -> int:
        return len(self.ca_indices)


@dataclass(frozen=True)
class GeometryLayout:
    """What :func:`geometry_table` needs besides coordinates; computed once by :func:`helix_layout`.

    ``helices`` are in ring order; ``pairs`` are the neighbour pairs (indices into ``helices``);
    the pore fields are set for rings (three or more helices) only.
    """

    n_atoms: int
    helices: tuple[HelixSegment, ...]
    pairs: tuple[tuple[int, int], ...]
    pore_atom_indices: np.ndarray | None = None
    pore_radii_A: np.ndarray | None = None
    pore_offsets_A: np.ndarray | None = None  # profile points along the axis from the ring centre

    @property
    def chains(self) -> list[str]:
        return [h.chain for h in self.helices]

    @property
    def pair_names(self) -> list[str]:
        return [f"{self.helices[i].chain}-{self.helices[j].chain}" for i, j in self.pairs]

    @property
    def has_pore(self) -> bool:
        return self.pore_offsets_A is not None


# --------------------------------------------------------------------------------------------
# vectorised geometry on stacks of frames
# --------------------------------------------------------------------------------------------

def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def helix_axes(ca: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axes of one helix in many frames from its CA positions ``ca`` (n_frames, n_residues, 3).

    Returns ``(start, end, direction)``, each (n_frames, 3): the axis ends (projections of the
    first and last CA) and the unit direction N→C.  Needs at least 5 residues.
    """
    ca = np.asarray(ca, dtype=np.float64)
    if ca.shape[-2] < 5:
        raise ValueError(f"a helix axis needs at least 5 residues, got {ca.shape[-2]}")
    bis = ca[:, :-2] + ca[:, 2:] - 2.0 * ca[:, 1:-1]
    bis_len = np.linalg.norm(bis, axis=-1)
    bis_unit = bis / bis_len[..., None]
    cos_phi = np.sum(bis_unit[:, :-1] * bis_unit[:, 1:], axis=-1).mean(axis=1)
    radius = bis_len.mean(axis=1) / (2.0 * (1.0 - cos_phi))
    points = ca[:, 1:-1] + radius[:, None, None] * bis_unit
    centre = points.mean(axis=1)
    centred = points - centre[:, None]
    cov = np.einsum("fni,fnj->fij", centred, centred)
    direction = np.linalg.eigh(cov)[1][..., -1]
    flip = np.sum(direction * (ca[:, -1] - ca[:, 0]), axis=-1) < 0
    direction[flip] *= -1.0
    start = centre + np.sum((ca[:, 0] - centre) * direction, axis=-1)[:, None] * direction
    end = centre + np.sum((ca[:, -1] - centre) * direction, axis=-1)[:, None] * direction
    return start, end, direction


def segment_distance(p1: np.ndarray, q1: np.ndarray, p2: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Closest approach of segments p1–q1 and p2–q2 (arrays (..., 3)), vectorised."""
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a = np.sum(d1 * d1, axis=-1)
    e = np.sum(d2 * d2, axis=-1)
    b = np.sum(d1 * d2, axis=-1)
    c = np.sum(d1 * r, axis=-1)
    f = np.sum(d2 * r, axis=-1)
    denom = a * e - b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(denom > 1e-12 * a * e, np.clip((b * f - c * e) / denom, 0.0, 1.0), 0.0)
        t = (b * s + f) / e
        s = np.where(t < 0.0, np.clip(-c / a, 0.0, 1.0), np.where(t > 1.0, np.clip((b - c) / a, 0.0, 1.0), s))
    t = np.clip(t, 0.0, 1.0)
    gap = (p1 + s[..., None] * d1) - (p2 + t[..., None] * d2)
    return np.linalg.norm(gap, axis=-1)


def crossing_angle_deg(centre1: np.ndarray, direction1: np.ndarray, centre2: np.ndarray,
                       direction2: np.ndarray) -> np.ndarray:
    """Signed crossing angle Ω (degrees, right-handed negative; see the module docstring).

    ``centre*`` are any points on the axes (arrays (..., 3)), ``direction*`` unit vectors N→C.
    The common perpendicular of the axis lines is parallel to ``a1 × a2``; its sense (from axis 1
    to axis 2) is that of ``(centre2 − centre1)``'s component along it.
    """
    normal = np.cross(direction1, direction2)
    sin_abs = np.linalg.norm(normal, axis=-1)
    sign = np.sign(np.sum((centre2 - centre1) * normal, axis=-1))
    return np.degrees(np.arctan2(sign * sin_abs, np.sum(direction1 * direction2, axis=-1)))


def angle_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle between unit vectors (..., 3), degrees."""
    return np.degrees(np.arccos(np.clip(np.sum(u * v, axis=-1), -1.0, 1.0)))


@dataclass
class FrameGeometry:
    """Measures of a stack of frames (arrays with a leading frame axis)."""

    tilt_deg: np.ndarray        # (F, n_helices)
    crossing_deg: np.ndarray    # (F, n_pairs)
    distance_A: np.ndarray      # (F, n_pairs)
    axis: np.ndarray            # (F, 3) assembly axis (NaN for one helix)
    centre: np.ndarray          # (F, 3) centre of the helix centres


def measure(helix_ca: list[np.ndarray], pairs: Iterable[tuple[int, int]]) -> FrameGeometry:
    """Tilts, crossing angles and distances from each helix's CA stack (n_frames, n_res_i, 3)."""
    pairs = list(pairs)
    axes = [helix_axes(ca) for ca in helix_ca]
    starts = np.stack([a[0] for a in axes], axis=1)          # (F, n, 3)
    ends = np.stack([a[1] for a in axes], axis=1)
    dirs = np.stack([a[2] for a in axes], axis=1)
    mids = 0.5 * (starts + ends)
    n_frames, n = dirs.shape[:2]
    if n >= 3:
        axis = assembly_axis(mids, dirs)
    elif n == 2:
        axis = _unit(dirs[:, 0] + dirs[:, 1])
    else:
        axis = np.full((n_frames, 3), np.nan)
    tilt = angle_deg(dirs, axis[:, None, :])
    if pairs:
        i, j = np.array(pairs).T
        crossing = crossing_angle_deg(mids[:, i], dirs[:, i], mids[:, j], dirs[:, j])
        distance = segment_distance(starts[:, i], ends[:, i], starts[:, j], ends[:, j])
    else:
        crossing = distance = np.empty((n_frames, 0))
    return FrameGeometry(tilt, crossing, distance, axis, mids.mean(axis=1))


def pore_radii(atoms: np.ndarray, radii_A: np.ndarray, centre: np.ndarray, axis: np.ndarray,
               offsets_A: np.ndarray) -> np.ndarray:
    """Pore radius profile (n_frames, n_points): largest empty sphere at ``centre + s·axis``.

    ``atoms`` (F, N, 3) heavy atoms with van der Waals ``radii_A`` (N,); result floored at 0.
    """
    n_frames, n_atoms = atoms.shape[:2]
    out = np.empty((n_frames, len(offsets_A)))
    step = max(1, _PORE_CHUNK_ELEMENTS // max(1, n_atoms * len(offsets_A)))
    for lo in range(0, n_frames, step):
        hi = min(n_frames, lo + step)
        rel = atoms[lo:hi] - centre[lo:hi, None, :]
        along = np.einsum("fni,fi->fn", rel, axis[lo:hi])
        radial_sq = np.maximum(np.einsum("fni,fni->fn", rel, rel) - along ** 2, 0.0)
        dist = np.sqrt(radial_sq[:, None, :] + (along[:, None, :] - offsets_A[None, :, None]) ** 2)
        out[lo:hi] = (dist - radii_A[None, None, :]).min(axis=2)
    return np.maximum(out, 0.0)


# --------------------------------------------------------------------------------------------
# layout (once) and the per-frame table
# --------------------------------------------------------------------------------------------

def _frame_list(universe, frames) -> np.ndarray:
    n = len(universe.trajectory)
    if frames is None:
        return np.arange(n)
    if isinstance(frames, slice):
        return np.arange(n)[frames]
    if isinstance(frames, (int, np.integer)):
        frames = [frames]
    out = np.asarray(list(frames), dtype=np.int64)
    out = np.where(out < 0, out + n, out)
    if out.size and (out.min() < 0 or out.max() >= n):
        raise IndexError(f"frames must be within 0..{n - 1} (the trajectory has {n} frames)")
    return out


def _positions(universe, indices: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Coordinates of atoms ``indices`` at ``frames``: (n_frames, n_atoms, 3) float64."""
    traj = universe.trajectory
    if isinstance(traj, MemoryReader):
        coords = traj.get_array()  # (frames, atoms, 3) whatever the stored order
        if getattr(traj, "stored_order", "fac") != "fac":
            coords = traj.timeseries(order="fac")
        return coords[frames[:, None], indices[None, :]].astype(np.float64)
    group = universe.atoms[indices]
    out = np.empty((len(frames), len(indices), 3), dtype=np.float64)
    if len(traj) == 1 and len(frames) and frames[0] == 0:
        out[0] = group.positions
        return out
    current = traj.ts.frame
    for k, _ in enumerate(traj[frames]):
        out[k] = group.positions
    traj[current]
    return out


def _dssp_helices(atoms, chains: np.ndarray, min_residues: int) -> dict[str, tuple[int, int, np.ndarray]]:
    """Longest DSSP ``H`` run per chain: chain -> (first resid, last resid, CA indices)."""
    backbone_names = ("N", "CA", "C", "O")
    top = md.Topology()
    keep: list[int] = []
    res_keys: list[tuple[str, int]] = []  # (chain, resindex) per mdtraj residue
    ca_of_res: list[int] = []
    resid_of_res: list[int] = []
    md_chains: dict[str, object] = {}
    for res in atoms.residues:
        res_atoms = res.atoms.intersection(atoms)
        names = list(res_atoms.names)
        if not all(n in names for n in backbone_names):
            continue
        chain = chains[np.flatnonzero(atoms.resindices == res.resindex)[0]]
        if chain not in md_chains:
            md_chains[chain] = top.add_chain()
        md_res = top.add_residue(res.resname, md_chains[chain], resSeq=int(res.resid))
        for name in backbone_names:
            atom = res_atoms[names.index(name)]
            top.add_atom(name, md.element.get_by_symbol(name[0]), md_res)
            keep.append(atom.index)
        res_keys.append((chain, res.resindex))
        ca_of_res.append(res_atoms[names.index("CA")].index)
        resid_of_res.append(int(res.resid))
    if not keep:
        return {}
    xyz = atoms.universe.atoms[np.array(keep)].positions[None] / 10.0  # nm
    codes = md.compute_dssp(md.Trajectory(xyz, top), simplified=True)[0]
    helices: dict[str, tuple[int, int, np.ndarray]] = {}
    k = 0
    while k < len(codes):
        if codes[k] != "H":
            k += 1
            continue
        j = k
        while j + 1 < len(codes) and codes[j + 1] == "H" and res_keys[j + 1][0] == res_keys[k][0]:
            j += 1
        chain = res_keys[k][0]
        length = j - k + 1
        if length >= min_residues and length > len(helices.get(chain, (0, 0, ()))[2]):
            helices[chain] = (resid_of_res[k], resid_of_res[j], np.array(ca_of_res[k:j + 1]))
        k = j + 1
    return helices


def helix_layout(universe, frame: int = 0, *, selection: str = "protein", min_helix_residues: int = 8,
                 pore_spacing_A: float = 1.0) -> GeometryLayout:
    """The helix segments, ring order, neighbour pairs and pore atoms of ``universe`` at ``frame``.

    ``selection`` picks the oligomer's atoms (chains from chain ids, segment ids or backbone
    breaks: :func:`mpflow.analysis.structure.ring_order.chain_labels`).
    """
    atoms = universe.select_atoms(selection)
    if atoms.n_atoms == 0:
        raise ValueError(f"selection {selection!r} matches no atoms")
    traj = universe.trajectory
    current = traj.ts.frame
    traj[frame]
    try:
        chains = chain_labels(atoms)
        found = _dssp_helices(atoms, chains, min_helix_residues)
        labels = sorted(found)
        if not labels:
            return GeometryLayout(universe.atoms.n_atoms, (), ())
        segments = {c: HelixSegment(c, *found[c]) for c in labels}
        ca = [universe.atoms[segments[c].ca_indices].positions[None].astype(np.float64) for c in labels]
        axes = [helix_axes(x) for x in ca]
        mids = np.array([0.5 * (a[0][0] + a[1][0]) for a in axes])
        dirs = np.array([a[2][0] for a in axes])
        order = ring_order(labels, mids, dirs)
        helices = tuple(segments[c] for c in order)
        n = len(helices)
        if n == 2:
            pairs: tuple[tuple[int, int], ...] = ((0, 1),)
        elif n >= 3:
            pairs = tuple((k, (k + 1) % n) for k in range(n))
        else:
            pairs = ()
        if n < 3:
            return GeometryLayout(universe.atoms.n_atoms, helices, pairs)
        in_helix_chains = np.isin(chains, order)
        elements = elements_of(atoms)
        heavy = in_helix_chains & (elements != "H")
        pore_atoms = atoms[heavy]
        radii = np.array([BONDI_RADII_A.get(e, DEFAULT_VDW_RADIUS_A) for e in elements[heavy]])
        geo_axis = assembly_axis(mids, dirs)
        centre = mids.mean(axis=0)
        ends = np.array([[a[0][0], a[1][0]] for a in axes]) - centre   # (n, 2, 3)
        along = ends @ geo_axis
        lo, hi = along.min(axis=1).max(), along.max(axis=1).min()
        offsets = np.arange(lo, hi + 1e-9, pore_spacing_A) if hi > lo else np.array([0.5 * (lo + hi)])
        return GeometryLayout(universe.atoms.n_atoms, helices, pairs, pore_atoms.indices.copy(),
                              radii, offsets)
    finally:
        traj[current]


def _layout_for(universe, frame_idx: np.ndarray, layout: GeometryLayout | None) -> GeometryLayout:
    if layout is None:
        return helix_layout(universe, int(frame_idx[0]) if len(frame_idx) else 0)
    if layout.n_atoms != universe.atoms.n_atoms:
        raise ValueError(f"the layout was made for {layout.n_atoms} atoms; this universe has "
                         f"{universe.atoms.n_atoms}")
    return layout


def _measure_frames(universe, frame_idx: np.ndarray, layout: GeometryLayout
                    ) -> tuple[FrameGeometry, np.ndarray | None]:
    """Geometry of ``frame_idx`` (one coordinate read per frame) and the pore profile of rings."""
    ca_index = np.concatenate([h.ca_indices for h in layout.helices])
    need = np.concatenate([ca_index, layout.pore_atom_indices]) if layout.has_pore else ca_index
    xyz = _positions(universe, need, frame_idx)
    bounds = np.cumsum([0] + [h.n_residues for h in layout.helices])
    geo = measure([xyz[:, bounds[k]:bounds[k + 1]] for k in range(len(layout.helices))], layout.pairs)
    profile = None
    if layout.has_pore:
        profile = pore_radii(xyz[:, len(ca_index):], layout.pore_radii_A, geo.centre, geo.axis,
                             layout.pore_offsets_A)
    return geo, profile


def geometry_table(universe, frames=None, *, layout: GeometryLayout | None = None) -> pd.DataFrame:
    """Geometry of the helix oligomer in ``universe``, one row per frame (see the module docstring).

    ``frames``: None (all), an int, a slice or frame indices.  ``layout``: from
    :func:`helix_layout` (default: computed from the first requested frame); pass it back to
    skip the DSSP on later chunks of the same trajectory.
    """
    frame_idx = _frame_list(universe, frames)
    layout = _layout_for(universe, frame_idx, layout)
    n_frames, n = len(frame_idx), len(layout.helices)
    columns: dict[str, object] = {"frame": frame_idx.astype(np.int64),
                                  "n_helices": np.full(n_frames, n, dtype=np.int64)}
    nan = np.full(n_frames, np.nan)
    if n == 0 or n_frames == 0:
        columns.update(tilt_deg=nan, crossing_angle_deg=nan, distance_A=nan, pore_radius_min_A=nan)
        return pd.DataFrame(columns)
    geo, profile = _measure_frames(universe, frame_idx, layout)
    has_pairs = geo.crossing_deg.shape[1] > 0
    columns["tilt_deg"] = geo.tilt_deg.mean(axis=1) if n >= 2 else nan
    columns["crossing_angle_deg"] = geo.crossing_deg.mean(axis=1) if has_pairs else nan
    columns["distance_A"] = geo.distance_A.mean(axis=1) if has_pairs else nan
    columns["pore_radius_min_A"] = profile.min(axis=1) if profile is not None else nan
    for k, chain in enumerate(layout.chains):
        columns[f"tilt_deg.{chain}"] = geo.tilt_deg[:, k]
    for k, name in enumerate(layout.pair_names):
        columns[f"crossing_angle_deg.{name}"] = geo.crossing_deg[:, k]
    for k, name in enumerate(layout.pair_names):
        columns[f"distance_A.{name}"] = geo.distance_A[:, k]
    return pd.DataFrame(columns)


def pore_profile(universe, frames=None, *, layout: GeometryLayout | None = None) -> pd.DataFrame:
    """Pore radius profile of a ring: rows (``frame``, ``offset_A``, ``radius_A``).

    ``offset_A`` is the position along the assembly axis from the centre of the helix centres
    (positive towards the helices' C-termini).  Empty for assemblies of fewer than three helices.
    """
    frame_idx = _frame_list(universe, frames)
    layout = _layout_for(universe, frame_idx, layout)
    if not layout.has_pore or len(frame_idx) == 0:
        return pd.DataFrame({"frame": pd.Series(dtype="int64"), "offset_A": pd.Series(dtype=float),
                             "radius_A": pd.Series(dtype=float)})
    _, profile = _measure_frames(universe, frame_idx, layout)
    n_points = len(layout.pore_offsets_A)
    return pd.DataFrame({"frame": np.repeat(frame_idx, n_points),
                         "offset_A": np.tile(layout.pore_offsets_A, len(frame_idx)),
                         "radius_A": profile.ravel()})


def geometry_of_models(paths: Iterable[str | Path]) -> pd.DataFrame:
    """:func:`geometry_table` of docked-model files (PDB/mmCIF), one row each, ``model`` = file stem."""
    rows = []
    for path in paths:
        path = Path(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            universe = mda.Universe(str(path))
        row = geometry_table(universe, [0])
        row.insert(0, "model", path.stem)
        rows.append(row)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
