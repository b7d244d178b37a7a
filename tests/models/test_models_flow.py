"""The ``models`` flow under a real Prefect API (test harness): described parameters, a readable
run name, one task run per batch, the same result as the command; a bad file fails the run with
the command's one-line message and changes nothing."""

from __future__ import annotations

import pytest
from model_helpers import copy_built, edit_pdb, snapshot
from mpflow.flows.models import models_flow
from sqlalchemy import select

from mpflow.store.schema import Model


def test_parameters_are_described_for_the_ui():
    from prefect.utilities.callables import parameter_schema

    props = parameter_schema(models_flow).model_dump()["properties"]
    assert list(props) == ["mutant", "paths", "project", "groups", "each_model"]
    assert all(p.get("description") for p in props.values())
    assert props["groups"]["description"].startswith("Number of conformations")


@pytest.fixture
def folder(built, tmp_path):
    models, _ = built
    return copy_built(models[:8], tmp_path / "docked")


def test_flow_imports_with_one_task_run_per_batch(prefect_api, proj, folder):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    state = models_flow(mutant="GpA-WT", paths=[str(folder)], project=str(proj.root), return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert sorted(result["imported"]) == sorted(p.stem for p in folder.iterdir())
    assert result["clusters"] == ["alpha", "beta"]
    with proj.Session() as s:
        groups = dict(s.execute(select(Model.name, Model.group)).all())
    assert len(groups) == 8 and set(groups.values()) <= {"Conformation1", "Conformation2", "Conformation3",
                                                          "Conformation4", "None"}
    for name, group in groups.items():
        assert (proj.model_dir(0, "GpA-WT", group, name) / "model.pdb").is_file()
        assert proj.model_dir(1, "GpA-WT", group, name).is_dir()
    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        tasks = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    assert run.name == "GpA-WT: 8 model files"
    assert sorted(t.name for t in tasks) == ["check-GpA-WT", "classify-GpA-WT", "folders-alpha", "folders-beta",
                                             "geometry-8-models", "register-GpA-WT"]


def test_a_bad_file_fails_the_run_and_changes_nothing(prefect_api, proj, built, tmp_path):
    one_chain = edit_pdb(built[0][0].path, tmp_path / "one.pdb", keep=lambda line: line[21] == "A")
    before = snapshot(proj.project, proj.clusters)
    state = models_flow(mutant="GpA-WT", paths=[str(one_chain)], project=str(proj.root), return_state=True)
    assert state.is_failed()
    with pytest.raises(ValueError) as info:
        state.result()
    assert str(info.value) == "one.pdb: 1 chain (A) in the model, but GpA-WT is a dimer (2 chains)"
    assert snapshot(proj.project, proj.clusters) == before
