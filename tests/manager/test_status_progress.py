"""`mpflow status`, `--json`, `--summary` and `--summary --json` on a jobs database holding a run in
progress with known numbers (``tests/progress_helpers.py``): the progress column, the running jobs'
steps, simulated time, speed and expected end, each cluster's speed, which is faster, the forecast."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from progress_helpers import seed_progress_project
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.manager.status import (
    clock_text,
    project_summary,
    running_summary,
    stage_statuses,
)
from mpflow.store.database import open_database
from mpflow.store.schema import utcnow


@pytest.fixture
def project(tmp_path):
    now = utcnow()
    return seed_progress_project(tmp_path / "watched", now), now


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_status_shows_how_far_each_running_job_is(project):
    project, now = project
    out = _run("status", "--project", str(project.root))
    lines = out.splitlines()
    assert lines[0].split() == ["stage", "state", "models", "alpha", "beta", "progress"]
    [urmd] = [ln for ln in lines if ln.split()[:2] == ["urmd", "active"]]
    eta = clock_text(now + timedelta(seconds=561.6), now)
    assert urmd.split()[:7] == ["urmd", "active", "2", "NS:1", "R:1", "NS:1", "R:1"] and urmd.endswith(f"2 running 0%-25%, last ends ~{eta}")
    assert "running (steps, simulated time, speed, expected end):" in lines
    m1 = next(ln for ln in lines if "WT/None/m1 urmd on alpha" in ln)
    assert m1.strip() == (f"WT/None/m1 urmd on alpha: 125,000/500,000 steps (25%) · 0.25/1 ns · 150 ns/day · "
                          f"ends ~{eta} (in 9 min)")
    m2 = next(ln for ln in lines if "WT/None/m2 urmd on beta" in ln)
    assert m2.strip() == "WT/None/m2 urmd on beta: 1,000/500,000 steps (0%) · 0.002/1 ns · speed not measured yet"
    assert "   held  WT/None/m3 prep: embed: 12 lipids clash with the protein" in lines


def test_status_json_carries_the_progress(project):
    project, now = project
    rows = json.loads(_run("status", "--json", "--project", str(project.root)))
    [m1] = [r for r in rows if r["name"] == "m1" and r["stage"] == "urmd"]
    p = m1["progress"]
    assert (p["cluster"], p["step"], p["nsteps"], p["fraction"], p["time_ps"], p["total_ps"], p["ns_per_day"]) == \
        ("alpha", 125000, 500000, 0.25, 250.0, 1000.0, 150.0)
    assert p["left_s"] == 561.6 and p["eta"] == (now + timedelta(seconds=561.6)).isoformat(timespec="seconds")
    assert m1["clusters"]["alpha"]["progress"]["step"] == 125000 and "progress_record" not in m1["clusters"]["alpha"]
    [done] = [r for r in rows if r["name"] == "m1" and r["stage"] == "prmd"]
    assert done["progress"]["ns_per_day"] == 80.0 and done["progress"]["speed_from"] == "gromacs"


def test_summary_says_which_cluster_is_faster_and_when_the_models_are_through(project):
    project, now = project
    data = json.loads(_run("status", "--summary", "--json", "--project", str(project.root)))
    assert data["clusters"]["alpha"]["speed"] == [{"cluster": "alpha", "stage": "prmd", "atoms": 29000, "runs": 1,
                                                  "ns_per_day_median": 160.0, "ns_per_day_low": 160.0,
                                                  "ns_per_day_high": 160.0}]
    assert data["clusters"]["beta"]["speed"][0]["ns_per_day_median"] == 80.0
    assert data["clusters"]["alpha"]["queue_wait"]["median_s"] == 30.0  # what was there stays beside it
    assert data["faster"] == ["prmd at ~29,000 atoms: alpha is 2.00x as fast as beta (160 vs 80 ns/day, "
                              "median of 1 and 1 run(s))"]
    fc = data["forecast"]
    assert (fc["models"], fc["seconds_low"], fc["seconds"], fc["seconds_high"]) == (2, 538.9, 718.6, 1077.8)
    assert fc["not_waited_for"] == {"held": 1} and fc["through"] == "urmd"
    text = _run("status", "--summary", "--project", str(project.root))
    assert "    prmd, ~29,000 atoms: 160 ns/day, 1 run(s)" in text
    assert "  prmd at ~29,000 atoms: alpha is 2.00x as fast as beta" in text
    assert ("forecast: all 2 selected model(s) through urmd in about 12 min (likely between 9 min and 18 min), "
            "around ") in text
    assert ("(1 held: not waited for); from 2 finished MD run(s) at 80-160 ns/day, a median queue wait of 30 s, "
            "up to 2 job(s) at once") in text


def test_the_forecast_is_for_the_selected_mutant_and_bad_selections_are_one_line(project):
    project, now = project
    Session = open_database(project.database_url)
    with Session() as s:
        assert project_summary(s, project, mutants=["WT"], now=now)["forecast"]["models"] == 2
    result = CliRunner().invoke(app, ["status", "--summary", "--mutant", "G83I", "--project", str(project.root)])
    assert result.exit_code == 2 and result.output.strip().splitlines() == [
        f"error: --mutant: no mutant 'G83I' in {project.file} (mutants: none yet)"]


def test_the_demo_line_of_running_jobs(project):
    project, now = project
    Session = open_database(project.database_url)
    with Session() as s:
        line = running_summary(stage_statuses(s, stage_order=project.config.stage_order()), now)
    eta = clock_text(now + timedelta(seconds=561.6), now)
    assert line == (f"WT/None/m1 urmd on alpha 25% (150 ns/day, ends ~{eta} (in 9 min)); "
                    "WT/None/m2 urmd on beta 0% (speed not measured yet)")
