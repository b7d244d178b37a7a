"""Fixtures for the analysis of a project: a real prepared and simulated GpA system (GROMACS from
Debian; without ``gmx`` these tests skip on a developer's machine and fail under CI=true), built
once per session, and a connection file that puts the dev master's workdir on it."""

from __future__ import annotations

import os
import shutil

import pytest
from project_analysis_data import build_real_system, write_connection_file

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def real_system(tmp_path_factory):
    if shutil.which("gmx") is None:
        if IN_CI:
            pytest.fail("gmx (Debian's gromacs) is needed under CI=true")
        pytest.skip("gmx not installed (apt-get install gromacs)")
    # mdrun -ntomp 2 refuses to run under OMP_NUM_THREADS=1, which Dask's nanny leaves in the
    # environment of a process that started a local cluster (e.g. an earlier test's)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("OMP_NUM_THREADS", raising=False)
        return build_real_system(tmp_path_factory.mktemp("real-system"))


@pytest.fixture(scope="session")
def connection_file(real_system):
    """A dev-cluster connection file whose master (alpha) works in the real system's workdir."""
    return write_connection_file(real_system.root / "connection.json", real_system.workdir.parent,
                                 real_system.root / "beta-work")


@pytest.fixture
def dev_master(connection_file, monkeypatch):
    """This test's dev clusters are the connection file's (the real system is the master's tree)."""
    from mpflow.clusters.devcluster import CONNECTION_FILE_ENV

    monkeypatch.setenv(CONNECTION_FILE_ENV, str(connection_file))
    return connection_file
