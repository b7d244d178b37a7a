"""``mpflow cluster check``: can mpflow work on this cluster? One line per check, and each failure is
one line saying what to fix (the setting, or the command to run).

Checks, in order: connect (a settings problem names the setting: key_path, key_passphrase,
known_hosts, user...), sinfo (mpflow's partition is up and has a node that takes jobs), workdir
(exists, is a folder and is writable; it is never created here, since a missing workdir is more
often a typo than a new cluster), job scripts (the CPU and GPU variants render from the cluster's
templates, in the sandbox), and gmx (found after the job-script preamble).
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field

from pydantic import ValidationError

from mpflow.clusters.settings import ClusterSettings, validation_message
from mpflow.clusters.transport import Transport, TransportError, open_transport
from mpflow.errors import CommandError
from mpflow.slurm import commands as slurm
from mpflow.slurm.jobscript import render_job_script, stage_job_options

_WRITABLE = 't=$(mktemp "$1/.mpflow-check.XXXXXX") && rm -f -- "$t"'


@dataclass
class CheckReport:
    cluster: str
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

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


def _check_gmx(report: CheckReport, t: Transport) -> None:
    preamble = "\n".join(t.settings.preamble)
    script = f"{preamble}\ncommand -v gmx && gmx --version 2>/dev/null | sed -n 's/^GROMACS version: *//p'"
    res = t.run(["bash", "-c", script])
    found = res.stdout.strip().splitlines()
    report.add("gmx", res.ok and bool(found),
               " ".join(found) if res.ok and found else "gmx not found after the preamble "
               f"({shlex.join(t.settings.preamble) or 'no preamble'}): fix the cluster's `preamble`")


def check_cluster(settings: ClusterSettings) -> CheckReport:
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
        _check_job_scripts(report, settings)
        _check_gmx(report, transport)
    except TransportError as exc:
        report.add("command", False, _first_line(exc))
    finally:
        transport.close()
    return report
