"""The analysis of a project whose master cluster is remote, run where the files are: one Slurm job on
the master, its results brought back.

This module owns that path of ``mpflow analyse`` (and of the ``analysis`` flow and ``mpflow demo``'s
analysis) for a master reached over SSH; a master on this machine keeps the local path
(:mod:`mpflow.analysis.run` on the orchestrator):

1. the manifest (:func:`remote_sources`): the project's docked models and done stages with the
   master's own paths (``mpflow.models.sources`` with the master's workdir; which stages wrote a
   trajectory is asked of the master in one command); the files are checked on the master;
2. the master's folders (:func:`master_folders`): ``<master workdir>/.analysis/<key>/out`` (tables,
   report, notebook, and the frame store ``store/``, kept there between runs so a second run computes
   only new frames) and ``.../job`` (the job's script, request, log, exit-code and summary files); the
   key is ``analysis`` for the default output folder ``<project>/analysis``, else the output folder's
   name and a digest of its path;
3. the job (:func:`submit_job`): :func:`check_master` first, before the manifest (no cluster-side
   mpflow of this build, :func:`mpflow.clusters.side.require_site`: one line naming ``mpflow cluster
   setup NAME``, nothing submitted), one job at a time per output folder (the last job's id is kept in
   its folder: while it is queued or running, one line says so), then the request (:func:`analysis_request`) written through the transport and one job rendered and
   submitted by mpflow's own job-script and submission code (``mpflow.slurm``), running
   ``python -m mpflow.cluster_side analyse --request FILE``;
4. the wait (:func:`wait_for_job`): one poll per interval (at least the cluster's
   ``min_observe_interval_s``), a progress line per poll (:func:`state_line`); a failed job is one
   line with the last line of its log (:func:`failure_line`); Ctrl-C cancels the job (``scancel``)
   and says so (:class:`AnalysisInterrupted`);
5. the results (:func:`fetch_results`): the master's output folder but its store, copied to the
   local output folder by the verified transfer engine; the summary's paths become the local ones.

Errors the user can act on are :class:`AnalysisJobError` (one line).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import shlex
import time
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

from mpflow.analysis.frames import FrameSource
from mpflow.analysis.run import AnalysisSettings
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.side import ClusterSideError, require_site, side_command
from mpflow.clusters.transport import (
    LocalTransport,
    Transport,
    TransportError,
    open_transport,
)
from mpflow.errors import first_line
from mpflow.models.sources import ANALYSIS_DIR, project_sources
from mpflow.project.file import Project
from mpflow.slurm.client import SlurmClient
from mpflow.slurm.commands import SchedulerError, SlurmStatus
from mpflow.slurm.jobscript import exitcode_name, stage_job_options
from mpflow.slurm.submission import SubmitRequest, submit_batch
from mpflow.states import JobState
from mpflow.transfers.engine import Action, TransferError, transfer_tree

Echo = Callable[[str], None]

#: the job's stage name: its script, log and exit-code files are ``analysis.<cluster>.*``
JOB_STAGE = "analysis"
REQUEST_FILE = "analysis.request.json"
SUMMARY_FILE = "analysis.summary.json"
JOB_ID_FILE = "analysis.jobid"
#: the master's folder of a project's analyses, in its workdir
MASTER_DIR = ".analysis"
#: what stays on the master (the frame store: what a second run does not compute again)
KEPT_ON_MASTER = ("store/*",)
#: polls in a row that may not find the job (a slow controller) before it counts as lost
UNLISTED_POLLS = 3
#: the first wait between two polls, doubled up to :data:`POLL_MAX_S` (never below the cluster's
#: ``min_observe_interval_s``)
POLL_FIRST_S = 1.0
POLL_MAX_S = 15.0


class AnalysisJobError(RuntimeError):
    """The analysis job cannot be submitted, failed, or its results cannot be brought back (one line)."""


class AnalysisInterrupted(AnalysisJobError):
    """Ctrl-C while the job ran: the job was cancelled (the line says so)."""


def is_remote(master: ClusterSettings) -> bool:
    """The master's files are not on this machine: the analysis runs there as a job."""
    return master.kind != "local"


