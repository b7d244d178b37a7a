"""The analysis as plain functions: plan → chunks → summary, shared by the flow and the CLI.

This module owns the order of the analysis and nothing of Prefect, so the logic exists once:

- :class:`AnalysisSettings`: every knob of a run (frame selections, chunk size, what to compute,
  thresholds and tests, report title) as one pydantic model, the ``analysis`` flow's ``settings``
  parameter and what ``mpflow analyse`` builds; its defaults are the science modules' own (stated
  once, there), its values are checked by them when the model is built, and it turns into their
  option objects;
- :func:`plan_analysis`: check the manifest, pick each source's frames, clean what a killed run
  left in the store, drop the frames the store already holds, cut the rest into chunks;
- :func:`run_chunks`: the chunks without Prefect — one after another in this process, or on a
  local Dask cluster (``distributed``) — reporting each chunk as it finishes;
- :func:`finish`: decomposition, filter, statistics, exports, report and notebook
  (:func:`mpflow.analysis.summary.summarise`);
- :func:`outcome`: the small dict a run returns (counts, paths);
- :func:`run_analysis`: the four above in a row (``mpflow analyse`` when no Prefect server runs).

The ``analysis`` flow (``mpflow.flows.analysis``) calls :func:`plan_analysis`, runs the chunks as
Prefect tasks on its task runner, then :func:`finish` in a task and :func:`outcome`.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mpflow.analysis.frame_pass import ChunkSummary, PassOptions, analyse_chunk
from mpflow.analysis.frames import (DEFAULT_FRAME_SPECS, FRAME_GRAMMAR, Chunk, FrameSource, FrameSpec,
                                    check_manifest, parse_frame_specs, plan_chunks, wanted_frames)
from mpflow.analysis.interactions import CRITERIA, Criteria, make_interactions
from mpflow.analysis.outputs.export import DEFAULT_TITLE
from mpflow.analysis.statistics.occurrence import StatsOptions
from mpflow.analysis.statistics.pca_filter import FilterOptions
from mpflow.analysis.store import TableStore
from mpflow.analysis.summary import AnalysisResult, summarise

Progress = Callable[[str], None]

_STAGE_DEFAULTS = ", ".join(f"{stage} {spec}" for stage, spec in DEFAULT_FRAME_SPECS.items()
                            if stage != "docked")


class AnalysisSettings(BaseModel):
    """What to compute and how: frame selections, chunks, interactions, statistics, PCA filter,
    report.  Defaults are the science modules' own; every value is checked when the model is made."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    frames: dict[str, str] | None = Field(
        None, description="Frame selection per stage, e.g. {\"prmd\": \"last:50\", \"urmd\": "
        f"\"windows:10:100\"}}; specs {FRAME_GRAMMAR}. Unlisted stages keep the defaults "
        f"({_STAGE_DEFAULTS}).")
    chunk_frames: int = Field(100, ge=1, description="Frames per chunk task (a task run costs ~0.2 s: "
                              "keep chunks large).")
    criteria: Criteria = Field(PassOptions.criteria, description="Interaction criteria of the engine: "
                               + " or ".join(CRITERIA) + ".")
    types: tuple[str, ...] | None = Field(None, description="Interaction types to compute (default: "
                                          "all registered types).")
    params: dict[str, dict[str, float]] | None = Field(
        None, description="Per-type threshold overrides, e.g. {\"hbond\": {\"distance_max_A\": 3.2}}.")
    sel_a: str = Field(PassOptions.sel_a, description="MDAnalysis selection of side a (default: the "
                       "protein; lipids, water and ions are left out).")
    sel_b: str = Field(PassOptions.sel_b, description="MDAnalysis selection of side b.")
    geometry: bool = Field(PassOptions.geometry, description="Also compute the helix geometry of every "
                           "frame (same pass, same key).")
    drop_p: float = Field(StatsOptions.drop_p, description="A key whose occurrence probability is <= "
                          "drop_p in every group is dropped as rare.")
    delta_significant: float = Field(StatsOptions.delta_significant, description="Smallest |difference| "
                                     "of probability for a significant mutant comparison.")
    delta_discriminating: float = Field(StatsOptions.delta_discriminating, description="Smallest "
                                        "|difference| for a discriminating conformation comparison.")
    delta_robust: float = Field(StatsOptions.delta_robust, description="Largest spread of a key's "
                                "probability over stages for it to be robust.")
    alpha: float = Field(StatsOptions.alpha, description="False-discovery rate (Benjamini-Hochberg, per "
                         "comparison family).")
    test: Literal["permutation", "welch"] = Field(
        StatsOptions.test, description="permutation (exact or Monte Carlo over models; needs 4 models "
        "per group for p <= 0.05) or welch (t-tests on per-model values).")
    n_permutations: int = Field(StatsOptions.n_permutations, description="Permutations (Monte Carlo) or "
                                "the largest exact enumeration.")
    n_bootstrap: int = Field(StatsOptions.n_bootstrap, description="Cluster-bootstrap resamples (models) "
                             "for the confidence intervals.")
    pca_variance: float = Field(FilterOptions.pca_variance, description="Fraction of variance the kept "
                                "principal components explain.")
    pca_max_components: int = Field(FilterOptions.pca_max_components, description="At most this many "
                                    "principal components.")
    loading_min: float = Field(FilterOptions.loading_min, description="Keys whose |loading| is below "
                               "this on every kept component are dropped.")
    seed: int = Field(StatsOptions.seed, description="Seed of every random draw (bootstrap, "
                      "permutations, PCA sampling).")
    title: str = Field(DEFAULT_TITLE, description="Title of the report and the notebook.")

    @model_validator(mode="after")
    def _checked_by_the_science_modules(self) -> "AnalysisSettings":
        self.frame_specs()
        make_interactions(list(self.types) if self.types is not None else None, self.params,
                          self.criteria)
        self.pass_options()
        self.stats_options()
        self.filter_options()
        return self

    def frame_specs(self) -> dict[str, FrameSpec]:
        return parse_frame_specs(self.frames)

    def pass_options(self) -> PassOptions:
        return PassOptions.make(types=self.types, params=self.params, sel_a=self.sel_a, sel_b=self.sel_b,
                                criteria=self.criteria, geometry=self.geometry)

    def stats_options(self) -> StatsOptions:
        return StatsOptions(drop_p=self.drop_p, delta_significant=self.delta_significant,
                            delta_discriminating=self.delta_discriminating, delta_robust=self.delta_robust,
                            alpha=self.alpha, test=self.test, n_permutations=self.n_permutations,
                            n_bootstrap=self.n_bootstrap, seed=self.seed)

    def filter_options(self) -> FilterOptions:
        return FilterOptions(drop_p=self.drop_p, pca_variance=self.pca_variance,
                             pca_max_components=self.pca_max_components, loading_min=self.loading_min,
                             seed=self.seed)


