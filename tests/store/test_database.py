"""The jobs database: created by its migration, SQLite in WAL mode, clear errors for bad URLs."""

import sqlite3

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from mpflow.store.database import (
    DatabaseError,
    _alembic_config,
    current_revision,
    head_revision,
    make_engine,
    open_database,
)
from mpflow.store.schema import Base, Job, Model


def test_a_new_database_is_migrated_to_the_head_and_in_wal_mode(tmp_path):
    Session = open_database(f"sqlite:///{tmp_path / 'jobs.db'}")
    engine = Session.kw["bind"]
    assert current_revision(engine) == head_revision()
    assert {"models", "model_stages", "jobs", "events", "leases"} <= set(inspect(engine).get_table_names())
    with sqlite3.connect(tmp_path / "jobs.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_runs_no_migration_and_keeps_rows(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    Session = open_database(url)
    with Session.begin() as s:
        m = Model(mutant="WT", group="None", name="m1")
        s.add(m)
        s.flush()
        s.add(Job(model_id=m.id, stage="emmd", cluster="alpha", attempt=1, token="tok-0001"))
    Session2 = open_database(url)
    with Session2() as s:
        assert s.scalars(select(Job.token)).all() == ["tok-0001"]


def test_the_same_attempt_cannot_be_recorded_twice(tmp_path):
    from sqlalchemy.exc import IntegrityError

    Session = open_database(f"sqlite:///{tmp_path / 'jobs.db'}")
    with pytest.raises(IntegrityError):
        with Session.begin() as s:
            m = Model(mutant="WT", name="m1")
            s.add(m)
            s.flush()
            s.add_all([Job(model_id=m.id, stage="emmd", cluster="alpha", attempt=1, token="tok-a"),
                       Job(model_id=m.id, stage="emmd", cluster="alpha", attempt=1, token="tok-b")])


@pytest.mark.parametrize("url,message", [
    ("nosuchdb://x", "cannot be used"),
    ("sqlite:////nonexistent-folder-xyz/jobs.db", "does not exist"),
    ("postgresql://u:p@127.0.0.1:1/db", "cannot"),
])
def test_an_unusable_url_is_a_one_line_error(url, message):
    with pytest.raises(DatabaseError) as info:
        open_database(url)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_foreign_database_is_not_migrated_over(tmp_path):
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE models (id INTEGER PRIMARY KEY)")
    with pytest.raises(DatabaseError, match="not created by mpflow"):
        open_database(f"sqlite:///{path}")


def test_the_migrations_make_exactly_the_schema(tmp_path):
    engine = open_database(f"sqlite:///{tmp_path / 'jobs.db'}").kw["bind"]
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_a_database_of_the_first_schema_is_migrated_with_its_rows(tmp_path):
    """A project's jobs.db from before job progress (revision 0001) opens with its rows kept."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = make_engine(url)
    command.upgrade(_alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO models (id, mutant, group_name, name, status, created, updated) "
                             "VALUES (1, 'WT', 'None', 'm1', 'ok', '2026-01-01', '2026-01-01')")
        conn.exec_driver_sql("INSERT INTO jobs (model_id, stage, cluster, attempt, state, token, counted, continuation, "
                             "cpus, submitted, updated) VALUES (1, 'urmd', 'beta', 1, 'R', 'tok-1', 0, 0, 1, "
                             "'2026-01-01', '2026-01-01')")
    engine.dispose()
    Session = open_database(url)
    with Session() as s:
        assert s.execute(select(Job.token, Job.progress)).all() == [("tok-1", None)]
    assert current_revision(Session.kw["bind"]) == head_revision() == "0002"
