"""Slurm commands as pure argv builders and pure output parsers (no I/O here).

Each scheduler action is three parts: a builder returning an argv list (and, for batches, the bytes
fed to its stdin), one transport call (done by ``SlurmClient``), and a
``parse_*(returncode, stdout, stderr)`` function. Output is always requested in a machine-readable
form (``--parsable``, ``-P``, explicit ``-o`` formats) with fields declared once; the only free-text
field (the job name) comes last, so a ``|`` in it cannot shift the others.

Job states: Slurm's codes (long and short spellings, as printed by squeue, sacct and scontrol) map
through one table to mpflow's five states and, for failures, a ``FailureKind``. Unknown codes become
``JobState.UNKNOWN`` (``?``) with a warning rather than a guess. A pending job's reason (``Priority``,
``JobHeldUser``...) is kept apart from the failure kind.
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from mpflow.errors import CommandError
from mpflow.slurm.reasons import BUSY_WORDS, LIMIT_WORDS, Refusal, refusal_kind
from mpflow.states import TERMINAL, FailureKind, JobState
from mpflow.validation import check_tag, check_token

log = logging.getLogger(__name__)

JOB_NAME_PREFIX = "mpf-"
_FIELD_SEP = "|"


# Slurm job state codes (squeue(1) "JOB STATE CODES", sacct(1) "JOB STATE CODES").
# long name -> (short code, mpflow state, failure kind)
SLURM_STATES: dict[str, tuple[str, JobState, FailureKind | None]] = {
    "BOOT_FAIL": ("BF", JobState.F, FailureKind.BOOT_FAILURE),  # terminated due to launch failure
    "CANCELLED": ("CA", JobState.F, FailureKind.CANCELLED),  # cancelled by user or administrator
    "COMPLETED": ("CD", JobState.D, None),  # all processes terminated with exit code zero
    "CONFIGURING": ("CF", JobState.PD, None),  # allocated, waiting for resources to become ready
    "COMPLETING": ("CG", JobState.R, None),  # finishing; final state not known yet
    "DEADLINE": ("DL", JobState.F, FailureKind.DEADLINE),  # terminated on deadline
    "FAILED": ("F", JobState.F, FailureKind.NONZERO_EXIT),  # non-zero exit code or other failure
    "NODE_FAIL": ("NF", JobState.F, FailureKind.NODE_FAILURE),  # terminated due to failure of a node
    "OUT_OF_MEMORY": ("OOM", JobState.F, FailureKind.OUT_OF_MEMORY),  # out-of-memory error
    "PENDING": ("PD", JobState.PD, None),  # awaiting resource allocation
    "PREEMPTED": ("PR", JobState.F, FailureKind.PREEMPTION),  # terminated due to preemption
    "RUNNING": ("R", JobState.R, None),  # has an allocation and runs
    "RESV_DEL_HOLD": ("RD", JobState.PD, None),  # held because its reservation was deleted
    "REQUEUE_FED": ("RF", JobState.PD, None),  # requeued by a federation
    "REQUEUE_HOLD": ("RH", JobState.PD, None),  # held job being requeued
    "REQUEUED": ("RQ", JobState.PD, None),  # completing job being requeued
    "RESIZING": ("RS", JobState.R, None),  # about to change size
    "REVOKED": ("RV", JobState.F, FailureKind.CANCELLED),  # removed because a sibling cluster started it
    "SIGNALING": ("SI", JobState.R, None),  # being signalled
    "SPECIAL_EXIT": ("SE", JobState.F, FailureKind.UNKNOWN),  # requeued in a held state on a special exit
    "STAGE_OUT": ("SO", JobState.R, None),  # staging out data
    "STOPPED": ("ST", JobState.R, None),  # stopped (SIGSTOP), keeps its allocation
    "SUSPENDED": ("S", JobState.R, None),  # allocation suspended, CPUs released
    "TIMEOUT": ("TO", JobState.F, FailureKind.TIMEOUT),  # reached its time limit
}
_SHORT_TO_LONG = {short: long for long, (short, _, _) in SLURM_STATES.items()}


@dataclass(frozen=True)
class SlurmStatus:
    """One job as seen by one scheduler command."""

    job_id: str
    name: str
    state: JobState
    slurm_state: str  # the long Slurm spelling, e.g. RUNNING, or the raw text if unknown
    failure_kind: FailureKind | None = None  # set when state is F
    pending_reason: str | None = None  # set when state is PD: Priority, Resources, JobHeldUser...
    exit_code: int | None = None
    signal: int | None = None
    start: datetime | None = None  # when it started (R, D, F); for a job cancelled while pending, the cancel time
    end: datetime | None = None  # when it ended (D, F)
    source: str = ""  # squeue | sacct | scontrol
    work_dir: str | None = None  # the job's working directory (mpflow's: the job folder, so the model-stage)


def map_slurm_state(code: str) -> tuple[str, JobState, FailureKind | None]:
    """Map a Slurm state spelling (``RUNNING``, ``R``, ``CANCELLED by 1000``, ``OOM``) to mpflow's."""
    word = code.strip().split(" ", 1)[0].rstrip("+").upper()
    long = word if word in SLURM_STATES else _SHORT_TO_LONG.get(word)
    if long is None:
        log.warning("unknown Slurm job state %r; treating it as undetermined", code)
        return code.strip(), JobState.UNKNOWN, None
    _, state, kind = SLURM_STATES[long]
    return long, state, kind


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


