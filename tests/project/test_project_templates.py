"""A project's own templates (``templates/*.mdp.j2``) are checked when the project loads: a syntax
error, a call the sandbox refuses, an overflow or a runaway loop is one line naming the template, the
line and the reason, on every command, and no command hangs (issue 24, items 7 and 14)."""

from __future__ import annotations

import time

import pytest
from projects import make_project
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.project.file import Project, ProjectError
from mpflow.templating import MAX_RENDER_SECONDS

GOOD = "; {{ nsteps }} steps\nintegrator = steep\nnsteps = {{ nsteps }}\nemtol = {{ emtol }}\n"


@pytest.fixture
def project(tmp_path):
    project = make_project(tmp_path / "p")
    (project.root / "templates").mkdir()
    return project


@pytest.mark.parametrize("text,line,reason", [
    (GOOD + "{% if nsteps %}\n", 5, "syntax error: Unexpected end of template."),
    (GOOD + "{{ nsteps.__class__.__mro__ }}\n", 5, "the sandbox refuses it: access to attribute '__class__'"),
    (GOOD + "x = {{ 10.0 ** 1000 }}\n", 5, "OverflowError: "),
    (GOOD + "x = {{ 'x' * 10**9 }}\n", 5, "a str repeated 1000000000 times would be larger than the 1,000,000 "
                                          "characters a template may write"),
    ("; more\n" + GOOD + "{{ nstep }}\n", 6, "'nstep' is undefined"),
])
def test_a_broken_project_template_is_one_line_on_every_command(project, text, line, reason):
    template = project.root / "templates" / "emmd.mdp.j2"
    template.write_text(text)
    with pytest.raises(ProjectError) as info:
        Project.load(project.root)
    assert f"stages.emmd: mdp template emmd: templates/emmd.mdp.j2, line {line}: {reason}" in str(info.value)
    for args in (["status"], ["models"], ["manage", "--once"], ["run", "--timeout", "1"]):
        result = CliRunner().invoke(app, [*args, "--project", str(project.root)])
        assert result.exit_code == 2, (args, result.output)
        [out] = result.output.strip().splitlines()
        assert out.startswith("error: ") and f"templates/emmd.mdp.j2, line {line}: {reason}" in out, (args, out)


def test_a_runaway_loop_in_a_project_template_does_not_hang_commands(project):
    template = project.root / "templates" / "emmd.mdp.j2"
    template.write_text(GOOD + "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n")
    started = time.monotonic()
    result = CliRunner().invoke(app, ["status", "--project", str(project.root)])
    elapsed = time.monotonic() - started
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"error: {project.file}: stages.emmd: mdp template emmd: templates/emmd.mdp.j2, line 5: rendering took "
        f"longer than {MAX_RENDER_SECONDS:g} s (a runaway loop?)"]
    assert elapsed < MAX_RENDER_SECONDS + 3


def test_a_good_project_template_replaces_mpflows_own(project):
    (project.root / "templates" / "emmd.mdp.j2").write_text(GOOD)
    result = CliRunner().invoke(app, ["status", "--project", str(project.root)])
    assert result.exit_code == 0, result.output
