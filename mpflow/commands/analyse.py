"""``mpflow analyse``: the interaction analysis of a project's finished stages, or of a manifest file.

This module owns the command line around the analysis: options and their one-line errors (exit 2
for bad options, 1 for what cannot be read or done), which models and stages are read (a manifest
file, else :func:`mpflow.models.sources.project_manifest`), and where the work runs:

- the project's Prefect server runs (``mpflow server start``; ``use_project_server`` sets
  ``PREFECT_API_URL``): the ``analysis`` flow, so the run shows in the UI;
- no server: the same steps as plain functions (:func:`mpflow.analysis.run.run_analysis`) without
  Prefect — no ephemeral server, no Prefect log lines — with a progress line per chunk;
- a project whose master cluster is remote (reached over SSH): the analysis runs as one Slurm job on
  the master, where the trajectories are, and its tables, report and notebook come back to ``--out``
  (:func:`mpflow.models.analysis_job.run_on_master`; ``--executor``/``--workers`` apply there), a
  progress line per poll of the job; Ctrl-C cancels the job (exit 130).

The last line printed is the report's path.  :func:`analyse_project` is the project's analysis
without Prefect as a function (``mpflow demo`` ends with it).
"""

from __future__ import annotations

import typing
import warnings
from pathlib import Path

import typer
from pydantic import ValidationError

from mpflow.analysis.frames import parse_frame_specs, read_manifest
from mpflow.analysis.run import AnalysisSettings, run_analysis, settings_error
from mpflow.commands.common import (
    PROJECT_OPTION_HELP,
    fail,
    open_project,
    use_project_server,
)
from mpflow.deployments.processes import is_healthy
from mpflow.errors import first_line
from mpflow.models.analysis_job import (
    AnalysisInterrupted,
    AnalysisJobError,
    is_remote,
    run_on_master,
)
from mpflow.models.sources import (
    ANALYSIS_DIR,
    NothingToAnalyse,
    filter_sources,
    project_sources,
    wanted_stages,
)
from mpflow.project.file import Project, ProjectError

COMMAND = dict(help="Interaction analysis of a project's docked models and finished MD stages (or of the "
                    "models and stages listed in a manifest .csv/.json with columns model_id, mutant, "
                    "group, name, stage, topology, trajectory): per-frame tables, statistics, report.html "
                    "and analysis.ipynb in --out (default <project>/analysis).")


def parse_frames_options(items: list[str]) -> dict[str, str]:
    """``STAGE=SPEC`` items → {stage: spec}, every spec checked (the analysis' frame selections)."""

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"--frames {item!r}: expected STAGE=SPEC, e.g. prmd=last:50")
        stage, spec = item.split("=", 1)
        out[stage.strip()] = spec.strip()
    parse_frame_specs(out)
    return out


