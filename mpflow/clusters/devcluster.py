"""The dev clusters' connection file: where it is, its format version, and reading it.

``scripts/devcluster up`` writes the file; the tests and ``mpflow demo`` read it. Both take its
location and format version from this module, the one place they are defined. The dev clusters
stand in for a user's real clusters; library code never refers to them.

Only the standard library is imported: ``scripts/devcluster`` imports this module before any virtual
environment exists. The clusters' ``ClusterSettings`` are read from the file by
``mpflow.clusters.settings.dev_cluster_settings``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

STATE_DIR_ENV = "MPFLOW_DEVCLUSTER_DIR"
"""Moves the dev clusters' whole state folder (daemon state, keys, the connection file)."""
CONNECTION_FILE_ENV = "MPFLOW_DEVCLUSTER_FILE"
"""Points at a connection file elsewhere (read side only)."""
DEFAULT_STATE_DIR = "/var/lib/mpflow-devcluster"
"""Outside any checkout, so every clone finds the same clusters."""
CONNECTION_FILE_NAME = "connection.json"
FORMAT_VERSION = 1
"""Bump when the connection file's keys change; readers refuse other versions."""
FORMAT_KEY = "format_version"


class DevClusterNotFound(FileNotFoundError):
    """The dev clusters are not set up (no connection file, or one this mpflow cannot read)."""


class DevClusterFormatError(DevClusterNotFound):
    """The connection file was written by another version of scripts/devcluster."""


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or DEFAULT_STATE_DIR)


def connection_file_path() -> Path:
    """``$MPFLOW_DEVCLUSTER_FILE``, else ``connection.json`` in the state folder."""
    return Path(os.environ.get(CONNECTION_FILE_ENV) or state_dir() / CONNECTION_FILE_NAME)


def find_connection_file() -> Path:
    path = connection_file_path()
    if not path.exists():
        raise DevClusterNotFound(f"no dev-cluster connection file at {path}: run `scripts/devcluster up` first")
    return path


def load_connection(path: Path | None = None) -> dict:
    """The connection file's content, after checking its format version."""
    path = path or find_connection_file()
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DevClusterNotFound(f"cannot read the dev-cluster connection file {path}: {exc}") from exc
    found = doc.get(FORMAT_KEY) if isinstance(doc, dict) else None
    if found != FORMAT_VERSION:
        raise DevClusterFormatError(f"dev-cluster connection file {path} has {FORMAT_KEY} {found!r}, this mpflow "
                                    f"reads {FORMAT_VERSION}: run `scripts/devcluster up` to rewrite it")
    return doc


def dev_cluster_info(name: str, path: Path | None = None) -> dict:
    """The raw connection-file entry of one dev cluster (slurm_conf, accounting, node ...)."""
    for c in load_connection(path)["clusters"]:
        if c["name"] == name:
            return c
    raise KeyError(name)
