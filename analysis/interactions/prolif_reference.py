"""Agreement of the prolif criteria profile with ProLIF itself, residue pair by residue pair.

This module owns the comparison used by the tests and the benchmark (ProLIF is a test
dependency, imported only here and only when called):

- :func:`prolif_pairs`: ProLIF 2.2's ``Fingerprint`` over chosen frames, sel-a as its ligand and
  sel-b as its protein, as a set of (frame, ProLIF interaction name, ligand residue, protein
  residue), residues as (resname, resid, chain);
- :func:`mpflow_pairs`: an mpflow table in the same terms (the ProLIF name follows from the type
  and, for directional types, from which side the donor / cation sits on: the sel-a side, or for
  chains found automatically the first chain's, ProLIF's ligand);
- :func:`agreement`: per ProLIF interaction, how many pairs both, only ProLIF, only mpflow found;
- :func:`memprot_universe`: the second real system of the comparison, MDAnalysisTests' YiiP dimer
  (GRO_MEMPROT, XTC_MEMPROT) prepared as ProLIF needs it.
"""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import numpy as np
import pandas as pd

from mpflow.analysis.interactions.table import table_metadata
from mpflow.analysis.structure.bonds import guess_bonds

#: mpflow type -> ProLIF names (for directional types: (donor/cation in sel-a, in sel-b))
PROLIF_NAMES: dict[str, tuple[str, ...]] = {
    "hbond": ("HBDonor", "HBAcceptor"),
    "saltbridge": ("Cationic", "Anionic"),
    "cationpi": ("CationPi", "PiCation"),
    "hydrophobic": ("Hydrophobic",),
    "vdw": ("VdWContact",),
    "pistack_ftf": ("FaceToFace",),
    "pistack_etf": ("EdgeToFace",),
}


def prolif_pairs(universe, sel_a: str, sel_b: str, frames) -> set[tuple]:
    """ProLIF's (frame, name, ligand residue, protein residue) set, sel-a as the ligand."""
    import prolif  # a test dependency (and ~1.9 s to import): only when a comparison is asked

    names = [n for names in PROLIF_NAMES.values() for n in names]
    fp = prolif.Fingerprint(names)
    lig = universe.select_atoms(sel_a)
    prot = universe.select_atoms(sel_b)
    fp.run(universe.trajectory[np.asarray(frames)], lig, prot, progress=False, n_jobs=1)
    out = set()
    for frame, ifp in fp.ifp.items():
        for (lres, pres), data in ifp.items():
            for name in data:
                out.add((int(frame), name, (lres.name, int(lres.number), lres.chain),
                         (pres.name, int(pres.number), pres.chain)))
    return out


def mpflow_pairs(table: pd.DataFrame, universe=None, sel_a: str | None = None) -> set[tuple]:
    """The rows of an mpflow table as (frame, ProLIF name, ligand residue, protein residue).

    The ligand side of a row is its side in ``sel_a`` when given (the table of disjoint
    selections, ProLIF run with sel-a as its ligand); without ``sel_a`` (a table whose chains were
    found automatically) it is the row's side on the first of its two chains, in the table's chain
    order, as in ProLIF run with chain A as its ligand against chain B.
    """
    if sel_a is not None:
        in_a = np.zeros(universe.atoms.n_atoms, bool)
        in_a[universe.select_atoms(sel_a).indices] = True
    else:
        rank = {c: k for k, c in enumerate(table_metadata(table)["chains"])}
    out = set()
    for row in table.itertuples(index=False):
        names = PROLIF_NAMES.get(str(row.type))
        if names is None:
            continue
        ra = (str(row.resname_a), int(row.resid_a), str(row.chain_a))
        rb = (str(row.resname_b), int(row.resid_b), str(row.chain_b))
        if sel_a is not None:
            a_is_ligand = bool(in_a[row.index_a])
        else:
            a_is_ligand = rank[str(row.chain_a)] <= rank[str(row.chain_b)]
        name = names[0] if len(names) == 1 or a_is_ligand else names[1]
        lig, prot = (ra, rb) if a_is_ligand else (rb, ra)
        out.add((int(row.frame), name, lig, prot))
    return out


def agreement(ours: set[tuple], theirs: set[tuple]) -> pd.DataFrame:
    """Per ProLIF interaction: pairs found by both, only by ProLIF, only by mpflow; Jaccard."""
    names = [n for names in PROLIF_NAMES.values() for n in names]
    rows = []
    for name in names:
        a = {x for x in ours if x[1] == name}
        b = {x for x in theirs if x[1] == name}
        union = len(a | b)
        rows.append({"interaction": name, "prolif": len(b), "mpflow": len(a), "both": len(a & b),
                     "only_prolif": len(b - a), "only_mpflow": len(a - b),
                     "jaccard": len(a & b) / union if union else 1.0})
    return pd.DataFrame(rows)


def memprot_universe():
    """GRO_MEMPROT/XTC_MEMPROT with elements, protein bonds and a chain id per protein fragment (A, B).

    The bonds are MDAnalysis' guessing rule run vectorised
    (:func:`mpflow.analysis.structure.bonds.guess_bonds`, whose output equals MDAnalysis' own
    guesser on this protein, which takes ~15 s)."""
    from MDAnalysisTests.datafiles import GRO_MEMPROT, XTC_MEMPROT  # a test dependency

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(GRO_MEMPROT, XTC_MEMPROT)
        u.guess_TopologyAttrs(to_guess=["elements"])
        protein = u.select_atoms("protein")
        bonds = guess_bonds(u.atoms.positions, np.asarray(u.atoms.elements, dtype=object),
                            protein.indices, u.dimensions)
        u.add_TopologyAttr("bonds", [tuple(b) for b in bonds.tolist()])
    chain = np.full(u.atoms.n_atoms, "X", dtype=object)
    for letter, fragment in zip("AB", protein.fragments):
        chain[fragment.indices] = letter
    u.add_TopologyAttr("chainIDs", chain)
    return u
