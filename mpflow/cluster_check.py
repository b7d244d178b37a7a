"""``mpflow cluster check``: can mpflow work on this cluster? One line per check, one-line errors.

Connects (with the cluster's connect timeout), shows ``sinfo``, checks the workdir is writable and
that ``gmx`` is found after the job-script preamble.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from mpflow.clusters import ClusterSettings
from mpflow.transport import TransportError, open_transport

_WRITABLE = 'mkdir -p -- "$1" && t=$(mktemp "$1/.mpflow-check.XXXXXX") && rm -f -- "$t"'


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


def check_cluster(settings: ClusterSettings) -> CheckReport:
    report = CheckReport(settings.name)
    transport = open_transport(settings)
    try:
        try:
            res = transport.run(["sinfo", "--noheader", "--format=%P %a %D %T"])
        except TransportError as exc:
            report.add("connect", False, _first_line(exc))
            return report
        report.add("connect", True, settings.describe())
        report.add("sinfo", res.ok, (res.stdout.strip().replace("\n", "; ") or res.stderr.strip()) or "(empty)")
        res = transport.run(["sh", "-c", _WRITABLE, "mpflow-check", settings.workdir])
        report.add("workdir writable", res.ok, settings.workdir if res.ok else res.stderr.strip() or "not writable")
        preamble = "\n".join(settings.preamble)
        script = f"{preamble}\ncommand -v gmx && gmx --version 2>/dev/null | sed -n 's/^GROMACS version: *//p'"
        res = transport.run(["bash", "-c", script])
        found = res.stdout.strip().splitlines()
        report.add("gmx", res.ok and bool(found),
                   " ".join(found) if res.ok and found else "gmx not found after the preamble "
                   f"({shlex.join(settings.preamble) or 'no preamble'})")
    except TransportError as exc:
        report.add("command", False, _first_line(exc))
    finally:
        transport.close()
    return report