@dataclass(frozen=True)
class MasterFolders:
    out_dir: str  # the analysis' output folder on the master (its store inside)
    job_dir: str  # the job's own files


def master_folders(master: ClusterSettings, out_dir: Path, project_root: Path) -> MasterFolders:
    """Where on the master the analysis for the local output folder ``out_dir`` writes (see the module doc)."""
    out, default = Path(out_dir).absolute(), (Path(project_root) / ANALYSIS_DIR).absolute()
    if out == default:
        key = ANALYSIS_DIR
    else:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", out.name).strip("-.") or "out"
        key = f"{name[:40]}-{hashlib.sha256(str(out).encode()).hexdigest()[:10]}"
    base = posixpath.join(master.workdir, MASTER_DIR, key)
    return MasterFolders(out_dir=posixpath.join(base, "out"), job_dir=posixpath.join(base, "job"))


def remote_sources(project: Project, Session, transport: Transport, master: ClusterSettings, *,
                   stages: Sequence[str] | None = None, mutants: Sequence[str] | None = None
                   ) -> tuple[list[FrameSource], list[str]]:
    """The project's manifest with the master's paths, and notes (``project_sources``); which stages
    wrote a trajectory is asked of the master in one command (:func:`existing_files`)."""
    rows, notes = project_sources(project, Session, stages=stages, mutants=mutants,
                                  master_workdir=PurePosixPath(master.workdir), is_file=lambda path: True)
    present = existing_files(transport, [str(r.trajectory) for r in rows if r.trajectory is not None])
    return [r if r.trajectory is None or str(r.trajectory) in present else r.model_copy(update={"trajectory": None})
            for r in rows], notes


#: prints each path of its stdin (one a line) that is a regular file: shell builtins only
_EXISTING_SCRIPT = 'while IFS= read -r f; do [ -f "$f" ] && printf "%s\\n" "$f"; done; exit 0'


def existing_files(transport: Transport, paths: Sequence[str]) -> set[str]:
    """Which of ``paths`` are regular files on the transport's cluster: one command, the paths on its stdin."""
    if not paths:
        return set()
    if any("\n" in p for p in paths):
        raise ValueError("existing_files: a path contains a newline")
    res = transport.run(["sh", "-c", _EXISTING_SCRIPT], stdin="".join(f"{p}\n" for p in paths))
    if res.returncode != 0:
        raise AnalysisJobError(f"cannot look for the trajectories on {transport.settings.name}: "
                               f"{last_line(res.stderr) or f'exit code {res.returncode}'}")
    return set(res.stdout.splitlines()) & set(paths)


def analysis_request(sources: Sequence[FrameSource], folders: MasterFolders, settings: AnalysisSettings,
                     executor: str, n_workers: int) -> dict:
    """The request of ``python -m mpflow.cluster_side analyse`` (the job's ``analysis.request.json``)."""
    return {"sources": [s.model_dump(mode="json") for s in sources], "out_dir": folders.out_dir,
            "settings": settings.model_dump(mode="json", exclude_defaults=True), "executor": executor,
            "n_workers": n_workers, "summary_file": posixpath.join(folders.job_dir, SUMMARY_FILE)}


def job_command(master: ClusterSettings) -> str:
    """The job's one shell line: the cluster-side mpflow's analyse command on the request in its folder."""
    return shlex.join(side_command(master, "analyse", "--request", REQUEST_FILE))


