"""Periodic boxes: trajectories written broken on purpose give the tables of whole molecules.

Broken input is made here, from real coordinates: the GPCR of ``prolif.datafiles`` (bonds in its
PDB) is moved so it straddles a box corner and every atom is put back into the box (what a
trajectory written without ``-pbc mol`` looks like), written as TRR; a helix oligomer is written
as a GRO (no bonds: mpflow guesses them with the box).
"""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import numpy as np
import pandas as pd
import pytest
from analysis_helpers import mini_universe, write_wrapped
from MDAnalysis import transformations
from mpflow.analysis.interactions import (
    BrokenMolecules,
    InteractionAnalysis,
    MoleculesMadeWhole,
    NothingToCompute,
    compute_interactions,
    interaction_keys,
    table_metadata,
)
from mpflow.analysis.structure.helix_builder import (
    WZA_LIKE_SEQUENCE,
    build_oligomer,
    to_universe,
)
from mpflow.analysis.structure.periodic import WholeMolecules

KEY_COLUMNS = ["frame", "type", "chain_a", "resid_a", "atoms_a", "chain_b", "resid_b", "atoms_b"]


def _quiet_universe(*files, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mda.Universe(*[str(f) for f in files], **kw)


@pytest.fixture(scope="module")
def broken_gpcr(tmp_path_factory):
    import prolif.datafiles as data

    u = _quiet_universe(data.TOP, data.TRAJ)
    path = write_wrapped(u, slice(0, 4), tmp_path_factory.mktemp("pbc") / "broken.trr")
    return data.TOP, path


def test_broken_trajectory_is_made_whole_on_the_fly(broken_gpcr):
    top, traj = broken_gpcr
    broken = _quiet_universe(top, traj)
    wm = WholeMolecules(np.sort(broken.bonds.indices, axis=1), broken.atoms.n_atoms)
    assert all(wm.broken(ts.positions, ts.dimensions) for ts in broken.trajectory)
    with pytest.warns(MoleculesMadeWhole, match="4 of 4 frame"):
        table = compute_interactions(broken, "chainID A", "chainID B")
    # reference: the same file made whole by MDAnalysis' own unwrap transformation
    reference_u = _quiet_universe(top, traj)
    reference_u.trajectory.add_transformations(transformations.unwrap(reference_u.atoms))
    assert not any(wm.broken(ts.positions, ts.dimensions) for ts in reference_u.trajectory)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MoleculesMadeWhole)  # nothing to repair there
        reference = compute_interactions(reference_u, "chainID A", "chainID B")
    assert len(table) > 300 and set(table["type"].astype(str)) >= {"kih", "hbond", "saltbridge"}
    cols = KEY_COLUMNS + ["index_a", "index_b"]
    pd.testing.assert_frame_equal(table[cols].astype(str), reference[cols].astype(str))
    np.testing.assert_allclose(table["distance_A"], reference["distance_A"], atol=1e-3)


def test_broken_trajectory_without_repair_would_be_wrong(broken_gpcr):
    """The same run with the repair switched off: centroid-based rows change (the test has teeth)."""
    from mpflow.analysis.interactions import topology as topology_tables

    top, traj = broken_gpcr
    broken = _quiet_universe(top, traj)
    with pytest.warns(MoleculesMadeWhole):
        repaired = compute_interactions(broken, "chainID A", "chainID B", stop=2)
    original = topology_tables.InteractionTables._bonds_and_pbc

    def no_repair(self, *args):
        original(self, *args)
        self.whole = None
        self.span_check = None

    topology_tables.InteractionTables._bonds_and_pbc = no_repair
    try:
        unrepaired = compute_interactions(broken, "chainID A", "chainID B", stop=2)
    finally:
        topology_tables.InteractionTables._bonds_and_pbc = original
    k1 = set(interaction_keys(repaired) + "@" + repaired["frame"].astype(str))
    k2 = set(interaction_keys(unrepaired) + "@" + unrepaired["frame"].astype(str))
    assert k1 != k2


