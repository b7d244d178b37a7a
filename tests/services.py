"""Where the test services (``scripts/test-services``) say how to reach them: the one place that
defines the state folder, the connection file's name and its format version.

Standard library only: ``scripts/test-services`` imports this module before any virtual environment
exists. The tests and the tick benchmark read the PostgreSQL URL through :func:`postgres_url`;
``MPFLOW_TEST_POSTGRES_URL`` names another server instead (a developer's own).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STATE_ENV = "MPFLOW_TEST_SERVICES_DIR"
DEFAULT_STATE_DIR = "/var/lib/mpflow-test-services"  # outside any checkout: every clone finds the same server
CONNECTION_FILE_NAME = "services.json"
FORMAT_KEY = "format"
FORMAT_VERSION = 1
URL_ENV = "MPFLOW_TEST_POSTGRES_URL"


class ServicesNotFound(RuntimeError):
    """The test services are not up (or their connection file is of another format)."""


def state_dir() -> Path:
    return Path(os.environ.get(STATE_ENV) or DEFAULT_STATE_DIR)


def connection_file() -> Path:
    return state_dir() / CONNECTION_FILE_NAME


def postgres_url() -> str:
    """The SQLAlchemy URL (psycopg driver) of the test PostgreSQL's own database, whose role may
    create databases."""
    if os.environ.get(URL_ENV):
        return os.environ[URL_ENV]
    path = connection_file()
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise ServicesNotFound(f"no {path}: run `scripts/test-services up` (as root)") from None
    except (OSError, ValueError) as exc:
        raise ServicesNotFound(f"{path} cannot be read ({exc}): run `scripts/test-services up`") from None
    if doc.get(FORMAT_KEY) != FORMAT_VERSION:
        raise ServicesNotFound(f"{path} has format {doc.get(FORMAT_KEY)!r}, this checkout reads {FORMAT_VERSION}: "
                               "run `scripts/test-services up`")
    return doc["postgres"]["url"]
