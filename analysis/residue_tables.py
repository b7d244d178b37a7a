"""Per-atom chemistry of proteins from residue and atom names: the tables and one builder.

This module owns the *topology-time* half of the interaction engine: which atoms are H-bond
donors or acceptors, charged, hydrophobic, members of an aromatic ring, which atoms make a
side-chain centroid, and each atom's van der Waals radius.  It is evaluated once per topology;
per frame the engine only reads coordinates.

Tables (protein only; other residues get element-based rules, see :func:`atom_properties`)
-----------------------------------------------------------------------------------------
- ``RESNAME_ALIASES``: force-field spellings mapped to a canonical residue name and charge state
  (CHARMM ``HSD/HSE/HSP``, Amber ``HID/HIE/HIP/ASH/GLH/LYN/CYX``, GROMACS ``HISD/HISE/HISH``).
- ``DONORS`` / ``ACCEPTORS``: heavy-atom names.  With explicit hydrogens a donor is any N, O or S
  atom carrying a bonded hydrogen (bonds from the topology, else H within 1.2 Å in the reference
  frame); the ``DONORS`` table is used only by the heavy-atom fallback.  Acceptors are every
  protein oxygen plus the histidine ring nitrogens that carry no hydrogen (both of them when
  there are no hydrogens).
- ``CATIONIC`` / ``ANIONIC``: charged groups (Lys NZ, Arg NE/NH1/NH2, protonated His ND1/NE2;
  Asp OD1/OD2, Glu OE1/OE2, C-terminal carboxylate).  The N-terminal amine counts as cationic only
  when it carries three hydrogens (NH3+), i.e. with explicit hydrogens.
- ``HYDROPHOBIC``: carbon atoms bonded to no N or O, plus the thioether S of Met (the rule of
  ProLIF's hydrophobic SMARTS, written out per residue).
- ``AROMATIC_RINGS``: ring atoms in cyclic order (Phe, Tyr, His, and Trp's 5- and 6-membered rings).
- ``VDW_RADII_A``: Bondi (1964) radii by element, 1.70 Å when unknown.
- Side-chain centroid (knobs-into-holes): heavy atoms other than N, CA, C, O, OXT (CA for Gly).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

BACKBONE_NAMES = frozenset({"N", "CA", "C", "O", "OXT", "OT1", "OT2", "OC1", "OC2"})
C_TERMINAL_OXYGENS = frozenset({"OXT", "OT1", "OT2", "OC1", "OC2"})
N_TERMINAL_HYDROGENS = frozenset({"H1", "H2", "H3", "HT1", "HT2", "HT3", "HN1", "HN2", "HN3"})

#: force-field residue name -> (canonical name, charge state: +1, -1, 0 or None for "usual")
RESNAME_ALIASES: dict[str, tuple[str, int | None]] = {
    "HIS": ("HIS", 0), "HSD": ("HIS", 0), "HSE": ("HIS", 0), "HID": ("HIS", 0), "HIE": ("HIS", 0),
    "HISD": ("HIS", 0), "HISE": ("HIS", 0), "HSP": ("HIS", 1), "HIP": ("HIS", 1), "HISH": ("HIS", 1),
    "HISP": ("HIS", 1), "CYX": ("CYS", 0), "CYM": ("CYS", -1), "ASH": ("ASP", 0), "ASPH": ("ASP", 0),
    "GLH": ("GLU", 0), "GLUH": ("GLU", 0), "LYN": ("LYS", 0), "LSN": ("LYS", 0), "ARN": ("ARG", 0),
}
STANDARD_RESIDUES = frozenset(
    "ALA ARG ASN ASP CYS GLN GLU GLY HIS ILE LEU LYS MET PHE PRO SER THR TRP TYR VAL".split()
)

#: heavy-atom donors used by the no-hydrogen fallback (backbone N is added for every residue but Pro)
DONORS: dict[str, tuple[str, ...]] = {
    "ARG": ("NE", "NH1", "NH2"), "ASN": ("ND2",), "GLN": ("NE2",), "HIS": ("ND1", "NE2"),
    "LYS": ("NZ",), "SER": ("OG",), "THR": ("OG1",), "TYR": ("OH",), "TRP": ("NE1",), "CYS": ("SG",),
}
#: nitrogen acceptors (oxygens are always acceptors); His N only when it carries no hydrogen
NITROGEN_ACCEPTORS: dict[str, tuple[str, ...]] = {"HIS": ("ND1", "NE2")}

CATIONIC: dict[str, tuple[str, ...]] = {"LYS": ("NZ",), "ARG": ("NE", "NH1", "NH2"), "HIS+": ("ND1", "NE2")}
ANIONIC: dict[str, tuple[str, ...]] = {"ASP": ("OD1", "OD2"), "GLU": ("OE1", "OE2")}

HYDROPHOBIC: dict[str, tuple[str, ...]] = {
    "ALA": ("CB",), "VAL": ("CB", "CG1", "CG2"), "LEU": ("CB", "CG", "CD1", "CD2"),
    "ILE": ("CB", "CG1", "CG2", "CD1", "CD"), "MET": ("CB", "CG", "SD", "CE"),
    "PHE": ("CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ"),
    "TRP": ("CB", "CG", "CD2", "CE3", "CZ2", "CZ3", "CH2"),
    "TYR": ("CB", "CG", "CD1", "CD2", "CE1", "CE2"), "PRO": ("CB", "CG"), "CYS": ("CB",),
    "LYS": ("CB", "CG", "CD"), "ARG": ("CB", "CG"), "GLU": ("CB", "CG"), "GLN": ("CB", "CG"),
    "ASP": ("CB",), "ASN": ("CB",), "THR": ("CG2",), "HIS": ("CB",),
}

AROMATIC_RINGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "PHE": (("CG", "CD1", "CE1", "CZ", "CE2", "CD2"),),
    "TYR": (("CG", "CD1", "CE1", "CZ", "CE2", "CD2"),),
    "HIS": (("CG", "ND1", "CE1", "NE2", "CD2"),),
    "TRP": (("CG", "CD1", "NE1", "CE2", "CD2"), ("CD2", "CE2", "CZ2", "CH2", "CZ3", "CE3")),
}

VDW_RADII_A: dict[str, float] = {
    "H": 1.20, "C": 1.70, "N": 1.55, "O": 1.52, "S": 1.80, "P": 1.80, "F": 1.47, "CL": 1.75,
    "BR": 1.85, "I": 1.98, "SE": 1.90,
}
DEFAULT_VDW_RADIUS_A = 1.70
HYDROGEN_BOND_LENGTH_MAX_A = 1.2


def _elements(atoms) -> np.ndarray:
    """Upper-case element symbols: the topology's elements when present, else guessed from names."""
    try:
        el = np.asarray(atoms.elements, dtype=object)
        if len(el) and all(isinstance(e, str) and e.strip() for e in el):
            return np.array([e.strip().upper() for e in el], dtype=object)
    except Exception:  # noqa: BLE001 - topology without elements: guess below
        pass
    out = []
    for name in atoms.names:
        letters = "".join(c for c in name if c.isalpha()).upper()
        out.append(letters[:1] or "X")
    return np.array(out, dtype=object)