def _status(job_id: str, name: str, long: str, state: JobState, kind: FailureKind | None, *, reason: str = "",
            exit_code: int | None = None, signal: int | None = None, start: str = "", end: str = "",
            work_dir: str = "", source: str) -> SlurmStatus:
    """A ``SlurmStatus`` with the fields that make sense for its state (a pending job's reason, a
    finished job's end, a started job's start)."""
    reason = reason.strip()
    return SlurmStatus(
        job_id=job_id, name=name, state=state, slurm_state=long,
        failure_kind=kind if state is JobState.F else None,
        pending_reason=reason if state is JobState.PD and reason not in {"", "None"} else None,
        exit_code=exit_code, signal=signal,
        start=_parse_time(start) if state in {JobState.R, JobState.D, JobState.F} else None,
        end=_parse_time(end) if state in TERMINAL else None,
        source=source,
        work_dir=work_dir or None,
    )


# ----------------------------------------------------------------------------- errors
class SchedulerError(CommandError):
    """Slurm refused or failed a command: carries the cluster, argv, exit code, output and a hint."""

    @property
    def refusal(self) -> Refusal | None:
        """A site's limit (back-pressure) or a busy controller (back off), from what Slurm said."""
        return refusal_kind(f"{self.message}\n{self.stderr}\n{self.stdout}")


# Known Slurm error messages (Slurm 22.05 wording) and what to change.
_HINTS = (
    ("Invalid partition", "check the cluster's `partition` (or the job's extra_sbatch partition)"),
    ("Invalid account", "check the cluster's `account`"),
    ("Unable to contact slurm controller", "the cluster's slurmctld does not answer; if it runs, check `env` "
                                           "(SLURM_CONF) in the cluster's settings"),
    ("Requested node configuration is not available", "the job asks for more than a node has: check this "
                                                      "cluster's stage_resources (cpus_per_task, mem, gpus)"),
    ("QOSMax", "a QOS limit of the site was reached: lower `max_queued` or check the job's qos"),
    ("AssocMax", "an association limit of the site was reached: lower `max_queued`"),
    ("Unable to open file", "the job script is not on the cluster (was the upload refused?)"),
    ("command not found", "Slurm's commands are not on the login shell's PATH: set PATH in the cluster's `env`"),
)


def scheduler_error(what: str, returncode: int, stdout: str, stderr: str) -> SchedulerError:
    """A ``SchedulerError`` for ``what`` with the first line of Slurm's message and a hint if one is known."""
    said = next((ln.strip() for ln in (stderr or stdout).splitlines() if ln.strip()), "")
    said_all = (stderr + stdout).lower()
    hint = next((h for needle, h in _HINTS if needle.lower() in said_all), None)
    if hint is None and returncode == 127:
        hint = dict(_HINTS)["command not found"]
    return SchedulerError(f"{what} failed" + (f": {said[:300]}" if said else ""), returncode=returncode,
                          stdout=stdout, stderr=stderr, hint=hint)


