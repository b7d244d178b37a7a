"""The prolif criteria profile against ProLIF 2.2 itself, on two real systems.

Data: ``prolif.datafiles`` TOP/TRAJ (a GPCR, chains A and B, explicit hydrogens, 250 frames) and
MDAnalysisTests' GRO_MEMPROT/XTC_MEMPROT (the YiiP dimer in a membrane, 5 frames, no bonds or
chain ids in the GRO: ProLIF gets MDAnalysis-guessed elements and bonds and chain ids A/B from
the fragments; mpflow guesses its own bonds).

1. Atom by atom: every atom role (hydrophobic, H-bond donor and acceptor, cation, anion) and every
   aromatic ring, with the two atoms ProLIF's ring normal uses, equal to what ProLIF's SMARTS match
   on the residues of MDAnalysis' RDKit conversion.
2. Residue pairs per frame per interaction (ProLIF's HBDonor, HBAcceptor, Cationic, Anionic,
   CationPi, PiCation, Hydrophobic, VdWContact, FaceToFace, EdgeToFace): identical sets.
"""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import numpy as np
import pytest
from mpflow.analysis.interactions import compute_interactions
from mpflow.analysis.interactions.prolif_reference import (
    agreement,
    mpflow_pairs,
    prolif_pairs,
)
from mpflow.analysis.interactions.topology import InteractionTables
from mpflow.analysis.interactions.types import make_interactions

GPCR_A, GPCR_B = "chainID A", "chainID B"
MEM_A, MEM_B = "protein and chainID A", "protein and chainID B"


@pytest.fixture(scope="module")
def gpcr():
    import prolif.datafiles as data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mda.Universe(data.TOP, data.TRAJ)


@pytest.fixture(scope="module")
def memprot():
    """GRO_MEMPROT prepared as ProLIF needs it: elements, protein bonds, chain ids per fragment."""
    from mpflow.analysis.interactions.prolif_reference import memprot_universe

    return memprot_universe()


def _prolif_roles(universe, selection: str) -> dict[str, set]:
    """Atoms (universe indices) each ProLIF pattern matches, residue by residue, and ring matches."""
    import prolif

    fp = prolif.Fingerprint(["Hydrophobic", "HBDonor", "Cationic", "FaceToFace"])
    patterns = {"hydrophobic": fp.hydrophobic.lig_pattern, "acceptor": fp.hbdonor.lig_pattern,
                "donor": fp.hbdonor.prot_pattern, "cation": fp.cationic.lig_pattern,
                "anion": fp.cationic.prot_pattern}
    ag = universe.select_atoms(selection)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mol = prolif.Molecule.from_mda(ag)
    out: dict[str, set] = {k: set() for k in patterns}
    out["rings"] = set()
    for res in mol.residues.values():
        parent = [int(ag.indices[a.GetUnsignedProp("mapindex")]) for a in res.GetAtoms()]
        for role, pattern in patterns.items():
            out[role] |= {parent[m[0]] for m in res.GetSubstructMatches(pattern)}
        for ring in fp.facetoface.pi_ring:
            for m in res.GetSubstructMatches(ring):
                out["rings"].add((frozenset(parent[k] for k in m), parent[m[0]], parent[m[1]]))
    return out


def _our_roles(universe, sel_a: str, sel_b: str, side: str, intra: bool = False) -> dict[str, set]:
    tables = InteractionTables(universe, sel_a, sel_b, make_interactions(criteria="prolif"),
                               criteria="prolif", intra=intra)
    mask = tables.in_a if side == "a" else tables.in_b
    p = tables.props
    out = {role: set(np.flatnonzero(p.roles[role] & mask).tolist())
           for role in ("hydrophobic", "acceptor", "donor", "cation", "anion")}
    out["rings"] = {(frozenset(r.tolist()), int(ref[0]), int(ref[1]))
                    for r, ref in zip(p.rings, p.ring_ref) if mask[r[0]]}
    return out


@pytest.mark.parametrize(("system", "sel_a", "sel_b"), [("gpcr", GPCR_A, GPCR_B),
                                                        ("memprot", MEM_A, MEM_B)])
