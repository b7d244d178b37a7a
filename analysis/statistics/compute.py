"""The statistics of a decomposition in one call: filter, per-model units, probabilities, tests.

This module owns :func:`compute`, the order of the statistics steps on a
:class:`~mpflow.analysis.statistics.superbase.Decomposition`: the PCA filter
(:mod:`~mpflow.analysis.statistics.pca_filter`), the per-model units
(:func:`~mpflow.analysis.statistics.superbase.units_of`), then the occurrence probabilities,
comparisons, signatures, robustness and testability
(:mod:`~mpflow.analysis.statistics.occurrence`), all kept in memory in a :class:`Computed`
(written out by :mod:`mpflow.analysis.outputs.export`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from mpflow.analysis.statistics.occurrence import (StatsOptions, compare, group_probabilities, robustness,
                                                   signatures, testability)
from mpflow.analysis.statistics.pca_filter import FilterOptions, FilterResult, filter_keys
from mpflow.analysis.statistics.superbase import Decomposition, Units, units_of


@dataclass
class Computed:
    """Everything :func:`compute` derives (in memory; :func:`mpflow.analysis.outputs.export.export`
    writes it)."""

    decomposition: Decomposition
    filter: FilterResult
    units: Units
    probabilities: pd.DataFrame
    comparisons: pd.DataFrame
    signatures: pd.DataFrame
    robustness: pd.DataFrame
    geometry: pd.DataFrame
    testability: pd.DataFrame


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
                    geometry if geometry is not None else pd.DataFrame(), testability(units, stats))