# ----------------------------------------------------------------------------- names and tokens
def job_name(token: str) -> str:
    """The Slurm job name carrying mpflow's submission token (how lost job ids are found again)."""
    return JOB_NAME_PREFIX + check_token(token)


def token_of(name: str) -> str | None:
    return name[len(JOB_NAME_PREFIX):] if name.startswith(JOB_NAME_PREFIX) else None


# ----------------------------------------------------------------------------- sbatch
def sbatch_argv(script_path: str, *, token: str, comment: str | None = None, partition: str | None = None,
                account: str | None = None, extra: Sequence[str] = (), test_only: bool = False) -> list[str]:
    """``sbatch --parsable`` for a script already on the cluster.

    The token goes in ``--job-name`` and the model tag in ``--comment``; both are checked here too
    (a newline in a comment would forge records in squeue's output), and both are single argv items.
    """
    argv = ["sbatch", "--parsable", f"--job-name={job_name(token)}"]
    if comment:
        argv.append(f"--comment={check_tag(comment)}")
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
        raise scheduler_error("sbatch", returncode, stdout, stderr)
    lines = [ln.strip() for ln in stdout.splitlines() if ln.strip()]
    if not lines:
        raise scheduler_error("sbatch (no job id printed)", returncode, stdout, stderr)
    job_id = lines[-1].split(";", 1)[0]
    if not job_id.isdigit():
        raise scheduler_error(f"sbatch (unexpected output {lines[-1]!r})", returncode, stdout, stderr)
    return job_id


def parse_sbatch_test_only(returncode: int, stdout: str, stderr: str) -> str:
    """``sbatch --test-only`` prints "sbatch: Job N to start at ..." on stderr when the script is valid."""
    text = (stderr + stdout).strip()
    if returncode != 0 or "to start at" not in text:
        raise scheduler_error("sbatch --test-only", returncode, stdout, stderr)
    return text


# Runs one sbatch per record read from stdin and prints one line per record: key, exit code, stdout
# and stderr (tabs and newlines flattened). Records are NUL-separated fields: key, folder, number of
# arguments, the arguments. Each sbatch gets /dev/null as stdin, so none of them eats the records.
# After a refusal by a site's limit or a busy controller (the words of mpflow.slurm.reasons), the
# records left are not sent: each is answered with exit code 75 and that refusal, so one limit costs
# the controller one refused sbatch, not one per job of the batch.
_SBATCH_MANY = r"""
set -u
errf=$(mktemp "${TMPDIR:-/tmp}/mpflow-sbatch.XXXXXX") || exit 1
trap 'rm -f -- "$errf"' EXIT
stop=
while IFS= read -r -d '' key && IFS= read -r -d '' dir && IFS= read -r -d '' n; do
  args=()
  for ((i = 0; i < n; i++)); do IFS= read -r -d '' a || exit 3; args+=("$a"); done
  if [ -n "$stop" ]; then printf '%s\t75\t\t%s\n' "$key" "mpflow: not sent after an earlier refusal: $stop"; continue; fi
  if out=$( { cd -- "$dir" && sbatch "${args[@]}"; } 2>"$errf" </dev/null ); then rc=0; else rc=$?; fi
  err=$(<"$errf")
  out=${out//$'\t'/ }; out=${out//$'\n'/ }; err=${err//$'\t'/ }; err=${err//$'\n'/ }
  if [ "$rc" != 0 ]; then case $err in @STOP_PATTERNS@) stop=$err ;; esac; fi
  printf '%s\t%s\t%s\t%s\n' "$key" "$rc" "$out" "$err"
done
""".replace("@STOP_PATTERNS@", "|".join(f"*{shlex.quote(w)}*" for w in (*LIMIT_WORDS, *BUSY_WORDS)))


