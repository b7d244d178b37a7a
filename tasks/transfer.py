"""Prefect task for moving files between clusters: one task run per tree, verified and atomic.

The work is ``mpflow.transfer.transfer_tree``; retries only for an unreachable cluster or a
command timeout (a corrupt copy is already retried inside, file by file).
"""

from __future__ import annotations

from typing import Sequence

from prefect import get_run_logger, task

from mpflow.clusters import ClusterSettings
from mpflow.tasks.slurm import RETRY, plain_settings
from mpflow.transfer import Action, TransferResult, transfer_tree
from mpflow.transport import open_transport


@task(name="transfer-tree", task_run_name="transfer-{src.name}-to-{dst.name}", **RETRY)
def transfer_files(src: ClusterSettings, src_dir: str, dst: ClusterSettings, dst_dir: str, *,
                   include: Sequence[str] = (), exclude: Sequence[str] = (), parallel: int = 4
                   ) -> list[TransferResult]:
    with open_transport(plain_settings(src)) as s, open_transport(plain_settings(dst)) as d:
        results = transfer_tree(s, src_dir, d, dst_dir, include=include, exclude=exclude, parallel=parallel)
    copied = [r for r in results if r.action is Action.COPIED]
    get_run_logger().info("%s → %s: %d file(s) copied (%d bytes), %d already identical", src.name, dst.name,
                          len(copied), sum(r.bytes for r in copied), len(results) - len(copied))
    return results
