"""What a job's folder says about it, and how that combines with what the scheduler says.

A scheduler forgets finished jobs (after MinJobAge) and a cluster may have no accounting, so the
files a job leaves are the last word: ``<stage>.gro`` (the expected final coordinates), the
exit-code file the job script writes on any exit (``<stage>.<cluster>.exitcode``: the exit code
and the job id, so a file left by an earlier attempt in the same folder is not taken for this
job's) and ``<stage>.log``. One command per cluster reads this for every job folder of a poll: the
folders go to a fixed script on its stdin, never inside the script text, so the command's size does
not grow with the number of jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mpflow.slurm.commands import SlurmStatus
from mpflow.states import FailureKind, JobState

# For each "folder<TAB>stage" line on stdin: whether <stage>.gro and <stage>.log exist, and the exit
# code and job id written by the job script. $1 is the cluster name. Shell builtins only (no process
# per job).
_PROBE_SCRIPT = r"""
c=$1
tab=$(printf '\t')
while IFS="$tab" read -r d s; do
  g=0; [ -s "$d/$s.gro" ] && g=1
  l=0; [ -f "$d/$s.log" ] && l=1
  e=-; j=-
  if [ -f "$d/$s.$c.exitcode" ]; then read -r e j _ < "$d/$s.$c.exitcode" || true; fi
  case $e in ''|*[!0-9]*) e=- ;; esac
  case $j in ''|*[!0-9]*) j=- ;; esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$g" "$l" "$e" "$j" "$s" "$d"
done
"""


@dataclass(frozen=True)
class FileEvidence:
    job_dir: str
    stage: str
    has_gro: bool
    has_log: bool
    exit_code: int | None  # from the exit-code file, whichever job wrote it
    exit_job_id: str | None  # the job that wrote the exit-code file


def probe_argv(cluster: str) -> list[str]:
    """One ``sh`` command reading the files of every (folder, stage) given by ``probe_stdin``."""
    return ["sh", "-c", _PROBE_SCRIPT, "mpflow-probe", cluster]


def probe_stdin(folders: Sequence[tuple[str, str]]) -> str:
    for folder, stage in folders:
        if any(c in folder + stage for c in "\t\n\0"):
            raise ValueError(f"job folder {folder!r} or stage {stage!r} contains a tab, newline or NUL")
    return "".join(f"{folder}\t{stage}\n" for folder, stage in folders)


def parse_probe(returncode: int, stdout: str, stderr: str) -> dict[tuple[str, str], FileEvidence]:
    if returncode != 0:
        raise RuntimeError(f"file probe failed (exit {returncode}): {stderr.strip()[:500]}")
    found = {}
    for line in stdout.splitlines():
        if not line:
            continue
        gro, log, code, job_id, stage, folder = line.split("\t", 5)
        found[(folder, stage)] = FileEvidence(folder, stage, gro == "1", log == "1",
                                              int(code) if code.isdigit() else None,
                                              job_id if job_id.isdigit() else None)
    return found


@dataclass(frozen=True)
class Verdict:
    """One job's state from the scheduler and its files together."""

    state: JobState
    failure_kind: FailureKind | None = None
    detail: str | None = None  # one line for humans: "exit code 3", "COMPLETED but no emmd.gro"
    exit_code: int | None = None


def _from_exit_code(code: int, ev: FileEvidence) -> Verdict:
    if code != 0:
        return Verdict(JobState.F, FailureKind.NONZERO_EXIT, f"exit code {code}", code)
    if ev.has_gro:
        return Verdict(JobState.D, None, None, 0)
    return Verdict(JobState.F, FailureKind.MISSING_OUTPUT, f"exit code 0 but no {ev.stage}.gro", 0)


def resolve_state(job_id: str | None, status: SlurmStatus | None, ev: FileEvidence | None) -> Verdict:
    """Combine the scheduler's view and the folder's for the job ``job_id`` (None: never submitted,
    or its id was lost and its token not found).

    Live scheduler states win. For a finished job the files decide success (a COMPLETED job without
    its ``.gro`` did not do its work). For a job the scheduler no longer knows, only an exit-code
    file written by that same job counts."""
    own_exit = ev.exit_code if ev is not None and job_id is not None and ev.exit_job_id == job_id else None
    if status is not None and status.state in {JobState.PD, JobState.R, JobState.UNKNOWN}:
        detail = f"unknown Slurm state {status.slurm_state!r}" if status.state is JobState.UNKNOWN else None
        return Verdict(status.state, None, detail)
    if status is not None and status.state is JobState.F:
        code = status.exit_code if status.exit_code is not None else own_exit
        kind = status.failure_kind or FailureKind.UNKNOWN
        if kind is FailureKind.NONZERO_EXIT and code:
            return Verdict(JobState.F, kind, f"exit code {code}", code)
        return Verdict(JobState.F, kind, status.slurm_state, code)
    if status is not None and status.state is JobState.D:
        if ev is None or ev.has_gro:
            return Verdict(JobState.D, None, None, 0)
        return Verdict(JobState.F, FailureKind.MISSING_OUTPUT, f"COMPLETED but no {ev.stage}.gro", 0)
    if job_id is None:
        return Verdict(JobState.NS)
    if own_exit is not None:
        return _from_exit_code(own_exit, ev)
    return Verdict(JobState.F, FailureKind.LOST,
                   f"job {job_id} is no longer known to Slurm and wrote no exit-code file "
                   f"(cancelled before it started, or killed without a trace)")
