"""``mpflow cluster check``: can mpflow work on this cluster? One line per check, and each failure is
one line saying what to fix (the setting, or the command to run).

Checks, in order: connect (a settings problem names the setting: key_path, key_passphrase,
known_hosts, user...), sinfo (mpflow's partition is up and has a node that takes jobs), workdir
(exists, is a folder and is writable; it is never created here, since a missing workdir is more
often a typo than a new cluster), job scripts (the CPU and GPU variants render from the cluster's
templates, in the sandbox), the Slurm release, and GROMACS: the version of the program the
cluster's ``mdrun_command`` starts (and, on the master, of the ``gmx`` that runs grompp), read after
the job-script preamble; :func:`check_clusters` then says which clusters' mdrun cannot read the
master's ``.tpr`` files (the manager does not send them GROMACS stages).
"""

from __future__ import annotations

import posixpath
import shlex
import sys
from dataclasses import dataclass, field

from pydantic import ValidationError

from mpflow.build import build_digest
from mpflow.clusters.settings import ClusterSettings, validation_message
from mpflow.clusters.side import read_site, runs_here, site_problem
from mpflow.clusters.transport import Transport, TransportError, open_transport
from mpflow.errors import CommandError
from mpflow.slurm import commands as slurm
from mpflow.slurm.jobscript import render_job_script, stage_job_options
from mpflow.slurm.mdrun import (
    gromacs_binary,
    parse_gromacs_version,
    unreadable_clusters,
)

_WRITABLE = 't=$(mktemp "$1/.mpflow-check.XXXXXX") && rm -f -- "$t"'


@dataclass
class CheckReport:
    cluster: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    gromacs: "GromacsVersions | None" = None

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(ok for _, ok, _ in self.checks)

    def add(self, what: str, ok: bool, detail: str) -> None:
        self.checks.append((what, ok, detail))

    def lines(self) -> list[str]:
        return [f"{'ok  ' if ok else 'FAIL'} {what}: {detail}" for what, ok, detail in self.checks]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _check_sinfo(report: CheckReport, t: Transport) -> None:
    res = t.run(slurm.sinfo_argv())
    try:
        rows = slurm.parse_sinfo(res.returncode, res.stdout, res.stderr)
    except CommandError as exc:
        report.add("sinfo", False, _first_line(exc.at(t.settings.name, res.argv)))
        return
    problem = slurm.partition_problem(rows, t.settings.partition)
    summary = "; ".join(f"{r.partition}{'*' if r.default else ''} {'up' if r.up else 'down'} {r.nodes} {r.state}"
                        for r in rows)
    report.add("sinfo", problem is None, summary if problem is None else f"{problem} (sinfo: {summary})")


def _check_workdir(report: CheckReport, t: Transport) -> None:
    wd = t.settings.workdir
    st = t.stat(wd)
    if st is None:
        report.add("workdir", False, f"{wd} does not exist on {t.settings.name}: create it (mkdir -p {wd}) "
                                     f"or fix the cluster's `workdir`")
    elif not st.is_dir:
        report.add("workdir", False, f"{wd} is not a folder: fix the cluster's `workdir`")
    else:
        res = t.run(["sh", "-c", _WRITABLE, "mpflow-check", wd])
        report.add("workdir", res.ok, f"{wd} (writable)" if res.ok else
                   f"{wd} is not writable by {t.settings.user or 'this user'}: {res.stderr.strip()[:200]}")


def _check_job_scripts(report: CheckReport, settings: ClusterSettings) -> None:
    """The CPU and GPU variants render, and so does each stage's job with this cluster's resources for it."""
    stage = "check"
    try:
        for gpu in (False, True):
            opts = stage_job_options(settings, stage=stage, job_dir=posixpath.join(settings.workdir, stage), gpu=gpu)
            render_job_script(settings, opts)
        for stage in settings.stage_resources:
            opts = stage_job_options(settings, stage=stage, job_dir=posixpath.join(settings.workdir, stage))
            render_job_script(settings, opts)
    except ValidationError as exc:
        report.add("job scripts", False, f"stage_resources[{stage!r}].{validation_message(exc)}")
        return
    except ValueError as exc:
        report.add("job scripts", False, _first_line(exc))
        return
    used = [n for n in ("cpu_template", "gpu_template") if getattr(settings, n)]
    stages = f"; stages {', '.join(settings.stage_resources)}" if settings.stage_resources else ""
    report.add("job scripts", True,
               f"CPU and GPU variants render ({', '.join(used) or 'mpflow default template'}{stages})")


@dataclass(frozen=True)
class GromacsVersions:
    """The GROMACS versions a cluster reports after its job-script preamble: of ``gmx`` (grompp runs
    where the master's files are: only the master's is asked) and of the program its ``mdrun_command``
    starts (``gmx_mpi``...); ``problem`` says why one could not be read."""

    grompp: str | None
    mdrun: str | None
    problem: str | None = None


def _version_section(binary: str, flag: str, mark: str) -> str:
    q = shlex.quote(binary)
    return (f"echo @@{mark}; if command -v {q} >/dev/null 2>&1; then {q} {flag} 2>&1 | head -n 60; "
            f"else echo @@missing; fi")


