"""GROMACS run parameters of the MD stages and the commands that use them.

This module owns (1) the ``.mdp`` templates of the stages (``templates/mdp/*.mdp.j2``: EMMD
steepest descent, PRMD restrained NPT, URMD production, and the preparation's own EM/NPT/genion
inputs), rendered with their parameters and user overrides validated **before** anything runs
(:func:`render_mdp`); (2) :func:`grompp_stage`, grompp on the master from the previous stage's final
coordinates into ``<stage>/<stage>.tpr``; (3) the exact ``gmx mdrun`` command line of a stage
(:func:`mdrun_argv`), the same one ``templates/jobscript.sh.j2`` writes into job scripts.

Stage files (contracts.md): ``<model>/<stage>/<stage>.mdp``, ``<stage>.tpr``, then mdrun's
``<stage>.gro`` (its presence marks success), ``.log``, ``.edr``, ``.xtc``, ``.cpt``; grompp's
processed parameters go to ``<stage>/mdout.mdp``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import jinja2

from mpflow.stages.gmx import GromacsError, ShellRunner, run_gmx, subprocess_runner
from mpflow.templating import TemplateFailure, load, render, sandbox

#: the pipeline's own stages → (folder of the coordinates each starts from, file name)
START_FROM = {"emmd": ("prep", "prep.gro"), "prmd": ("emmd", "emmd.gro"),
              "urmd": ("prmd", "prmd.gro")}
PREP_TOPOLOGY = ("prep", "topol.top")
PREP_INDEX = ("prep", "index.ndx")


class MdpError(ValueError):
    """A stage length, parameter or override that cannot be rendered (one line, says the fix)."""


class StageError(RuntimeError):
    """grompp (or a missing input) stopped a stage; ``reason`` is the line to hold a model with."""

    def __init__(self, stage: str, reason: str):
        self.stage = stage
        self.reason = reason
        super().__init__(f"{stage}: {reason}")


# --- the parameters each template takes (name → type), with defaults -------------------------

_MD = {"dt_ps": 0.002, "temperature_K": 310.0, "tau_t_ps": 1.0, "pressure_coupling": True,
       "tau_p_ps": 5.0, "pressure_bar": 1.0, "seed": -1}
TEMPLATE_DEFAULTS: dict[str, dict[str, object]] = {
    "emmd": {"define": "", "emtol": 1000.0},
    "prmd": {"define": "-DPOSRES_BB", **_MD},
    "urmd": {"define": "", **_MD},
    "prep_em": {"emtol": 1000.0},
    "prep_npt": {**_MD, "tau_p_ps": 1.0},
    "ions": {},
}
#: the longest stage mpflow accepts, in steps (2 ms of simulated time at 2 fs; GROMACS itself
#: silently clamps what does not fit its own integers)
MAX_NSTEPS = 10**12
#: output every this many steps at most (production: 10 ps at 2 fs); short runs write ~10 frames
OUTPUT_EVERY_MAX = 5000
_PARAM_TYPES = {"dt_ps": float, "temperature_K": float, "tau_t_ps": float, "tau_p_ps": float,
                "pressure_bar": float, "emtol": float, "seed": int, "pressure_coupling": bool,
                "define": str, "nstlog": int, "nstenergy": int, "nstcalcenergy": int,
                "nstxout_compressed": int}
_DEFINE = re.compile(r"^(\s*-D[A-Za-z_][A-Za-z0-9_]*(=[^\s;=]+)?)*\s*$")


# --- GROMACS 2022 mdp keys (from `gmx grompp -po` of 2022.5), for validating overrides -----------

_INT_KEYS = frozenset("""nsteps init-step simulation-part nstcomm ld-seed niter nstcgsteep nbfgscorr
nstxout nstvout nstfout nstlog nstcalcenergy nstenergy nstxout-compressed nstlist fourier-nx
fourier-ny fourier-nz pme-order nsttcouple nh-chain-length nstpcouple gen-seed lincs-order
lincs-iter nwall nstdisreout nstorireout init-lambda-state nstdhdl calc-lambda-neighbors sc-power
sc-r-power dh-hist-size userint1 userint2 userint3 userint4""".split())
_REAL_KEYS = frozenset("""tinit dt bd-fric emtol emstep rtpi fcstep compressed-x-precision
verlet-buffer-tolerance rlist rcoulomb-switch rcoulomb epsilon-r epsilon-rf rvdw-switch rvdw
table-extension fourierspacing ewald-rtol ewald-rtol-lj epsilon-surface tau-p gen-temp shake-tol
lincs-warnangle wall-r-linpot wall-ewald-zfac disre-fc disre-tau orire-fc orire-tau init-lambda
delta-lambda sc-alpha sc-sigma sc-gapsys-scale-linpoint-lj sc-gapsys-scale-linpoint-q
sc-gapsys-sigma-lj dh-hist-spacing cos-acceleration sim-temp-low sim-temp-high userreal1 userreal2
userreal3 userreal4""".split())
_OTHER_KEYS = frozenset("""include define integrator mts comm-mode comm-grps compressed-x-grps
energygrps cutoff-scheme pbc periodic-molecules coulombtype coulomb-modifier vdw-type vdwtype
vdw-modifier dispcorr energygrp-table lj-pme-comb-rule ewald-geometry implicit-solvent tcoupl
print-nose-hoover-chain-variables tc-grps tau-t ref-t pcoupl pcoupltype compressibility ref-p
refcoord-scaling qmmm qmmm-grps annealing annealing-npoints annealing-time annealing-temp gen-vel
constraints constraint-algorithm continuation shake-sor morse energygrp-excl wall-type
wall-atomtype wall-density pull awh rotation imd-group disre disre-weighting disre-mixed orire
orire-fitgrp free-energy couple-moltype couple-lambda0 couple-lambda1 couple-intramol fep-lambdas
mass-lambdas coul-lambdas vdw-lambdas bonded-lambdas restraint-lambdas temperature-lambdas
init-lambda-weights dhdl-print-energy sc-function sc-coul separate-dhdl-file dhdl-derivatives
acc-grps accelerate freezegrps freezedim deform simulated-tempering simulated-tempering-scaling
swapcoords adress user1-grps user2-grps electric-field-x electric-field-y electric-field-z
density-guided-simulation-active qmmm-cp2k-active""".split())
#: options of modules that only appear once the module is on (pull = yes, awh = yes, ...)
_MODULE_PREFIXES = ("pull-", "awh", "rot-", "imd-", "swap-", "density-guided-simulation-",
                    "qmmm-cp2k-", "mts-", "bFEP")
_ENUMS = {
    "integrator": {"md", "md-vv", "md-vv-avek", "sd", "bd", "steep", "cg", "l-bfgs", "nm", "tpi",
                   "tpic", "mimic"},
    "tcoupl": {"no", "berendsen", "nose-hoover", "andersen", "andersen-massive", "v-rescale"},
    "pcoupl": {"no", "berendsen", "parrinello-rahman", "mttk", "c-rescale"},
    "pcoupltype": {"isotropic", "semiisotropic", "anisotropic", "surface-tension"},
    "constraints": {"none", "h-bonds", "all-bonds", "h-angles", "all-angles"},
    "constraint-algorithm": {"lincs", "shake"},
    "cutoff-scheme": {"verlet", "group"},
    "comm-mode": {"linear", "angular", "linear-acceleration-correction", "none"},
    "gen-vel": {"yes", "no"},
    "continuation": {"yes", "no"},
    "pbc": {"xyz", "no", "xy", "screw"},
    "refcoord-scaling": {"no", "all", "com"},
}
#: lengths are stage parameters, never overrides (so a zero length cannot sneak in)
_NOT_OVERRIDABLE = {"nsteps"}


def normalise_key(key: str) -> str:
    return key.strip().lower().replace("_", "-")


def _known_key(key: str) -> bool:
    return (key in _INT_KEYS or key in _REAL_KEYS or key in _OTHER_KEYS
            or key.startswith(tuple(p.lower() for p in _MODULE_PREFIXES)))


def _check_override(key: str, value: object) -> str:
    """The override's value as mdp text; :class:`MdpError` when the key or value is bad."""
    norm = normalise_key(key)
    if norm in _NOT_OVERRIDABLE:
        raise MdpError(f"mdp override {key!r}: the length is the stage's nsteps parameter, "
                       "not an override")
    if not _known_key(norm):
        close = sorted(k for k in _INT_KEYS | _REAL_KEYS | _OTHER_KEYS if k[:3] == norm[:3])
        hint = f" (did you mean one of {close[:6]}?)" if close else ""
        raise MdpError(f"mdp override {key!r}: not a GROMACS 2022 mdp option{hint}")
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, (int, float, str)):
        text = str(value).strip()
    else:
        raise MdpError(f"mdp override {key}={value!r}: value must be a number, a string or a bool")
    if any(c in text for c in "\n\r;="):
        raise MdpError(f"mdp override {key}={value!r}: newlines, ';' and '=' are not allowed")
    if norm in _INT_KEYS:
        try:
            int(text)
        except ValueError:
            raise MdpError(f"mdp override {key}={value!r}: an integer is required") from None
    elif norm in _REAL_KEYS:
        try:
            float(text)
        except ValueError:
            raise MdpError(f"mdp override {key}={value!r}: a number is required") from None
    elif norm in _ENUMS and text.lower().replace("_", "-") not in _ENUMS[norm]:
        raise MdpError(f"mdp override {key}={value!r}: must be one of {sorted(_ENUMS[norm])}")
    return text


