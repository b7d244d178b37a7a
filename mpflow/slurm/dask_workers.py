"""A Dask cluster whose workers are Slurm jobs of one mpflow cluster (dask-jobqueue), for analysis.

This module owns the translation of a :class:`mpflow.clusters.settings.ClusterSettings` into
dask-jobqueue's ``SLURMCluster`` arguments.  The cluster's ``env`` (e.g. ``SLURM_CONF``) must reach
``sbatch``/``scancel`` without changing this process's environment (other threads submit to other
clusters), so :class:`EnvSLURMJob` runs them as ``env NAME=VALUE ... sbatch`` (an argv list: no
shell).  Only ``kind="local"`` clusters: dask-jobqueue submits with a local ``sbatch``, and the
workers must reach the scheduler running in the flow's process.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from dask_jobqueue.slurm import SLURMJob

from mpflow.clusters.settings import ClusterSettings


class EnvSLURMJob(SLURMJob):
    """A SLURMJob whose submit and cancel commands carry the cluster's environment."""

    def __init__(self, *args, slurm_env: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        prefix = ["env", *(f"{k}={v}" for k, v in sorted((slurm_env or {}).items()))]
        self.submit_command = shlex.join(prefix + ["sbatch"])
        self.cancel_command = shlex.join(prefix + ["scancel"])


def slurm_cluster_kwargs(settings: ClusterSettings, *, log_dir: str | Path,
                         job_name: str = "mpflow-analysis") -> dict:
    """``SLURMCluster`` keyword arguments for one single-process worker per job.

    Resources come from the cluster's ``stage_resources["analysis"]`` (``cpus_per_task``, default
    1; ``time_limit_min``, default 60; ``mem``, e.g. "4G" — without it no ``--mem`` is sent and the
    partition's default applies, as on nodes that declare no memory).
    """
    if settings.kind != "local":
        raise ValueError(f"cluster {settings.name}: Dask workers through dask-jobqueue need a local "
                         "cluster (sbatch on this machine); this one is remote")
    res = settings.stage_resources.get("analysis", {})
    minutes = int(res.get("time_limit_min", 60))
    extra = [f"--job-name={job_name}-{settings.name}"]
    if settings.account:
        extra.append(f"--account={settings.account}")
    mem = res.get("mem")
    return dict(
        job_cls=EnvSLURMJob, slurm_env=dict(settings.env), queue=settings.partition,
        cores=int(res.get("cpus_per_task", 1)), processes=1, memory=str(mem or "2GB"),
        job_directives_skip=[] if mem else ["--mem"],
        walltime=f"{minutes // 60:02d}:{minutes % 60:02d}:00", python=sys.executable,
        log_directory=str(log_dir), job_extra_directives=extra,
        job_script_prologue=list(settings.preamble), local_directory=str(log_dir),
        scheduler_options={"dashboard_address": None},
    )
