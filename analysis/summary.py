"""From the store's frame tables to the exported results, the report and the notebook.

This module owns the steps after the chunk tasks, as one plain function (:func:`summarise`) the
flow and the CLI call: the decomposition of the store's frames
(:func:`~mpflow.analysis.statistics.superbase.decompose`), the statistics
(:func:`~mpflow.analysis.statistics.compute.compute`), the exported tables
(:mod:`mpflow.analysis.outputs.export`), ``report.html`` (:mod:`mpflow.analysis.outputs.report`)
and ``analysis.ipynb`` (:mod:`mpflow.analysis.outputs.notebook`).

Only the frames in ``selected`` (the frames the current selections ask for) are analysed, so a
store that also holds frames of an older selection gives the same numbers as a fresh one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mpflow.analysis.frames import STAGES
from mpflow.analysis.outputs.export import DEFAULT_TITLE, export
from mpflow.analysis.outputs.notebook import write_notebook
from mpflow.analysis.outputs.report import write_report
from mpflow.analysis.statistics.compute import compute
from mpflow.analysis.statistics.occurrence import StatsOptions
from mpflow.analysis.statistics.pca_filter import FilterOptions
from mpflow.analysis.statistics.superbase import Decomposition, decompose, empty_keys
from mpflow.analysis.store import TableStore


@dataclass
class AnalysisResult:
    """What :func:`summarise` returns: the summary, the signatures and the paths it wrote."""

    out_dir: Path
    summary: dict
    signatures: pd.DataFrame
    report: Path | None = None
    notebook: Path | None = None
    tables: dict[str, Path] = field(default_factory=dict)


def load_decomposition(store: TableStore, selected: pd.DataFrame | None = None) -> Decomposition:
    """The decomposition of the store's frames (only ``selected`` (model_id, stage, frame) rows)."""
    frames = store.frames()
    if selected is not None:
        sel = selected[["model_id", "stage", "frame"]].astype({"stage": str})
        frames = frames.astype({"stage": str}).merge(sel.drop_duplicates(), on=["model_id", "stage", "frame"])
    keys = store.read("keys")
    if keys is None or frames.empty:
        keys = empty_keys() if keys is None else keys
    present = [s for s in STAGES if store.files("occurrences", [s])]
    pieces = (store.read("occurrences", stages=[s]) for s in present)
    return decompose(frames, pieces, keys)


def load_geometry(store: TableStore, dec: Decomposition) -> pd.DataFrame:
    geo = store.read("geometry")
    if geo is None or geo.empty:
        return pd.DataFrame()
    meta = dec.frames[["model_id", "stage", "frame", "mutant", "conformation", "name", "tag"]]
    geo = geo.astype({"stage": str}).merge(meta.astype({"stage": str}), on=["model_id", "stage", "frame"])
    return geo


def summarise(store_root: str | Path, out_dir: str | Path, *, selected: pd.DataFrame | None = None,
              stats: StatsOptions | None = None, filt: FilterOptions | None = None,
              title: str = DEFAULT_TITLE, report: bool = True,
              notebook: bool = True) -> AnalysisResult:
    """Decompose the store's frames, filter, run the statistics, export, write report and notebook."""
    stats = stats or StatsOptions()
    filt = filt or FilterOptions(drop_p=stats.drop_p)
    store = TableStore(store_root)
    dec = load_decomposition(store, selected)
    if dec.n_frames == 0:
        raise ValueError(f"store {store_root}: no analysed frames to summarise")
    c = compute(dec, stats, filt, load_geometry(store, dec))
    out = Path(out_dir)
    paths = export(c, out, stats, filt)
    summary = json.loads((out / "summary.json").read_text())
    result = AnalysisResult(out, summary, c.signatures, tables=paths)
    if report:
        result.report = write_report(out, title=title)
    if notebook:
        result.notebook = write_notebook(out, title=title)
    return result
