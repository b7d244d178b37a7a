"""Geometry of TM-helix oligomers: known crossing angles, distances, tilts, sign convention, pore,
frames of a trajectory."""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import numpy as np
import pytest
from MDAnalysis.coordinates.memory import MemoryReader
from mpflow.analysis.structure.elements import BONDI_RADII_A
from mpflow.analysis.structure.geometry import (
    geometry_table,
    helix_axes,
    helix_layout,
    pore_profile,
)
from mpflow.analysis.structure.helix_builder import (
    Oligomer,
    build_helix,
    place_copies,
    to_universe,
)
from scipy.optimize import minimize

from mpflow.project.mutants import GPA_WT, WZA_LIKE


def _pose(model: Oligomer, seed: int) -> Oligomer:
    """``model`` turned and moved at random (geometry must not depend on the frame of reference)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    return Oligomer(model.names, model.resnames, model.resids, model.chains, model.elements,
                    model.positions @ q.T + rng.uniform(-20, 20, 3))


@pytest.fixture(scope="module")
def gpa_helix():
    return build_helix(GPA_WT.sequence, first_resid=GPA_WT.first_resid)


@pytest.fixture(scope="module")
def wza_helix():
    return build_helix(WZA_LIKE.sequence)


def test_helix_axis_of_an_analytic_helix_is_exact():
    rng = np.random.default_rng(0)
    k = np.arange(20)
    ca = np.stack([2.3 * np.cos(np.radians(100 * k)), 2.3 * np.sin(np.radians(100 * k)), 1.5 * k], axis=1)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    shift = np.array([5.0, -3.0, 7.0])
    start, end, direction = helix_axes((ca @ q.T + shift)[None])
    assert direction[0] == pytest.approx(q @ [0, 0, 1], abs=1e-9)
    # the ends are the projections of the first and last CA on the true axis
    assert start[0] == pytest.approx(q @ [0, 0, 0] + shift, abs=1e-9)
    assert end[0] == pytest.approx(q @ [0, 0, 28.5] + shift, abs=1e-9)


@pytest.mark.parametrize(("crossing", "distance", "seed"),
                         [(-40.0, 10.0, 1), (20.0, 12.0, 2), (-25.0, 9.0, 3), (35.0, 11.0, 4)])
def test_dimer_of_known_crossing_distance_and_tilt(gpa_helix, crossing, distance, seed):
    model = place_copies(gpa_helix, 2, distance / 2, tilt_deg=crossing / 2, phase_deg=30.0)
    row = geometry_table(to_universe(_pose(model, seed))).iloc[0]
    assert row["n_helices"] == 2
    assert row["crossing_angle_deg"] == pytest.approx(crossing, abs=2.0)
    assert row["crossing_angle_deg.A-B"] == row["crossing_angle_deg"]
    assert row["distance_A"] == pytest.approx(distance, abs=0.2)
    assert row["tilt_deg"] == pytest.approx(abs(crossing) / 2, abs=2.0)
    assert row["tilt_deg.A"] == pytest.approx(row["tilt_deg.B"], abs=1e-6)
    assert np.isnan(row["pore_radius_min_A"])


@pytest.mark.parametrize("hand", ["right", "left"])
def test_sign_convention_right_handed_is_negative(gpa_helix, hand):
    # two helices on a cylinder around z, each along a screw path about +z: rising while turning
    # counter-clockwise seen from +z (right-handed screw) or clockwise (left-handed)
    alpha = 15.0
    model = place_copies(gpa_helix, 2, 5.0, tilt_deg=-alpha if hand == "right" else alpha)
    chain_a = model.positions[(model.chains == "A") & (model.names == "CA")]
    _, _, direction = helix_axes(chain_a[None])
    # chain A sits at +x: the counter-clockwise direction there is +y
    assert (direction[0, 1] > 0) == (hand == "right")
    row = geometry_table(to_universe(_pose(model, 5))).iloc[0]
    assert (row["crossing_angle_deg"] < 0) == (hand == "right")
    assert abs(row["crossing_angle_deg"]) == pytest.approx(2 * alpha, abs=1.0)


def _line_distance(c0, a0, c1, a1):
    """Closest approach of two lines, by plain numerical minimisation (independent check)."""
    res = minimize(lambda st: np.linalg.norm(c0 + st[0] * a0 - c1 - st[1] * a1), [0.0, 0.0],
                   method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 5000})
    return res.fun


@pytest.mark.parametrize("tilt", [-12.0, 15.0])
def test_ring_of_eight_tilt_crossing_distance(wza_helix, tilt):
    n, radius = 8, 14.0
    model = place_copies(wza_helix, n, radius, tilt_deg=tilt)
    row = geometry_table(to_universe(_pose(model, 7))).iloc[0]
    # analytic: each axis leans by |tilt| from z along its tangent direction
    t, step = np.radians(tilt), 2 * np.pi / n
    a0 = np.array([0.0, -np.sin(t), np.cos(t)])
    rot = np.array([[np.cos(step), -np.sin(step), 0], [np.sin(step), np.cos(step), 0], [0, 0, 1]])
    c0 = np.array([radius, 0.0, 0.0])
    expected_crossing = np.sign(tilt) * np.degrees(np.arccos(a0 @ (rot @ a0)))
    assert row["n_helices"] == n
    assert row["tilt_deg"] == pytest.approx(abs(tilt), abs=2.0)
    assert row["crossing_angle_deg"] == pytest.approx(expected_crossing, abs=2.0)
    assert row["distance_A"] == pytest.approx(_line_distance(c0, a0, rot @ c0, rot @ a0), abs=0.2)
    pair_columns = [c for c in row.index if c.startswith("distance_A.")]
    assert pair_columns == ["distance_A.A-B", "distance_A.B-C", "distance_A.C-D", "distance_A.D-E",
                            "distance_A.E-F", "distance_A.F-G", "distance_A.G-H", "distance_A.H-A"]


def test_pore_radius_of_a_straight_ring(wza_helix):
    model = place_copies(wza_helix, 8, 14.0)
    universe = to_universe(model)
    row = geometry_table(universe).iloc[0]
    # with the axis on z, the narrowest point is the atom closest to z minus its radius
    radial = np.linalg.norm(model.positions[:, :2], axis=1)
    radii = np.array([BONDI_RADII_A[e] for e in model.elements])
    layout = helix_layout(universe, pore_spacing_A=0.1)
    inside = (model.positions[:, 2] > layout.pore_offsets_A.min()) & (model.positions[:, 2] < layout.pore_offsets_A.max())
    fine = geometry_table(universe, layout=layout).iloc[0]
    assert fine["pore_radius_min_A"] == pytest.approx((radial - radii)[inside].min(), abs=0.05)
    assert row["pore_radius_min_A"] >= fine["pore_radius_min_A"] - 1e-9
    profile = pore_profile(universe, layout=layout)
    assert list(profile.columns) == ["frame", "offset_A", "radius_A"]
    assert profile["radius_A"].min() == pytest.approx(fine["pore_radius_min_A"])
    # a wider ring has a wider pore, by the change of radius
    wider = geometry_table(to_universe(place_copies(wza_helix, 8, 15.0)), layout=None).iloc[0]
    assert wider["pore_radius_min_A"] == pytest.approx(row["pore_radius_min_A"] + 1.0, abs=0.3)


def test_monomer_has_no_pairs_and_no_tilt(gpa_helix):
    row = geometry_table(to_universe(place_copies(gpa_helix, 1, 0.0))).iloc[0]
    assert row["n_helices"] == 1
    assert np.isnan(row["tilt_deg"]) and np.isnan(row["crossing_angle_deg"]) and np.isnan(row["distance_A"])


def _trajectory(gpa_helix, crossings):
    frames = [place_copies(gpa_helix, 2, 5.0, tilt_deg=c / 2).positions for c in crossings]
    universe = to_universe(place_copies(gpa_helix, 2, 5.0))
    universe.load_new(np.array(frames, dtype=np.float32), format=MemoryReader)
    return universe


def test_frames_of_a_trajectory_subsets_and_layout_reuse(gpa_helix, tmp_path):
    crossings = [-40.0, -30.0, -20.0, 10.0, 20.0, 30.0]
    universe = _trajectory(gpa_helix, crossings)
    table = geometry_table(universe)
    assert table["frame"].tolist() == list(range(6))
    assert table["crossing_angle_deg"].to_numpy() == pytest.approx(crossings, abs=0.5)
    layout = helix_layout(universe)
    part = geometry_table(universe, [4, 1], layout=layout)
    assert part["frame"].tolist() == [4, 1]
    assert part["crossing_angle_deg"].to_numpy() == pytest.approx(table["crossing_angle_deg"].to_numpy()[[4, 1]])
    assert geometry_table(universe, slice(0, 6, 2))["frame"].tolist() == [0, 2, 4]
    # the same frames read from files (PDB + XTC) give the same table
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PDB attributes the in-memory universe does not have
        universe.atoms.write(str(tmp_path / "dimer.pdb"))
        with mda.Writer(str(tmp_path / "dimer.xtc"), universe.atoms.n_atoms) as writer:
            for _ in universe.trajectory:
                writer.write(universe.atoms)
        from_files = mda.Universe(str(tmp_path / "dimer.pdb"), str(tmp_path / "dimer.xtc"))
    again = geometry_table(from_files)
    assert again["crossing_angle_deg"].to_numpy() == pytest.approx(table["crossing_angle_deg"].to_numpy(), abs=0.05)
    assert again["distance_A"].to_numpy() == pytest.approx(table["distance_A"].to_numpy(), abs=0.01)


def test_layout_of_another_topology_is_refused(gpa_helix, wza_helix):
    layout = helix_layout(to_universe(place_copies(gpa_helix, 2, 5.0)))
    with pytest.raises(ValueError, match="layout was made for"):
        geometry_table(to_universe(place_copies(wza_helix, 2, 5.0)), layout=layout)


def test_frames_out_of_range_are_refused(gpa_helix):
    with pytest.raises(IndexError, match="within 0..0"):
        geometry_table(to_universe(place_copies(gpa_helix, 2, 5.0)), [3])
