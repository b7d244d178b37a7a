"""Per-atom chemistry of the selected atoms, under each criteria profile: tables and two builders.

This module owns the *topology-time* chemistry of the interaction engine: which atoms are H-bond
donors or acceptors, charged, hydrophobic, members of an aromatic ring, which atoms make a
side-chain centroid, and each atom's van der Waals radius.  It runs once per topology; per frame
the engine only reads coordinates.  :func:`atom_properties` dispatches on the profile.

Profile "mpflow" (:func:`_mpflow_roles`: residue and atom names)
-------------------------------------------------------------------
- ``RESNAME_ALIASES``: force-field spellings mapped to a canonical residue name and charge state
  (CHARMM ``HSD/HSE/HSP``, Amber ``HID/HIE/HIP/ASH/GLH/LYN/CYX``, GROMACS ``HISD/HISE/HISH``).
- Donors: with explicit hydrogens any N, O or S carrying a bonded hydrogen; without hydrogens the
  ``DONORS`` name table plus every backbone N but Pro's (the heavy-atom fallback).  Acceptors:
  every protein oxygen plus the histidine ring nitrogens that carry no hydrogen (both of them when
  there are no hydrogens).
- ``CATIONIC`` / ``ANIONIC``: charged groups (Lys NZ, Arg NE/NH1/NH2, protonated His ND1 *and*
  NE2; Asp OD1/OD2, Glu OE1/OE2, C-terminal carboxylate).  The N-terminal amine counts as cationic
  only when it carries three hydrogens (NH3+).
- ``HYDROPHOBIC``: mpflow's own rule, written out per residue: side-chain carbons bonded to no N
  or O (methyl carbons included), plus the thioether S of Met.
- radii: Bondi (1964) by element (:data:`mpflow.analysis.structure.elements.BONDI_RADII_A`),
  1.70 A when unknown.

Profile "prolif" (:func:`_prolif_roles`: the bond graph, explicit hydrogens required)
-------------------------------------------------------------------------------------
ProLIF 2.2 matches SMARTS patterns on each residue cut out of the RDKit molecule that MDAnalysis'
converter infers from the explicit hydrogens: atom degrees (``D``, ``X``) and ring membership are
those of the residue fragment, valence, hybridisation and formal charge those of the whole
selection.  The rules below state what its patterns select in that setting (tested atom by atom
against ProLIF itself on two real systems):

- formal charges: N with four bonds (+1); the three N of a charged guanidinium/amidinium (all +);
  an imidazole with both ring N protonated: +1 on the N *not* next to the substituted ring atom
  (His NE2, the converter's choice); carboxylate O (both), a single-bonded O without H on an
  aromatic or sp3 carbon, S with one bond and no H (-1).
- hydrophobic: aromatic C, and aliphatic C whose (fragment degree X, hydrogens H, ring R) is one of
  X2H0R0, X3H1R0, X4H2R0, X3H0, X4H1, X4H0; neither charged nor bonded (in the fragment) to N, O or
  F; plus neutral S with no H and two bonds, Br and I.  So methyls, ring CH2 (Pro) and Cys SG-H
  are not hydrophobic; a disulfide SG is.
- donors: N, O, S carrying a hydrogen.  Acceptors: O (not ester or diaryl ether O); aromatic N
  without H and neutral; aliphatic N that is neutral, not in an amide/amidine (``[NX3]-*=[O,N,S]``
  in the fragment), not next to an aromatic atom and not a *backbone* N in ProLIF's sense
  (fragment degree 2, one H or in a ring, next to a CA with one H whose C has fragment degree 2 and
  a C=O).  Hence the backbone N of Gly (CA has two H) and of a chain's last residue (its C has
  three bonds in the fragment) *are* acceptors there.
- aromatic rings: Phe, Tyr, His, and Trp's 5- and 6-membered rings; the ring normal is the cross
  product of the first two matched ring atoms (the lowest atom index, then its lower-index ring
  neighbour) about the centroid, as ProLIF computes it.
- radii: MDAnalysis' ``vdwradii`` table (ProLIF's default ``preset="mdanalysis"``), all atoms
  including hydrogens.
Residues outside the 20 standard amino acids get the same graph rules without aromatic rings;
ProLIF agreement is only claimed for standard residues (:attr:`AtomProperties.uncovered`).

Both profiles: side-chain centroid (knobs-into-holes) = heavy atoms other than N, CA, C, O, OXT
(CA for Gly).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from MDAnalysis.lib.distances import capped_distance
from scipy import sparse

from mpflow.analysis.structure.elements import BONDI_RADII_A, elements_of, mdanalysis_vdw_radii
from mpflow.analysis.structure.periodic import box_matrix

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

#: van der Waals radius (Å) of an element without a Bondi radius (mpflow profile)
DEFAULT_VDW_RADIUS_A = 1.70
HYDROGEN_BOND_LENGTH_MAX_A = 1.2
ROLE_NAMES = ("donor", "acceptor", "cation", "anion", "hydrophobic", "heavy", "all")


def canonical_residue(resname: str) -> tuple[str, int | None]:
    """Canonical residue name and charge state (None = the residue's usual state)."""
    return RESNAME_ALIASES.get(resname.upper(), (resname.upper(), None))


@dataclass
class AtomProperties:
    """Per-atom tables over *all* atoms of a universe (index = atom index; unselected atoms: False).

    ``roles``: name -> bool mask (``donor``, ``acceptor``, ``cation``, ``anion``, ``hydrophobic``,
    ``heavy``, ``all``); ``hydrogens``: (n_atoms, 4) indices of the hydrogens bonded to each atom,
    -1 padded; ``charge_group``: id of the charged group an atom belongs to, -1 when none;
    ``rings``: index arrays in cyclic order; ``ring_ref``: (n_rings, 2) the two atoms ProLIF's ring
    normal uses; ``sidechains``: residue index -> side-chain atoms; ``uncovered``: residue names
    the profile's tables do not cover.
    """

    n_atoms: int
    criteria: str
    elements: np.ndarray
    roles: dict[str, np.ndarray]
    vdw_radius: np.ndarray
    hydrogens: np.ndarray
    explicit_hydrogens: bool
    charge_group: np.ndarray
    rings: list[np.ndarray] = field(default_factory=list)
    ring_ref: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int64))
    sidechains: dict[int, np.ndarray] = field(default_factory=dict)
    uncovered: list[str] = field(default_factory=list)

    @property
    def heavy(self) -> np.ndarray:
        return self.roles["heavy"]

    @property
    def donor(self) -> np.ndarray:
        return self.roles["donor"]

    @property
    def acceptor(self) -> np.ndarray:
        return self.roles["acceptor"]

    @property
    def cation(self) -> np.ndarray:
        return self.roles["cation"]

    @property
    def anion(self) -> np.ndarray:
        return self.roles["anion"]

    @property
    def hydrophobic(self) -> np.ndarray:
        return self.roles["hydrophobic"]


