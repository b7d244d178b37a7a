"""Backups of the jobs database on SQLite and PostgreSQL: a backup restored gives back the database as
it was (the one before kept), an older schema is migrated, the restore records a recovery for the
ticks and leaves the lease free; a bad file is refused in one line with nothing changed."""

import sqlite3

import pytest
from alembic import command
from sqlalchemy import func, select, text

from mpflow.store.backups import (
    BackupError,
    backup_database,
    check_backup,
    kind_of_file,
    restore_database,
)
from mpflow.store.database import (
    _alembic_config,
    current_revision,
    head_revision,
    make_engine,
    open_database,
)
from mpflow.store.leases import acquire_lease, lease_holder, release_lease
from mpflow.store.records import add_model, open_recovery
from mpflow.store.schema import Event, Job, Lease, Model

SUFFIX = {"sqlite": ".db", "postgresql": ".pgdump"}


def _engine(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _add(Session, *names: str) -> None:
    with Session.begin() as s:
        for n in names:
            mid = add_model(s, mutant="WT", group="None", name=n)
            s.add(Job(model_id=mid, stage="emmd", cluster="alpha", attempt=1, token=f"tok-{n}", slurm_id="7"))


def _names(Session) -> list[str]:
    with Session() as s:
        return sorted(s.scalars(select(Model.name)))


def test_a_backup_restored_gives_back_the_database_as_it_was_and_keeps_the_newer_one(database_url, tmp_path):
    S = open_database(database_url)
    _add(S, "m1", "m2")
    backup = tmp_path / f"b{SUFFIX[_engine(database_url)]}"
    info = backup_database(database_url, backup)
    assert (info.models, info.jobs, kind_of_file(backup)) == (2, 2, _engine(database_url))
    _add(S, "m3")  # after the backup
    keep = tmp_path / f"kept{backup.suffix}"
    report = restore_database(database_url, backup, clusters=["alpha", "beta"], keep=keep)
    S = open_database(database_url)
    assert _names(S) == ["m1", "m2"]
    with S() as s:
        assert sorted(s.scalars(select(Job.token))) == ["tok-m1", "tok-m2"]
        rec = open_recovery(s)
        assert rec.pending == ("alpha", "beta") and rec.since == report.since == info.newest
        assert s.scalar(select(Lease.holder).where(Lease.name == "manager")) is None  # free for the next tick
        assert s.scalars(select(Event.kind)).all()[-1] == "restored"
    assert (report.kept.models, report.kept.jobs) == (3, 3)
    # the one kept restores too: nothing was lost
    restore_database(database_url, keep, clusters=["alpha"], keep=tmp_path / f"kept2{backup.suffix}")
    assert _names(open_database(database_url)) == ["m1", "m2", "m3"]


def test_new_rows_after_a_restore_get_new_ids(database_url, tmp_path):
    S = open_database(database_url)
    _add(S, "m1", "m2")
    backup = tmp_path / f"b{SUFFIX[_engine(database_url)]}"
    backup_database(database_url, backup)
    restore_database(database_url, backup, clusters=["alpha"], keep=tmp_path / f"k{backup.suffix}")
    S = open_database(database_url)
    _add(S, "m3")  # the id sequences came back with the rows
    with S() as s:
        assert s.scalar(select(func.count(func.distinct(Model.id)))) == 3


def test_a_backup_of_an_older_schema_is_migrated_when_restored(blank_database_url, tmp_path):
    engine = make_engine(blank_database_url)
    command.upgrade(_alembic_config(engine), "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO models (mutant, group_name, name, status, created, updated) "
                          "VALUES ('WT', 'None', 'old', 'ok', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
    engine.dispose()
    backup = tmp_path / f"old{SUFFIX[_engine(blank_database_url)]}"
    backup_database(blank_database_url, backup)
    assert check_backup(backup, _engine(blank_database_url)) == "0001"
    open_database(blank_database_url).kw["bind"].dispose()  # the live one at the newest schema
    report = restore_database(blank_database_url, backup, clusters=["alpha"],
                              keep=tmp_path / f"k{backup.suffix}")
    S = open_database(blank_database_url)
    assert report.revision == "0001" and current_revision(S.kw["bind"]) == head_revision()
    assert _names(S) == ["old"]
    with S() as s:
        assert open_recovery(s).pending == ("alpha",)


def _row_counts(url):
    with open_database(url)() as s:
        return s.scalar(select(func.count()).select_from(Model)), s.scalar(select(func.count()).select_from(Job))


def test_a_file_that_is_no_backup_of_this_engine_is_refused_and_nothing_changes(database_url, tmp_path):
    S = open_database(database_url)
    _add(S, "m1")
    not_a_backup = tmp_path / "notes.txt"
    not_a_backup.write_text("hello")
    other = tmp_path / "other.db" if _engine(database_url) == "postgresql" else tmp_path / "other.pgdump"
    other.write_bytes(b"PGDMP" if other.suffix == ".pgdump" else b"SQLite format 3\x00" + b"\x00" * 100)
    newer = tmp_path / "newer.db"
    with sqlite3.connect(newer) as conn:
        conn.executescript("CREATE TABLE alembic_version (version_num TEXT); INSERT INTO alembic_version "
                           "VALUES ('9999'); CREATE TABLE models (id INTEGER); CREATE TABLE jobs (id INTEGER);")
    cases = [(tmp_path / "missing.db", "no such file"), (not_a_backup, "is not a backup of a jobs database"),
             (other, "a backup is restored into the engine it was made from")]
    if _engine(database_url) == "sqlite":
        cases.append((newer, "made by a newer mpflow"))
    for path, message in cases:
        with pytest.raises(BackupError) as info:
            restore_database(database_url, path, clusters=["alpha"], keep=tmp_path / "keep")
        assert message in str(info.value) and "\n" not in str(info.value)
        assert not (tmp_path / "keep").exists()
    assert _row_counts(database_url) == (1, 1)


def test_a_backup_never_overwrites_a_file(database_url, tmp_path):
    open_database(database_url)
    existing = tmp_path / "b.db"
    existing.write_text("precious")
    with pytest.raises(BackupError, match="exists: choose another name"):
        backup_database(database_url, existing)
    assert existing.read_text() == "precious"


def test_a_restore_waits_for_no_tick_and_refuses_while_one_holds_the_lease(database_url, tmp_path):
    S = open_database(database_url)
    _add(S, "m1")
    backup = tmp_path / f"b{SUFFIX[_engine(database_url)]}"
    backup_database(database_url, backup)
    _add(S, "m2")
    tick = lease_holder()
    assert acquire_lease(S, "manager", tick, 600)
    with pytest.raises(BackupError, match="holds the manager lease"):
        restore_database(database_url, backup, clusters=["alpha"], keep=tmp_path / "keep", wait_s=0.5)
    assert _names(S) == ["m1", "m2"] and not (tmp_path / "keep").exists()
    release_lease(S, "manager", tick)
