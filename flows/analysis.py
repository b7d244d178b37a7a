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

``slurm_cluster`` takes a saved cluster block's name (deployments) or a
:class:`mpflow.clusters.settings.ClusterSettings` (tests, the CLI).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from mpflow.analysis.frame_pass import PassOptions
from mpflow.analysis.frames import FrameSource
from mpflow.analysis.run import AnalysisSettings, outcome, plan_analysis
from mpflow.tasks.analysis import analyse_chunk_task, summarise_task
from prefect import flow, get_run_logger
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.runtime import flow_run

from mpflow.clusters.settings import ClusterSettings
from mpflow.models.sources import analysis_inputs

Executor = Literal["dask-local", "dask-slurm", "threads"]


def task_runner_for(executor: str, *, n_workers: int = 2, slurm_cluster=None, log_dir: str | Path = "."):
    """The task runner of the chunk subflow (see the module docstring)."""
    if executor == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner

    if executor == "dask-local":
        return DaskTaskRunner(cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    if executor == "dask-slurm":
        from dask_jobqueue import SLURMCluster

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
    frames: dict[str, str] | None = None,
    chunk_frames: int = 100,
    executor: Executor = "dask-local",
    n_workers: int = 2,
    slurm_cluster: str | ClusterSettings | None = None,
    criteria: Literal["mpflow", "prolif"] = "mpflow",
    types: list[str] | None = None,
    params: dict[str, dict[str, float]] | None = None,
    sel_a: str = "protein",
    sel_b: str = "protein",
    geometry: bool = True,
    drop_p: float = 0.05,
    delta_significant: float = 0.1,
    delta_discriminating: float = 0.1,
    delta_robust: float = 0.4,
    alpha: float = 0.05,
    test: Literal["permutation", "welch"] = "permutation",
    n_permutations: int = 9999,
    n_bootstrap: int = 2000,
    pca_variance: float = 0.9,
    pca_max_components: int = 20,
    loading_min: float = 0.1,
    seed: int = 0,
    title: str = "mpflow interaction analysis",
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
            are not computed again.
        frames: Frame selection per stage, e.g. {"prmd": "last:50", "urmd": "windows:10:100"};
            specs all, last:N[:STEP], START:STOP[:STEP], windows:SIZE:EVERY. Unlisted stages keep
            the defaults (emmd last:1, prmd last:50, urmd all).
        chunk_frames: Frames per chunk task (a task run costs ~0.2 s: keep chunks large).
        executor: Where the chunk tasks run: dask-local (local Dask cluster), dask-slurm (Dask
            workers as Slurm jobs of slurm_cluster) or threads (one thread, tiny runs).
        n_workers: Dask workers (processes or Slurm jobs).
        slurm_cluster: Name of a saved mpflow Slurm cluster block, or cluster settings (executor
            dask-slurm; a local cluster).
        criteria: Interaction criteria of the engine: mpflow (default) or prolif.
        types: Interaction types to compute (default: all registered types).
        params: Per-type threshold overrides, e.g. {"hbond": {"distance_max_A": 3.2}}.
        sel_a: MDAnalysis selection of side a (default: the protein; lipids, water and ions are
            left out).
        sel_b: MDAnalysis selection of side b.
        geometry: Also compute the helix geometry of every frame (same pass, same key).
        drop_p: A key whose occurrence probability is <= drop_p in every group is dropped as rare.
        delta_significant: Smallest |difference| of probability for a significant mutant comparison.
        delta_discriminating: Smallest |difference| for a discriminating conformation comparison.
        delta_robust: Largest spread of a key's probability over stages for it to be robust.
        alpha: False-discovery rate (Benjamini-Hochberg, per comparison family).
        test: permutation (exact or Monte Carlo over models; needs 4 models per group for
            p <= 0.05) or welch (t-tests on per-model values).
        n_permutations: Permutations (Monte Carlo) or the largest exact enumeration.
        n_bootstrap: Cluster-bootstrap resamples (models) for the confidence intervals.
        pca_variance: Fraction of variance the kept principal components explain.
        pca_max_components: At most this many principal components.
        loading_min: Keys whose |loading| is below this on every kept component are dropped.
        seed: Seed of every random draw (bootstrap, permutations, PCA sampling).
        title: Title of the report and the notebook.
    """
    log = get_run_logger()
    sources, out = analysis_inputs(manifest, out_dir, project, stages=stages, mutants=mutants)
    settings = AnalysisSettings(
        frames=frames, chunk_frames=chunk_frames, criteria=criteria,
        types=tuple(types) if types is not None else None, params=params, sel_a=sel_a, sel_b=sel_b,
        geometry=geometry, drop_p=drop_p, delta_significant=delta_significant,
        delta_discriminating=delta_discriminating, delta_robust=delta_robust, alpha=alpha, test=test,
        n_permutations=n_permutations, n_bootstrap=n_bootstrap, pca_variance=pca_variance,
        pca_max_components=pca_max_components, loading_min=loading_min, seed=seed, title=title)
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
                from mpflow.blocks.cluster import SlurmCluster

                block = SlurmCluster.load(slurm_cluster)
            else:
                block = slurm_cluster
        runner = task_runner_for(executor, n_workers=n_workers, slurm_cluster=block,
                                 log_dir=str(Path(plan.store.root) / "dask-logs"))
        chunks_flow.with_options(task_runner=runner)(plan.chunks, str(plan.store.root), plan.pass_options)
    result = summarise_task(str(plan.store.root), str(out), plan.selected(), plan.stats, plan.filt, title)
    _artifacts(result)
    summary = outcome(plan, result)
    log.info("report: %s", summary["report"])
    return summary


def _artifacts(result) -> None:
    s = result.summary
    rows = [{"item": k, "value": (", ".join(map(str, v)) if isinstance(v, list) else
                                  ", ".join(f"{a}: {b}" for a, b in v.items()) if isinstance(v, dict) else str(v))}
            for k, v in s.items() if not k.endswith("_options")]
    create_table_artifact(rows, key="analysis-summary", description="Analysis summary")
    sig = result.signatures
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
    if result.report is not None:
        create_link_artifact(result.report.resolve().as_uri(), link_text="analysis report",
                             key="analysis-report", description="Self-contained HTML report")
