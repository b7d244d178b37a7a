"""Shared fixtures: local transports on temporary workdirs (no cluster), the dev clusters' settings, Prefect.

Tests that need the dev clusters carry the ``devcluster`` marker (every test under
``tests/integration`` gets it). Without the clusters they skip on a developer's machine; under
``CI=true`` they fail instead, and any skip of such a test is turned into a failure. The fixtures
that open transports to the dev clusters and give each test its own folders there are in
``tests/integration/conftest.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from mpflow.clusters import ClusterSettings
from mpflow.devcluster import DevClusterNotFound, dev_cluster_settings, load_connection
from mpflow.transport import LocalTransport

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
TESTS = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if (TESTS / "integration") in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.devcluster)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("devcluster") is not None:
        report.outcome = "failed"
        report.longrepr = f"devcluster test skipped under CI=true (must run or fail): {report.longrepr}"


def _unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"dev clusters needed under CI=true: {reason}")
    pytest.skip(f"dev clusters not available ({reason}); run `scripts/devcluster up`")


@pytest.fixture
def local_pair(tmp_path) -> tuple[LocalTransport, LocalTransport]:
    """Two local transports (clusters ``here`` and ``there``) whose workdirs are fresh temporary folders
    with the same basename, as a project's two clusters have."""
    pair = []
    for name in ("here", "there"):
        workdir = tmp_path / name / "mpflow-work"
        workdir.mkdir(parents=True)
        pair.append(LocalTransport(ClusterSettings(name=name, kind="local", workdir=str(workdir))))
    return pair[0], pair[1]


@pytest.fixture(scope="session")
def devcluster_doc() -> dict:
    try:
        doc = load_connection()
    except DevClusterNotFound as exc:
        _unavailable(str(exc))
    for c in doc["clusters"]:
        probe = subprocess.run(["sinfo", "-h", "-o", "%a"], env={**os.environ, "SLURM_CONF": c["slurm_conf"]},
                               capture_output=True, text=True, timeout=30)
        if probe.returncode != 0 or "up" not in probe.stdout:
            _unavailable(f"cluster {c['name']} does not answer sinfo: {probe.stderr.strip()}")
    return doc


@pytest.fixture(scope="session")
def clusters(devcluster_doc) -> dict[str, ClusterSettings]:
    """The dev clusters' settings by name: master (local) first, slave (remote, SSH) second."""
    return {s.name: s for s in dev_cluster_settings()}


@pytest.fixture(scope="session")
def master(clusters) -> ClusterSettings:
    return next(s for s in clusters.values() if s.kind == "local")


@pytest.fixture(scope="session")
def slave(clusters) -> ClusterSettings:
    return next(s for s in clusters.values() if s.kind == "remote")


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect API (Prefect's test harness: a temporary server and database) for this session.

    Yields the API URL, so subprocesses (``prefect block register``) can use the same server.
    """
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()
