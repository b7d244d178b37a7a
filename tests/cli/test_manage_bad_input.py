"""`mpflow manage --once` with bad input: one line, a non-zero exit, and nothing in the database changed."""

from __future__ import annotations

import json
import sqlite3

import pytest
from local_clusters import use_local_clusters
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.project.file import PROJECT_FILE, Project
from mpflow.store.database import open_database
from mpflow.store.records import add_model
from mpflow.tags import NO_GROUP

GOOD = '''[clusters]
source = "dev"
names = ["alpha", "beta"]

[stages.probe]
kind = "script"
commands = ["true"]
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    use_local_clusters(tmp_path, monkeypatch)
    root = tmp_path / "proj"
    root.mkdir()
    (root / PROJECT_FILE).write_text(GOOD)
    Session = open_database(Project.load(root).database_url)
    with Session.begin() as s:
        add_model(s, mutant="WT", group=NO_GROUP, name="m1")
    Session.kw["bind"].dispose()
    return root


def _dump(root) -> list[str]:
    with sqlite3.connect(root / "mpflow.db") as conn:
        return list(conn.iterdump())


@pytest.mark.parametrize("text,message", [
    (GOOD.replace('"beta"', '"gamma"'), "clusters.names: no dev cluster 'gamma' (the dev clusters are alpha, beta)"),
    (GOOD + "[manager]\nintervl_s = 3\n", "manager.intervl_s: unknown key (a typo?)"),
    (GOOD.replace('commands = ["true"]\n', ""), "stages.probe: names no template: set commands"),
    (GOOD.replace("[clusters]", '[project]\ndatabase = "sqlite:////no-such-folder-x/jobs.db"\n\n[clusters]'),
     "folder /no-such-folder-x does not exist"),
])
def test_bad_project_is_one_line_and_changes_nothing(project, text, message):
    before = _dump(project)
    (project / PROJECT_FILE).write_text(text)
    result = CliRunner().invoke(app, ["manage", "--once", "--project", str(project)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.output
    assert _dump(project) == before


def test_status_json_has_every_field_the_issue_names(project):
    result = CliRunner().invoke(app, ["status", "--json", "--project", str(project)])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert {"model", "mutant", "group", "name", "stage", "state", "reason", "clusters"} <= set(row)
    assert (row["mutant"], row["name"], row["stage"], row["state"], row["clusters"]) == ("WT", "m1", "probe",
                                                                                        "waiting", {})
