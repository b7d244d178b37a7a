"""The Slurm cluster block: ``ClusterSettings`` as a Prefect Block, saved and edited in the UI.

Register the type with ``prefect block register -m mpflow.blocks.cluster``; save one block per
cluster (``SlurmCluster(...).save("alpha")``) and load it by name in flows. Secrets (key text,
passphrase, password) are ``SecretStr`` fields: Prefect stores them encrypted and never shows them.
"""

from __future__ import annotations

from prefect.blocks.core import Block

from mpflow.clusters import ClusterSettings
from mpflow.transport import LocalTransport, SSHTransport, open_transport


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