def read_gromacs_versions(t: Transport, *, grompp: bool) -> GromacsVersions:
    """One command: the preamble, then ``<mdrun program> --version`` (and ``gmx --version`` when
    ``grompp``). A program not found, or a version not printed, is the ``problem``."""
    binary, flag = gromacs_binary(t.settings.mdrun_command)
    sections = [_version_section(binary, flag, "mdrun")] + ([_version_section("gmx", "--version", "grompp")]
                                                             if grompp else [])
    script = "\n".join([*t.settings.preamble, *sections])
    res = t.run(["bash", "-c", script])
    parts = dict((chunk.split("\n", 1) + [""])[:2] for chunk in res.stdout.split("@@")[1:])
    found, problems = {}, []
    where = f"after the preamble ({shlex.join(t.settings.preamble) or 'none'})"
    for mark, program in (("mdrun", binary), ("grompp", "gmx")):
        if mark not in parts:
            continue
        text = parts[mark]
        if text.startswith("missing"):
            problems.append(f"{program} not found {where}: fix the cluster's `preamble` or `mdrun_command`")
            continue
        found[mark] = parse_gromacs_version(text)
        if found[mark] is None:
            problems.append(f"{program} {flag if mark == 'mdrun' else '--version'} printed no GROMACS version")
    if not res.ok and not problems and not found.get("mdrun"):
        problems.append(f"the preamble failed: {res.stderr.strip()[:200]}")
    return GromacsVersions(found.get("grompp"), found.get("mdrun"), "; ".join(problems) or None)


def _check_gmx(report: CheckReport, t: Transport, *, master: bool = True) -> GromacsVersions:
    versions = read_gromacs_versions(t, grompp=master)
    command = t.settings.mdrun_command
    if versions.problem:
        report.add("gromacs", False, versions.problem)
    else:
        said = f"mdrun `{command}`: GROMACS {versions.mdrun}"
        if master:
            said += f"; grompp `gmx`: GROMACS {versions.grompp}"
        report.add("gromacs", True, said)
    return versions


def _check_slurm_version(report: CheckReport, t: Transport) -> None:
    """The cluster's Slurm release (mpflow avoids options older ones lack: it names the user, never
    ``--me``, which came in 20.11)."""
    res = t.run(["sinfo", "--version"])
    version = slurm.parse_slurm_version(res.stdout) if res.ok else None
    if version is None:
        report.add("slurm", False, f"sinfo --version printed no version: {(res.stderr or res.stdout).strip()[:200]}")
        return
    old = slurm.version_problem(version)
    report.add("slurm", old is None, f"slurm {version}" + (f": {old}" if old else ""))


def _check_mpflow(report: CheckReport, t: Transport, side: ClusterSettings) -> None:
    """The cluster-side mpflow: present, this build, and the GROMACS its jobs find."""
    if runs_here(side):
        report.add("mpflow", True, f"jobs run this interpreter ({sys.executable}, build {build_digest()})")
        return
    status = read_site(t, side)
    problem = site_problem(side, status)
    if problem:
        report.add("mpflow", False, problem)
        return
    report.add("mpflow", status.gromacs is not None,
               f"build {status.build} at {status.python}; "
               + (f"GROMACS {status.gromacs}" if status.gromacs else "no gmx on its PATH"))


def check_cluster(settings: ClusterSettings, *, master: bool = True, side: ClusterSettings | None = None
                  ) -> CheckReport:
    """Every check of one cluster; ``report.gromacs`` holds the versions it read (``master``: its grompp
    too); ``side``: the project's settings of the cluster, to check its cluster-side mpflow too."""
    report = CheckReport(settings.name)
    transport = open_transport(settings)
    try:
        try:
            transport.run(["true"])
        except TransportError as exc:
            report.add("connect", False, _first_line(exc))
            return report
        report.add("connect", True, settings.describe())
        _check_sinfo(report, transport)
        _check_workdir(report, transport)
        _check_slurm_version(report, transport)
        _check_job_scripts(report, settings)
        report.gromacs = _check_gmx(report, transport, master=master)
        if side is not None:
            _check_mpflow(report, transport, side)
    except TransportError as exc:
        report.add("command", False, _first_line(exc))
    finally:
        transport.close()
    return report


def check_clusters(clusters: list[ClusterSettings], sides: list[ClusterSettings] | None = None
                   ) -> list[CheckReport]:
    """Every check of each cluster (the master first), then, on the master's report, whether each
    cluster's mdrun reads the .tpr files of the master's grompp. ``sides``: the project's settings of the
    same clusters, to check each cluster-side mpflow too."""
    reports = [check_cluster(c, master=i == 0, side=sides[i] if sides else None) for i, c in enumerate(clusters)]
    master = reports[0].gromacs if reports else None
    if master is None or not master.grompp:
        return reports
    cannot = unreadable_clusters(master.grompp, {r.cluster: r.gromacs.mdrun if r.gromacs else None for r in reports})
    for r in reports:
        if r.cluster in cannot:
            r.add("tpr", False, f"{cannot[r.cluster]}: {r.cluster} is not sent GROMACS stages "
                                f"(load a GROMACS {master.grompp} or newer there, or an older one on the master)")
        elif r.gromacs and r.gromacs.mdrun and r is not reports[0]:
            r.add("tpr", True, f"mdrun GROMACS {r.gromacs.mdrun} reads .tpr files of the master's grompp "
                               f"(GROMACS {master.grompp})")
    return reports
