"""What a GROMACS log (``<stage>.log``, mdrun's ``-g``) says about its run: a pure parser.

A log is written as the run goes: a header (the version, the ``.mdp`` parameters, ``There are: N
Atoms``), ``Started mdrun on rank 0 <date>``, one energy block every ``nstlog`` steps headed
``Step Time`` (``Step Time Lambda`` up to GROMACS 2018), and, when mdrun ends its run part (the
last step, ``-maxh``, a TERM or INT signal), the performance block (``Time:`` core and wall
seconds, ``Performance:`` ns/day and hour/ns) and ``Finished mdrun``. A run continued from its
checkpoint appends a second header and ``Started`` line to the same log. A log cut short (the
process was killed) simply ends after its last energy block.

:func:`parse_md_log` reads the lines that matter, in order, from a whole log or from the few lines
the job-folder probe keeps (``mpflow.slurm.job_files``: the lines of the head and the tail of each
log that match :data:`KEY_LINES`, of the energy blocks only the last one before each other key
line): both give the same :class:`MdLog`. Formats seen: GROMACS 2018, 2022 and 2024 (the tests'
fixtures in ``tests/data/mdlog``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

MINIMISERS = frozenset({"steep", "cg", "l-bfgs"})
"""Integrators that minimise: their steps are iterations, not simulated time."""

KEY_LINES = (r"^GROMACS version:|^ +(integrator|nsteps|dt|init[-_]step) += |^There are: +[0-9]+ Atoms|"
             r"^Started .* on rank|^Restarting from checkpoint|^Performance:|^ +Time: |^Finished mdrun|"
             r"Received the .* signal|Run time exceeded|converged to|did not converge|"
             r"reached the maximum number of steps")
"""The lines (an extended regular expression, the same in Python and awk) that carry what
:class:`MdLog` holds, besides the energy blocks' ``Step Time`` header and its value line."""

STOPPED_AT_MAXH = "time limit (-maxh)"
"""``MdLog.stopped`` of a run part that mdrun ended itself at its ``-maxh`` limit (exit code 0, no
final coordinates): it goes on from its checkpoint, like a job Slurm stopped at its time limit."""

STEP_HEADER = r"^ +Step +Time( +Lambda)? *$"
STEP_VALUES = r"^ *-?[0-9]+ +-?[0-9.]+([eE][-+]?[0-9]+)?( |$)"

_VERSION = re.compile(r"^GROMACS version:\s+(\S+)")
_PARAM = re.compile(r"^ +(integrator|nsteps|dt|init[-_]step) += +(\S+)")
_ATOMS = re.compile(r"^There are: +(\d+) Atoms")
_STARTED = re.compile(r"^Started (.+?) on rank \d+ (.+?)\s*$")
_PERFORMANCE = re.compile(r"^Performance:\s+([\d.]+)\s+([\d.]+)")
_TIME = re.compile(r"^ +Time:\s+([\d.]+)\s+([\d.]+)")
_SIGNAL = re.compile(r"Received the (\w+) signal")
_STEP_HEADER = re.compile(STEP_HEADER)
_STEP_VALUES = re.compile(r"^ *(-?\d+) +(-?[\d.]+(?:[eE][-+]?\d+)?)")
_MINIMISED = re.compile(r"(converged to .*|did not converge.*|reached the maximum number of steps.*)$")


@dataclass(frozen=True)
class MdLog:
    """One reading of a GROMACS log. Fields a log does not (yet) show are None."""

    version: str | None = None
    integrator: str | None = None
    nsteps: int | None = None  # -1: no limit
    dt_ps: float | None = None
    init_step: int = 0
    atoms: int | None = None
    started: datetime | None = None  # when the current run part started (the cluster's local clock; the probe
    # gives it the cluster's time zone)
    resumed: bool = False  # the log shows a run continued from its checkpoint
    step: int | None = None  # the last energy block's step
    time_ps: float | None = None  # and its simulated time
    ns_per_day: float | None = None  # GROMACS's own figure for the run part that ended
    wall_s: float | None = None  # that part's wall time
    finished: bool = False  # ``Finished mdrun`` after the last energy block: the run part ended
    stopped: str | None = None  # why mdrun ended the part before nsteps: "TERM signal", "time limit (-maxh)"
    minimised: str | None = None  # a minimisation's closing line ("converged to Fmax < 100 in 74 steps")

    @property
    def is_gromacs(self) -> bool:
        return self.version is not None or self.nsteps is not None

    @property
    def minimisation(self) -> bool:
        return self.integrator in MINIMISERS


def _started_at(text: str) -> datetime | None:
    try:  # ctime format in the C locale: "Wed Dec  2 03:30:22 2026"
        return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y")
    except ValueError:
        return None


def parse_md_log(lines: Iterable[str]) -> MdLog:
    """The :class:`MdLog` of a GROMACS log's lines (the whole log, or the probe's key lines)."""
    f: dict = {}
    part_over = False  # a performance block or Finished line came after the last energy block
    expect_values = False
    for line in lines:
        line = line.rstrip("\n")
        if expect_values:
            expect_values = False
            m = _STEP_VALUES.match(line)
            if m:
                f["step"], f["time_ps"] = int(m.group(1)), float(m.group(2))
                if part_over:  # running again after an ended part (a continuation appended to the log)
                    for k in ("ns_per_day", "wall_s", "finished", "stopped", "minimised"):
                        f.pop(k, None)
                    part_over = False
                continue
        if _STEP_HEADER.match(line):
            expect_values = True
            continue
        if m := _VERSION.match(line):
            f.setdefault("version", m.group(1))
        elif m := _PARAM.match(line):
            key, value = m.group(1).replace("_", "-"), m.group(2)
            try:
                if key == "integrator":
                    f.setdefault("integrator", value)
                elif key == "nsteps":
                    f.setdefault("nsteps", int(value))
                elif key == "dt":
                    f.setdefault("dt_ps", float(value))
                else:
                    f.setdefault("init_step", int(value))
            except ValueError:
                continue
        elif m := _ATOMS.match(line):
            f.setdefault("atoms", int(m.group(1)))
        elif m := _STARTED.match(line):
            f["started"] = _started_at(m.group(2))
            for k in ("ns_per_day", "wall_s", "finished", "stopped", "minimised"):
                f.pop(k, None)
            part_over = False
        elif line.startswith("Restarting from checkpoint"):
            f["resumed"] = True
        elif m := _PERFORMANCE.match(line):
            f["ns_per_day"] = float(m.group(1))
            part_over = True
        elif m := _TIME.match(line):
            f["wall_s"] = float(m.group(2))
            part_over = True
        elif line.startswith("Finished mdrun"):
            f["finished"] = True
            part_over = True
        elif m := _SIGNAL.search(line):
            f["stopped"] = f"{m.group(1)} signal"
        elif "Run time exceeded" in line:
            f["stopped"] = STOPPED_AT_MAXH
        elif m := _MINIMISED.search(line):
            f["minimised"] = m.group(1).strip().rstrip(".")
    return MdLog(**f)
