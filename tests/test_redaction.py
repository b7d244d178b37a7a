"""Issue 24, item 2: a database URL's password is masked in every message mpflow makes.

The drivers are really missing here (no psycopg2, no MySQLdb in the test environment), so the errors
are SQLAlchemy's own.
"""

from __future__ import annotations

import pytest
from projects import make_project
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.redaction import redact, redact_url
from mpflow.store.database import DatabaseError, open_database


@pytest.mark.parametrize("text,masked", [
    ("postgresql://u:SECRET@host/db", "postgresql://u:***@host/db"),
    ("postgresql+psycopg://u:p%40ss@host:5432/db", "postgresql+psycopg://u:***@host:5432/db"),
    ("mysql://u:p@ss@host/db", "mysql://u:***@host/db"),  # an unquoted '@' in the password
    ("cannot use 'mysql://u:SECRET@h/db' and postgresql://v:TOO@g/x now",
     "cannot use 'mysql://u:***@h/db' and postgresql://v:***@g/x now"),
    ("postgresql://u@host/db", "postgresql://u@host/db"),  # no password: nothing to mask
    ("sqlite:////tmp/x/jobs.db", "sqlite:////tmp/x/jobs.db"),
    ("http://127.0.0.1:4200/api", "http://127.0.0.1:4200/api"),  # a port is not a password
])
def test_redact_masks_the_password_of_every_url(text, masked):
    assert redact(text) == masked


@pytest.mark.parametrize("url", ["postgresql://u:SECRET@127.0.0.1/db", "mysql://u:SECRET@127.0.0.1/db"])
def test_a_missing_driver_does_not_print_the_password(url):
    with pytest.raises(DatabaseError) as info:
        open_database(url)
    message = str(info.value)
    assert "SECRET" not in message
    assert redact_url(url) in message and "No module named" in message


def test_commands_on_a_project_with_a_password_in_its_url_never_print_it(tmp_path):
    project = make_project(tmp_path / "p")
    project.update_file(lambda doc: doc["project"].__setitem__("database", "postgresql://u:SECRET@127.0.0.1/db"))
    for args in (["status"], ["models"], ["manage", "--once"], ["mutant", "list"], ["release"]):
        result = CliRunner().invoke(app, [*args, "--project", str(project.root)])
        assert result.exit_code == 2, (args, result.output)
        assert "SECRET" not in result.output, args
        [line] = result.output.strip().splitlines()
        assert line.startswith("error: database URL 'postgresql://u:***@127.0.0.1/db' cannot be used"), line


def test_a_project_database_that_is_no_url_is_refused_without_echoing_it(tmp_path):
    project = make_project(tmp_path / "p")
    text = project.file.read_text().replace('database = "sqlite:///mpflow.db"',
                                            'database = "u:SECRET@host/db"')
    project.file.write_text(text)
    result = CliRunner().invoke(app, ["status", "--project", str(project.root)])
    assert result.exit_code == 2
    assert "SECRET" not in result.output
    assert "project.database: is not a database URL" in result.output
