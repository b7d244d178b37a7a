"""Which conformation each model of a mutant belongs to, decided from its geometry and history.

The pure rule of step 3 of ``mpflow.models.importing`` (no database, no files): every model with status
``ok`` and a crossing angle and distance is classified (:func:`mpflow.analysis.structure.classify.classify`,
N by silhouette or given); each new cluster takes the name of the previous group it shares most
models with (one-to-one, :func:`stable_names`), so adding models does not rename groups; others
take the smallest free ``ConformationN``. A model that has **started** a stage keeps its group
(its folder holds its runs), yet it still counts in the clustering, so the group it is in keeps
its name. Outliers, models that are ``waiting`` and models without a measurable geometry are
``None``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from mpflow.analysis.structure.classify import classify
from mpflow.states import ModelStatus
from mpflow.tags import NO_GROUP

#: the geometry columns classification uses
FEATURES = ("crossing_angle_deg", "distance_A")


@dataclass(frozen=True)
class GroupRecord:
    """What classification needs of one model: ``group`` now (None: new), ``started``."""

    name: str
    status: str
    geometry: dict | None
    group: str | None
    started: bool


@dataclass
class GroupAssignment:
    """Groups after classification. ``criterion``: given, silhouette, one group, or none (fewer
    than two classifiable models); ``n_groups``: conformations among the classified models."""

    groups: dict[str, str]
    criterion: str
    n_groups: int
    classified: int


def _features(geometry: dict | None) -> tuple[float, ...] | None:
    if not geometry:
        return None
    values = tuple(geometry.get(c) for c in FEATURES)
    if any(v is None or not math.isfinite(float(v)) for v in values):
        return None
    return tuple(float(v) for v in values)


def _group_number(group: str) -> int:
    return int(group.removeprefix("Conformation"))


def stable_names(labels: dict[str, str], previous: dict[str, str], reserved: set[str]) -> dict[str, str]:
    """New cluster label → group name: each cluster takes the name of the previous group it shares
    most models with (one-to-one, maximum total overlap); the others take the smallest
    ``ConformationN`` not in use (previous names taken, or ``reserved``: groups of started models)."""

    new = sorted(set(labels.values()), key=_group_number)
    old = sorted({g for g in previous.values() if g != NO_GROUP}, key=_group_number)
    mapping: dict[str, str] = {}
    if new and old:
        overlap = np.zeros((len(new), len(old)), dtype=int)
        for name, label in labels.items():
            if previous.get(name, NO_GROUP) != NO_GROUP:
                overlap[new.index(label), old.index(previous[name])] += 1
        rows, cols = linear_sum_assignment(-overlap)
        mapping = {new[i]: old[j] for i, j in zip(rows, cols) if overlap[i, j] > 0}
    used = set(mapping.values()) | set(reserved)
    n = 1
    for label in new:
        if label in mapping:
            continue
        while f"Conformation{n}" in used:
            n += 1
        mapping[label] = f"Conformation{n}"
        used.add(mapping[label])
    return mapping


def assign_groups(records: Sequence[GroupRecord], n_groups: int | None = None) -> GroupAssignment:
    """Groups of one mutant's models (the rule is step 3 of the module docstring)."""
    groups = {r.name: (r.group if r.started and r.group else NO_GROUP) for r in records}
    usable = [r for r in records if r.status == ModelStatus.OK and _features(r.geometry) is not None]
    if len(usable) < 2:
        return GroupAssignment(groups, "none", 0, 0)
    table = pd.DataFrame([_features(r.geometry) for r in usable], columns=list(FEATURES),
                         index=[r.name for r in usable])
    result = classify(table, n_groups)
    labels = {name: label for name, label in result.labels.items() if label is not None}
    previous = {r.name: r.group for r in records if r.group}
    reserved = {r.group for r in records if r.started and r.group and r.group != NO_GROUP}
    names = stable_names(labels, previous, reserved)
    for r in usable:
        if not r.started:
            groups[r.name] = names[labels[r.name]] if r.name in labels else NO_GROUP
    return GroupAssignment(groups, result.criterion, result.n_groups, len(usable))
