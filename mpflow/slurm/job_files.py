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

from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import timedelta, timezone
from typing import Sequence

from mpflow.slurm.commands import SlurmStatus
from mpflow.slurm.md_log import (
    KEY_LINES,
    STEP_HEADER,
    STEP_VALUES,
    STOPPED_AT_MAXH,
    MdLog,
    parse_md_log,
)
from mpflow.states import FailureKind, JobState

#: exit code of a preparation job whose step refused the model's input (a bad structure): the job writes
#: the step's own line to ``<stage>.<cluster>.reason`` and the manager holds the model-stage with it
INPUT_REFUSED_EXIT = 66

LOG_HEAD_BYTES = 65536
"""How much of a log's beginning the probe reads for its header (GROMACS writes the parameters, the
atom count and ``Started mdrun`` in the first ~20 kB), only while the tick does not know them yet."""
LOG_TAIL_BYTES = 32768
"""How much of a log's end the probe reads every tick (the last energy block and a finished run's
performance block are in the last ~7 kB of a log)."""
LOG_LINE_CHARS = 300

# For each "folder<TAB>stage<TAB>header" line on stdin: whether <stage>.gro and <stage>.log exist, and
# the exit code and job id written by the job script (shell builtins only, no process per job). $1 is
# the cluster name. Then, for every log that exists, in a constant number of processes whatever the
# number of jobs: its size and modification time (one stat), and the key lines of its head (only where
# the header is asked for) and of its tail (one head, one tail, one grep that keeps the lines that can
# matter, one awk that keeps of the energy blocks only the last one before each key line). The output
# is bounded: per log, a few key lines.
_PROBE_SCRIPT = r"""
c=$1
shift $#
tab=$(printf '\t')
date '+now%t%s%t%z'
heads=
while IFS="$tab" read -r d s h; do
  g=0; [ -s "$d/$s.gro" ] && g=1
  l=0; [ -f "$d/$s.log" ] && l=1
  e=-; j=-
  if [ -f "$d/$s.$c.exitcode" ]; then read -r e j _ < "$d/$s.$c.exitcode" || true; fi
  case $e in ''|*[!0-9]*) e=- ;; esac
  case $j in ''|*[!0-9]*) j=- ;; esac
  printf 'f\t%s\t%s\t%s\t%s\t%s\t%s\n' "$g" "$l" "$e" "$j" "$s" "$d"
  if [ -f "$d/$s.$c.reason" ]; then
    r=; IFS= read -r r < "$d/$s.$c.reason" || true
    printf 'r\t%s\t%s\t%s\n' "$s" "$d" "$r"
  fi
  if [ $l = 1 ]; then
    set -- "$@" "$d/$s.log"
    [ "$h" = 1 ] && heads="$heads$d/$s.log$tab"
  fi
done
[ $# -gt 0 ] || exit 0
stat --printf 'm\t%Y\t%s\t%n\n' -- "$@" 2>/dev/null || true
{
  if [ -n "$heads" ]; then
    IFS=$tab; set -f; head -c @HEAD@ -- /dev/null $heads 2>/dev/null; set +f; unset IFS
  fi
  tail -c @TAIL@ -- /dev/null "$@" 2>/dev/null
} | grep -E -e '@LINES@' | awk '
function out(s) { if (file != named) { print "p\t" file; named = file } print "L\t" substr(s, 1, @CHARS@) }
function release() { if (stepv != "") { out(steph); out(stepv) } steph = ""; stepv = "" }
/^==> .* <==$/ { release(); want = 0; file = substr($0, 5, length($0) - 8); next }
want == 1 { want = 0; if ($0 ~ /@VALUES@/) { stepv = $0; next } }
/@STEP@/ { steph = $0; stepv = ""; want = 1; next }
/@KEYS@/ { release(); out($0) }
END { release() }
'
"""


