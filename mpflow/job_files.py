"""What a job's folder says about it, and how that combines with what the scheduler says.

A scheduler forgets finished jobs (after MinJobAge) and a cluster may have no accounting, so the
files a job leaves are the last word: ``<stage>.gro`` (the expected final coordinates), the
exit-code file the job script writes on any exit (``<stage>.<cluster>.exitcode``) and
``<stage>.log``. One shell command per cluster reads this for every job folder of a poll; the
folders travel as positional arguments of a fixed script, never inside the script text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mpflow.slurm import JobState, SlurmStatus

# Reads, for each (folder, stage) pair: whether <stage>.gro and <stage>.log exist and the exit code
# written by the job script. $1 is the cluster name; then folder/stage pairs.
_PROBE_SCRIPT = r"""
c=$1; shift
while [ $# -ge 2 ]; do
  d=$1; s=$2; shift 2
  g=0; [ -s "$d/$s.gro" ] && g=1
  l=0; [ -f "$d/$s.log" ] && l=1
  e=-; [ -f "$d/$s.$c.exitcode" ] && e=$(head -c 16 "$d/$s.$c.exitcode" | tr -dc '0-9')
  printf '%s\t%s\t%s\t%s\t%s\n' "$g" "$l" "${e:--}" "$s" "$d"
done
"""


@dataclass(frozen=True)
class FileEvidence:
    job_dir: str
    stage: str
    has_gro: bool
    has_log: bool
    exit_code: int | None


def probe_argv(cluster: str, folders: Sequence[tuple[str, str]]) -> list[str]:
    """One ``sh`` command reading the files of every (folder, stage)."""
    argv = ["sh", "-c", _PROBE_SCRIPT, "mpflow-probe", cluster]
    for folder, stage in folders:
        if "\t" in folder or "\n" in folder:
            raise ValueError(f"job folder {folder!r} contains a tab or newline")
        argv += [folder, stage]
    return argv


def parse_probe(returncode: int, stdout: str, stderr: str) -> dict[tuple[str, str], FileEvidence]:
    if returncode != 0:
        raise RuntimeError(f"file probe failed (exit {returncode}): {stderr.strip()[:500]}")
    found = {}
    for line in stdout.splitlines():
        if not line:
            continue
        gro, log, code, stage, folder = line.split("\t", 4)
        ev = FileEvidence(folder, stage, gro == "1", log == "1", int(code) if code.isdigit() else None)
        found[(folder, stage)] = ev
    return found


def state_from_files(ev: FileEvidence) -> tuple[JobState, str | None]:
    """The state a job's folder alone implies (used when no scheduler knows the job)."""
    if ev.exit_code not in (None, 0):
        return JobState.F, f"exit code {ev.exit_code}"
    if ev.has_gro:
        return JobState.D, None
    if ev.exit_code == 0:
        return JobState.F, f"exit code 0 but no {ev.stage}.gro"
    if ev.has_log:
        return JobState.F, f"{ev.stage}.log without {ev.stage}.gro and no job"
    return JobState.NS, None


def resolve_state(status: SlurmStatus | None, ev: FileEvidence | None) -> tuple[JobState, str | None]:
    """Combine the scheduler's view and the folder's: live scheduler states win; for finished jobs
    the files decide success (a COMPLETED job without its ``.gro`` did not do its work)."""
    if status is not None and status.state in {JobState.PD, JobState.R, JobState.UNKNOWN}:
        return status.state, status.reason
    if status is not None and status.state is JobState.F:
        reason = status.reason
        if ev is not None and ev.exit_code not in (None, 0) and (reason in (None, "FAILED")):
            reason = f"exit code {ev.exit_code}"
        return JobState.F, reason
    if ev is None:
        return (status.state, status.reason) if status is not None else (JobState.NS, None)
    files_state, files_reason = state_from_files(ev)
    if status is not None and status.state is JobState.D:
        if files_state is JobState.D:
            return JobState.D, None
        return JobState.F, files_reason or f"COMPLETED but no {ev.stage}.gro"
    return files_state, files_reason
