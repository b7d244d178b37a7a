"""Chemical elements of atoms and their van der Waals radii: the two radius tables the science uses.

This module owns what an atom's element is and how large it is:

- :func:`elements_of`: upper-case element symbols of MDAnalysis atoms (the topology's elements when
  it has them, else the first letter of the atom name);
- :data:`BONDI_RADII_A`: Bondi (1964) van der Waals radii by element, the radii of mpflow's own
  rules (vdW contacts of the ``mpflow`` criteria, the pore radius of the helix geometry, the clash
  test of the helix builder); each user states its radius for an element not in the table;
- :func:`mdanalysis_vdw_radii`: MDAnalysis' ``vdwradii`` table, the radii of MDAnalysis' bond
  guessing rule and of ProLIF's default preset (the ``prolif`` criteria).
"""

from __future__ import annotations

import numpy as np

try:
    from MDAnalysis.guesser.tables import vdwradii as _MDANALYSIS_VDW_RADII
except ImportError:  # pragma: no cover - MDAnalysis < 2.8
    from MDAnalysis.topology.tables import vdwradii as _MDANALYSIS_VDW_RADII

#: Bondi (1964) van der Waals radii in Å, by upper-case element symbol
BONDI_RADII_A: dict[str, float] = {
    "H": 1.20, "C": 1.70, "N": 1.55, "O": 1.52, "S": 1.80, "P": 1.80, "F": 1.47, "CL": 1.75,
    "BR": 1.85, "I": 1.98, "SE": 1.90,
}


def mdanalysis_vdw_radii() -> dict[str, float]:
    """MDAnalysis' ``vdwradii`` table (upper-case element -> radius in A): ProLIF's default preset."""
    return {k.upper(): float(v) for k, v in _MDANALYSIS_VDW_RADII.items()}


def elements_of(atoms) -> np.ndarray:
    """Upper-case element symbols: the topology's elements when present, else guessed from names."""
    try:
        el = np.char.upper(np.char.strip(np.asarray(atoms.elements).astype(str)))
        if len(el) and (np.char.str_len(el) > 0).all():
            return el.astype(object)
    except Exception:  # noqa: BLE001 - topology without elements: guess below
        pass
    out = []
    for name in atoms.names:
        letters = "".join(c for c in name if c.isalpha()).upper()
        out.append(letters[:1] or "X")
    return np.array(out, dtype=object)
