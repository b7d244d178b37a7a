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


def test_every_command_module_is_in_the_table_and_none_imports_the_cli():
    import importlib

    import typer

    from mpflow.cli import COMMANDS, load_command

    modules = sorted(p.stem for p in (REPO / "mpflow" / "commands").glob("*.py") if p.stem not in ("__init__", "common"))
    assert sorted({target.split(":")[0].rsplit(".", 1)[1] for target, _ in COMMANDS.values()}) == modules
    for name, (target, _) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name
        module, _, attribute = target.partition(":")
        if isinstance(getattr(importlib.import_module(module), attribute), typer.Typer):
            assert command.commands, f"{name}: a group without commands"
    result = CliRunner().invoke(app, ["cluster", "--help"])
    assert result.exit_code == 0 and "check" in result.output and "register-dev" in result.output
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module('mpflow.commands.' + m)\n"
            "assert 'mpflow.cli' not in sys.modules, 'a command module imports mpflow.cli'\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_help_and_status_import_no_command_they_do_not_run_and_no_prefect():
    """Each command's module is imported when it runs: ``mpflow --help`` loads none of them, and
    ``mpflow status`` (in a folder without a project) loads neither Prefect nor the science."""
    code = ("import sys\n"
            "from typer.testing import CliRunner\n"
            "from mpflow.cli import app\n"
            "r = CliRunner().invoke(app, ['--help'])\n"
            "assert r.exit_code == 0 and 'analyse' in r.output, r.output\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('mpflow.commands.') and m != 'mpflow.commands.common')\n"
            "assert not loaded, loaded\n"
            "r = CliRunner().invoke(app, ['status', '--project', sys.argv[1]])\n"
            "assert r.exit_code == 2, r.output\n"
            "heavy = sorted(m for m in ('prefect', 'MDAnalysis', 'mdtraj', 'sklearn') if m in sys.modules)\n"
            "assert not heavy, heavy\n")
    res = subprocess.run([sys.executable, "-c", code, str(REPO / "docs")], capture_output=True, text=True)
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
