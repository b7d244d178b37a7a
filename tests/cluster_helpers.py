"""Helpers for integration tests: wait for a condition, submit a plain script, wait for a job to end."""

from __future__ import annotations

import posixpath
import time
import uuid
from pathlib import Path
from typing import Callable, TypeVar

from mpflow.slurm.client import SlurmClient
from mpflow.slurm.commands import SlurmStatus
from mpflow.states import TERMINAL

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


def submit_script(client: SlurmClient, folder: str, body: str, *, token: str | None = None,
                  sbatch_lines: str = "") -> tuple[str, str]:
    """Submit ``body`` (bash) from ``folder`` with a plain header (no mpflow template); (job id, token)."""
    token = token or new_token()
    script = f"#!/bin/bash\n#SBATCH --output=%x.{client.cluster}.%j.out\n{sbatch_lines}\n{body}\n"
    path = posixpath.join(folder, f"{token}.{client.cluster}.sh")
    assert client.transport.write_files({path: script.encode()}) == {}
    return client.submit(path, token=token, cwd=folder), token


def wait_terminal(client: SlurmClient, job_id: str, timeout: float = 180) -> SlurmStatus:
    def done():
        status = client.poll([job_id]).states.get(job_id)
        return status if status and status.state in TERMINAL else None

    return wait_until(f"job {job_id} on {client.cluster} to finish", done, timeout=timeout, interval=1.0)


def sshd_sessions(listener_pid: str) -> set[int]:
    """The per-connection sshd processes (one per accepted login) of the sshd listening as ``listener_pid``:
    its children, read from /proc."""
    out = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if f"\nPPid:\t{listener_pid}\n" in (proc / "status").read_text():
                    out.add(int(proc.name))
            except OSError:
                continue
    return out
