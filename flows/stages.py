"""The modelling-stage flows: ``prepare``, ``emmd``, ``prmd``, ``urmd`` and the whole ``pipeline``.

Each flow runs the project's pipeline (``mpflow.manager.pipeline.run_pipeline``) until its stage is done
for the selected mutants: manager ticks (per cluster one observe, submit and cancel task; preparation
is a Slurm job like every stage, and nothing past ``until`` is submitted), and, only for a protocol
stage the project runs on this machine (``run = "local"``), preparation batches here (one task per
batch, protocol steps through prefect-shell with GROMACS's output in the run's logs), so every model
moves on as soon as its previous stage is done. The run keeps one progress artifact (model-stages done of all), updated after every tick,
and a table of model-stages per mutant, stage and state (``mpflow.flows.artifacts``); a preparation
held is a ``mpflow.stage.held`` event, as the manager's transitions are. The scheduled manager deployment may tick at the same time: the database lease lets one act
and the other step aside.
"""

from __future__ import annotations

from mpflow.blocks.cluster import open_project
from mpflow.flows.artifacts import ProgressArtifacts
from mpflow.flows.events import emit_transition_events
from mpflow.flows.manager import publish_progress, tick_with_tasks
from mpflow.tasks.protocols import run_protocol_batch
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from mpflow.manager.pipeline import (
    preparation_workdirs,
    record_preparation,
    run_pipeline,
)
from mpflow.project.file import ProjectError
from mpflow.store.database import open_database


def _run_name() -> str:
    params = flow_run.parameters or {}
    mutants = params.get("mutants") or ["all mutants"]
    until = params.get("until") or flow_run.flow_name
    return f"{', '.join(mutants)} → {until}"


def _pipeline(project: str | None, mutants: list[str] | None, until: str | None, nsteps: int | None,
              timeout_min: float | None, interval_s: float | None) -> dict:
    logger = get_run_logger()
    proj = open_project(project)
    if until is not None and until not in proj.config.stages:
        raise ProjectError(f"no stage {until!r} (stages: {', '.join(proj.config.stage_order())})")
    if nsteps is not None:
        if until is None or proj.config.stages[until].kind != "gromacs":
            raise ProjectError("nsteps applies to a GROMACS stage: give until = emmd, prmd or urmd")
        stage = until
        proj.update_file(lambda doc: doc["stages"][stage].__setitem__("nsteps", nsteps))
        logger.info("stages.%s.nsteps = %d in %s (models not yet prepared for it use it)", until, nsteps, proj.file)
    Session = open_database(proj.database_url)
    clusters = proj.cluster_settings()

    def prepare(items):
        workdirs = preparation_workdirs(proj, clusters[0], items)
        spec = proj.config.stages[items[0].stage]
        results = run_protocol_batch(spec.protocol, [str(w) for _, w in workdirs], params=spec.params,
                                     search_dirs=[str(proj.root / "templates")])
        held = {st.id: r.held_reason for (st, _), r in zip(workdirs, results)}
        emit_transition_events(record_preparation(Session, items, held), proj.config.project.name, Session)

    artifacts = ProgressArtifacts(proj)

    def tick(scope):
        report = tick_with_tasks(proj, Session, clusters, scope)
        publish_progress(proj, Session, artifacts, mutants)  # one progress artifact per run, updated
        return report

    result = run_pipeline(proj, Session, tick=tick, prepare=prepare, mutants=mutants, until=until,
                          interval_s=interval_s,
                          timeout_s=timeout_min * 60 if timeout_min else None, echo=logger.info)
    counts = {m: {st: dict(c) for st, c in per.items()} for m, per in result.progress.counts.items()}
    if result.timed_out:
        raise TimeoutError(f"not finished after {timeout_min} min: {result.progress.line()}")
    return {"rounds": result.rounds, "seconds": round(result.seconds, 1), "counts": counts}


@flow(name="pipeline", flow_run_name=_run_name, log_prints=False)
def pipeline_flow(project: str | None = None, mutants: list[str] | None = None, until: str | None = None,
                  timeout_min: float | None = None, interval_s: float | None = None) -> dict:
    """Prepare the models on the master and run them through the MD stages on every cluster.

    Args:
        project: Project folder holding mpflow.toml (default: $MPFLOW_PROJECT, else the worker's
            current directory).
        mutants: Only these mutants (default: every mutant of the project).
        until: Stop once every model is through this stage (prep, emmd, prmd or urmd; default: the last).
        timeout_min: Give up (the run fails) after this many minutes; empty: no limit.
        interval_s: Seconds between manager ticks (default: the project's manager interval).
    """
    return _pipeline(project, mutants, until, None, timeout_min, interval_s)


def _stage_flow(stage: str, doc: str):
    def stage_flow(project: str | None = None, mutants: list[str] | None = None, nsteps: int | None = None,
                   timeout_min: float | None = None) -> dict:
        return _pipeline(project, mutants, stage, nsteps, timeout_min, None)

    stage_flow.__doc__ = doc  # before decorating: the UI form's parameter descriptions come from its Args
    stage_flow.__name__ = stage_flow.__qualname__ = f"{stage}_flow"
    return flow(name=stage, flow_run_name=_run_name, log_prints=False)(stage_flow)


_ARGS = """
    Args:
        project: Project folder holding mpflow.toml (default: $MPFLOW_PROJECT, else the worker's
            current directory).
        mutants: Only these mutants (default: every mutant of the project).
        nsteps: Number of MD steps of this stage (written to the project file; models already
            prepared for it keep theirs); empty: the project's.
        timeout_min: Give up (the run fails) after this many minutes; empty: no limit.
"""

emmd_flow = _stage_flow("emmd", "Energy minimisation (steepest descent) of the prepared models, on both "
                                "clusters.\n" + _ARGS)
prmd_flow = _stage_flow("prmd", "Position-restrained NPT (backbone N, C, O) after EMMD, on every cluster.\n" + _ARGS)
urmd_flow = _stage_flow("urmd", "Unrestrained production MD after PRMD, on every cluster.\n" + _ARGS)


@flow(name="prepare", flow_run_name=_run_name, log_prints=False)
def prepare_flow(project: str | None = None, mutants: list[str] | None = None,
                 timeout_min: float | None = None) -> dict:
    """Prepare models on the master: topology, embedding in a POPC bilayer, water and ions, relaxation.

    Args:
        project: Project folder holding mpflow.toml (default: $MPFLOW_PROJECT, else the worker's
            current directory).
        mutants: Only these mutants (default: every mutant of the project).
        timeout_min: Give up (the run fails) after this many minutes; empty: no limit.
    """
    return _pipeline(project, mutants, "prep", None, timeout_min, None)
