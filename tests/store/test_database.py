"""The jobs database on SQLite and PostgreSQL: created by its migrations (which go down and up again),
SQLite in WAL mode, constraints enforced, clear one-line errors for bad URLs that never show a password."""

import sqlite3

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from mpflow.store.database import (
    DatabaseError,
    _alembic_config,
    current_revision,
    engine_url,
    head_revision,
    make_engine,
    open_database,
)
from mpflow.store.schema import Base, Job, Model

TABLES = {"models", "model_stages", "jobs", "events", "leases"}


def test_a_new_database_is_migrated_to_the_head(blank_database_url):
    Session = open_database(blank_database_url)
    engine = Session.kw["bind"]
    assert current_revision(engine) == head_revision()
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_the_migrations_go_down_to_nothing_and_up_again_to_the_schema_of_the_code(blank_database_url):
    engine = make_engine(blank_database_url)
    cfg = _alembic_config(engine)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    command.upgrade(cfg, "head")
    insp = inspect(engine)
    for table in Base.metadata.sorted_tables:  # every column the code declares, as the migrations made it
        assert {c["name"] for c in insp.get_columns(table.name)} == {c.name for c in table.columns}, table.name
    engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    open_database(f"sqlite:///{tmp_path / 'jobs.db'}")
    with sqlite3.connect(tmp_path / "jobs.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_reopening_runs_no_migration_and_keeps_rows(database_url):
    Session = open_database(database_url)
    with Session.begin() as s:
        m = Model(mutant="WT", group="None", name="m1")
        s.add(m)
        s.flush()
        s.add(Job(model_id=m.id, stage="emmd", cluster="alpha", attempt=1, token="tok-0001"))
    Session2 = open_database(database_url)
    with Session2() as s:
        assert s.scalars(select(Job.token)).all() == ["tok-0001"]


def test_the_same_attempt_cannot_be_recorded_twice(database_url):
    Session = open_database(database_url)
    with pytest.raises(IntegrityError):
        with Session.begin() as s:
            m = Model(mutant="WT", name="m1")
            s.add(m)
            s.flush()
            s.add_all([Job(model_id=m.id, stage="emmd", cluster="alpha", attempt=1, token="tok-a"),
                       Job(model_id=m.id, stage="emmd", cluster="alpha", attempt=1, token="tok-b")])


def test_postgres_urls_use_psycopg():
    assert engine_url("postgresql://u@db/jobs") == "postgresql+psycopg://u@db/jobs"
    assert engine_url("postgres://u@db/jobs") == "postgresql+psycopg://u@db/jobs"
    assert engine_url("postgresql+psycopg://u@db/jobs") == "postgresql+psycopg://u@db/jobs"
    assert engine_url("sqlite:////x/jobs.db") == "sqlite:////x/jobs.db"


@pytest.mark.parametrize("url,message", [
    ("nosuchdb://x", "cannot be used"),
    ("sqlite:////nonexistent-folder-xyz/jobs.db", "does not exist"),
    ("postgresql://u:s3cret-pw@127.0.0.1:1/db", "cannot open database postgresql://u:***@127.0.0.1:1/db"),
    ("postgresql+nosuchdriver://u:s3cret-pw@127.0.0.1:1/db", "cannot be used"),
])
def test_an_unusable_url_is_a_one_line_error_without_its_password(url, message):
    with pytest.raises(DatabaseError) as info:
        open_database(url)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "s3cret-pw" not in str(info.value)


def test_a_wrong_password_is_refused_in_one_line_that_does_not_show_it(postgres):
    url = postgres.url.set(password="not-the-password").render_as_string(hide_password=False)
    with pytest.raises(DatabaseError) as info:
        open_database(url)
    assert "password authentication failed" in str(info.value)
    assert "not-the-password" not in str(info.value) and "\n" not in str(info.value)


def test_a_foreign_database_is_not_migrated_over(blank_database_url):
    engine = make_engine(blank_database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE models (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(DatabaseError, match="not created by mpflow"):
        open_database(blank_database_url)


def test_a_database_of_the_first_schema_gets_the_clusters_table_and_keeps_its_rows(tmp_path):
    """Migration 0002 (issue 24, items 1 and 11): a project's database from before the clusters
    table is upgraded when opened, nothing lost."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine = make_engine(url)
    command.upgrade(_alembic_config(engine), "0001")
    assert "clusters" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO models (mutant, group_name, name, status, created, updated) "
                             "VALUES ('WT', 'None', 'm1', 'ok', '2026-11-26', '2026-11-26')")
    engine.dispose()
    Session = open_database(url)
    assert current_revision(Session.kw["bind"]) == head_revision()
    assert {"clusters", "cluster_sites"} <= set(inspect(Session.kw["bind"]).get_table_names())
    with Session() as s:
        assert s.scalars(select(Model.name)).all() == ["m1"]


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
    assert current_revision(Session.kw["bind"]) == head_revision()
