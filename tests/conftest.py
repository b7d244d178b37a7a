"""Shared fixtures: local transports on temporary workdirs (no cluster), the dev clusters (their
settings, one open transport each for the session, and each test's own folder on each cluster),
Prefect's test harness.

The tests mirror mpflow's packages (``tests/clusters``, ``tests/slurm``, ``tests/manager`` ...). A test
module that needs the dev clusters says so with ``pytestmark = pytest.mark.devcluster`` — the marker,
not the folder, tells such tests apart: a test that uses a dev-cluster fixture without the marker is
an error at collection. Without the clusters they skip on a developer's machine; under ``CI=true``
they fail instead, and any skip of such a test is turned into a failure.

The jobs database comes on both engines: ``database_url`` (and ``blank_database_url``, without a
schema) are parametrised ``[sqlite]`` and ``[postgresql]``; the PostgreSQL one is a fresh database on
the test PostgreSQL (``scripts/test-services up``, one server for the session). Without that server
the PostgreSQL cases skip on a developer's machine and fail under ``CI=true``.
"""

from __future__ import annotations

import os
import posixpath
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from databases import ENGINES, PostgresServer
from services import ServicesNotFound, postgres_url

from mpflow.clusters.devcluster import DevClusterNotFound, dev_cluster_info, load_connection
from mpflow.clusters.settings import ClusterSettings, dev_cluster_settings
from mpflow.clusters.transport import LocalTransport, Transport, open_transport
from mpflow.slurm import commands as slurm
from mpflow.slurm.client import SlurmClient
from mpflow.states import TERMINAL

IN_CI = os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}
TESTS = Path(__file__).resolve().parent


DEVCLUSTER_FIXTURES = {"devcluster_doc", "clusters", "master", "slave", "transports", "tm", "ts", "sites", "site"}


def pytest_collection_modifyitems(config, items):
    unmarked = [item.nodeid for item in items
                if DEVCLUSTER_FIXTURES & set(getattr(item, "fixturenames", ()))
                and item.get_closest_marker("devcluster") is None]
    if unmarked:
        raise pytest.UsageError("tests use the dev clusters without `pytestmark = pytest.mark.devcluster`: "
                                + ", ".join(unmarked[:5]))


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


def _postgres_unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"the test PostgreSQL is needed under CI=true: {reason}")
    pytest.skip(f"the test PostgreSQL is not available ({reason}); run `scripts/test-services up`")


@pytest.fixture(scope="session")
def postgres() -> PostgresServer:
    """The test PostgreSQL for the whole session (a role that may create databases)."""
    try:
        server = PostgresServer(postgres_url())
        server.check()
    except ServicesNotFound as exc:
        _postgres_unavailable(str(exc))
    except Exception as exc:  # the server does not answer: say why in one line
        _postgres_unavailable(str(exc).strip().splitlines()[0])
    server.drop_stale()
    yield server
    server.close()


def _fresh_database(request, tmp_path, *, migrated: bool):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"  # made (and migrated) by the first open_database
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    name = server.create(template=server.migrated_template() if migrated else None)
    yield server.url_of(name)
    server.drop(name)


@pytest.fixture(params=ENGINES)
def database_url(request, tmp_path) -> str:
    """A jobs database at the newest schema: a SQLite file, or a fresh PostgreSQL database."""
    yield from _fresh_database(request, tmp_path, migrated=True)


@pytest.fixture(params=ENGINES)
def blank_database_url(request, tmp_path) -> str:
    """An empty database (no schema, no migration record) on each engine."""
    yield from _fresh_database(request, tmp_path, migrated=False)


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
    """The two dev clusters most tests race on, by name: the master (local) first, the slave (remote,
    SSH) second. More dev clusters, where the connection file has them, are not among these."""
    roles = {c["name"]: c.get("role") for c in devcluster_doc["clusters"]}
    by_role = {roles[s.name]: s for s in dev_cluster_settings() if roles[s.name] in ("master", "slave")}
    return {s.name: s for s in (by_role["master"], by_role["slave"])}