def canonical_residue(resname: str) -> tuple[str, int | None]:
    """Canonical residue name and charge state (None = the residue's usual state)."""
    return RESNAME_ALIASES.get(resname.upper(), (resname.upper(), None))


@dataclass
class AtomProperties:
    """Boolean and numeric per-atom tables over *all* atoms of a universe (index = atom index).

    ``hydrogens`` is (n_atoms, 4) with the indices of the hydrogens bonded to each atom, -1 padded.
    ``rings`` is a list of index arrays (cyclic order), ``sidechains`` a list per residue index.
    """

    n_atoms: int
    heavy: np.ndarray
    donor: np.ndarray
    acceptor: np.ndarray
    cation: np.ndarray
    anion: np.ndarray
    hydrophobic: np.ndarray
    vdw_radius: np.ndarray
    hydrogens: np.ndarray
    explicit_hydrogens: bool
    charge_group: np.ndarray  # id of the charged group an atom belongs to, -1 when none
    rings: list[np.ndarray] = field(default_factory=list)
    sidechains: dict[int, np.ndarray] = field(default_factory=dict)


def _bonded_hydrogens(atoms, elements: np.ndarray, heavy_idx: np.ndarray, h_idx: np.ndarray,
                      positions: np.ndarray, n_atoms: int) -> np.ndarray:
    """(n_atoms, 4) hydrogen indices per heavy atom: from bonds if any, else nearest within 1.2 Å."""
    table = np.full((n_atoms, 4), -1, dtype=np.int64)
    if len(h_idx) == 0:
        return table
    is_h = np.zeros(n_atoms, bool)
    is_h[h_idx] = True
    pairs: list[tuple[int, int]] = []
    try:
        bonds = atoms.universe.bonds.indices
    except Exception:  # noqa: BLE001 - no bonds in this topology
        bonds = np.zeros((0, 2), dtype=np.int64)
    if len(bonds):
        i, j = bonds[:, 0], bonds[:, 1]
        m1 = is_h[j] & ~is_h[i]
        m2 = is_h[i] & ~is_h[j]
        pairs += list(zip(i[m1].tolist(), j[m1].tolist())) + list(zip(j[m2].tolist(), i[m2].tolist()))
    # hydrogens without a bond in the topology (no bonds, or CONECT for HETATM only): nearest
    # heavy atom within 1.2 Å
    bonded = np.zeros(n_atoms, bool)
    bonded[[h for _, h in pairs]] = True
    loose = h_idx[~bonded[h_idx]]
    if len(loose) and len(heavy_idx):
        from MDAnalysis.lib.distances import capped_distance

        p, d = capped_distance(positions[loose], positions[heavy_idx], HYDROGEN_BOND_LENGTH_MAX_A)
        order = np.lexsort((d, p[:, 0]))
        first = np.unique(p[order, 0], return_index=True)[1]
        for k in order[first]:
            pairs.append((int(heavy_idx[p[k, 1]]), int(loose[p[k, 0]])))
    fill = np.zeros(n_atoms, dtype=np.int64)
    for heavy, h in sorted(pairs):
        if fill[heavy] < 4:
            table[heavy, fill[heavy]] = h
            fill[heavy] += 1
    return table


