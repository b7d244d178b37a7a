"""Fixtures for the analysis tests: tiny hand-built universes, helix rings, the ProLIF GPCR."""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import pytest
from mpflow.analysis.structure.helix_builder import (
    WZA_LIKE_SEQUENCE,
    build_oligomer,
    to_universe,
)


@pytest.fixture(scope="session")
def c8_ring():
    """A perfectly C8-symmetric ring of ideal 32-residue helices (one frame, in memory)."""
    return build_oligomer(WZA_LIKE_SEQUENCE, 8, 13.0, tilt_deg=0.0)


@pytest.fixture(scope="session")
def prolif_universe():
    import prolif.datafiles as prolif_data  # a test dependency: missing it is an error, not a skip

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mda.Universe(prolif_data.TOP, prolif_data.TRAJ)


@pytest.fixture
def ring_universe(c8_ring):
    return to_universe(c8_ring)


@pytest.fixture(scope="session")
def g83i_models(tmp_path_factory):
    """24 docked-model-like G83I dimers (4 packings × 6, noise) and one odd model, as PDB files."""
    from mpflow.analysis.structure.helix_builder import Packing, build_models

    from mpflow.project.mutants import GPA_G83I

    folder = tmp_path_factory.mktemp("g83i_models")
    models = build_models(GPA_G83I, k=24, seed=3, out_dir=folder)
    odd = build_models(GPA_G83I, k=1, seed=9, out_dir=folder, name_prefix="odd",
                       packings=[Packing("odd", 5.0, 15.0)])
    return models, odd[0]
