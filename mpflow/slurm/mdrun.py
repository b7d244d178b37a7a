"""GROMACS per site: how a cluster runs ``mdrun``, and whether its ``mdrun`` can read the master's
``.tpr`` files. Pure, no I/O (the version is read by ``mpflow.clusters.check`` and the manager's tick).

- **the mdrun command** (a cluster setting, ``mdrun_command``): ``gmx mdrun`` (thread-MPI), ``gmx_mpi
  mdrun`` or ``srun gmx_mpi mdrun`` (an MPI build started by Slurm's launcher), ``mpirun -np 4 gmx_mpi
  mdrun``, or an old-style ``mdrun_mpi``; modules it needs go in the cluster's preamble. It is rendered in
  the job script with the job's tasks and threads: ``srun --ntasks=N --cpus-per-task=C`` (srun in a
  batch job does not inherit ``--cpus-per-task`` since Slurm 22.05), ``mpirun -np N``, or ``-ntmpi N``
  for thread-MPI, and ``-ntomp C`` for OpenMP always.
- **the version**: ``gmx --version`` prints ``GROMACS version:    2022.5`` (``VERSION 5.1.4`` before
  2016). A ``.tpr`` written by a newer release series than a cluster's ``mdrun`` is refused there
  ("reading tpx file (...) version 129 with version 127 program"): :func:`tpr_readable` says whether
  one release's files can be read by another, and :func:`unreadable_clusters` names the clusters that
  must not be sent a GROMACS stage, with why.
"""

from __future__ import annotations

import re
import shlex
from typing import Mapping

from mpflow.validation import mdrun_command_problem

__all__ = ["mdrun_command_problem", "gromacs_binary", "mdrun_words", "mdrun_line", "parse_gromacs_version",
           "release_series", "tpr_readable", "unreadable_clusters"]

def gromacs_binary(command: str) -> tuple[str, str]:
    """The GROMACS program of an mdrun command and its version flag: ``srun gmx_mpi mdrun`` →
    ``("gmx_mpi", "--version")``, ``mdrun_mpi`` → ``("mdrun_mpi", "-version")``."""
    words = shlex.split(command)
    if words[-1].rsplit("/", 1)[-1] == "mdrun" and len(words) >= 2:
        return words[-2], "--version"
    return words[-1], "-version"


def _has_option(words: list[str], *names: str) -> bool:
    return any(w == n or w.startswith(n + "=") for w in words for n in names)


def mdrun_words(command: str, *, ntasks: int, cpus_per_task: int) -> list[str]:
    """The words that start mdrun for a job of ``ntasks`` tasks of ``cpus_per_task`` CPUs (the job
    script adds ``-deffnm``, ``-cpi``, ``-maxh`` and ``-ntomp``). Options the command already has are
    left as they are."""
    words = shlex.split(command)
    launcher = words[0].rsplit("/", 1)[-1]
    if launcher == "srun":
        extra = [] if _has_option(words, "--ntasks", "-n") else [f"--ntasks={ntasks}"]
        extra += [] if _has_option(words, "--cpus-per-task", "-c") else [f"--cpus-per-task={cpus_per_task}"]
        return [words[0], *extra, *words[1:]]
    if launcher in ("mpirun", "mpiexec"):
        extra = [] if _has_option(words, "-np", "-n") else ["-np", str(ntasks)]
        return [words[0], *extra, *words[1:]]
    if ntasks > 1 and not _has_option(words, "-ntmpi"):
        return [*words, "-ntmpi", str(ntasks)]  # thread-MPI ranks inside one mdrun
    return words


def mdrun_line(command: str, *, ntasks: int, cpus_per_task: int) -> str:
    """:func:`mdrun_words` as one shell-quoted string, as the job script writes it."""
    return shlex.join(mdrun_words(command, ntasks=ntasks, cpus_per_task=cpus_per_task))


# ------------------------------------------------------------------------------------------------
# Versions
# ------------------------------------------------------------------------------------------------

_VERSION_LINE = re.compile(r"(?im)^\s*:?-?\)?\s*gromacs version:\s*(?:VERSION\s+)?(\S+)")


def parse_gromacs_version(output: str) -> str | None:
    """The version in ``gmx --version`` output (``2022.5``, ``2023-beta``, ``5.1.4``), or None."""
    found = _VERSION_LINE.search(output)
    return found.group(1) if found else None


def release_series(version: str) -> tuple[int, ...]:
    """The release series of a version, which shares one ``.tpr`` format: ``2022.5`` → ``(2022,)``,
    ``2023-beta`` → ``(2023,)``, ``5.1.4`` → ``(5, 1)``, ``4.6.7`` → ``(4, 6)``."""
    numbers = [int(n) for n in re.findall(r"\d+", version)]
    if not numbers:
        raise ValueError(f"not a GROMACS version: {version!r}")
    return tuple(numbers[:1]) if numbers[0] >= 2016 else tuple(numbers[:2])


def tpr_readable(grompp: str, mdrun: str) -> bool:
    """Whether ``mdrun`` of version ``mdrun`` reads a ``.tpr`` made by ``grompp`` of version ``grompp``:
    a release reads its own series' files and older ones, never a newer series'."""
    return release_series(grompp) <= release_series(mdrun)


def unreadable_clusters(grompp: str | None, mdrun: Mapping[str, str | None]) -> dict[str, str]:
    """The clusters whose ``mdrun`` cannot read the ``.tpr`` files of the master's ``grompp`` (version
    ``grompp``), each with why. A version not known is no reason to leave a cluster out."""
    if not grompp:
        return {}
    out = {}
    for cluster, version in mdrun.items():
        if version and not tpr_readable(grompp, version):
            out[cluster] = (f"its mdrun (GROMACS {version}) cannot read .tpr files of the master's grompp "
                            f"(GROMACS {grompp})")
    return out
