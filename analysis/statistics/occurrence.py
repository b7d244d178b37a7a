"""Occurrence statistics: probabilities with model-level intervals, tests, corrections, signatures.

This module owns every number the report states about interactions.  Inputs are the per-unit sums
of :func:`mpflow.analysis.statistics.superbase.units_of` (a *unit* is one model at one stage).

Probability
-----------
For a group g = (mutant, conformation, stage) and a key k::

    p(g, k) = Σ_units count(u, k) / Σ_units copies(u, k) × frames(u)

i.e. count / (chain pairs × frames), pooled over the group's models (see
:mod:`mpflow.analysis.statistics.superbase` for the chain-pair copies).

The model is the unit of replication
------------------------------------
Frames of one trajectory are correlated, so neither intervals nor tests treat frames as
independent draws:

- **Confidence interval**: cluster (model) bootstrap — the group's models are resampled with
  replacement (``n_bootstrap`` times) and the pooled ratio recomputed; percentile interval at
  ``ci_level``.  A group with a single model gets no interval (NaN).  More frames per model do not
  narrow it unless the models themselves agree.
- **Mutants, conformations** (independent models): permutation test of the difference of pooled
  probabilities, the models' group labels permuted — exact (all relabellings) when there are at
  most ``n_permutations`` of them, otherwise ``n_permutations`` random ones with
  p = (1 + #{|T*| ≥ |T|}) / (1 + n_permutations).  Two-sided.
- **Stages** (the same models at two stages, paired): sign-flip permutation test of the mean over
  models of the per-model difference p_m(stage 1) − p_m(stage 2); models with only one of the two
  stages are left out; exact when 2^m ≤ ``n_permutations``.
- ``test="welch"`` instead uses Welch's t-test on per-model probabilities (independent) and the
  paired t-test (stages): analytic p-values, for studies with many models per group.
- **Multiple testing**: Benjamini–Hochberg over all tests of one family (all stage comparisons,
  all mutant comparisons, all conformation comparisons: three families), q-values reported.
  Conformation comparisons leave out unclassified (``None``) models.

What the data can test
----------------------
A permutation test over models cannot give a p-value below a floor set by the number of models
(:func:`p_value_floor`): with 2 models per mutant there are C(4, 2) = 6 relabellings, so p >= 2/6;
equal groups need 4 models each to reach p <= 0.05 (2/70), a paired stage comparison 6 models
(2/2^6).  :func:`testability` lists every comparison with its floor, so a report on few models
says that nothing can be significant instead of showing empty tables.

Signatures (thresholds configurable, defaults from the original study)
---------------------------------------------------------------------
- ``drop_p`` = 0.05: a key is *present* in a group when p > drop_p; the filter drops keys present
  in no group (:mod:`mpflow.analysis.statistics.pca_filter`).
- ``delta_significant`` = 0.1: a **mutant** comparison (two mutants, same conformation and stage)
  is *significant* for a key when |p₁ − p₂| ≥ 0.1 and q ≤ ``alpha``.
- ``delta_discriminating`` = 0.1: a **conformation** comparison (two conformations of one mutant
  at one stage) is *discriminating* when |p₁ − p₂| ≥ 0.1 and q ≤ ``alpha``.
- ``delta_robust`` = 0.4: a key is *robust across stages* for a (mutant, conformation) when it was
  analysed at two or more stages and max − min of its probability over those stages ≤ 0.4.
- A **signature** is a (comparison, key) that is significant (mutants) or discriminating
  (conformations) at one or more stages and robust across stages on both sides of the comparison.
  The signature table lists the stages where it holds and the key's stage presence, so a key seen
  in only one stage shows as such (and cannot be robust).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from mpflow.analysis.statistics.superbase import Units, stage_rank

GROUP = ["mutant", "conformation", "stage"]


@dataclass(frozen=True)
class StatsOptions:
    """Thresholds and test settings (see the module docstring for what each means)."""

    drop_p: float = 0.05
    delta_significant: float = 0.1
    delta_discriminating: float = 0.1
    delta_robust: float = 0.4
    alpha: float = 0.05
    test: Literal["permutation", "welch"] = "permutation"
    n_permutations: int = 9999
    n_bootstrap: int = 2000
    ci_level: float = 0.95
    seed: int = 0

    def __post_init__(self):
        for name in ("drop_p", "delta_significant", "delta_discriminating", "delta_robust", "alpha"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"{name} must be within [0, 1], got {v}")
        if not 0 < self.ci_level < 1:
            raise ValueError(f"ci_level must be within (0, 1), got {self.ci_level}")
        if self.test not in ("permutation", "welch"):
            raise ValueError(f"test must be 'permutation' or 'welch', got {self.test!r}")
        if self.n_permutations < 1 or self.n_bootstrap < 1:
            raise ValueError("n_permutations and n_bootstrap must be >= 1")

    def as_dict(self) -> dict:
        return asdict(self)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


# --------------------------------------------------------------------------- probabilities
def group_index(units: Units) -> pd.DataFrame:
    """One row per (mutant, conformation, stage) with the row numbers of its units."""
    t = units.table.reset_index(drop=True)
    rows = t.groupby(GROUP, sort=False).indices
    out = pd.DataFrame([(*g, np.asarray(ix)) for g, ix in rows.items()], columns=GROUP + ["units"])
    out["_r"] = stage_rank(out["stage"])
    return out.sort_values(["mutant", "conformation", "_r"]).drop(columns="_r").reset_index(drop=True)


def cluster_bootstrap(counts: np.ndarray, denominators: np.ndarray, n_bootstrap: int, level: float,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the pooled ratio, resampling the rows (models) with replacement."""
    m = counts.shape[0]
    if m < 2:
        nan = np.full(counts.shape[1], np.nan)
        return nan, nan.copy()
    w = rng.multinomial(m, np.full(m, 1.0 / m), size=n_bootstrap).astype(np.float64)
    boot = _ratio(w @ counts, w @ denominators)
    lo, hi = np.nanquantile(boot, [(1 - level) / 2, (1 + level) / 2], axis=0) \
        if np.isfinite(boot).any() else (np.full(counts.shape[1], np.nan),) * 2
    return lo, hi


