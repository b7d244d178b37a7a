"""Backups of the jobs database (``mpflow db backup`` / ``mpflow db restore``): the one record of which
job ran where.

- **SQLite**: SQLite's online backup API, a consistent copy while ticks go on; a restore copies the
  backup into the live database with the same API (one atomic replacement, under its write lock).
- **PostgreSQL**: ``pg_dump --format=custom``; a restore runs ``pg_restore``'s SQL through ``psql``
  in **one transaction** that first drops mpflow's tables, so it is all or nothing. The password goes
  to the tools in their environment (``PGPASSWORD``), never on a command line; without one in the URL
  they read ``~/.pgpass``.

A restore holds the manager lease from before it starts until the restored database is migrated and
marked (no tick runs in between: the restored content carries the lease, held by the restore), keeps
the database as it was in a file first (``keep``), and records a *recovery*: the restored database
knows nothing after its newest record, and the next ticks find the jobs of that time again on the
clusters (``mpflow.manager.recovery``). What a backup is, is told by its first bytes; a file that is
not a backup of this engine, or of a newer mpflow, is refused before anything changes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Sequence

from alembic.script import ScriptDirectory
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import sessionmaker

from mpflow.redaction import hide_password, redact_url
from mpflow.states import EventKind
from mpflow.store.database import (
    DatabaseError,
    _alembic_config,
    current_revision,
    driver_message,
    engine_url,
    head_revision,
    make_engine,
    open_database,
)
from mpflow.store.leases import MANAGER_LEASE, LeaseTaken, hold_lease
from mpflow.store.records import (
    Transition,
    add_recovery,
    newest_record_time,
    record_events,
)
from mpflow.store.schema import Base, Job, Model, utcnow

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
SUFFIX = {"sqlite": ".db", "postgresql": ".pgdump"}
RESTORE_LEASE_S = 3600.0
"""How long a restore holds the manager lease at most (released as soon as it is done)."""


class BackupError(Exception):
    """A backup or restore that cannot be done; one line saying why. Nothing was changed."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    engine: str  # sqlite | postgresql
    size: int
    models: int | None = None
    jobs: int | None = None
    newest: datetime | None = None


@dataclass(frozen=True)
class RestoreReport:
    backup: BackupInfo
    kept: BackupInfo  # the database as it was before the restore
    revision: str  # the schema the backup had (migrated to the newest since)
    since: datetime | None  # the restored database's newest record: jobs after it are found again
    clusters: tuple[str, ...]


def engine_of(url: str) -> str:
    name = make_url(engine_url(url)).get_backend_name()
    if name not in SUFFIX:
        raise BackupError(f"backups of {name} databases are not supported (SQLite and PostgreSQL are)")
    return name


def kind_of_file(path: Path) -> str | None:
    """``sqlite`` or ``postgresql`` by the file's first bytes, else None."""
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    return None


def default_name(project_name: str, engine: str, when: datetime | None = None) -> str:
    return f"{project_name}-jobs-{(when or utcnow()).strftime('%Y%m%dT%H%M%SZ')}{SUFFIX[engine]}"


# -- PostgreSQL's tools -----------------------------------------------------------------------------

def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} not found: install PostgreSQL's client programs (Debian: postgresql-client)")
    return path


