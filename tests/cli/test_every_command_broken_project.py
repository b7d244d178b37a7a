"""Every command of the command line, run against a broken project file, says so in one line and
shows no traceback (issue 24, item 16).

The commands are read from ``mpflow.cli.COMMANDS`` (and each group's subcommands), their required
arguments filled with a placeholder, so a command added to the table is held to the same rule without
this test changing. Each runs as a user runs it: the project is the current directory (and
``$MPFLOW_PROJECT``), and ``--project`` is given to the commands that take it.
"""

from __future__ import annotations

import pytest
from projects import make_project
from typer.testing import CliRunner

from mpflow.cli import COMMANDS, app, load_command

BROKEN = {
    "not TOML": lambda text: text + "\n[clusters\n",
    "unknown key": lambda text: text.replace("[manager]\n", "[manager]\nintervl_s = 3\n"),
    "bad value": lambda text: text.replace("nsteps = 500", "nsteps = true"),
    "bad template": None,  # a project template that does not parse (written below)
}


def _leaf_commands() -> list[tuple[list[str], object]]:
    """(the words that name it, the click command) for every command and subcommand (typer's own
    click: groups and arguments are told apart by what they have)."""
    out = []
    for name in COMMANDS:
        command = load_command(name)
        if getattr(command, "commands", None):
            out += [([name, sub], command.commands[sub]) for sub in sorted(command.commands)]
        else:
            out.append(([name], command))
    return out


def _invocation(words: list[str], command, root) -> list[str]:
    """A command line for ``command``: a placeholder for each required argument and option, ``--project``."""
    args = list(words)
    for param in command.params:
        if param.param_type_name == "argument" and param.required:
            args.append("x")
        elif param.param_type_name == "option" and param.required:
            args += [param.opts[0], "x"]
    if any("--project" in getattr(p, "opts", ()) for p in command.params):
        args += ["--project", str(root)]
    return args


COMMAND_LINES = _leaf_commands()


def test_the_table_reaches_every_command():
    names = {" ".join(words) for words, _ in COMMAND_LINES}
    assert {"init", "status", "run", "release", "mutant add", "server start", "cluster check"} <= names


@pytest.mark.parametrize("breakage", list(BROKEN))
def test_every_command_on_a_broken_project_file_is_one_line_without_a_traceback(tmp_path, monkeypatch, breakage):
    project = make_project(tmp_path / "p")
    if BROKEN[breakage] is None:
        (project.root / "templates").mkdir()
        (project.root / "templates" / "emmd.mdp.j2").write_text("integrator = steep\n{% if nsteps %}\n")
    else:
        project.file.write_text(BROKEN[breakage](project.file.read_text()))
    monkeypatch.chdir(project.root)
    monkeypatch.setenv("MPFLOW_PROJECT", str(project.root))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    problems = []
    for words, command in COMMAND_LINES:
        args = _invocation(words, command, project.root)
        result = CliRunner().invoke(app, args)
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        # a command that does not read the project may succeed (``cluster register-dev`` when a Prefect
        # server answers, as under another test's harness); one that fails says why in one line
        failed_lines = len(lines) != 1 and result.exit_code != 0
        if crashed or failed_lines or "Traceback" in result.output:
            problems.append(f"mpflow {' '.join(args)} -> exit {result.exit_code}, "
                            f"{type(result.exception).__name__ if crashed else ''} {result.output!r}")
    assert problems == []
