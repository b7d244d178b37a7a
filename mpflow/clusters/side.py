"""mpflow on a cluster: its cluster-side virtual environment, set up in one command and checked.

A job that runs mpflow's own code (a preparation) needs that code on its cluster. ``mpflow cluster
setup NAME`` makes ``<cluster workdir>/.mpflow/venvs/mpflow-<build>`` there over the cluster's
transport: a virtual environment with only what the cluster-side steps import
(:data:`CLUSTER_REQUIREMENTS`, and :data:`ANALYSIS_REQUIREMENTS` for the analysis job of a remote
master, from the cluster's own package index) and a copy of this mpflow's core
and science files (``mpflow.build``: the same files, so the same build digest). The manager asks a
cluster's mpflow its build before it submits a job that runs it (once per :data:`CHECK_TTL_S` per
cluster); missing or another build is a :class:`ClusterSideError` whose one line names the command
to run. A cluster on this machine with no environment of its own runs the orchestrator's interpreter,
and is not asked.
"""

from __future__ import annotations

import json
import posixpath
import sys
import time
from dataclasses import dataclass
from typing import Callable

from mpflow.build import build_digest, package_files
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import Transport

#: what the cluster-side steps import (the protocols' engine, the membrane build and its POPC source (openmm's
#: data file), the structure code)
CLUSTER_REQUIREMENTS = ("numpy", "scipy", "jinja2", "MDAnalysis", "gemmi", "biopython", "openmm")
#: what the analysis (``python -m mpflow.cluster_side analyse``, ``mpflow.analysis``) imports besides: its
#: settings and manifest rows, tables and their store, helix geometry, PCA, figures, the notebook, and
#: the local Dask cluster of ``--executor dask-local``
ANALYSIS_REQUIREMENTS = ("pydantic", "pandas", "pyarrow", "mdtraj", "scikit-learn", "matplotlib", "nbformat",
                         "distributed")
#: how long a cluster's answer to "which mpflow?" is trusted, seconds
CHECK_TTL_S = 300.0
#: how long installing the requirements may take, seconds
INSTALL_TIMEOUT_S = 1800.0


class ClusterSideError(RuntimeError):
    """A cluster has no cluster-side mpflow, or another build of it (one line naming the command to run)."""


def base_workdir(settings: ClusterSettings) -> str:
    """The cluster's own workdir, of a project's settings (whose workdir is ``<cluster workdir>/<project>``)."""
    return posixpath.dirname(settings.workdir)


def venv_dir(settings: ClusterSettings) -> str:
    return posixpath.join(base_workdir(settings), ".mpflow", "venvs", f"mpflow-{build_digest()}")


def runs_here(settings: ClusterSettings) -> bool:
    """A cluster on this machine without an environment of its own: its jobs run this interpreter."""
    return settings.kind == "local" and not settings.mpflow_python


def cluster_python(settings: ClusterSettings) -> str:
    """The interpreter a job on ``settings``' cluster runs mpflow's cluster side with."""
    if runs_here(settings):
        return sys.executable
    return settings.mpflow_python or posixpath.join(venv_dir(settings), "bin", "python")


@dataclass(frozen=True)
class SiteStatus:
    """What a cluster's mpflow says of itself (``present`` False: no interpreter or no mpflow there)."""

    present: bool
    build: str | None = None
    gromacs: str | None = None
    python: str | None = None
    problem: str | None = None  # the first line of the failure, when not present


def side_command(settings: ClusterSettings, command: str, *args: str) -> list[str]:
    """``python -m mpflow.cluster_side COMMAND ARGS`` with the cluster's interpreter (in a job script, whose
    preamble is already run; :func:`side_argv` for one remote command)."""
    return [cluster_python(settings), "-m", "mpflow.cluster_side", command, *args]


def side_argv(settings: ClusterSettings, command: str, *args: str) -> list[str]:
    """:func:`side_command` on the cluster after its preamble (the modules that put GROMACS on the PATH),
    as one argument vector: the preamble is the cluster's settings, never user text, and the arguments
    go to ``exec "$@"`` unquoted by no shell."""
    argv = side_command(settings, command, *args)
    if not settings.preamble:
        return argv
    return ["bash", "-c", "\n".join([*settings.preamble, 'exec "$@"']), "bash", *argv]