def group_probabilities(units: Units, keys: pd.DataFrame, options: StatsOptions) -> pd.DataFrame:
    """Long table: mutant, conformation, stage, key, probability, ci_low, ci_high, n_models,
    n_frames, count, denominator (one row per group and key)."""
    rng = np.random.default_rng(options.seed)
    parts = []
    key_names = keys["key"].to_numpy()
    for g in group_index(units).itertuples(index=False):
        ix = g.units
        c, d = units.counts[ix], units.denominators[ix]
        num, den = c.sum(axis=0), d.sum(axis=0)
        lo, hi = cluster_bootstrap(c, d, options.n_bootstrap, options.ci_level, rng)
        parts.append(pd.DataFrame({
            "mutant": g.mutant, "conformation": g.conformation, "stage": g.stage, "key": key_names,
            "probability": _ratio(num, den), "ci_low": lo, "ci_high": hi,
            "n_models": len(ix), "n_frames": int(units.table["n_frames"].to_numpy()[ix].sum()),
            "count": num, "denominator": den}))
    if not parts:
        return pd.DataFrame(columns=GROUP + ["key", "probability", "ci_low", "ci_high", "n_models",
                                             "n_frames", "count", "denominator"])
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- tests
def _independent_assignments(m1: int, m2: int, n_perm: int, rng) -> tuple[np.ndarray, bool]:
    """Rows: which of the m1+m2 units go to side 1 (exact list when small enough)."""
    m = m1 + m2
    if math.comb(m, m1) <= n_perm:
        combos = list(itertools.combinations(range(m), m1))
        a = np.zeros((len(combos), m), dtype=np.float64)
        for r, c in enumerate(combos):
            a[r, list(c)] = 1.0
        return a, True
    ranks = np.argsort(rng.random((n_perm, m)), axis=1)  # one random permutation per row
    a = np.zeros((n_perm, m), dtype=np.float64)
    np.put_along_axis(a, ranks[:, :m1], 1.0, axis=1)
    return a, False


