"""Ideal α-helix oligomers from a sequence: demo, test and docked-model-like models without outside data.

This module owns the model builder: one ideal α-helix per chain (PeptideBuilder, φ = −57.8°,
ψ = −47.0°, heavy atoms, C-terminal OXT), its axis put on z, then ``n`` copies placed C_n
symmetrically at ``radius_A`` around the z axis, chains A, B, ….  Options:

- ``tilt_deg``: each helix is tilted about its radial direction before placement, so neighbours
  cross (for a dimer the crossing angle is 2 × tilt; in a ring the helices form a left- or
  right-handed twist by the sign of the tilt: tilt < 0 is right-handed, Ω < 0);
- ``phase_deg``: rotation of each helix about its own axis (which face points inwards);
- ``hydrogens=True``: adds backbone amide hydrogens ``H`` (on the bisector of C(i−1)–N–CA,
  1.01 Å; none on the first residue or on Pro).  Side-chain hydrogens are not built.

:func:`build_models` makes sets of docked-model-like oligomers: several packings (crossing
angle and interhelical distance as :mod:`mpflow.analysis.structure.geometry` measures them; by default
right- and left-handed, each at two distances), small noise per model, a helix phase checked
free of interchain clashes for every model, a random rigid-body pose; written as PDB files ready
for import.  The model is written as PDB with :func:`write_pdb` (plain ATOM records,
TER per chain, no box).
"""

from __future__ import annotations

import string
import warnings
from dataclasses import dataclass
from pathlib import Path

import MDAnalysis as mda
import numpy as np
import PeptideBuilder
from scipy.optimize import brentq
from scipy.spatial import cKDTree

from mpflow.analysis.structure.elements import BONDI_RADII_A
from mpflow.analysis.structure.geometry import crossing_angle_deg, helix_axes, segment_distance
from mpflow.project.mutants import WZA_LIKE, Mutant

#: glycophorin A transmembrane segment (human GYPA, residues ~70–101)
GPA_TM_SEQUENCE = "EPEITLIIFGVMAGVIGTILLISYGIRRLIKK"
#: a Wza-like 32-residue amphipathic helix (made up for demos: not Wza's own sequence)
WZA_LIKE_SEQUENCE = WZA_LIKE.sequence

ALPHA_PHI_DEG = -57.8
ALPHA_PSI_DEG = -47.0
N_H_BOND_A = 1.01
#: chain ids in the order they are given to the copies
CHAIN_IDS = string.ascii_uppercase + string.ascii_lowercase + string.digits


@dataclass
class Oligomer:
    """Atoms of a built model (parallel arrays)."""

    names: np.ndarray
    resnames: np.ndarray
    resids: np.ndarray
    chains: np.ndarray
    elements: np.ndarray
    positions: np.ndarray  # (n_atoms, 3) Å

    @property
    def n_atoms(self) -> int:
        return len(self.names)


def _rotation(axis: np.ndarray, angle_deg: float) -> np.ndarray:
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    a = np.radians(angle_deg)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)


