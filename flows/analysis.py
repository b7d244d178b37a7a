"""The analysis flow: a manifest of models and stages → per-frame tables → statistics → report.

This module owns the orchestration of the analysis (the science is in ``mpflow.analysis``):

1. read the manifest (:class:`mpflow.analysis.frames.FrameSource` rows), pick each source's frames
   with the per-stage selections, drop what the store already holds, cut the rest into chunks;
2. run one ``analyse-chunk`` task per chunk in the subflow ``analysis-chunks``, whose task runner
   is chosen per run (``executor``): ``dask-local`` (a local Dask cluster, prefect-dask's
   default, ``n_workers`` processes), ``dask-slurm`` (Dask workers as Slurm jobs of a local cluster
   block, dask-jobqueue) or ``threads`` (Prefect's thread pool, for tiny runs);
3. one ``summarise-analysis`` task: decomposition, PCA filter, statistics, exports, HTML report and
   notebook;
4. artifacts on the flow run: the summary table, the signature list and a link to the report.

``slurm_cluster`` takes a saved cluster block's name (deployments) or a
:class:`mpflow.clusters.ClusterSettings` (tests, the CLI).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact

from mpflow.analysis.frame_pass import PassOptions
from mpflow.analysis.frames import FrameSource, parse_frame_specs, plan_chunks, read_manifest, wanted_frames
from mpflow.analysis.pca_filter import FilterOptions
from mpflow.analysis.statistics import StatsOptions
from mpflow.analysis.store import TableStore
from mpflow.clusters import ClusterSettings
from mpflow.tasks.analysis import analyse_chunk_task, summarise_task

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

        from mpflow.dask_slurm import slurm_cluster_kwargs

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


def _selected_frames(wanted: list[tuple[FrameSource, object]]) -> pd.DataFrame:
    rows = [(s.model_id, s.stage, int(f)) for s, frames in wanted for f in frames]
    return pd.DataFrame(rows, columns=["model_id", "stage", "frame"])


@flow(name="analysis")
def analysis_flow(
    manifest: list[FrameSource] | str,
    out_dir: str,
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
    """Interchain-interaction analysis of the models and stages of a manifest.

    Args:
        manifest: The models and stages to analyse: FrameSource records (model_id, mutant, group,
            name, stage, topology, trajectory) or the path of a manifest file (.csv or .json).
        out_dir: Folder for tables/, csv/, summary.json, report.html and analysis.ipynb.
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
        sel_a: MDAnalysis selection of side a.
        sel_b: MDAnalysis selection of side b.
        geometry: Also compute the helix geometry of every frame (same pass, same key).
        drop_p: A key whose occurrence probability is <= drop_p in every group is dropped as rare.
        delta_significant: Smallest |difference| of probability for a significant mutant comparison.
        delta_discriminating: Smallest |difference| for a discriminating conformation comparison.
        delta_robust: Largest spread of a key's probability over stages for it to be robust.
        alpha: False-discovery rate (Benjamini-Hochberg, per comparison family).
        test: permutation (exact or Monte Carlo over models) or welch (t-tests on per-model values).
        n_permutations: Permutations (Monte Carlo) or the largest exact enumeration.
        n_bootstrap: Cluster-bootstrap resamples (models) for the confidence intervals.
        pca_variance: Fraction of variance the kept principal components explain.
        pca_max_components: At most this many principal components.
        loading_min: Keys whose |loading| is below this on every kept component are dropped.
        seed: Seed of every random draw (bootstrap, permutations, PCA sampling).
        title: Title of the report and the notebook.
    """
    log = get_run_logger()
    sources = read_manifest(manifest) if isinstance(manifest, (str, Path)) else \
        [FrameSource.model_validate(s) for s in manifest]
    if not sources:
        raise ValueError("manifest: no rows")
    specs = parse_frame_specs(frames)
    stats = StatsOptions(drop_p=drop_p, delta_significant=delta_significant,
                         delta_discriminating=delta_discriminating, delta_robust=delta_robust,
                         alpha=alpha, test=test, n_permutations=n_permutations,
                         n_bootstrap=n_bootstrap, seed=seed)
    filt = FilterOptions(drop_p=drop_p, pca_variance=pca_variance,
                         pca_max_components=pca_max_components, loading_min=loading_min, seed=seed)
    options = PassOptions.make(types=types, params=params, sel_a=sel_a, sel_b=sel_b,
                               criteria=criteria, geometry=geometry)
    out = Path(out_dir)
    store = TableStore(store_dir or out / "store")
    removed = store.clean_incomplete()
    if removed:
        log.warning("removed %d file(s) of parts a previous run did not finish", len(removed))
    wanted = [(s, wanted_frames(s, specs)) for s in sources]
    chunks = plan_chunks(wanted, store.done_frames(), chunk_frames)
    n_new = sum(c.n_frames for c in chunks)
    log.info("%d source(s), %d frame(s) selected, %d new in %d chunk(s)", len(sources),
             sum(len(f) for _, f in wanted), n_new, len(chunks))
    if chunks:
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
                                 log_dir=str(Path(store.root) / "dask-logs"))
        chunks_flow.with_options(task_runner=runner)(chunks, str(store.root), options)
    result = summarise_task(str(store.root), str(out), _selected_frames(wanted), stats, filt, title)
    _artifacts(result)
    return {**result.summary, "new_frames": n_new, "chunks": len(chunks),
            "report": str(result.report) if result.report else None}


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