def check_nsteps(stage: str, nsteps: object) -> int:
    """A stage length: a positive integer number of steps."""
    if isinstance(nsteps, bool) or not isinstance(nsteps, int):
        raise MdpError(f"{stage}: the length must be a whole number of steps, got {nsteps!r}")
    if nsteps <= 0:
        raise MdpError(f"{stage}: the length must be at least 1 step, got {nsteps}")
    if nsteps > MAX_NSTEPS:
        raise MdpError(f"{stage}: the length must be at most {MAX_NSTEPS:,} steps, got {nsteps:,}")
    return nsteps


def output_intervals(nsteps: int) -> dict[str, int]:
    """nstlog/nstenergy/nstcalcenergy/nstxout-compressed: every 10 ps at most, ~10 frames in short
    runs; nstenergy is a multiple of nstcalcenergy as grompp requires."""
    every = min(OUTPUT_EVERY_MAX, max(1, nsteps // 10))
    calc = min(100, every)
    every = max(calc, every // calc * calc)
    return {"nstlog": every, "nstenergy": every, "nstcalcenergy": calc,
            "nstxout_compressed": every}


def _check_params(template: str, params: Mapping[str, object]) -> dict[str, object]:
    if template not in TEMPLATE_DEFAULTS:
        raise MdpError(f"unknown mdp template {template!r}; known: {sorted(TEMPLATE_DEFAULTS)}")
    allowed = set(TEMPLATE_DEFAULTS[template]) | {"nstlog", "nstenergy", "nstcalcenergy",
                                                 "nstxout_compressed"}
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise MdpError(f"{template}: unknown parameter(s) {unknown}; valid: {sorted(allowed)}")
    checked = {}
    for name, value in params.items():
        kind = _PARAM_TYPES[name]
        ok = (isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))) or \
            (kind is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise MdpError(f"{template}: parameter {name}={value!r} must be {kind.__name__}")
        if kind in (int, float) and name != "seed" and value <= 0:
            raise MdpError(f"{template}: parameter {name}={value!r} must be positive")
        if name == "define" and not _DEFINE.match(str(value)):
            raise MdpError(f"{template}: define={value!r} must be -DNAME words")
        checked[name] = value
    return checked


def _environment(search_dirs: Sequence[str | Path] = ()):
    return sandbox(search_dirs, package_dir=resources.files("mpflow") / "templates" / "mdp")


def render_mdp(template: str, nsteps: int, *, params: Mapping[str, object] | None = None,
               overrides: Mapping[str, object] | None = None,
               search_dirs: Sequence[str | Path] = ()) -> str:
    """The text of ``template`` (``emmd``, ``prmd``, ``urmd``, ``prep_em``, ``prep_npt``,
    ``ions``) for a run of ``nsteps`` steps.

    ``params`` set the template's variables (unknown names and bad values refused); ``overrides``
    are GROMACS mdp options (``{"tau-p": 2.0}``) replacing the template's line or appended,
    checked against GROMACS 2022's option names and types.  A project's own ``<template>.mdp.j2``
    in ``search_dirs`` replaces mpflow's.  Everything is checked before anything runs.
    """
    check_nsteps(template, nsteps)
    values = {**TEMPLATE_DEFAULTS.get(template, {}), **output_intervals(nsteps),
              **_check_params(template, params or {}), "nsteps": nsteps}
    lines_over = {normalise_key(k): (k, _check_override(k, v)) for k, v in (overrides or {}).items()}
    try:
        text = render(load(_environment(search_dirs), f"{template}.mdp.j2"), values)
    except jinja2.TemplateNotFound as exc:
        raise MdpError(f"mdp template {exc.name!r} not found") from None
    except TemplateFailure as exc:  # the template's file, line and reason
        raise MdpError(f"mdp template {template}: {exc}") from None
    out = []
    for line in text.splitlines():
        key = normalise_key(line.split("=", 1)[0]) if "=" in line and not \
            line.lstrip().startswith(";") else None
        if key in lines_over:
            orig, val = lines_over.pop(key)
            out.append(f"{key:<24} = {val}  ; override")
        else:
            out.append(line)
    for key, (_, val) in lines_over.items():
        out.append(f"{key:<24} = {val}  ; override")
    return "\n".join(out) + "\n"


def mdp_setting(text: str, key: str) -> str | None:
    """The value of ``key`` in an .mdp text (the last line setting it; comments dropped)."""
    want, value = normalise_key(key), None
    for line in text.splitlines():
        line = line.split(";", 1)[0]
        if "=" in line:
            k, v = line.split("=", 1)
            if normalise_key(k) == want:
                value = v.strip()
    return value


# --- grompp and mdrun of a stage --------------------------------------------------------------


def stage_paths(model_dir: str | Path, stage: str, after: str | None = None) -> dict[str, Path]:
    """The files of ``stage`` of the model in ``model_dir`` (contracts.md names).

    ``after`` is the stage whose final coordinates ``<after>/<after>.gro`` it starts from (default:
    the pipeline's order prep → emmd → prmd → urmd)."""
    if after is None:
        if stage not in START_FROM:
            raise MdpError(f"stage {stage!r}: say which stage it starts from (after)")
        after = START_FROM[stage][0]
    model = Path(model_dir)
    folder = model / stage
    return {"dir": folder, "mdp": folder / f"{stage}.mdp", "tpr": folder / f"{stage}.tpr",
            "gro": folder / f"{stage}.gro", "log": folder / f"{stage}.log",
            "edr": folder / f"{stage}.edr", "xtc": folder / f"{stage}.xtc",
            "cpt": folder / f"{stage}.cpt", "mdout": folder / "mdout.mdp",
            "start": model / after / f"{after}.gro",
            "top": model.joinpath(*PREP_TOPOLOGY), "ndx": model.joinpath(*PREP_INDEX)}


def grompp_stage(model_dir: str | Path, stage: str, nsteps: int, *, template: str | None = None,
                 after: str | None = None, params: Mapping[str, object] | None = None,
                 overrides: Mapping[str, object] | None = None,
                 search_dirs: Sequence[str | Path] = (), gmx: str = "gmx", maxwarn: int = 0,
                 runner: ShellRunner = subprocess_runner) -> Path:
    """Write ``<stage>/<stage>.mdp`` from the mdp ``template`` (default: the stage's name) and run
    grompp into ``<stage>/<stage>.tpr``.

    Starts from the final coordinates of the stage it comes ``after`` (``prep/prep.gro`` for EMMD,
    then ``emmd/emmd.gro``, ``prmd/prmd.gro``) with ``prep/topol.top`` and ``prep/index.ndx``; the
    same coordinates are the position-restraint reference (``-r``).  The mdp is checked before
    grompp runs (:class:`MdpError`); a missing input or a grompp failure raises
    :class:`StageError` with GROMACS' own error line.  Returns the .tpr path.
    """
    text = render_mdp(template or stage, nsteps, params=params, overrides=overrides, search_dirs=search_dirs)
    return grompp_from_text(model_dir, stage, text, after=after, gmx=gmx, maxwarn=maxwarn, runner=runner)


def grompp_from_text(model_dir: str | Path, stage: str, mdp_text: str, *, after: str | None = None,
                     gmx: str = "gmx", maxwarn: int = 0, runner: ShellRunner = subprocess_runner) -> Path:
    """Write ``<stage>/<stage>.mdp`` (``mdp_text``, rendered already) and run grompp into
    ``<stage>/<stage>.tpr`` (see :func:`grompp_stage`)."""
    paths = stage_paths(model_dir, stage, after)
    for name in ("start", "top", "ndx"):
        if not paths[name].is_file():
            raise StageError(stage, f"missing input {paths[name]}")
    paths["dir"].mkdir(parents=True, exist_ok=True)
    tmp = paths["mdp"].with_name(f".{paths['mdp'].name}.tmp")
    tmp.write_text(mdp_text)
    tmp.replace(paths["mdp"])
    paths["tpr"].unlink(missing_ok=True)
    rel = lambda p: str(Path("..") / p.parent.name / p.name)  # noqa: E731 - paths from <stage>/
    argv = [gmx, "-quiet", "grompp", "-f", paths["mdp"].name, "-c", rel(paths["start"]),
            "-r", rel(paths["start"]), "-p", rel(paths["top"]), "-n", rel(paths["ndx"]),
            "-o", paths["tpr"].name, "-po", paths["mdout"].name, "-maxwarn", str(maxwarn)]
    try:
        run_gmx(argv, paths["dir"], runner=runner)
    except GromacsError as exc:
        raise StageError(stage, f"grompp: {exc.reason}") from exc
    return paths["tpr"]


def mdrun_argv(stage: str, *, ntomp: int, maxh: float | None = None, continuation: bool = False,
               extra: Sequence[str] = (), gmx: str = "gmx") -> list[str]:
    """The ``gmx mdrun`` command of a stage, as the job scripts write it (jobscript.sh.j2):
    ``gmx mdrun -deffnm <stage> [-cpi <stage>.cpt] [-maxh H] -ntomp N [extra...]``, run inside the
    stage folder.  ``continuation`` adds ``-cpi`` (the job script adds it only when the checkpoint
    exists)."""
    argv = [gmx, "mdrun", "-deffnm", stage]
    if continuation:
        argv += ["-cpi", f"{stage}.cpt"]
    if maxh is not None:
        argv += ["-maxh", str(maxh)]
    return argv + ["-ntomp", str(ntomp), *extra]


def run_stage_locally(model_dir: str | Path, stage: str, *, ntomp: int = 2, gmx: str = "gmx",
                      runner: ShellRunner = subprocess_runner) -> Path:
    """Run mdrun of ``stage`` here (tests and single-machine use; clusters use job scripts).

    Continues from ``<stage>.cpt`` when present, like the job script.  Returns ``<stage>.gro``;
    raises :class:`StageError` with GROMACS' error line."""
    paths = stage_paths(model_dir, stage)
    if not paths["tpr"].is_file():
        raise StageError(stage, f"missing input {paths['tpr']}")
    argv = mdrun_argv(stage, ntomp=ntomp, continuation=paths["cpt"].is_file(), gmx=gmx,
                      extra=["-ntmpi", "1"])
    try:
        run_gmx(argv, paths["dir"], runner=runner)
    except GromacsError as exc:
        raise StageError(stage, f"mdrun: {exc.reason}") from exc
    if not paths["gro"].is_file():
        raise StageError(stage, f"mdrun ended without writing {paths['gro'].name}")
    return paths["gro"]


def em_result(log_path: str | Path) -> tuple[bool, str]:
    """(converged, GROMACS' line) from a steepest-descent log: converged means Fmax < emtol."""
    text = Path(log_path).read_text(errors="replace")
    for line in text.splitlines():
        if line.startswith(("Steepest Descents converged", "Steepest Descents did not converge")):
            return line.startswith("Steepest Descents converged to Fmax"), line.strip()
    return False, "no steepest-descent result in the log"


