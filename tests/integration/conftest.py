"""Fixtures on the dev clusters: one open transport per cluster for the session, and for each test its own
folder on each cluster (``Site.folder``), removed afterwards together with any job the test left queued."""

from __future__ import annotations

import posixpath
import uuid
from dataclasses import dataclass, field

import pytest

from mpflow import slurm
from mpflow.clusters import ClusterSettings
from mpflow.slurm_client import SlurmClient
from mpflow.transport import Transport, open_transport


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
                if (slurm.token_of(s.name) or "").startswith(self.token_prefix) and s.state not in slurm.TERMINAL]
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
