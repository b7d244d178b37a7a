"""Prefect tasks of the ``models`` flow, each over a whole batch: all files of an import (check,
geometry), one mutant (classify, register), one cluster's tree (folders). Never one task per model.

The work is in ``mpflow.models.importing`` and ``mpflow.models.tree`` (the same functions ``mpflow import``
runs); the folder task alone is retried, and only when its cluster could not be reached or did not
answer in time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from mpflow.clusters.settings import ClusterSettings
from mpflow.models.importing import (
    GroupPlan,
    ImportPlan,
    ModelUpdate,
    commit,
    measure_geometry,
    plan_groups,
    plan_import,
)
from mpflow.models.tree import TreeChange, TreeError, TreeResult, apply_tree_change
from mpflow.project.file import Project
from mpflow.states import ModelStatus


def unreachable_only(task, task_run, state) -> bool:
    """Retry condition: the cluster could not be reached or did not answer in time."""
    try:
        state.result()
    except TreeError as exc:
        return exc.transient
    except Exception:  # anything else is not made better by trying again
        return False
    return False


@task(name="check-models", task_run_name="check-{mutant}", cache_policy=NO_CACHE)
def check_models(project: Project, Session, mutant: str, paths: Sequence[str], staging: Path, *,
                 each_model: bool = False) -> ImportPlan:
    plan = plan_import(project, Session, mutant, paths, staging, each_model=each_model)
    waiting = sum(1 for u in plan.updates if u.status == ModelStatus.WAITING)
    get_run_logger().info("%s: %d file(s) to import (%d waiting for completion), %d unchanged", mutant,
                          len(plan.updates), waiting, len(plan.unchanged))
    for note in plan.notes:
        get_run_logger().warning("%s: %s", mutant, note)
    return plan


@task(name="measure-geometry", task_run_name="geometry-{n}-models", cache_policy=NO_CACHE)
def measure_models(updates: list[ModelUpdate], n: int) -> list[ModelUpdate]:
    measure_geometry(updates)
    return updates


@task(name="classify-models", task_run_name="classify-{mutant}", cache_policy=NO_CACHE)
def classify_models(Session, mutant: str, updates: list[ModelUpdate], n_groups: int | None) -> GroupPlan:
    plan = plan_groups(Session, mutant, updates, n_groups)
    a = plan.assignment
    get_run_logger().info("%s: %d model(s) classified into %d conformation(s) [%s]; %d folder(s) to move",
                          mutant, a.classified, a.n_groups, a.criterion, len(plan.change.moves))
    return plan


@task(name="model-folders", task_run_name="folders-{settings.name}", retries=2, retry_delay_seconds=[2, 10],
      retry_condition_fn=unreachable_only, cache_policy=NO_CACHE)
def create_folders(settings: ClusterSettings, change: TreeChange, master: bool) -> TreeResult:
    result = apply_tree_change(settings, change, master=master)
    get_run_logger().info("%s: %d model folder(s), %d moved, %d file(s) placed, %d command(s)", result.cluster,
                          result.folders, result.moved, result.files, result.commands)
    return result


@task(name="register-models", task_run_name="register-{plan.mutant}", cache_policy=NO_CACHE)
def register_models(Session, project: Project, plan: GroupPlan, updates: list[ModelUpdate]) -> None:
    commit(Session, project, plan, updates)
