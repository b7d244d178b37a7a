"""The ``mpflow`` command line: the command groups of ``mpflow.commands`` joined into one app."""

from __future__ import annotations

import typer

from mpflow import __version__
from mpflow.commands import cluster, demo, interactions, manage, project

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


app.command("init")(project.init)
app.command("manage")(manage.manage)
app.command("status")(manage.status)
app.add_typer(cluster.app, name="cluster")
app.command("demo")(demo.demo)
app.command("interactions", **interactions.COMMAND)(interactions.interactions_command)
