"""Statistics on synthetic decompositions whose true probabilities are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from mpflow.analysis.statistics.compute import compute
from mpflow.analysis.statistics.occurrence import (
    StatsOptions,
    benjamini_hochberg,
    cluster_bootstrap,
    group_probabilities,
    independent_pvalues,
    paired_pvalues,
)
from mpflow.analysis.statistics.pca_filter import FilterOptions, filter_keys
from mpflow.analysis.statistics.superbase import decompose, n_copies, units_of
from mpflow.analysis.statistics.synthetic import synthetic_tables

MUTANTS = ("GpA-WT", "G83I")
CONFS = ("Conformation1", "Conformation2")
STAGES = ("prmd", "urmd")


def planted(n_keys: int = 8) -> dict:
    """Truth: key 0 differs between mutants (0.6 vs 0.1), key 1 between conformations (0.2 vs 0.7),
    key 2 is in PRMD only (0.5 → 0), key 3 never occurs, key 4 always (p=1), key 5 rare (0.01),
    keys 6.. a flat 0.4 everywhere."""
    p = {}
    for m in MUTANTS:
        for c in CONFS:
            for s in STAGES:
                q = np.full(n_keys, 0.4)
                q[0] = 0.6 if m == "GpA-WT" else 0.1
                q[1] = 0.2 if c == "Conformation1" else 0.7
                q[2] = 0.5 if s == "prmd" else 0.0
                q[3], q[4], q[5] = 0.0, 1.0, 0.01
                p[(m, c, s)] = q
    return p


@pytest.fixture(scope="module")
def planted_result():
    tab = synthetic_tables(planted(), models_per_group=6, frames_per_stage={"prmd": 150, "urmd": 150},
                           model_sd=0.03, seed=3)
    dec = decompose(tab.frames, tab.occurrences, tab.keys)
    stats = StatsOptions(n_permutations=2000, n_bootstrap=500)
    return tab, dec, compute(dec, stats, FilterOptions()), stats


def test_probabilities_are_counts_over_chain_pairs_times_frames(planted_result):
    tab, dec, c, _ = planted_result
    probs = c.probabilities.set_index(["mutant", "conformation", "stage", "key"])
    keys = tab.keys["key"].tolist()
    # exact definition: total count over all occurrences / (2 copies × frames)
    occ = pd.concat(tab.occurrences).astype({"stage": str})
    frames = tab.frames.astype({"stage": str})
    meta = frames.drop_duplicates("model_id").set_index("model_id")[["mutant", "conformation"]]
    occ = occ.join(meta, on="model_id")
    for (m, conf, s) in [("GpA-WT", "Conformation1", "prmd"), ("G83I", "Conformation2", "urmd")]:
        n_frames = len(frames[(frames.mutant == m) & (frames.conformation == conf) & (frames.stage == s)])
        sub = occ[(occ.mutant == m) & (occ.conformation == conf) & (occ.stage == s)]
        for k in (keys[0], keys[1], keys[6]):
            expected = sub.loc[sub.key == k, "count"].astype(int).sum() / (2 * n_frames)
            assert probs.loc[(m, conf, s, k), "probability"] == pytest.approx(expected, abs=1e-12)
    # and close to the truth (6 models × 150 frames × 2 copies per group)
    truth = tab.truth.set_index(["mutant", "conformation", "stage", "key"])["probability"]
    kept = probs.index.intersection(truth.index)
    assert len(kept) == len(probs)
    # standard error ≈ 0.017 (model sd 0.03 over 6 models, binomial over 1,800 copies): 0.08 ≈ 4.7 SE
    assert np.abs(probs.loc[kept, "probability"] - truth.loc[kept]).max() < 0.08


def test_filter_drops_never_always_rare_and_records_why(planted_result):
    tab, dec, c, _ = planted_result
    keys = tab.keys["key"].tolist()
    reasons = dict(zip(c.filter.dropped["key"], c.filter.dropped["reason"]))
    # key 3 never occurs at all: not even in the super-base
    assert keys[3] not in set(dec.keys["key"])
    assert reasons[keys[4]] == "always present"
    assert reasons[keys[5]] == "rare"
    assert c.filter.dropped.set_index("key").loc[keys[5], "value"] <= 0.05
    kept = set(dec.keys.loc[c.filter.kept, "key"])
    assert {keys[0], keys[1], keys[2]} <= kept


def test_key_present_in_one_stage_is_reported_as_such(planted_result):
    tab, dec, c, _ = planted_result
    keys = tab.keys["key"].tolist()
    base = dec.keys.set_index("key")
    assert base.loc[keys[2], "stages"] == "prmd"
    assert base.loc[keys[2], "only_in_stage"] == "prmd"
    assert base.loc[keys[0], "stages"] == "prmd,urmd" and base.loc[keys[0], "only_in_stage"] == ""
    assert set(base.index[base["only_in_stage"] != ""]) == {keys[2]}
    # the stage comparison sees it vanish: paired test over the 6 models, exact (2^6 sign flips)
    st = c.comparisons[(c.comparisons.family == "stage") & (c.comparisons.key == keys[2])]
    assert len(st) == 4 and st["exact"].all()
    assert (st["delta"] > 0.4).all()
    assert st["p_value"].tolist() == pytest.approx([2 / 64] * 4)


def test_signatures_are_the_planted_differences(planted_result):
    tab, dec, c, stats = planted_result
    keys = tab.keys["key"].tolist()
    sig = c.signatures
    mutant = sig[sig.family == "mutant"]
    conf = sig[sig.family == "conformation"]
    assert set(mutant["key"]) == {keys[0]}
    assert set(conf["key"]) == {keys[1]}
    # 2 conformations → 2 mutant comparisons; 2 mutants → 2 conformation comparisons
    assert len(mutant) == 2 and len(conf) == 2
    assert (mutant["stages_passing"] == "prmd,urmd").all() and (conf["stages_passing"] == "prmd,urmd").all()
    assert mutant["signature"].all() and conf["signature"].all()
    assert (mutant["kind"] == "significant").all() and (conf["kind"] == "discriminating").all()
    # GpA-WT − G83I is negative in the comparison's orientation (G83I first, sorted names)
    assert set(mutant["mutant_1"]) == {"G83I"} and (mutant["delta_sign"] == -1).all()
    # no flat key (0.4 everywhere) is significant anywhere
    flat = c.comparisons[c.comparisons.key.isin(keys[6:])]
    assert (flat["q_value"] > stats.alpha).all()


def test_robust_needs_a_small_spread_over_stages(planted_result):
    tab, dec, c, stats = planted_result
    keys = tab.keys["key"].tolist()
    rob = c.robustness.set_index(["mutant", "conformation", "key"])
    assert not rob.loc[("GpA-WT", "Conformation1", keys[2]), "robust"]  # 0.5 → 0.0, spread > 0.4
    assert rob.loc[("GpA-WT", "Conformation1", keys[0]), "robust"]
    # a lower threshold makes the key-2 drop robust; a stricter one makes nothing robust
    loose = compute(dec, StatsOptions(delta_robust=0.6, n_permutations=200, n_bootstrap=100), FilterOptions())
    assert loose.robustness.set_index(["mutant", "conformation", "key"]).loc[
        ("GpA-WT", "Conformation1", keys[2]), "robust"]
    strict = compute(dec, StatsOptions(delta_robust=0.0, n_permutations=200, n_bootstrap=100), FilterOptions())
    assert not strict.signatures["signature"].any()


def test_thresholds_move_the_signature_set(planted_result):
    tab, dec, c, _ = planted_result
    keys = tab.keys["key"].tolist()
    # key 0 differs by 0.5, key 1 by 0.5: a δ of 0.6 leaves none
    high = compute(dec, StatsOptions(delta_significant=0.6, delta_discriminating=0.6,
                                     n_permutations=500, n_bootstrap=100), FilterOptions())
    assert high.signatures.empty
    only_conf = compute(dec, StatsOptions(delta_significant=0.6, n_permutations=500, n_bootstrap=100),
                        FilterOptions())
    assert set(only_conf.signatures["key"]) == {keys[1]}


def test_correlated_frames_do_not_shrink_the_intervals():
    """Models differ (sd 0.15 around p = 0.4) and frames persist (lag-1 0.98): the model-level
    interval is set by the models; the naive frame-level interval shrinks like 1/sqrt(frames)."""
    widths, naive = {}, {}
    for n_frames in (50, 2000):
        tab = synthetic_tables({("M", "Conformation1", "urmd"): np.array([0.4])}, models_per_group=8,
                               frames_per_stage={"urmd": n_frames}, model_sd=0.15, persistence=0.98,
                               seed=11)
        dec = decompose(tab.frames, tab.occurrences, tab.keys)
        units = units_of(dec)
        lo, hi = cluster_bootstrap(units.counts, units.denominators, 2000, 0.95, np.random.default_rng(0))
        widths[n_frames] = float(hi[0] - lo[0])
        p = units.counts.sum() / units.denominators.sum()
        naive[n_frames] = 2 * 1.96 * math.sqrt(p * (1 - p) / units.denominators.sum())
    assert widths[2000] > 0.6 * widths[50]          # does not shrink with frames
    assert widths[2000] > 0.10                      # of the order of the between-model spread
    assert naive[2000] < 0.25 * naive[50]           # while a frame-level one shrinks ~ sqrt(50/2000)
    assert widths[2000] > 5 * naive[2000]


def test_model_level_interval_covers_the_truth_where_a_frame_level_one_does_not():
    hits_model, hits_naive, reps = 0, 0, 40
    for r in range(reps):
        tab = synthetic_tables({("M", "Conformation1", "urmd"): np.array([0.4])}, models_per_group=10,
                               frames_per_stage={"urmd": 400}, model_sd=0.12, persistence=0.95,
                               seed=100 + r)
        units = units_of(decompose(tab.frames, tab.occurrences, tab.keys))
        lo, hi = cluster_bootstrap(units.counts, units.denominators, 1000, 0.95, np.random.default_rng(r))
        hits_model += lo[0] <= 0.4 <= hi[0]
        p = units.counts.sum() / units.denominators.sum()
        half = 1.96 * math.sqrt(p * (1 - p) / units.denominators.sum())
        hits_naive += p - half <= 0.4 <= p + half
    assert hits_model / reps >= 0.8
    assert hits_naive / reps <= 0.5


def test_single_model_groups_get_no_interval():
    tab = synthetic_tables({("M", "Conformation1", "urmd"): np.array([0.3, 0.6])}, models_per_group=1,
                           frames_per_stage={"urmd": 100}, seed=2)
    dec = decompose(tab.frames, tab.occurrences, tab.keys)
    probs = group_probabilities(units_of(dec), dec.keys, StatsOptions(n_bootstrap=50))
    assert probs["ci_low"].isna().all() and probs["ci_high"].isna().all()
    assert (probs["n_models"] == 1).all()


def test_exact_permutation_p_values_by_hand():
    rng = np.random.default_rng(0)
    opts = StatsOptions()
    # 3 vs 3 models, one frame-weight each: side 1 all above side 2 → the most extreme of C(6,3)=20
    c1 = np.array([[9.0], [8.0], [7.0]])
    c2 = np.array([[1.0], [2.0], [3.0]])
    d = np.full((3, 1), 10.0)
    p, exact = independent_pvalues(c1, d, c2, d, opts, rng)
    assert exact and p[0] == pytest.approx(2 / 20)   # two-sided: this split and its mirror
    # paired, 4 models all positive differences: 2 of 16 sign patterns are as extreme
    x1 = np.array([[0.5], [0.6], [0.7], [0.8]])
    x2 = np.zeros((4, 1))
    p, exact = paired_pvalues(x1, x2, opts, rng)
    assert exact and p[0] == pytest.approx(2 / 16)
    # identical groups → p = 1
    p, _ = independent_pvalues(c1, d, c1, d, opts, rng)
    assert p[0] == pytest.approx(1.0)


def test_benjamini_hochberg_by_hand():
    p = np.array([0.01, 0.04, 0.03, 0.5, np.nan])
    q = benjamini_hochberg(p)
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.04*4/3→min(0.0533, 0.0533)…
    assert q[0] == pytest.approx(0.04)
    assert q[2] == pytest.approx(0.04 * 4 / 3)
    assert q[1] == pytest.approx(0.04 * 4 / 3)
    assert q[3] == pytest.approx(0.5)
    assert np.isnan(q[4])


def test_chain_pair_copies():
    assert n_copies(1, False, 8) == 8          # the original study's C8 ring: 8 chain pairs
    assert n_copies(-1, False, 8) == 8
    assert n_copies(1, False, 2) == 2          # dimer: both orientations are +1
    assert n_copies(1, True, 2) == 1           # ... and a residue with itself is one copy
    assert n_copies(0, False, 5) == 5
    assert n_copies(None, False, 8) == 40      # non-adjacent ordered pairs: n(n − 3)
    assert n_copies(None, True, 8) == 20


def test_pca_filter_drops_a_key_unrelated_to_every_main_pattern():
    """Keys 0–5 switch together with the conformation (one strong component); key 6 is weak
    independent noise (p 0.08): its loading on the kept component is negligible."""
    probs = {}
    for c, on in (("Conformation1", 0.9), ("Conformation2", 0.1)):
        probs[("M", c, "urmd")] = np.array([on] * 6 + [0.08])
    tab = synthetic_tables(probs, models_per_group=4, frames_per_stage={"urmd": 300}, seed=5)
    dec = decompose(tab.frames, tab.occurrences, tab.keys)
    fr = filter_keys(dec, units_of(dec), FilterOptions(pca_variance=0.5, loading_min=0.3))
    reasons = dict(zip(fr.dropped["key"], fr.dropped["reason"]))
    assert reasons == {tab.keys["key"][6]: "negligible loading"}
    assert fr.n_components == 1
    assert (fr.loadings.set_index("key").loc[tab.keys["key"][:6], "max_abs_loading"] > 0.8).all()
    assert set(fr.scores.columns) >= {"PC1", "mutant", "conformation", "stage", "tag"}


# --------------------------------------------------------------------------- what the data can test
def test_p_value_floor_of_each_test():
    from mpflow.analysis.statistics.occurrence import (
        min_models_per_group,
        p_value_floor,
    )

    perm, welch = StatsOptions(), StatsOptions(test="welch")
    assert p_value_floor("mutant", 2, 2, perm) == pytest.approx(2 / 6)      # C(4,2) = 6, mirror as extreme
    assert p_value_floor("mutant", 4, 4, perm) == pytest.approx(2 / 70)
    assert p_value_floor("conformation", 3, 5, perm) == pytest.approx(1 / 56)  # unequal: no mirror
    assert p_value_floor("stage", 2, 2, perm) == 0.5 and p_value_floor("stage", 6, 6, perm) == 2 / 64
    assert p_value_floor("mutant", 20, 20, perm) == pytest.approx(1 / 10000)  # Monte Carlo
    assert p_value_floor("mutant", 2, 2, welch) == 0.0 and math.isnan(p_value_floor("mutant", 1, 3, welch))
    assert [min_models_per_group(f, perm) for f in ("mutant", "conformation", "stage")] == [4, 4, 6]
    assert min_models_per_group("mutant", StatsOptions(alpha=0.01)) == 5   # 2/252
    assert min_models_per_group("stage", welch) == 2


def test_two_models_per_mutant_cannot_reach_alpha_however_different_they_are():
    """Key 0 present in every frame of the wild type and never in G83I: p is still 1/3."""
    truth = {(m, "Conformation1", s): np.array([1.0 if m == "GpA-WT" else 0.0, 0.4])
             for m in MUTANTS for s in STAGES}
    tab = synthetic_tables(truth, models_per_group=2, frames_per_stage={"prmd": 20, "urmd": 20}, seed=1)
    stats = StatsOptions(n_bootstrap=50)
    c = compute(decompose(tab.frames, tab.occurrences, tab.keys), stats, FilterOptions())
    mutants = c.comparisons[(c.comparisons.family == "mutant") & (c.comparisons.key == tab.keys.key[0])]
    assert mutants["delta"].abs().tolist() == [1.0, 1.0]
    assert mutants["p_value"].tolist() == pytest.approx([1 / 3, 1 / 3])
    tb = c.testability
    assert tb.groupby("family")["p_floor"].unique().map(list).to_dict() == {"mutant": [pytest.approx(1 / 3)],
                                                                            "stage": [0.5]}
    assert not tb["can_reach_alpha"].any() and len(c.signatures) == 0
    assert tb["min_models"].tolist() == [6, 6, 4, 4]  # stages of each mutant, then the two mutant comparisons
