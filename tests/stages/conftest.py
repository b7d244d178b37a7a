"""Fixtures for the MD-stage tests: real GROMACS, a fresh POPC patch cache, GpA dimer models.

GROMACS comes from Debian (``scripts/devcluster`` installs it); without ``gmx`` these tests skip on
a developer's machine and fail under CI=true.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from md_helpers import gpa_dimer_pdb

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session", autouse=True)
def gmx_available():
    if shutil.which("gmx") is None:
        if IN_CI:
            pytest.fail("gmx (Debian's gromacs) is needed under CI=true")
        pytest.skip("gmx not installed (apt-get install gromacs)")


@pytest.fixture(scope="session", autouse=True)
def popc_cache(tmp_path_factory):
    """A session-private membrane cache: the tests build the converted patch themselves."""
    folder = tmp_path_factory.mktemp("mpflow-cache")
    old = os.environ.get("MPFLOW_CACHE_DIR")
    os.environ["MPFLOW_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("MPFLOW_CACHE_DIR", None)
    else:
        os.environ["MPFLOW_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def gpa_pdb(tmp_path_factory) -> Path:
    return gpa_dimer_pdb(tmp_path_factory.mktemp("gpa") / "GpA-WT.pdb")
