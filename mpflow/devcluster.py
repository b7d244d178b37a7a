"""Reading the dev clusters' connection file (written by ``scripts/devcluster up``).

The dev clusters stand in for a user's real clusters in the tests and the demo; library code never
refers to them. This module only turns the connection file into ``ClusterSettings``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mpflow.clusters import ClusterSettings

CONNECTION_FILE_ENV = "MPFLOW_DEVCLUSTER_FILE"


class DevClusterNotFound(FileNotFoundError):
    pass


DEFAULT_STATE_DIR = "/var/lib/mpflow-devcluster"  # scripts/devcluster's default


def find_connection_file() -> Path:
    """``$MPFLOW_DEVCLUSTER_FILE``, else ``connection.json`` in ``$MPFLOW_DEVCLUSTER_DIR`` or the
    dev-cluster script's default state folder."""
    path = Path(os.environ.get(CONNECTION_FILE_ENV)
                or Path(os.environ.get("MPFLOW_DEVCLUSTER_DIR", DEFAULT_STATE_DIR)) / "connection.json")
    if not path.exists():
        raise DevClusterNotFound(f"no dev-cluster connection file at {path}: run `scripts/devcluster up` first")
    return path


def load_connection(path: Path | None = None) -> dict:
    return json.loads((path or find_connection_file()).read_text())


def dev_cluster_settings(path: Path | None = None) -> list[ClusterSettings]:
    """Settings of the dev clusters, master first. A local cluster gets ``SLURM_CONF`` in its env;
    a remote one gets it from its login node's sshd, as a real cluster would."""
    doc = load_connection(path)
    settings = []
    for c in doc["clusters"]:
        local = c["kind"] == "local"
        settings.append(ClusterSettings(
            name=c["name"], kind=c["kind"], host=c["host"], port=c["port"], user=c["user"],
            key_path=doc["key_path"], known_hosts=doc["known_hosts"], workdir=c["workdir"],
            env={"SLURM_CONF": c["slurm_conf"]} if local else {}, partition=c["partition"],
        ))
    return settings


def dev_cluster_info(name: str, path: Path | None = None) -> dict:
    """The raw connection-file entry of one dev cluster (slurm_conf, accounting, node ...)."""
    for c in load_connection(path)["clusters"]:
        if c["name"] == name:
            return c
    raise KeyError(name)