@dataclass(frozen=True)
class SbatchJob:
    """One sbatch of a batch: the caller's key, the folder to submit from, and sbatch's argv."""

    key: str
    cwd: str
    argv: tuple[str, ...]  # starts with "sbatch"


def sbatch_many_argv() -> list[str]:
    """One bash command that runs every sbatch of a batch (records on stdin, see ``sbatch_many_stdin``)."""
    return ["bash", "-c", _SBATCH_MANY, "mpflow-sbatch"]


def sbatch_many_stdin(jobs: Sequence[SbatchJob]) -> bytes:
    """The records for ``sbatch_many_argv``: every value is one NUL-terminated field, never shell text."""
    fields: list[str] = []
    for job in jobs:
        if job.argv[:1] != ("sbatch",):
            raise ValueError(f"job {job.key!r}: argv must start with sbatch, got {job.argv[:1]}")
        args = list(job.argv[1:])
        for value in (job.key, job.cwd, *args):
            if "\0" in value:
                raise ValueError(f"job {job.key!r}: a NUL character cannot be passed to sbatch")
        if any(c in job.key for c in "\t\n"):
            raise ValueError(f"job key {job.key!r} contains a tab or newline")
        fields += [job.key, job.cwd, str(len(args)), *args]
    return "".join(f + "\0" for f in fields).encode("utf-8", "surrogateescape")


def parse_sbatch_many(returncode: int, stdout: str, stderr: str, keys: Sequence[str], *, test_only: bool = False
                      ) -> dict[str, str | SchedulerError]:
    """{key: job id (or sbatch --test-only's answer)} or a ``SchedulerError`` for each job of the
    batch. A job the command never reached (it died half-way) gets an error saying so."""
    answers: dict[str, str | SchedulerError] = {}
    for line in stdout.splitlines():
        parts = line.split("\t", 3)
        if len(parts) != 4 or not parts[1].lstrip("-").isdigit():
            log.warning("skipping unparsable batch sbatch line %r", line)
            continue
        key, rc, out, err = parts[0], int(parts[1]), parts[2], parts[3]
        try:
            answers[key] = (parse_sbatch_test_only if test_only else parse_sbatch)(rc, out, err)
        except SchedulerError as exc:
            answers[key] = exc
    for key in keys:
        if key not in answers:
            answers[key] = scheduler_error("batch sbatch (no answer for this job)", returncode, "", stderr)
    return answers


# ----------------------------------------------------------------------------- scancel
def scancel_argv(job_ids: Iterable[str]) -> list[str]:
    ids = [str(i) for i in job_ids]
    if not all(i.isdigit() for i in ids):
        raise ValueError(f"job ids must be numeric, got {ids}")
    return ["scancel", *ids]


def parse_scancel(returncode: int, stdout: str, stderr: str) -> list[str]:
    """Ids scancel reported as unknown (already gone is not an error for mpflow: the job is not queued).
    Slurm 22.05 cancels unknown ids silently with exit code 0; older versions print an error per id."""
    gone = re.findall(r"Invalid job id specified|Kill job error on job id (\d+)", stderr)
    if returncode != 0 and not gone:
        raise scheduler_error("scancel", returncode, stdout, stderr)
    return re.findall(r"job id (\d+)", stderr)


# ----------------------------------------------------------------------------- squeue
SQUEUE_FIELDS = ("job_id", "state", "reason", "start", "end", "work_dir", "name")
SQUEUE_FORMAT = _FIELD_SEP.join(["%i", "%T", "%r", "%S", "%e", "%Z", "%j"])  # the name last: it may hold anything


def squeue_argv(user: str) -> list[str]:
    """One squeue for all of a user's jobs, finished ones included while Slurm keeps them (MinJobAge,
    300 s by default); mpflow's are picked out by name prefix when parsing, and the user's others are
    counted (a site's limits count all of them). The user is named (``--user``), never ``--me``, which
    releases before 20.11 do not have."""
    if not user:
        raise ValueError("squeue_argv: name the user (older Slurm releases have no --me)")
    return ["squeue", "--noheader", "--array", "--states=all", f"--format={SQUEUE_FORMAT}", f"--user={user}"]


