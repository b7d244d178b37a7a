"""``mpflow release``: put held model-stages back in the pipeline once what held them is fixed."""

from __future__ import annotations

from pathlib import Path

import typer

from mpflow.commands.common import PROJECT_OPTION_HELP, fail, open_project
from mpflow.manager.release import ReleaseError, release_held
from mpflow.store.records import list_models


def release(
    models: list[str] = typer.Argument(None, help="Models to release (NAME, MUTANT/NAME or MUTANT/GROUP/NAME, as "
                                       "`mpflow status` shows them); default: every held model-stage."),
    stage: str = typer.Option(None, "--stage", help="Only this stage."),
    mutant: str = typer.Option(None, "--mutant", help="Only this mutant."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """Release held model-stages: each is prepared again (or its outputs brought back again) by the
    next manager tick or `mpflow run`. Fix what held them first (`mpflow status` shows the reasons):
    the project file is checked when this command loads it."""
    project, Session = open_project(project_dir)
    if stage is not None and stage not in project.config.stages:
        fail(f"--stage: no stage {stage!r} (stages: {', '.join(project.config.stage_order())})", 2)
    known = set(project.config.mutants) | {m.mutant for m in list_models(Session)}
    if mutant is not None and mutant not in known:
        fail(f"--mutant: no mutant {mutant!r} in the project (mutants: {', '.join(sorted(known)) or 'none yet'})", 2)
    try:
        released = release_held(Session, models=models or (), stage=stage, mutant=mutant)
    except ReleaseError as exc:
        fail(str(exc), 2)
    if not released:
        which = " ".join(filter(None, [mutant, *(models or []), stage and f"stage {stage}"]))
        typer.echo("nothing to release: no model-stage is held" + (f" ({which})" if which else ""))
        return
    for r in released:
        typer.echo(r.line())
    typer.echo(f"{len(released)} model-stage(s) released: the next manager tick (or `mpflow run`) takes them on")
