"""Reading and writing the jobs database for the manager: plain records in, plain records out.

The manager's tick works on small frozen records (``JobRecord``, ``StageRecord``) loaded with a few
column selects, never on ORM objects, so a tick over 10,000 model-stages stays well under a second.
This module owns those queries, the lease that keeps two ticks apart, the creation of model-stage rows
for new models, and writing back the changes a tick decides (bulk updates, new job rows, events).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Sequence

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from mpflow.db import Event, Job, JobRowState, Lease, Model, ModelStage, StageState, utcnow

ACTIVE_JOB_STATES = (JobRowState.SUBMITTING.value, JobRowState.PD.value, JobRowState.R.value)
MANAGED_STAGE_STATES = (StageState.READY.value, StageState.ACTIVE.value)


@dataclass(frozen=True)
class JobRecord:
    id: int
    model_id: int
    stage: str
    cluster: str
    attempt: int
    state: str
    slurm_id: str | None
    token: str
    failure_kind: str | None
    counted: bool
    continuation: bool
    cpus: int
    submitted: datetime
    started: datetime | None
    ended: datetime | None


_JOB_COLUMNS = (Job.id, Job.model_id, Job.stage, Job.cluster, Job.attempt, Job.state, Job.slurm_id, Job.token,
                Job.failure_kind, Job.counted, Job.continuation, Job.cpus, Job.submitted, Job.started, Job.ended)


@dataclass(frozen=True)
class StageRecord:
    id: int
    model_id: int
    stage: str
    state: str
    winner: str | None
    continuations: int
    requeues: int
    mutant: str
    group: str
    name: str


@dataclass
class Transition:
    """One change the tick made, written to ``events`` and emitted as a Prefect event."""

    kind: str
    model_id: int | None
    stage: str | None
    cluster: str | None = None
    job_id: int | None = None
    from_state: str | None = None
    to_state: str | None = None
    why: str | None = None
    value: float | None = None
    time: datetime = field(default_factory=utcnow)


# ------------------------------------------------------------------------------------------------
# Lease
# ------------------------------------------------------------------------------------------------

def lease_holder() -> str:
    """``host:pid:random``: whoever holds a lease, and how to tell that it has died."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_dead(holder: str | None) -> bool:
    """True when ``holder`` is a process of this host that no longer exists."""
    try:
        host, pid, _ = (holder or "").split(":")
        pid_n = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def acquire_lease(Session: sessionmaker, name: str, holder: str, ttl_s: float) -> bool:
    """Take the lease ``name`` for ``ttl_s`` seconds unless another live holder has it.

    A lease is free when it has expired, or when its holder was a process of this host that has
    died (a tick killed mid-way does not block the next one for the whole TTL). The take-over is a
    compare-and-swap on the previous holder, so two ticks never both win."""
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    with Session() as s:
        row = s.execute(select(Lease.holder, Lease.expires).where(Lease.name == name)).first()
    if row is None:
        try:
            with Session.begin() as s:
                s.execute(insert(Lease).values(name=name, holder=holder, expires=expires))
            return True
        except IntegrityError:  # another tick inserted it first
            return False
    current, current_expires = row
    free = current is None or current_expires is None or current_expires < now or _holder_dead(current)
    if not free and current != holder:
        return False
    with Session.begin() as s:
        cond = Lease.holder.is_(None) if current is None else Lease.holder == current
        res = s.execute(update(Lease).where(Lease.name == name, cond).values(holder=holder, expires=expires))
        return res.rowcount == 1


def release_lease(Session: sessionmaker, name: str, holder: str) -> None:
    with Session.begin() as s:
        s.execute(update(Lease).where(Lease.name == name, Lease.holder == holder).values(holder=None, expires=None))


def new_token() -> str:
    return uuid.uuid4().hex[:16]


# ------------------------------------------------------------------------------------------------
# Model-stage rows
# ------------------------------------------------------------------------------------------------