def test_atom_roles_equal_prolif_smarts_matches(request, system, sel_a, sel_b):
    u = request.getfixturevalue(system)
    u.trajectory[0]
    for side, sel in (("a", sel_a), ("b", sel_b)):
        theirs = _prolif_roles(u, sel)
        ours = _our_roles(u, sel_a, sel_b, side)
        assert len(theirs["hydrophobic"]) > 100 and len(theirs["rings"]) > 5
        for role in theirs:
            assert ours[role] == theirs[role], (system, sel, role,
                                                sorted(ours[role] ^ theirs[role])[:10])


def test_doubly_protonated_histidine_is_cationic_at_ne2_as_in_prolif(gpcr):
    """ProLIF (via MDAnalysis' RDKit converter) puts the imidazolium charge on NE2, the ring N away
    from the substituted CG: a His with HD1 added to an HSE of the GPCR, both atom orders."""
    his = gpcr.select_atoms("chainID A and resname HSE").residues[0]
    seg = gpcr.select_atoms(f"chainID A and resid {his.resid - 1}:{his.resid + 1}")
    nd1, cg, ce1 = (his.atoms.select_atoms(f"name {n}")[0] for n in ("ND1", "CG", "CE1"))
    v = 2 * nd1.position - cg.position - ce1.position
    hd1 = nd1.position + 1.01 * v / np.linalg.norm(v)
    names, resids, elements = list(seg.names), list(seg.resids), list(seg.elements)
    pos = list(seg.positions)
    k = list(seg.indices).index(nd1.index) + 1
    names.insert(k, "HD1")
    resids.insert(k, his.resid)
    elements.insert(k, "H")
    pos.insert(k, hd1)
    rk = list(dict.fromkeys(resids))
    resnames = {r: ("HSP" if r == his.resid else seg.select_atoms(f"resid {r}").resnames[0])
                for r in rk}
    for order in (list(range(len(names))), None):
        if order is None:  # NE2 moved before ND1
            i_nd1, i_ne2 = names.index("ND1"), names.index("NE2")
            order = [i for i in range(len(names)) if i != i_ne2]
            order.insert(i_nd1, i_ne2)
        u = mda.Universe.empty(len(names), n_residues=len(rk),
                               atom_resindex=[rk.index(resids[i]) for i in order], trajectory=True)
        u.add_TopologyAttr("names", [names[i] for i in order])
        u.add_TopologyAttr("elements", [elements[i] for i in order])
        u.add_TopologyAttr("resids", rk)
        u.add_TopologyAttr("resnames", [resnames[r] for r in rk])
        u.add_TopologyAttr("chainIDs", ["A"] * len(names))
        u.atoms.positions = np.array([pos[i] for i in order])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            u.guess_TopologyAttrs(to_guess=["bonds"])
        theirs = _prolif_roles(u, "all")
        ours = _our_roles(u, "all", "all", "a", intra=True)
        assert {u.atoms[i].name for i in theirs["cation"]} == {"NE2"}
        # (the neighbours are cut out of a chain: only the histidine's atoms are compared)
        his_atoms = set(u.select_atoms("resname HSP").indices.tolist())
        for role in ("cation", "acceptor", "donor", "hydrophobic"):
            assert ours[role] & his_atoms == theirs[role] & his_atoms, role


def _pairs_agree(u, sel_a, sel_b, frames):
    theirs = prolif_pairs(u, sel_a, sel_b, frames)
    ours = set()
    for f in frames:
        table = compute_interactions(u, sel_a, sel_b, criteria="prolif", start=f, stop=f + 1)
        ours |= mpflow_pairs(table, u, sel_a)
    report = agreement(ours, theirs)
    assert (report["only_prolif"] == 0).all() and (report["only_mpflow"] == 0).all(), report
    return report


def test_residue_pairs_per_frame_identical_to_prolif_gpcr(gpcr):
    report = _pairs_agree(gpcr, GPCR_A, GPCR_B, [0, 125, 249])
    seen = report.set_index("interaction")["both"]
    assert seen["Hydrophobic"] > 20 and seen["VdWContact"] > 50 and seen["HBDonor"] > 5
    assert seen["Cationic"] > 0 and seen["FaceToFace"] + seen["EdgeToFace"] > 0