def _table_names() -> list[str]:
    """mpflow's tables (those of the newest schema, which include every older one's) and Alembic's."""
    return [t.name for t in reversed(Base.metadata.sorted_tables)] + ["alembic_version"]


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI without the password, and the environment that carries it."""
    u = make_url(engine_url(url))
    env = {**os.environ}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    conninfo = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return conninfo, env


def _run(argv: list[str], url: str, *, env: dict[str, str], input: bytes | None = None,
         timeout: float = 3600) -> subprocess.CompletedProcess:
    res = subprocess.run(argv, env=env, input=input, capture_output=True, timeout=timeout)
    if res.returncode != 0:
        said = next((ln for ln in res.stderr.decode(errors="replace").splitlines() if ln.strip()), "no output")
        raise BackupError(f"{Path(argv[0]).name} failed: {hide_password(said.strip(), url)}")
    return res


def _dump_revision(path: Path) -> str | None:
    """The schema revision recorded in a pg_dump archive (its alembic_version table's one row)."""
    res = subprocess.run([_tool("pg_restore"), "--data-only", "--table=alembic_version", "--file=-", str(path)],
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        raise BackupError(f"{path} is not a pg_dump archive pg_restore can read: "
                          f"{(res.stderr.strip().splitlines() or ['no output'])[0]}")
    lines = res.stdout.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("COPY ") and "alembic_version" in line and i + 1 < len(lines) and lines[i + 1] != "\\.":
            return lines[i + 1].strip()
    return None


def _sqlite_revision(path: Path) -> str | None:
    try:
        with closing(sqlite3.connect(_read_only(path), uri=True)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not {"alembic_version", "jobs", "models"} <= tables:
                return None
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} cannot be read as a SQLite database: {exc}") from None
    return row[0] if row else None


def check_backup(path: Path, engine: str) -> str:
    """The schema revision of the backup at ``path``, refused unless it is an mpflow jobs database of
    ``engine`` this mpflow can migrate (not newer)."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    kind = kind_of_file(path)
    if kind is None:
        raise BackupError(f"{path} is not a backup of a jobs database (neither SQLite nor a pg_dump archive)")
    if kind != engine:
        raise BackupError(f"{path} is a {kind} backup, but this project's jobs database is {engine}: "
                          "a backup is restored into the engine it was made from")
    revision = _sqlite_revision(path) if kind == "sqlite" else _dump_revision(path)
    if revision is None:
        raise BackupError(f"{path} holds no mpflow jobs database (no schema revision in it)")
    known = {s.revision for s in ScriptDirectory.from_config(_alembic_config(None)).walk_revisions()}
    if revision not in known:
        raise BackupError(f"{path} has schema {revision}, which this mpflow does not know "
                          f"(newest: {head_revision()}): it was made by a newer mpflow")
    return revision


# -- backup -----------------------------------------------------------------------------------------

def _counts(Session: sessionmaker) -> tuple[int, int, datetime | None]:
    with Session() as s:
        return (s.scalar(select(func.count()).select_from(Model)), s.scalar(select(func.count()).select_from(Job)),
                newest_record_time(s))


def backup_database(url: str, dest: Path) -> BackupInfo:
    """A consistent copy of the jobs database at ``url`` (as it is: not migrated) in the new file ``dest``."""
    engine = engine_of(url)
    if dest.exists():
        raise BackupError(f"{dest} exists: choose another name (a backup never overwrites a file)")
    if not dest.parent.is_dir():
        raise BackupError(f"{dest.parent}: no such folder")
    bind = make_engine(url)
    tmp = dest.with_name(f".{dest.name}.part")
    try:
        try:
            revision = current_revision(bind)
        except OperationalError as exc:
            raise DatabaseError(f"cannot open database {redact_url(url)}: {driver_message(exc.orig, url)}") from None
        if revision is None:
            raise BackupError(f"{redact_url(url)} holds no mpflow jobs database (no schema revision)")
        models, jobs, newest = _counts(sessionmaker(bind))
        if engine == "sqlite":
            _sqlite_copy(bind.url.database, tmp)
            with closing(sqlite3.connect(tmp)) as conn:  # one self-contained file, read without a -wal beside it
                conn.execute("PRAGMA journal_mode=DELETE")
        else:
            conninfo, env = _libpq(url)
            tables = [f"--table=public.{name}" for name in _table_names()]  # mpflow's, and what they own
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", *tables, f"--file={tmp}",
                  f"--dbname={conninfo}"], url, env=env)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
        bind.dispose()
    return BackupInfo(dest, engine, dest.stat().st_size, models, jobs, newest)


# -- restore ----------------------------------------------------------------------------------------

def _lease_sql(holder: str, expires: datetime) -> str:
    """The manager lease held by ``holder``, as the last statement of a restore's transaction."""
    return (f"INSERT INTO leases (name, holder, expires) VALUES ('{MANAGER_LEASE}', '{holder}', "
            f"'{expires.isoformat(sep=' ')}') ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
            "expires = excluded.expires;\n")


def _read_only(path: str | Path) -> str:
    """A URI opening a backup file read-only, leaving no -wal or -shm file beside it."""
    return f"file:{path}?mode=ro&immutable=1"


def _sqlite_copy(source: str | Path, dest: str | Path, *, read_only: bool = False) -> None:
    """SQLite's online backup API: ``source`` copied page by page into ``dest`` (made or replaced)."""
    with closing(sqlite3.connect(_read_only(source) if read_only else f"file:{source}", uri=True, timeout=60)) as src, \
            closing(sqlite3.connect(dest, timeout=60)) as dst:
        src.backup(dst)


def _restore_sqlite(url: str, path: Path, holder: str, expires: datetime) -> None:
    live = Path(make_url(url).database)
    staged = live.with_name(f".{live.name}.restore-{os.getpid()}")
    try:
        _sqlite_copy(path, staged, read_only=True)
        with closing(sqlite3.connect(staged)) as conn:
            conn.executescript(_lease_sql(holder, expires))
        _sqlite_copy(staged, live)  # the live database replaced at once, under its write lock
    finally:
        for suffix in ("", "-journal", "-wal", "-shm"):
            staged.with_name(staged.name + suffix).unlink(missing_ok=True)


def _restore_postgres(url: str, path: Path, holder: str, expires: datetime) -> None:
    conninfo, env = _libpq(url)
    tables = _table_names()
    sql = _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(path)], url, env=env).stdout
    script = (f"DROP TABLE IF EXISTS {', '.join(tables)} CASCADE;\n".encode() + sql
              + b"\nSET search_path = public;\n" + _lease_sql(holder, expires).encode())
    _run([_tool("psql"), "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
          f"--dbname={conninfo}"], url, env=env, input=script)