def version_argv(settings: ClusterSettings) -> list[str]:
    return side_command(settings, "version")


def parse_version(returncode: int, stdout: str, stderr: str) -> SiteStatus:
    if returncode != 0:
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
        return SiteStatus(False, problem=lines[-1] if lines else f"exit code {returncode}")
    try:
        answer = json.loads(stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return SiteStatus(False, problem=f"not an answer: {stdout.strip()[:200]!r}")
    return SiteStatus(True, answer.get("build"), answer.get("gromacs"), answer.get("python"))


def read_site(transport: Transport, settings: ClusterSettings) -> SiteStatus:
    res = transport.run(version_argv(settings), timeout=settings.command_timeout_s)
    return parse_version(res.returncode, res.stdout, res.stderr)


def site_problem(settings: ClusterSettings, status: SiteStatus) -> str | None:
    """None when the cluster's mpflow is this build, else the one line to show."""
    fix = f"run `mpflow cluster setup {settings.name}`"
    if not status.present:
        return f"cluster-side mpflow on {settings.name} is missing: {fix}"
    if status.build != build_digest():
        return (f"cluster-side mpflow on {settings.name} is another build ({status.build}, here "
                f"{build_digest()}): {fix}")
    return None


_checked: dict[tuple[str, str], float] = {}  # (cluster, interpreter) → when it last answered with this build


def require_site(transport: Transport, settings: ClusterSettings, *, clock: Callable[[], float] = time.monotonic
                 ) -> None:
    """Raise :class:`ClusterSideError` unless the cluster's mpflow is this build (asked at most once per
    :data:`CHECK_TTL_S`; not asked for a cluster that runs this interpreter)."""
    if runs_here(settings):
        return
    key = (settings.name, cluster_python(settings))
    if clock() - _checked.get(key, -CHECK_TTL_S - 1) < CHECK_TTL_S:
        return
    problem = site_problem(settings, read_site(transport, settings))
    if problem:
        _checked.pop(key, None)
        raise ClusterSideError(problem)
    _checked[key] = clock()


def _run(transport: Transport, argv: list[str], what: str, timeout: float) -> str:
    res = transport.run(argv, timeout=timeout)
    if res.returncode != 0:
        lines = [ln for ln in (res.stderr or res.stdout).strip().splitlines() if ln.strip()]
        raise ClusterSideError(f"{what} failed (exit {res.returncode}): {lines[-1] if lines else ''}")
    return res.stdout


def setup_site(transport: Transport, settings: ClusterSettings, *, echo: Callable[[str], None] = print,
               python: str = "python3") -> str:
    """Make this build's cluster-side environment on the cluster (``transport``: confined to its base
    workdir) and return its interpreter. Nothing is done again that is already there."""
    venv = venv_dir(settings)
    py = posixpath.join(venv, "bin", "python")
    if transport.stat(py) is None:
        echo(f"[{settings.name}] creating {venv}")
        _run(transport, [python, "-m", "venv", "--", venv], "python3 -m venv", settings.command_timeout_s)
    requirements = (*CLUSTER_REQUIREMENTS, *ANALYSIS_REQUIREMENTS)
    echo(f"[{settings.name}] installing {', '.join(requirements)} (the cluster's package index)")
    _run(transport, [py, "-m", "pip", "install", "-q", *requirements], "pip install", INSTALL_TIMEOUT_S)
    files = package_files()
    src = posixpath.join(venv, "src")
    echo(f"[{settings.name}] copying mpflow {build_digest()} ({len(files)} files)")
    failed = transport.write_files({posixpath.join(src, rel): path.read_bytes() for rel, path in files.items()})
    if failed:
        raise ClusterSideError(f"mpflow's files not written on {settings.name}: {next(iter(failed.values()))}")
    purelib = _run(transport, [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                   "finding site-packages", settings.command_timeout_s).strip().splitlines()[-1]
    failed = transport.write_files({posixpath.join(purelib, "mpflow-cluster-side.pth"): f"{src}\n".encode()})
    if failed:
        raise ClusterSideError(f"mpflow's path not written on {settings.name}: {next(iter(failed.values()))}")
    here = settings.model_copy(update={"mpflow_python": py})
    problem = site_problem(here, read_site(transport, here))
    if problem:
        raise ClusterSideError(problem)
    _checked.pop((settings.name, py), None)
    return py