def job_request(master: ClusterSettings, folders: MasterFolders, *, project: str, executor: str, n_workers: int,
                token: str) -> SubmitRequest:
    """The one job: mpflow's job script with the analyse line and no mdrun; the master's
    ``stage_resources["analysis"]`` apply, and the Dask workers get a CPU each."""
    cpus = n_workers if executor == "dask-local" else 1
    options = stage_job_options(master, stage=JOB_STAGE, job_dir=folders.job_dir, comment=f"{project}:analysis",
                                **{"cpus_per_task": cpus, "gpu": False, **master.stage_resources.get(JOB_STAGE, {})},
                                commands=[job_command(master)], mdrun=False)
    return SubmitRequest(key="analysis", token=token, options=options)


def new_token() -> str:
    return f"analysis-{uuid.uuid4().hex[:12]}"


def check_master(transport: Transport, master: ClusterSettings) -> None:
    """The master's cluster-side mpflow must be this build: else one line naming ``mpflow cluster setup``."""
    try:
        require_site(transport, master)
    except ClusterSideError as exc:
        raise AnalysisJobError(str(exc)) from None


def refuse_a_second_job(transport: Transport, master: ClusterSettings, folders: MasterFolders) -> None:
    """One analysis job at a time per output folder (two would write one store): the last job's id is
    in its folder; while Slurm has it queued or running, one line says so."""
    last = _read(transport, posixpath.join(folders.job_dir, JOB_ID_FILE))
    job_id = (last or "").strip()
    if not job_id.isdigit():
        return
    status = SlurmClient(transport).poll([job_id]).states.get(job_id)
    if status is not None and status.state in (JobState.PD, JobState.R):
        raise AnalysisJobError(f"analysis job {job_id} on {master.name} is still {status.state.value} for this output "
                               f"folder: wait for it, or stop it with scancel {job_id} there")


def submit_job(transport: Transport, master: ClusterSettings, folders: MasterFolders, request: dict, *,
               project: str, executor: str, n_workers: int) -> str:
    """Write the request and submit the job (after :func:`check_master`); return its Slurm id."""
    refuse_a_second_job(transport, master, folders)
    summary = posixpath.join(folders.job_dir, SUMMARY_FILE)
    transport.makedirs([folders.job_dir, folders.out_dir])
    transport.run(["rm", "-f", "--", summary, posixpath.join(folders.job_dir, exitcode_name(JOB_STAGE, master.name))])
    failed = transport.write_files({posixpath.join(folders.job_dir, REQUEST_FILE):
                                    json.dumps(request, indent=1).encode()})
    if failed:
        raise AnalysisJobError(f"the analysis request was not written on {master.name}: "
                               f"{next(iter(failed.values()))}")
    req = job_request(master, folders, project=project, executor=executor, n_workers=n_workers, token=new_token())
    outcome = submit_batch(SlurmClient(transport), [req])[req.key]
    if outcome.error or not outcome.job_id:
        raise AnalysisJobError(f"the analysis job was not submitted on {master.name}: "
                               f"{(outcome.error or 'no job id').strip().splitlines()[0]}")
    transport.write_files({posixpath.join(folders.job_dir, JOB_ID_FILE): f"{outcome.job_id}\n".encode()})
    return outcome.job_id


def state_line(job_id: str, cluster: str, status: SlurmStatus | None, seconds: float, last: str | None = None
               ) -> str:
    """One progress line: ``analysis job 123 on beta: R for 40 s (chunk 1/2 done: ...)``."""
    if status is None:
        what = "not listed by squeue yet"
    else:
        what = status.state.value
        if status.state is JobState.PD and status.pending_reason:
            what += f" ({status.pending_reason})"
    line = f"analysis job {job_id} on {cluster}: {what} for {seconds:.0f} s"
    return f"{line} ({last})" if last else line


