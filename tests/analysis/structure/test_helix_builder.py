"""The ideal-helix oligomer builder: helix geometry, C_n placement, hydrogens, PDB round trip."""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import numpy as np
import pytest
from mpflow.analysis.structure.geometry import helix_axes
from mpflow.analysis.structure.helix_builder import (
    GPA_TM_SEQUENCE,
    WZA_LIKE_SEQUENCE,
    build_helix,
    build_oligomer,
    write_pdb,
)


def test_ideal_helix_rise_and_radius():
    helix = build_helix(WZA_LIKE_SEQUENCE)
    ca = helix.positions[helix.names == "CA"]
    assert len(ca) == 32
    rise = np.diff(ca[:, 2])
    assert rise.mean() == pytest.approx(1.5, abs=0.05)
    radius = np.linalg.norm(ca[:, :2] - ca[:, :2].mean(axis=0), axis=1)
    assert radius.mean() == pytest.approx(2.3, abs=0.1)


@pytest.mark.parametrize(("n", "radius"), [(2, 5.0), (8, 13.0)])
def test_oligomer_is_cn_symmetric(n, radius):
    model = build_oligomer(WZA_LIKE_SEQUENCE, n, radius)
    chains = list(dict.fromkeys(model.chains))
    assert chains == list("ABCDEFGH"[:n])
    # each helix axis (its middle) sits at the radius: the builder centres helices on their axes
    mids = []
    for c in chains:
        start, end, _ = helix_axes(model.positions[(model.chains == c) & (model.names == "CA")][None])
        mids.append(0.5 * (start[0] + end[0]))
    assert np.linalg.norm(np.array(mids)[:, :2], axis=1) == pytest.approx(np.full(n, radius), abs=0.01)
    # rotating by 360/n maps chain k onto chain k+1
    a = np.radians(360.0 / n)
    rot = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    first = model.positions[model.chains == "A"]
    second = model.positions[model.chains == "B"]
    assert np.abs(first @ rot.T - second).max() < 1e-6


def test_tilt_gives_the_crossing_angle_of_a_dimer():
    model = build_oligomer(GPA_TM_SEQUENCE, 2, 5.0, tilt_deg=-20.0)
    axes = []
    for c in "AB":
        ca = model.positions[(model.chains == c) & (model.names == "CA")]
        v = np.linalg.svd(ca - ca.mean(axis=0))[2][0]
        axes.append(v if v @ (ca[-1] - ca[0]) > 0 else -v)
    crossing = np.degrees(np.arccos(axes[0] @ axes[1]))
    assert crossing == pytest.approx(40.0, abs=1.5)