def hydrogen_table(bonds: np.ndarray, is_h: np.ndarray, selected: np.ndarray, positions: np.ndarray,
                   box) -> np.ndarray:
    """(n_atoms, 4) hydrogen indices per heavy atom: bonded ones, else the nearest heavy atom within
    1.2 A (minimum image) for a selected hydrogen that has no bond."""
    n = len(is_h)
    table = np.full((n, 4), -1, dtype=np.int64)
    h_idx = np.flatnonzero(is_h & selected)
    if len(h_idx) == 0:
        return table
    i, j = (bonds[:, 0], bonds[:, 1]) if len(bonds) else (np.zeros(0, np.int64),) * 2
    m1 = is_h[j] & ~is_h[i]
    m2 = is_h[i] & ~is_h[j]
    heavy_of = np.concatenate([i[m1], j[m2]])
    h_of = np.concatenate([j[m1], i[m2]])
    bonded = np.zeros(n, bool)
    bonded[h_of] = True
    loose = h_idx[~bonded[h_idx]]
    heavy_idx = np.flatnonzero(selected & ~is_h)
    if len(loose) and len(heavy_idx):
        p, d = capped_distance(positions[loose], positions[heavy_idx], HYDROGEN_BOND_LENGTH_MAX_A,
                               box=box if box_matrix(box) is not None else None)
        order = np.lexsort((d, p[:, 0]))
        first = np.unique(p[order, 0], return_index=True)[1]
        k = order[first]
        heavy_of = np.concatenate([heavy_of, heavy_idx[p[k, 1]]])
        h_of = np.concatenate([h_of, loose[p[k, 0]]])
    if len(heavy_of):  # sorted by heavy atom then hydrogen, each bond once
        stride = np.int64(n)
        keys = np.unique(heavy_of * stride + h_of)
        heavy_of, h_of = keys // stride, keys % stride
    if len(heavy_of):
        start = np.r_[0, np.flatnonzero(np.diff(heavy_of)) + 1]
        rank = np.arange(len(heavy_of)) - np.repeat(start, np.diff(np.r_[start, len(heavy_of)]))
        keep = rank < 4
        table[heavy_of[keep], rank[keep]] = h_of[keep]
    return table


