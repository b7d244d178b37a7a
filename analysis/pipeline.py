"""From the store's frame tables to the exported results: decomposition → filter → statistics.

This module owns the steps after the chunk tasks, as one plain function
(:func:`summarise`) the flow and the CLI call, and the layout of what it writes::

    <out>/tables/*.parquet   every table the report and the notebook draw from (TABLE_FILES)
    <out>/csv/*.csv          the same results for spreadsheets (CSV_EXPORTS)
    <out>/summary.json       counts and the options used
    <out>/report.html        one self-contained file (mpflow.analysis.report)
    <out>/analysis.ipynb     a notebook that reloads tables/ and redraws every figure

Only the frames in ``selected`` (the frames the current selections ask for) are analysed, so a
store that also holds frames of an older selection gives the same numbers as a fresh one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mpflow.analysis.frames import STAGES
from mpflow.analysis.pca_filter import FilterOptions, FilterResult, filter_keys
from mpflow.analysis.statistics import (StatsOptions, compare, group_probabilities, robustness,
                                        signatures)
from mpflow.analysis.store import TableStore, write_parquet
from mpflow.analysis.superbase import Decomposition, Units, decompose, units_of

TABLE_FILES = ("decomposition_frames", "superbase", "decomposition_counts", "model_counts",
               "probabilities", "comparisons", "signatures", "robustness", "dropped_keys",
               "pca_scores", "pca_loadings", "pca_variance", "geometry")
CSV_EXPORTS = ("probabilities", "comparisons", "signatures", "dropped_keys", "superbase", "geometry")


@dataclass
class AnalysisResult:
    out_dir: Path
    summary: dict
    signatures: pd.DataFrame
    report: Path | None = None
    notebook: Path | None = None
    tables: dict[str, Path] = field(default_factory=dict)


@dataclass
class Computed:
    """Everything :func:`compute` derives (in memory; :func:`export` writes it)."""

    decomposition: Decomposition
    filter: FilterResult
    units: Units
    probabilities: pd.DataFrame
    comparisons: pd.DataFrame
    signatures: pd.DataFrame
    robustness: pd.DataFrame
    geometry: pd.DataFrame


def compute(dec: Decomposition, stats: StatsOptions, filt: FilterOptions,
            geometry: pd.DataFrame | None = None) -> Computed:
    """Filter, aggregate per model and stage, and run the statistics on a decomposition."""
    units = units_of(dec)
    fr = filter_keys(dec, units, filt)
    kept_keys = dec.keys.loc[fr.kept].reset_index(drop=True)
    kept_units = Units(units.table, units.counts[:, fr.kept], units.denominators[:, fr.kept])
    probs = group_probabilities(kept_units, kept_keys, stats)
    cmp_ = compare(kept_units, kept_keys, probs, stats)
    sig = signatures(cmp_, probs, kept_keys, stats)
    rob = robustness(probs, stats)
    return Computed(dec, fr, kept_units, probs, cmp_, sig, rob,
                    geometry if geometry is not None else pd.DataFrame())


def load_decomposition(store: TableStore, selected: pd.DataFrame | None = None) -> Decomposition:
    """The decomposition of the store's frames (only ``selected`` (model_id, stage, frame) rows)."""
    frames = store.frames()
    if selected is not None:
        sel = selected[["model_id", "stage", "frame"]].astype({"stage": str})
        frames = frames.astype({"stage": str}).merge(sel.drop_duplicates(), on=["model_id", "stage", "frame"])
    keys = store.read("keys")
    if keys is None or frames.empty:
        from mpflow.analysis.frame_pass import empty_keys
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


