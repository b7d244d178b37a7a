"""The one Jinja2 sandbox every user-editable template renders in (job scripts, ``.mdp`` files,
protocol shell steps), bounded in time and size, with failures as one line.

Templates are data, not code: a cluster block's job-script template, a project's own ``.mdp.j2`` or
protocol step may come from anyone who can edit the project or the Prefect server. Jinja2's
``ImmutableSandboxedEnvironment`` refuses attribute access to Python internals (``__globals__``,
``__class__``, ...) and any change to the values handed in; ``StrictUndefined`` turns a misspelt
variable into an error instead of an empty string. Every environment mpflow makes comes from
:func:`sandbox`, so the three kinds of templates share one set of rules.

Bounds: a template is rendered on every command that loads the project (its ``.mdp`` files are
checked then), so a runaway loop must not hang them. One rendering may take at most
:data:`MAX_RENDER_SECONDS` and write at most :data:`MAX_RENDER_CHARS` characters; the clock is read at
every function call, filter, operator, attribute, loop step over ``range`` and piece of output, and
the operators and filters that multiply sizes (``*``, ``**``, ``+``, ``%``, ``center``, ``indent``,
...) are refused before they would build something larger than the output may be. ``lipsum`` (a
text generator) is not offered. A template that goes over a bound raises :class:`TemplateLimit`.

:func:`render` and :func:`load` turn every failure — a syntax error, something the sandbox refuses, a
bound, an undefined name, Python's own errors inside the template — into :class:`TemplateFailure`,
whose message is one line naming the template file, the line and the reason.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError, safe_range

__all__ = ["MAX_RENDER_CHARS", "MAX_RENDER_SECONDS", "SecurityError", "TemplateFailure", "TemplateLimit",
           "TemplateProblem", "load", "render", "sandbox", "syntax_problem"]

TemplateProblem = jinja2.TemplateError
"""The base of every error a template can raise while it is parsed or rendered."""

MAX_RENDER_SECONDS = 2.0
"""The longest one rendering may take (mpflow's own templates render in milliseconds)."""
MAX_RENDER_CHARS = 1_000_000
"""The most characters one rendering may write (a job script or an .mdp file is a few kB)."""

#: filters whose integer arguments are a width or a length of the text they make
_SIZING_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate", "filesizeformat"})
#: str methods whose integer arguments are a width of the text they make
_SIZING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
#: a %-format or str.format field with a width or precision of 7 digits or more
_HUGE_FIELD = re.compile(r"%[-+ #0]*(\d{7,}|\*)|%[-+ #0]*\d*\.(\d{7,}|\*)|\{[^{}]*:[^{}]*\d{7,}[^{}]*\}")


class TemplateLimit(jinja2.TemplateRuntimeError):
    """A template went over a bound of its rendering (time, size)."""


class TemplateFailure(ValueError):
    """A template that does not parse or render; the message is one line naming the file, the line
    and the reason."""


@dataclass
class _Budget:
    deadline: float
    seconds: float

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"rendering took longer than {self.seconds:g} s (a runaway loop?)")


_budget: ContextVar[_Budget | None] = ContextVar("mpflow_template_budget", default=None)


def _check_time() -> None:
    budget = _budget.get()
    if budget is not None:
        budget.check()


def _too_big(what: str) -> TemplateLimit:
    return TemplateLimit(f"{what} would be larger than the {MAX_RENDER_CHARS:,} characters a template may write")


def _check_size(value: object, what: str) -> None:
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > MAX_RENDER_CHARS:
        raise _too_big(what)


def _check_widths(args: Sequence[object], what: str) -> None:
    for a in args:
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_RENDER_CHARS:
            raise _too_big(f"{what}({a})")


class _TickingRange:
    """``range`` of the sandbox (at most ``MAX_RANGE`` items) whose every step reads the clock."""

    def __init__(self, *args: int):
        self._range = safe_range(*args)

    def __iter__(self) -> Iterator[int]:
        for item in self._range:
            _check_time()
            yield item

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, index):
        return self._range[index]

    def __repr__(self) -> str:
        return repr(self._range)