# --------------------------------------------------------------------------- shared context
class _Context:
    """What both builders read: selection, names, elements, residues, bonds, bonded hydrogens."""

    def __init__(self, universe, selected_idx: np.ndarray, bonds: np.ndarray,
                 molecule_bonds: np.ndarray, box):
        atoms = universe.atoms
        n = atoms.n_atoms
        self.n = n
        self.idx = np.asarray(selected_idx, dtype=np.int64)
        self.selected = np.zeros(n, bool)
        self.selected[self.idx] = True
        self.elements = np.full(n, "X", dtype=object)
        self.elements[self.idx] = elements_of(atoms[self.idx])
        self.names = np.asarray(atoms.names, dtype=object)
        self.resindex = atoms.resindices.astype(np.int64)
        self.is_h = self.selected & (self.elements == "H")
        self.heavy = self.selected & ~self.is_h
        self.hydrogens = hydrogen_table(bonds, self.is_h, self.selected, atoms.positions, box)
        self.n_h = (self.hydrogens >= 0).sum(axis=1)
        self.explicit_h = bool(self.is_h.any())
        self.bonds = bonds
        self.molecule_bonds = molecule_bonds
        # residues of the selected atoms, atoms sorted by residue (stable: topology order inside)
        order = np.argsort(self.resindex[self.idx], kind="stable")
        self.by_residue = self.idx[order]
        res = self.resindex[self.by_residue]
        cuts = np.flatnonzero(np.diff(res)) + 1
        self.residue_atoms = np.split(self.by_residue, cuts) if len(res) else []
        resnames = universe.residues.resnames
        self.residue_names = [str(resnames[self.resindex[r[0]]]) for r in self.residue_atoms]
        self._sidechain_mask: np.ndarray | None = None

    def ring_reference(self, ring: np.ndarray) -> tuple[int, int]:
        """ProLIF's two normal atoms: the lowest atom index, then its lower-index ring neighbour."""
        k = int(np.argmin(ring))
        return int(ring[k]), int(min(ring[k - 1], ring[(k + 1) % len(ring)]))

    def residue_rings(self, canon: str, by_name: dict[str, int]) -> list[np.ndarray]:
        out = []
        for ring in AROMATIC_RINGS.get(canon, ()):
            if all(nm in by_name for nm in ring):
                out.append(np.array([by_name[nm] for nm in ring], dtype=np.int64))
        return out

    def sidechain(self, ratoms: np.ndarray, by_name: dict[str, int]) -> np.ndarray | None:
        """The residue's heavy side-chain atoms (topology order), else its CA, else None."""
        if self._sidechain_mask is None:  # once for all residues: the per-residue test is one lookup
            self._sidechain_mask = self.heavy & ~np.isin(self.names, list(BACKBONE_NAMES))
        sc = ratoms[self._sidechain_mask[ratoms]]
        if len(sc) == 0:
            return np.array([by_name["CA"]], dtype=np.int64) if "CA" in by_name else None
        return sc.astype(np.int64, copy=False)


def atom_properties(universe, atom_indices: np.ndarray, *, criteria: str = "mpflow",
                    bonds: np.ndarray | None = None, molecule_bonds: np.ndarray | None = None,
                    box=None) -> AtomProperties:
    """Per-atom tables for the atoms ``atom_indices`` of ``universe`` under ``criteria``.

    ``bonds``: (k, 2) bonds among the selected atoms (topology or guessed); ``molecule_bonds``: the
    subset ProLIF's converter sees (bonds inside one selection); default both = ``bonds``.
    ``box``: the reference frame's box, for the nearest-heavy-atom fallback of unbonded hydrogens.
    """
    bonds = np.zeros((0, 2), np.int64) if bonds is None else np.asarray(bonds, np.int64)
    molecule_bonds = bonds if molecule_bonds is None else np.asarray(molecule_bonds, np.int64)
    ctx = _Context(universe, atom_indices, bonds, molecule_bonds, box)
    if criteria == "prolif":
        return _prolif_roles(ctx)
    if criteria == "mpflow":
        return _mpflow_roles(ctx)
    raise ValueError(f"criteria {criteria!r} unknown")


