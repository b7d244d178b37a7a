"""Database URLs lose their passwords before any message, log line or state file shows them."""

from mpflow.redaction import hide_password, redact_url, url_password


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
