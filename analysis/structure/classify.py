"""Conformational classification: geometry features of models → ``Conformation1..N`` or ``None``.

This module owns the grouping of docked models (rows of
:func:`mpflow.analysis.structure.geometry.geometry_table`, one per model) into conformations.

Rule
----
1. **Features** (default ``crossing_angle_deg`` and ``distance_A``) are divided by their standard
   deviation over the models (or by fixed physical ``scales`` when given, e.g.
   ``{"crossing_angle_deg": 10, "distance_A": 1}``), so each weighs by its spread.  Rows with a
   missing feature (e.g. a single helix) are ``None``.
2. **Number of groups N**: given, or the k in 2..``max_groups`` (KMeans, ``n_init=10``, seeded)
   with the highest mean silhouette; when that silhouette is below ``min_silhouette`` (0.5, the
   "reasonable structure" level of Kaufman & Rousseeuw) the models form one group.
3. **Outliers stay None**: members of groups smaller than ``min_group_size`` (default 2: an
   outlier tends to get a group of its own) are ``None``; so is a model farther from its group's
   centroid than ``outlier_factor`` (default 4) × the median distance of all grouped models to
   their centroids.  This is done twice, the second time with centroids recomputed without the
   models dropped the first time.
4. **Names**: groups are numbered by size, largest first (ties: by centroid), ``Conformation1``…
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

DEFAULT_FEATURES = ("crossing_angle_deg", "distance_A")
GROUP_PREFIX = "Conformation"


@dataclass
class Classification:
    """Result of :func:`classify`, indexed like the input features.

    ``labels``: ``ConformationN`` or ``None`` per row; ``distance``: distance to the nearest
    centroid in scaled feature units (NaN when a feature is missing); ``threshold``: the outlier
    cut in the same units; ``criterion``: how N was chosen (``given``, ``silhouette`` or
    ``one group``); ``silhouettes``: mean silhouette per k tried.
    """

    labels: pd.Series
    n_groups: int
    criterion: str
    centroids: pd.DataFrame  # one row per ConformationN, feature units
    distance: pd.Series
    threshold: float
    silhouettes: dict[int, float] = field(default_factory=dict)


def _scales(values: np.ndarray, columns: list[str], scales: dict[str, float] | None) -> np.ndarray:
    """Divisor per feature: the given physical scale, else the feature's standard deviation."""
    out = []
    for k, col in enumerate(columns):
        if scales and col in scales:
            out.append(float(scales[col]))
        else:
            sd = float(np.std(values[:, k])) if len(values) else 0.0
            out.append(sd if sd > 0 else 1.0)
    return np.array(out)


def _kmeans(x: np.ndarray, k: int, random_state: int):
    from sklearn.cluster import KMeans  # heavy (~1.8 s to import): loaded only when classifying

    return KMeans(n_clusters=k, n_init=10, random_state=random_state).fit(x)


def _prune(x: np.ndarray, group: np.ndarray, min_group_size: int, factor: float
           ) -> tuple[np.ndarray, float]:
    """Groups smaller than ``min_group_size`` → -1; members farther from their group's centroid
    than ``factor × median member distance`` → -1.  Returns (groups, threshold)."""
    group = group.copy()
    ids, counts = np.unique(group[group >= 0], return_counts=True)
    for gid in ids[counts < min_group_size]:
        group[group == gid] = -1
    members = np.flatnonzero(group >= 0)
    if len(members) == 0:
        return group, float("nan")
    own = np.zeros(len(members))
    for gid in np.unique(group[members]):
        rows = group[members] == gid
        own[rows] = np.linalg.norm(x[members[rows]] - x[members[rows]].mean(axis=0), axis=1)
    threshold = factor * float(np.median(own))
    group[members[own > threshold]] = -1
    return group, threshold


def classify(features: pd.DataFrame, n_groups: int | None = None, *,
             columns: tuple[str, ...] | list[str] = DEFAULT_FEATURES,
             scales: dict[str, float] | None = None, max_groups: int = 8,
             min_silhouette: float = 0.5, min_group_size: int = 2, outlier_factor: float = 4.0,
             random_state: int = 0) -> Classification:
    """Group the rows of ``features`` into conformations (the rule is in the module docstring)."""
    from sklearn.metrics import silhouette_score  # heavy (~1.8 s to import): only when classifying

    columns = list(columns)
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"features lack the columns {missing}; have {list(features.columns)}")
    if n_groups is not None and n_groups < 1:
        raise ValueError(f"n_groups must be at least 1, got {n_groups}")
    raw = features[columns].to_numpy(dtype=np.float64)
    usable = np.isfinite(raw).all(axis=1)
    scale = _scales(raw[usable], columns, scales)
    x = raw[usable] / scale
    n = len(x)
    silhouettes: dict[int, float] = {}
    group = np.full(n, -1)
    if n_groups is not None:
        k, criterion = min(n_groups, n), "given"
    else:
        criterion = "one group"
        k = 1
        for kk in range(2, min(max_groups, n - 1) + 1):
            fit = _kmeans(x, kk, random_state)
            if len(set(fit.labels_)) < 2:
                continue
            silhouettes[kk] = float(silhouette_score(x, fit.labels_))
        if silhouettes:
            best = max(silhouettes, key=lambda kk: (silhouettes[kk], -kk))
            if silhouettes[best] >= min_silhouette:
                k, criterion = best, "silhouette"
    if n:
        group = _kmeans(x, k, random_state).labels_ if k > 1 else np.zeros(n, dtype=int)
    threshold = float("nan")
    for _ in range(2):  # prune, recompute the centroids without the pruned, prune again
        group, threshold = _prune(x, group, min_group_size, outlier_factor)
    ids, counts = np.unique(group[group >= 0], return_counts=True)
    size = dict(zip(ids.tolist(), counts.tolist()))
    centroid_of = {gid: x[group == gid].mean(axis=0) for gid in size}
    dist = np.full(n, np.nan)
    if size:
        cents = np.array(list(centroid_of.values()))
        dist = np.linalg.norm(x[:, None, :] - cents[None], axis=-1).min(axis=1)
    order = sorted(size, key=lambda gid: (-size[gid], tuple(centroid_of[gid])))
    name_of = {gid: f"{GROUP_PREFIX}{i + 1}" for i, gid in enumerate(order)}
    labels = pd.Series([None] * len(features), index=features.index, dtype=object)
    labels.iloc[np.flatnonzero(usable)] = [name_of.get(g) for g in group]
    distance = pd.Series(np.nan, index=features.index)
    distance.iloc[np.flatnonzero(usable)] = dist
    centroids = pd.DataFrame([centroid_of[gid] * scale for gid in order], columns=columns,
                             index=[name_of[gid] for gid in order])
    return Classification(labels, len(order), criterion, centroids, distance, threshold, silhouettes)
