"""The one sandbox: rendering is bounded in time and size, and every failure is one line naming the
template, the line and the reason (issue 24, items 7 and 14)."""

from __future__ import annotations

import time

import pytest

from mpflow.templating import (
    MAX_RENDER_SECONDS,
    TemplateFailure,
    from_text,
    load,
    render,
    sandbox,
)


def _render(text: str, **values) -> str:
    return render(from_text(sandbox(), text, "job.sh.j2"), values)


@pytest.mark.parametrize("text,message", [
    ("{{ 'a' * 10**9 }}", "job.sh.j2, line 1: a str repeated 1000000000 times would be larger than the "
                          "1,000,000 characters a template may write"),
    ("{{ [1] * 10**8 }}", "a list repeated 100000000 times would be larger"),
    ("{{ 2 ** 100000000 }}", "job.sh.j2, line 1: 2 ** 100000000 has more than 10,000 digits"),
    ("{{ 'x'|center(1000000000) }}", "center(1000000000) would be larger"),
    ("{{ 'x'|indent(1000000000, true) }}", "indent(1000000000) would be larger"),
    ("{{ 'x'.ljust(1000000000) }}", "ljust(1000000000) would be larger"),
    ("{{ '{:>999999999}'.format(1) }}", "a format with a width of millions would be larger"),
    ("{{ '%0999999999d' % 1 }}", "a %-format with a width of millions would be larger"),
    ("{{ '%0999999999d'|format(1) }}", "a format with a width of millions would be larger"),
    ("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
     "a concatenation would be larger"),
    ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
     "job.sh.j2: the output would be larger than the 1,000,000 characters a template may write"),
    ("a\n{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
     "job.sh.j2, line 2: recursion too deep (a macro that calls itself without end?)"),
    ("{{ lipsum(100000) }}", "job.sh.j2, line 1: 'lipsum' is undefined"),
    ("{{ range(10**9)|list }}", "job.sh.j2, line 1: OverflowError: Range too big"),
    ("{{ cycler.__init__.__globals__ }}", "job.sh.j2, line 1: the sandbox refuses it: access to attribute "
                                          "'__init__' of 'type' object is unsafe."),
    ("one\ntwo\n{{ nope }}", "job.sh.j2, line 3: 'nope' is undefined"),
    ("a\n{% for %}", "job.sh.j2, line 2: syntax error: Expected an expression, got 'end of statement block'"),
    ("{{ 1 / 0 }}", "job.sh.j2, line 1: ZeroDivisionError: division by zero"),
    ("{{ 2.0 ** 100000 }}", "job.sh.j2, line 1: OverflowError: "),
])
def test_what_would_grow_without_bound_or_fails_is_one_line(text, message):
    with pytest.raises(TemplateFailure) as info:
        _render(text)
    assert str(info.value).startswith(message) or message in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", [
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% set x = j %}{% endfor %}{% endfor %}",
])
def test_a_runaway_loop_stops_at_the_time_bound(text):
    started = time.monotonic()
    with pytest.raises(TemplateFailure, match=r"job.sh.j2, line 1: rendering took longer than 2 s \(a runaway loop\?\)"):
        _render(text)
    assert time.monotonic() - started < MAX_RENDER_SECONDS + 1.5


def test_ordinary_templates_render_as_before():
    text = ("{% for i in range(3) %}{{ i }}{% endfor %} {{ 'ab'|upper }} {{ '%5d' % 3 }} {{ '{:>4}'.format(2) }} "
            "{{ ('x' * 3) ~ (2 ** 10) }} {{ items|join(',') }} {{ 'a'|center(5) }}|")
    assert _render(text, items=[1, 2]) == "012 AB     3    2 xxx1024 1,2   a  |"


def test_a_template_file_names_its_own_file_and_line_also_when_included(tmp_path):
    (tmp_path / "outer.mdp.j2").write_text("a = 1\n{% include 'inner.mdp.j2' %}\n")
    (tmp_path / "inner.mdp.j2").write_text("b = 2\n\n{{ 1 // 0 }}\n")
    env = sandbox([tmp_path])
    with pytest.raises(TemplateFailure) as info:
        render(load(env, "outer.mdp.j2"), {})
    assert str(info.value) == f"{tmp_path / 'inner.mdp.j2'}, line 3: ZeroDivisionError: integer division or modulo by zero"
    (tmp_path / "bad.mdp.j2").write_text("a = 1\n{% if %}\n")
    with pytest.raises(TemplateFailure) as info:
        load(env, "bad.mdp.j2")
    assert str(info.value).startswith(f"{tmp_path / 'bad.mdp.j2'}, line 2: syntax error: ")