class _BoundedTemplate(jinja2.Template):
    """A template whose rendering is bounded in time and size (see the module docstring)."""

    def render(self, *args, **kwargs) -> str:
        outer = _budget.get()
        token = None if outer is not None else _budget.set(
            _Budget(time.monotonic() + MAX_RENDER_SECONDS, MAX_RENDER_SECONDS))
        try:
            out: list[str] = []
            size = 0
            for chunk in self.generate(*args, **kwargs):
                size += len(chunk)
                if size > MAX_RENDER_CHARS:
                    raise _too_big("the output")
                _check_time()
                out.append(chunk)
            return "".join(out)
        finally:
            if token is not None:
                _budget.reset(token)


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, with the clock read and sizes checked at every operator, call,
    attribute and filter."""

    template_class = _BoundedTemplate
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context, operator, left, right):
        _check_time()
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_RENDER_CHARS:
                    raise _too_big(f"a {type(seq).__name__} repeated {n} times")
        elif operator == "**":
            if (isinstance(left, int) and isinstance(right, int) and abs(left) > 1 and right > 0
                    and right * math.log10(abs(left)) > 10_000):
                raise TemplateLimit(f"{left} ** {right} has more than 10,000 digits")
        elif operator == "+":
            if isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)) \
                    and len(left) + len(right) > MAX_RENDER_CHARS:
                raise _too_big("a concatenation")
        elif operator == "%" and isinstance(left, str) and _HUGE_FIELD.search(left):
            raise _too_big("a %-format with a width of millions")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's own signature
        _check_time()
        bound = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        name, owner = getattr(bound, "__name__", None), getattr(bound, "__self__", None)
        if isinstance(owner, str):
            if name in _SIZING_METHODS:
                _check_widths([*args, *kwargs.values()], name)
            if name in ("format", "format_map") and _HUGE_FIELD.search(owner):
                raise _too_big("a format with a width of millions")
        result = super().call(__context, __obj, *args, **kwargs)
        _check_size(result, f"the result of {name or 'a call'}")
        return result

    def getattr(self, obj, attribute):
        _check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        _check_time()
        return super().getitem(obj, argument)


def _bounded_filter(name: str, func: Callable) -> Callable:
    @functools.wraps(func)
    def bounded(*args, **kwargs):
        _check_time()
        if name in _SIZING_FILTERS:
            _check_widths([*args[1:], *kwargs.values()], name)
        if name == "format" and args and any(isinstance(a, str) and _HUGE_FIELD.search(a) for a in args[:2]):
            raise _too_big("a format with a width of millions")
        result = func(*args, **kwargs)
        _check_size(result, f"the filter {name}")
        return result

    return bounded


def sandbox(search_dirs: Sequence[str | Path] = (), *, package_dir: str | Path | None = None,
            finalize: Callable[[object], object] | None = None,
            filters: Mapping[str, Callable] | None = None) -> ImmutableSandboxedEnvironment:
    """A sandboxed, bounded environment loading templates from ``search_dirs`` first, then
    ``package_dir`` (mpflow's own templates of that kind); ``finalize`` transforms every substituted
    value (the protocols quote each one for the shell), ``filters`` adds named filters."""
    folders = [str(d) for d in search_dirs] + ([str(package_dir)] if package_dir is not None else [])
    env = _BoundedSandbox(
        loader=jinja2.FileSystemLoader(folders) if folders else None,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False,
        **({"finalize": finalize} if finalize is not None else {}))
    env.filters.update(filters or {})
    env.filters = {name: _bounded_filter(name, f) for name, f in env.filters.items()}
    env.globals["range"] = _TickingRange
    env.globals.pop("lipsum", None)
    return env


def syntax_problem(env: jinja2.Environment, text: str) -> str | None:
    """Why ``text`` does not parse as a template of ``env`` (one line with its line number), or None."""
    try:
        env.parse(text)
    except jinja2.TemplateSyntaxError as exc:
        return f"Jinja2 syntax error on line {exc.lineno}: {exc.message}"
    return None


RENDER_ERRORS = (jinja2.TemplateError, ArithmeticError, RecursionError, MemoryError, TypeError, ValueError,
                 LookupError)
"""What a template's own code can raise while it renders (besides Jinja2's errors, Python's: a
division by zero, a number too large, a recursive macro, ``1 + "a"``)."""


def _where(exc: BaseException, template: jinja2.Template | None) -> str:
    """``<file>, line N`` of the innermost template frame of ``exc`` (Jinja2 rewrites tracebacks so
    that template code shows at its template line), else the template's own file."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"{exc.filename or exc.name or '<template>'}, line {exc.lineno}"
    found = None
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            found = (tb.tb_frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    own = None
    if template is not None:
        own = template.filename if template.filename not in (None, "<template>") else template.name
    if found:
        return f"{found[0] if found[0] != '<template>' else own or found[0]}, line {found[1]}"
    return own or "<template>"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"syntax error: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"the sandbox refuses it: {exc}"
    if isinstance(exc, jinja2.UndefinedError):
        return exc.message or "undefined"
    if isinstance(exc, TemplateLimit):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "recursion too deep (a macro that calls itself without end?)"
    if isinstance(exc, MemoryError):
        return "out of memory"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def problem(exc: BaseException, template: jinja2.Template | None = None) -> str:
    """One line for a template's failure: its file, the line and the reason."""
    return f"{_where(exc, template)}: {_reason(exc)}"


def load(env: jinja2.Environment, name: str) -> jinja2.Template:
    """``env``'s template ``name``; :class:`TemplateFailure` (one line) when it does not parse.
    A missing template raises ``jinja2.TemplateNotFound`` (callers name what they looked for)."""
    try:
        return env.get_template(name)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateFailure(problem(exc)) from None


def from_text(env: jinja2.Environment, text: str, name: str) -> jinja2.Template:
    """A template of ``env`` from ``text`` (shown as ``name`` in errors); :class:`TemplateFailure`
    when it does not parse."""
    try:
        template = env.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        exc.filename = exc.filename or name
        raise TemplateFailure(problem(exc)) from None
    template.name = template.name or name
    return template


def render(template: jinja2.Template, values: Mapping[str, object]) -> str:
    """``template`` rendered with ``values``, bounded; every failure is :class:`TemplateFailure`."""
    try:
        return template.render(**values)
    except RENDER_ERRORS as exc:
        raise TemplateFailure(problem(exc, template)) from None
