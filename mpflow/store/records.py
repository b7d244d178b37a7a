"""Reading and writing the jobs database in plain records: what a tick reads, what it changes.

The manager's tick works on small frozen records (``JobRecord``, ``StageRecord``) loaded with a few
column selects, never on ORM objects, so a tick over 10,000 model-stages stays well under a second;
what it decides goes back as typed changes (``NewJob``, ``JobChange``, ``StageChange``) written in
bulk, and every change is a ``Transition`` in the ``events`` table. This module owns those queries
and writes, the creation of model-stage rows for new models, and the one way a model is inserted
(:func:`add_model`) and an event written (:func:`record_events`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Iterable, Sequence

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from mpflow.states import (
    ACTIVE,
    EventKind,
    FailureKind,
    JobState,
    ModelStatus,
    StageState,
)
from mpflow.store.schema import Event, Job, Model, ModelStage, Recovery, utcnow
from mpflow.tags import ModelTag


@dataclass(frozen=True)
class JobRecord:
    id: int
    model_id: int
    stage: str
    cluster: str
    attempt: int
    state: JobState
    slurm_id: str | None
    token: str
    failure_kind: FailureKind | None
    counted: bool
    continuation: bool
    cpus: int
    submitted: datetime
    started: datetime | None
    ended: datetime | None
    reason: str | None = None  # a pending job's reason, a failed one's why
    resources: str | None = None  # what the copy asked of its cluster (see ``Job.resources``)
    reason_since: datetime | None = None
    missing_since: datetime | None = None
    progress: dict | None = None  # ``mpflow.manager.progress.JobProgress.as_dict``

    @classmethod
    def from_row(cls, row) -> "JobRecord":
        rec = cls(*row)
        object.__setattr__(rec, "state", JobState(rec.state))
        if rec.failure_kind is not None:
            object.__setattr__(rec, "failure_kind", FailureKind(rec.failure_kind))
        return rec


_JOB_COLUMNS = (Job.id, Job.model_id, Job.stage, Job.cluster, Job.attempt, Job.state, Job.slurm_id, Job.token,
                Job.failure_kind, Job.counted, Job.continuation, Job.cpus, Job.submitted, Job.started, Job.ended,
                Job.reason, Job.resources, Job.reason_since, Job.missing_since, Job.progress)


@dataclass(frozen=True)
class StageRecord:
    id: int
    model_id: int
    stage: str
    state: StageState
    winner: str | None
    continuations: int
    requeues: int
    mutant: str
    group: str
    name: str

    @classmethod
    def from_row(cls, row) -> "StageRecord":
        rec = cls(*row)
        object.__setattr__(rec, "state", StageState(rec.state))
        return rec


@dataclass(frozen=True)
class NewJob:
    """A job row to insert in state ``SUBMITTING``, committed before its ``sbatch`` runs."""

    model_id: int
    stage: str
    cluster: str
    attempt: int
    token: str
    continuation: bool
    cpus: int
    submitted: datetime
    state: JobState = JobState.SUBMITTING
    resources: str | None = None


@dataclass(frozen=True)
class AdoptedJob:
    """A job row for a job found on a cluster that no row knew (after a restore from a backup)."""

    model_id: int
    stage: str
    cluster: str
    attempt: int
    token: str
    state: JobState
    slurm_id: str
    failure_kind: FailureKind | None
    counted: bool
    reason: str | None
    cpus: int
    submitted: datetime
    started: datetime | None
    ended: datetime | None


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()
"""A field of a change left as it is (``None`` is a value: it clears the column)."""


def _values(change) -> dict:
    return {f.name: getattr(change, f.name) for f in fields(change) if getattr(change, f.name) is not UNSET}


@dataclass(frozen=True)
class JobChange:
    """What one job row becomes; fields left ``UNSET`` are not written."""

    id: int
    state: JobState | _Unset = UNSET
    slurm_id: str | _Unset = UNSET
    failure_kind: FailureKind | _Unset = UNSET
    counted: bool | _Unset = UNSET
    reason: str | None | _Unset = UNSET
    started: datetime | _Unset = UNSET
    ended: datetime | _Unset = UNSET
    reason_since: datetime | None | _Unset = UNSET
    missing_since: datetime | None | _Unset = UNSET
    progress: dict | None | _Unset = UNSET


@dataclass(frozen=True)
class StageChange:
    """What one model-stage row becomes; fields left ``UNSET`` are not written."""

    id: int
    state: StageState | _Unset = UNSET
    reason: str | None | _Unset = UNSET
    winner: str | None | _Unset = UNSET
    continuations: int | _Unset = UNSET
    requeues: int | _Unset = UNSET


@dataclass
class Transition:
    """One change, written to ``events`` and emitted as a Prefect event by the flows."""

    kind: EventKind
    model_id: int | None
    stage: str | None
    cluster: str | None = None
    job_id: int | None = None
    from_state: str | None = None
    to_state: str | None = None
    why: str | None = None
    value: float | None = None
    time: datetime = field(default_factory=utcnow)


def new_token() -> str:
    return uuid.uuid4().hex[:16]


# ------------------------------------------------------------------------------------------------
# Models and model-stage rows
# ------------------------------------------------------------------------------------------------

def add_model(s: Session, *, mutant: str, group: str, name: str, status: ModelStatus = ModelStatus.OK,
              **columns) -> int:
    """Insert one model row (``columns``: source, source_sha256, status_reason, geometry) and return
    its id. The import (``mpflow.models``) is the one caller that creates models."""
    model = Model(mutant=mutant, group=group, name=name, status=status, **columns)
    s.add(model)
    s.flush()
    return model.id


def ensure_model_stages(s: Session, stages: Sequence[str]) -> int:
    """Create the missing (model, stage) rows in state ``waiting``; returns how many were made."""
    have = defaultdict(set)
    for model_id, stage in s.execute(select(ModelStage.model_id, ModelStage.stage)):
        have[model_id].add(stage)
    rows = [{"model_id": mid, "stage": st, "state": StageState.WAITING}
            for (mid,) in s.execute(select(Model.id)) for st in stages if st not in have[mid]]
    if rows:
        s.execute(insert(ModelStage), rows)
    return len(rows)


def stage_records(s: Session, states: Iterable[StageState] | None = None, stages: Iterable[str] | None = None,
                  model_ids: Iterable[int] | None = None, *, with_active_jobs: bool = False) -> list[StageRecord]:
    """Model-stages (with their model's tag), filtered by state, stage, model ids, or
    ``with_active_jobs``: those of models with a job not yet finished (a subquery, not a list of
    ids: PostgreSQL pays for every bound parameter, and a tick has thousands)."""
    q = (select(ModelStage.id, ModelStage.model_id, ModelStage.stage, ModelStage.state, ModelStage.winner,
                ModelStage.continuations, ModelStage.requeues, Model.mutant, Model.group, Model.name)
         .join(Model, Model.id == ModelStage.model_id))
    if with_active_jobs:
        q = q.where(ModelStage.model_id.in_(select(Job.model_id).where(Job.state.in_(ACTIVE))))
    if states is not None:
        q = q.where(ModelStage.state.in_(list(states)))
    if stages is not None:
        q = q.where(ModelStage.stage.in_(list(stages)))
    if model_ids is not None:
        q = q.where(ModelStage.model_id.in_(list(model_ids)))
    return [StageRecord.from_row(row) for row in s.execute(q.order_by(ModelStage.model_id, ModelStage.id))]


def stage_states(s: Session) -> dict[tuple[int, str], StageState]:
    return {(m, st): StageState(state) for m, st, state in s.execute(select(ModelStage.model_id, ModelStage.stage,
                                                                            ModelStage.state))}


def ok_model_ids(s: Session) -> set[int]:
    """Models whose status is ok (complete, checked): their first stage may start."""
    return set(s.scalars(select(Model.id).where(Model.status == ModelStatus.OK)))


# ------------------------------------------------------------------------------------------------
# Jobs
# ------------------------------------------------------------------------------------------------

def active_jobs(s: Session) -> list[JobRecord]:
    return [JobRecord.from_row(r) for r in s.execute(select(*_JOB_COLUMNS).where(Job.state.in_(ACTIVE))
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
            rec = JobRecord.from_row(r)
            if (rec.model_id, rec.stage) in keys:
                out[(rec.model_id, rec.stage)].append(rec)
    return out


def add_job_rows(s: Session, rows: Sequence[NewJob | AdoptedJob]) -> list[int]:
    """Insert job rows (``SUBMITTING`` ones, or adopted ones); returns their ids in order."""
    ids = []
    for row in rows:
        job = Job(**_values(row))
        s.add(job)
        s.flush()
        ids.append(job.id)
    return ids


def _bulk_update(s: Session, table, changes: Sequence) -> None:
    """Bulk UPDATE by primary key, grouped by the set of columns each change writes."""
    by_keys = defaultdict(list)
    for c in changes:
        values = _values(c)
        by_keys[tuple(sorted(values))].append(values)
    for batch in by_keys.values():
        s.execute(update(table), batch)


def update_jobs(s: Session, changes: Sequence[JobChange]) -> None:
    _bulk_update(s, Job, changes)


def update_stages(s: Session, changes: Sequence[StageChange]) -> None:
    _bulk_update(s, ModelStage, changes)


def job_tokens(s: Session) -> set[str]:
    """Every submission token the database knows."""
    return set(s.scalars(select(Job.token)))


# ------------------------------------------------------------------------------------------------
# Restores from a backup and what they have yet to find again
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecoveryRecord:
    """An unfinished recovery: the restored database knows nothing after ``since``; the jobs of that
    time on the ``pending`` clusters have yet to be found again."""

    id: int
    since: datetime
    pending: tuple[str, ...]
    adopted: int


def newest_record_time(s: Session) -> datetime | None:
    """The newest time the database records anything (what a backup of it knew last)."""
    times = [s.scalar(select(func.max(column))) for column in
             (Event.time, Job.submitted, Job.updated, ModelStage.updated, Model.updated)]
    return max((t for t in times if t is not None), default=None)


def add_recovery(s: Session, *, since: datetime, clusters: Sequence[str], backup: str | None) -> int:
    rec = Recovery(since=since, pending=list(clusters), backup=backup, adopted=0)
    s.add(rec)
    s.flush()
    return rec.id


def open_recovery(s: Session) -> RecoveryRecord | None:
    """The oldest unfinished recovery (after two restores in a row, the earlier ``since`` wins)."""
    rows = s.execute(select(Recovery.id, Recovery.since, Recovery.pending, Recovery.adopted)
                     .where(Recovery.finished.is_(None)).order_by(Recovery.since)).all()
    if not rows:
        return None
    since = min(r.since for r in rows)
    pending = tuple(sorted({c for r in rows for c in r.pending}))
    return RecoveryRecord(rows[0].id, since, pending, sum(r.adopted for r in rows))


def update_recovery(s: Session, surveyed: Iterable[str], adopted: int, now: datetime) -> None:
    """Every unfinished recovery: ``surveyed`` clusters done, ``adopted`` more jobs found; finished
    when no cluster is left."""
    done = set(surveyed)
    for rec in s.scalars(select(Recovery).where(Recovery.finished.is_(None))):
        rec.pending = [c for c in rec.pending if c not in done]
        rec.adopted += adopted
        adopted = 0
        if not rec.pending:
            rec.finished = now


def record_events(s: Session, transitions: Sequence[Transition]) -> None:
    """Append ``transitions`` to the ``events`` table: the one way an event is written."""
    if transitions:
        s.execute(insert(Event), [
            {"time": t.time, "model_id": t.model_id, "stage": t.stage, "cluster": t.cluster, "job_id": t.job_id,
             "kind": t.kind, "from_state": t.from_state, "to_state": t.to_state, "why": t.why, "value": t.value}
            for t in transitions])


def cluster_reachability(s: Session) -> dict[str, tuple[bool, datetime, str | None]]:
    """Per cluster, what its last reachability event said: (reachable, since when, why)."""
    out: dict[str, tuple[bool, datetime, str | None]] = {}
    q = (select(Event.cluster, Event.kind, Event.time, Event.why)
         .where(Event.kind.in_([EventKind.CLUSTER_UNREACHABLE, EventKind.CLUSTER_REACHABLE])).order_by(Event.id))
    for cluster, kind, time, why in s.execute(q):
        out[cluster] = (kind == EventKind.CLUSTER_REACHABLE, time, why)
    return out


# ------------------------------------------------------------------------------------------------
# Models as the import and the CLI read them
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelRow:
    """A model as the database holds it; ``started``: a stage of it has left ``waiting`` or it has
    jobs (its group and files are then fixed)."""

    id: int
    mutant: str
    group: str
    name: str
    status: str
    status_reason: str | None
    source: str | None
    sha256: str | None
    geometry: dict | None
    started: bool

    @property
    def tag(self) -> ModelTag:
        return ModelTag(self.mutant, self.group, self.name)

    def as_dict(self) -> dict:
        geometry = self.geometry or {}
        return {"id": self.id, "tag": str(self.tag), "mutant": self.mutant, "group": self.group,
                "name": self.name, "status": self.status, "status_reason": self.status_reason,
                "started": self.started, "source": self.source, "source_sha256": self.sha256,
                "crossing_angle_deg": geometry.get("crossing_angle_deg"),
                "distance_A": geometry.get("distance_A"), "tilt_deg": geometry.get("tilt_deg"),
                "geometry": self.geometry}


class NoSuchModel(ValueError):
    """A model name no model has, or one that two mutants share; the message is one line."""


def models_named(rows: Sequence[ModelRow], ref: str, mutant: str | None = None) -> list[ModelRow]:
    """The rows of the model ``ref`` — ``NAME``, ``MUTANT/NAME`` or ``MUTANT/GROUP/NAME``, as the
    commands show them — among ``rows`` (only ``mutant``'s with ``mutant``); :class:`NoSuchModel`
    when no model is named so, or the name is two mutants' models'."""
    parts = ref.strip("/").split("/")
    if len(parts) not in (1, 2, 3) or not all(parts):
        raise NoSuchModel(f"model {ref!r}: name it NAME, MUTANT/NAME or MUTANT/GROUP/NAME")
    found = [r for r in rows if r.name == parts[-1] and (len(parts) == 1 or r.mutant == parts[0])
             and (len(parts) < 3 or r.group == parts[1]) and (mutant is None or r.mutant == mutant)]
    if not found:
        raise NoSuchModel(f"no model {ref!r}" + (f" of mutant {mutant}" if mutant else "")
                          + "; see `mpflow models`")
    mutants = sorted({r.mutant for r in found})
    if len(mutants) > 1:
        raise NoSuchModel(f"model {ref!r} is a model of {', '.join(mutants)}: name it MUTANT/NAME (or give --mutant)")
    return found


def started_model_ids(s: Session) -> set[int]:
    """Models with a stage past ``waiting`` or any job."""
    moved = s.scalars(select(ModelStage.model_id).where(ModelStage.state != StageState.WAITING)
                      .distinct())
    return set(moved) | set(s.scalars(select(Job.model_id).distinct()))


def model_rows(s: Session, mutant: str | None = None) -> list[ModelRow]:
    """Every model (of ``mutant``), ordered by mutant and name."""
    q = select(Model.id, Model.mutant, Model.group, Model.name, Model.status, Model.status_reason,
               Model.source, Model.source_sha256, Model.geometry).order_by(Model.mutant, Model.name)
    if mutant is not None:
        q = q.where(Model.mutant == mutant)
    started = started_model_ids(s)
    return [ModelRow(*row, started=row[0] in started) for row in s.execute(q)]


def model_tags(s: Session, model_ids: Iterable[int]) -> dict[int, ModelTag]:
    """The tags of the given models, by id."""
    ids = sorted(set(model_ids))
    out: dict[int, ModelTag] = {}
    for chunk in range(0, len(ids), 500):
        q = select(Model.id, Model.mutant, Model.group, Model.name).where(Model.id.in_(ids[chunk:chunk + 500]))
        out.update({i: ModelTag(m, g, n) for i, m, g, n in s.execute(q)})
    return out


def list_models(Session: sessionmaker, mutant: str | None = None) -> list[ModelRow]:
    with Session() as s:
        return model_rows(s, mutant)


def any_ready(s: Session) -> bool:
    """Whether some model-stage is ready to submit (the tick then counts the user's jobs everywhere)."""
    return s.execute(select(ModelStage.id).where(ModelStage.state == StageState.READY).limit(1)).first() is not None
