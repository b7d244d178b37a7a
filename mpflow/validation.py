"""What mpflow accepts for values that reach Slurm, a shell or a job script, in one place.

Values are checked where they enter (the validators of ``ClusterSettings``, ``JobScriptOptions`` and
``SubmitRequest`` call these functions), so a value that reaches a scheduler command, an ``#SBATCH``
line or a parsed record has already been checked. Each check raises ``ValueError`` with one line
naming the value and what is allowed.

Why so strict: squeue and sacct print one job per line with ``|`` between fields, so a newline or a
``|`` in a job's comment or name can forge records; ``#SBATCH`` lines are parsed by sbatch word by
word; and paths end up in shell commands on the login node.
"""

from __future__ import annotations

import posixpath
import re
import shlex

SBATCH_VALUE = re.compile(r"[A-Za-z0-9_.,:=/@%+\-\[\]]+")
"""Characters allowed in the value of an ``#SBATCH --flag=value`` line (node lists like ``n[1-3]`` included)."""

PATH_CHARS = re.compile(r"[A-Za-z0-9_.,:=/@%+\-]+")
"""Characters allowed in a path on a cluster: what an ``#SBATCH --chdir`` line and a shell both take literally."""

TOKEN = re.compile(r"[a-z0-9][a-z0-9-]{3,60}")
"""A submission token: the Slurm job name is ``mpf-<token>``."""

TAG = re.compile(r"[A-Za-z0-9_.:-]{1,400}")
"""A model tag (``None``, ``Conformation2``, ``Conformation2:URMD:Protein_17``, or the manager's
``mutant:group:name:stage``), sent as ``--comment``."""

NAME = re.compile(r"[A-Za-z0-9_.,-]{1,100}")
"""A Slurm partition, account or QOS name (a comma separates several partitions)."""

USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
HOST = re.compile(r"[A-Za-z0-9_.:\[\]-]{1,255}")
KEY = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
"""A caller's key for a job (a jobs-table row id): printable, no tab or newline."""


def check(value: str, pattern: re.Pattern, what: str, allowed: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not allowed: use {allowed}")
    return value


def check_token(value: str) -> str:
    return check(value, TOKEN, "submission token", "4-61 characters a-z, 0-9 and '-', starting with a letter or digit")


def check_tag(value: str) -> str:
    return check(value, TAG, "model tag", "1-400 characters A-Z, a-z, 0-9, '_', '.', ':' and '-'")


def check_cluster_path(value: str, what: str) -> str:
    """An absolute, normalised path on a cluster that can go in an ``#SBATCH`` line and a shell
    command: no ``..``, no empty or trailing components, only ``A-Za-z0-9_.,:=@%+-`` and ``/``."""
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"{what} {value!r} must be an absolute path")
    if value != "/" and (posixpath.normpath(value) != value or value.startswith("//")):
        raise ValueError(f"{what} {value!r} must be normalised (no '..', '.', '//' or trailing '/'); "
                         f"did you mean {posixpath.normpath(value)!r}?")
    if not PATH_CHARS.fullmatch(value):
        raise ValueError(f"{what} {value!r} has characters a job script cannot carry (spaces, quotes, "
                         f"newlines, shell characters): use only A-Z, a-z, 0-9, '_', '.', ',', ':', '=', "
                         f"'@', '%', '+', '-' and '/'")
    return value


OWNED_SBATCH_FLAGS = ("chdir", "output", "error", "input", "job-name", "comment", "wrap", "uid", "gid", "parsable",
                      "test-only", "array", "open-mode")
"""sbatch flags mpflow sets itself or that would break how it finds a job, its logs and its files."""
TYPED_SBATCH_FLAGS = {"time": "time_limit_min", "nodes": "nodes", "ntasks": "ntasks",
                      "cpus-per-task": "cpus_per_task", "mem": "mem", "gres": "gpu/gpus"}
"""sbatch flags set through a typed job option (``time_limit_min``, ...), never through ``extra_sbatch``."""


def check_extra_sbatch(value: dict[str, str]) -> dict[str, str]:
    """More sbatch flags (name → value): long options in lower case that override nothing mpflow
    owns or sets through a typed option (sbatch, like getopt, takes any unambiguous prefix of an
    option, so ``out`` means ``output``), with values an ``#SBATCH`` line carries literally."""
    for k, v in value.items():
        if not isinstance(k, str) or not re.fullmatch(r"[a-z][a-z-]*", k):
            raise ValueError(f"extra_sbatch: flag name {k!r} must be a long sbatch option in lower case, "
                             f"without the leading --")
        owned = [f for f in OWNED_SBATCH_FLAGS if f.startswith(k)]
        if owned:
            raise ValueError(f"extra_sbatch: --{k} would set --{owned[0]}, which mpflow sets itself")
        typed = [f for f in TYPED_SBATCH_FLAGS if f.startswith(k)]
        if typed:
            raise ValueError(f"extra_sbatch: --{k} would set --{typed[0]}; use the option "
                             f"{TYPED_SBATCH_FLAGS[typed[0]]} instead")
        if v:
            check(v, SBATCH_VALUE, f"extra_sbatch --{k} value", "only A-Z, a-z, 0-9 and _.,:=/@%+-[]")
    return value
# A cluster's mdrun command (``mpflow.slurm.mdrun``): words of a job script line, each shell-quoted there.
MDRUN_WORD = re.compile(r"^[A-Za-z0-9_./=:+@%,-]+$")


def mdrun_command_problem(command: str) -> str | None:
    """Why ``command`` cannot be a cluster's mdrun command, or None."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        return f"cannot be split into words ({exc})"
    if not words:
        return "is empty: e.g. `gmx mdrun` or `srun gmx_mpi mdrun`"
    bad = [w for w in words if not MDRUN_WORD.match(w)]
    if bad:
        return f"word {bad[0]!r} has a character mpflow does not put in a job script (A-Z a-z 0-9 _./=:+@%,-)"
    last = words[-1].rsplit("/", 1)[-1]
    if not (last == "mdrun" and len(words) >= 2) and not last.startswith("mdrun"):
        return "must end with the mdrun subcommand (`gmx mdrun`, `gmx_mpi mdrun`) or an mdrun binary (`mdrun_mpi`)"
    return None
