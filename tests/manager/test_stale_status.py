"""`mpflow status` while a cluster cannot be reached (issue 24, item 11): its last known states are
shown as stale, with since when and why; once a tick reaches it again the mark goes.

The cluster is made unreachable for real without touching the shared dev clusters: the manager is given
beta's settings with its login node's port replaced by one nothing listens on (connection refused).
"""

from __future__ import annotations

import json
import socket

import pytest
from manager_helpers import make_bench
from sqlalchemy import select
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.states import EventKind
from mpflow.store.schema import Event

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

STAGE = '''[stages.probe]
kind = "script"
commands = ["sleep 30", "echo ok > probe.gro"]
time_limit_min = 5
'''


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(root, *args):
    result = CliRunner().invoke(app, ["status", "--project", str(root), *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_an_unreachable_clusters_last_states_are_stale_with_since_when(tmp_path, master, slave):
    b = make_bench(tmp_path, [master, slave], STAGE, "backoff_s = [0]")
    try:
        b.add_models("m1")
        b.tick()
        assert {j.cluster for j in b.jobs()} == {master.name, slave.name}
        assert "(stale)" not in _status(b.root)

        cut = [b.clusters[0], b.clusters[1].model_copy(update={"port": _closed_port(), "connect_timeout_s": 3})]
        for _ in range(2):
            report = b.tick(clusters=cut)
            assert slave.name in report.unreachable
        text = _status(b.root)
        header = text.splitlines()[0].split("  ")
        assert [h.strip() for h in header if h.strip()][-2:] == [master.name, f"{slave.name} (stale)"]
        [line] = [ln for ln in text.splitlines() if ln.startswith(f"{slave.name} (stale): unreachable since ")]
        assert "cannot connect to 127.0.0.1" in line and line.endswith("; its job states are the last known")
        [row] = json.loads(_status(b.root, "--json"))
        assert "stale_since" in row["clusters"][slave.name] and "stale_since" not in row["clusters"][master.name]
        with b.Session() as s:
            kinds = [k for (k,) in s.execute(select(Event.kind).where(Event.cluster == slave.name,
                                                                       Event.model_id.is_(None)))]
        assert kinds == [EventKind.CLUSTER_UNREACHABLE]  # once for the outage, not once per tick

        report = b.tick()
        assert slave.name not in report.unreachable
        assert "(stale)" not in _status(b.root)
        with b.Session() as s:
            assert s.scalars(select(Event.kind).where(Event.cluster == slave.name, Event.model_id.is_(None))
                             .order_by(Event.id)).all() == [EventKind.CLUSTER_UNREACHABLE, EventKind.CLUSTER_REACHABLE]
    finally:
        b.cleanup()
