"""Submitting a batch of jobs to one cluster: render each script for that cluster, upload, sbatch.

One call handles every job bound for a cluster over one connection. A failure of one job (a bad
option, a refused sbatch) is reported for that job and does not stop the others.
"""

from __future__ import annotations

import posixpath
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from mpflow.jobscript import JobScriptOptions, render_job_script
from mpflow.slurm_client import SlurmClient
from mpflow.transport import check


@dataclass(frozen=True)
class SubmitRequest:
    key: str  # the caller's id for this job (a jobs-table row)
    token: str  # unique submission token, carried in the Slurm job name
    tag: str  # the model tag, carried in the Slurm comment
    options: JobScriptOptions


@dataclass(frozen=True)
class SubmitOutcome:
    key: str
    token: str
    job_id: str | None
    script_path: str
    error: str | None = None


def script_name(stage: str, cluster: str) -> str:
    return f"{stage}.{cluster}.sbatch"


def submit_batch(client: SlurmClient, requests: Sequence[SubmitRequest], *, test_only: bool = False
                 ) -> list[SubmitOutcome]:
    settings = client.transport.settings
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="mpflow-submit-") as tmp:
        for req in requests:
            path = posixpath.join(req.options.job_dir, script_name(req.options.stage, settings.name))
            try:
                text = render_job_script(settings, req.options)
                check(client.transport.run(["mkdir", "-p", "--", req.options.job_dir]), settings.name, "mkdir")
                local = Path(tmp) / f"{req.token}.sbatch"
                local.write_text(text)
                client.transport.put(local, path)
                result = client.submit(path, token=req.token, comment=req.tag, cwd=req.options.job_dir,
                                       test_only=test_only)
                outcomes.append(SubmitOutcome(req.key, req.token, None if test_only else result, path))
            except (ValueError, RuntimeError, OSError) as exc:
                outcomes.append(SubmitOutcome(req.key, req.token, None, path, error=str(exc)))
    return outcomes
