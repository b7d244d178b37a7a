"""The ``mpflow`` command line: one table of commands, each loaded from ``mpflow.commands`` when run.

A command's module (and the layers it needs: Prefect takes ~2 s to import, MDAnalysis ~1.5 s) is
imported only when that command runs, so ``mpflow --help`` and ``mpflow status`` start in a fraction
of a second; the command modules themselves import everything at their top. :data:`COMMANDS` is the
whole command line: a name, where its code is (a command function or a ``typer.Typer`` group), and
the one line ``mpflow --help`` shows without importing it.
"""

from __future__ import annotations

import importlib

import click
import typer
from typer.core import TyperGroup

from mpflow import __version__
from mpflow.commands.common import command_scope, use_project_server

COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("mpflow.commands.project:init", "Create a project: mpflow.toml and its jobs database."),
    "mutant": ("mpflow.commands.mutant:app", "The project's mutants: add, list."),
    "build": ("mpflow.commands.models:build", "Build ideal-helix models of a mutant (demo and test data)."),
    "import": ("mpflow.commands.models:import_", "Import docked models: check, geometry, groups, folders."),
    "complete": ("mpflow.commands.models:complete", "Rebuild what waiting models miss (PDBFixer)."),
    "release": ("mpflow.commands.release:release", "Release held model-stages once what held them is fixed."),
    "classify": ("mpflow.commands.models:classify", "Classify a mutant's models into conformations again."),
    "models": ("mpflow.commands.models:models", "The models: tags, status, geometry."),
    "manage": ("mpflow.commands.manage:manage", "Run the dual-cluster manager (one tick with --once)."),
    "status": ("mpflow.commands.manage:status", "Model-stages per state and cluster; held and failed ones."),
    "watch": ("mpflow.commands.watch:watch", "A live view of the run from the database (q quits)."),
    "run": ("mpflow.commands.run:run", "Prepare the models and run them through every stage."),
    "backup": ("mpflow.commands.backup:backup", "Copy finished stages to a backup location, verified."),
    "db": ("mpflow.commands.db:app", "The jobs database: back it up to a file, restore it from one."),
    "cluster": ("mpflow.commands.cluster:app",
                "Clusters: check them, set up mpflow's cluster side, log in to a two-factor site, register dev blocks."),
    "server": ("mpflow.commands.server:app", "The project's Prefect server and worker: start, stop, status."),
    "demo": ("mpflow.commands.demo:demo", "The whole pipeline on the dev clusters, GpA wild type vs G83I."),
    "interactions": ("mpflow.commands.interactions:interactions_command",
                     "Interchain interaction table of one topology/trajectory."),
    "analyse": ("mpflow.commands.analyse:analyse_command",
                "Interaction analysis of the project: tables, statistics, report."),
}


def load_command(name: str) -> click.Command:
    """The click command ``mpflow NAME`` runs, imported from its module."""
    module, _, attribute = COMMANDS[name][0].partition(":")
    target = getattr(importlib.import_module(module), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
    else:
        one = typer.Typer(add_completion=False)  # completion is the top-level app's (off), not each command's
        one.command(name, **getattr(target, "command_settings", {}))(target)
        command = typer.main.get_command(one)
    command.name = name
    return command


class LazyCommands(TyperGroup):
    """The commands of :data:`COMMANDS`, each imported when it is run (or its own help is asked)."""

    _listing = False  # while the top-level help is drawn: stand-ins with the table's one line

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        if self._listing:
            return click.Command(name, help=COMMANDS[name][1])
        return load_command(name)

    def invoke(self, ctx: click.Context):
        # Before a command's module is imported (it may import Prefect, which reads its settings once):
        # the project's server, if one runs, is the API to use, for this command's run.
        with command_scope():
            use_project_server()
            return super().invoke(ctx)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    name="mpflow",
    cls=LazyCommands,
    help="Membrane-protein mutants from docked models through dual-cluster MD to interaction statistics.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mpflow {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """mpflow command line."""
