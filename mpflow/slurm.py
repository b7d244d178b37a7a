"""Slurm commands as pure argv builders and pure output parsers (no I/O here).

Each scheduler action is three parts: a builder returning an argv list, one transport call (done by
the caller), and a ``parse_*(returncode, stdout, stderr)`` function. Output is always requested in a
machine-readable form (``--parsable``, ``-P``, explicit ``-o`` formats) with fields declared once.

Job states: Slurm's codes (long and short spellings, as printed by squeue, sacct and scontrol) map
through one table to mpflow's five states plus a reason. Unknown codes become ``UNKNOWN`` with a
warning rather than a guess.
"""

from __future__ import annotations

import enum
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

log = logging.getLogger(__name__)

JOB_NAME_PREFIX = "mpf-"
_TOKEN_RE = re.compile(r"^[a-z0-9][a-z0-9-]{3,60}$")
_FIELD_SEP = "|"


class JobState(str, enum.Enum):
    """mpflow's view of one job on one cluster (see DESIGN.md, "Job states")."""

    NS = "NS"  # not submitted
    PD = "PD"  # pending (queued, configuring, requeued, held)
    R = "R"  # running (started: counts as the winner in the dual-cluster rule)
    D = "D"  # done (completed successfully)
    F = "F"  # failed (any terminal state other than completed)
    UNKNOWN = "?"  # the cluster could not be asked, or answered with a code we do not know


# Slurm job state codes (squeue(1) "JOB STATE CODES", sacct(1) "JOB STATE CODES").
# long name -> (short code, mpflow state, reason recorded for failures or notable states)
SLURM_STATES: dict[str, tuple[str, JobState, str | None]] = {
    "BOOT_FAIL": ("BF", JobState.F, "BOOT_FAIL"),  # terminated due to launch failure
    "CANCELLED": ("CA", JobState.F, "CANCELLED"),  # cancelled by user or administrator
    "COMPLETED": ("CD", JobState.D, None),  # all processes terminated with exit code zero
    "CONFIGURING": ("CF", JobState.PD, None),  # allocated, waiting for resources to become ready
    "COMPLETING": ("CG", JobState.R, None),  # finishing; final state not known yet
    "DEADLINE": ("DL", JobState.F, "DEADLINE"),  # terminated on deadline
    "FAILED": ("F", JobState.F, "FAILED"),  # non-zero exit code or other failure
    "NODE_FAIL": ("NF", JobState.F, "NODE_FAIL"),  # terminated due to failure of a node
    "OUT_OF_MEMORY": ("OOM", JobState.F, "OUT_OF_MEMORY"),  # out-of-memory error
    "PENDING": ("PD", JobState.PD, None),  # awaiting resource allocation
    "PREEMPTED": ("PR", JobState.F, "PREEMPTED"),  # terminated due to preemption
    "RUNNING": ("R", JobState.R, None),  # has an allocation and runs
    "RESV_DEL_HOLD": ("RD", JobState.PD, None),  # held because its reservation was deleted
    "REQUEUE_FED": ("RF", JobState.PD, None),  # requeued by a federation
    "REQUEUE_HOLD": ("RH", JobState.PD, None),  # held job being requeued
    "REQUEUED": ("RQ", JobState.PD, None),  # completing job being requeued
    "RESIZING": ("RS", JobState.R, None),  # about to change size
    "REVOKED": ("RV", JobState.F, "REVOKED"),  # removed because a sibling cluster started it
    "SIGNALING": ("SI", JobState.R, None),  # being signalled
    "SPECIAL_EXIT": ("SE", JobState.F, "SPECIAL_EXIT"),  # requeued in a held state on a special exit
    "STAGE_OUT": ("SO", JobState.R, None),  # staging out data
    "STOPPED": ("ST", JobState.R, "STOPPED"),  # stopped (SIGSTOP), keeps its allocation
    "SUSPENDED": ("S", JobState.R, "SUSPENDED"),  # allocation suspended, CPUs released
    "TIMEOUT": ("TO", JobState.F, "TIMEOUT"),  # reached its time limit
}
_SHORT_TO_LONG = {short: long for long, (short, _, _) in SLURM_STATES.items()}


@dataclass(frozen=True)
class SlurmStatus:
    """One job as seen by one scheduler command."""

    job_id: str
    name: str
    state: JobState
    slurm_state: str  # the long Slurm spelling, e.g. RUNNING, or the raw text if unknown
    reason: str | None = None  # failure kind (TIMEOUT, NODE_FAIL, ...) or pending reason
    exit_code: int | None = None
    signal: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    comment: str | None = None
    source: str = ""  # squeue | sacct | scontrol | files


def map_slurm_state(code: str) -> tuple[str, JobState, str | None]:
    """Map a Slurm state spelling (``RUNNING``, ``R``, ``CANCELLED by 1000``, ``OOM``) to mpflow's."""
    word = code.strip().split(" ", 1)[0].rstrip("+").upper()
    long = word if word in SLURM_STATES else _SHORT_TO_LONG.get(word)
    if long is None:
        log.warning("unknown Slurm job state %r; treating it as undetermined", code)
        return code.strip(), JobState.UNKNOWN, f"unknown Slurm state {code.strip()!r}"
    _, state, reason = SLURM_STATES[long]
    return long, state, reason