def settings_error(exc: ValidationError) -> str:
    """The first problem of invalid settings in one line (``field: why``, or the science module's
    own words for a value it refused)."""
    err = exc.errors()[0]
    where = ".".join(str(x) for x in err["loc"])
    why = err["msg"].removeprefix("Value error, ")
    return f"{where}: {why}" if where else why


@dataclass
class AnalysisPlan:
    """What a run will do: the sources, their selected frames, and the chunks still to compute."""

    sources: list[FrameSource]
    wanted: list[tuple[FrameSource, np.ndarray]]
    chunks: list[Chunk]
    store: TableStore
    out_dir: Path
    settings: AnalysisSettings
    pass_options: PassOptions
    stats: StatsOptions
    filt: FilterOptions
    removed: list[Path] = field(default_factory=list)

    @property
    def n_selected(self) -> int:
        return sum(len(f) for _, f in self.wanted)

    @property
    def n_new(self) -> int:
        return sum(c.n_frames for c in self.chunks)

    @property
    def n_models(self) -> int:
        return len({s.model_id for s in self.sources})

    def selected(self) -> pd.DataFrame:
        """(model_id, stage, frame) of every frame the selections ask for (what is summarised)."""
        rows = [(s.model_id, s.stage, int(f)) for s, frames in self.wanted for f in frames]
        return pd.DataFrame(rows, columns=["model_id", "stage", "frame"])

    def describe(self) -> str:
        return (f"{len(self.sources)} source(s) of {self.n_models} model(s), {self.n_selected} frame(s) "
                f"selected, {self.n_new} new in {len(self.chunks)} chunk(s)")


