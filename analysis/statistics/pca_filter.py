"""PCA filter: drop super-base keys that carry no information, and say which and why.

This module owns the dimensionality reduction between the decomposition and the statistics.  A
key is dropped for the first of these reasons that applies (recorded in ``FilterResult.dropped``
with the measured value):

1. ``never present``: in no analysed frame;
2. ``always present``: in every analysed frame (no variance, nothing to compare);
3. ``rare``: its occurrence probability is ≤ ``drop_p`` in every (mutant, conformation, stage)
   group (default 0.05, the original study's cut) — judged per group, so a key frequent in one
   rare group is kept;
4. ``negligible loading``: a PCA (scikit-learn, covariance of the binary frame vectors of the keys
   left after 1–3) keeps the first k components that explain ``pca_variance`` of the variance
   (at most ``pca_max_components``); the loading of key j on component i is its correlation with
   the component, v_ij √λ_i / sd_j; a key whose |loading| is below ``loading_min`` on all k
   components varies independently of every main pattern of the data and is dropped.

The PCA is fitted on at most ``pca_max_frames`` frames drawn at random (seeded; the covariance
of two binary keys has a standard error below 0.25/√n, ~0.001 at 50,000 frames) and ``plot_frames`` frames are projected
for the plots (coloured by mutant, conformation and stage in the report).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from mpflow.analysis.statistics.superbase import Decomposition, Units


@dataclass(frozen=True)
class FilterOptions:
    drop_p: float = 0.05
    pca_variance: float = 0.9
    pca_max_components: int = 20
    loading_min: float = 0.1
    pca_max_frames: int = 50_000
    plot_frames: int = 3000
    seed: int = 0

    def __post_init__(self):
        if not 0 < self.pca_variance <= 1:
            raise ValueError(f"pca_variance must be within (0, 1], got {self.pca_variance}")
        if self.pca_max_components < 1 or self.pca_max_frames < 2:
            raise ValueError("pca_max_components must be >= 1 and pca_max_frames >= 2")
        if not 0 <= self.loading_min <= 1 or not 0 <= self.drop_p <= 1:
            raise ValueError("loading_min and drop_p must be within [0, 1]")

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class FilterResult:
    kept: np.ndarray                                    # bool per super-base key
    dropped: pd.DataFrame                               # key, reason, value
    loadings: pd.DataFrame = field(default_factory=pd.DataFrame)  # key, PC1..PCk, max_abs_loading
    explained_variance_ratio: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_components: int = 0
    scores: pd.DataFrame = field(default_factory=pd.DataFrame)    # frame metadata + PC1, PC2, PC3
    fitted_frames: int = 0


def max_group_probability(units: Units) -> np.ndarray:
    """Per key, the largest pooled probability over the (mutant, conformation, stage) groups."""
    t = units.table
    codes, _ = pd.factorize(pd.MultiIndex.from_frame(t[["mutant", "conformation", "stage"]]))
    n_groups = codes.max() + 1 if len(codes) else 0
    num = np.zeros((n_groups, units.counts.shape[1]))
    den = np.zeros_like(num)
    np.add.at(num, codes, units.counts)
    np.add.at(den, codes, units.denominators)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(den > 0, num / np.where(den > 0, den, 1), 0.0)
    return p.max(axis=0) if n_groups else np.zeros(units.counts.shape[1])


def filter_keys(dec: Decomposition, units: Units, options: FilterOptions) -> FilterResult:
    """Apply the four rules of the module docstring; the PCA runs on the keys left after 1–3."""
    keys = dec.keys["key"].to_numpy()
    n_frames = dec.n_frames
    present_frames = np.bincount(dec.counts.indices[dec.counts.data > 0], minlength=dec.n_keys)
    pmax = max_group_probability(units)
    reason = np.full(dec.n_keys, "", dtype=object)
    value = np.full(dec.n_keys, np.nan)
    never = present_frames == 0
    reason[never], value[never] = "never present", 0.0
    always = (present_frames == n_frames) & ~never
    reason[always], value[always] = "always present", 1.0
    rare = (pmax <= options.drop_p) & (reason == "")
    reason[rare], value[rare] = "rare", pmax[rare]
    left = np.flatnonzero(reason == "")
    result = FilterResult(kept=np.zeros(dec.n_keys, dtype=bool), dropped=pd.DataFrame())
    if len(left) >= 2 and n_frames >= 3:
        _pca(dec, left, options, result, reason, value)
    result.kept = reason == ""
    d = np.flatnonzero(~result.kept)
    result.dropped = pd.DataFrame({"key": keys[d], "reason": reason[d], "value": value[d],
                                   "frames_present": present_frames[d],
                                   "max_group_probability": pmax[d]})
    return result


def _pca(dec: Decomposition, cols: np.ndarray, options: FilterOptions, result: FilterResult,
         reason: np.ndarray, value: np.ndarray) -> None:
    from sklearn.decomposition import PCA  # heavy (~1.8 s to import): only when filtering

    rng = np.random.default_rng(options.seed)
    n = dec.n_frames
    rows = np.sort(rng.choice(n, options.pca_max_frames, replace=False)) \
        if n > options.pca_max_frames else np.arange(n)
    sub = dec.counts[rows][:, cols]
    x = np.zeros(sub.shape, dtype=np.float32)
    coo = sub.tocoo()
    x[coo.row, coo.col] = (coo.data > 0)
    n_comp = min(x.shape)
    pca = PCA(n_components=n_comp, svd_solver="covariance_eigh")
    pca.fit(x)
    ratio = pca.explained_variance_ratio_
    k = int(np.searchsorted(np.cumsum(ratio), options.pca_variance - 1e-12) + 1)
    k = max(1, min(k, options.pca_max_components, n_comp))
    sd = np.sqrt(np.clip(np.diag(pca.get_covariance()), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        load = (pca.components_[:k].T * np.sqrt(pca.explained_variance_[:k])[None, :]
                / np.where(sd > 0, sd, np.inf)[:, None])
    max_abs = np.abs(load).max(axis=1)
    weak = max_abs < options.loading_min
    reason[cols[weak]] = "negligible loading"
    value[cols[weak]] = max_abs[weak]
    keys = dec.keys["key"].to_numpy()[cols]
    ld = pd.DataFrame(load, columns=[f"PC{i + 1}" for i in range(k)])
    ld.insert(0, "key", keys)
    ld["max_abs_loading"] = max_abs
    result.loadings = ld
    result.explained_variance_ratio = ratio[: max(k, min(10, n_comp))]
    result.n_components = k
    result.fitted_frames = len(rows)
    # projection of a random sample of frames for the plots
    prow = np.sort(rng.choice(n, options.plot_frames, replace=False)) if n > options.plot_frames \
        else np.arange(n)
    psub = dec.counts[prow][:, cols].tocoo()
    px = np.zeros((len(prow), len(cols)), dtype=np.float32)
    px[psub.row, psub.col] = (psub.data > 0)
    scores = pca.transform(px)[:, : min(3, n_comp)]
    sc = dec.frames.iloc[prow][["model_id", "mutant", "conformation", "name", "stage", "frame",
                                "tag"]].reset_index(drop=True)
    for i in range(scores.shape[1]):
        sc[f"PC{i + 1}"] = scores[:, i]
    result.scores = sc
