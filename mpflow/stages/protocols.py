"""Protocols: ordered steps with declared input and output files, run in one folder.

This module owns the step engine (no Prefect: the CLI, tests and the Prefect task all use it).

A protocol is a TOML file (mpflow's own in ``templates/protocols/<name>.toml``; a project puts its
own file of the same name, or replacement step templates, in a folder passed as ``search_dirs``)::

    name = "prep"
    [params]                     # defaults; callers may set only these names, to values of the same kind
    gmx = "gmx"
    threads = 2
    [limits]                     # optional: what a parameter's value may be
    threads = {min = 1, max = 1024}
    [[steps]]
    name = "setup"
    shell = "setup.sh.j2"        # a shell template ... or python = "package.module:function"
    inputs = ["protein.pdb"]     # files4check: in
    outputs = ["protein.gro", "protein.top"]   # files4check: out
    [steps.mdp."relax_em.mdp"]   # optional: mdp files rendered (mpflow.stages.mdp) before the step runs
    template = "prep_em"
    nsteps = "em_steps_max"      # an int or the name of a parameter

Rules:

- Shell templates render in a Jinja2 ``SandboxedEnvironment`` with ``StrictUndefined`` and every
  substituted value passed through ``shlex.quote`` (lists: each item quoted, joined by spaces), so
  no parameter can change the shell's parsing.  The script runs with ``set -euo pipefail`` and
  stderr merged into stdout, through a :data:`mpflow.stages.gmx.ShellRunner` (plain subprocess by
  default; prefect-shell's ``ShellOperation`` in :mod:`mpflow.tasks.protocols`).
- Python steps are functions ``step(ctx: StepContext) -> None``; their commands go through the same
  runner (``ctx.run``).
- Before a step runs, each input must exist (:class:`MissingInputError` names the file); after it,
  each output must exist and verify (a .gro is whole, a .top's local ``#include`` files exist).
- A step is skipped when its outputs exist and match the record (``.mpflow-steps.json``: sha256 of
  inputs, outputs and the rendered script, and the values of the parameters a Python step read) —
  so changed inputs or parameters re-run it, and only it and what depends on its outputs.
- A failure raises :class:`StepFailedError` whose ``reason`` is GROMACS' own error line when there
  is one (the line a model is held with); the step's whole output is kept in ``<step>.log``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
import shlex
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2

from mpflow.stages.gmx import (
    GMX_ENV,
    SCRIPT_PREAMBLE,
    CommandResult,
    GromacsError,
    ShellRunner,
    gromacs_error,
    last_line,
    run_gmx,
    subprocess_runner,
)
from mpflow.stages.mdp import MdpError, render_mdp
from mpflow.templating import TemplateFailure, load, render, sandbox

RECORD_FILE = ".mpflow-steps.json"
_STEP_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
_log = logging.getLogger(__name__)


class ProtocolError(RuntimeError):
    """Any protocol failure; ``reason`` is one line (what a model is held with)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class ProtocolDefinitionError(ProtocolError):
    """The protocol file or its parameters are wrong (nothing ran)."""


class MissingInputError(ProtocolError):
    def __init__(self, step: str, path: Path):
        self.step = step
        self.path = path
        super().__init__(f"step {step}: missing input {path}")


class StepFailedError(ProtocolError):
    def __init__(self, step: str, reason: str, *, returncode: int | None = None, output: str = "",
                 log_path: Path | None = None):
        self.step = step
        self.returncode = returncode
        self.output = output
        self.log_path = log_path
        super().__init__(f"step {step}: {reason}")


@dataclass(frozen=True)
class MdpFile:
    template: str
    nsteps: int | str


@dataclass(frozen=True)
class Step:
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    shell: str | None = None
    python: str | None = None
    mdp: Mapping[str, MdpFile] = field(default_factory=dict)