def parse_squeue(returncode: int, stdout: str, stderr: str, *, only_mpflow: bool = True) -> dict[str, SlurmStatus]:
    """Jobs by id. A job missing here is not done by that fact alone (Slurm forgets finished jobs
    after MinJobAge): ask sacct where there is accounting, and the job's files."""
    if returncode != 0:
        raise scheduler_error("squeue", returncode, stdout, stderr)
    jobs: dict[str, SlurmStatus] = {}
    for row in _rows("squeue", stdout, SQUEUE_FIELDS, "name", only_mpflow):
        long, state, kind = map_slurm_state(row["state"])
        jobs[row["job_id"]] = _status(row["job_id"], row["name"], long, state, kind, reason=row["reason"],
                                      start=row["start"], end=row["end"], work_dir=row["work_dir"],
                                      source="squeue")
    return jobs


def queued_count(jobs: dict[str, SlurmStatus]) -> int:
    """How many of ``jobs`` (all of a user's, from :func:`parse_squeue` with ``only_mpflow=False``)
    are queued or running: what a site's per-user limits count."""
    return sum(1 for s in jobs.values() if s.state not in TERMINAL)


# ----------------------------------------------------------------------------- sacct
SACCT_FIELDS = ("JobID", "State", "ExitCode", "Start", "End", "WorkDir", "JobName")
ACCOUNTING_DISABLED = "Slurm accounting storage is disabled"


def sacct_argv(user: str | None = None, since: datetime | None = None, job_ids: Sequence[str] = (),
               job_names: Sequence[str] = ()) -> list[str]:
    """One ``sacct -X -P`` for given ids, or given job names since ``since``, or all of a user's
    allocations since ``since``."""
    argv = ["sacct", "-X", "-P", "--noheader", f"--format={','.join(SACCT_FIELDS)}"]
    argv += [f"--user={user}"] if user else []
    if since is not None:
        argv.append(f"--starttime={since.strftime('%Y-%m-%dT%H:%M:%S')}")
    if job_ids:
        argv.append(f"--jobs={','.join(str(j) for j in job_ids)}")
    if job_names:
        argv.append(f"--name={','.join(job_names)}")
    return argv


class AccountingDisabled(RuntimeError):
    """The cluster has no accounting storage: state must come from squeue and the job's files."""


def parse_sacct(returncode: int, stdout: str, stderr: str, *, only_mpflow: bool = True) -> dict[str, SlurmStatus]:
    if ACCOUNTING_DISABLED in stdout + stderr:
        raise AccountingDisabled(ACCOUNTING_DISABLED)
    if returncode != 0:
        raise scheduler_error("sacct", returncode, stdout, stderr)
    jobs: dict[str, SlurmStatus] = {}
    for row in _rows("sacct", stdout, SACCT_FIELDS, "JobName", only_mpflow):
        long, state, kind = map_slurm_state(row["State"])
        code, sig = _parse_exit(row["ExitCode"])
        # A job id can appear twice after a requeue; the later line is the current allocation.
        jobs[row["JobID"]] = _status(row["JobID"], row["JobName"], long, state, kind, exit_code=code, signal=sig,
                                     start=row["Start"], end=row["End"], work_dir=row["WorkDir"],
                                     source="sacct")
    return jobs


# ----------------------------------------------------------------------------- scontrol
def scontrol_show_job_argv(job_id: str) -> list[str]:
    """One job's record (what a naive poller asks once per job; mpflow's polls do not need it)."""
    if not str(job_id).isdigit():
        raise ValueError(f"job id must be numeric, got {job_id!r}")
    return ["scontrol", "--oneliner", "show", "job", str(job_id)]


