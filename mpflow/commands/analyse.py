"""``mpflow analyse``: run the analysis flow over a manifest file (models × stages → report).

This module owns only the command line around :func:`mpflow.flows.analysis.analysis_flow`:
options, their validation with one-line errors (exit 2 for bad options, 1 for unreadable inputs)
and the closing summary line.  The flow runs in the configured Prefect API (ephemeral if none).
"""

from __future__ import annotations

from pathlib import Path

import typer

from mpflow.commands.common import fail, first_line

COMMAND = dict(help="Interaction analysis of the models and stages listed in a manifest (.csv or .json "
                    "with columns model_id, mutant, group, name, stage, topology, trajectory): "
                    "per-frame tables, statistics, report.html and analysis.ipynb in --out.")


def parse_frames_options(items: list[str]) -> dict[str, str]:
    """``STAGE=SPEC`` items → {stage: spec}, every spec checked."""
    from mpflow.analysis.frames import parse_frame_specs

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--frames {item!r}: expected STAGE=SPEC, e.g. prmd=last:50")
        stage, spec = item.split("=", 1)
        out[stage.strip()] = spec.strip()
    parse_frame_specs(out)
    return out


def analyse_command(
    manifest: Path = typer.Argument(..., help="Manifest file (.csv or .json)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder (tables, csv, report, notebook)."),
    frames: list[str] = typer.Option([], "--frames", help="STAGE=SPEC frame selection (repeatable): "
                                     "all, last:N[:STEP], START:STOP[:STEP], windows:SIZE:EVERY."),
    chunk_frames: int = typer.Option(100, "--chunk-frames", min=1, help="Frames per chunk task."),
    executor: str = typer.Option("dask-local", "--executor", help="dask-local or threads."),
    workers: int = typer.Option(2, "--workers", min=1, help="Dask workers (dask-local)."),
    criteria: str = typer.Option("mpflow", "--criteria", help="Interaction criteria: mpflow or prolif."),
    geometry: bool = typer.Option(True, "--geometry/--no-geometry", help="Also compute helix geometry."),
    title: str = typer.Option("mpflow interaction analysis", "--title", help="Report title."),
) -> None:
    from mpflow.analysis.frames import read_manifest

    try:
        frame_specs = parse_frames_options(frames)
        if executor not in ("dask-local", "threads"):
            raise ValueError(f"--executor {executor!r}: expected dask-local or threads "
                             "(dask-slurm: run the flow with a cluster block)")
        if criteria not in ("mpflow", "prolif"):
            raise ValueError(f"--criteria {criteria!r}: expected mpflow or prolif")
    except ValueError as exc:
        fail(str(exc), 2)
    try:
        sources = read_manifest(manifest)
    except ValueError as exc:
        fail(str(exc), 1)
    from mpflow.flows.analysis import analysis_flow

    try:
        summary = analysis_flow(sources, str(out), frames=frame_specs, chunk_frames=chunk_frames,
                                executor=executor, n_workers=workers, criteria=criteria,
                                geometry=geometry, title=title)
    except Exception as exc:  # noqa: BLE001 - the flow's failure becomes one line
        fail(f"analysis failed: {first_line(exc)}", 1)
    typer.echo(f"analysed {summary['frames']} frame(s) of {summary['models']} model(s) "
               f"({summary['new_frames']} new), {summary['kept_keys']} of {summary['superbase_keys']} keys "
               f"kept, {summary['signatures']} signature(s); report: {summary['report']}")
