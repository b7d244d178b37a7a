"""``mpflow interactions``: one topology (+ trajectory) → one interaction table (Parquet or CSV).

This module owns only the command line around :func:`mpflow.analysis.interactions.compute_interactions`:
argument parsing, validation with one-line errors (exit code 1 for unreadable inputs, 2 for bad
options), and writing the table.  The science lives in ``mpflow.analysis``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import typer

from mpflow.commands.common import fail
from mpflow.analysis.interaction_types import INTERACTION_TYPES

_TYPES_HELP = "\n\n".join(cls.describe() for cls in INTERACTION_TYPES.values())


def parse_frames(text: str) -> tuple[int | None, int | None, int | None]:
    """``START:STOP:STEP`` (parts optional, Python slice meaning) → (start, stop, step)."""
    parts = text.split(":")
    if not 1 <= len(parts) <= 3:
        raise ValueError(f"--frames {text!r}: expected START:STOP:STEP")
    try:
        vals = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise ValueError(f"--frames {text!r}: START, STOP and STEP must be integers") from None
    if len(vals) == 1:  # one frame
        return vals[0], (vals[0] + 1 if vals[0] is not None and vals[0] != -1 else None), None
    vals += [None] * (3 - len(vals))
    if vals[2] is not None and vals[2] <= 0:
        raise ValueError(f"--frames {text!r}: STEP must be positive")
    return vals[0], vals[1], vals[2]


def parse_types(text: str) -> list[str]:
    """Comma-separated type names checked against the registry."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [t for t in names if t not in INTERACTION_TYPES]
    if unknown or not names:
        raise ValueError(f"--types: unknown type(s) {', '.join(unknown) or '(none given)'}; "
                         f"valid: {', '.join(INTERACTION_TYPES)}")
    return names


def parse_params(items: list[str]) -> dict[str, dict[str, float]]:
    """``TYPE.NAME=VALUE`` overrides → {type: {name: value}} (names checked later)."""
    out: dict[str, dict[str, float]] = {}
    for item in items:
        try:
            key, value = item.split("=", 1)
            typ, name = key.split(".", 1)
            out.setdefault(typ.strip(), {})[name.strip()] = float(value)
        except ValueError:
            raise ValueError(f"--param {item!r}: expected TYPE.NAME=VALUE, e.g. "
                             "hbond.distance_max_A=3.2") from None
    return out


#: how ``mpflow.cli`` registers :func:`interactions_command`
COMMAND = dict(
    help="Interchain interaction table of a topology/trajectory (any format MDAnalysis reads), "
         "one row per interaction and frame, written as Parquet or CSV.",
    epilog="Interaction types and their default parameters (override with --param "
           "TYPE.NAME=VALUE):\n\n" + _TYPES_HELP,
)


def interactions_command(
    topology: Path = typer.Argument(..., help="Topology or single structure (PDB, GRO, PSF, TPR, ...)."),
    trajectory: list[Path] = typer.Argument(None, help="Trajectory file(s) (XTC, TRR, DCD, ...)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output table: .parquet or .csv."),
    sel_a: str = typer.Option("protein", "--sel-a", help="MDAnalysis selection of side a."),
    sel_b: str = typer.Option("protein", "--sel-b", help="MDAnalysis selection of side b."),
    types: str = typer.Option(",".join(INTERACTION_TYPES), "--types",
                              help="Comma-separated interaction types (default: all)."),
    frames: str = typer.Option("::", "--frames", help="START:STOP:STEP (Python slice)."),
    param: list[str] = typer.Option([], "--param", help="Override: TYPE.NAME=VALUE (repeatable)."),
    intra: bool = typer.Option(False, "--intra", help="Also report intra-chain pairs (offset 0)."),
    n_jobs: int = typer.Option(1, "--n-jobs", help="Worker processes (-1: one per CPU)."),
) -> None:
    from mpflow.analysis.interaction_types import make_interactions
    from mpflow.analysis.interactions import compute_interactions, write_table

    try:
        type_names = parse_types(types)
        start, stop, step = parse_frames(frames)
        params = parse_params(param)
        make_interactions(type_names, params)
        if out.suffix.lower() not in (".parquet", ".pq", ".csv"):
            raise ValueError(f"--out {out}: suffix must be .parquet or .csv")
    except ValueError as exc:
        fail(str(exc), 2)
    for path in [topology, *(trajectory or [])]:
        if not path.is_file():
            fail(f"file not found: {path}", 1)
    try:
        import MDAnalysis as mda

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            files = [str(p) for p in (trajectory or [])]
            universe = mda.Universe(str(topology), *files)
    except Exception as exc:  # noqa: BLE001 - any reader error becomes one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"cannot read {topology}{' + ' + ', '.join(files) if files else ''}: {reason}", 1)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Reader has no dt information")
            table = compute_interactions(universe, sel_a, sel_b, type_names, params, start=start,
                                         stop=stop, step=step, n_jobs=n_jobs)
    except ValueError as exc:
        fail(str(exc).splitlines()[0], 2)
    except Exception as exc:  # noqa: BLE001 - e.g. a selection syntax error from MDAnalysis
        fail(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}", 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_table(table, out)
    n_frames = table["frame"].nunique()
    typer.echo(f"wrote {len(table)} interactions from {n_frames} frame(s) with interactions to {out}")
