"""``python -m mpflow`` runs the command line."""

from mpflow.cli import app

app(prog_name="mpflow")
