"""The console script answers --help and --version; command groups are sub-apps; packages are installed."""

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

import mpflow
from mpflow.cli import app

REPO = Path(__file__).resolve().parents[2]


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


def test_command_groups_are_sub_apps_and_command_modules_never_import_the_cli():
    import importlib

    import typer

    modules = sorted(p.stem for p in (REPO / "mpflow" / "commands").glob("*.py") if p.stem != "__init__")
    groups = {m: mod.app for m in modules
              if isinstance(getattr(mod := importlib.import_module(f"mpflow.commands.{m}"), "app", None), typer.Typer)}
    assert {g.name: g.typer_instance for g in app.registered_groups} == groups
    assert "cluster" in groups
    result = CliRunner().invoke(app, ["cluster", "--help"])
    assert result.exit_code == 0 and "check" in result.output and "register-dev" in result.output
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module('mpflow.commands.' + m)\n"
            "assert 'mpflow.cli' not in sys.modules, 'a command module imports mpflow.cli'\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_every_package_is_listed_for_installation():
    """setuptools installs only the packages pyproject.toml lists: a new subpackage must be added there."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(("mpflow", *p.parent.relative_to(REPO / "mpflow").parts)).rstrip(".")
             for p in (REPO / "mpflow").rglob("__init__.py")}
    assert found <= listed, f"not in pyproject.toml's packages: {sorted(found - listed)}"
    for package, folder in config["package-dir"].items():
        assert (REPO / folder / "__init__.py").exists(), package