def _align(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotation matrix taking unit vector u onto unit vector v."""
    u = u / np.linalg.norm(u)
    v = v / np.linalg.norm(v)
    c = float(np.dot(u, v))
    axis = np.cross(u, v)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        perp = np.cross(u, [1.0, 0, 0])
        if np.linalg.norm(perp) < 1e-6:
            perp = np.cross(u, [0, 1.0, 0])
        return _rotation(perp, 180.0)
    return _rotation(axis, np.degrees(np.arctan2(s, c)))


def build_helix(sequence: str, *, hydrogens: bool = False, first_resid: int = 1) -> Oligomer:
    """One ideal α-helix of ``sequence`` (one-letter codes), axis along +z (N→C), the middle of the
    axis at 0."""
    seq = sequence.upper()
    bad = sorted(set(seq) - set("ACDEFGHIKLMNPQRSTVWY"))
    if bad or not seq:
        raise ValueError(f"sequence must be one-letter amino acids; bad letters: {bad}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        n = len(seq)
        structure = PeptideBuilder.make_structure(seq, [ALPHA_PHI_DEG] * (n - 1),
                                                  [ALPHA_PSI_DEG] * (n - 1))
        PeptideBuilder.add_terminal_OXT(structure)
    names, resnames, resids, elements, coords = [], [], [], [], []
    residues = list(structure.get_residues())
    for k, res in enumerate(residues):
        rn = res.get_resname()
        atoms = list(res.get_atoms())
        order = {nm: i for i, nm in enumerate(["N", "CA", "C", "O"])}
        atoms.sort(key=lambda a: (order.get(a.get_name(), 4), a.get_name() == "OXT"))
        for atom in atoms:
            names.append(atom.get_name())
            resnames.append(rn)
            resids.append(first_resid + k)
            elements.append(atom.element.upper())
            coords.append(atom.get_coord())
        if hydrogens and k > 0 and rn != "PRO":
            prev_c = residues[k - 1]["C"].get_coord()
            nn, ca = res["N"].get_coord(), res["CA"].get_coord()
            b = (nn - prev_c) / np.linalg.norm(nn - prev_c) + (nn - ca) / np.linalg.norm(nn - ca)
            names.append("H")
            resnames.append(rn)
            resids.append(first_resid + k)
            elements.append("H")
            coords.append(nn + N_H_BOND_A * b / np.linalg.norm(b))
    pos = np.array(coords, dtype=float)
    names_a = np.array(names, dtype=object)
    ca = pos[names_a == "CA"]
    if len(ca) >= 5:
        # the exact axis of the ideal CA helix (a least-squares line through the CAs is off by up
        # to ~0.6° and ~0.1 Å when the helix is not a whole number of turns)
        start, end, direction = helix_axes(ca[None])
        centre, axis = 0.5 * (start[0] + end[0]), direction[0]
    else:
        centre = ca.mean(axis=0)
        _, _, vt = np.linalg.svd(ca - centre)
        axis = vt[0] if np.dot(vt[0], ca[-1] - ca[0]) > 0 else -vt[0]
    pos = (pos - centre) @ _align(axis, np.array([0.0, 0.0, 1.0])).T
    return Oligomer(names_a, np.array(resnames, dtype=object), np.array(resids, dtype=np.int64),
                    np.full(len(names), "A", dtype=object), np.array(elements, dtype=object), pos)


def build_oligomer(sequence: str, n: int, radius_A: float, *, tilt_deg: float = 0.0,
                   phase_deg: float = 0.0, hydrogens: bool = False, first_resid: int = 1,
                   chain_ids: str | None = None) -> Oligomer:
    """``n`` copies of an ideal helix placed C_n symmetrically at ``radius_A`` around z."""
    if n < 1:
        raise ValueError("n must be >= 1")
    helix = build_helix(sequence, hydrogens=hydrogens, first_resid=first_resid)
    return place_copies(helix, n, radius_A, tilt_deg=tilt_deg, phase_deg=phase_deg,
                        chain_ids=chain_ids)


def place_copies(helix: Oligomer, n: int, radius_A: float, *, tilt_deg: float = 0.0,
                 phase_deg: float = 0.0, chain_ids: str | None = None) -> Oligomer:
    """``n`` copies of ``helix`` (axis on z, as from :func:`build_helix`) placed C_n around z."""
    chain_ids = chain_ids or CHAIN_IDS
    if len(chain_ids) < n:
        raise ValueError(f"need {n} chain ids, got {len(chain_ids)}")
    base = helix.positions @ _rotation([0, 0, 1], phase_deg).T
    base = base @ _rotation([1, 0, 0], tilt_deg).T + np.array([radius_A, 0.0, 0.0])
    parts = []
    for k in range(n):
        rot = _rotation([0, 0, 1], 360.0 * k / n)
        parts.append(base @ rot.T)
    m = helix.n_atoms
    return Oligomer(np.tile(helix.names, n), np.tile(helix.resnames, n), np.tile(helix.resids, n),
                    np.repeat(np.array(list(chain_ids[:n]), dtype=object), m),
                    np.tile(helix.elements, n), np.concatenate(parts))


def write_pdb(model: Oligomer, path: str | Path, *, chain_order: list[str] | None = None) -> Path:
    """Write ``model`` as PDB (ATOM records, one TER per chain, END).

    ``chain_order`` writes the chains in that order (the coordinates keep their chain), e.g. to
    produce files whose chain letters are not in ring order.
    """
    path = Path(path)
    chains = list(dict.fromkeys(model.chains.tolist()))
    order = chain_order or chains
    lines = []
    serial = 1
    for ch in order:
        idx = np.flatnonzero(model.chains == ch)
        for i in idx:
            nm = model.names[i]
            pad = f" {nm:<3s}" if len(nm) < 4 else f"{nm:4s}"
            x, y, z = model.positions[i]
            lines.append(
                f"ATOM  {serial % 100000:5d} {pad} {model.resnames[i]:>3s} {ch}"
                f"{int(model.resids[i]) % 10000:4d}    {x:8.3f}{y:8.3f}{z:8.3f}{1.0:6.2f}{0.0:6.2f}"
                f"          {model.elements[i]:>2s}")
            serial += 1
        last = idx[-1]
        lines.append(f"TER   {serial % 100000:5d}      {model.resnames[last]:>3s} {ch}"
                     f"{int(model.resids[last]) % 10000:4d}")
        serial += 1
    lines.append("END")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def to_universe(model: Oligomer):
    """An in-memory MDAnalysis Universe of ``model`` (one frame, no box; chainIDs and segids)."""
    chains = list(dict.fromkeys(model.chains.tolist()))
    # residues: consecutive (chain, resid) runs
    key = [(c, r) for c, r in zip(model.chains, model.resids)]
    res_start = [0] + [i for i in range(1, len(key)) if key[i] != key[i - 1]]
    atom_res = np.cumsum([0] + [1 if key[i] != key[i - 1] else 0 for i in range(1, len(key))])
    res_chain = [model.chains[i] for i in res_start]
    seg_of_res = np.array([chains.index(c) for c in res_chain])
    u = mda.Universe.empty(model.n_atoms, n_residues=len(res_start), n_segments=len(chains),
                           atom_resindex=atom_res, residue_segindex=seg_of_res, trajectory=True)
    u.add_TopologyAttr("names", list(model.names))
    u.add_TopologyAttr("elements", list(model.elements))
    u.add_TopologyAttr("chainIDs", list(model.chains))
    u.add_TopologyAttr("resnames", [model.resnames[i] for i in res_start])
    u.add_TopologyAttr("resids", [int(model.resids[i]) for i in res_start])
    u.add_TopologyAttr("segids", chains)
    u.atoms.positions = model.positions.astype(np.float32)
    return u


# --------------------------------------------------------------------------------------------
# docked-model-like sets: several packings, small noise, clash-free
# --------------------------------------------------------------------------------------------

#: van der Waals radius (Å) the clash test gives an element without a Bondi radius
_CLASH_DEFAULT_RADIUS_A = 1.8
#: two heavy atoms of different chains clash when their van der Waals spheres overlap by this much
#: (UCSF Chimera's default clash criterion)
CLASH_OVERLAP_A = 0.6
#: interchain heavy-atom pairs closer than this count as contacts (to prefer packed phases)
CONTACT_DISTANCE_A = 4.5


class BuildError(ValueError):
    """The builder cannot make what was asked (one-line message)."""


@dataclass(frozen=True)
class Packing:
    """A target packing of neighbouring helices: signed crossing angle (right-handed < 0) and
    interhelical distance as :mod:`mpflow.analysis.structure.geometry` measures them; ``phase_deg`` is the
    rotation of every helix about its own axis (``None``: the builder picks a clash-free one)."""

    name: str
    crossing_deg: float
    distance_A: float
    phase_deg: float | None = None


@dataclass(frozen=True)
class BuiltModel:
    """One model of :func:`build_models`: its packing and the values it was built with."""

    name: str
    packing: str
    crossing_deg: float
    distance_A: float
    phase_deg: float
    model: Oligomer
    path: Path | None = None


def _axis_lines(n: int, tilt_deg: float, radius_A: float, length_A: float):
    """Axis segments (start, end) of helices 0 and 1 of a placed ring, and their centres/directions."""
    direction = _rotation([1, 0, 0], tilt_deg) @ np.array([0.0, 0.0, 1.0])
    centre = np.array([radius_A, 0.0, 0.0])
    rot = _rotation([0, 0, 1], 360.0 / n)
    c0, a0, c1, a1 = centre, direction, rot @ centre, rot @ direction
    half = 0.5 * length_A
    return (c0 - half * a0, c0 + half * a0, c1 - half * a1, c1 + half * a1), (c0, a0, c1, a1)


def ring_placement(n: int, crossing_deg: float, distance_A: float, length_A: float
                   ) -> tuple[float, float]:
    """``(tilt_deg, radius_A)`` for :func:`place_copies` so that neighbours cross at
    ``crossing_deg`` and their axes come ``distance_A`` close (helix axes ``length_A`` long).

    A dimer is exact (Ω = 2 × tilt, distance = 2 × radius); for rings of n ≥ 3 the tilt about the
    radial direction is solved numerically (Ω depends only on the tilt; |Ω| < 360°/n).
    """
    if n == 2:
        return 0.5 * crossing_deg, 0.5 * distance_A
    if n < 2:
        raise BuildError("a single helix has no neighbours to pack against")
    if abs(crossing_deg) >= 360.0 / n - 1e-6:
        raise BuildError(f"a ring of {n} helices cannot cross at {crossing_deg:g}° "
                         f"(|crossing| < {360.0 / n:g}°)")

    def omega(tilt: float) -> float:
        _, (c0, a0, c1, a1) = _axis_lines(n, tilt, 1.0, length_A)
        return float(crossing_angle_deg(c0, a0, c1, a1)) - crossing_deg

    tilt = 0.0 if crossing_deg == 0 else brentq(omega, 0.0, np.copysign(89.99, crossing_deg), xtol=1e-8)
    radius = distance_A / (2.0 * np.sin(np.pi / n))
    for _ in range(20):
        ends, _ = _axis_lines(n, tilt, radius, length_A)
        measured = float(segment_distance(*ends))
        if abs(measured - distance_A) < 1e-6:
            break
        radius *= distance_A / measured
    return float(tilt), float(radius)


def _heavy(model: Oligomer) -> np.ndarray:
    return model.elements != "H"


def interchain_contacts(model: Oligomer) -> tuple[bool, int]:
    """``(clash, n_contacts)`` between chain A's heavy atoms and the other chains' (a C_n model
    has all chain pairs like A's): a clash is a van der Waals overlap ≥ :data:`CLASH_OVERLAP_A`."""
    heavy = _heavy(model)
    first = model.chains[0]
    mine = heavy & (model.chains == first)
    others = heavy & (model.chains != first)
    if not others.any():
        return False, 0
    radius = np.array([BONDI_RADII_A.get(e, _CLASH_DEFAULT_RADIUS_A) for e in model.elements])
    tree = cKDTree(model.positions[others])
    pairs = tree.query_ball_point(model.positions[mine], CONTACT_DISTANCE_A)
    r_mine, r_other = radius[mine], radius[others]
    pos_other = model.positions[others]
    clash, contacts = False, 0
    for i, (p, js) in enumerate(zip(model.positions[mine], pairs)):
        if not js:
            continue
        d = np.linalg.norm(pos_other[js] - p, axis=1)
        contacts += len(js)
        if np.any(d < r_mine[i] + r_other[js] - CLASH_OVERLAP_A):
            clash = True
    return clash, contacts


def clash_free_phase(helix: Oligomer, n: int, tilt_deg: float, radius_A: float,
                     step_deg: float = 15.0) -> float | None:
    """The helix phase (multiple of ``step_deg``) without interchain clashes that has the most
    interchain contacts, or None when every phase clashes."""
    best: tuple[int, float] | None = None
    for phase in np.arange(0.0, 360.0, step_deg):
        clash, contacts = interchain_contacts(place_copies(helix, n, radius_A, tilt_deg=tilt_deg,
                                                           phase_deg=phase))
        if not clash and (best is None or contacts > best[0]):
            best = (contacts, float(phase))
    return None if best is None else best[1]


def _axis_length(helix: Oligomer) -> float:
    ca = helix.positions[helix.names == "CA"]
    return float(ca[:, 2].max() - ca[:, 2].min())


def default_packings(helix: Oligomer, n: int, *, distance_step_A: float = 0.5,
                     margin_A: float = 0.5, spread_A: float = 1.5) -> list[Packing]:
    """Four packings of ``n`` copies of ``helix``: right- and left-handed crossing, each at a near
    and a far interhelical distance.

    Crossing: right −40° and left +20° for a dimer (glycophorin-A-like and coiled-coil-like); for a
    ring both capped at 45 % of 360°/n.  Near distance: the smallest multiple of
    ``distance_step_A`` (from 8 Å) at which some helix phase is clash-free, plus ``margin_A`` so
    that noise does not bring clashes; far: near + ``spread_A``.
    """
    if n == 1:
        return [Packing("monomer", float("nan"), float("nan"), 0.0)]
    cap = 0.45 * 360.0 / n if n >= 3 else 180.0
    length = _axis_length(helix)
    packings = []
    for hand, crossing in (("right", -min(40.0, cap)), ("left", min(20.0, cap))):
        distance = 8.0
        while True:
            tilt, radius = ring_placement(n, crossing, distance, length)
            if clash_free_phase(helix, n, tilt, radius) is not None:
                break
            distance += distance_step_A
            if distance > 30.0:
                raise BuildError(f"no clash-free {hand}-handed packing of {n} helices within 30 Å")
        near = distance + margin_A
        packings.append(Packing(f"{hand}-{near:g}A", crossing, near))
        packings.append(Packing(f"{hand}-{near + spread_A:g}A", crossing, near + spread_A))
    return packings


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    q = rng.normal(size=4)
    w, x, y, z = q / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def build_models(mutant_or_sequence, oligomer: int | None = None, k: int = 8, seed: int = 0, *,
                 out_dir: str | Path | None = None, packings: list[Packing] | None = None,
                 first_resid: int | None = None, name_prefix: str | None = None,
                 crossing_sd_deg: float = 1.5, distance_sd_A: float = 0.2, phase_sd_deg: float = 5.0,
                 max_attempts: int = 50) -> list[BuiltModel]:
    """``k`` docked-model-like C_n oligomers of ideal helices in deliberately different packings.

    ``mutant_or_sequence``: a :class:`mpflow.project.mutants.Mutant` (sequence, oligomer, first_resid and
    the name prefix come from it) or a one-letter sequence (then ``oligomer`` is required).
    Model ``i`` gets packing ``i mod len(packings)`` (default :func:`default_packings`), its
    crossing angle, distance and phase drawn around the packing's with the given standard
    deviations (seeded by ``seed``), every helix phase checked clash-free (redrawn otherwise),
    and the whole model turned and moved at random, as docking output is.  With ``out_dir``
    each model is written as ``<prefix>_<i:03d>.pdb`` (i from 1), ready for import.
    """
    if isinstance(mutant_or_sequence, Mutant):
        mutant = mutant_or_sequence
        if oligomer is not None and oligomer != mutant.oligomer:
            raise BuildError(f"{mutant.name} is an oligomer of {mutant.oligomer}, not {oligomer}")
        sequence, n = mutant.sequence, mutant.oligomer
        first = mutant.first_resid if first_resid is None else first_resid
        prefix = name_prefix or mutant.name
    else:
        sequence, n = str(mutant_or_sequence), oligomer
        if n is None:
            raise BuildError("oligomer (number of chains) is required with a plain sequence")
        first = 1 if first_resid is None else first_resid
        prefix = name_prefix or "model"
    if n < 1 or n > len(CHAIN_IDS):
        raise BuildError(f"oligomer must be 1-{len(CHAIN_IDS)} chains, got {n}")
    if k < 1:
        raise BuildError(f"k (number of models) must be at least 1, got {k}")
    helix = build_helix(sequence, first_resid=first)
    length = _axis_length(helix)
    packings = list(packings) if packings else default_packings(helix, n)
    rng = np.random.default_rng(seed)
    chosen: dict[str, tuple[float, float, float]] = {}
    for p in packings:
        if n == 1:
            chosen[p.name] = (0.0, 0.0, p.phase_deg or 0.0)
            continue
        tilt, radius = ring_placement(n, p.crossing_deg, p.distance_A, length)
        phase = p.phase_deg if p.phase_deg is not None else clash_free_phase(helix, n, tilt, radius)
        if phase is None:
            raise BuildError(f"packing {p.name}: every helix phase clashes at {p.distance_A:g} Å; "
                             "use a larger distance")
        chosen[p.name] = (tilt, radius, phase)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    models = []
    for i in range(k):
        p = packings[i % len(packings)]
        for _ in range(max_attempts):
            if n == 1:
                crossing, distance, phase = float("nan"), float("nan"), chosen[p.name][2]
                model = place_copies(helix, 1, 0.0, phase_deg=phase)
                break
            crossing = p.crossing_deg + rng.normal(0.0, crossing_sd_deg)
            distance = p.distance_A + rng.normal(0.0, distance_sd_A)
            phase = chosen[p.name][2] + rng.normal(0.0, phase_sd_deg)
            tilt, radius = ring_placement(n, crossing, distance, length)
            model = place_copies(helix, n, radius, tilt_deg=tilt, phase_deg=phase)
            if not interchain_contacts(model)[0]:
                break
        else:
            raise BuildError(f"packing {p.name}: no clash-free model in {max_attempts} draws; "
                             "lower the noise or widen the distance")
        rotation = _random_rotation(rng)
        shift = rng.uniform(-10.0, 10.0, size=3)
        model = Oligomer(model.names, model.resnames, model.resids, model.chains, model.elements,
                         model.positions @ rotation.T + shift)
        name = f"{prefix}_{i + 1:03d}"
        path = write_pdb(model, out / f"{name}.pdb") if out is not None else None
        models.append(BuiltModel(name, p.name, float(crossing), float(distance), float(phase),
                                 model, path))
    return models
