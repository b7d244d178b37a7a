"""The exported results: tables as Parquet and CSV, and the summary, written from one computation.

This module owns the layout of what an analysis leaves for its readers (the report, the
notebook, a spreadsheet)::

    <out>/tables/*.parquet   every table the report and the notebook draw from (TABLE_FILES)
    <out>/csv/*.csv          the same results for spreadsheets (CSV_EXPORTS)
    <out>/summary.json       counts and the options used

:func:`export` writes them from a :class:`~mpflow.analysis.statistics.compute.Computed`
(every file to a temporary name, then renamed); :func:`summary_of` is the summary's content.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mpflow.analysis.frames import STAGES
from mpflow.analysis.statistics.compute import Computed
from mpflow.analysis.statistics.occurrence import StatsOptions, min_models_per_group
from mpflow.analysis.statistics.pca_filter import FilterOptions
from mpflow.analysis.statistics.superbase import Units
from mpflow.analysis.store import write_parquet

#: the title of the report and the notebook unless one is given
DEFAULT_TITLE = "mpflow interaction analysis"
TABLE_FILES = ("decomposition_frames", "superbase", "decomposition_counts", "model_counts",
               "probabilities", "comparisons", "signatures", "robustness", "dropped_keys",
               "pca_scores", "pca_loadings", "pca_variance", "geometry", "testability")
CSV_EXPORTS = ("probabilities", "comparisons", "signatures", "dropped_keys", "superbase", "geometry",
               "testability")


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
        "testable_comparisons": int(c.testability["can_reach_alpha"].sum()),
        "untestable_comparisons": int((~c.testability["can_reach_alpha"]).sum()),
        "min_models_per_group": {f: min_models_per_group(f, stats) for f in ("mutant", "conformation", "stage")},
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
        "geometry": c.geometry, "testability": c.testability,
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
