"""The jobs database on both engines for the tests: a fresh SQLite file, or a fresh database on the
test PostgreSQL (``scripts/test-services up``), per test.

One PostgreSQL server serves the whole session; each test gets its own database, copied from a
template the session migrates once (``CREATE DATABASE ... TEMPLATE`` copies files: a few tens of
milliseconds), and dropped afterwards. Database names carry their creation time, so what a killed
session left behind is dropped by a later one.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from mpflow.store.database import open_database

ENGINES = ("sqlite", "postgresql")
PREFIX = "mpt_"
STALE_S = 6 * 3600


class PostgresServer:
    """The test PostgreSQL as a role that may create databases: fresh ones, a migrated template."""

    def __init__(self, url: str):
        self.url: URL = make_url(url)
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self._template: str | None = None

    def check(self) -> None:
        with self.admin.connect() as conn:
            conn.execute(text("SELECT 1"))

    def url_of(self, database: str, driver: str = "psycopg") -> str:
        """The URL of ``database`` on this server, password included (``driver``: psycopg or asyncpg)."""
        return self.url.set(drivername=f"postgresql+{driver}", database=database).render_as_string(
            hide_password=False)

    def create(self, *, template: str | None = None, label: str = "db") -> str:
        """A new empty database (or a copy of ``template``); its name."""
        name = f"{PREFIX}{int(time.time())}_{label}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
        return name

    def drop(self, name: str, *, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with self.admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                return
            except OperationalError:  # a connection that was on its way out: try again
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def migrated_template(self) -> str:
        """A database at the newest schema, made once per session, to copy for each test."""
        if self._template is None:
            name = self.create(label="template")
            Session = open_database(self.url_of(name))
            Session.kw["bind"].dispose()  # no connection may stay open on a template
            self._template = name
        return self._template

    def drop_stale(self) -> None:
        """Drop the test databases older than a few hours (a killed session's)."""
        with self.admin.connect() as conn:
            names = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                 {"p": f"{PREFIX}%"}).scalars().all()
        for name in names:
            stamp = name.removeprefix(PREFIX).split("_", 1)[0]
            if stamp.isdigit() and time.time() - int(stamp) > STALE_S:
                self.drop(name)

    def close(self) -> None:
        if self._template is not None:
            self.drop(self._template)
        self.admin.dispose()