def _model_counts(units: Units, keys: pd.DataFrame) -> pd.DataFrame:
    t = units.table
    n_u, n_k = units.counts.shape
    return pd.DataFrame({
        "model_id": np.repeat(t["model_id"].to_numpy(), n_k), "stage": np.repeat(t["stage"].astype(str).to_numpy(), n_k),
        "mutant": np.repeat(t["mutant"].astype(str).to_numpy(), n_k),
        "conformation": np.repeat(t["conformation"].astype(str).to_numpy(), n_k),
        "n_frames": np.repeat(t["n_frames"].to_numpy(), n_k),
        "key": np.tile(keys["key"].to_numpy(), n_u),
        "count": units.counts.ravel(), "denominator": units.denominators.ravel()})


def summary_of(c: Computed, stats: StatsOptions, filt: FilterOptions) -> dict:
    dec = c.decomposition
    fr = dec.frames
    reasons = c.filter.dropped["reason"].value_counts().to_dict() if len(c.filter.dropped) else {}
    return {
        "frames": int(dec.n_frames), "models": int(fr["model_id"].nunique()) if len(fr) else 0,
        "mutants": sorted(fr["mutant"].astype(str).unique().tolist()),
        "conformations": sorted(fr["conformation"].astype(str).unique().tolist()),
        "stages": [s for s in STAGES if s in set(fr["stage"].astype(str))],
        "superbase_keys": int(dec.n_keys), "kept_keys": int(c.filter.kept.sum()),
        "dropped_keys": {k: int(v) for k, v in reasons.items()},
        "keys_in_one_stage": int((dec.keys["only_in_stage"] != "").sum()) if dec.n_keys else 0,
        "pca_components": int(c.filter.n_components), "pca_fitted_frames": int(c.filter.fitted_frames),
        "comparisons": int(len(c.comparisons)),
        "significant_comparisons": int(((c.comparisons["q_value"] <= stats.alpha)).sum()) if len(c.comparisons) else 0,
        "signature_rows": int(len(c.signatures)),
        "signatures": int(c.signatures["signature"].sum()) if len(c.signatures) else 0,
        "stats_options": stats.as_dict(), "filter_options": filt.as_dict(),
    }


def export(c: Computed, out_dir: str | Path, stats: StatsOptions, filt: FilterOptions) -> dict[str, Path]:
    """Write tables/*.parquet, csv/*.csv and summary.json; return the table paths."""
    out = Path(out_dir)
    tdir = out / "tables"
    c.decomposition.save(tdir)
    var = c.filter.explained_variance_ratio
    tables = {
        "model_counts": _model_counts(c.units, c.decomposition.keys.loc[c.filter.kept]),
        "probabilities": c.probabilities, "comparisons": c.comparisons, "signatures": c.signatures,
        "robustness": c.robustness, "dropped_keys": c.filter.dropped, "pca_scores": c.filter.scores,
        "pca_loadings": c.filter.loadings,
        "pca_variance": pd.DataFrame({"component": np.arange(1, len(var) + 1), "ratio": var,
                                      "kept": np.arange(1, len(var) + 1) <= c.filter.n_components}),
        "geometry": c.geometry,
    }
    paths = {name: tdir / f"{name}.parquet" for name in TABLE_FILES}
    for name, df in tables.items():
        write_parquet(df.reset_index(drop=True), paths[name])
    cdir = out / "csv"
    cdir.mkdir(parents=True, exist_ok=True)
    for name in CSV_EXPORTS:
        df = pd.read_parquet(paths[name])
        tmp = cdir / f".{name}.csv.tmp"
        df.to_csv(tmp, index=False)
        tmp.replace(cdir / f"{name}.csv")
    summary = summary_of(c, stats, filt)
    tmp = out / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=1))
    tmp.replace(out / "summary.json")
    return paths


def summarise(store_root: str | Path, out_dir: str | Path, *, selected: pd.DataFrame | None = None,
              stats: StatsOptions | None = None, filt: FilterOptions | None = None,
              title: str = "mpflow interaction analysis", report: bool = True,
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
        from mpflow.analysis.report import write_report
        result.report = write_report(out, title=title)
    if notebook:
        from mpflow.analysis.notebook import write_notebook
        result.notebook = write_notebook(out, title=title)
    return result