def _sign_flips(m: int, n_perm: int, rng) -> tuple[np.ndarray, bool]:
    if 2 ** m <= n_perm:
        return np.array(list(itertools.product((1.0, -1.0), repeat=m))), True
    return rng.choice((1.0, -1.0), size=(n_perm, m)), False


def _perm_pvalue(null: np.ndarray, observed: np.ndarray, exact: bool) -> np.ndarray:
    """Two-sided p from a null distribution (rows) of the statistic (columns = keys)."""
    tol = 1e-12
    extreme = (np.abs(null) >= np.abs(observed)[None, :] - tol).sum(axis=0)
    if exact:  # the identity relabelling is one of the rows
        p = extreme / null.shape[0]
    else:
        p = (1 + extreme) / (1 + null.shape[0])
    return np.where(np.isfinite(observed), p, np.nan)


def independent_pvalues(c1, d1, c2, d2, options: StatsOptions, rng) -> tuple[np.ndarray, bool]:
    """p-values (per key) for the difference of pooled probabilities of two groups of models."""
    m1, m2 = len(c1), len(c2)
    if options.test == "welch":
        x1, x2 = _ratio(c1, d1), _ratio(c2, d2)
        if m1 < 2 or m2 < 2:
            return np.full(c1.shape[1], np.nan), False
        with np.errstate(invalid="ignore", divide="ignore"):
            res = sps.ttest_ind(x1, x2, axis=0, equal_var=False, nan_policy="omit")
        p = np.asarray(res.pvalue, dtype=float)
        same = np.nanmax(np.vstack([x1, x2]), axis=0) == np.nanmin(np.vstack([x1, x2]), axis=0)
        return np.where(same, 1.0, p), False
    c = np.vstack([c1, c2])
    d = np.vstack([d1, d2])
    observed = _ratio(c1.sum(0), d1.sum(0)) - _ratio(c2.sum(0), d2.sum(0))
    a, exact = _independent_assignments(m1, m2, options.n_permutations, rng)
    b = 1.0 - a
    p = np.empty(c.shape[1])
    for lo in range(0, c.shape[1], 512):  # key blocks bound the memory of the null matrix
        sl = slice(lo, lo + 512)
        null = _ratio(a @ c[:, sl], a @ d[:, sl]) - _ratio(b @ c[:, sl], b @ d[:, sl])
        null = np.nan_to_num(null, nan=0.0)
        p[sl] = _perm_pvalue(null, observed[sl], exact)
    return p, exact


