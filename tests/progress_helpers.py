"""A project whose jobs database holds a run in progress with known numbers (no cluster involved): the
tests of ``mpflow status``, ``mpflow watch`` and the progress artifacts read it.

Three GpA models of mutant WT, on alpha (the master) and beta:

- m1: prep, emmd, prmd done (prmd won by beta at 80 ns/day), urmd running on alpha: step 125,000 of
  500,000 at 150 ns/day since its start (487,500 steps = 975 ps left = 561.6 s);
- m2: prep, emmd, prmd done (prmd won by alpha at 160 ns/day), urmd running on beta, its speed not
  measured yet;
- m3: held in prep ("embed: 12 lipids clash with the protein").

Every job queued 30 s before it started. 2 finished MD runs at 80 and 160 ns/day → urmd (1 ns) takes
540 / 720 / 1,080 s (at 160 / 120 / 80 ns/day); m2 has 99.8 % of it left (538.9 / 718.6 / 1,077.8 s), m1
its own 561.6 s stretched by the same spread (421.2 / 561.6 / 842.4 s): the forecast is 538.9 / 718.6 /
1,077.8 s.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from projects import make_project

from mpflow.manager.progress import SPEED_GROMACS, SPEED_SINCE_START, JobProgress
from mpflow.project.file import Project
from mpflow.states import EventKind, FailureKind, JobState, StageState
from mpflow.store.database import open_database
from mpflow.store.records import (
    JobChange,
    NewJob,
    StageChange,
    Transition,
    add_job_rows,
    add_model,
    ensure_model_stages,
    record_events,
    stage_records,
    update_jobs,
    update_stages,
)
from mpflow.tags import NO_GROUP

URMD_NSTEPS = 500_000
ATOMS = 29312


def _progress(read_at: datetime, step: int, nsteps: int, *, rate: float | None, source: str | None,
              ended: bool = False, left_s: float | None = None, wall_s: float | None = None,
              integrator: str = "md") -> dict:
    return JobProgress(read_at=read_at, step=step, nsteps=nsteps, dt_ps=0.002, time_ps=step * 0.002, atoms=ATOMS,
                       integrator=integrator, version="2022.5", ns_per_day=rate, speed_from=source, ended=ended,
                       wall_s=wall_s, left_s=left_s, first_step=step, first_at=0.0, written_at=0.0).as_dict()


def seed_progress_project(root: Path, now: datetime) -> Project:
    """The project described in this module's docstring, as of ``now`` (UTC, naive)."""
    project = make_project(root, name="watched", manager={"interval_s": 15})
    project.update_file(lambda doc: doc["stages"]["urmd"].__setitem__("nsteps", URMD_NSTEPS))
    Session = open_database(project.database_url)
    t0 = now - timedelta(hours=1)
    with Session.begin() as s:
        ids = [add_model(s, mutant="WT", group=NO_GROUP, name=n) for n in ("m1", "m2", "m3")]
        ensure_model_stages(s, project.config.stage_order())
        stages = {(st.model_id, st.stage): st for st in stage_records(s)}
        changes, events = [], []
        for i, m in enumerate(ids[:2]):
            for stage in ("prep", "emmd", "prmd"):
                changes.append(StageChange(stages[(m, stage)].id, state=StageState.DONE,
                                           winner=None if stage == "prep" else ("beta" if i == 0 else "alpha")))
            changes.append(StageChange(stages[(m, "urmd")].id, state=StageState.ACTIVE, winner=("alpha", "beta")[i]))
            events.append(Transition(EventKind.DONE, m, "prep", time=t0 + timedelta(minutes=i)))
        changes.append(StageChange(stages[(ids[2], "prep")].id, state=StageState.HELD,
                                   reason="embed: 12 lipids clash with the protein"))
        update_stages(s, changes)
        record_events(s, events)

        def job(m, stage, cluster, started, ended, state, progress=None, kind=None):
            [jid] = add_job_rows(s, [NewJob(m, stage, cluster, 1, f"tok{m}{stage}{cluster}", False, 1,
                                            started - timedelta(seconds=30))])
            update_jobs(s, [JobChange(jid, state=state, slurm_id=str(100 + jid), started=started,
                                      **({"ended": ended} if ended else {}),
                                      **({"progress": progress} if progress else {}),
                                      **({"failure_kind": kind} if kind else {}))])

        m1, m2, _ = ids
        for m, em_start in ((m1, t0 + timedelta(minutes=2)), (m2, t0 + timedelta(minutes=3))):
            job(m, "emmd", "alpha", em_start, em_start + timedelta(seconds=20), JobState.D,
                _progress(em_start, 73, 500, rate=None, source=None, ended=True, left_s=0.0, integrator="steep"))
        pr = t0 + timedelta(minutes=5)
        job(m1, "prmd", "beta", pr, pr + timedelta(seconds=10.8), JobState.D,
            _progress(pr, 5000, 5000, rate=80.0, source=SPEED_GROMACS, ended=True, left_s=0.0, wall_s=10.8))
        job(m1, "prmd", "alpha", pr, pr + timedelta(seconds=2), JobState.F, kind=FailureKind.CANCELLED_BY_MPFLOW)
        job(m2, "prmd", "alpha", pr, pr + timedelta(seconds=5.4), JobState.D,
            _progress(pr, 5000, 5000, rate=160.0, source=SPEED_GROMACS, ended=True, left_s=0.0, wall_s=5.4))
        job(m1, "urmd", "alpha", now - timedelta(seconds=144), None, JobState.R,
            _progress(now, 125_000, URMD_NSTEPS, rate=150.0, source=SPEED_SINCE_START, left_s=561.6))
        job(m2, "urmd", "beta", now - timedelta(seconds=5), None, JobState.R,
            _progress(now, 1000, URMD_NSTEPS, rate=None, source=None))
    Session.kw["bind"].dispose()
    return project
