"""The jobs database's tables (SQLAlchemy 2). Opening and migrating it is ``mpflow.store.database``.

Tables:

- ``models``: one docked model (mutant, group ``None``/``ConformationN``, name, source file, status).
- ``model_stages``: one row per model and stage: where the model is in the pipeline (``waiting`` for
  the previous stage, ``ready`` to submit, ``active`` with jobs, ``finishing`` while outputs come back,
  ``done``, ``held`` with a reason, ``failed`` for good).
- ``jobs``: one row per submission to one cluster (model, stage, cluster, attempt, state, Slurm id,
  token, failure kind, reason, submitted/started/ended, and the progress its GROMACS log shows:
  steps, simulated time, ns/day, time left). A row is written in state ``SUBMITTING`` and committed
  *before* ``sbatch`` runs, so a crash between the two is repaired by the token.
- ``events``: every transition (when, what, from, to, why) — the audit trail and the source of the
  dual-submission statistics; a cluster's reachability changes are events without a model.
- ``cluster_sites``: per cluster, what the manager learnt besides its jobs: last observation and
  back-off (the query budget), the user's jobs and a limit met there (room), GROMACS versions.
- ``leases``: a named lease with an expiry; a manager tick holds ``manager`` while it runs.
- ``clusters``: what the project knows of each cluster besides its jobs: whether the project's folder
  there is claimed by this project's marker (and which folder), when a tick last reached it, and since
  when it has been unreachable (``mpflow status`` marks that cluster's job states stale).
- ``recoveries``: one row per restore from a backup (``mpflow db restore``): since when the restored
  database knows nothing, and the clusters whose jobs of that time the ticks have yet to find again.

States are the values of ``mpflow.states`` (``JobState``, ``StageState``, ``FailureKind``,
``ModelStatus``). The schema is created and changed only by Alembic migrations
(``mpflow/store/migrations``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from mpflow.states import JobState, ModelStatus, StageState


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class Model(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("mutant", "name", name="uq_models_mutant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mutant: Mapped[str] = mapped_column(String(64), index=True)
    group: Mapped[str] = mapped_column("group_name", String(64), default="None")
    name: Mapped[str] = mapped_column(String(128))
    source: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default=ModelStatus.OK)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    geometry: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @property
    def tag(self) -> str:
        return self.group


class ModelStage(Base):
    __tablename__ = "model_stages"
    __table_args__ = (UniqueConstraint("model_id", "stage", name="uq_model_stages_model_stage"),
                      Index("ix_model_stages_state", "state"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=StageState.WAITING)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    winner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    continuations: Mapped[int] = mapped_column(Integer, default=0)
    requeues: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("model_id", "stage", "cluster", "attempt", name="uq_jobs_attempt"),
                      Index("ix_jobs_state", "state"),
                      Index("ix_jobs_model_stage", "model_id", "stage"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    stage: Mapped[str] = mapped_column(String(32))
    cluster: Mapped[str] = mapped_column(String(32))
    attempt: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=JobState.SUBMITTING)
    slurm_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    failure_kind: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    counted: Mapped[bool] = mapped_column(Boolean, default=False)  # counts against the retry budget
    continuation: Mapped[bool] = mapped_column(Boolean, default=False)  # continues from a checkpoint
    cpus: Mapped[int] = mapped_column(Integer, default=1)
    submitted: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    ended: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # how far the job's run is, from its log (``mpflow.manager.progress.JobProgress.as_dict``)
    progress: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
    # what the copy asked of its cluster (partition, time, CPUs, extra flags): a copy that cannot start
    # there is not sent again with the same resources
    resources: Mapped[str | None] = mapped_column(Text, nullable=True)
    reason_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # pending for `reason` since
    missing_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # absent from squeue since


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_model_stage", "model_id", "stage"),
                      Index("ix_events_kind", "kind"))  # a tick reads the clusters' last reachability events

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), nullable=True)
    stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    cluster: Mapped[str | None] = mapped_column(String(32), nullable=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    to_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    why: Mapped[str | None] = mapped_column(Text, nullable=True)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)  # e.g. seconds waited


class ClusterSite(Base):
    """What the manager knows of one cluster besides its jobs: when it was last observed (the query
    budget), a back-off after the controller asked for one, the user's jobs there and a limit the site
    enforced (room), and the GROMACS versions of its grompp and mdrun."""

    __tablename__ = "cluster_sites"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    observed: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    user_jobs: Mapped[int | None] = mapped_column(Integer, nullable=True)  # queued or running, all of the user's
    backoff_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    backoff_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    backoff_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    limit_jobs: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the user's jobs when a limit refused
    limit_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    limit_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    waiting: Mapped[str | None] = mapped_column(Text, nullable=True)  # copies left unsent for lack of room, why
    grompp_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mdrun_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gromacs_checked: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    gromacs_problem: Mapped[str | None] = mapped_column(Text, nullable=True)  # the version could not be read


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class ClusterState(Base):
    __tablename__ = "clusters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    workdir: Mapped[str | None] = mapped_column(Text, nullable=True)  # the project folder claimed there
    claimed: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # when its marker was verified
    reached: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # a tick's last answer from it
    unreachable_since: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # None: reachable
    unreachable_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
class Recovery(Base):
    __tablename__ = "recoveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    since: Mapped[datetime] = mapped_column(DateTime)  # the newest record of the restored database
    restored: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    backup: Mapped[str | None] = mapped_column(Text, nullable=True)  # the file restored from
    pending: Mapped[list] = mapped_column(JSON, default=list)  # clusters not yet surveyed
    adopted: Mapped[int] = mapped_column(Integer, default=0)  # jobs found again so far
    finished: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
