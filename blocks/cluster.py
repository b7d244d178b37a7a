"""The Slurm cluster block: ``ClusterSettings`` as a Prefect Block, saved and edited in the UI.

Register the type with ``prefect block register -m mpflow.blocks.cluster``; save one block per
cluster (``SlurmCluster(...).save("alpha")``) and load it by name with :func:`load_cluster_block`,
which says in one line what to do when there is no Prefect server or no such block (it never lets
Prefect start a throw-away ephemeral server), and opens a project with its clusters read from the
blocks (:func:`open_project`: the source the core's ``Project`` is given). Secrets (key text, passphrase, password) are
``SecretStr`` fields: Prefect stores them encrypted and never shows them.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from prefect.blocks.core import Block
from prefect.settings import PREFECT_API_URL
from pydantic import ValidationError

from mpflow.clusters.settings import ClusterSettings, validation_message
from mpflow.clusters.transport import LocalTransport, SSHTransport, open_transport
from mpflow.project.file import Project, ProjectError

NO_SERVER = "no Prefect server for this project: start one with mpflow server start"


class SlurmCluster(Block, ClusterSettings):
    """One Slurm cluster mpflow submits to: how to reach it and what its job scripts need."""

    _block_type_name = "mpflow Slurm cluster"
    _block_type_slug = "mpflow-slurm-cluster"
    _description = ("A Slurm cluster for mpflow: login node (local or SSH), workdir, environment, "
                    "job-script templates and limits.")
    _documentation_url = None

    def settings(self) -> ClusterSettings:
        """The plain settings (no Prefect) that the core functions take."""
        return ClusterSettings.model_validate({k: getattr(self, k) for k in ClusterSettings.model_fields})

    def transport(self) -> LocalTransport | SSHTransport:
        return open_transport(self.settings())


def prefect_api_url() -> str:
    """The Prefect API mpflow should use, or ``ProjectError`` saying how to start one.

    Without an API URL Prefect would start an ephemeral server of its own (tens of seconds, and
    "database is locked" tracebacks when another process holds its SQLite file); mpflow refuses instead.
    """
    url = PREFECT_API_URL.value()
    if not url:
        raise ProjectError(NO_SERVER)
    return url


def load_cluster_block(name: str) -> ClusterSettings:
    """The settings saved in the ``mpflow-slurm-cluster`` block ``name``; ``ProjectError`` (one line) if
    there is no Prefect server, it does not answer, or it has no such block."""
    url = prefect_api_url()
    try:
        return SlurmCluster.load(name).settings()
    except RuntimeError as exc:  # Prefect's "failed validation": saved before a check existed, or edited by hand
        if isinstance(exc.__cause__, ValidationError):
            raise ProjectError(f"cluster block {name!r} has invalid settings: "
                               f"{validation_message(exc.__cause__)}") from None
        raise
    except ValidationError as exc:
        raise ProjectError(f"cluster block {name!r} has invalid settings: {validation_message(exc)}") from None
    except ValueError as exc:  # Prefect's "Unable to find block document named ..."
        if "Unable to find block" not in str(exc):
            raise
        raise ProjectError(f"no {SlurmCluster.get_block_type_slug()} block named {name!r} on the Prefect "
                           f"server at {url}: save one in the UI or with `mpflow cluster register-dev`") from None
    except (httpx.TransportError, OSError) as exc:
        raise ProjectError(f"the Prefect server at {url} does not answer ({exc}): start it with "
                           f"mpflow server start") from None


def open_project(folder: str | Path | None = None) -> Project:
    """The project at ``folder`` (default: ``$MPFLOW_PROJECT``, else the current directory), its
    clusters read from this server's ``mpflow-slurm-cluster`` blocks when its file says so."""
    return Project.locate(folder, cluster_source=load_cluster_block)
