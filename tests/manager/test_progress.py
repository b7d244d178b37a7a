"""A job's progress from its log readings, without any cluster: speed, time left and expected end
against runs whose numbers are known (steps, time step, wall time), written out row by row; and
which observed jobs get a progress change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mpflow.manager.progress import (
    SPEED_BETWEEN_TICKS,
    SPEED_GROMACS,
    SPEED_SINCE_START,
    JobProgress,
    ns_per_day,
    progress_changes,
    read_progress,
)
from mpflow.slurm.client import Observation
from mpflow.slurm.job_files import FileEvidence
from mpflow.slurm.md_log import STOPPED_AT_MAXH, MdLog
from mpflow.states import JobState
from mpflow.store.records import JobRecord

NOW = datetime(2026, 12, 2, 12, 0, 0)
T0 = datetime(2026, 12, 2, 10, 0, 0, tzinfo=UTC)  # when mdrun started, on the cluster's clock
E0 = T0.timestamp()
HEADER = dict(version="2022.5", integrator="md", nsteps=50000, dt_ps=0.002, atoms=29000)


def reading(step, *, written_s, probed_s=None, header=True, **log) -> FileEvidence:
    """A probe's reading of a log whose last energy block is ``step``, written ``written_s`` after the
    run started, probed ``probed_s`` after it (default: at the write)."""
    fields = dict(HEADER, started=T0) if header else {}
    fields.update(log)
    md = MdLog(step=step, time_ps=step * 0.002, **fields)
    return FileEvidence("/w/m/urmd", "urmd", False, True, None, None, log=md, log_mtime=E0 + written_s,
                        probed_at=E0 + (written_s if probed_s is None else probed_s))


def test_ns_per_day_of_a_run_whose_numbers_are_known():
    # 50,000 steps of 2 fs = 100 ps in 153.2 s (the 2018 fixture's own performance line: 56.397)
    assert ns_per_day(50000, 0.002, 153.2) == pytest.approx(56.397, abs=1e-3)
    # 100 ns in 202,124 s (the 2024 fixture: 42.746)
    assert ns_per_day(50_000_000, 0.002, 202124) == pytest.approx(42.746, abs=1e-3)


def test_first_reading_of_a_fresh_run_speed_since_it_started_and_the_time_left():
    # 15,000 steps (30 ps) in the first 30 s: 86.4 ns/day; 35,000 steps (70 ps) left = 70 s at that
    # speed, of which 5 s have passed since the log was written
    p = read_progress(None, reading(15000, written_s=30, probed_s=35), continuation=False, now=NOW)
    assert (p.step, p.nsteps, p.time_ps, p.total_ps, p.atoms) == (15000, 50000, 30.0, 100.0, 29000)
    assert p.speed_from == SPEED_SINCE_START and p.ns_per_day == pytest.approx(86.4)
    assert p.left_s == pytest.approx(65.0) and p.eta == NOW + timedelta(seconds=65)
    assert p.fraction == pytest.approx(0.3) and not p.ended


def test_a_continued_job_waits_for_a_second_reading_then_takes_the_speed_between_them():
    first = read_progress(None, reading(25000, written_s=600), continuation=True, now=NOW)
    assert first.ns_per_day is None and first.left_s is None and first.first_step == 25000
    # 20 s later by the log's own clock: 10,000 more steps = 20 ps in 20 s = 86.4 ns/day
    tail = reading(35000, written_s=620, probed_s=622, header=False)
    second = read_progress(first, tail, continuation=True, now=NOW + timedelta(seconds=15))
    assert second.speed_from == SPEED_BETWEEN_TICKS and second.ns_per_day == pytest.approx(86.4)
    assert (second.nsteps, second.dt_ps, second.atoms) == (50000, 0.002, 29000)  # from the first reading
    assert second.left_s == pytest.approx(30.0 - 2.0)


def test_an_ended_run_has_gromacs_own_speed_and_nothing_left():
    done = reading(50000, written_s=160, ns_per_day=56.397, wall_s=153.2, finished=True)
    p = read_progress(None, done, continuation=False, now=NOW)
    assert (p.speed_from, p.ns_per_day, p.wall_s, p.ended, p.left_s, p.stopped) == \
        (SPEED_GROMACS, 56.397, 153.2, True, 0.0, None)


def test_a_part_stopped_at_maxh_is_not_done_its_time_left_is_unknown():
    stopped = reading(30000, written_s=60, ns_per_day=86.4, wall_s=60.0, finished=True, stopped=STOPPED_AT_MAXH)
    p = read_progress(None, stopped, continuation=False, now=NOW)
    assert p.ended and p.stopped == STOPPED_AT_MAXH and p.left_s is None and p.ns_per_day == 86.4


def test_a_killed_run_keeps_its_last_step_and_speed():
    before = read_progress(None, reading(10000, written_s=20), continuation=False, now=NOW)
    # killed: the log stops growing; a later probe finds the same last block
    after = read_progress(before, reading(10000, written_s=20, probed_s=300, header=False), continuation=False,
                          now=NOW + timedelta(minutes=5))
    assert after.step == 10000 and after.ns_per_day == pytest.approx(86.4) and not after.ended


def test_a_replaced_log_starts_over():
    old = read_progress(None, reading(40000, written_s=80), continuation=False, now=NOW)
    new = read_progress(old, reading(500, written_s=1, header=False), continuation=False, now=NOW)
    assert new.step == 500 and new.first_step == 500 and new.nsteps is None  # its header is read again


def test_a_minimisation_has_steps_but_no_speed_nor_time():
    em = reading(73, written_s=2, integrator="steep", nsteps=500, finished=True,
                 minimised="converged to Fmax < 100 in 74 steps")
    p = read_progress(None, em, continuation=False, now=NOW)
    assert p.minimisation and p.ns_per_day is None and p.total_ps is None and p.left_s == 0.0
    assert p.minimised == "converged to Fmax < 100 in 74 steps" and p.fraction == pytest.approx(73 / 500)


def test_a_log_that_is_not_gromacs_gives_no_progress():
    ev = FileEvidence("/w/m/s", "s", False, True, None, None, log=MdLog(), log_mtime=E0, probed_at=E0)
    assert read_progress(None, ev, continuation=False, now=NOW) is None


def test_progress_round_trips_through_its_stored_form():
    p = read_progress(None, reading(15000, written_s=30, probed_s=35), continuation=False, now=NOW)
    assert JobProgress.from_dict(p.as_dict()) == p
    assert p.summary()["eta"] == "2026-12-02T12:01:05" and p.summary()["fraction"] == 0.3


def _job(id, state, *, started=None, progress=None, cluster="beta") -> JobRecord:
    return JobRecord(id=id, model_id=id, stage="urmd", cluster=cluster, attempt=1, state=state, slurm_id=str(40 + id),
                     token=f"tok{id}", failure_kind=None, counted=False, continuation=False, cpus=1,
                     submitted=NOW - timedelta(hours=1), started=started, ended=None, progress=progress)


def _obs(state, files, start=None) -> Observation:
    return Observation(key="x", state=state, failure_kind=None, pending_reason=None, job_id="41", start=start,
                       end=None, exit_code=None, detail=None, slurm=None, files=files)


def test_only_jobs_that_ran_get_a_progress_change():
    log = reading(15000, written_s=30)
    jobs = [_job(1, JobState.R, started=NOW), _job(2, JobState.PD), _job(3, JobState.R, started=NOW),
            _job(4, JobState.PD)]
    unchanged = read_progress(None, log, continuation=False, now=NOW).as_dict()
    jobs.append(_job(5, JobState.R, started=NOW, progress=unchanged))
    observations = {"beta": {
        "1": _obs(JobState.R, log),  # running: read
        "2": _obs(JobState.PD, log),  # still queued, an old attempt's log in its folder: not its progress
        "3": _obs(JobState.R, None),  # no file evidence: nothing
        "4": _obs(JobState.D, log, start=NOW),  # ran between two ticks: its final reading
        "5": _obs(JobState.R, log),  # the same reading again: no change
    }}
    changes = progress_changes(jobs, observations, NOW)
    assert [c.id for c in changes] == [1, 4]
    assert JobProgress.from_dict(changes[0].progress).step == 15000
