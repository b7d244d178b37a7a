"""Ideal α-helix oligomers from a sequence: demo and test models without outside data.

This module owns the model builder: one ideal α-helix per chain (PeptideBuilder, φ = −57.8°,
ψ = −47.0°, heavy atoms, C-terminal OXT), its axis put on z, then ``n`` copies placed C_n
symmetrically at ``radius_A`` around the z axis, chains A, B, ….  Options:

- ``tilt_deg``: each helix is tilted about its radial direction before placement, so neighbours
  cross (for a dimer the crossing angle is 2 × tilt; in a ring the helices form a left- or
  right-handed twist by the sign of the tilt);
- ``phase_deg``: rotation of each helix about its own axis (which face points inwards);
- ``hydrogens=True``: adds backbone amide hydrogens ``H`` (on the bisector of C(i−1)–N–CA,
  1.01 Å; none on the first residue or on Pro).  Side-chain hydrogens are not built.

The model is written as PDB with :func:`write_pdb` (plain ATOM records, TER per chain, no box).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: glycophorin A transmembrane segment (human GYPA, residues ~70–101)
GPA_TM_SEQUENCE = "EPEITLIIFGVMAGVIGTILLISYGIRRLIKK"
#: a Wza-like 32-residue amphipathic helix (made up for demos: not Wza's own sequence)
WZA_LIKE_SEQUENCE = "SPEELIKAFAEYLAKVAGELWKRLAEAFDKLG"

ALPHA_PHI_DEG = -57.8
ALPHA_PSI_DEG = -47.0
N_H_BOND_A = 1.01


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
    """One ideal α-helix of ``sequence`` (one-letter codes), axis along +z (N→C), centred at 0."""
    import warnings

    import PeptideBuilder

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
    chain_ids = chain_ids or string.ascii_uppercase
    if len(chain_ids) < n:
        raise ValueError(f"need {n} chain ids, got {len(chain_ids)}")
    helix = build_helix(sequence, hydrogens=hydrogens, first_resid=first_resid)
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
    path.write_text("\n".join(lines) + "\n")
    return path


def to_universe(model: Oligomer):
    """An in-memory MDAnalysis Universe of ``model`` (one frame, no box; chainIDs and segids)."""
    import MDAnalysis as mda

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