def last_line(text: str) -> str | None:
    """The last non-empty line of a log (what a failed job said last)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else None


def failure_line(job_id: str, cluster: str, what: str, log_last: str | None) -> str:
    """A failed job in one line, with the last line of its log (the cluster side's own words without
    its prefix)."""
    if log_last:
        log_last = log_last.removeprefix("mpflow.cluster_side: ").removeprefix("analysis failed: ")
    said = f": {log_last}" if log_last else " (its log is empty)"
    return f"analysis job {job_id} on {cluster} failed ({what}){said}"


def poll_intervals(min_interval_s: float) -> "Callable[[], float]":
    """Waits between polls: :data:`POLL_FIRST_S` doubling to :data:`POLL_MAX_S`, never below the
    cluster's ``min_observe_interval_s``."""
    state = {"next": POLL_FIRST_S}

    def interval() -> float:
        wait = max(min_interval_s, state["next"])
        state["next"] = min(POLL_MAX_S, state["next"] * 2)
        return wait

    return interval


def cancelled(client: SlurmClient, master: ClusterSettings, job_id: str) -> AnalysisInterrupted:
    """Cancel the job (Ctrl-C) and say so, or say that it may still run."""
    try:
        client.cancel([job_id])
        said = f"cancelled analysis job {job_id} on {master.name}"
    except (SchedulerError, TransportError) as exc:
        said = f"analysis job {job_id} on {master.name} may still run (scancel failed: {first_line(exc)})"
    return AnalysisInterrupted(f"interrupted: {said}")


def _log_path(folders: MasterFolders, cluster: str, job_id: str) -> str:
    return posixpath.join(folders.job_dir, f"{JOB_STAGE}.{cluster}.{job_id}.out")


def _tail(transport: Transport, path: str) -> str:
    res = transport.run(["tail", "-n", "20", "--", path])
    return res.stdout if res.returncode == 0 else ""


def _read(transport: Transport, path: str) -> str | None:
    if transport.stat(path) is None:
        return None
    with transport.open_read(path) as f:
        return f.read().decode("utf-8", "replace")


def _exit_code(text: str | None, job_id: str) -> int | None:
    """The exit code the job script wrote (``<code> <job id>``), if this job wrote it."""
    parts = (text or "").split()
    return int(parts[0]) if len(parts) >= 2 and parts[1] == job_id and parts[0].isdigit() else None


