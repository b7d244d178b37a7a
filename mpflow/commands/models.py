"""``mpflow build``, ``import``, ``complete``, ``classify`` and ``models``: the command line around
the plain functions of ``mpflow.models.importing`` (the ``models`` flow runs the same ones).

Exit codes: 1 when a model file is refused or a cluster fails, 2 for a bad option, an unknown
mutant or a project that cannot be opened. Every refusal is one line, ``error: ...``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mpflow.analysis.structure.helix_builder import BuildError, build_models
from mpflow.commands.common import PROJECT_OPTION_HELP, fail, open_project
from mpflow.models.completion import complete_models
from mpflow.models.importing import (
    ModelsError,
    UnknownMutant,
    classify_models,
    import_models,
)
from mpflow.project.file import Project, ProjectError
from mpflow.project.mutants import MutantError
from mpflow.store.records import list_models

GROUPS_HELP = "Number of conformations (default: chosen by silhouette)."


def _run_on_project(project_dir: Path | None, groups: int | None, operation):
    """``operation(project, Session)`` after checking ``--groups`` and opening the project; a
    refusal by ``mpflow.models.importing`` is one ``error:`` line with its exit code."""
    if groups is not None and not 1 <= groups <= 9999:
        fail(f"--groups must be 1-9999, got {groups}", 2)
    project, Session = open_project(project_dir)
    try:
        return operation(project, Session)
    except ModelsError as exc:
        fail(str(exc), 2 if isinstance(exc, UnknownMutant) else 1)  # 2: bad input, 1: a refused file


def build(
    mutant: str = typer.Argument(..., help="A mutant of the project (see `mpflow mutant list`)."),
    models: int = typer.Option(8, "--models", "-k", help="Number of models to build."),
    out: Path = typer.Option(None, "--out", help="Folder for the PDB files (default: <project>/built/<mutant>)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the noise and random poses."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """Build docked-model-like oligomers of ideal helices of a mutant, as PDB files ready for import.

    Packings: right- and left-handed crossing, each at two interhelical distances, with small noise."""
    try:
        project = Project.locate(project_dir)
        mut = project.mutant(mutant)
    except (ProjectError, MutantError) as exc:
        fail(str(exc), 2)
    if models < 1:
        fail(f"--models must be at least 1, got {models}", 2)
    problem = mut.build_problem()
    if problem:
        fail(f"{mut.name}: {problem}", 2)
    folder = out or project.root / "built" / mut.name
    try:
        built = build_models(mut, k=models, seed=seed, out_dir=folder)
    except BuildError as exc:
        fail(f"{mut.name}: {exc}", 1)
    except OSError as exc:
        fail(f"cannot write to {folder}: {exc.strerror}", 1)
    packings = sorted({b.packing for b in built})
    typer.echo(f"wrote {len(built)} model(s) of {mut.name} to {folder} "
               f"({built[0].path.name} … {built[-1].path.name}; packings {', '.join(packings)})")
    typer.echo(f"import them with: mpflow import {mut.name} {folder}")


def import_(
    mutant: str = typer.Argument(..., help="A mutant of the project (see `mpflow mutant list`)."),
    paths: list[Path] = typer.Argument(..., help="PDB/mmCIF files or folders of them; a model is named "
                                       "after its file."),
    groups: int = typer.Option(None, "--groups", help=GROUPS_HELP),
    each_model: bool = typer.Option(False, "--each-model", help="A file of several models (MODEL records) gives "
                                    "one model per model, named <file>_m<k>; without it, its first model only."),
    as_json: bool = typer.Option(False, "--json", help="Print what was done as JSON."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """Import docked models: check, measure, classify, create their folders on every cluster.

    All or nothing: if any file is refused, nothing is imported. Re-importing an unchanged file
    does nothing; a fixed file replaces a model that has not started its stages."""
    report = _run_on_project(project_dir, groups, lambda project, Session: import_models(
        project, Session, mutant, paths, n_groups=groups, each_model=each_model))
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
        return
    if not report.changed:
        typer.echo(f"{report.mutant}: nothing new ({len(report.unchanged)} model(s) unchanged)")
        for note in report.notes:
            typer.echo(f"{report.mutant}: note: {note}")
        return
    for line in report.lines():
        typer.echo(line)


def complete(
    mutant: str = typer.Option(None, "--mutant", help="Only models of this mutant."),
    model: str = typer.Option(None, "--model", help="Only this model (name)."),
    groups: int = typer.Option(None, "--groups", help=GROUPS_HELP),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """Rebuild missing residues and atoms of waiting models (PDBFixer), check them again, release them."""
    reports = _run_on_project(project_dir, groups, lambda project, Session: complete_models(
        project, Session, mutant=mutant, model=model, n_groups=groups))
    if not reports:
        typer.echo("nothing to complete: no model is waiting" + (f" ({mutant or ''} {model or ''})".rstrip()
                                                                   if mutant or model else ""))
        return
    for report in reports:
        for line in report.lines():
            typer.echo(line)
    if any(r.failed for r in reports):
        raise typer.Exit(1)


def classify(
    mutant: str = typer.Argument(..., help="A mutant of the project."),
    groups: int = typer.Option(None, "--groups", help=GROUPS_HELP),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """Classify a mutant's models into conformations again; models that have started keep their group."""
    report = _run_on_project(project_dir, groups, lambda project, Session: classify_models(
        project, Session, mutant, n_groups=groups))
    for line in report.lines(groups=True):
        typer.echo(line)


def _fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def models(
    mutant: str = typer.Option(None, "--mutant", help="Only this mutant."),
    as_json: bool = typer.Option(False, "--json", help="A JSON list of models (tags, status, geometry)."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """The project's models: tag (mutant, group, name), status and geometry."""
    _, Session = open_project(project_dir)
    rows = list_models(Session, mutant)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        typer.echo("no models yet: import some with `mpflow import MUTANT FILES...`")
        return
    header = ["id", "mutant", "group", "name", "status", "crossing°", "distance Å", "tilt°", ""]
    table = []
    for r in rows:
        d = r.as_dict()
        note = r.status_reason or ("started" if r.started else "")
        table.append([str(r.id), r.mutant, r.group, r.name, r.status, _fmt(d["crossing_angle_deg"]),
                      _fmt(d["distance_A"], 2), _fmt(d["tilt_deg"]), note])
    widths = [max(len(x) for x in col) for col in zip(header, *table)]
    for line in [header, *table]:
        typer.echo("  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip())