def plan_analysis(sources: list[FrameSource], out_dir: str | Path, settings: AnalysisSettings | None = None,
                  *, store_dir: str | Path | None = None) -> AnalysisPlan:
    """Check the sources and settings, and plan the chunks of the frames not yet in the store.

    Raises ``ValueError`` (one line) for an empty manifest or a missing file (the settings were
    checked when they were made).
    """
    settings = settings or AnalysisSettings()
    if not sources:
        raise ValueError("manifest: no rows")
    check_manifest(sources)
    specs = settings.frame_specs()
    options, stats, filt = settings.pass_options(), settings.stats_options(), settings.filter_options()
    out = Path(out_dir)
    store = TableStore(store_dir or out / "store")
    removed = store.clean_incomplete()
    wanted = [(s, wanted_frames(s, specs)) for s in sources]
    chunks = plan_chunks(wanted, store.done_frames(), settings.chunk_frames)
    return AnalysisPlan(list(sources), wanted, chunks, store, out, settings, options, stats, filt, removed)


def chunk_line(k: int, n: int, summary: ChunkSummary, done: int, total: int) -> str:
    """A progress line for a finished chunk."""
    return (f"chunk {k}/{n} done: {summary.frames} frame(s) of {summary.parts} part(s) in "
            f"{summary.seconds:.1f} s ({done}/{total} new frames)")


def run_chunks(plan: AnalysisPlan, *, executor: Literal["dask-local", "threads"] = "dask-local",
               n_workers: int = 2, progress: Progress | None = None) -> list[ChunkSummary]:
    """Compute the plan's chunks without Prefect; return their summaries in chunk order.

    ``threads``, one chunk, or one worker: one after another in this process (no start-up cost);
    ``dask-local``: a local Dask cluster of ``n_workers`` single-threaded processes (at most one
    per chunk).
    """
    if executor not in ("dask-local", "threads"):
        raise ValueError(f"executor {executor!r}: expected dask-local or threads without Prefect")
    chunks, root, options = plan.chunks, str(plan.store.root), plan.pass_options
    say = progress or (lambda line: None)
    total, done = plan.n_new, 0
    if executor == "threads" or len(chunks) <= 1 or n_workers <= 1:
        out = []
        for k, chunk in enumerate(chunks, start=1):
            summary = analyse_chunk(chunk, root, options)
            done += summary.frames
            say(chunk_line(k, len(chunks), summary, done, total))
            out.append(summary)
        return out
    from distributed import Client, LocalCluster, as_completed  # heavy (~0.8 s): for Dask runs only

    workers = min(n_workers, len(chunks))
    results: dict[int, ChunkSummary] = {}
    with _environ_restored(), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        futures = client.map(analyse_chunk, chunks, store_root=root, options=options, pure=False)
        index = {f.key: k for k, f in enumerate(futures)}
        for k_done, future in enumerate(as_completed(futures), start=1):
            summary = future.result()
            results[index[future.key]] = summary
            done += summary.frames
            say(chunk_line(k_done, len(chunks), summary, done, total))
    return [results[k] for k in range(len(chunks))]


@contextmanager
def _environ_restored():
    """Put ``os.environ`` back as it was: Dask's nanny sets OMP_NUM_THREADS=1 (and more) in this
    process before it spawns its workers, which would reach every later subprocess (GROMACS refuses
    ``-ntomp 2`` under OMP_NUM_THREADS=1)."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def finish(plan: AnalysisPlan, *, report: bool = True, notebook: bool = True) -> AnalysisResult:
    """Summarise the store's selected frames into tables, report and notebook."""
    return summarise(plan.store.root, plan.out_dir, selected=plan.selected(), stats=plan.stats,
                     filt=plan.filt, title=plan.settings.title, report=report, notebook=notebook)


def outcome(plan: AnalysisPlan, result) -> dict:
    """What a run returns: the summary counts, the new frames and chunks, and the output paths."""
    return {**result.summary, "new_frames": plan.n_new, "chunks": len(plan.chunks),
            "out_dir": str(plan.out_dir),
            "report": str(result.report) if result.report else None,
            "notebook": str(result.notebook) if result.notebook else None}


def run_analysis(sources: list[FrameSource], out_dir: str | Path, settings: AnalysisSettings | None = None, *,
                 store_dir: str | Path | None = None, executor: Literal["dask-local", "threads"] = "dask-local",
                 n_workers: int = 2, progress: Progress | None = None) -> dict:
    """The whole analysis without Prefect (see the module docstring); returns :func:`outcome`."""
    say = progress or (lambda line: None)
    plan = plan_analysis(sources, out_dir, settings, store_dir=store_dir)
    if plan.removed:
        say(f"removed {len(plan.removed)} file(s) of parts a previous run did not finish")
    say(plan.describe())
    run_chunks(plan, executor=executor, n_workers=n_workers, progress=say)
    say("statistics, report and notebook ...")
    return outcome(plan, finish(plan))