def test_make_whole_equals_mdanalysis_make_whole(broken_gpcr):
    from MDAnalysis.lib.mdamath import make_whole

    top, traj = broken_gpcr
    u = _quiet_universe(top, traj)
    ts = u.trajectory[1]
    ours = WholeMolecules(np.sort(u.bonds.indices, axis=1), u.atoms.n_atoms).make_whole(
        ts.positions, ts.dimensions)
    for fragment in u.atoms.fragments:
        make_whole(fragment)
    np.testing.assert_allclose(ours, u.atoms.positions, atol=2e-3)


def test_chains_in_different_images_keep_their_ring(ring_universe):
    """A C8 ring whose chains (whole) sit in different periodic images: same ring order, same rows.
    (The ideal ring's side chains touch across chains, so bonds guessed from distances would join
    the chains: the universe gets each chain's own bonds as its topology.)"""
    from mpflow.analysis.structure.bonds import guess_bonds
    from mpflow.analysis.structure.elements import elements_of

    box = np.array([90.0, 90.0, 90.0, 90.0, 90.0, 90.0], dtype=np.float32)
    ring_universe.dimensions = box
    atoms = ring_universe.atoms
    bonds = guess_bonds(atoms.positions, elements_of(atoms), atoms.indices, box)
    chains = atoms.chainIDs
    bonds = bonds[chains[bonds[:, 0]] == chains[bonds[:, 1]]]
    ring_universe.add_TopologyAttr("bonds", [tuple(b) for b in bonds.tolist()])
    ana = InteractionAnalysis(ring_universe).run()
    whole, whole_order = ana.results.table, ana.results.ring_order
    rng = np.random.default_rng(1)
    pos = ring_universe.atoms.positions.copy()
    for c in sorted(set(chains)):
        pos[chains == c] += rng.integers(-1, 2, size=3) * box[:3]
    ring_universe.atoms.positions = pos
    with warnings.catch_warnings():
        warnings.simplefilter("error", MoleculesMadeWhole)  # chains are whole: nothing to repair
        ana = InteractionAnalysis(ring_universe).run()
    apart = ana.results.table
    assert ana.results.ring_order == whole_order == list("ABCDEFGH")
    assert len(apart) == len(whole) > 300
    assert interaction_keys(apart).value_counts().sort_index().equals(
        interaction_keys(whole).value_counts().sort_index())


@pytest.mark.filterwarnings("ignore:Reader has no dt information")
def test_gro_helix_crossing_the_box_is_one_chain(tmp_path):
    """A single 48 A helix centred on a corner of a 60 A box and wrapped, in a GRO (no chain ids,
    no bonds): one chain, made whole."""
    u = to_universe(build_oligomer(WZA_LIKE_SEQUENCE, 1, 0.0, hydrogens=True))
    u.dimensions = np.array([60.0, 60.0, 60.0, 90.0, 90.0, 90.0], dtype=np.float32)
    gro = write_wrapped(u, slice(0, 1), tmp_path / "helix.gro")
    g = _quiet_universe(gro)
    with pytest.raises(NothingToCompute, match="both only chain A"):
        compute_interactions(g)
    with pytest.warns(MoleculesMadeWhole, match="1 of 1 frame"):
        table = compute_interactions(g, types=["hbond"], intra=True)
    assert set(table["chain_a"].astype(str)) | set(table["chain_b"].astype(str)) == {"A"}
    assert table_metadata(table)["bonds"] == "guessed"
    # every backbone N-H(i+4) -> O(i) of the 32-residue helix, and nothing else
    assert set(zip(table["resid_a"], table["resid_b"])) == {(r + 4, r) for r in range(1, 29)}
    assert len(table) == 28


def test_broken_frame_without_bonds_stops_with_the_trjconv_hint():
    """No bonds and none can be guessed (an element without a radius): a residue spanning more
    than half the box stops the run, naming the fix."""
    rows = [("A", 1, "ALA", "CA", (1.0, 5.0, 5.0)), ("A", 1, "ALA", "QX", (19.0, 5.0, 5.0)),
            ("B", 1, "ALA", "CA", (5.0, 5.0, 5.0)), ("B", 1, "ALA", "CB", (6.5, 5.0, 5.0))]
    u = mini_universe(rows)
    u.dimensions = np.array([20.0, 20.0, 20.0, 90.0, 90.0, 90.0], dtype=np.float32)
    with pytest.raises(BrokenMolecules, match=r"frame 0: .*gmx trjconv -pbc mol"):
        compute_interactions(u)