def parse_scontrol_show_job(returncode: int, stdout: str, stderr: str) -> SlurmStatus | None:
    """``None`` when Slurm no longer knows the job (purged after MinJobAge)."""
    if returncode != 0:
        if "Invalid job id" in stderr:
            return None
        raise scheduler_error("scontrol show job", returncode, stdout, stderr)
    # key=value pairs separated by spaces; the values of the keys read here hold no spaces.
    fields = dict(m.groups() for m in re.finditer(r"(\w+)=(\S*)", stdout))
    if "JobId" not in fields:
        return None
    long, state, kind = map_slurm_state(fields.get("JobState", ""))
    code, sig = _parse_exit(fields.get("ExitCode", ""))
    return _status(fields["JobId"], fields.get("JobName", ""), long, state, kind, reason=fields.get("Reason", ""),
                   exit_code=code, signal=sig, start=fields.get("StartTime", ""), end=fields.get("EndTime", ""),
                   source="scontrol")


# ----------------------------------------------------------------------------- versions
OLDEST_SLURM = (17, 2)
"""The oldest Slurm release mpflow's commands are written for: ``sbatch --parsable`` (14.03),
``squeue --states=all --array`` and ``sacct -X -P --name`` are older; ``squeue --me`` (20.11) is
avoided (the user is named)."""


def parse_slurm_version(text: str) -> str | None:
    """``slurm 22.05.8`` (any Slurm command's ``--version``) → ``"22.05.8"``."""
    found = re.search(r"slurm(?:-wlm)?\s+(\d+\.\d+(?:\.\d+)?\S*)", text)
    return found.group(1) if found else None


def version_problem(version: str) -> str | None:
    """Why mpflow cannot promise its commands work with this release, or None."""
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers < OLDEST_SLURM:
        return (f"older than {OLDEST_SLURM[0]}.{OLDEST_SLURM[1]:02d}, the oldest release mpflow's squeue, "
                f"sacct and sbatch options are written for")
    return None


# ----------------------------------------------------------------------------- sinfo
SINFO_FIELDS = ("partition", "avail", "nodes", "state")
SINFO_FORMAT = _FIELD_SEP.join(["%P", "%a", "%D", "%t"])
NODE_STATES_TAKING_JOBS = frozenset({"idle", "mix", "alloc", "comp", "plnd", "resv"})
"""sinfo's compact node states (``%t``) of nodes that run jobs or will (drained, down, failing do not)."""


@dataclass(frozen=True)
class PartitionNodes:
    """One line of sinfo: a partition, whether it is up, and how many of its nodes are in one state."""

    partition: str
    default: bool
    up: bool
    nodes: int
    state: str  # compact node state, e.g. idle, mix, drain*, down*


def sinfo_argv() -> list[str]:
    return ["sinfo", "--noheader", f"--format={SINFO_FORMAT}"]


def parse_sinfo(returncode: int, stdout: str, stderr: str) -> list[PartitionNodes]:
    if returncode != 0:
        raise scheduler_error("sinfo", returncode, stdout, stderr)
    rows = []
    for row in _rows("sinfo", stdout, SINFO_FIELDS, "partition", only_mpflow=False):
        name = row["partition"]
        rows.append(PartitionNodes(name.rstrip("*"), name.endswith("*"), row["avail"] == "up",
                                   int(row["nodes"]) if row["nodes"].isdigit() else 0, row["state"]))
    return rows


def partition_problem(rows: Sequence[PartitionNodes], partition: str | None) -> str | None:
    """Why jobs sent to ``partition`` (None: the default one) would not run, or None when they would."""
    names = partition.split(",") if partition else [r.partition for r in rows if r.default]
    if not names:
        return "no default partition: set the cluster's `partition`"
    mine = [r for r in rows if r.partition in names]
    if not mine:
        return f"partition {','.join(names)} does not exist (sinfo lists {', '.join(sorted({r.partition for r in rows}))})"
    if not any(r.up for r in mine):
        return f"partition {','.join(names)} is down"
    if not any(r.up and r.state.rstrip("*~#!%$@^-") in NODE_STATES_TAKING_JOBS for r in mine):
        return f"partition {','.join(names)} has no node that takes jobs ({', '.join(f'{r.nodes} {r.state}' for r in mine)})"
    return None