def wait_for_job(transport: Transport, master: ClusterSettings, folders: MasterFolders, job_id: str, *,
                 echo: Echo, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Poll until the job ends; return the summary it wrote (paths on the master). A failed job raises
    :class:`AnalysisJobError`; Ctrl-C cancels it and raises :class:`AnalysisInterrupted`."""
    client = SlurmClient(transport)
    log = _log_path(folders, master.name, job_id)
    interval = poll_intervals(master.min_observe_interval_s)
    t0 = time.monotonic()
    unlisted = 0
    try:
        while True:
            status = client.poll([job_id]).states.get(job_id)
            if status is not None and status.state in (JobState.D, JobState.F):
                break
            if status is None:
                exit_text = _read(transport, posixpath.join(folders.job_dir, exitcode_name(JOB_STAGE, master.name)))
                if _exit_code(exit_text, job_id) is not None:
                    break  # Slurm forgot it (no accounting, past MinJobAge): its exit-code file tells
                unlisted += 1
                if unlisted >= UNLISTED_POLLS:
                    raise AnalysisJobError(f"analysis job {job_id} on {master.name} is no longer known to Slurm "
                                           "and wrote no exit-code file (cancelled, or killed without a trace)")
            else:
                unlisted = 0
            progress = last_line(_tail(transport, log)) if status is not None and status.state is JobState.R \
                else None
            echo(state_line(job_id, master.name, status, time.monotonic() - t0, progress))
            sleep(interval())
    except (TransportError, SchedulerError) as exc:  # the master lost, its controller failing
        raise AnalysisJobError(f"analysis job {job_id} on {master.name} cannot be followed: {first_line(exc)} "
                               f"(it runs on there: scancel {job_id} stops it)") from None
    except KeyboardInterrupt:
        raise cancelled(client, master, job_id) from None
    summary_text = _read(transport, posixpath.join(folders.job_dir, SUMMARY_FILE))
    code = _exit_code(_read(transport, posixpath.join(folders.job_dir, exitcode_name(JOB_STAGE, master.name))),
                      job_id)
    failed = (status is not None and status.state is JobState.F) or (code not in (None, 0))
    if failed or summary_text is None:
        what = (f"exit code {code}" if code else status.slurm_state if status is not None and failed
                else "no summary written")
        raise AnalysisJobError(failure_line(job_id, master.name, what, last_line(_tail(transport, log))))
    return json.loads(summary_text)


def fetch_results(transport: Transport, folders: MasterFolders, out_dir: Path) -> int:
    """Copy the master's output folder but its store to ``out_dir`` (verified); return the files copied."""
    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    here = LocalTransport(ClusterSettings(name="here", kind="local", workdir=str(out)))
    results = transfer_tree(transport, folders.out_dir, here, str(out), exclude=KEPT_ON_MASTER)
    return sum(1 for r in results if r.action is Action.COPIED)


def local_summary(summary: dict, folders: MasterFolders, out_dir: Path) -> dict:
    """The job's summary with the local output folder's paths instead of the master's."""
    out = Path(out_dir).absolute()

    def here(path):
        if not path:
            return path
        rel = posixpath.relpath(path, folders.out_dir)
        return str(out) if rel == "." else str(out / rel)

    return {**summary, "out_dir": str(out), "report": here(summary.get("report")),
            "notebook": here(summary.get("notebook")), "master_out_dir": folders.out_dir}


def run_on_master(project: Project, Session, *, out_dir: Path | None = None, stages: Sequence[str] | None = None,
                  mutants: Sequence[str] | None = None, settings: AnalysisSettings | None = None,
                  executor: str = "dask-local", n_workers: int = 2, echo: Echo = print,
                  transport: Transport | None = None) -> dict:
    """The whole remote path (see the module doc); returns the summary with local paths.

    Raises :class:`mpflow.models.sources.NothingToAnalyse` / ``ValueError`` (nothing to analyse, a bad
    stage or mutant) and :class:`AnalysisJobError` (one line)."""
    settings = settings or AnalysisSettings()
    master = project.cluster_settings()[0]
    out = Path(out_dir) if out_dir is not None else project.root / ANALYSIS_DIR
    folders = master_folders(master, out, project.root)
    own = transport is None
    transport = transport or open_transport(master)
    try:
        try:
            check_master(transport, master)  # before anything is read or written there
            sources, notes = remote_sources(project, Session, transport, master, stages=stages, mutants=mutants)
            for note in notes:
                echo(note)
            request = analysis_request(sources, folders, settings, executor, n_workers)
            job_id = submit_job(transport, master, folders, request, project=project.config.project.name,
                                executor=executor, n_workers=n_workers)
            try:
                echo(f"analysis of {len(sources)} source(s) submitted as job {job_id} on {master.name} "
                     f"(output there: {folders.out_dir})")
                summary = wait_for_job(transport, master, folders, job_id, echo=echo)
            except KeyboardInterrupt:  # before the wait began: cancelled all the same
                raise cancelled(SlurmClient(transport), master, job_id) from None
            copied = fetch_results(transport, folders, out)
        except TransportError as exc:  # the master unreachable, a file operation refused
            raise AnalysisJobError(f"analysis on {master.name}: {first_line(exc)}") from None
        except SchedulerError as exc:
            raise AnalysisJobError(f"analysis on {master.name}: {first_line(exc)}") from None
        except TransferError as exc:
            raise AnalysisJobError(f"analysis results not brought back from {master.name}: {first_line(exc)}") \
                from None
    finally:
        if own:
            transport.close()
    echo(f"results brought back from {master.name} to {out} ({copied} file(s) copied)")
    return local_summary(summary, folders, out)
