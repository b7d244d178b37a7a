"""Prefect tasks of the analysis: one task run per chunk of frames, one for the summary, and one for the
whole analysis of a project whose master is remote (a Slurm job there).

Thin wrappers: the work is :func:`mpflow.analysis.frame_pass.analyse_chunk` (geometry and
interactions of a chunk's frames, written to the store), :func:`mpflow.analysis.summary.summarise`
(decomposition, filter, statistics, report, notebook) and
:func:`mpflow.models.analysis_job.run_on_master` (the job on the master, its results brought back).  No retries: a failing chunk is a bug or a
bad file, not a transient condition; a re-run recomputes only the chunks that did not finish.
"""

from __future__ import annotations

import pandas as pd
from mpflow.analysis.frame_pass import ChunkSummary, PassOptions, analyse_chunk
from mpflow.analysis.frames import Chunk
from mpflow.analysis.statistics.occurrence import StatsOptions
from mpflow.analysis.statistics.pca_filter import FilterOptions
from mpflow.analysis.summary import AnalysisResult, summarise
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from mpflow.models.analysis_job import run_on_master
from mpflow.store.database import open_database


@task(name="analyse-chunk", task_run_name="chunk-{index}", cache_policy=NO_CACHE)
def analyse_chunk_task(chunk: Chunk, store_root: str, options: PassOptions, index: int = 0) -> ChunkSummary:
    summary = analyse_chunk(chunk, store_root, options)
    get_run_logger().info("chunk %d: %d frame(s) of %d part(s), %d interaction rows, %.1f s",
                          index, summary.frames, summary.parts, summary.interactions, summary.seconds)
    return summary


@task(name="summarise-analysis", cache_policy=NO_CACHE)
def summarise_task(store_root: str, out_dir: str, selected: pd.DataFrame, stats: StatsOptions,
                   filt: FilterOptions, title: str) -> AnalysisResult:
    return summarise(store_root, out_dir, selected=selected, stats=stats, filt=filt, title=title)


@task(name="analyse-on-master", cache_policy=NO_CACHE)
def analyse_on_master_task(project, out_dir: str | None, stages: list[str] | None, mutants: list[str] | None,
                           settings, executor: str, n_workers: int) -> dict:
    log = get_run_logger()
    return run_on_master(project, open_database(project.database_url), out_dir=out_dir, stages=stages,
                         mutants=mutants, settings=settings, executor=executor, n_workers=n_workers, echo=log.info)
