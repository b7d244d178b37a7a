"""The count table of `mpflow status` and the demo: how each cluster's latest job is shown."""

from __future__ import annotations

from datetime import datetime, timedelta

from mpflow.manager.status import (
    StageStatus,
    count_table,
    job_cell_state,
    stale_clusters,
    table_lines,
    with_staleness,
)
from mpflow.store.clusters import record_reachability
from mpflow.store.database import open_database


def _row(model: int, stage: str, state: str, **clusters: dict) -> StageStatus:
    return StageStatus(model, "WT", "Conformation1", f"m{model}", "ok", stage, state, None, None, clusters)


def test_cell_states():
    assert job_cell_state({}) == "NS"
    assert job_cell_state({"state": "R"}) == "R"
    assert job_cell_state({"state": "F", "failure_kind": "nonzero_exit"}) == "F"
    # the slower copy that mpflow cancelled lost the race; it did not fail
    assert job_cell_state({"state": "F", "failure_kind": "cancelled_by_mpflow"}) == "lost"
    assert job_cell_state({"state": "F", "failure_kind": "cancelled"}) == "F"  # someone else's scancel


def test_table_counts_latest_jobs_and_marks_master_stages():
    lost = {"state": "F", "failure_kind": "cancelled_by_mpflow"}
    rows = [
        _row(1, "prep", "done"),
        _row(2, "prep", "done"),
        _row(1, "emmd", "done", alpha={"state": "D"}, beta=lost),
        _row(2, "emmd", "done", alpha=lost, beta={"state": "D"}),
        _row(3, "emmd", "queued", alpha={"state": "PD"}),
    ]
    header, table = count_table(rows, ["alpha", "beta"], master_stages={"prep"})
    assert header == ["stage", "state", "models", "alpha", "beta"]
    assert table == [
        ["prep", "done", 2, "-", "-"],
        ["emmd", "done", 2, "D:1 lost:1", "D:1 lost:1"],
        ["emmd", "queued", 1, "PD:1", "NS:1"],
    ]
    lines = table_lines(header, table)
    assert lines[0].split() == header
    assert lines[2].split() == ["emmd", "done", "2", "D:1", "lost:1", "D:1", "lost:1"]


def test_a_stage_whose_jobs_go_to_the_master_alone_shows_no_job_elsewhere():
    rows = [_row(1, "prep", "done", alpha={"state": "D"}), _row(2, "prep", "active", alpha={"state": "R"})]
    _, table = count_table(rows, ["alpha", "beta"], master_only={"prep"})
    assert table == [["prep", "done", 1, "D:1", "-"], ["prep", "active", 1, "R:1", "-"]]


def test_three_clusters_get_a_column_each_and_a_stale_one_is_marked():
    """Issue 20, item 1: any number of clusters, one column each in the project's order."""
    lost = {"state": "F", "failure_kind": "cancelled_by_mpflow"}
    rows = [
        _row(1, "emmd", "done", alpha=lost, beta=lost, gamma={"state": "D"}),
        _row(2, "emmd", "running", alpha={"state": "R"}, beta=lost, gamma=lost),
        _row(3, "emmd", "queued", alpha={"state": "PD"}, beta={"state": "PD"}),
    ]
    header, table = count_table(rows, ["alpha", "beta", "gamma"], stale={"gamma"})
    assert header == ["stage", "state", "models", "alpha", "beta", "gamma (stale)"]
    assert table == [
        ["emmd", "done", 1, "lost:1", "lost:1", "D:1"],
        ["emmd", "running", 1, "R:1", "lost:1", "lost:1"],
        ["emmd", "queued", 1, "PD:1", "PD:1", "NS:1"],
    ]
    lines = table_lines(header, table)
    assert lines[0].split() == ["stage", "state", "models", "alpha", "beta", "gamma", "(stale)"]
    assert {len(line) - len(line.split()[-1]) for line in lines[1:]} == {lines[0].index("gamma")}  # aligned


def test_an_unreachable_clusters_column_is_marked_stale_with_since_when(tmp_path):
    """Issue 24, item 11: what a tick records of an unreachable cluster (``mpflow.store.clusters``)
    makes its column ``(stale)`` and a line saying since when and why; reached again, the mark goes."""
    Session = open_database(f"sqlite:///{tmp_path / 'jobs.db'}")
    t0 = datetime(2026, 12, 1, 14, 3, 12)
    with Session.begin() as s:
        assert record_reachability(s, ["alpha", "beta"], {}, t0) == []
        [down] = record_reachability(s, ["alpha"], {"beta": "[beta] cannot connect to 127.0.0.1:2222"},
                                     t0 + timedelta(seconds=15))
        assert (down.kind, down.cluster, down.why) == ("cluster_unreachable", "beta",
                                                       "[beta] cannot connect to 127.0.0.1:2222")
        assert record_reachability(s, ["alpha"], {"beta": "[beta] no SSH answer"}, t0 + timedelta(seconds=30)) == []
    with Session() as s:
        stale = stale_clusters(s, ["alpha", "beta"])
    assert list(stale) == ["beta"] and stale["beta"].since == t0 + timedelta(seconds=15)  # the outage's first tick
    header, _ = count_table([_row(1, "emmd", "active", alpha={"state": "PD"}, beta={"state": "R"})],
                            ["alpha", "beta"], stale=stale)
    assert header == ["stage", "state", "models", "alpha", "beta (stale)"]
    assert stale["beta"].line("beta", t0 + timedelta(minutes=12, seconds=15)) == (
        "beta (stale): unreachable since 2026-12-01 14:03:27 UTC (12 min ago): [beta] no SSH answer; its job "
        "states are the last known")
    row = with_staleness({"clusters": {"alpha": {"state": "PD"}, "beta": {"state": "R"}}}, stale)
    assert row["clusters"] == {"alpha": {"state": "PD"}, "beta": {"state": "R", "stale_since": "2026-12-01T14:03:27"}}
    with Session.begin() as s:
        [up] = record_reachability(s, ["alpha", "beta"], {}, t0 + timedelta(minutes=20))
        assert (up.kind, up.cluster, up.value) == ("cluster_reachable", "beta", 20 * 60 - 15)
    with Session() as s:
        assert stale_clusters(s, ["alpha", "beta"]) == {}
