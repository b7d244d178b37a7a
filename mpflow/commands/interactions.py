"""``mpflow interactions``: one topology (+ trajectory) -> one interaction table (Parquet or CSV).

This module owns only the command line around
:func:`mpflow.analysis.interactions.compute_interactions`: parsing and checking every option
before any work (exit 2 with one ``error:`` line naming the option), checking that ``--out`` can
be written, reading the inputs (exit 1 naming the file that could not be read), running, and
writing the table atomically.  It never returns a wrong or empty table silently: a request that
cannot produce any row stops with a one-line reason (exit 1), an empty result says why, and
molecules made whole or worker counts capped are reported on stderr.

``--frames`` takes the frame selections of the analysis (:mod:`mpflow.analysis.frames`, one
grammar).  The interaction engine (and with it MDAnalysis, ~1.3 s) is imported when the command
runs or its help is shown, never when the CLI starts.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import MDAnalysis as mda
import typer
from typer.core import TyperCommand

from mpflow.analysis.frames import FrameSelectionError, parse_frame_spec
from mpflow.analysis.interactions import (
    CRITERIA,
    INTERACTION_TYPES,
    BrokenMolecules,
    MoleculesMadeWhole,
    NothingToCompute,
    OutsideProlifCoverage,
    SelectionProblem,
    check_writable,
    compute_interactions,
    make_interactions,
    plan_workers,
    table_metadata,
    write_table,
)
from mpflow.commands.common import fail
from mpflow.errors import first_line


def _types_help() -> str:
    # the interaction engine imports MDAnalysis (~1.3 s): loaded for this help text, not at CLI start

    blocks = []
    for name, cls in INTERACTION_TYPES.items():
        lines = [f"{name}: " + ", ".join(f"{k}={v:g}" for k, v in cls.parameters("mpflow").items())]
        for crit in CRITERIA:
            differs = cls.parameters(crit) != cls.parameters("mpflow")
            params = (" [" + ", ".join(f"{k}={v:g}" for k, v in cls.parameters(crit).items())
                      + "]") if differs else ""
            lines.append(f"  --criteria {crit}{params}: {cls.sources[crit]}")
        blocks.append("\n\n".join(lines))
    return "\n\n".join(blocks)


_EPILOG = ("Interaction types, their default parameters (override with --param TYPE.NAME=VALUE) "
           "and, per --criteria profile, whose definition they follow:\n\n")


class _TypesHelpCommand(TyperCommand):
    """The command whose epilog (every type's parameters and sources) is built when help is shown."""

    @property
    def epilog(self) -> str:
        return _EPILOG + _types_help()

    @epilog.setter
    def epilog(self, value) -> None:  # click sets it from the registration; the property computes it
        pass


def parse_frames(text: str):
    """A frame selection of the analysis' grammar (:func:`mpflow.analysis.frames.parse_frame_spec`),
    refused in one line naming ``--frames``."""

    try:
        return parse_frame_spec(text)
    except FrameSelectionError as exc:
        raise ValueError(f"--frames {exc.text!r}: {exc.reason}") from None


def parse_types(text: str | None, valid) -> list[str]:
    """Comma-separated type names checked against ``valid`` (the registry's); None: all of them."""
    if text is None:
        return list(valid)
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in valid]
    if unknown or not names:
        raise ValueError(f"--types: unknown type(s) {', '.join(unknown) or '(none given)'}; "
                         f"valid: {', '.join(valid)}")
    return names


def parse_params(items: list[str]) -> dict[str, dict[str, float]]:
    """``TYPE.NAME=VALUE`` overrides -> {type: {name: value}} (names and values checked later)."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        try:
            key, value = item.split("=", 1)
            typ, name = key.split(".", 1)
            out.setdefault(typ.strip(), {})[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--param {item!r}: expected TYPE.NAME=VALUE with a number, e.g. "
                             "hbond.distance_max_A=3.2") from None
    return out


def parse_n_jobs(text: str) -> int:
    """A positive number of worker processes, or -1 for one per CPU."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n == 0 or n < -1:
        raise ValueError(f"--n-jobs {text}: must be a positive number of processes, or -1 for one "
                         "per CPU")
    return n


def parse_criteria(text: str, valid) -> str:
    if text not in valid:
        raise ValueError(f"--criteria {text!r}: unknown; valid: {', '.join(valid)}")
    return text


COMMAND = dict(
    help="Interchain interaction table of a topology/trajectory (any format MDAnalysis reads), "
         "one row per interaction and frame, written as Parquet or CSV (a CSV's first line is a "
         "'# mpflow.interactions {...}' comment recording the criteria and parameters).",
    cls=_TypesHelpCommand,
)


def _os_reason(exc: BaseException) -> str:
    """The system's words for an I/O error (pyarrow wraps them as "... [errno 27] ...")."""

    code = getattr(exc, "errno", None)
    if not code:
        found = re.search(r"\[errno (\d+)\]", str(exc))
        code = int(found.group(1)) if found else None
    return os.strerror(code) if code else first_line(exc)


