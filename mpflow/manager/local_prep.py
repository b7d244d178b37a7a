"""Preparation on the orchestrator's own machine, when a project chooses it (``run = "local"``).

For a workstation master without Slurm: each model's protocol runs as its own process
(``python -m mpflow.cluster_side protocol``), at most ``local_workers`` at once, each in a process
group of its own so that an interrupt ends every GROMACS it started. The process's pid is written to
``<stage>.local.pid`` in the model's folder while it runs: a run that was killed leaves it, and the next
run ends that orphan's group before it prepares the model again. A model whose run is interrupted is
left waiting (nothing recorded), and prepared again by the next run.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from mpflow.slurm.job_files import INPUT_REFUSED_EXIT
from mpflow.slurm.jobscript import reason_name
from mpflow.stages.kinds import protocol_request, request_name

LOCAL = "local"  # the name the reason and pid files carry in place of a cluster's

_running: dict[int, subprocess.Popen] = {}  # every local preparation of this process, by pid
_stopping = threading.Event()


class Interrupted(RuntimeError):
    """The run was interrupted: the preparations not finished are left waiting."""


def end_all() -> None:
    """End every local preparation's process group (the caller's Ctrl-C); their models stay waiting."""
    _stopping.set()
    for pid in list(_running):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class LocalJob:
    """One model's preparation to run here: its key, its stage folder, the protocol and parameters."""

    key: int
    folder: Path
    stage: str
    protocol: str
    params: dict
    search_dirs: tuple[str, ...] = ()


def pid_file(folder: Path, stage: str) -> Path:
    return folder / f"{stage}.{LOCAL}.pid"


def end_orphan(folder: Path, stage: str) -> bool:
    """End the process group an earlier, killed run left preparing in ``folder``; True if one was ended."""
    path = pid_file(folder, stage)
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return False
    ended = False
    try:
        os.killpg(pid, signal.SIGKILL)
        ended = True
    except (ProcessLookupError, PermissionError):
        pass
    path.unlink(missing_ok=True)
    return ended


def _start(job: LocalJob) -> subprocess.Popen:
    reason = job.folder / reason_name(job.stage, LOCAL)
    reason.unlink(missing_ok=True)
    request = protocol_request(protocol=job.protocol, workdir=str(job.folder), params=job.params,
                               search_dirs=job.search_dirs, reason_file=str(reason))
    (job.folder / request_name(job.stage)).write_text(json.dumps(request, indent=1))
    log = open(job.folder / f"{job.stage}.{LOCAL}.out", "wb")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "mpflow.cluster_side", "protocol",
                                 "--request", request_name(job.stage)], cwd=job.folder, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    pid_file(job.folder, job.stage).write_text(f"{proc.pid}\n")
    _running[proc.pid] = proc
    return proc


def outcome_of(job: LocalJob, returncode: int) -> str | None:
    """None (prepared) or the one line the model-stage is held with."""
    if returncode == 0:
        return None
    if returncode == INPUT_REFUSED_EXIT:
        try:
            line = (job.folder / reason_name(job.stage, LOCAL)).read_text().splitlines()[0].strip()
        except (OSError, IndexError):
            line = ""
        return line or f"{job.stage} refused its input"
    out = job.folder / f"{job.stage}.{LOCAL}.out"
    return f"{job.stage} on this machine ended with exit code {returncode} (see {out})"


def run_local(jobs: Sequence[LocalJob], workers: int, *,
              on_done: Callable[[LocalJob, str | None], None] | None = None) -> dict[int, str | None]:
    """Run ``jobs`` at most ``workers`` at once; key → None (prepared) or the reason to hold it.

    An interrupt (Ctrl-C here, or :func:`end_all` from the thread that got it) ends every running job's
    process group and raises: nothing is recorded for the jobs, so their model-stages stay waiting."""
    todo = list(jobs)
    running: dict[int, tuple[LocalJob, subprocess.Popen]] = {}
    ended: queue.Queue[tuple[int, int]] = queue.Queue()
    out: dict[int, str | None] = {}

    def watch(key: int, proc: subprocess.Popen) -> None:
        code = proc.wait()
        _running.pop(proc.pid, None)
        ended.put((key, code))

    _stopping.clear()

    try:
        while todo or running:
            while todo and len(running) < workers:
                job = todo.pop(0)
                end_orphan(job.folder, job.stage)
                proc = _start(job)
                running[job.key] = (job, proc)
                threading.Thread(target=watch, args=(job.key, proc), daemon=True).start()
            key, code = ended.get()
            job, _ = running.pop(key)
            pid_file(job.folder, job.stage).unlink(missing_ok=True)
            if _stopping.is_set():
                raise Interrupted("preparation interrupted")
            out[key] = outcome_of(job, code)
            if on_done:
                on_done(job, out[key])
    except BaseException:
        for job, proc in running.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
            pid_file(job.folder, job.stage).unlink(missing_ok=True)
        raise
    return out