def _probe_script() -> str:
    def awk_regex(pattern: str) -> str:  # inside /.../ in a single-quoted awk program
        assert "'" not in pattern
        return pattern.replace("/", r"\/")

    return (_PROBE_SCRIPT.replace("@HEAD@", str(LOG_HEAD_BYTES)).replace("@TAIL@", str(LOG_TAIL_BYTES))
            .replace("@CHARS@", str(LOG_LINE_CHARS)).replace("@VALUES@", awk_regex(STEP_VALUES))
            .replace("@STEP@", awk_regex(STEP_HEADER)).replace("@KEYS@", awk_regex(KEY_LINES))
            .replace("@LINES@", f"^==> .* <==$|{STEP_HEADER}|{STEP_VALUES}|{KEY_LINES}"))


PROBE_SCRIPT = _probe_script()


@dataclass(frozen=True)
class FileEvidence:
    job_dir: str
    stage: str
    has_gro: bool
    has_log: bool
    exit_code: int | None  # from the exit-code file, whichever job wrote it
    exit_job_id: str | None  # the job that wrote the exit-code file
    log: MdLog | None = None  # what the log's key lines say (a GROMACS log or not: ``log.is_gromacs``)
    log_mtime: float | None = None  # when the log was last written (seconds since the epoch, the cluster's clock)
    probed_at: float | None = None  # when the probe ran, on the same clock
    reason: str | None = None  # the first line of ``<stage>.<cluster>.reason`` (a step that refused its input)


def probe_argv(cluster: str) -> list[str]:
    """One ``sh`` command reading the files of every (folder, stage) given by ``probe_stdin``."""
    return ["sh", "-c", PROBE_SCRIPT, "mpflow-probe", cluster]


def probe_stdin(folders: Sequence[tuple[str, str] | tuple[str, str, bool]]) -> str:
    """The probe's stdin: one line per (folder, stage[, read the log's header too]); without the third
    value the header is read (a log's run length, time step and size, until the caller knows them)."""
    lines = []
    for folder, stage, *header in folders:
        if any(c in folder + stage for c in "\t\n\0"):
            raise ValueError(f"job folder {folder!r} or stage {stage!r} contains a tab, newline or NUL")
        lines.append(f"{folder}\t{stage}\t{1 if (header[0] if header else True) else 0}\n")
    return "".join(lines)


def parse_probe(returncode: int, stdout: str, stderr: str) -> dict[tuple[str, str], FileEvidence]:
    if returncode != 0:
        raise RuntimeError(f"file probe failed (exit {returncode}): {stderr.strip()[:500]}")
    files: list[list[str]] = []
    now: float | None = None
    zone: timezone | None = None
    mtimes: dict[str, float] = {}
    log_lines: dict[str, list[str]] = defaultdict(list)
    path = ""
    reasons: dict[tuple[str, str], str] = {}
    for line in stdout.splitlines():
        kind, _, rest = line.partition("\t")
        if kind == "f":
            files.append(rest.split("\t", 5))
        elif kind == "r":  # the reason file's first line: stage, folder, line
            r_stage, r_folder, r_line = (rest.split("\t", 2) + ["", ""])[:3]
            reasons[(r_folder, r_stage)] = r_line.strip()[:LOG_LINE_CHARS]
        elif kind == "L":  # a key line of the log named by the last "p" line
            log_lines[path].append(rest)
        elif kind == "p":
            path = rest
        elif kind == "m":
            mtime, _size, path = rest.split("\t", 2)
            mtimes[path] = float(mtime)
        elif kind == "now":
            epoch, _, offset = rest.partition("\t")
            now = float(epoch) if epoch.isdigit() else None
            zone = _zone(offset)
    found = {}
    for gro, log, code, job_id, stage, folder in files:
        path = f"{folder}/{stage}.log"
        reading = parse_md_log(log_lines.get(path, ())) if log == "1" else None
        if reading is not None and reading.started is not None and zone is not None:
            reading = replace(reading, started=reading.started.replace(tzinfo=zone))
        found[(folder, stage)] = FileEvidence(
            folder, stage, gro == "1", log == "1", int(code) if code.isdigit() else None,
            job_id if job_id.isdigit() else None, log=reading, log_mtime=mtimes.get(path), probed_at=now,
            reason=reasons.get((folder, stage)) or None)
    return found