def paired_pvalues(x1: np.ndarray, x2: np.ndarray, options: StatsOptions, rng) -> tuple[np.ndarray, bool]:
    """p-values (per key) for the mean per-model difference x1 − x2 (rows: the same models)."""
    diff = x1 - x2
    m = diff.shape[0]
    if options.test == "welch":
        if m < 2:
            return np.full(diff.shape[1], np.nan), False
        with np.errstate(invalid="ignore", divide="ignore"):
            res = sps.ttest_rel(x1, x2, axis=0, nan_policy="omit")
        p = np.asarray(res.pvalue, dtype=float)
        return np.where(np.nanmax(np.abs(diff), axis=0) == 0, 1.0, p), False
    if m == 0:
        return np.full(diff.shape[1], np.nan), False
    valid = np.isfinite(diff)
    diff0 = np.where(valid, diff, 0.0)
    n_valid = valid.sum(axis=0)
    observed = _ratio(diff0.sum(axis=0), n_valid.astype(float))
    s, exact = _sign_flips(m, options.n_permutations, rng)
    null = _ratio(s @ diff0, np.broadcast_to(n_valid.astype(float), (s.shape[0], diff.shape[1])))
    return _perm_pvalue(np.nan_to_num(null), observed, exact), exact


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH q-values; NaN p-values stay NaN and do not count in the number of tests."""
    p = np.asarray(p, dtype=float)
    q = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        q[ok] = sps.false_discovery_control(p[ok], method="bh")
    return q


@dataclass(frozen=True)
class ComparisonPair:
    """Two groups one test compares; ``units_1``/``units_2``: rows of the units table (stage
    comparisons: the same models, in the same order, on both sides)."""

    family: Literal["stage", "mutant", "conformation"]
    group_1: tuple[str, str, str]
    group_2: tuple[str, str, str]
    units_1: np.ndarray
    units_2: np.ndarray

    @property
    def n_models(self) -> tuple[int, int]:
        return len(self.units_1), len(self.units_2)


def comparison_pairs(units: Units) -> list[ComparisonPair]:
    """Every comparison the statistics make (see the module docstring), in report order: stages
    (paired: the models present at both), mutants (same conformation and stage), conformations
    (one mutant at one stage, classified models only)."""
    t = units.table.reset_index(drop=True)
    groups = group_index(units)
    by_group = {tuple(r[:3]): r[3] for r in groups.itertuples(index=False)}
    out: list[ComparisonPair] = []
    for (mutant, conf), sub in groups.groupby(["mutant", "conformation"], sort=False):
        stages = sub.sort_values("stage", key=lambda s: stage_rank(s))["stage"].tolist()
        for s1, s2 in itertools.combinations(stages, 2):
            u1, u2 = by_group[(mutant, conf, s1)], by_group[(mutant, conf, s2)]
            m1 = pd.Series(u1, index=t.loc[u1, "model_id"].to_numpy())
            m2 = pd.Series(u2, index=t.loc[u2, "model_id"].to_numpy())
            common = m1.index.intersection(m2.index)
            out.append(ComparisonPair("stage", (mutant, conf, s1), (mutant, conf, s2),
                                      m1[common].to_numpy(), m2[common].to_numpy()))
    for (conf, stage), sub in groups.groupby(["conformation", "stage"], sort=False):
        for g1, g2 in itertools.combinations(sorted(sub["mutant"].tolist()), 2):
            out.append(ComparisonPair("mutant", (g1, conf, stage), (g2, conf, stage),
                                      by_group[(g1, conf, stage)], by_group[(g2, conf, stage)]))
    for (mutant, stage), sub in groups.groupby(["mutant", "stage"], sort=False):
        confs = sorted(c for c in sub["conformation"].tolist() if c != "None")
        for c1, c2 in itertools.combinations(confs, 2):
            out.append(ComparisonPair("conformation", (mutant, c1, stage), (mutant, c2, stage),
                                      by_group[(mutant, c1, stage)], by_group[(mutant, c2, stage)]))
    return out


def compare(units: Units, keys: pd.DataFrame, probabilities: pd.DataFrame,
            options: StatsOptions) -> pd.DataFrame:
    """All pairwise comparisons (stage, mutant, conformation families), BH per family.

    Columns: family, mutant_1, conformation_1, stage_1, mutant_2, conformation_2, stage_2, key,
    p_1, p_2, delta (= p_1 − p_2, pooled probabilities), n_models_1, n_models_2, p_value, q_value,
    test, exact.
    """
    rng = np.random.default_rng(options.seed + 1)
    key_names = keys["key"].to_numpy()
    prob = probabilities.set_index(GROUP + ["key"])["probability"]
    rows = []

    def pooled(g):
        return prob.loc[tuple(g)].reindex(key_names).to_numpy() if len(key_names) else np.zeros(0)

    for pair in comparison_pairs(units):
        u1, u2 = pair.units_1, pair.units_2
        if pair.family == "stage":
            x1 = _ratio(units.counts[u1], units.denominators[u1])
            x2 = _ratio(units.counts[u2], units.denominators[u2])
            p, exact = paired_pvalues(x1, x2, options, rng)
        else:
            p, exact = independent_pvalues(units.counts[u1], units.denominators[u1], units.counts[u2],
                                           units.denominators[u2], options, rng)
        g1, g2 = pair.group_1, pair.group_2
        p1, p2 = pooled(g1), pooled(g2)
        rows.append(pd.DataFrame({
            "family": pair.family, "mutant_1": g1[0], "conformation_1": g1[1], "stage_1": g1[2],
            "mutant_2": g2[0], "conformation_2": g2[1], "stage_2": g2[2], "key": key_names,
            "p_1": p1, "p_2": p2, "delta": p1 - p2, "n_models_1": len(u1), "n_models_2": len(u2),
            "p_value": p, "test": test_label(pair.family, options), "exact": exact}))
    if not rows:
        return pd.DataFrame(columns=["family", "mutant_1", "conformation_1", "stage_1", "mutant_2",
                                     "conformation_2", "stage_2", "key", "p_1", "p_2", "delta",
                                     "n_models_1", "n_models_2", "p_value", "q_value", "test", "exact"])
    out = pd.concat(rows, ignore_index=True)
    out["q_value"] = np.nan
    for fam, ix in out.groupby("family").indices.items():
        out.loc[out.index[ix], "q_value"] = benjamini_hochberg(out["p_value"].to_numpy()[ix])
    return out


def test_label(family: str, options: StatsOptions) -> str:
    """The name of the test a comparison of ``family`` uses, as the tables state it."""
    if family == "stage":
        return "paired t" if options.test == "welch" else "sign-flip permutation (paired models)"
    return "welch" if options.test == "welch" else "permutation (models relabelled)"


# --------------------------------------------------------------------------- what the data can test
def p_value_floor(family: str, n_1: int, n_2: int, options: StatsOptions) -> float:
    """The smallest p-value the chosen test can give for ``n_1`` vs ``n_2`` models (NaN: no test).

    Permutation over models, exact: the observed labelling is one of C(n_1 + n_2, n_1) (paired
    stages: one of 2^n sign flips), and with equal sides its mirror image is as extreme, so
    p >= 2 / C(2n, n) (paired: 2 / 2^n); Monte Carlo: p >= 1 / (1 + n_permutations).  Welch's
    and the paired t-tests have no floor (0) from two models per side (paired: two models) on.
    """
    if family == "stage":
        m = n_1
        if options.test == "welch":
            return 0.0 if m >= 2 else math.nan
        if m == 0:
            return math.nan
        return 2.0 / 2 ** m if 2 ** m <= options.n_permutations else 1.0 / (1 + options.n_permutations)
    if n_1 == 0 or n_2 == 0:
        return math.nan
    if options.test == "welch":
        return 0.0 if min(n_1, n_2) >= 2 else math.nan
    total = math.comb(n_1 + n_2, n_1)
    if total > options.n_permutations:
        return 1.0 / (1 + options.n_permutations)
    return (2.0 if n_1 == n_2 else 1.0) / total


def min_models_per_group(family: str, options: StatsOptions, limit: int = 64) -> int | None:
    """Fewest models per group (equal groups; paired: models) for which p <= alpha is possible."""
    for n in range(1, limit + 1):
        floor = p_value_floor(family, n, n, options)
        if np.isfinite(floor) and floor <= options.alpha:
            return n
    return None


def testability(units: Units, options: StatsOptions) -> pd.DataFrame:
    """One row per comparison: the models on each side, the test, the smallest p-value it can give
    (``p_floor``) and whether that can reach ``alpha`` (``can_reach_alpha``); ``min_models`` is the
    fewest models per group the family's test needs to reach ``alpha`` at all."""
    rows = []
    for pair in comparison_pairs(units):
        n1, n2 = pair.n_models
        floor = p_value_floor(pair.family, n1, n2, options)
        rows.append({"family": pair.family, "mutant_1": pair.group_1[0], "conformation_1": pair.group_1[1],
                     "stage_1": pair.group_1[2], "mutant_2": pair.group_2[0],
                     "conformation_2": pair.group_2[1], "stage_2": pair.group_2[2],
                     "n_models_1": n1, "n_models_2": n2, "test": test_label(pair.family, options),
                     "p_floor": floor, "can_reach_alpha": bool(np.isfinite(floor) and floor <= options.alpha),
                     "min_models": min_models_per_group(pair.family, options)})
    columns = ["family", "mutant_1", "conformation_1", "stage_1", "mutant_2", "conformation_2", "stage_2",
               "n_models_1", "n_models_2", "test", "p_floor", "can_reach_alpha", "min_models"]
    return pd.DataFrame(rows, columns=columns).astype({"min_models": "Int64"})


