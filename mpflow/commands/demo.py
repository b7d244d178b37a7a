"""``mpflow demo``: the whole pipeline on the dev clusters (see ``mpflow.demo``)."""

from __future__ import annotations

from pathlib import Path

import typer

from mpflow.commands.common import dev_clusters_or_exit, fail


def demo(
    project_dir: Path = typer.Option(Path(".mpflow-demo"), "--project", help="The demo's project folder "
                                     "(created on first use; a second run resumes)."),
    timeout: float = typer.Option(1800, help="Give up after this many seconds."),
    analyse: bool = typer.Option(True, "--analyse/--no-analyse", help="End with the interaction analysis."),
) -> None:
    """GpA wild type and G83I through preparation in POPC, EMMD, PRMD and URMD on the dev clusters."""
    from mpflow.db import DatabaseError
    from mpflow.demo import run_demo
    from mpflow.project import ProjectError

    dev_clusters_or_exit()
    try:
        code = run_demo(project_dir, echo=typer.echo, timeout_s=timeout, analyse=analyse)
    except (ProjectError, DatabaseError) as exc:
        fail(str(exc), 2)
    raise typer.Exit(code)
