"""`mpflow db backup|restore` as a user runs them, on both engines: what they print (never a password),
one line for bad input with nothing changed, and the database as it was kept by a restore."""

import os
from dataclasses import dataclass

from projects import make_project
from sqlalchemy import select
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.redaction import url_password
from mpflow.store.database import head_revision, open_database
from mpflow.store.records import add_model
from mpflow.store.schema import Model


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def _mpflow(*args, cwd) -> Ran:
    """``mpflow ARGS`` in the folder ``cwd``, in this process."""
    here = os.getcwd()
    os.chdir(cwd)
    try:
        res = CliRunner().invoke(app, list(args))
    finally:
        os.chdir(here)
    return Ran(res.exit_code, res.stdout, res.stderr)


def test_backup_then_restore_from_the_command_line(tmp_path, database_url):
    project = make_project(tmp_path / "p", name="p", database=database_url)
    Session = open_database(project.database_url)
    with Session.begin() as s:
        add_model(s, mutant="WT", group="None", name="m1")
    backups = tmp_path / "backups"
    backups.mkdir()
    res = _mpflow("db", "backup", str(backups), cwd=project.root)
    assert res.returncode == 0, res.stderr
    [backup] = list(backups.iterdir())
    assert backup.name.startswith("p-jobs-") and "1 model(s), 0 job(s)" in res.stdout
    again = _mpflow("db", "backup", str(backup), cwd=project.root)
    assert (again.returncode, again.stderr.strip()) == (1, f"error: {backup} exists: choose another name "
                                                           "(a backup never overwrites a file)")
    with Session.begin() as s:
        add_model(s, mutant="WT", group="None", name="m2")
    res = _mpflow("db", "restore", str(backup), cwd=project.root)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("restored ") and f"(schema {head_revision()}, the newest)" in lines[0]
    assert "the database as it was: " in lines[1] and "2 model(s)" in lines[1]
    assert "finds again the jobs submitted since" in lines[2] and lines[2].endswith(
        "on alpha, beta, and submits nothing until it has asked every one of them")
    with open_database(project.database_url)() as s:
        assert s.scalars(select(Model.name)).all() == ["m1"]
    password = url_password(database_url)
    for out in (res.stdout + res.stderr, again.stdout + again.stderr):
        assert password is None or password not in out
    kept = list((project.root / ".mpflow" / "backups").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("before-restore-p-jobs-")


def test_bad_input_is_one_line_and_changes_nothing(tmp_path, database_url):
    project = make_project(tmp_path / "p", name="p", database=database_url)
    Session = open_database(project.database_url)
    with Session.begin() as s:
        add_model(s, mutant="WT", group="None", name="m1")
    (tmp_path / "notes.txt").write_text("not a backup")
    for args, message in [
        (("db", "restore", str(tmp_path / "notes.txt")), "is not a backup of a jobs database"),
        (("db", "restore", str(tmp_path / "missing")), "no such file"),
        (("db", "backup", str(tmp_path / "no-folder" / "b.db")), "no such folder"),
    ]:
        res = _mpflow(*args, cwd=project.root)
        assert res.returncode == 1 and res.stdout == "", res.stdout
        assert res.stderr.count("\n") == 1 and message in res.stderr and "Traceback" not in res.stderr
    res = _mpflow("db", "backup", str(tmp_path / "x.db"), cwd=tmp_path)  # not a project
    assert res.returncode == 2 and res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    with open_database(project.database_url)() as s:
        assert s.scalars(select(Model.name)).all() == ["m1"]
    assert not (project.root / ".mpflow" / "backups").exists() or not any(
        (project.root / ".mpflow" / "backups").iterdir())
