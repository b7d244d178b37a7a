"""The count table of `mpflow status` and the demo: how each cluster's latest job is shown."""

from __future__ import annotations

from mpflow.manager.status import StageStatus, count_table, job_cell_state, table_lines


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
