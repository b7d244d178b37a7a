"""Helpers for integration tests: put a script on a cluster, submit it, wait for a condition."""

from __future__ import annotations

import posixpath
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, TypeVar

from mpflow.slurm import JobState, SlurmStatus
from mpflow.slurm_client import SlurmClient
from mpflow.transport import check

T = TypeVar("T")


def wait_until(what: str, probe: Callable[[], T], timeout: float = 120, interval: float = 0.5) -> T:
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last value {value!r}")
        time.sleep(interval)


def new_token(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def put_script(client: SlurmClient, folder: str, name: str, text: str) -> str:
    t = client.transport
    check(t.run(["mkdir", "-p", folder]), client.cluster, "mkdir")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / name
        local.write_text(text)
        t.put(local, posixpath.join(folder, name))
    return posixpath.join(folder, name)


def submit_script(client: SlurmClient, folder: str, body: str, *, token: str | None = None,
                  sbatch_lines: str = "", comment: str = "test") -> tuple[str, str]:
    """Submit ``body`` (bash) from ``folder``; returns (job id, token)."""
    token = token or new_token()
    script = f"#!/bin/bash\n#SBATCH --output=%x.{client.cluster}.%j.out\n{sbatch_lines}\n{body}\n"
    path = put_script(client, folder, f"{token}.{client.cluster}.sh", script)
    return client.submit(path, token=token, comment=comment, cwd=folder), token


def wait_terminal(client: SlurmClient, job_id: str, timeout: float = 180) -> SlurmStatus:
    def done():
        status = client.poll([job_id]).states.get(job_id)
        return status if status and status.state in {JobState.D, JobState.F} else None

    return wait_until(f"job {job_id} on {client.cluster} to finish", done, timeout=timeout, interval=1.0)
