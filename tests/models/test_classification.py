"""Classification of imported models: the builder's packings are recovered and an odd model stays
None; re-classification keeps the group of a model that has started and moves the others' folders
on both clusters; group names stay stable when models are added."""

from __future__ import annotations

from pathlib import Path

import pytest
from sklearn.metrics import adjusted_rand_score
from sqlalchemy import select

from mpflow.models.groups import GroupRecord, assign_groups, stable_names
from mpflow.models.importing import classify_models, import_models
from mpflow.store.schema import Event, Model, ModelStage


def _groups(proj) -> dict[str, str]:
    with proj.Session() as s:
        return dict(s.execute(select(Model.name, Model.group)).all())


def _dirs(proj, cluster: int, mutant="GpA-WT") -> set[tuple[str, str]]:
    """(group, model) folders of ``mutant`` on one cluster."""
    base = Path(proj.clusters[cluster].workdir) / mutant
    return {(g.name, m.name) for g in base.iterdir() for m in g.iterdir()}


def test_packings_are_recovered_and_started_models_keep_their_group(proj, built):
    models, odd = built
    report = import_models(proj.project, proj.Session, "GpA-WT", [m.path for m in models] + [odd.path])
    assert (report.criterion, report.n_groups) == ("silhouette", 4)
    groups = _groups(proj)
    assert groups["odd_001"] == "None"
    truth = [m.packing for m in models]
    assert adjusted_rand_score(truth, [groups[m.name] for m in models]) >= 0.9
    assert set(groups.values()) == {"Conformation1", "Conformation2", "Conformation3", "Conformation4", "None"}
    expected = {(g, n) for n, g in groups.items()}
    assert _dirs(proj, 0) == expected
    assert _dirs(proj, 1) == expected

    # one model starts its preparation; then the user asks for two groups (handedness)
    started = models[0].name
    with proj.Session.begin() as s:
        mid = s.scalar(select(Model.id).where(Model.name == started))
        s.execute(ModelStage.__table__.update().where(ModelStage.model_id == mid, ModelStage.stage == "prep")
                  .values(state="active"))
    before = _groups(proj)
    report = classify_models(proj.project, proj.Session, "GpA-WT", n_groups=2)
    after = _groups(proj)
    assert after[started] == before[started]
    hand = {m.name: m.packing.split("-")[0] for m in models}
    moved = [n for n in after if n != started and after[n] != before[n]]
    assert sorted(report.moved) == sorted(moved) and moved
    # every other model of the started one's hand joined its group; the other hand is one group
    same_hand = {n for n in hand if hand[n] == hand[started]}
    assert {after[n] for n in same_hand} == {before[started]}
    assert len({after[n] for n in hand if n not in same_hand}) == 1
    expected = {(g, n) for n, g in after.items()}
    for cluster in (0, 1):
        assert _dirs(proj, cluster) == expected
    with proj.Session() as s:
        regrouped = s.scalars(select(Event.model_id).where(Event.kind == "regrouped")).all()
    assert len(regrouped) == len(moved)


def test_adding_models_keeps_the_group_names(proj, built):
    models, _ = built
    first = import_models(proj.project, proj.Session, "GpA-WT", [m.path for m in models[:16]])
    assert first.n_groups == 4
    before = _groups(proj)
    import_models(proj.project, proj.Session, "GpA-WT", [m.path for m in models[16:]])
    after = _groups(proj)
    assert {n: after[n] for n in before} == before  # nobody renamed or moved
    by_packing = {}
    for m in models:
        by_packing.setdefault(m.packing, set()).add(after[m.name])
    assert all(len(g) == 1 for g in by_packing.values())


def test_stable_names_follow_the_largest_overlap():
    labels = {"a": "Conformation1", "b": "Conformation1", "c": "Conformation2", "d": "Conformation3"}
    previous = {"a": "Conformation2", "b": "Conformation2", "c": "Conformation1"}
    assert stable_names(labels, previous, reserved=set()) == {
        "Conformation1": "Conformation2", "Conformation2": "Conformation1", "Conformation3": "Conformation3"}
    # a reserved name (a started model's group) is not given to a new cluster
    assert stable_names({"x": "Conformation1"}, {}, reserved={"Conformation1"}) == \
        {"Conformation1": "Conformation2"}


@pytest.mark.parametrize("records,expected", [
    ([], {}),
    ([GroupRecord("a", "ok", {"crossing_angle_deg": -40.0, "distance_A": 9.0}, None, False)], {"a": "None"}),
    ([GroupRecord("a", "waiting", None, None, False),
      GroupRecord("b", "ok", {"crossing_angle_deg": None, "distance_A": None}, "None", False),
      GroupRecord("c", "ok", None, "Conformation3", True)],
     {"a": "None", "b": "None", "c": "Conformation3"}),
])
def test_too_few_models_stay_unclassified(records, expected):
    result = assign_groups(records)
    assert (result.groups, result.criterion) == (expected, "none")
