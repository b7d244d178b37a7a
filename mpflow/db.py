"""The jobs database: its schema (SQLAlchemy 2), opening it, and migrating it to the current schema.

Tables:

- ``models``: one docked model (mutant, group ``None``/``ConformationN``, name, source file, status).
- ``model_stages``: one row per model and stage: where the model is in the pipeline (``waiting`` for
  the previous stage, ``ready`` to submit, ``active`` with jobs, ``finishing`` while outputs come back,
  ``done``, ``held`` with a reason, ``failed`` for good).
- ``jobs``: one row per submission to one cluster (model, stage, cluster, attempt, state, Slurm id,
  token, failure kind, reason, submitted/started/ended). A row is written in state ``SUBMITTING``
  and committed *before* ``sbatch`` runs, so a crash between the two is repaired by the token.
- ``events``: every transition (when, what, from, to, why) — the audit trail and the source of the
  dual-submission statistics.
- ``leases``: a named lease with an expiry; a manager tick holds ``manager`` while it runs.

SQLite (the default) runs in WAL mode with a busy timeout and foreign keys on; any other SQLAlchemy
URL (PostgreSQL) works unchanged. The schema is created and changed only by Alembic migrations
(``mpflow/migrations``), applied by :func:`open_database` when the database is behind.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from pathlib import Path

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
    create_engine,
    event,
    inspect,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class DatabaseError(Exception):
    """The database cannot be opened or migrated; one line saying what to fix."""


class StageState(str, enum.Enum):
    WAITING = "waiting"  # the previous stage is not done
    READY = "ready"  # inputs are in place on every cluster: the manager may submit
    ACTIVE = "active"  # jobs queued or running
    FINISHING = "finishing"  # a job is done; outputs are being brought back to the master
    DONE = "done"
    HELD = "held"  # needs a person (missing residues, a failing protocol); reason says why
    FAILED = "failed"  # the retry budget is spent on every cluster


class JobRowState(str, enum.Enum):
    SUBMITTING = "SUBMITTING"  # row committed, sbatch not yet confirmed
    PD = "PD"
    R = "R"
    D = "D"
    F = "F"


TERMINAL_JOB_STATES = (JobRowState.D.value, JobRowState.F.value)


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
    status: Mapped[str] = mapped_column(String(32), default="ok")
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
    state: Mapped[str] = mapped_column(String(16), default=StageState.WAITING.value)
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
    state: Mapped[str] = mapped_column(String(16), default=JobRowState.SUBMITTING.value)
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
    updated: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_model_stage", "model_id", "stage"),)

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


class Lease(Base):
    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


# ------------------------------------------------------------------------------------------------
# Opening and migrating
# ------------------------------------------------------------------------------------------------

def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseError(f"database URL {url!r} cannot be used: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        db_path = engine.url.database
        if db_path and db_path != ":memory:" and not Path(db_path).parent.is_dir():
            raise DatabaseError(f"database {url}: folder {Path(db_path).parent} does not exist")
    return engine


def _alembic_config(engine: Engine):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> bool:
    """Bring the database to the newest schema; True when a migration ran."""
    from alembic import command

    if current_revision(engine) == head_revision():
        return False
    if inspect(engine).has_table("models") and current_revision(engine) is None:
        raise DatabaseError(f"{engine.url}: has mpflow tables but no migration record; "
                            "it was not created by mpflow (move it away or point project.database elsewhere)")
    command.upgrade(_alembic_config(engine), "head")
    return True


def open_database(url: str, *, migrate_if_needed: bool = True) -> sessionmaker:
    """A session factory for the database at ``url``, migrated to the current schema first."""
    engine = make_engine(url)
    try:
        if migrate_if_needed:
            migrate(engine)
        elif current_revision(engine) != head_revision():
            raise DatabaseError(f"{url}: schema is not current; run any mpflow command to migrate it")
    except OperationalError as exc:
        raise DatabaseError(f"cannot open database {url}: {str(exc.orig).splitlines()[0]}") from None
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot open database {url}: {str(exc).splitlines()[0]}") from None
    return sessionmaker(engine, expire_on_commit=False)
