"""The analysis flow: a project's finished stages (or a manifest) → per-frame tables → statistics → report.

This module owns the Prefect side of the analysis; the steps are the plain functions of
:mod:`mpflow.analysis.run` (which ``mpflow analyse`` calls directly when no Prefect server runs):

1. what to read (:func:`mpflow.models.sources.analysis_inputs`: the manifest given, else the
   project's docked models and done stages) and the plan (:func:`mpflow.analysis.run.plan_analysis`:
   each source's frames, what the store already holds, the chunks);
2. one ``analyse-chunk`` task per chunk in the subflow ``analysis-chunks``, whose task runner
   is chosen per run (``executor``): ``dask-local`` (a local Dask cluster, prefect-dask's
   default, ``n_workers`` processes), ``dask-slurm`` (Dask workers as Slurm jobs of a local cluster
   block, dask-jobqueue) or ``threads`` (Prefect's thread pool, for tiny runs);
3. one ``summarise-analysis`` task: decomposition, PCA filter, statistics, exports, HTML report and
   notebook;
4. artifacts on the flow run: the summary table, the signature list and a link to the report.

A project whose master cluster is remote (over SSH) analyses where its trajectories are: steps 1-3
are one ``analyse-on-master`` task (:func:`mpflow.models.analysis_job.run_on_master`: a Slurm job on
the master, its tables, report and notebook brought back to ``out_dir``), then the same artifacts.

What to compute is one parameter, ``settings`` (:class:`mpflow.analysis.run.AnalysisSettings`):
the UI renders it as a nested form with every field described, Prefect checks a run's values
against it before the run starts, and its defaults are the science modules' own.

``slurm_cluster`` takes a saved cluster block's name (deployments) or a
:class:`mpflow.clusters.settings.ClusterSettings` (tests, the CLI).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import pandas as pd
from mpflow.analysis.frame_pass import PassOptions
from mpflow.analysis.frames import FrameSource
from mpflow.analysis.run import AnalysisSettings, outcome, plan_analysis
from mpflow.blocks.cluster import SlurmCluster, open_project
from mpflow.tasks.analysis import (
    analyse_chunk_task,
    analyse_on_master_task,
    summarise_task,
)
from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from mpflow.clusters.settings import ClusterSettings
from mpflow.models.analysis_job import is_remote
from mpflow.models.sources import analysis_inputs

Executor = Literal["dask-local", "dask-slurm", "threads"]
#: what a run's outcome adds to the summary (counts of this run, paths): not in the summary artifact
_OUTCOME_KEYS = ("new_frames", "chunks", "out_dir", "report", "notebook", "master_out_dir")


def task_runner_for(executor: str, *, n_workers: int = 2, slurm_cluster=None, log_dir: str | Path = "."):
    """The task runner of the chunk subflow (see the module docstring)."""
    if executor == "threads":
        return ThreadPoolTaskRunner(max_workers=1)
    # heavy and optional: Dask (prefect-dask, dask-jobqueue) only for the runs that ask for it
    from prefect_dask import DaskTaskRunner

    if executor == "dask-local":
        return DaskTaskRunner(cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    if executor == "dask-slurm":
        # heavy and optional: dask-jobqueue (and mpflow's settings for it) only for Dask on Slurm
        from dask_jobqueue import SLURMCluster

        # heavy: mpflow's dask-jobqueue settings import dask-jobqueue
        from mpflow.slurm.dask_workers import slurm_cluster_kwargs

        if slurm_cluster is None:
            raise ValueError("executor dask-slurm needs slurm_cluster (a cluster block name or settings)")
        settings = slurm_cluster.settings() if hasattr(slurm_cluster, "settings") else slurm_cluster
        kwargs = slurm_cluster_kwargs(settings, log_dir=log_dir)
        kwargs["n_workers"] = n_workers
        return DaskTaskRunner(cluster_class=SLURMCluster, cluster_kwargs=kwargs)
    raise ValueError(f"executor {executor!r}: expected dask-local, dask-slurm or threads")


@flow(name="analysis-chunks")
def chunks_flow(chunks: list, store_root: str, options: PassOptions) -> list:
    """Run one analyse-chunk task per chunk on this flow's task runner; wait for all."""
    futures = [analyse_chunk_task.submit(c, store_root, options, index=i) for i, c in enumerate(chunks)]
    return [f.result() for f in futures]


def _run_name() -> str:
    params = flow_run.parameters or {}
    manifest = params.get("manifest")
    what = (Path(manifest).name if isinstance(manifest, str) and manifest else
            f"{len(manifest)} source(s)" if manifest else
            f"project {Path(params.get('project') or os.environ.get('MPFLOW_PROJECT') or Path.cwd()).name}")
    stages = ", ".join(params.get("stages") or []) or "all stages"
    mutants = ", ".join(params.get("mutants") or []) or "all mutants"
    return f"{what}: {mutants}, {stages}"


