"""The claim on a project's folder on the real dev clusters: alpha locally, beta over SSH (issue 24,
item 1). Two projects of one name: the first claims ``<workdir>/<name>`` on both, the second is
refused on either before anything is written."""

from __future__ import annotations

import json
import posixpath
import uuid

import pytest
from projects import make_project

from mpflow.clusters.transport import open_transport
from mpflow.project.claim import MARKER, FolderClaimed, claim_and_record
from mpflow.store.database import open_database

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters


@pytest.fixture
def name(master, slave):
    """A project name of this test's own; its folder is removed from both clusters afterwards."""
    name = f"claim-{uuid.uuid4().hex[:8]}"
    yield name
    for c in (master, slave):
        with open_transport(c) as t:
            t.run(["rm", "-rf", "--", posixpath.join(c.workdir, name)])


def _marker(settings) -> dict | None:
    with open_transport(settings) as t:
        res = t.run(["cat", "--", posixpath.join(settings.workdir, MARKER)])
    return json.loads(res.stdout) if res.ok else None


def test_the_second_project_of_a_name_is_refused_on_the_local_and_the_ssh_cluster(tmp_path, name, master, slave):
    first = make_project(tmp_path / "first", name=name, clusters=[master.name, slave.name])
    claim_and_record(first, open_database(first.database_url), first.cluster_settings())
    for settings in first.cluster_settings():
        assert _marker(settings)["id"] == first.config.project.id

    for clusters, refused in (([master.name, slave.name], master.name), ([slave.name], slave.name)):
        second = make_project(tmp_path / f"second-{refused}", name=name, clusters=clusters)
        with pytest.raises(FolderClaimed) as info:
            claim_and_record(second, open_database(second.database_url), second.cluster_settings())
        folder = posixpath.join(next(c for c in second.cluster_settings() if c.name == refused).workdir)
        assert str(info.value).startswith(f"[{refused}] {folder} belongs to another project named {name!r} "
                                          f"(id {first.config.project.id}")
    for settings in first.cluster_settings():  # still the first's
        assert _marker(settings)["id"] == first.config.project.id
