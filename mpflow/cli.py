"""The ``mpflow`` command line: the command groups of ``mpflow.commands`` joined into one app."""

from __future__ import annotations

import typer

from mpflow import __version__
from mpflow.commands import analyse, backup, cluster, demo, interactions, manage, models, mutant, project, run, server
from mpflow.commands.common import use_project_server

app = typer.Typer(
    name="mpflow",
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
    # Before any command imports Prefect: the project's server, if one runs, is the API to use.
    use_project_server()


app.command("init")(project.init)
app.add_typer(mutant.app, name="mutant")
app.command("build")(models.build)
app.command("import")(models.import_)
app.command("complete")(models.complete)
app.command("classify")(models.classify)
app.command("models")(models.models)
app.command("manage")(manage.manage)
app.command("status")(manage.status)
app.command("run")(run.run)
app.command("backup")(backup.backup)
app.add_typer(cluster.app, name="cluster")
app.add_typer(server.app, name="server")
app.command("demo")(demo.demo)
app.command("interactions", **interactions.COMMAND)(interactions.interactions_command)
app.command("analyse", **analyse.COMMAND)(analyse.analyse_command)