@pytest.fixture(scope="session")
def gamma(devcluster_doc) -> ClusterSettings:
    """The dev cluster whose login node is reached through the bastion (role ``slave-via-bastion``)."""
    [name] = [c["name"] for c in devcluster_doc["clusters"] if c.get("role") == "slave-via-bastion"] or [None]
    if name is None:
        _unavailable("the connection file has no cluster behind the bastion: run `scripts/devcluster up`")
    return next(s for s in dev_cluster_settings() if s.name == name)


@pytest.fixture
def two_factor(slave):
    """beta's settings through its second login node (the key, then a one-time code asked through PAM),
    and the code a token app would show now (written to the node's code file; emptied afterwards)."""
    info = dev_cluster_info(slave.name).get("two_factor_login")
    if info is None:
        _unavailable("the connection file has no two-factor login node: run `scripts/devcluster up`")
    code_file = Path(info["code_file"])
    code = os.urandom(4).hex()
    code_file.write_text(code + "\n")
    yield slave.model_copy(update={"port": info["port"]}), code
    code_file.write_text("")


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


# ------------------------------------------------------------------------------------------------
# The dev clusters: one open transport per cluster for the session, and for each test its own folder
# on each cluster (``Site.folder``), removed afterwards together with any job the test left queued.
# ------------------------------------------------------------------------------------------------

@dataclass
class Site:
    """One dev cluster as a test sees it: settings, the session's transport, a client, and a folder of
    this test's own (``workdir/tests/<test>-<token>``) that is removed after the test."""

    settings: ClusterSettings
    transport: Transport
    client: SlurmClient
    folder: str
    token_prefix: str
    _issued: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.settings.name

    def path(self, *parts: str) -> str:
        return posixpath.join(self.folder, *parts)

    def token(self) -> str:
        """A submission token for this test; every job named with one is cancelled after the test."""
        token = f"{self.token_prefix}-{len(self._issued)}"
        self._issued.append(token)
        return token

    def cleanup(self) -> None:
        states = self.client.poll().states
        mine = [job_id for job_id, s in states.items()
                if (slurm.token_of(s.name) or "").startswith(self.token_prefix) and s.state not in TERMINAL]
        if mine:
            self.client.cancel(mine)
        self.transport.run(["rm", "-rf", "--", self.folder])


@pytest.fixture(scope="session")
def transports(clusters):
    """One open transport per dev cluster for the whole session (SSH connections are reused)."""
    opened = {name: open_transport(settings) for name, settings in clusters.items()}
    yield opened
    for t in opened.values():
        t.close()


@pytest.fixture(scope="session")
def tm(transports, master) -> Transport:
    return transports[master.name]


@pytest.fixture(scope="session")
def ts(transports, slave) -> Transport:
    return transports[slave.name]


def _open_site(request, settings: ClusterSettings, transport: Transport) -> Site:
    test = request.node.name.split("[")[0].removeprefix("test_")[:24].replace("_", "-")
    token = uuid.uuid4().hex[:8]
    folder = posixpath.join(settings.workdir, "tests", f"{test}-{token}")
    transport.makedirs([folder])
    return Site(settings, transport, SlurmClient(transport), folder, f"t{token}")


@pytest.fixture
def sites(request, clusters, transports):
    """Both dev clusters, each with this test's own folder: {"alpha": Site, "beta": Site}."""
    opened = {name: _open_site(request, settings, transports[name]) for name, settings in clusters.items()}
    yield opened
    for site in opened.values():
        site.cleanup()


@pytest.fixture(params=["master", "slave"])
def site(request, transports) -> Site:
    """One dev cluster at a time (the test runs once on alpha, locally, and once on beta, over SSH)."""
    settings = request.getfixturevalue(request.param)
    s = _open_site(request, settings, transports[settings.name])
    yield s
    s.cleanup()