def analyse_command(
    manifest: Path = typer.Argument(None, help="Manifest file (.csv or .json); default: the project's "
                                    "docked models (status ok) and its done EMMD/PRMD/URMD stages."),
    project_dir: Path = typer.Option(None, "--project", help=PROJECT_OPTION_HELP),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (tables, csv, report, notebook; "
                             "default: <project>/analysis)."),
    stage: list[str] = typer.Option([], "--stage", help="Only this stage (repeatable): docked, emmd, prmd, "
                                    "urmd (or the project's name of a GROMACS stage)."),
    mutant: list[str] = typer.Option([], "--mutant", help="Only this mutant (repeatable)."),
    frames: list[str] = typer.Option([], "--frames", help="STAGE=SPEC frame selection (repeatable): "
                                     "all, N, START:STOP[:STEP], last:N[:STEP], windows:SIZE:EVERY."),
    chunk_frames: int = typer.Option(None, "--chunk-frames", min=1, show_default=False,
                                     help="Frames per chunk (default: the analysis settings')."),
    executor: str = typer.Option("dask-local", "--executor", help="dask-local (a local Dask cluster when "
                                 "there are several chunks) or threads (one after another)."),
    workers: int = typer.Option(2, "--workers", min=1, help="Dask workers (dask-local)."),
    criteria: str = typer.Option(None, "--criteria", show_default=False,
                                 help="Interaction criteria: mpflow (default) or prolif."),
    test: str = typer.Option(None, "--test", show_default=False,
                             help="permutation (default; over models, needs 4 models per group for "
                                  "p <= 0.05) or welch."),
    geometry: bool = typer.Option(None, "--geometry/--no-geometry", show_default=False,
                                  help="Also compute helix geometry (default: yes)."),
    title: str = typer.Option(None, "--title", show_default=False,
                              help="Report title (default: the analysis settings')."),
) -> None:
    # the analysis imports the science (MDAnalysis, scipy, ...): loaded when the command runs


    try:
        frame_specs = parse_frames_options(frames)
        if executor not in ("dask-local", "threads"):
            raise ValueError(f"--executor {executor!r}: expected dask-local or threads "
                             "(dask-slurm: run the flow with a cluster block)")
        for option, value, field in (("--criteria", criteria, "criteria"), ("--test", test, "test")):
            valid = typing.get_args(AnalysisSettings.model_fields[field].annotation)
            if value is not None and value not in valid:
                raise ValueError(f"{option} {value!r}: expected {' or '.join(valid)}")
        given = dict(frames=frame_specs, chunk_frames=chunk_frames, criteria=criteria, test=test,
                     geometry=geometry, title=title)
        try:  # options not given keep the settings' defaults
            settings = AnalysisSettings(**{k: v for k, v in given.items() if v is not None})
        except ValidationError as exc:
            raise ValueError(settings_error(exc)) from None
    except ValueError as exc:
        fail(str(exc), 2)
    remote = None
    if manifest is not None:
        root, sources, out = _from_manifest(manifest, project_dir, out, stage, mutant)
    else:
        root, sources, out, remote = _from_project(project_dir, out, stage, mutant)
    api_url = use_project_server(root)
    if api_url:
        summary = _run_flow(api_url, manifest, root, out, stage, mutant, settings, executor, workers)
    elif remote is not None:
        summary = _run_remote(*remote, out, stage, mutant, settings, executor, workers)
    else:
        summary = _run_plain(sources, out, settings, executor, workers)
    for line in closing_lines(summary, settings.test):
        typer.echo(line)
    typer.echo(f"report: {summary['report']}")


def _from_manifest(manifest: Path, project_dir, out, stages, mutants):

    try:
        sources = read_manifest(manifest)
    except ValueError as exc:
        fail(str(exc), 1)
    try:
        sources = filter_sources(sources, stages=stages, mutants=mutants)
    except ValueError as exc:
        fail(str(exc), 2)
    if not sources:
        fail(f"nothing to analyse: no row of {manifest} is of the stages and mutants asked", 1)
    root = None
    try:
        root = Project.locate(project_dir).root
    except ProjectError as exc:
        if project_dir is not None:
            fail(first_line(exc), 2)
        if out is None:
            fail(f"-o/--out: give an output folder (no project here: {first_line(exc)})", 2)
    return root, sources, out or root / ANALYSIS_DIR


def _from_project(project_dir, out, stages, mutants):
    """The project's sources and output folder; for a remote master no sources (they are read there)
    but (project, Session)."""
    project, Session = open_project(project_dir)
    try:
        wanted_stages(project, stages)
    except ValueError as exc:
        fail(f"--stage: {exc}", 2)
    unknown = [m for m in mutants if m not in project.config.mutants]
    if unknown:
        fail(f"--mutant: no mutant {unknown[0]!r} in the project (mutants: "
             f"{', '.join(project.config.mutants) or 'none yet'})", 2)
    out = out or project.root / ANALYSIS_DIR
    try:
        if is_remote(project.cluster_settings()[0]):
            return project.root, None, out, (project, Session)
        sources, notes = project_sources(project, Session, stages=stages, mutants=mutants or None)
    except NothingToAnalyse as exc:
        fail(str(exc), 1)
    except ProjectError as exc:  # the clusters' settings (no server for blocks, a remote master)
        fail(first_line(exc), 2)
    except ValueError as exc:  # a missing file
        fail(first_line(exc), 1)
    for note in notes:
        typer.echo(note)
    return project.root, sources, out, None