# --------------------------------------------------------------------------- mpflow profile
def _mpflow_roles(ctx: _Context) -> AtomProperties:
    n = ctx.n
    el = ctx.elements
    donor = np.zeros(n, bool)
    acceptor = np.zeros(n, bool)
    cation = np.zeros(n, bool)
    anion = np.zeros(n, bool)
    hydrophobic = np.zeros(n, bool)
    charge_group = np.full(n, -1, dtype=np.int64)
    radius = np.full(n, DEFAULT_VDW_RADIUS_A)
    for e, r in BONDI_RADII_A.items():
        radius[el == e] = r
    rings: list[np.ndarray] = []
    sidechains: dict[int, np.ndarray] = {}
    group_id = 0
    explicit_h = ctx.explicit_h
    if explicit_h:
        donor[:] = ctx.heavy & np.isin(el, ("N", "O", "S")) & (ctx.n_h > 0)
    n_h = ctx.n_h
    oxygen = el == "O"
    for ratoms, resname in zip(ctx.residue_atoms, ctx.residue_names):
        names = ctx.names[ratoms]
        by_name = dict(zip(names.tolist(), ratoms.tolist()))
        canon, charge = canonical_residue(resname)
        is_o = oxygen[ratoms]
        if canon not in STANDARD_RESIDUES:
            acceptor[ratoms] = is_o
            if not explicit_h:
                donor[ratoms] = np.isin(el[ratoms], ("N", "O"))
            continue
        acceptor[ratoms] = is_o
        for nm in NITROGEN_ACCEPTORS.get(canon, ()):
            if nm in by_name and (not explicit_h or n_h[by_name[nm]] == 0):
                acceptor[by_name[nm]] = True
        if not explicit_h:
            for nm in DONORS.get(canon, ()) + (() if canon == "PRO" else ("N",)):
                if nm in by_name:
                    donor[by_name[nm]] = True
        cat_names: tuple[str, ...] = ()
        if canon in ("LYS", "ARG") and charge != 0:
            cat_names = CATIONIC[canon]
        elif canon == "HIS":
            protonated = charge == 1 or (
                explicit_h and all(nm in by_name and n_h[by_name[nm]] > 0 for nm in ("ND1", "NE2")))
            if protonated:
                cat_names = CATIONIC["HIS+"]
        groups = [[by_name[nm] for nm in cat_names if nm in by_name]]
        if "N" in by_name and explicit_h and len(N_TERMINAL_HYDROGENS & set(by_name)) >= 3:
            groups.append([by_name["N"]])
        for group in groups:
            if group:
                cation[group] = True
                charge_group[group] = group_id
                group_id += 1
        groups = []
        if canon in ANIONIC and charge != 0:
            groups.append([by_name[nm] for nm in ANIONIC[canon] if nm in by_name])
        cterm = [by_name[nm] for nm in C_TERMINAL_OXYGENS if nm in by_name]
        if cterm:
            groups.append(cterm + ([by_name["O"]] if "O" in by_name and len(cterm) == 1 else []))
        for group in groups:
            if group:
                anion[group] = True
                charge_group[group] = group_id
                group_id += 1
        for nm in HYDROPHOBIC.get(canon, ()):
            if nm in by_name:
                hydrophobic[by_name[nm]] = True
        rings += ctx.residue_rings(canon, by_name)
        sc = ctx.sidechain(ratoms, by_name)
        if sc is not None:
            sidechains[int(ctx.resindex[ratoms[0]])] = sc
    roles = {"donor": donor, "acceptor": acceptor, "cation": cation, "anion": anion,
             "hydrophobic": hydrophobic, "heavy": ctx.heavy.copy(), "all": ctx.selected.copy()}
    ring_ref = np.array([ctx.ring_reference(r) for r in rings], dtype=np.int64).reshape(-1, 2)
    return AtomProperties(n, "mpflow", el, roles, radius, ctx.hydrogens, explicit_h, charge_group,
                          rings, ring_ref, sidechains, [])


