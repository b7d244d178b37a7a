"""The one Jinja2 sandbox every user-editable template renders in (job scripts, ``.mdp`` files,
protocol shell steps).

Templates are data, not code: a cluster block's job-script template, a project's own ``.mdp.j2`` or
protocol step may come from anyone who can edit the project or the Prefect server. Jinja2's
``ImmutableSandboxedEnvironment`` refuses attribute access to Python internals (``__globals__``,
``__class__``, ...) and any change to the values handed in; ``StrictUndefined`` turns a misspelt
variable into an error instead of an empty string. Every environment mpflow makes comes from
:func:`sandbox`, so the three kinds of templates share one set of rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

__all__ = ["SecurityError", "TemplateProblem", "sandbox", "syntax_problem"]

TemplateProblem = jinja2.TemplateError
"""The base of every error a template can raise while it is parsed or rendered."""


def sandbox(search_dirs: Sequence[str | Path] = (), *, package_dir: str | Path | None = None,
            finalize: Callable[[object], object] | None = None,
            filters: Mapping[str, Callable] | None = None) -> ImmutableSandboxedEnvironment:
    """A sandboxed environment loading templates from ``search_dirs`` first, then ``package_dir``
    (mpflow's own templates of that kind); ``finalize`` transforms every substituted value (the
    protocols quote each one for the shell), ``filters`` adds named filters."""
    folders = [str(d) for d in search_dirs] + ([str(package_dir)] if package_dir is not None else [])
    env = ImmutableSandboxedEnvironment(
        loader=jinja2.FileSystemLoader(folders) if folders else None,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False,
        **({"finalize": finalize} if finalize is not None else {}))
    env.filters.update(filters or {})
    return env


def syntax_problem(env: jinja2.Environment, text: str) -> str | None:
    """Why ``text`` does not parse as a template of ``env`` (one line with its line number), or None."""
    try:
        env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"Jinja2 syntax error on line {exc.lineno}: {exc.message}"
    return None