def closing_lines(summary: dict, test: str) -> list[str]:
    """What a run found, in one line, and a note when no comparison can be significant."""
    lines = [f"analysed {summary['frames']} frame(s) of {summary['models']} model(s) ({summary['new_frames']} "
             f"new): {summary['kept_keys']} of {summary['superbase_keys']} keys kept, "
             f"{summary['signatures']} signature(s)"]
    if summary.get("untestable_comparisons") and not summary.get("testable_comparisons"):
        need = summary.get("min_models_per_group", {}).get("mutant")
        lines.append("note: too few models for any comparison to be significant"
                     + (f" (the {test} test needs at least {need} models per group)" if need else "")
                     + "; the report says what the numbers can and cannot show")
    return lines


def analyse_project(project, Session, *, echo=print, out_dir: Path | None = None, settings=None,
                    executor: str = "dask-local", n_workers: int = 2) -> Path:
    """The analysis of a project's docked models and done stages without Prefect (``mpflow demo``
    ends with it), with progress lines through ``echo``; returns the report's path.

    A project whose master is remote analyses as a job on the master
    (:func:`mpflow.models.analysis_job.run_on_master`), its results brought back to ``out_dir``.

    Raises :class:`mpflow.models.sources.NothingToAnalyse`, ``ValueError``, ``ProjectError`` or
    :class:`mpflow.models.analysis_job.AnalysisJobError` (one line) when it cannot run.
    """

    settings = settings or AnalysisSettings()
    if is_remote(project.cluster_settings()[0]):  # a job on the master, where the files are
        summary = run_on_master(project, Session, out_dir=out_dir, settings=settings, executor=executor,
                                n_workers=n_workers, echo=echo)
    else:
        sources, notes = project_sources(project, Session)
        for note in notes:
            echo(note)
        summary = _run_quietly(sources, out_dir or project.root / ANALYSIS_DIR, settings, executor, n_workers, echo)
    for line in closing_lines(summary, settings.test):
        echo(line)
    return Path(summary["report"])


def _run_quietly(sources, out: Path, settings, executor: str, workers: int, echo) -> dict:


    with warnings.catch_warnings():  # library warnings (MDAnalysis readers, ...) are not the user's business
        warnings.simplefilter("ignore")
        return run_analysis(sources, out, settings, executor=executor, n_workers=workers, progress=echo)


def _run_plain(sources, out: Path, settings, executor: str, workers: int) -> dict:
    try:
        return _run_quietly(sources, out, settings, executor, workers, typer.echo)
    except (ValueError, OSError, EOFError, RuntimeError) as exc:  # bad input files, a failing engine
        fail(f"analysis failed: {first_line(exc)}", 1)


def _run_remote(project, Session, out: Path, stages, mutants, settings, executor: str, workers: int) -> dict:
    try:
        return run_on_master(project, Session, out_dir=out, stages=stages or None, mutants=mutants or None,
                             settings=settings, executor=executor, n_workers=workers, echo=typer.echo)
    except AnalysisInterrupted as exc:
        typer.echo(str(exc))
        raise typer.Exit(130) from None
    except NothingToAnalyse as exc:
        fail(str(exc), 1)
    except (AnalysisJobError, ValueError) as exc:  # the job failed, the master's mpflow, a bad file
        fail(first_line(exc), 1)
    except ProjectError as exc:
        fail(first_line(exc), 2)


def _run_flow(api_url: str, manifest, root, out: Path, stages, mutants, settings, executor: str,
              workers: int) -> dict:
    if not is_healthy(api_url):
        fail(f"the Prefect server at {api_url} does not answer: start it with mpflow server start", 2)

    typer.echo(f"running the analysis flow on the Prefect server at {api_url}")
    # Prefect (imported by the flow) costs ~2 s and is not needed when no server is set: import it here
    from mpflow.flows.analysis import analysis_flow
    try:
        return analysis_flow(manifest=str(manifest) if manifest is not None else None, out_dir=str(out),
                             project=str(root) if root is not None else None, stages=stages or None,
                             mutants=mutants or None, settings=settings, executor=executor,
                             n_workers=workers)
    except Exception as exc:  # noqa: BLE001 - the flow run failed and is in the UI; one line here
        fail(f"analysis failed: {first_line(exc)}", 1)


analyse_command.command_settings = COMMAND  # how ``mpflow.cli`` registers it (``load_command``)
