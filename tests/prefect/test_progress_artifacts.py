"""The flows' artifacts in a real Prefect API (the test harness), on a jobs database holding a run in
progress with known numbers (``tests/progress_helpers.py``): the progress bar (created once per run,
then updated in place), the table per mutant × stage × state, the tick's summary with the running
jobs, and the link to the latest analysis report."""

from __future__ import annotations

import json

from progress_helpers import seed_progress_project

from mpflow.manager.pipeline import progress
from mpflow.manager.tick import TickReport
from mpflow.states import StageState
from mpflow.store.database import open_database
from mpflow.store.records import StageChange, stage_records, update_stages
from mpflow.store.schema import utcnow


def test_progress_table_and_tick_artifacts(prefect_api, tmp_path):
    from mpflow.flows.artifacts import ProgressArtifacts, artifact_key, publish_tick
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    project = seed_progress_project(tmp_path / "watched", utcnow())
    (project.root / "analysis").mkdir()
    (project.root / "analysis" / "report.html").write_text("<html>report</html>")
    Session = open_database(project.database_url)

    @flow(name="artifacts-under-test")
    def run() -> tuple:
        artifacts = ProgressArtifacts(project)
        artifacts.publish(progress(Session, project), "all 2 selected model(s) through urmd in about 12 min")
        first = artifacts.progress_id
        with Session.begin() as s:  # m1's urmd is done: the bar moves, the table is made again
            [st] = [st for st in stage_records(s, stages=["urmd"]) if st.name == "m1"]
            update_stages(s, [StageChange(st.id, state=StageState.DONE)])
        artifacts.publish(progress(Session, project), "all 1 selected model(s) through urmd in about 12 min")
        artifacts.publish(progress(Session, project), "all 1 selected model(s) through urmd in about 12 min")
        publish_tick(TickReport("test"), project, Session)
        return first, artifacts.progress_id

    first, again = run()
    assert first == again  # one progress artifact per run, updated in place

    def latest(key):
        with get_client(sync_client=True) as client:
            found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
        return sorted(found, key=lambda a: a.created)

    [bar] = latest(artifact_key(project, "progress"))
    assert bar.type == "progress" and bar.data == 100.0 * 7 / 12  # 6 of 12 done, then m1's urmd
    assert "**7 of 12 model-stages done**, 1 active" in bar.description
    assert "all 1 selected model(s) through urmd" in bar.description
    assert f"[{project.root / 'analysis' / 'report.html'}](file://" in bar.description
    assert "(/artifacts/key/analysis-report)" in bar.description
    tables = latest(artifact_key(project, "stages"))
    assert len(tables) == 2  # made again only when the counts changed
    rows = json.loads(tables[-1].data)  # a table artifact's data is its rows as JSON
    assert {"mutant": "WT", "stage": "urmd", "state": "done", "model-stages": 1} in rows
    assert {"mutant": "WT", "stage": "prep", "state": "held", "model-stages": 1} in rows
    [tick] = latest("manager-tick")[-1:]
    assert "Running jobs (2), from their logs:" in tick.data
    assert "| WT/None/m1 | urmd | alpha | 125,000/500,000 steps (25%) · 0.25/1 ns · 150 ns/day · ends ~" in tick.data
    assert "| WT/None/m2 | urmd | beta | 1,000/500,000 steps (0%)" in tick.data
    assert "| alpha | prmd | ~29,000 | 160 | 160-160 | 1 |" in tick.data
    assert "- prmd at ~29,000 atoms: alpha is 2.00x as fast as beta" in tick.data
    assert "**Forecast**: all 1 selected model(s)" in tick.data
