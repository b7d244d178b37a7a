"""After a restore from an older backup: the jobs the restored database does not know, found again.

A backup is older than the clusters' queues. Jobs submitted after it carry tokens the restored
database has never seen, and their model-stages look ready (or waiting) again: a tick that trusted
the database would submit them a second time, and two copies of one stage would run in the same
folder. So ``mpflow db restore`` records a *recovery* (the ``recoveries`` table: the newest record of
the restored database, and the project's clusters), and the next ticks, before anything else, survey
each of those clusters once (``SlurmClient.survey``: one squeue, one sacct since the backup where
there is accounting, one probe of every unfinished model-stage's folder) and **adopt** every job of
this project that no row knows:

- a job Slurm still knows (squeue, or sacct) whose token no row has: found by its working directory,
  which mpflow sets to the model-stage's folder on that cluster (``--chdir``), so a job of another
  project under the same account, or of a model the restored database does not have, is never
  taken for one of ours;
- a job Slurm has forgotten (a cluster without accounting, after MinJobAge): found by the exit-code
  file its job script wrote in the model-stage's folder, which names its job id.

Each becomes a job row in the state its cluster and folder say (as ``observe`` would judge it), the
next attempt of its model-stage on that cluster, with an ``adopted`` event; a model-stage waiting or
ready with an adopted job becomes active. From there the dual-cluster rule does the rest (a copy
that started first is kept, a done one is collected). Until every cluster of the recovery has been
surveyed the tick submits nothing: a cluster that is unreachable may hold copies of any model-stage.

:func:`adopt` is the pure part: one cluster's survey against the database's rows.
"""

from __future__ import annotations

import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, Sequence

from mpflow.manager.decisions import FAILURE_POLICY, Cost
from mpflow.slurm.client import Survey
from mpflow.slurm.commands import token_of
from mpflow.slurm.job_files import resolve_state
from mpflow.states import EventKind, FailureKind, JobState, StageState
from mpflow.store.records import (
    AdoptedJob,
    JobRecord,
    StageChange,
    StageRecord,
    Transition,
    new_token,
)
from mpflow.tags import ModelTag

BECOMES_ACTIVE = frozenset({StageState.WAITING, StageState.READY, StageState.HELD})
"""Model-stages that become active when one of their jobs is adopted (a job of theirs exists)."""

SURVEYED = frozenset({StageState.WAITING, StageState.READY, StageState.ACTIVE, StageState.FINISHING,
                      StageState.HELD})
"""Model-stages whose folders a survey reads (done and failed-for-good ones never get new jobs)."""


@dataclass
class Adoption:
    """What one cluster's survey adds: job rows, stage changes, events, and the jobs in this
    project's folders that belong to no model-stage of the database (``unmatched``)."""

    jobs: list[AdoptedJob] = field(default_factory=list)
    stage_changes: list[StageChange] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)


def stage_dir(st: StageRecord, workdir: str) -> str:
    return ModelTag(st.mutant, st.group, st.name).stage_dir(workdir, st.stage)


def _counted(kind: FailureKind | None) -> bool:
    # A cancelled copy found after a restore was most likely mpflow's own loser: not counted.
    return kind is not None and kind is not FailureKind.CANCELLED and FAILURE_POLICY[kind] is Cost.COUNT


def adopt(cluster: str, survey: Survey, workdir: str, stages: Sequence[StageRecord],
          jobs: Mapping[tuple[int, str], Sequence[JobRecord]], known_tokens: set[str],
          cpus: Mapping[str, int], now: datetime) -> Adoption:
    """The jobs of ``survey`` (of ``cluster``, whose project workdir is ``workdir``) that no row knows,
    as rows of the model-stages in ``stages`` whose folders they ran in. ``jobs``: every row of those
    model-stages; ``known_tokens``: every token of the database; ``cpus``: per stage, for the rows."""
    out = Adoption()
    by_dir = {stage_dir(st, workdir): st for st in stages}
    known_ids = {j.slurm_id for rows in jobs.values() for j in rows if j.cluster == cluster and j.slurm_id}
    attempts: dict[tuple[int, str], int] = defaultdict(int)
    for (m, stage), rows in jobs.items():
        attempts[(m, stage)] = max((j.attempt for j in rows if j.cluster == cluster), default=0)
    found: list[tuple[int, StageRecord, str, str | None, str]] = []  # job id, stage, token, where
    for job_id, status in survey.jobs.items():
        token = token_of(status.name)
        if token in known_tokens or job_id in known_ids or not status.work_dir:
            continue
        st = by_dir.get(status.work_dir.rstrip("/"))
        if st is None:
            if (status.work_dir + "/").startswith(workdir.rstrip("/") + "/"):
                out.unmatched.append(f"job {job_id} in {posixpath.relpath(status.work_dir, workdir)}")
            continue
        found.append((int(job_id), st, job_id, token, status.source))
    seen = {job_id for _, _, job_id, _, _ in found}
    for (folder, _), ev in survey.files.items():
        st = by_dir.get(folder)
        if st is None or ev.exit_job_id is None or ev.exit_job_id in known_ids or ev.exit_job_id in seen:
            continue
        found.append((int(ev.exit_job_id), st, ev.exit_job_id, None, "its folder's exit-code file"))
    activated: set[int] = set()
    for _, st, job_id, token, where in sorted(found, key=lambda f: f[0]):
        key = (st.model_id, st.stage)
        ev = survey.files.get((stage_dir(st, workdir), st.stage))
        verdict = resolve_state(job_id, survey.jobs.get(job_id), ev)
        status = survey.jobs.get(job_id)
        state = JobState.F if verdict.state is JobState.NS else verdict.state
        kind = verdict.failure_kind if state is JobState.F else None
        if state is JobState.F and kind is None:
            kind = FailureKind.LOST
        attempts[key] += 1
        started = status.start if status is not None and state is not JobState.PD else None
        ended = status.end if status is not None and state in (JobState.D, JobState.F) else None
        out.jobs.append(AdoptedJob(
            model_id=st.model_id, stage=st.stage, cluster=cluster, attempt=attempts[key],
            token=token or new_token(), state=state, slurm_id=job_id, failure_kind=kind, counted=_counted(kind),
            reason=verdict.detail, cpus=cpus.get(st.stage, 1), submitted=started or now,
            started=started if state in (JobState.R, JobState.D, JobState.F) else None,
            ended=(ended or now) if state in (JobState.D, JobState.F) else None))
        out.transitions.append(Transition(EventKind.ADOPTED, st.model_id, st.stage, cluster, None, None, state,
                                          f"job {job_id} found again after a restore (in {where})", time=now))
        if st.state in BECOMES_ACTIVE and st.id not in activated:
            activated.add(st.id)
            out.stage_changes.append(StageChange(st.id, state=StageState.ACTIVE, reason=None))
    return out
