"""The console script answers --help and --version."""

import subprocess
import sys

from typer.testing import CliRunner

import mpflow
from mpflow.cli import app


def test_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"mpflow {mpflow.__version__}"


def test_help_lists_the_demo():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "demo" in result.output


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "mpflow", "--version"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"mpflow {mpflow.__version__}"
