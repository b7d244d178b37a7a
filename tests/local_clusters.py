"""Two local (no SSH, no Slurm) clusters, alpha and beta, for tests of project and database logic."""

from __future__ import annotations

import json
from pathlib import Path

from mpflow.clusters.devcluster import CONNECTION_FILE_ENV


def use_local_clusters(tmp_path: Path, monkeypatch) -> Path:
    """Write a connection file naming alpha (the master) and beta with workdirs under ``tmp_path``,
    point ``MPFLOW_DEVCLUSTER_FILE`` at it for the test, and return its path."""
    entries = []
    for name in ("alpha", "beta"):
        workdir = tmp_path / name / "mpflow-work"
        workdir.mkdir(parents=True)
        entries.append({"name": name, "kind": "local", "host": "127.0.0.1", "port": 22, "user": "tester",
                        "slurm_conf": str(tmp_path / name / "slurm.conf"), "workdir": str(workdir),
                        "partition": "cpu"})
    doc = {"format_version": 1, "user": "tester", "key_path": None, "known_hosts": None, "clusters": entries}
    path = tmp_path / "connection.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setenv(CONNECTION_FILE_ENV, str(path))
    return path