def test_hydrogens_and_pdb_round_trip(tmp_path):
    model = build_oligomer(GPA_TM_SEQUENCE, 2, 5.0, hydrogens=True)
    n_h = (model.elements == "H").sum()
    n_pro = GPA_TM_SEQUENCE[1:].count("P")
    assert n_h == 2 * (len(GPA_TM_SEQUENCE) - 1 - n_pro)
    path = write_pdb(model, tmp_path / "gpa.pdb", chain_order=["B", "A"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(path))
    assert u.atoms.n_atoms == model.n_atoms
    assert list(dict.fromkeys(u.atoms.chainIDs)) == ["B", "A"]
    nh = u.select_atoms("name H")
    n_atoms = u.select_atoms("name N and not resname PRO and not resid 1")
    d = np.linalg.norm(nh.positions - n_atoms.positions, axis=1)
    assert d == pytest.approx(np.full(len(d), 1.01), abs=0.002)
    original = model.positions[model.chains == "A"]
    assert np.abs(u.select_atoms("chainID A").positions - original).max() < 0.001


def test_bad_sequence_is_refused():
    with pytest.raises(ValueError, match="bad letters"):
        build_helix("ACDXZ")


def test_backbone_hydrogens_give_the_alpha_helix_hbonds():
    from mpflow.analysis.interactions import InteractionAnalysis
    from mpflow.analysis.structure.helix_builder import to_universe

    model = build_oligomer(WZA_LIKE_SEQUENCE, 2, 20.0, hydrogens=True)
    table = InteractionAnalysis(to_universe(model), types=["hbond"], intra=True).run().results.table
    assert not table["fallback"].any()
    # every N-H(i+4) -> O(i) of both 32-residue helices, and nothing else
    assert len(table) == 2 * 28
    assert ((table["resid_a"] - table["resid_b"]) == 4).all()
    assert set(zip(table["atoms_a"], table["hydrogen"], table["atoms_b"])) == {("N", "H", "O")}
    assert (table["offset"] == 0).all()


# ------------------------------------------------------------------ docked-model-like sets

def test_build_models_cycles_packings_and_writes_named_files(g83i_models):
    from mpflow.analysis.structure.geometry import geometry_of_models
    from mpflow.analysis.structure.helix_builder import interchain_contacts

    models, _ = g83i_models
    assert [m.name for m in models[:3]] == ["G83I_001", "G83I_002", "G83I_003"]
    assert all(m.path.name == f"{m.name}.pdb" and m.path.exists() for m in models)
    packings = [m.packing for m in models]
    assert packings[:4] == ["right-9.5A", "right-11A", "left-11.5A", "left-13A"]
    assert packings == packings[:4] * 6
    assert not any(interchain_contacts(m.model)[0] for m in models)
    # what was built is what the geometry measures, whatever the random pose
    measured = geometry_of_models([m.path for m in models[:8]])
    built_crossing = np.array([m.crossing_deg for m in models[:8]])
    built_distance = np.array([m.distance_A for m in models[:8]])
    assert measured["crossing_angle_deg"].to_numpy() == pytest.approx(built_crossing, abs=0.5)
    assert measured["distance_A"].to_numpy() == pytest.approx(built_distance, abs=0.2)


def test_build_models_is_reproducible_from_the_seed():
    from mpflow.analysis.structure.helix_builder import Packing, build_models

    packings = [Packing("p", -40.0, 11.0, phase_deg=0.0)]
    a = build_models(GPA_TM_SEQUENCE, 2, k=2, seed=5, packings=packings)
    b = build_models(GPA_TM_SEQUENCE, 2, k=2, seed=5, packings=packings)
    c = build_models(GPA_TM_SEQUENCE, 2, k=2, seed=6, packings=packings)
    assert np.array_equal(a[1].model.positions, b[1].model.positions)
    assert not np.allclose(a[1].model.positions, c[1].model.positions)
    assert a[0].name == "model_001"


@pytest.mark.parametrize(("n", "crossing", "distance"), [(3, -30.0, 10.0), (8, 20.0, 12.0), (8, -15.0, 11.0)])
def test_ring_placement_gives_the_asked_packing(n, crossing, distance):
    from mpflow.analysis.structure.geometry import crossing_angle_deg, segment_distance
    from mpflow.analysis.structure.helix_builder import _axis_lines, ring_placement

    tilt, radius = ring_placement(n, crossing, distance, 40.0)
    ends, (c0, a0, c1, a1) = _axis_lines(n, tilt, radius, 40.0)
    assert float(crossing_angle_deg(c0, a0, c1, a1)) == pytest.approx(crossing, abs=1e-6)
    assert float(segment_distance(*ends)) == pytest.approx(distance, abs=1e-5)


def test_builder_refuses_what_it_cannot_build():
    from mpflow.analysis.structure.helix_builder import (
        BuildError,
        Packing,
        build_models,
        ring_placement,
    )

    from mpflow.project.mutants import GPA_WT

    with pytest.raises(BuildError, match="oligomer .* is required"):
        build_models(GPA_TM_SEQUENCE)
    with pytest.raises(BuildError, match="GpA-WT is an oligomer of 2, not 3"):
        build_models(GPA_WT, 3)
    with pytest.raises(BuildError, match="cannot cross at 50°"):
        ring_placement(8, 50.0, 10.0, 40.0)
    with pytest.raises(BuildError, match="every helix phase clashes at 6 Å"):
        build_models(GPA_WT, k=1, packings=[Packing("tight", -40.0, 6.0)])
