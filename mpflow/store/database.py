"""Opening the jobs database and migrating it to the current schema.

SQLite (the default) runs in WAL mode with a busy timeout and foreign keys on; PostgreSQL is reached
with psycopg 3 (``postgresql://`` and ``postgres://`` URLs mean ``postgresql+psycopg://``). The schema
is created and changed only by Alembic migrations (``mpflow/store/migrations``), applied by
:func:`open_database` when the database is behind. No message says a URL's password
(``mpflow.redaction``).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import sessionmaker

from mpflow.redaction import hide_password, redact_url


class DatabaseError(Exception):
    """The database cannot be opened or migrated; one line saying what to fix."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


POSTGRES_SCHEMES = ("postgresql://", "postgres://")
POSTGRES_DRIVER = "postgresql+psycopg://"


def engine_url(url: str) -> str:
    """``url`` with PostgreSQL's driver made explicit (psycopg 3, the one mpflow installs)."""
    for scheme in POSTGRES_SCHEMES:
        if url.startswith(scheme):
            return POSTGRES_DRIVER + url.removeprefix(scheme)
    return url


def driver_message(text: str, url: str) -> str:
    """The first line of a driver's message, without the URL's password."""
    text = str(text).strip()
    return hide_password(text.splitlines()[0] if text else "", url)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys on every connection."""
    try:
        engine = create_engine(engine_url(url), future=True)
    except (ArgumentError, ImportError) as exc:
        raise DatabaseError(f"database URL {redact_url(url)!r} cannot be used: {driver_message(exc, url)}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        db_path = engine.url.database
        if db_path and db_path != ":memory:" and not Path(db_path).parent.is_dir():
            raise DatabaseError(f"database {redact_url(url)}: folder {Path(db_path).parent} does not exist")
    return engine


def _alembic_config(engine: Engine):
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(_alembic_config(None)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine) -> bool:
    """Bring the database to the newest schema; True when a migration ran."""
    if current_revision(engine) == head_revision():
        return False
    if inspect(engine).has_table("models") and current_revision(engine) is None:
        raise DatabaseError(f"{redact_url(str(engine.url))}: has mpflow tables but no migration record; "
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
            raise DatabaseError(f"{redact_url(url)}: schema is not current; run any mpflow command to migrate it")
    except OperationalError as exc:
        raise DatabaseError(f"cannot open database {redact_url(url)}: {driver_message(exc.orig, url)}") from None
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot open database {redact_url(url)}: {driver_message(exc, url)}") from None
    return sessionmaker(engine, expire_on_commit=False)