@flow(name="analysis", flow_run_name=_run_name, log_prints=False)
def analysis_flow(
    manifest: list[FrameSource] | str | None = None,
    out_dir: str | None = None,
    project: str | None = None,
    stages: list[str] | None = None,
    mutants: list[str] | None = None,
    store_dir: str | None = None,
    settings: AnalysisSettings = AnalysisSettings(),
    executor: Executor = "dask-local",
    n_workers: int = 2,
    slurm_cluster: str | ClusterSettings | None = None,
) -> dict:
    """Interchain-interaction analysis of a project's finished stages (or of a manifest).

    Args:
        manifest: The models and stages to analyse: FrameSource records (model_id, mutant, group,
            name, stage, topology, trajectory) or the path of a manifest file (.csv or .json);
            empty: the project's docked models (status ok) and finished EMMD/PRMD/URMD stages.
        out_dir: Folder for tables/, csv/, summary.json, report.html and analysis.ipynb (default:
            <project>/analysis).
        project: Project folder holding mpflow.toml (default: $MPFLOW_PROJECT, else the current
            directory).
        stages: Only these stages: docked, emmd, prmd, urmd (default: all).
        mutants: Only these mutants (default: all).
        store_dir: Folder of the per-frame tables (default <out_dir>/store); frames already there
            are not computed again. A remote master keeps its store on the master (this is not used).
        settings: What to compute and how: frame selections per stage, chunk size, interaction
            criteria, types and selections, the statistics' thresholds and tests, the PCA filter
            and the report title (each field says what it is; the defaults are the science
            modules' own).
        executor: Where the chunk tasks run: dask-local (local Dask cluster), dask-slurm (Dask
            workers as Slurm jobs of slurm_cluster) or threads (one thread, tiny runs). A remote
            master: dask-local or threads, inside its analysis job.
        n_workers: Dask workers (processes or Slurm jobs).
        slurm_cluster: Name of a saved mpflow Slurm cluster block, or cluster settings (executor
            dask-slurm; a local cluster).
    """
    log = get_run_logger()
    # a manifest with an out_dir needs no project; otherwise the project, its clusters from the blocks
    needs_project = not manifest or not out_dir
    proj = open_project(project) if needs_project else None
    if not manifest and is_remote(proj.cluster_settings()[0]):  # the analysis runs where the files are
        if executor == "dask-slurm":
            raise ValueError("executor dask-slurm: a remote master runs the analysis as one job there "
                             "(executor dask-local or threads)")
        summary = analyse_on_master_task(proj, out_dir, stages, mutants, settings, executor, n_workers)
        out = Path(summary["out_dir"])
        _artifacts(summary, _read_signatures(out), Path(summary["report"]) if summary.get("report") else None)
        log.info("report: %s", summary["report"])
        return summary
    sources, out = analysis_inputs(manifest, out_dir, proj, stages=stages, mutants=mutants)
    plan = plan_analysis(sources, out, settings, store_dir=store_dir)
    if plan.removed:
        log.warning("removed %d file(s) of parts a previous run did not finish", len(plan.removed))
    log.info("%s; output in %s", plan.describe(), out)
    if plan.chunks:
        block = None
        if executor == "dask-slurm":
            if slurm_cluster is None:
                raise ValueError("executor dask-slurm needs slurm_cluster (a cluster block name)")
            if isinstance(slurm_cluster, str):
                block = SlurmCluster.load(slurm_cluster)
            else:
                block = slurm_cluster
        runner = task_runner_for(executor, n_workers=n_workers, slurm_cluster=block,
                                 log_dir=str(Path(plan.store.root) / "dask-logs"))
        chunks_flow.with_options(task_runner=runner)(plan.chunks, str(plan.store.root), plan.pass_options)
    result = summarise_task(str(plan.store.root), str(out), plan.selected(), plan.stats, plan.filt,
                            settings.title)
    _artifacts(result.summary, result.signatures, result.report)
    summary = outcome(plan, result)
    log.info("report: %s", summary["report"])
    return summary


def _read_signatures(out: Path):
    """The signatures table a run exported (what the summary artifact lists), empty when there is none."""
    path = out / "tables" / "signatures.parquet"
    return pd.read_parquet(path) if path.is_file() else pd.DataFrame({"signature": []})


def _artifacts(s: dict, sig, report: Path | None) -> None:
    rows = [{"item": k, "value": (", ".join(map(str, v)) if isinstance(v, list) else
                                  ", ".join(f"{a}: {b}" for a, b in v.items()) if isinstance(v, dict) else str(v))}
            for k, v in s.items() if not k.endswith("_options") and k not in _OUTCOME_KEYS]
    create_table_artifact(rows, key="analysis-summary", description="Analysis summary")
    if len(sig):
        top = sig[sig["signature"]] if sig["signature"].any() else sig
        lines = [f"| {r.kind} | {r.mutant_1} {r.conformation_1} vs {r.mutant_2} {r.conformation_2} | "
                 f"`{r.key}` | {r.stages_passing} | {r.delta_max_abs:.3f} | {r.q_min:.3g} | {r.signature} |"
                 for r in top.head(200).itertuples()]
        md = ("| kind | comparison | key | stages | max abs delta | min q | signature |\n"
              "|---|---|---|---|---|---|---|\n" + "\n".join(lines))
    else:
        md = "No key is significant or discriminating at the chosen thresholds."
    create_markdown_artifact(md, key="analysis-signatures", description="Signatures")
    if report is not None:
        create_link_artifact(report.resolve().as_uri(), link_text="analysis report",
                             key="analysis-report", description="Self-contained HTML report")
