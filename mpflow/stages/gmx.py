"""Running GROMACS commands and reading their errors.

This module owns (1) the one-line reason a failed GROMACS command gives (:func:`gromacs_error`,
parsed from GROMACS' own "Fatal error:" block, and for grompp's "There were N errors in input
file(s)" from the first ``ERROR n [file ..., line ...]`` block above it), (2) the runner type every
protocol step uses to execute a shell script (:data:`ShellRunner`, :func:`subprocess_runner`; the
Prefect task supplies a prefect-shell one) and (3) :func:`run_gmx`, one GROMACS command as an argv
list with its error turned into :class:`GromacsError`.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: environment every GROMACS command gets: no "#file.1#" backups of files we overwrite on purpose
GMX_ENV = {"GMX_MAXBACKUP": "-1"}

#: prepended to every protocol script: stop at the first failing command, stderr into the one
#: captured stream (GROMACS writes its messages to stderr; ShellOperation keeps stdout only), and
#: no inherited OMP_NUM_THREADS: mdrun takes its threads from -ntomp and refuses to run when the
#: two differ (a Dask nanny in the same process leaves OMP_NUM_THREADS=1 behind, for one)
SCRIPT_PREAMBLE = "set -euo pipefail\nexec 2>&1\nunset OMP_NUM_THREADS\n"


@dataclass(frozen=True)
class CommandResult:
    """Exit code and combined stdout+stderr of one script."""

    returncode: int
    output: str


#: runs ``script`` (bash) in ``cwd`` with ``env`` added to the environment
ShellRunner = Callable[[str, Path, Mapping[str, str]], CommandResult]


def subprocess_runner(script: str, cwd: Path, env: Mapping[str, str]) -> CommandResult:
    """Run ``script`` with bash in ``cwd``, stdin closed, output captured (no Prefect needed)."""
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env={**os.environ, **env},
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace")
    return CommandResult(proc.returncode, proc.stdout)


class GromacsError(RuntimeError):
    """A GROMACS command failed; ``reason`` is GROMACS' own error line."""

    def __init__(self, command: str, returncode: int, reason: str, output: str):
        self.command = command
        self.returncode = returncode
        self.reason = reason
        self.output = output
        super().__init__(f"{command}: {reason}")


_BLOCK_END = re.compile(r"^(For more information|-{5,}|ERROR \d+|WARNING \d+|NOTE \d+)")
_INPUT_ERRORS = re.compile(r"There (was|were) \d+ errors? in input file|Too many warnings")
_ITEM = re.compile(r"^(ERROR|WARNING) \d+ \[[^\]]*\]:?\s*$")


def _squash(parts: Sequence[str]) -> str:
    return " ".join(" ".join(parts).split())


def gromacs_error(output: str) -> str | None:
    """GROMACS' error line from a command's output, or None when there is no "Fatal error:".

    For grompp's summary errors ("There was 1 error in input file(s)", "Too many warnings (1)")
    the first ERROR (or WARNING) block is put in front, since the summary alone says nothing:
    ``ERROR 1 [file emmd.mdp, line 3]: Right hand side 'x' for parameter 'nsteps' ... (There was
    1 error in input file(s))``.  Works whether or not blank lines were kept in ``output``.
    """
    lines = output.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.strip() == "Fatal error:"]
    if not starts:
        return None
    body = []
    for ln in lines[starts[-1] + 1:]:
        if not ln.strip() or _BLOCK_END.match(ln.strip()):
            if body:
                break
            continue
        body.append(ln.strip())
    fatal = _squash(body) or "Fatal error (no message)"
    if not _INPUT_ERRORS.search(fatal):
        return fatal
    kind = "ERROR" if "error" in fatal else "WARNING"
    for i, ln in enumerate(lines[:starts[-1]]):
        if _ITEM.match(ln.strip()) and ln.strip().startswith(kind):
            detail = []
            for nxt in lines[i + 1:starts[-1]]:
                if not nxt.strip() or not nxt.startswith((" ", "\t")):
                    if detail:
                        break
                    continue
                detail.append(nxt.strip())
            return f"{ln.strip().rstrip(':')}: {_squash(detail)} ({fatal})"
    return fatal


def last_line(output: str) -> str:
    """The last non-empty line of ``output`` (the reason when a command is not GROMACS)."""
    for ln in reversed(output.splitlines()):
        if ln.strip():
            return ln.strip()
    return "(no output)"


def run_gmx(argv: Sequence[str], cwd: str | Path, *, stdin: str | None = None,
            runner: ShellRunner = subprocess_runner) -> CommandResult:
    """Run one GROMACS command (``argv[0]`` is the gmx binary) in ``cwd``.

    ``stdin`` answers interactive group prompts (e.g. ``"SOL\\n"`` for genion).  Raises
    :class:`GromacsError` with GROMACS' own error line on failure.
    """
    command = shlex.join(argv)
    script = SCRIPT_PREAMBLE
    script += (f"printf %s {shlex.quote(stdin)} | {command}\n" if stdin is not None
               else f"{command} < /dev/null\n")
    result = runner(script, Path(cwd), GMX_ENV)
    if result.returncode != 0:
        reason = gromacs_error(result.output) or last_line(result.output)
        raise GromacsError(command, result.returncode, reason, result.output)
    return result