def _parse_time(text: str) -> datetime | None:
    text = text.strip()
    if not text or text in {"Unknown", "None", "N/A"}:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _parse_exit(text: str) -> tuple[int | None, int | None]:
    """``"3:0"`` (exit code:signal) → (3, 0)."""
    if not text or ":" not in text:
        return None, None
    code, sig = text.split(":", 1)
    try:
        return int(code), int(sig)
    except ValueError:
        return None, None


def _rows(command: str, stdout: str, fields: Sequence[str], name_field: str, only_mpflow: bool):
    """Split ``|``-separated lines into dicts of ``fields``; the last field may contain the separator."""
    for line in stdout.splitlines():
        if not line.strip():
            continue
        parts = line.split(_FIELD_SEP, len(fields) - 1)
        if len(parts) != len(fields):
            log.warning("skipping unparsable %s line %r", command, line)
            continue
        row = dict(zip(fields, parts))
        if only_mpflow and not row[name_field].startswith(JOB_NAME_PREFIX):
            continue
        yield row


class SlurmCommandError(RuntimeError):
    def __init__(self, what: str, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        super().__init__(f"{what} failed (exit {returncode}): {(stderr or stdout).strip()[:1000]}")


# ----------------------------------------------------------------------------- names and tokens
def job_name(token: str) -> str:
    """The Slurm job name carrying mpflow's submission token (how lost job ids are found again)."""
    if not _TOKEN_RE.match(token):
        raise ValueError(f"submission token {token!r} must match {_TOKEN_RE.pattern}")
    return JOB_NAME_PREFIX + token


def token_of(name: str) -> str | None:
    return name[len(JOB_NAME_PREFIX):] if name.startswith(JOB_NAME_PREFIX) else None


# ----------------------------------------------------------------------------- sbatch
def sbatch_argv(script_path: str, *, token: str, comment: str | None = None, partition: str | None = None,
                account: str | None = None, extra: Sequence[str] = (), test_only: bool = False) -> list[str]:
    """``sbatch --parsable`` for a script already on the cluster.

    The token goes in ``--job-name`` and the model tag in ``--comment``; both are passed as single
    argv items, so they never meet a shell unquoted.
    """
    argv = ["sbatch", "--parsable", f"--job-name={job_name(token)}"]
    if comment:
        argv.append(f"--comment={comment}")
    if partition:
        argv.append(f"--partition={partition}")
    if account:
        argv.append(f"--account={account}")
    if test_only:
        argv.append("--test-only")
    argv += list(extra)
    argv.append(script_path)
    return argv


def parse_sbatch(returncode: int, stdout: str, stderr: str) -> str:
    """The job id printed by ``sbatch --parsable`` (``"123"`` or ``"123;cluster"``)."""
    if returncode != 0:
        raise SlurmCommandError("sbatch", returncode, stdout, stderr)
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise SlurmCommandError("sbatch (no job id printed)", returncode, stdout, stderr)
    job_id = lines[-1].split(";", 1)[0]
    if not job_id.isdigit():
        raise SlurmCommandError(f"sbatch (unexpected output {lines[-1]!r})", returncode, stdout, stderr)
    return job_id


def parse_sbatch_test_only(returncode: int, stdout: str, stderr: str) -> str:
    """``sbatch --test-only`` prints "sbatch: Job N to start at ..." on stderr when the script is valid."""
    text = (stderr + stdout).strip()
    if returncode != 0 or "to start at" not in text:
        raise SlurmCommandError("sbatch --test-only", returncode, stdout, stderr)
    return text


# ----------------------------------------------------------------------------- scancel
def scancel_argv(job_ids: Iterable[str]) -> list[str]:
    ids = [str(i) for i in job_ids]
    if not all(i.isdigit() for i in ids):
        raise ValueError(f"job ids must be numeric, got {ids}")
    return ["scancel", *ids]


def parse_scancel(returncode: int, stdout: str, stderr: str) -> list[str]:
    """Ids scancel could not find (already gone is not an error for mpflow: the job is not queued)."""
    gone = re.findall(r"Invalid job id specified|Kill job error on job id (\d+)", stderr)
    if returncode != 0 and not gone:
        raise SlurmCommandError("scancel", returncode, stdout, stderr)
    return re.findall(r"job id (\d+)", stderr)


# ----------------------------------------------------------------------------- squeue
SQUEUE_FIELDS = ("job_id", "name", "state", "reason", "start", "comment")
SQUEUE_FORMAT = _FIELD_SEP.join(["%i", "%j", "%T", "%r", "%S", "%k"])  # comment last: it may hold anything


def squeue_argv(user: str | None = None) -> list[str]:
    """One squeue for all of a user's jobs; mpflow's are picked out by name prefix when parsing."""
    argv = ["squeue", "--noheader", "--array", f"--format={SQUEUE_FORMAT}"]
    argv += [f"--user={user}"] if user else ["--me"]
    return argv


def parse_squeue(returncode: int, stdout: str, stderr: str, *, only_mpflow: bool = True) -> dict[str, SlurmStatus]:
    """Jobs by id. A job missing here may still have finished: ask sacct, scontrol, then files."""
    if returncode != 0:
        raise SlurmCommandError("squeue", returncode, stdout, stderr)
    jobs: dict[str, SlurmStatus] = {}
    for row in _rows("squeue", stdout, SQUEUE_FIELDS, "name", only_mpflow):
        long, state, reason = map_slurm_state(row["state"])
        pending_reason = row["reason"].strip() if row["reason"].strip() not in {"", "None"} else None
        jobs[row["job_id"]] = SlurmStatus(
            job_id=row["job_id"], name=row["name"], state=state, slurm_state=long,
            reason=reason or pending_reason,
            start=_parse_time(row["start"]) if state is JobState.R else None,
            comment=row["comment"] if row["comment"] not in {"", "(null)"} else None, source="squeue",
        )
    return jobs


# ----------------------------------------------------------------------------- sacct
SACCT_FIELDS = ("JobID", "JobName", "State", "ExitCode", "Start", "End", "Comment")
ACCOUNTING_DISABLED = "Slurm accounting storage is disabled"


def sacct_argv(user: str | None = None, since: datetime | None = None, job_ids: Sequence[str] = ()) -> list[str]:
    """One ``sacct -X -P`` for all of a user's allocations since ``since`` (or for given ids)."""
    argv = ["sacct", "-X", "-P", "--noheader", f"--format={','.join(SACCT_FIELDS)}"]
    argv += [f"--user={user}"] if user else []
    if since is not None:
        argv.append(f"--starttime={since.strftime('%Y-%m-%dT%H:%M:%S')}")
    if job_ids:
        argv.append(f"--jobs={','.join(str(j) for j in job_ids)}")
    return argv


class AccountingDisabled(RuntimeError):
    """The cluster has no accounting storage: state must come from squeue, scontrol and files."""


def parse_sacct(returncode: int, stdout: str, stderr: str, *, only_mpflow: bool = True) -> dict[str, SlurmStatus]:
    if ACCOUNTING_DISABLED in stdout + stderr:
        raise AccountingDisabled(ACCOUNTING_DISABLED)
    if returncode != 0:
        raise SlurmCommandError("sacct", returncode, stdout, stderr)
    jobs: dict[str, SlurmStatus] = {}
    for row in _rows("sacct", stdout, SACCT_FIELDS, "JobName", only_mpflow):
        long, state, reason = map_slurm_state(row["State"])
        code, sig = _parse_exit(row["ExitCode"])
        if state is JobState.F and long == "FAILED" and code:
            reason = f"exit code {code}"
        # A job id can appear twice after a requeue; the later line is the current allocation.
        jobs[row["JobID"]] = SlurmStatus(
            job_id=row["JobID"], name=row["JobName"], state=state, slurm_state=long, reason=reason,
            exit_code=code, signal=sig, start=_parse_time(row["Start"]), end=_parse_time(row["End"]),
            comment=row["Comment"] or None, source="sacct",
        )
    return jobs


# ----------------------------------------------------------------------------- scontrol
def scontrol_show_job_argv(job_id: str) -> list[str]:
    if not str(job_id).isdigit():
        raise ValueError(f"job id must be numeric, got {job_id!r}")
    return ["scontrol", "--oneliner", "show", "job", str(job_id)]


_SCONTROL_KEYS = ("JobId", "JobName", "JobState", "Reason", "ExitCode", "StartTime", "EndTime", "Comment")


def parse_scontrol_show_job(returncode: int, stdout: str, stderr: str) -> SlurmStatus | None:
    """``None`` when Slurm no longer knows the job (purged after MinJobAge)."""
    if returncode != 0:
        if "Invalid job id" in stderr:
            return None
        raise SlurmCommandError("scontrol show job", returncode, stdout, stderr)
    # key=value pairs separated by spaces; values of the keys we read hold no spaces except Comment,
    # which mpflow writes without spaces.
    fields = dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", stdout))
    if "JobId" not in fields:
        return None
    long, state, reason = map_slurm_state(fields.get("JobState", ""))
    code, sig = _parse_exit(fields.get("ExitCode", ""))
    if state is JobState.F and long == "FAILED" and code:
        reason = f"exit code {code}"
    if state is JobState.PD and fields.get("Reason") not in {None, "None"}:
        reason = fields["Reason"]
    return SlurmStatus(
        job_id=fields["JobId"], name=fields.get("JobName", ""), state=state, slurm_state=long, reason=reason,
        exit_code=code, signal=sig, start=_parse_time(fields.get("StartTime", "")) if state is not JobState.PD else None,
        end=_parse_time(fields.get("EndTime", "")), comment=fields.get("Comment") or None, source="scontrol",
    )