def atom_properties(universe, atom_indices: np.ndarray | None = None) -> AtomProperties:
    """Build the per-atom tables for the atoms ``atom_indices`` (default: all) of ``universe``.

    Non-protein residues: donors are N/O/S carrying a hydrogen, acceptors are O atoms, radii by
    element; they are never charged, hydrophobic or aromatic here.
    """
    n = universe.atoms.n_atoms
    sel = universe.atoms if atom_indices is None else universe.atoms[np.asarray(atom_indices)]
    idx = sel.indices
    elements = np.full(n, "X", dtype=object)
    elements[idx] = _elements(sel)
    names = np.full(n, "", dtype=object)
    names[idx] = sel.names
    is_h = np.zeros(n, dtype=bool)
    is_h[idx] = elements[idx] == "H"
    heavy = np.zeros(n, dtype=bool)
    heavy[idx] = ~is_h[idx]
    explicit_h = bool(is_h.any())
    positions = universe.atoms.positions
    hydrogens = _bonded_hydrogens(sel, elements, idx[heavy[idx]], idx[is_h[idx]], positions, n)
    n_h = (hydrogens >= 0).sum(axis=1)

    donor = np.zeros(n, bool)
    acceptor = np.zeros(n, bool)
    cation = np.zeros(n, bool)
    anion = np.zeros(n, bool)
    hydrophobic = np.zeros(n, bool)
    charge_group = np.full(n, -1, dtype=np.int64)
    radius = np.full(n, DEFAULT_VDW_RADIUS_A)
    for el, r in VDW_RADII_A.items():
        radius[elements == el] = r
    rings: list[np.ndarray] = []
    sidechains: dict[int, np.ndarray] = {}
    group_id = 0

    in_sel = np.zeros(n, bool)
    in_sel[idx] = True
    for res in sel.residues:
        ratoms = res.atoms[in_sel[res.atoms.indices]]
        if not len(ratoms):
            continue
        by_name = {a.name: a.index for a in ratoms}
        canon, charge = canonical_residue(res.resname)
        protein = canon in STANDARD_RESIDUES
        ri = ratoms.indices
        if explicit_h:
            donor[ri] = heavy[ri] & np.isin(elements[ri], ("N", "O", "S")) & (n_h[ri] > 0)
        if not protein:
            acceptor[ri] = elements[ri] == "O"
            if not explicit_h:
                donor[ri] = np.isin(elements[ri], ("N", "O"))
            continue
        # acceptors: every oxygen, His ring N without hydrogen
        acceptor[ri] = elements[ri] == "O"
        for nm in NITROGEN_ACCEPTORS.get(canon, ()):
            if nm in by_name and (not explicit_h or n_h[by_name[nm]] == 0):
                acceptor[by_name[nm]] = True
        if not explicit_h:
            names_d = DONORS.get(canon, ()) + (() if canon == "PRO" else ("N",))
            for nm in names_d:
                if nm in by_name:
                    donor[by_name[nm]] = True
        # charged groups
        cat_names: tuple[str, ...] = ()
        if canon in ("LYS", "ARG") and charge != 0:
            cat_names = CATIONIC[canon]
        elif canon == "HIS":
            protonated = charge == 1 or (
                explicit_h and all(nm in by_name and n_h[by_name[nm]] > 0 for nm in ("ND1", "NE2"))
            )
            if protonated:
                cat_names = CATIONIC["HIS+"]
        group = [by_name[nm] for nm in cat_names if nm in by_name]
        if group:
            cation[group] = True
            charge_group[group] = group_id
            group_id += 1
        if "N" in by_name and explicit_h and len(N_TERMINAL_HYDROGENS & set(by_name)) >= 3:
            cation[by_name["N"]] = True
            charge_group[by_name["N"]] = group_id
            group_id += 1
        if canon in ANIONIC and charge != 0:
            group = [by_name[nm] for nm in ANIONIC[canon] if nm in by_name]
            if group:
                anion[group] = True
                charge_group[group] = group_id
                group_id += 1
        cterm = [by_name[nm] for nm in C_TERMINAL_OXYGENS if nm in by_name]
        if cterm:
            group = cterm + ([by_name["O"]] if "O" in by_name and len(cterm) == 1 else [])
            anion[group] = True
            charge_group[group] = group_id
            group_id += 1
        for nm in HYDROPHOBIC.get(canon, ()):
            if nm in by_name:
                hydrophobic[by_name[nm]] = True
        for ring in AROMATIC_RINGS.get(canon, ()):
            if all(nm in by_name for nm in ring):
                rings.append(np.array([by_name[nm] for nm in ring], dtype=np.int64))
        sc = [a.index for a in ratoms if heavy[a.index] and a.name not in BACKBONE_NAMES]
        if not sc and "CA" in by_name:
            sc = [by_name["CA"]]
        if sc:
            sidechains[int(res.resindex)] = np.array(sc, dtype=np.int64)

    return AtomProperties(
        n_atoms=n, heavy=heavy, donor=donor, acceptor=acceptor, cation=cation, anion=anion,
        hydrophobic=hydrophobic, vdw_radius=radius, hydrogens=hydrogens,
        explicit_hydrogens=explicit_h, charge_group=charge_group, rings=rings, sidechains=sidechains,
    )
