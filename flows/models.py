"""The ``models`` flow: import → check → geometry → classify → folders (→ register), for one mutant.

The same steps as ``mpflow import`` (``mpflow.models.importing``), as one task run per batch: the check and
the geometry over all files, the classification of the mutant, the folder tree on each cluster
(the clusters in parallel), the registration. Classification, folders and registration run under
the manager's lease, as in the command. A refused file fails the flow run with the same one-line
message the command prints, before anything is written.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mpflow.blocks.cluster import open_project
from mpflow.tasks.models import (
    check_models,
    classify_models,
    create_folders,
    measure_models,
    register_models,
)
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from mpflow.models.importing import (
    ModelsError,
    collect_files,
    fill_report,
    manager_lease,
)
from mpflow.models.report import ModelsReport
from mpflow.project.claim import claim_and_record
from mpflow.store.database import open_database


def models_run_name() -> str:
    """``<mutant>: <n> model file(s)`` from the run's parameters."""
    params = flow_run.parameters
    paths = params.get("paths") or []
    try:
        n = len(collect_files(paths))
    except (ModelsError, OSError):
        n = len(paths)
    return f"{params.get('mutant', '?')}: {n} model file{'s' if n != 1 else ''}"


def report_markdown(report: ModelsReport) -> str:
    summary = report.lines()[:1] or [f"{report.mutant}: nothing new"]
    lines = [f"**{summary[0]}**", "", "| group | models |", "|---|---|"]
    lines += [f"| {g} | {n} |" for g, n in report.group_counts().items()]
    if report.waiting:
        lines += ["", "Waiting for completion (`mpflow complete`):"]
        lines += [f"- {name}: {reason}" for name, reason in report.waiting.items()]
    return "\n".join(lines)


@flow(name="models", flow_run_name=models_run_name, log_prints=False)
def models_flow(mutant: str, paths: list[str], project: str | None = None, groups: int | None = None,
                each_model: bool = False) -> dict:
    """Import docked models of one mutant: check them, measure their geometry, classify the mutant's
    models into conformations, and create their folders on every cluster of the project.

    Args:
        mutant: Name of a mutant of the project (`mpflow mutant list`); its sequence and number of
            chains are what the models are checked against.
        paths: PDB or mmCIF files, or folders of them, readable where the flow runs. Each model is
            named after its file. If any file is refused, nothing is imported.
        project: Project folder holding mpflow.toml (default: $MPFLOW_PROJECT, else the worker's
            current directory).
        groups: Number of conformations to classify the models into (default: chosen by the
            silhouette criterion). Models that fit no group stay None.
        each_model: A file holding several models (MODEL records) gives one model per model, named
            <file>_m<k>; otherwise only its first model is imported (and the run says so).
    """
    logger = get_run_logger()
    proj = open_project(project)
    Session = open_database(proj.database_url)
    with tempfile.TemporaryDirectory(prefix="mpflow-import-") as staging:
        plan = check_models(proj, Session, mutant, list(paths), Path(staging), each_model=each_model)
        report = ModelsReport(plan.mutant.name, unchanged=plan.unchanged, notes=plan.notes)
        if not plan.updates:
            logger.info("%s: nothing new (%d model(s) unchanged)", plan.mutant.name, len(plan.unchanged))
            return report.as_dict()
        updates = measure_models(plan.updates, len(plan.updates))
        clusters = proj.cluster_settings()
        with manager_lease(Session):
            groups_plan = classify_models(Session, plan.mutant.name, updates, groups)
            claim_and_record(proj, Session, clusters)  # refused, nothing written, where another project's folder is
            futures = [create_folders.submit(c, groups_plan.change, i == 0) for i, c in enumerate(clusters)]
            for f in futures:
                f.wait()
            results = [f.result() for f in futures]
            register_models(Session, proj, groups_plan, updates)
    fill_report(report, updates, groups_plan, results)
    for line in report.lines():
        logger.info(line)
    create_markdown_artifact(key=f"models-{plan.mutant.name.lower().replace('_', '-').replace('.', '-')}",
                             markdown=report_markdown(report),
                             description=f"Models of {plan.mutant.name} by conformation")
    return report.as_dict()
