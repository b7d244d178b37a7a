"""`mpflow release` (issue 24, item 6): a model-stage held for a reason the user then fixes is put back
in the pipeline, and nothing else moves.

A real hold, without clusters: the project's preparation protocol is run on this machine (``run =
"local"``, the master a local folder) for a model whose ``model.pdb`` is not there yet, which holds it; the user puts the file in
place and releases the model; the next preparation runs it to done.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from local_clusters import use_local_clusters
from projects import make_project
from sqlalchemy import select
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.manager.pipeline import preparation_candidates, prepare_locally
from mpflow.manager.release import release_held
from mpflow.states import EventKind, StageState
from mpflow.store.database import open_database
from mpflow.store.records import (
    StageChange,
    Transition,
    add_model,
    ensure_model_stages,
    record_events,
    update_stages,
)
from mpflow.store.schema import Event, ModelStage
from mpflow.tags import MODEL_FILE, NO_GROUP, ModelTag

STAGES = """
[stages.prep]
kind = "protocol"
clusters = "master"
protocol = "quick"
run = "local"

[stages.collect]
kind = "script"
after = "prep"
commands = ["true"]
"""

QUICK = """
name = "quick"
[params]
greeting = "hi"
[[steps]]
name = "setup"
shell = "setup.sh.j2"
inputs = ["protein.pdb"]
outputs = ["done.txt"]
"""


@pytest.fixture
def bench(tmp_path, monkeypatch):
    use_local_clusters(tmp_path, monkeypatch)
    project = make_project(tmp_path / "p", stages=STAGES)
    templates = project.root / "templates"
    templates.mkdir()
    (templates / "quick.toml").write_text(QUICK)
    (templates / "setup.sh.j2").write_text("cp protein.pdb done.txt\necho {{ greeting }} >> done.txt\n")
    Session = open_database(project.database_url)
    with Session.begin() as s:
        ids = [add_model(s, mutant="WT", group=NO_GROUP, name=n) for n in ("m1", "m2")]
        add_model(s, mutant="G83I", group=NO_GROUP, name="m1")
        ensure_model_stages(s, project.config.stage_order())
    master = project.cluster_settings()[0]
    return project, Session, master, ids


def _prepare(project, Session, master):
    return prepare_locally(project, Session, master, preparation_candidates(Session, project))


def _states(Session) -> dict[tuple[int, str], tuple[str, str | None]]:
    with Session() as s:
        return {(m, st): (state, reason) for m, st, state, reason in
                s.execute(select(ModelStage.model_id, ModelStage.stage, ModelStage.state, ModelStage.reason))}


def _cli(project, *args):
    return CliRunner().invoke(app, ["release", *args, "--project", str(project.root)])


def test_a_held_preparation_is_released_and_then_runs_to_done(bench):
    project, Session, master, (m1, m2) = bench
    _prepare(project, Session, master)  # no model.pdb on the master yet: every model is held
    state, reason = _states(Session)[(m1, "prep")]
    assert state == StageState.HELD and "model.pdb" in reason
    assert _prepare(project, Session, master) == []  # held for good: nothing prepares it again

    model_dir = Path(ModelTag("WT", NO_GROUP, "m1").model_dir(master.workdir))
    model_dir.mkdir(parents=True)
    (model_dir / MODEL_FILE).write_text("ATOM\n")  # the user fixes what held it
    result = _cli(project, "WT/m1")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"released WT/None/m1 prep (waiting; it was held: {reason})",
        "1 model-stage(s) released: the next manager tick (or `mpflow run`) takes them on"]
    states = _states(Session)
    assert states[(m1, "prep")] == (StageState.WAITING, None)
    assert states[(m2, "prep")][0] == StageState.HELD  # only the model named
    with Session() as s:
        [event] = s.execute(select(Event.from_state, Event.to_state, Event.why)
                            .where(Event.kind == EventKind.RELEASED)).all()
    assert event == (StageState.HELD, StageState.WAITING, f"released; it was held: {reason}")

    _prepare(project, Session, master)
    assert _states(Session)[(m1, "prep")] == (StageState.DONE, None)
    assert (model_dir / "prep" / "done.txt").read_text() == "ATOM\nhi\n"


def test_release_chooses_by_stage_and_mutant_and_says_when_nothing_is_held(bench):
    project, Session, master, (m1, m2) = bench
    result = _cli(project)
    assert (result.exit_code, result.output) == (0, "nothing to release: no model-stage is held\n")
    _prepare(project, Session, master)
    assert _cli(project, "--stage", "collect").output == "nothing to release: no model-stage is held (stage collect)\n"
    result = _cli(project, "--mutant", "G83I")
    assert result.exit_code == 0 and result.output.startswith("released G83I/None/m1 prep (waiting; it was held: ")
    assert _states(Session)[(m1, "prep")][0] == StageState.HELD
    result = _cli(project)
    assert [line.split(" (")[0] for line in result.output.splitlines()[:-1]] == [
        "released WT/None/m1 prep", "released WT/None/m2 prep"]


@pytest.mark.parametrize("args,message", [
    (["nope"], "error: no model 'nope'; see `mpflow models`"),
    (["m1"], "error: model 'm1' is a model of G83I, WT: name it MUTANT/NAME (or give --mutant)"),
    (["WT/Conformation1/m1"], "error: no model 'WT/Conformation1/m1'; see `mpflow models`"),
    (["a/b/c/d"], "error: model 'a/b/c/d': name it NAME, MUTANT/NAME or MUTANT/GROUP/NAME"),
    (["--stage", "emmd"], "error: --stage: no stage 'emmd' (stages: prep, collect)"),
    (["--mutant", "X"], "error: --mutant: no mutant 'X' in the project (mutants: G83I, WT)"),
])
def test_bad_names_are_one_line_and_release_nothing(bench, args, message):
    project, Session, master, _ = bench
    _prepare(project, Session, master)
    before = _states(Session)
    result = _cli(project, *args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [message] or result.output.startswith(message), result.output
    assert _states(Session) == before


def test_a_stage_held_while_its_outputs_came_back_is_released_to_finishing(bench):
    """Held from ``finishing`` (the winner's outputs could not be brought back): released, the
    outputs are brought back again, the finished job is not run again."""
    project, Session, master, (m1, _) = bench
    with Session.begin() as s:
        [row] = s.scalars(select(ModelStage.id).where(ModelStage.model_id == m1, ModelStage.stage == "collect"))
        update_stages(s, [StageChange(row, state=StageState.HELD, winner="beta",
                                      reason="outputs not brought back from beta: disk full")])
        record_events(s, [Transition(EventKind.HELD, m1, "collect", "beta", None, StageState.FINISHING,
                                     StageState.HELD, "outputs not brought back from beta: disk full")])
    [released] = release_held(Session, stage="collect")
    assert (released.stage, released.state, released.reason) == (
        "collect", StageState.FINISHING, "outputs not brought back from beta: disk full")
    assert _states(Session)[(m1, "collect")] == (StageState.FINISHING, None)
