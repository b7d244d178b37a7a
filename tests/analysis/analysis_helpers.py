"""Helpers shared by the analysis tests: tiny universes built atom by atom."""

from __future__ import annotations

import MDAnalysis as mda
import numpy as np


def mini_universe(atoms: list[tuple[str, int, str, str, tuple[float, float, float]]]):
    """Universe from rows (chain, resid, resname, atom name, xyz); element = first letter."""
    keys = [(c, r) for c, r, *_ in atoms]
    res_keys = list(dict.fromkeys(keys))
    chains = list(dict.fromkeys(c for c, _ in res_keys))
    atom_res = [res_keys.index(k) for k in keys]
    u = mda.Universe.empty(len(atoms), n_residues=len(res_keys), n_segments=len(chains),
                           atom_resindex=atom_res,
                           residue_segindex=[chains.index(c) for c, _ in res_keys],
                           trajectory=True)
    u.add_TopologyAttr("names", [a[3] for a in atoms])
    u.add_TopologyAttr("elements", [a[3][0] for a in atoms])
    u.add_TopologyAttr("chainIDs", [a[0] for a in atoms])
    u.add_TopologyAttr("resnames", [next(a[2] for a in atoms if (a[0], a[1]) == k) for k in res_keys])
    u.add_TopologyAttr("resids", [r for _, r in res_keys])
    u.add_TopologyAttr("segids", chains)
    u.atoms.positions = np.array([a[4] for a in atoms], dtype=np.float32)
    return u


def write_wrapped(u, frames, path, shift_frac: float = 0.5):
    """Write ``frames`` of ``u`` to ``path`` moved by ``shift_frac`` of the box from centred, every
    atom wrapped into the box: molecules cross the box faces (a trajectory written broken on
    purpose, as without ``gmx trjconv -pbc mol``)."""
    with mda.Writer(str(path), n_atoms=u.atoms.n_atoms) as w:
        for ts in u.trajectory[frames]:
            box = ts.dimensions[:3]
            pos = ts.positions - u.atoms.center_of_geometry() + shift_frac * box + box / 2
            ts.positions = np.mod(pos, box)
            w.write(u.atoms)
    return path
