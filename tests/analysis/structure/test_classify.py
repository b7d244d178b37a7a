"""Conformational classification of docked models: the builder's packings are recovered, an odd
model stays None, the number of groups is chosen by silhouette or given."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mpflow.analysis.structure.classify import classify
from mpflow.analysis.structure.geometry import geometry_of_models
from sklearn.metrics import adjusted_rand_score


@pytest.fixture(scope="module")
def features(g83i_models):
    models, odd = g83i_models
    table = geometry_of_models([m.path for m in models] + [odd.path])
    truth = [m.packing for m in models] + ["odd"]
    return table, truth


def test_packings_are_recovered_and_the_odd_model_stays_none(features):
    table, truth = features
    result = classify(table)
    assert result.criterion == "silhouette"
    assert result.n_groups == 4
    assert table["model"].iloc[-1] == "odd_001"
    assert result.labels.iloc[-1] is None
    assert adjusted_rand_score(truth[:-1], result.labels.iloc[:-1].tolist()) >= 0.9
    assert set(result.labels.iloc[:-1]) == {"Conformation1", "Conformation2", "Conformation3",
                                            "Conformation4"}
    # centroids are in feature units: two right-handed (≈ −40°) and two left-handed (≈ +20°)
    crossing = sorted(result.centroids["crossing_angle_deg"].round(-1).tolist())
    assert crossing == [-40.0, -40.0, 20.0, 20.0]


def test_given_number_of_groups_splits_by_handedness(features):
    table, truth = features
    result = classify(table.iloc[:-1], n_groups=2)
    assert result.criterion == "given"
    hand = [t.split("-")[0] for t in truth[:-1]]
    assert adjusted_rand_score(hand, result.labels.tolist()) == 1.0


def test_one_packing_is_one_group(features):
    table, truth = features
    same = table.iloc[[i for i, t in enumerate(truth) if t == truth[0]]]
    result = classify(same)
    assert result.criterion == "one group"
    assert result.labels.tolist() == ["Conformation1"] * len(same)


def test_groups_are_numbered_by_size_and_missing_features_stay_none():
    rng = np.random.default_rng(0)
    big = np.column_stack([rng.normal(-40, 1, 8), rng.normal(9.5, 0.2, 8)])
    small = np.column_stack([rng.normal(20, 1, 4), rng.normal(12, 0.2, 4)])
    rows = np.vstack([small, big, [[np.nan, np.nan]]])
    table = pd.DataFrame(rows, columns=["crossing_angle_deg", "distance_A"])
    result = classify(table)
    assert result.labels.tolist() == ["Conformation2"] * 4 + ["Conformation1"] * 8 + [None]
    assert np.isnan(result.distance.iloc[-1])


def test_physical_scales_can_replace_the_spread(features):
    table, truth = features
    # 10° of crossing weighing like 1 Å: the 1.5 Å distance split is small next to the 60° one,
    # so the silhouette prefers the two handedness groups
    result = classify(table.iloc[:-1], scales={"crossing_angle_deg": 10.0, "distance_A": 1.0})
    assert result.n_groups == 2


def test_unknown_feature_is_refused(features):
    table, _ = features
    with pytest.raises(ValueError, match="lack the columns"):
        classify(table, columns=["no_such_column"])