# --------------------------------------------------------------------------- signatures
def robustness(probabilities: pd.DataFrame, options: StatsOptions) -> pd.DataFrame:
    """Per (mutant, conformation, key): n_stages, min/max probability over stages, spread, robust."""
    g = probabilities.dropna(subset=["probability"]).groupby(["mutant", "conformation", "key"], sort=False)
    out = g["probability"].agg(n_stages="count", p_min="min", p_max="max").reset_index()
    out["spread"] = out["p_max"] - out["p_min"]
    out["robust"] = (out["n_stages"] >= 2) & (out["spread"] <= options.delta_robust + 1e-12)
    return out


def signatures(comparisons: pd.DataFrame, probabilities: pd.DataFrame, keys: pd.DataFrame,
               options: StatsOptions) -> pd.DataFrame:
    """Significant (mutants) / discriminating (conformations) keys and whether they are signatures.

    One row per (family, side 1, side 2, key) passing at one or more stages, with: stages where it
    passes, the largest |delta| and the smallest q there, the robustness of each side, the key's
    stage presence (``stages``, ``only_in_stage``) and ``signature`` (passes and robust on both
    sides).
    """
    cmp_ = comparisons[comparisons["family"].isin(["mutant", "conformation"])]
    delta_min = np.where(cmp_["family"] == "mutant", options.delta_significant,
                         options.delta_discriminating)
    passing = cmp_[(cmp_["delta"].abs() >= delta_min - 1e-12) & (cmp_["q_value"] <= options.alpha)]
    cols = ["family", "mutant_1", "conformation_1", "mutant_2", "conformation_2", "key",
            "stages_passing", "delta_max_abs", "delta_sign", "q_min", "robust_1", "robust_2",
            "stages", "only_in_stage", "signature", "kind"]
    if passing.empty:
        return pd.DataFrame(columns=cols)
    rob = robustness(probabilities, options).set_index(["mutant", "conformation", "key"])["robust"]
    grp = passing.assign(_r=stage_rank(passing["stage_1"]), _a=passing["delta"].abs())
    grp = grp.sort_values("_r")
    agg = grp.groupby(["family", "mutant_1", "conformation_1", "mutant_2", "conformation_2", "key"],
                      sort=False).agg(stages_passing=("stage_1", lambda s: ",".join(s)),
                                      delta_max_abs=("_a", "max"),
                                      delta_sign=("delta", lambda d: int(np.sign(d.iloc[np.argmax(np.abs(d.to_numpy()))]))),
                                      q_min=("q_value", "min")).reset_index()
    agg["robust_1"] = [bool(rob.get((m, c, k), False)) for m, c, k in
                       zip(agg["mutant_1"], agg["conformation_1"], agg["key"])]
    agg["robust_2"] = [bool(rob.get((m, c, k), False)) for m, c, k in
                       zip(agg["mutant_2"], agg["conformation_2"], agg["key"])]
    meta = keys.set_index("key")
    agg["stages"] = agg["key"].map(meta["stages"]) if "stages" in meta else ""
    agg["only_in_stage"] = agg["key"].map(meta["only_in_stage"]) if "only_in_stage" in meta else ""
    agg["signature"] = agg["robust_1"] & agg["robust_2"]
    agg["kind"] = np.where(agg["family"] == "mutant", "significant", "discriminating")
    return agg[cols].sort_values(["family", "signature", "delta_max_abs"],
                                 ascending=[True, False, False]).reset_index(drop=True)
