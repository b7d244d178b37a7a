"""The demo: mpflow's pipeline, as far as it exists, on the dev clusters.

Today it sends one small GROMACS job (a water box built with ``gmx solvate``) through each cluster,
the master as a local cluster and the slave over SSH, with one batched poll per cluster per round,
and prints every state change. Later stages extend this into the whole modelling pipeline.
"""

from __future__ import annotations

import posixpath
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from mpflow.clusters import ClusterSettings
from mpflow.jobscript import stage_job_options
from mpflow.slurm import TERMINAL, JobState
from mpflow.slurm_client import JobRef, SlurmClient
from mpflow.submission import SubmitRequest, submit_batch
from mpflow.transport import open_transport


@dataclass
class DemoJob:
    cluster: str
    job_id: str
    job_dir: str
    state: JobState = JobState.NS
    slurm_state: str = ""
    exit_code: int | None = None
    output: str = ""


def submit_demo_job(client: SlurmClient, run_id: str) -> DemoJob:
    settings = client.transport.settings
    job_dir = posixpath.join(settings.workdir, "demo", "None", f"waterbox_{run_id}", "solvate")
    opts = stage_job_options(
        settings, job_dir=job_dir, stage="solvate", tag="None", time_limit_min=5, mdrun=False,
        commands=[
            "gmx -quiet solvate -cs spc216 -box 2.5 2.5 2.5 -o solvate.gro",
            'echo "cluster=${SLURM_CLUSTER_NAME:-?} job=${SLURM_JOB_ID:-?} atoms=$(sed -n 2p solvate.gro)"',
        ],
    )
    request = SubmitRequest(key="waterbox", token=f"demo-{run_id}-{settings.name}", options=opts)
    outcome = submit_batch(client, [request])["waterbox"]
    if outcome.error:
        raise RuntimeError(f"{settings.name}: demo job not submitted: {outcome.error}")
    job_id = outcome.job_id
    return DemoJob(settings.name, job_id, job_dir, JobState.PD)


def run_demo(clusters: list[ClusterSettings], *, timeout_s: float = 300, interval_s: float = 1.0,
             echo: Callable[[str], None] = print) -> list[DemoJob]:
    run_id = uuid.uuid4().hex[:8]
    transports = {s.name: open_transport(s) for s in clusters}
    try:
        clients = {name: SlurmClient(t) for name, t in transports.items()}
        jobs = {}
        for name, client in clients.items():
            job = submit_demo_job(client, run_id)
            jobs[name] = job
            echo(f"{name:>6}: submitted job {job.job_id} ({transports[name].settings.describe()})")
        started = time.monotonic()
        while any(j.state not in TERMINAL for j in jobs.values()):
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"demo jobs not finished after {timeout_s:.0f} s: "
                                   + ", ".join(f"{j.cluster}={j.state.value}" for j in jobs.values()))
            for name, job in jobs.items():
                if job.state in TERMINAL:
                    continue
                ref = JobRef("waterbox", job.job_dir, "solvate", job_id=job.job_id)
                obs = clients[name].observe([ref]).observations["waterbox"]
                slurm_state = obs.slurm.slurm_state if obs.slurm else "(files)"
                job.exit_code = obs.exit_code
                if (obs.state, slurm_state) != (job.state, job.slurm_state):
                    job.state, job.slurm_state = obs.state, slurm_state
                    echo(f"{name:>6}: job {job.job_id} {job.slurm_state} → {job.state.value}"
                         + (f" ({obs.detail})" if obs.detail else ""))
            time.sleep(interval_s)
        for name, job in jobs.items():
            t = transports[name]
            out = t.run(["bash", "-c", 'cat "$1"/solvate."$2".*.out', "_", job.job_dir, name])
            job.output = out.stdout.strip()
            echo(f"{name:>6}: exit code {job.exit_code}; {job.output.splitlines()[-1] if job.output else '(no output)'}")
        return list(jobs.values())
    finally:
        for t in transports.values():
            t.close()