def ensure_model_stages(s: Session, stages: Sequence[str]) -> int:
    """Create the missing (model, stage) rows in state ``waiting``; returns how many were made."""
    have = defaultdict(set)
    for model_id, stage in s.execute(select(ModelStage.model_id, ModelStage.stage)):
        have[model_id].add(stage)
    rows = [{"model_id": mid, "stage": st, "state": StageState.WAITING.value}
            for (mid,) in s.execute(select(Model.id)) for st in stages if st not in have[mid]]
    if rows:
        s.execute(insert(ModelStage), rows)
    return len(rows)


def stage_records(s: Session, states: Iterable[str] | None = None, stages: Iterable[str] | None = None,
                  model_ids: Iterable[int] | None = None) -> list[StageRecord]:
    q = (select(ModelStage.id, ModelStage.model_id, ModelStage.stage, ModelStage.state, ModelStage.winner,
                ModelStage.continuations, ModelStage.requeues, Model.mutant, Model.group, Model.name)
         .join(Model, Model.id == ModelStage.model_id))
    if states is not None:
        q = q.where(ModelStage.state.in_(list(states)))
    if stages is not None:
        q = q.where(ModelStage.stage.in_(list(stages)))
    if model_ids is not None:
        q = q.where(ModelStage.model_id.in_(list(model_ids)))
    return [StageRecord(*row) for row in s.execute(q.order_by(ModelStage.model_id, ModelStage.id))]


def stage_states(s: Session) -> dict[tuple[int, str], str]:
    return {(m, st): state for m, st, state in s.execute(select(ModelStage.model_id, ModelStage.stage,
                                                                ModelStage.state))}


def model_status(s: Session) -> dict[int, str]:
    return dict(s.execute(select(Model.id, Model.status)).all())


# ------------------------------------------------------------------------------------------------
# Jobs
# ------------------------------------------------------------------------------------------------

def active_jobs(s: Session) -> list[JobRecord]:
    return [JobRecord(*r) for r in s.execute(select(*_JOB_COLUMNS).where(Job.state.in_(ACTIVE_JOB_STATES))
                                             .order_by(Job.id))]


def jobs_of(s: Session, keys: set[tuple[int, str]]) -> dict[tuple[int, str], list[JobRecord]]:
    """Every job row of the given (model_id, stage) pairs, oldest first."""
    out: dict[tuple[int, str], list[JobRecord]] = defaultdict(list)
    if not keys:
        return out
    model_ids = sorted({m for m, _ in keys})
    for chunk in range(0, len(model_ids), 500):
        ids = model_ids[chunk:chunk + 500]
        for r in s.execute(select(*_JOB_COLUMNS).where(Job.model_id.in_(ids)).order_by(Job.id)):
            rec = JobRecord(*r)
            if (rec.model_id, rec.stage) in keys:
                out[(rec.model_id, rec.stage)].append(rec)
    return out


def add_job_rows(s: Session, rows: list[dict]) -> list[int]:
    """Insert SUBMITTING job rows; returns their ids in order."""
    ids = []
    for row in rows:
        job = Job(**row)
        s.add(job)
        s.flush()
        ids.append(job.id)
    return ids


def _bulk_update(s: Session, table, changes: list[dict]) -> None:
    """Bulk UPDATE by primary key: each dict has ``id`` and the changed columns (grouped by column set)."""
    by_keys = defaultdict(list)
    for c in changes:
        by_keys[tuple(sorted(c))].append(c)
    for batch in by_keys.values():
        s.execute(update(table), batch)


def update_jobs(s: Session, changes: list[dict]) -> None:
    _bulk_update(s, Job, changes)


def update_stages(s: Session, changes: list[dict]) -> None:
    _bulk_update(s, ModelStage, changes)


def record_events(s: Session, transitions: list[Transition]) -> None:
    if transitions:
        s.execute(insert(Event), [
            {"time": t.time, "model_id": t.model_id, "stage": t.stage, "cluster": t.cluster, "job_id": t.job_id,
             "kind": t.kind, "from_state": t.from_state, "to_state": t.to_state, "why": t.why, "value": t.value}
            for t in transitions])
