"""Fixtures for the analysis tests: tiny hand-built universes, helix rings, the ProLIF GPCR."""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import pytest

from mpflow.analysis.helix_builder import WZA_LIKE_SEQUENCE, build_oligomer, to_universe


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
