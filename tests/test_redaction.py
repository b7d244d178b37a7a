"""Issue 24, item 2: a database URL's password is masked in every message mpflow makes.

The drivers are really missing here (no psycopg2, no MySQLdb in the test environment), so the errors
are SQLAlchemy's own.
"""

from __future__ import annotations

import pytest
from projects import make_project
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.redaction import hide_password, redact, redact_url, url_password
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


# psycopg is installed (the jobs database on PostgreSQL); pg8000 and the MySQL drivers are not
@pytest.mark.parametrize("url", ["postgresql+pg8000://u:SECRET@127.0.0.1/db", "mysql://u:SECRET@127.0.0.1/db"])
def test_a_missing_driver_does_not_print_the_password(url):
    with pytest.raises(DatabaseError) as info:
        open_database(url)
    message = str(info.value)
    assert "SECRET" not in message
    assert redact_url(url) in message and "No module named" in message


def test_a_refused_connection_does_not_print_the_password():
    url = "postgresql://u:SECRET@127.0.0.1:1/db"  # nothing listens on port 1
    with pytest.raises(DatabaseError) as info:
        open_database(url)
    message = str(info.value)
    assert "SECRET" not in message
    assert message.startswith(f"cannot open database {redact_url(url)}: connection failed"), message


@pytest.mark.parametrize("url, first_words", [
    ("postgresql+pg8000://u:SECRET@127.0.0.1/db", "error: database URL 'postgresql+pg8000://u:***@127.0.0.1/db' cannot be used"),
    ("postgresql://u:SECRET@127.0.0.1:1/db", "error: cannot open database postgresql://u:***@127.0.0.1:1/db: connection failed"),
])
def test_commands_on_a_project_with_a_password_in_its_url_never_print_it(tmp_path, url, first_words):
    project = make_project(tmp_path / "p")
    project.update_file(lambda doc: doc["project"].__setitem__("database", url))
    for args in (["status"], ["models"], ["manage", "--once"], ["mutant", "list"], ["release"]):
        result = CliRunner().invoke(app, [*args, "--project", str(project.root)])
        assert result.exit_code == 2, (args, result.output)
        assert "SECRET" not in result.output, args
        [line] = result.output.strip().splitlines()
        assert line.startswith(first_words), line


def test_a_project_database_that_is_no_url_is_refused_without_echoing_it(tmp_path):
    project = make_project(tmp_path / "p")
    text = project.file.read_text().replace('database = "sqlite:///mpflow.db"',
                                            'database = "u:SECRET@host/db"')
    project.file.write_text(text)
    result = CliRunner().invoke(app, ["status", "--project", str(project.root)])
    assert result.exit_code == 2
    assert "SECRET" not in result.output
    assert "project.database: is not a database URL" in result.output


def test_a_url_loses_its_password_and_nothing_else():
    assert redact_url("postgresql+asyncpg://u:secret@db:5432/prefect") == "postgresql+asyncpg://u:***@db:5432/prefect"
    assert redact_url("postgresql://u:p%40ss@db/jobs?sslmode=require") == "postgresql://u:***@db/jobs?sslmode=require"
    assert redact_url("postgresql://u@db/jobs") == "postgresql://u@db/jobs"  # no password (~/.pgpass)
    assert redact_url("sqlite+aiosqlite:////x/prefect.db") == "sqlite+aiosqlite:////x/prefect.db"
    assert url_password("postgresql://u:secret@db/jobs") == "secret" and url_password("sqlite:///x.db") is None


def test_a_message_loses_the_password_as_written_and_decoded():
    url = "postgresql://u:p%40ss@db/jobs"
    assert hide_password("auth failed for p%40ss (p@ss)", url) == "auth failed for *** (***)"
    assert hide_password("nothing to hide", "sqlite:///x.db") == "nothing to hide"