def restore_database(url: str, path: Path, *, clusters: Sequence[str], keep: Path,
                     wait_s: float = 120) -> RestoreReport:
    """Replace the jobs database at ``url`` with the backup at ``path``, keeping the database as it
    was in the new file ``keep`` first, and record a recovery of ``clusters`` for the next ticks."""
    engine = engine_of(url)
    revision = check_backup(path, engine)
    backup = BackupInfo(path, engine, path.stat().st_size)
    Session = open_database(url)
    try:
        with hold_lease(Session, MANAGER_LEASE, wait_s=wait_s, ttl_s=RESTORE_LEASE_S) as holder:
            kept = backup_database(url, keep)
            expires = utcnow() + timedelta(seconds=RESTORE_LEASE_S)
            Session.kw["bind"].dispose()  # no connection of ours in the way of the replacement
            try:
                (_restore_sqlite if engine == "sqlite" else _restore_postgres)(url, path, holder, expires)
            except BaseException:
                keep.unlink(missing_ok=True)  # nothing was replaced: nothing to keep
                raise
            Session = open_database(url)  # migrated to the newest schema if the backup is older
            with Session.begin() as s:
                since = newest_record_time(s)
                add_recovery(s, since=since or utcnow(), clusters=clusters, backup=str(path))
                record_events(s, [Transition(EventKind.RESTORED, None, None,
                                             why=f"restored from {path.name} (newest record {since}); "
                                                 f"the database before kept in {keep.name}")])
    except LeaseTaken:
        raise BackupError("a manager tick (or a models command) holds the manager lease: try again when it is "
                          "done, or pause the manager deployment") from None
    finally:
        Session.kw["bind"].dispose()
    return RestoreReport(backup, kept, revision, since, tuple(clusters))

