"""Prefect tasks of the analysis: one task run per chunk of frames, one for the summary.

Thin wrappers: the work is :func:`mpflow.analysis.frame_pass.analyse_chunk` (geometry and
interactions of a chunk's frames, written to the store) and :func:`mpflow.analysis.summary.summarise`
(decomposition, filter, statistics, report, notebook).  No retries: a failing chunk is a bug or a
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
