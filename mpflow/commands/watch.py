"""``mpflow watch``: a live terminal view of the project, redrawn from the jobs database every few seconds.

It reads only the database (what the manager's ticks wrote: states, and each job's progress from its
log) and never touches a cluster, so it can run anywhere the database is and as long as one likes,
beside a manager run by ``mpflow run``, ``mpflow manage`` or the Prefect server. It shows, per stage,
the model-stages done of all with a bar; every running job with a progress bar, its steps, simulated
time, speed and expected end; the clusters that cannot be reached; what needs a person; and when the
selected models will be through (``mpflow status --summary``'s forecast).

``q`` (or Ctrl-C) leaves, putting the terminal back as it was. ``--once`` prints one frame and exits
(for a pipe or a log file).
"""

from __future__ import annotations

import os
import select
import sys
import termios
import time
import tty
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from mpflow.commands.common import PROJECT_OPTION_HELP, check_selection, open_project
from mpflow.manager.status import (
    clock_text,
    eta_text,
    project_summary,
    stage_statuses,
)
from mpflow.project.file import Project
from mpflow.states import JobState, StageState
from mpflow.store.records import cluster_reachability, ensure_model_stages
from mpflow.store.schema import utcnow

RUNNING_ROWS = 25
"""Running jobs shown (the rest are counted)."""


def frame(project: Project, Session, *, mutant: str | None, interval: float, now: datetime) -> Group:
    """One screen of the view, read from the database as of ``now``."""
    order = project.config.stage_order()
    with Session() as s:
        rows = stage_statuses(s, mutant=mutant, stage_order=order)
        reach = cluster_reachability(s)
        summary = project_summary(s, project, mutants=[mutant] if mutant else None, now=now)
    local = now.replace(tzinfo=UTC).astimezone()
    title = Text.assemble(("mpflow watch", "bold"), f" · {project.config.project.name}"
                          + (f" / {mutant}" if mutant else "") + f" · {local:%H:%M:%S} · from the database every "
                          f"{interval:g} s · q quits")
    if not rows:
        return Group(title, Text(""), Text("no models yet: import some with `mpflow import MUTANT FILES...`"))

    stages = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for col in ("stage", "done", "", "active", "waiting", "held", "failed"):
        stages.add_column(col, justify="left" if col in ("stage", "") else "right")
    counts: dict[str, Counter] = {st: Counter() for st in order}
    for r in rows:
        counts.setdefault(r.stage, Counter())[r.state] += 1
    for st in order:
        c = counts[st]
        total = sum(c.values())
        if not total:
            continue
        done = c[StageState.DONE]
        active = c[StageState.ACTIVE] + c[StageState.READY] + c[StageState.FINISHING]
        stages.add_row(st, f"{done}/{total}", ProgressBar(total=total, completed=done, width=24), str(active or ""),
                       str(c[StageState.WAITING] or ""), str(c[StageState.HELD] or ""), str(c[StageState.FAILED] or ""))

    running = [r for r in rows if r.running]
    jobs = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for col in ("model", "stage", "on", "", "%", "steps", "ns", "ns/day", "expected end"):
        jobs.add_column(col, justify="right" if col in ("%", "steps", "ns", "ns/day") else "left")
    for r in running[:RUNNING_ROWS]:
        p = r.progress
        cluster = r.progress_cluster or next(c for c, j in r.clusters.items() if j.get("state") == JobState.R)
        if p is None:
            jobs.add_row(r.tag, r.stage, cluster, "", "", "", "", "", "no log read yet")
            continue
        frac = p.fraction
        bar = ProgressBar(total=1.0, completed=frac, width=20) if frac is not None else Text("")
        steps = f"{p.step:,}/{p.nsteps:,}" if p.step is not None and p.nsteps and p.nsteps > 0 else (
            f"{p.step:,}" if p.step is not None else "")
        sim = "" if p.time_ps is None or p.minimisation else (
            f"{p.time_ps / 1000:.3g}/{p.total_ps / 1000:.3g}" if p.total_ps else f"{p.time_ps / 1000:.3g}")
        speed = f"{p.ns_per_day:.3g}" if p.ns_per_day is not None else "-"
        jobs.add_row(r.tag, r.stage, cluster, bar, f"{frac:.0%}" if frac is not None else "", steps, sim, speed,
                     eta_text(p, now))
    parts: list = [title, Text(""), stages, Text("")]
    if running:
        parts += [Text(f"running: {len(running)}", style="bold"), jobs]
        if len(running) > RUNNING_ROWS:
            parts.append(Text(f"... and {len(running) - RUNNING_ROWS} more (mpflow status --json)"))
    else:
        parts.append(Text("running: none"))
    for cluster, (reachable, since, why) in sorted(reach.items()):
        if not reachable and cluster in project.cluster_names:
            parts.append(Text(f"{cluster}: unreachable since {clock_text(since, now)} ({why})", style="bold red"))
    attention = [r for r in rows if r.state in (StageState.HELD, StageState.FAILED)]
    for r in attention[:5]:
        parts.append(Text(f"{r.state}: {r.tag} {r.stage}: {r.reason}", style="yellow"))
    if len(attention) > 5:
        parts.append(Text(f"... and {len(attention) - 5} more held or failed (mpflow status)", style="yellow"))
    parts += [Text(""), Text("forecast: " + summary["forecast"]["sentence"])]
    return Group(*parts)


@contextmanager
def keys():
    """Single key presses from the terminal (cbreak: no echo, no Enter), the terminal put back after;
    yields a function that waits up to ``timeout`` s for a key and returns it (or "")."""
    fd = sys.stdin.fileno() if sys.stdin.isatty() else None
    old = termios.tcgetattr(fd) if fd is not None else None
    try:
        if fd is not None:
            tty.setcbreak(fd)

        def read(timeout: float) -> str:
            if fd is None:
                time.sleep(timeout)
                return ""
            ready, _, _ = select.select([fd], [], [], timeout)
            return os.read(fd, 1).decode(errors="replace") if ready else ""

        yield read
    finally:
        if old is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, old)


def watch(
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    mutant: str = typer.Option(None, "--mutant", help="Only this mutant."),
    interval: float = typer.Option(2.0, "--interval", min=0.2, help="Seconds between redraws."),
    once: bool = typer.Option(False, "--once", help="Print one frame and exit."),
) -> None:
    """A live view of the project from its database: stages, running jobs with progress bars and
    expected ends, unreachable clusters, the forecast. q or Ctrl-C leaves."""
    project, Session = open_project(project_dir)
    check_selection(project, mutants=[mutant] if mutant else ())
    with Session.begin() as s:  # models registered since the last tick get their stage rows
        ensure_model_stages(s, project.config.stage_order())
    console = Console()
    if once or not console.is_terminal:
        console.print(frame(project, Session, mutant=mutant, interval=interval, now=utcnow()))
        return
    try:
        with keys() as key, Live(frame(project, Session, mutant=mutant, interval=interval, now=utcnow()),
                                 console=console, screen=True, auto_refresh=False) as live:
            while True:
                deadline = time.monotonic() + interval
                while (left := deadline - time.monotonic()) > 0:
                    if key(left).lower() == "q":
                        return
                live.update(frame(project, Session, mutant=mutant, interval=interval, now=utcnow()), refresh=True)
    except KeyboardInterrupt:
        pass
    finally:
        console.print(f"left mpflow watch ({project.root})")