@dataclass(frozen=True)
class Limit:
    """What a parameter's value may be, besides its default's type: ``[limits] name = {min, max, choices}``."""

    min: float | None = None
    max: float | None = None
    choices: tuple[object, ...] | None = None

    def problem(self, value: object) -> str | None:
        if self.choices is not None and value not in self.choices:
            return f"must be one of {list(self.choices)}"
        if self.min is not None and value < self.min:
            return f"must be at least {self.min:g}"
        if self.max is not None and value > self.max:
            return f"must be at most {self.max:g}"
        return None


@dataclass(frozen=True)
class Protocol:
    name: str
    steps: tuple[Step, ...]
    params: Mapping[str, object]
    source: str
    search_dirs: tuple[Path, ...] = ()
    limits: Mapping[str, Limit] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    name: str
    status: str        # "ran" | "skipped"
    seconds: float


def _package_protocols() -> Path:
    return Path(str(resources.files("mpflow") / "templates" / "protocols"))


def _find(name: str, search_dirs: Sequence[Path]) -> Path | None:
    for folder in [*search_dirs, _package_protocols()]:
        cand = Path(folder) / name
        if cand.is_file():
            return cand
    return None


def load_protocol(name: str, search_dirs: Sequence[str | Path] = ()) -> Protocol:
    """The protocol ``name`` (``<name>.toml`` from ``search_dirs`` first, then mpflow's)."""
    dirs = tuple(Path(d) for d in search_dirs)
    path = Path(name) if name.endswith(".toml") else _find(f"{name}.toml", dirs)
    if path is None or not path.is_file():
        raise ProtocolDefinitionError(f"protocol {name!r} not found in "
                                      f"{[str(d) for d in dirs] + ['mpflow']}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProtocolDefinitionError(f"{path}: {exc}") from None
    steps = []
    seen_outputs: set[str] = set()
    for i, raw in enumerate(data.get("steps", [])):
        where = f"{path}: step {i + 1}"
        unknown = set(raw) - {"name", "shell", "python", "inputs", "outputs", "mdp"}
        if unknown:
            raise ProtocolDefinitionError(f"{where}: unknown key(s) {sorted(unknown)}")
        name_ = raw.get("name", "")
        if not _STEP_NAME.match(str(name_)):
            raise ProtocolDefinitionError(f"{where}: name {name_!r} must match {_STEP_NAME.pattern}")
        if bool(raw.get("shell")) == bool(raw.get("python")):
            raise ProtocolDefinitionError(f"{where} ({name_}): give exactly one of shell or python")
        files = [*raw.get("inputs", []), *raw.get("outputs", []), *raw.get("mdp", {})]
        for f in files:
            if not isinstance(f, str) or not f or f.startswith("/") or ".." in Path(f).parts:
                raise ProtocolDefinitionError(f"{where} ({name_}): file {f!r} must be a relative "
                                              "path inside the work folder")
        if not raw.get("outputs"):
            raise ProtocolDefinitionError(f"{where} ({name_}): a step must declare its outputs")
        mdp = {}
        for fname, spec in raw.get("mdp", {}).items():
            if not isinstance(spec, dict) or set(spec) != {"template", "nsteps"}:
                raise ProtocolDefinitionError(f"{where} ({name_}): mdp {fname!r} needs exactly "
                                              "template and nsteps")
            mdp[fname] = MdpFile(spec["template"], spec["nsteps"])
        seen_outputs.update(raw["outputs"])
        steps.append(Step(name_, tuple(raw.get("inputs", [])), tuple(raw["outputs"]),
                          raw.get("shell"), raw.get("python"), mdp))
    if not steps:
        raise ProtocolDefinitionError(f"{path}: no steps")
    params = dict(data.get("params", {}))
    limits = _limits(path, data.get("limits", {}), params)
    protocol = Protocol(str(data.get("name", path.stem)), tuple(steps), params, str(path), dirs, limits)
    for key, default in params.items():  # the protocol's own defaults must be values it accepts
        if key in limits and limits[key].problem(default):
            raise ProtocolDefinitionError(f"{path}: params.{key} = {default!r} {limits[key].problem(default)}")
    return protocol


def _limits(path: Path, raw: object, params: Mapping[str, object]) -> dict[str, Limit]:
    """The ``[limits]`` table: for a parameter, ``{min = N, max = N}`` and/or ``{choices = [...]}``."""
    if not isinstance(raw, dict):
        raise ProtocolDefinitionError(f"{path}: limits must be a table of parameter = {{min, max, choices}}")
    limits = {}
    for key, spec in raw.items():
        if key not in params:
            raise ProtocolDefinitionError(f"{path}: limits.{key}: no parameter {key!r} (params: {sorted(params)})")
        if not isinstance(spec, dict) or not spec or set(spec) - {"min", "max", "choices"}:
            raise ProtocolDefinitionError(f"{path}: limits.{key} must be a table with min, max and/or choices")
        bounds = [spec.get("min"), spec.get("max")]
        if any(b is not None and (isinstance(b, bool) or not isinstance(b, (int, float))) for b in bounds):
            raise ProtocolDefinitionError(f"{path}: limits.{key}: min and max must be numbers")
        choices = spec.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise ProtocolDefinitionError(f"{path}: limits.{key}.choices must be a list")
        limits[key] = Limit(spec.get("min"), spec.get("max"), tuple(choices) if choices is not None else None)
    return limits


# ----------------------------------------------------------------- rendering


def _quote_value(value: object) -> str:
    """Every value a template substitutes, made one shell word (lists: one word per item)."""
    if value is None:
        return "''"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return " ".join(shlex.quote(str(v)) for v in value)
    return shlex.quote(str(value))


def shell_environment(protocol: Protocol):
    return sandbox(protocol.search_dirs, package_dir=_package_protocols(), finalize=_quote_value)


def _same_kind(default: object, value: object) -> bool:
    """A value may replace a default of the same kind: a bool for a bool, a whole number for a whole
    number, a number for a real number, a string for a string, a table for a table."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (str, dict, list)):
        return isinstance(value, type(default))
    return True


_KIND = {bool: "true or false", int: "a whole number", float: "a number", str: "a string", dict: "a table",
         list: "a list"}


def merged_params(protocol: Protocol, params: Mapping[str, object] | None) -> dict[str, object]:
    """The protocol's defaults updated with ``params``; unknown names, values of another kind than
    the default's and values outside the protocol's ``[limits]`` are refused, one line each."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(protocol.params))
    if unknown:
        raise ProtocolDefinitionError(f"protocol {protocol.name}: unknown parameter(s) {unknown}; "
                                      f"valid: {sorted(protocol.params)}")
    for key, value in params.items():
        default = protocol.params[key]
        if not _same_kind(default, value):
            raise ProtocolDefinitionError(f"protocol {protocol.name}: parameter {key} = {value!r} must be "
                                          f"{_KIND.get(type(default), type(default).__name__)}, like its "
                                          f"default {default!r}")
        problem = protocol.limits[key].problem(value) if key in protocol.limits else None
        if problem:
            raise ProtocolDefinitionError(f"protocol {protocol.name}: parameter {key} = {value!r} {problem}")
    return {**protocol.params, **params}


def check_protocol(protocol: Protocol | str, params: Mapping[str, object] | None = None,
                   search_dirs: Sequence[str | Path] = ()) -> Protocol:
    """Load ``protocol`` and check ``params`` against it, rendering every step's script and .mdp files
    (nothing runs, nothing is written): what ``run_protocol`` would refuse is refused here, as a
    :class:`ProtocolDefinitionError`. Returns the protocol."""
    if isinstance(protocol, str):
        protocol = load_protocol(protocol, search_dirs)
    values = merged_params(protocol, params)
    for step in protocol.steps:
        render_step(protocol, step, values)
    return protocol


def render_step(protocol: Protocol, step: Step, params: Mapping[str, object]) -> dict[str, str]:
    """The files a step needs written before it runs: its script (key ``""``) and its mdp files."""
    rendered: dict[str, str] = {}
    if step.shell:
        try:
            rendered[""] = render(load(shell_environment(protocol), step.shell), params)
        except jinja2.TemplateNotFound:
            raise ProtocolDefinitionError(f"step {step.name}: template {step.shell!r} not found") \
                from None
        except TemplateFailure as exc:  # the template's file, line and reason
            raise ProtocolDefinitionError(f"step {step.name}: {exc}") from None
    else:
        # the parameters a Python step reads are recorded when it runs (see _UsedParams)
        rendered[""] = f"python step {step.python}\n"
    for fname, spec in step.mdp.items():
        nsteps = params.get(spec.nsteps) if isinstance(spec.nsteps, str) else spec.nsteps
        mdp_params = params.get(f"{spec.template}_params") or {}
        try:
            rendered[fname] = render_mdp(spec.template, nsteps, params=mdp_params,
                                         search_dirs=protocol.search_dirs)
        except MdpError as exc:
            raise ProtocolDefinitionError(f"step {step.name}: {fname}: {exc}") from None
    return rendered


# ----------------------------------------------------------------- verification and record


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_output(path: Path) -> str | None:
    """Why ``path`` is not a usable output, or None when it is."""
    if not path.is_file():
        return f"{path.name} was not written"
    if path.stat().st_size == 0:
        return f"{path.name} is empty"
    if path.suffix == ".gro":
        with path.open() as fh:
            fh.readline()
            try:
                n = int(fh.readline().strip())
            except ValueError:
                return f"{path.name}: no atom count"
            lines = sum(1 for _ in fh)
        if lines != n + 1:
            return f"{path.name}: {n} atoms announced, {lines - 1} atom lines"
    if path.suffix in (".top", ".itp"):
        for inc in re.findall(r'^#include\s+"([^"]+)"', path.read_text(), flags=re.M):
            if ".ff/" not in inc and not (path.parent / inc).is_file():
                return f"{path.name} includes missing {inc}"
    return None


def _read_record(workdir: Path) -> dict:
    try:
        return json.loads((workdir / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _write_record(workdir: Path, record: dict) -> None:
    tmp = workdir / f"{RECORD_FILE}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, workdir / RECORD_FILE)


def _digest(texts: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(texts, sort_keys=True).encode()).hexdigest()


def _param_values(params: Mapping[str, object], names) -> dict[str, str]:
    return {k: json.dumps(params.get(k), sort_keys=True, default=str) for k in sorted(names)}


class _UsedParams(dict):
    """The parameters given to a Python step, remembering which ones it read."""

    def __init__(self, values: Mapping[str, object]):
        super().__init__(values)
        self.used: set[str] = set()

    def __getitem__(self, key):
        self.used.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.used.add(key)
        return super().get(key, default)


def _up_to_date(workdir: Path, step: Step, entry: dict | None, script_sha: str,
                params: Mapping[str, object]) -> bool:
    if not entry or entry.get("script") != script_sha:
        return False
    used = entry.get("params", {})
    if used != _param_values(params, used):
        return False
    for group in ("inputs", "outputs"):
        for name in getattr(step, group):
            p = workdir / name
            if not p.is_file() or entry.get(group, {}).get(name) != sha256_file(p):
                return False
    return all(verify_output(workdir / o) is None for o in step.outputs)


# ----------------------------------------------------------------- running


@dataclass
class StepContext:
    """What a Python step gets: its folder, the parameters and a way to run commands."""

    step: str
    workdir: Path
    params: Mapping[str, object]
    runner: ShellRunner
    log: Callable[[str], None]
    outputs: list[str] = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.workdir / name

    def run(self, argv: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        """Run one command (argv list, never through a shell unquoted) in the work folder."""
        self.log(f"[{self.step}] $ {shlex.join(argv)}")
        result = run_gmx(argv, self.workdir, stdin=stdin, runner=self.runner)
        with (self.workdir / f"{self.step}.log").open("a") as fh:
            fh.write(f"$ {shlex.join(argv)}\n{result.output}\n")
        return result


def _resolve_python(ref: str) -> Callable[[StepContext], None]:
    module, _, func = ref.partition(":")
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise ProtocolDefinitionError(f"python step {ref!r} cannot be imported: {exc}") from None


def run_protocol(protocol: Protocol | str, workdir: str | Path,
                 params: Mapping[str, object] | None = None, *,
                 runner: ShellRunner = subprocess_runner, force: bool = False,
                 log: Callable[[str], None] | None = None,
                 search_dirs: Sequence[str | Path] = ()) -> list[StepOutcome]:
    """Run ``protocol``'s steps in ``workdir``, skipping the up-to-date ones (see the module doc).

    All parameters and templates are checked (rendered) before the first step runs.  Returns one
    :class:`StepOutcome` per step; raises :class:`ProtocolError` subclasses.
    """
    log = log or _log.info
    if isinstance(protocol, str):
        protocol = load_protocol(protocol, search_dirs)
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise ProtocolDefinitionError(f"work folder {workdir} does not exist")
    values = merged_params(protocol, params)
    rendered = {step.name: render_step(protocol, step, values) for step in protocol.steps}
    record = _read_record(workdir)
    outcomes = []
    for step in protocol.steps:
        files = rendered[step.name]
        script_sha = _digest(files)
        if not force and _up_to_date(workdir, step, record.get(step.name), script_sha, values):
            log(f"[{step.name}] up to date: skipped")
            outcomes.append(StepOutcome(step.name, "skipped", 0.0))
            continue
        for name in step.inputs:
            if not (workdir / name).is_file():
                raise MissingInputError(step.name, workdir / name)
        input_sha = {name: sha256_file(workdir / name) for name in step.inputs}
        record.pop(step.name, None)
        _write_record(workdir, record)
        for fname, text in files.items():
            if fname:
                (workdir / fname).write_text(text)
        log(f"[{step.name}] running")
        start = time.perf_counter()
        log_path = workdir / f"{step.name}.log"
        log_path.unlink(missing_ok=True)
        used: set[str] = set()
        if step.shell:
            _run_shell(step, files[""], workdir, runner, log_path)
        else:
            used = _run_python(step, values, workdir, runner, log)
        for name in step.outputs:
            why = verify_output(workdir / name)
            if why:
                raise StepFailedError(step.name, f"output check failed: {why}", log_path=log_path)
        seconds = time.perf_counter() - start
        record[step.name] = {"script": script_sha, "inputs": input_sha,
                             "params": _param_values(values, used),
                             "outputs": {o: sha256_file(workdir / o) for o in step.outputs},
                             "seconds": round(seconds, 3)}
        _write_record(workdir, record)
        log(f"[{step.name}] done in {seconds:.1f} s")
        outcomes.append(StepOutcome(step.name, "ran", seconds))
    return outcomes


def _run_shell(step: Step, script: str, workdir: Path, runner: ShellRunner,
               log_path: Path) -> None:
    result = runner(SCRIPT_PREAMBLE + script, workdir, GMX_ENV)
    log_path.write_text(result.output)
    if result.returncode != 0:
        reason = gromacs_error(result.output) or last_line(result.output)
        raise StepFailedError(step.name, reason, returncode=result.returncode,
                              output=result.output, log_path=log_path)


def _run_python(step: Step, params: Mapping[str, object], workdir: Path, runner: ShellRunner,
                log: Callable[[str], None]) -> set[str]:
    """Run a Python step; returns the names of the parameters it read."""
    func = _resolve_python(step.python or "")
    tracked = _UsedParams(params)
    ctx = StepContext(step.name, workdir, tracked, runner, log)
    try:
        func(ctx)
        return tracked.used
    except ProtocolError:
        raise
    except GromacsError as exc:
        raise StepFailedError(step.name, exc.reason, returncode=exc.returncode, output=exc.output,
                              log_path=workdir / f"{step.name}.log") from exc
    except (RuntimeError, ValueError, OSError) as exc:
        raise StepFailedError(step.name, str(exc).splitlines()[0] if str(exc) else
                              type(exc).__name__) from exc
