"""The ``mpflow`` command line: one typer app; each command group lives beside the code it drives."""

from __future__ import annotations

import typer

from mpflow import __version__

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


def dev_clusters_or_exit():
    """The dev clusters' settings, or a one-line error and exit code 2 when they are not up."""
    from mpflow.devcluster import DevClusterNotFound, dev_cluster_settings

    try:
        return dev_cluster_settings()
    except DevClusterNotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)


def _register_commands() -> None:
    # Each command module registers itself on `app`; imported here so `mpflow --help` lists them all.
    from mpflow import cli_cluster, cli_demo  # noqa: F401
    from mpflow import cli_interactions  # noqa: F401


_register_commands()