def _read_universe(topology: Path, trajectory: list[Path]):

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if topology.stat().st_size == 0:
            fail(f"cannot read {topology} as a structure: the file is empty", 1)
        try:
            universe = mda.Universe(str(topology))
        except (IndexError, KeyError) as exc:  # MDAnalysis' parsers on records they cannot use
            fail(f"cannot read {topology} as a structure: no usable atom records "
                 f"({type(exc).__name__}: {first_line(exc)})", 1)
        except Exception as exc:  # noqa: BLE001 - any reader error becomes one line
            fail(f"cannot read {topology} as a structure: {first_line(exc)}", 1)
        if universe.atoms.n_atoms == 0:
            fail(f"cannot read {topology} as a structure: no atoms found", 1)
        if trajectory:
            try:
                universe.load_new([str(p) for p in trajectory])
            except Exception as exc:  # noqa: BLE001 - any reader error becomes one line
                names = ", ".join(str(p) for p in trajectory)
                fail(f"cannot read {names} as a trajectory of {topology} "
                     f"({universe.atoms.n_atoms} atoms): {first_line(exc)}", 1)
    return universe


def interactions_command(
    topology: Path = typer.Argument(..., help="Topology or single structure (PDB, GRO, PSF, TPR, ...)."),
    trajectory: list[Path] = typer.Argument(None, help="Trajectory file(s) (XTC, TRR, DCD, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output table: .parquet or .csv."),
    sel_a: str = typer.Option("protein", "--sel-a", help="MDAnalysis selection of side a."),
    sel_b: str = typer.Option("protein", "--sel-b", help="MDAnalysis selection of side b."),
    types: str = typer.Option(None, "--types", show_default=False,
                              help="Comma-separated interaction types (default: all, listed below)."),
    criteria: str = typer.Option("mpflow", "--criteria",
                                 help="Criteria profile: mpflow (default) or prolif (ProLIF 2.2's "
                                      "definitions; needs explicit hydrogens)."),
    frames: str = typer.Option("all", "--frames",
                               help="Frames to read, as the analysis selects them: all (every frame), "
                                    "N (one frame; -1 the last), START:STOP[:STEP] (a Python slice), "
                                    "last:N[:STEP] or windows:SIZE:EVERY."),
    param: list[str] = typer.Option([], "--param", help="Override: TYPE.NAME=VALUE (repeatable)."),
    intra: bool = typer.Option(False, "--intra", help="Also report intra-chain pairs (offset 0)."),
    n_jobs_text: str = typer.Option("1", "--n-jobs", help="Worker processes (-1: one per CPU)."),
) -> None:
    # the engine imports MDAnalysis (~1.3 s): loaded when the command runs, not at CLI start

    # 1. options, all before touching any file
    try:
        crit = parse_criteria(criteria, CRITERIA)
        type_names = parse_types(types, INTERACTION_TYPES)
        frame_spec = parse_frames(frames)
        params = parse_params(param)
        try:
            make_interactions(type_names, params, crit)
        except ValueError as exc:
            raise ValueError(f"--param {exc}" if params else str(exc)) from None
        n_jobs = parse_n_jobs(n_jobs_text)
        try:
            check_writable(out)
        except ValueError as exc:
            raise ValueError(f"--out {exc}") from None
    except ValueError as exc:
        fail(str(exc), 2)
    for path in [topology, *(trajectory or [])]:
        if not path.is_file():
            fail(f"file not found: {path}", 1)

    # 2. inputs
    universe = _read_universe(topology, list(trajectory or []))
    selected = frame_spec.frames(len(universe.trajectory))
    workers, note = plan_workers(n_jobs, max(1, len(selected)))
    if note:
        typer.echo(f"warning: --n-jobs {n_jobs} {note}", err=True)

    # 3. the run
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table = compute_interactions(universe, sel_a, sel_b, type_names, params,
                                         criteria=crit, frames=selected, n_jobs=workers,
                                         intra=intra)
    except SelectionProblem as exc:
        fail(f"--{exc.option.replace('_', '-')} {exc.selection!r}: {exc.reason}", 2)
    except NothingToCompute as exc:
        if exc.option == "frames":
            fail(f"--frames {frames}: {exc.reason}", 1)
        fail(str(exc).replace("intra=True", "--intra"), 1)
    except BrokenMolecules as exc:
        fail(str(exc), 1)
    except ValueError as exc:
        fail(first_line(exc), 1)
    except Exception as exc:  # noqa: BLE001 - anything else still ends in one line
        fail(f"{type(exc).__name__}: {first_line(exc)}", 1)

    # 4. the table
    try:
        write_table(table, out)
    except (OSError, ValueError) as exc:
        fail(f"cannot write {out}: {_os_reason(exc)} (nothing written; any previous file is "
             "unchanged)", 1)
    meta = table_metadata(table)
    n_frames = len(selected)
    for w in caught:
        if issubclass(w.category, MoleculesMadeWhole):
            typer.echo(f"note: {w.message}", err=True)
        elif issubclass(w.category, OutsideProlifCoverage):
            typer.echo(f"warning: {w.message}", err=True)
    if len(table) == 0:
        typer.echo(f"wrote 0 interactions to {out}: no {' or '.join(type_names)} within the "
                   f"cut-offs between {sel_a!r} and {sel_b!r} in {n_frames} frame(s) "
                   f"(criteria {crit}, chains {', '.join(meta['chains'])})")
        return
    typer.echo(f"wrote {len(table)} interactions (criteria {crit}) from {n_frames} frame(s), "
               f"{table['frame'].nunique()} with interactions, to {out}")


interactions_command.command_settings = COMMAND  # how ``mpflow.cli`` registers it (``load_command``)