def test_residue_pairs_per_frame_identical_to_prolif_memprot(memprot):
    report = _pairs_agree(memprot, MEM_A, MEM_B, [4])
    seen = report.set_index("interaction")["both"]
    assert seen["Hydrophobic"] > 10 and seen["Anionic"] + seen["Cationic"] > 0


@pytest.mark.parametrize(("system", "sel_a", "sel_b", "frames"), [
    ("memprot", MEM_A, MEM_B, [0, 1, 2, 3, 4]), ("gpcr", GPCR_A, GPCR_B, [0, 125, 249])])
def test_chains_found_automatically_agree_with_prolif_run_with_chain_a_as_its_ligand(
        request, system, sel_a, sel_b, frames):
    """No sel-a/sel-b (every protein chain against every other, chains from the topology): the
    asymmetric tests take the first chain as ProLIF's ligand, so the table equals ProLIF run with
    chain A as its ligand.  On MEMPROT frame 4, PHE 97 (A) - PHE 49 (B) passes EdgeToFace's
    intersect test only with chain B's ring as the reference: ProLIF does not report it."""
    u = request.getfixturevalue(system)
    theirs = prolif_pairs(u, sel_a, sel_b, frames)
    ours = set()
    for f in frames:
        table = compute_interactions(u, criteria="prolif", start=f, stop=f + 1)
        assert table.attrs["mpflow.interactions"]["chains"] == ["A", "B"]
        ours |= mpflow_pairs(table)
    report = agreement(ours, theirs).set_index("interaction")
    assert report.loc["EdgeToFace", "both"] > 0 and report.loc["HBAcceptor", "both"] > 0
    assert (report["only_prolif"] == 0).all() and (report["only_mpflow"] == 0).all(), report
    if system == "memprot":
        assert (4, "EdgeToFace", ("PHE", 97, "A"), ("PHE", 49, "B")) not in ours


@pytest.mark.slow
def test_residue_pairs_identical_to_prolif_over_many_frames(gpcr, memprot):
    """Every 10th GPCR frame (25 frames) and the other 4 MEMPROT frames (all 250 GPCR frames: the
    benchmark)."""
    _pairs_agree(gpcr, GPCR_A, GPCR_B, list(range(0, 250, 10)))
    _pairs_agree(memprot, MEM_A, MEM_B, [0, 1, 2, 3])


def test_guessed_bonds_equal_mdanalysis_guesser():
    """mpflow's vectorised bond guessing = MDAnalysis' DefaultGuesser.guess_bonds (same rule),
    on 60 residues of the MEMPROT GRO, with the box."""
    from MDAnalysis.guesser.default_guesser import DefaultGuesser
    from MDAnalysisTests.datafiles import GRO_MEMPROT
    from mpflow.analysis.structure.bonds import guess_bonds
    from mpflow.analysis.structure.elements import elements_of

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(GRO_MEMPROT)
        ag = u.select_atoms("protein and resid 7:66")[:900]
        theirs = DefaultGuesser(u, box=u.dimensions).guess_bonds(ag, ag.positions)
    elements = np.full(u.atoms.n_atoms, "X", dtype=object)
    elements[ag.indices] = elements_of(ag)
    ours = guess_bonds(u.atoms.positions, elements, ag.indices, u.dimensions)
    assert len(theirs) > 800
    assert {tuple(sorted(b)) for b in theirs} == {tuple(b) for b in ours.tolist()}


def test_memprot_without_chain_ids_gives_the_same_table(memprot):
    """The raw GRO (no chain ids, no bonds): mpflow's guessed bonds give the same two chains."""
    from MDAnalysisTests.datafiles import GRO_MEMPROT, XTC_MEMPROT

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = mda.Universe(GRO_MEMPROT, XTC_MEMPROT)
    plain = compute_interactions(raw, "protein", "protein", criteria="prolif", stop=2)
    prepared = compute_interactions(memprot, "protein", "protein", criteria="prolif", stop=2)
    assert plain.attrs["mpflow.interactions"]["bonds"] == "guessed"
    assert plain.attrs["mpflow.interactions"]["chains"] == ["A", "B"]
    cols = ["frame", "type", "chain_a", "resid_a", "index_a", "chain_b", "resid_b", "index_b"]
    assert plain[cols].astype(str).values.tolist() == prepared[cols].astype(str).values.tolist()