def _zone(offset: str) -> timezone | None:
    """``date +%z`` (``+0100``) as a time zone: GROMACS writes its dates on the cluster's local clock."""
    if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
        return None
    minutes = int(offset[1:3]) * 60 + int(offset[3:])
    return timezone(timedelta(minutes=minutes if offset[0] == "+" else -minutes))


@dataclass(frozen=True)
class Verdict:
    """One job's state from the scheduler and its files together."""

    state: JobState
    failure_kind: FailureKind | None = None
    detail: str | None = None  # one line for humans: "exit code 3", "COMPLETED but no emmd.gro"
    exit_code: int | None = None


def _from_exit_code(code: int, ev: FileEvidence) -> Verdict:
    if code == INPUT_REFUSED_EXIT and ev.reason:
        return Verdict(JobState.F, FailureKind.NONZERO_EXIT, ev.reason, code)
    if code != 0:
        return Verdict(JobState.F, FailureKind.NONZERO_EXIT, f"exit code {code}", code)
    if ev.has_gro:
        return Verdict(JobState.D, None, None, 0)
    return _without_output(ev, f"exit code 0 but no {ev.stage}.gro")


def _without_output(ev: FileEvidence, why: str) -> Verdict:
    """A job that ended well but left no ``<stage>.gro``: mdrun stopped at its ``-maxh`` limit (its log
    says so; it goes on from its checkpoint), or it did not do its work."""
    log = ev.log
    if log is not None and log.stopped == STOPPED_AT_MAXH:
        return Verdict(JobState.F, FailureKind.TIMEOUT, f"mdrun stopped at its -maxh limit at step {log.step} of "
                       f"{log.nsteps}", 0)
    return Verdict(JobState.F, FailureKind.MISSING_OUTPUT, why, 0)


def resolve_state(job_id: str | None, status: SlurmStatus | None, ev: FileEvidence | None) -> Verdict:
    """Combine the scheduler's view and the folder's for the job ``job_id`` (None: never submitted,
    or its id was lost and its token not found).

    Live scheduler states win. For a finished job the files decide success (a COMPLETED job without
    its ``.gro`` did not do its work, unless its log says mdrun stopped at ``-maxh``: then it timed
    out and goes on from its checkpoint). For a job the scheduler no longer knows, only an exit-code
    file written by that same job counts."""
    own_exit = ev.exit_code if ev is not None and job_id is not None and ev.exit_job_id == job_id else None
    if status is not None and status.state in {JobState.PD, JobState.R, JobState.UNKNOWN}:
        detail = f"unknown Slurm state {status.slurm_state!r}" if status.state is JobState.UNKNOWN else None
        return Verdict(status.state, None, detail)
    if status is not None and status.state is JobState.F:
        code = status.exit_code if status.exit_code is not None else own_exit
        kind = status.failure_kind or FailureKind.UNKNOWN
        if kind is FailureKind.NONZERO_EXIT and code == INPUT_REFUSED_EXIT and ev is not None and ev.reason:
            return Verdict(JobState.F, kind, ev.reason, code)
        if kind is FailureKind.NONZERO_EXIT and code:
            return Verdict(JobState.F, kind, f"exit code {code}", code)
        return Verdict(JobState.F, kind, status.slurm_state, code)
    if status is not None and status.state is JobState.D:
        if ev is None or ev.has_gro:
            return Verdict(JobState.D, None, None, 0)
        return _without_output(ev, f"COMPLETED but no {ev.stage}.gro")
    if job_id is None:
        return Verdict(JobState.NS)
    if own_exit is not None:
        return _from_exit_code(own_exit, ev)
    return Verdict(JobState.F, FailureKind.LOST,
                   f"job {job_id} is no longer known to Slurm and wrote no exit-code file "
                   f"(cancelled before it started, or killed without a trace)")
