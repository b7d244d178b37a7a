"""Submitting a batch of jobs to one cluster in a constant number of round trips.

``submit_batch`` renders every job's script for the cluster, sends all of them as one upload
(``Transport.write_files``: one tar stream over SSH) and runs every ``sbatch`` in one remote command
(``SlurmClient.submit_many``), whatever the number of jobs. A job that cannot be rendered, written
or submitted gets its own error in its outcome; the others go ahead.

``SubmitRequest`` is checked when it is built: the key, the token (the Slurm job name) and, through
``JobScriptOptions``, the job's Slurm comment, the job folder and every sbatch flag.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from pydantic import BaseModel, ConfigDict, field_validator

from mpflow.clusters.transport import PathOutsideWorkdir
from mpflow.slurm import commands as slurm
from mpflow.slurm.client import SlurmClient
from mpflow.slurm.jobscript import JobScriptOptions, render_job_script
from mpflow.validation import KEY, check, check_token


class SubmitRequest(BaseModel):
    """One job to submit: the caller's key (a jobs-table row), a unique token and the job's options
    (the Slurm comment is ``options.comment``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    token: str
    options: JobScriptOptions

    @field_validator("key")
    @classmethod
    def _safe_key(cls, value: str) -> str:
        return check(value, KEY, "job key", "1-200 printable characters (no tab or newline)")

    @field_validator("token")
    @classmethod
    def _safe_token(cls, value: str) -> str:
        return check_token(value)


@dataclass(frozen=True)
class SubmitOutcome:
    key: str
    token: str
    job_id: str | None  # None when refused, or for a --test-only submission
    script_path: str
    error: str | None = None  # why this job was not submitted (the whole error text: first line, command, output)


def script_name(stage: str, cluster: str) -> str:
    return f"{stage}.{cluster}.sbatch"


def submit_batch(client: SlurmClient, requests: Sequence[SubmitRequest], *, test_only: bool = False
                 ) -> dict[str, SubmitOutcome]:
    """Submit every request to ``client``'s cluster: one upload and one remote command in all.

    Returns one outcome per request, keyed by ``request.key`` in request order, with the job id or the
    error. With ``test_only``, sbatch only checks each script (``--test-only``) and no job is queued.
    Raises ``ValueError`` for duplicate keys or tokens (nothing is sent), and the transport's error
    when the cluster cannot be reached (nothing was submitted)."""
    transport = client.transport
    settings = transport.settings
    paths = {r.key: posixpath.join(r.options.job_dir, script_name(r.options.stage, settings.name)) for r in requests}
    for what, values in (("key", [r.key for r in requests]), ("token", [r.token for r in requests]),
                         ("job folder and stage", list(paths.values()))):
        duplicates = sorted(v for v, n in Counter(values).items() if n > 1)
        if duplicates:
            raise ValueError(f"submit_batch: duplicate {what}(s) {duplicates[:5]}; nothing was submitted")
    key_of_path = {path: key for key, path in paths.items()}
    errors: dict[str, str] = {}
    scripts: dict[str, bytes] = {}
    for req in requests:
        try:
            transport.resolve(paths[req.key])
            scripts[paths[req.key]] = render_job_script(settings, req.options).encode()
        except (ValueError, PathOutsideWorkdir) as exc:
            errors[req.key] = str(exc)
    for path, error in (transport.write_files(scripts) if scripts else {}).items():
        errors[key_of_path[path]] = f"job script not written: {error}"
    jobs = [slurm.SbatchJob(r.key, r.options.job_dir,
                            tuple(slurm.sbatch_argv(paths[r.key], token=r.token, comment=r.options.comment, test_only=test_only)))
            for r in requests if r.key not in errors]
    answers = client.submit_many(jobs, test_only=test_only)
    outcomes = {}
    for req in requests:
        answer = answers.get(req.key)
        error = errors.get(req.key) or (str(answer) if isinstance(answer, Exception) else None)
        job_id = None if test_only or error else answer
        outcomes[req.key] = SubmitOutcome(req.key, req.token, job_id, paths[req.key], error)
    return outcomes
