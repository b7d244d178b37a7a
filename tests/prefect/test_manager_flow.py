"""The manager flow in a real Prefect API: task runs per tick, events per transition, a summary artifact."""

from __future__ import annotations

import json

import httpx
import pytest
from cluster_helpers import wait_until
from manager_helpers import make_bench

from mpflow.store.backups import backup_database, restore_database

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

STAGE = '[stages.probe]\nkind = "script"\ncommands = ["sleep 30", "echo ok > probe.gro"]\ntime_limit_min = 5\n'


def _events(api_url: str, name: str, resource_prefix: str) -> list[dict]:
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    query = {"filter": EventFilter(event=EventNameFilter(name=[name]),
                                   resource=EventResourceFilter(id_prefix=[resource_prefix])).model_dump(mode="json"),
             "limit": 50}
    res = httpx.post(f"{api_url}/events/filter", json=query, timeout=30)
    res.raise_for_status()
    return res.json()["events"]


def test_a_tick_emits_an_event_per_transition_and_leaves_a_summary(prefect_api, tmp_path, master, slave):
    from mpflow.flows.artifacts import artifact_key
    from mpflow.flows.manager import manager_flow
    from prefect.client.orchestration import get_client
    from prefect.events.worker import EventsWorker

    b = make_bench(tmp_path, [master, slave], STAGE)
    try:
        models = b.add_models("m1", "m2", "m3")
        state = manager_flow(project=str(b.root), return_state=True)
        assert state.is_completed()
        assert state.result()["submitted"] == {master.name: 3, slave.name: 3}
        EventsWorker.drain_all()
        prefix = f"mpflow.{b.project.config.project.name}.model."
        # the server stores events as it ingests them: wait for the six of this tick
        def six():
            found = _events(prefect_api, "mpflow.job.submitted", prefix)
            return found if len(found) >= 6 else None

        submitted = wait_until("the tick's six submitted events", six, timeout=30)
        assert sorted((int(e["resource"]["mpflow.model"]), e["resource"]["mpflow.cluster"]) for e in submitted) == \
            sorted((m, c) for m in models for c in (master.name, slave.name))
        with get_client(sync_client=True) as client:
            runs = client.read_task_runs()
            mine = [r for r in runs if r.flow_run_id == state.state_details.flow_run_id]
            artifacts = client.read_artifacts()
        # constant per tick: observe nothing yet, one advance batch (the stage's three models made
        # ready), one submit task per cluster; and, this project's first tick, one claim of its folder
        # per cluster (recorded, never asked again)
        assert sorted(r.name for r in mine) == [f"claim-{master.name}", f"claim-{slave.name}", "prepare-probe-3",
                                                f"submit-{master.name}-3-jobs", f"submit-{slave.name}-3-jobs"]
        run_id = state.state_details.flow_run_id
        tick = [a for a in artifacts if a.key == "manager-tick" and a.flow_run_id == run_id]
        assert len(tick) == 1 and "What dual submission bought (`mpflow status --summary`)" in tick[0].data
        assert "| probe | PD |" in tick[0].data and "**Forecast**:" in tick[0].data
        # the project's progress bar (none of the three model-stages done yet) and its stage table
        [bar] = [a for a in artifacts if a.key == artifact_key(b.project, "progress") and a.flow_run_id == run_id]
        assert bar.type == "progress" and bar.data == 0.0 and "**0 of 3 model-stages done**, 3 active" in bar.description
        [table] = [a for a in artifacts if a.key == artifact_key(b.project, "stages") and a.flow_run_id == run_id]
        assert json.loads(table.data) == [{"mutant": b.mutant, "stage": "probe", "state": "active", "model-stages": 3}]
    finally:
        b.cleanup()


def test_after_a_restore_the_flow_surveys_each_cluster_in_a_task_run_and_adopts_what_it_finds(
        prefect_api, tmp_path, master, slave):
    from mpflow.flows.manager import manager_flow
    from prefect.client.orchestration import get_client

    b = make_bench(tmp_path, [master, slave], STAGE)
    try:
        b.add_models("m1")
        url = b.project.database_url
        backup_database(url, tmp_path / "before.db")
        assert manager_flow(project=str(b.root))["submitted"] == {master.name: 1, slave.name: 1}
        restore_database(url, tmp_path / "before.db", clusters=[master.name, slave.name], keep=tmp_path / "kept.db")
        state = manager_flow(project=str(b.root), return_state=True)
        result = state.result()
        assert (result["adopted"], result["recovering"], result["submitted"]) == (
            {master.name: 1, slave.name: 1}, [], {})
        with get_client(sync_client=True) as client:
            names = {r.name for r in client.read_task_runs() if r.flow_run_id == state.state_details.flow_run_id}
        assert {f"survey-{master.name}", f"survey-{slave.name}"} <= names
        assert sorted(j.cluster for j in b.jobs()) == sorted([master.name, slave.name])  # no duplicate
    finally:
        b.cleanup()
