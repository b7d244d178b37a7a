"""``mpflow mutant add|list``: the mutants of a project (see ``Project.add_mutant``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mpflow.commands.common import PROJECT_OPTION_HELP, fail, open_project
from mpflow.project.file import Project, ProjectError
from mpflow.project.mutants import Mutant, MutantError, example_mutant
from mpflow.store.records import list_models

app = typer.Typer(help="The project's mutants: name, sequence, oligomeric state, numbering.",
                  no_args_is_help=True)


def _project(folder):
    try:
        return Project.locate(folder)
    except ProjectError as exc:
        fail(str(exc), 2)


@app.command("add")
def add(
    name: str = typer.Argument(None, help="Mutant name (letters, digits, '_', '.', '-'), e.g. G83I."),
    sequence: str = typer.Argument(None, help="One-letter amino-acid codes of one chain, N to C."),
    oligomer: int = typer.Option(1, "--oligomer", help="Number of identical chains (C_n symmetry)."),
    first_resid: int = typer.Option(1, "--first-resid", help="Residue number of the sequence's first residue."),
    example: str = typer.Option(None, "--example", help="Add a shipped example instead: GpA-WT, G83I or "
                                "Wza-like (NAME renames it)."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """Add a mutant to the project file (mpflow.toml)."""
    project = _project(project_dir)
    try:
        if example:
            if sequence:
                raise MutantError("give either --example or a SEQUENCE, not both")
            shipped = example_mutant(example)
            mutant = Mutant.create(**{**shipped.model_dump(), "name": name or shipped.name})
        else:
            if not name or not sequence:
                raise MutantError("give NAME and SEQUENCE (or --example NAME)")
            mutant = Mutant.create(name=name, sequence=sequence, oligomer=oligomer, first_resid=first_resid)
        added = project.add_mutant(mutant)
    except (MutantError, ProjectError) as exc:
        fail(str(exc), 2)
    what = f"{mutant.name}: {len(mutant.sequence)} residues {mutant.first_resid}–{mutant.last_resid}, " \
           f"{mutant.oligomer} chain(s)"
    typer.echo(f"added mutant {what}" if added else f"mutant {mutant.name} is already in the project ({what})")


@app.command("list")
def list_(
    as_json: bool = typer.Option(False, "--json", help="A JSON list of mutants with their model counts."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
) -> None:
    """The project's mutants with their sequences and numbers of models."""
    project, Session = open_project(project_dir)
    counts: dict[str, int] = {}
    for row in list_models(Session):
        counts[row.mutant] = counts.get(row.mutant, 0) + 1
    mutants = [{**m.model_dump(), "last_resid": m.last_resid, "models": counts.get(m.name, 0)}
               for m in project.config.mutants.values()]
    if as_json:
        typer.echo(json.dumps(mutants, indent=2))
        return
    if not mutants:
        typer.echo("no mutants yet: add one with `mpflow mutant add NAME SEQUENCE --oligomer N`")
        return
    for m in mutants:
        typer.echo(f"{m['name']}  {m['oligomer']} chain(s)  residues {m['first_resid']}–{m['last_resid']}  "
                   f"{m['models']} model(s)  {m['sequence']}")