# --------------------------------------------------------------------------- prolif profile
def _adjacency(bonds: np.ndarray, n: int) -> sparse.csr_matrix:
    if len(bonds) == 0:
        return sparse.csr_matrix((n, n), dtype=np.int32)
    i = np.concatenate([bonds[:, 0], bonds[:, 1]])
    j = np.concatenate([bonds[:, 1], bonds[:, 0]])
    a = sparse.csr_matrix((np.ones(len(i), np.int32), (i, j)), shape=(n, n))
    a.data[:] = 1  # duplicate bonds count once
    return a


def _count(adj: sparse.csr_matrix, mask: np.ndarray) -> np.ndarray:
    """Number of neighbours with ``mask`` per atom."""
    return np.asarray(adj @ mask.astype(np.int32)).ravel()


def _in_ring(adj: sparse.csr_matrix, atoms: np.ndarray) -> np.ndarray:
    """Atoms on a cycle of ``adj`` (leaf pruning: what remains after removing degree-<=1 atoms)."""
    alive = atoms.copy()
    while True:
        deg = _count(adj, alive)
        leaves = alive & (deg <= 1)
        if not leaves.any():
            return alive
        alive &= ~leaves


def _prolif_roles(ctx: _Context) -> AtomProperties:
    n = ctx.n
    if not ctx.explicit_h:
        raise ValueError("criteria 'prolif' needs explicit hydrogens (ProLIF perceives charges and "
                         "donors from them) and the selections have none; add hydrogens or use "
                         "criteria 'mpflow'")
    el = ctx.elements
    sel = ctx.selected
    is_c, is_n, is_o, is_s = (sel & (el == e) for e in ("C", "N", "O", "S"))
    is_h = ctx.is_h
    mol = _adjacency(ctx.molecule_bonds, n)           # bonds ProLIF's converter sees
    same_res = ctx.resindex[ctx.molecule_bonds[:, 0]] == ctx.resindex[ctx.molecule_bonds[:, 1]] \
        if len(ctx.molecule_bonds) else np.zeros(0, bool)
    frag = _adjacency(ctx.molecule_bonds[same_res], n)  # bonds inside one residue (the fragment)
    n_nb = _count(mol, sel)
    n_h = _count(mol, is_h)
    frag_deg = _count(frag, sel)
    ring_frag = _in_ring(frag, sel)

    # aromatic rings (standard residues) and ProLIF's normal atoms
    aromatic = np.zeros(n, bool)
    rings: list[np.ndarray] = []
    sidechains: dict[int, np.ndarray] = {}
    uncovered: list[str] = []
    his_plus = np.zeros(n, bool)
    for ratoms, resname in zip(ctx.residue_atoms, ctx.residue_names):
        canon, _ = canonical_residue(resname)
        by_name = dict(zip(ctx.names[ratoms].tolist(), ratoms.tolist()))
        if canon not in STANDARD_RESIDUES:
            uncovered.append(resname)
        for ring in ctx.residue_rings(canon, by_name):
            rings.append(ring)
            aromatic[ring] = True
            ring_n = ring[is_n[ring]]
            if len(ring) == 5 and len(ring_n) == 2 and (n_h[ring_n] > 0).all():
                # imidazolium: the converter puts +1 on the N away from the substituted ring atom
                in_ring = np.zeros(n, bool)
                in_ring[ring] = True
                substituted = ring[_count(mol, sel & ~in_ring & ~is_h)[ring] > 0]
                far = ring_n[np.asarray(mol[ring_n][:, substituted].sum(axis=1)).ravel() == 0]
                if len(far) == 1:
                    his_plus[far] = True
        sc = ctx.sidechain(ratoms, by_name)
        if sc is not None:
            sidechains[int(ctx.resindex[ratoms[0]])] = sc

    # formal charges as the converter infers them
    terminal_o = is_o & (n_nb == 1) & (n_h == 0)
    n_terminal_o = _count(mol, terminal_o)
    carbonyl_c = is_c & ~aromatic & (n_nb == 3) & (n_terminal_o >= 1)    # C=O (and carboxylate C)
    carboxylate_c = carbonyl_c & (n_terminal_o == 2)
    n3 = is_n & (n_nb == 3)
    amidinium_c = is_c & ~aromatic & (n_nb == 3) & (_count(mol, n3) >= 2) \
        & (_count(mol, is_n) == _count(mol, n3)) & (n_terminal_o == 0)
    amidinium_n = n3 & ~aromatic & (_count(mol, amidinium_c) > 0) & (_count(mol, is_o) == 0)
    ammonium = is_n & ~aromatic & (n_nb == 4)
    anion = (terminal_o & (_count(mol, carboxylate_c) > 0)) \
        | (terminal_o & (_count(mol, is_c & (aromatic | (n_nb == 4))) > 0)) \
        | (is_s & (n_nb == 1) & (n_h == 0))
    cation = (ammonium | amidinium_n | his_plus) & (_count(mol, anion) == 0)
    charged = cation | anion | amidinium_n

    # H-bond acceptors
    ester_o = is_o & (frag_deg == 2) & (_count(frag, is_c & ~aromatic) == 2) \
        & (_count(frag, carbonyl_c) >= 1)
    diaryl_o = is_o & (_count(frag, aromatic) >= 2)
    acc_o = is_o & ~ester_o & ~diaryl_o
    acc_arom_n = is_n & aromatic & (n_h == 0) & ~charged
    double_partner = carbonyl_c | amidinium_c          # atoms with a C=O / C=N double bond
    amide_n = is_n & (frag_deg == 3) & (_count(frag, double_partner) > 0)
    amidine_like_c = is_c & (n_nb == 3) & (_count(mol, is_n) >= 2)
    imine_n = is_n & ~aromatic & (n_nb == 2) & (_count(mol, amidine_like_c) > 0)
    ca_like = is_c & (frag_deg == 4) & (n_nb == 4) & (n_h == 1)
    c_like = carbonyl_c & (frag_deg == 2) & (_count(frag, terminal_o) >= 1)
    ca_ok = ca_like & (_count(frag, c_like) > 0)
    sp2_n = _count(mol, carbonyl_c | aromatic) > 0
    backbone_n = is_n & (frag_deg == 2) & (n_nb == 3) & sp2_n & ((n_h == 1) | ring_frag) \
        & (_count(frag, ca_ok) > 0)
    aryl_n = is_n & (frag_deg == 3) & (_count(frag, aromatic) > 0)
    acc_aliph_n = is_n & ~aromatic & ~charged & ~amide_n & ~imine_n & ~backbone_n & ~aryl_n
    acceptor = acc_o | acc_arom_n | acc_aliph_n

    donor = (is_n | is_o | is_s) & (n_h > 0)

    # hydrophobic (aromatic C, listed aliphatic C classes, thioether S, Br, I)
    x, h, r = frag_deg, n_h, ring_frag
    aliph_ok = ((x == 2) & (h == 0) & ~r) | ((x == 3) & (h == 1) & ~r) | ((x == 4) & (h == 2) & ~r) \
        | ((x == 3) & (h == 0)) | ((x == 4) & (h == 1)) | ((x == 4) & (h == 0))
    polar_neighbour = _count(frag, sel & np.isin(el, ("N", "O", "F"))) > 0
    hydrophobic = (is_c & ~charged & ~polar_neighbour & (aromatic | aliph_ok)) \
        | (is_s & (n_h == 0) & (n_nb == 2) & ~charged) | (sel & np.isin(el, ("BR", "I")))

    # charged groups: the same-sign charged atoms of one residue
    charge_group = np.full(n, -1, dtype=np.int64)
    for mask, sign in ((cation, 1), (anion, -1)):
        atoms = np.flatnonzero(mask)
        keys = ctx.resindex[atoms] * 2 + (sign > 0)
        charge_group[atoms] = keys
    used = charge_group >= 0
    if used.any():
        _, charge_group[used] = np.unique(charge_group[used], return_inverse=True)

    radii = mdanalysis_vdw_radii()
    missing = sorted({e for e in el[ctx.idx] if e not in radii})
    if missing:
        raise ValueError(f"criteria 'prolif': no van der Waals radius for element(s) "
                         f"{', '.join(missing)} in MDAnalysis' vdwradii table (ProLIF's preset)")
    radius = np.full(n, np.nan)
    radius[ctx.idx] = [radii[e] for e in el[ctx.idx]]
    roles = {"donor": donor, "acceptor": acceptor, "cation": cation, "anion": anion,
             "hydrophobic": hydrophobic, "heavy": ctx.heavy.copy(), "all": sel.copy()}
    ring_ref = np.array([ctx.ring_reference(rg) for rg in rings], dtype=np.int64).reshape(-1, 2)
    return AtomProperties(n, "prolif", el, roles, radius, ctx.hydrogens, True, charge_group,
                          rings, ring_ref, sidechains, sorted(set(uncovered)))
