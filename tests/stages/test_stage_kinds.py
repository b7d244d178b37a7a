"""The stage kinds on two local clusters (no Slurm, no GROMACS): what each prepares, what its job runs,
how the winner's outputs come back, and what holds a model-stage."""

from __future__ import annotations

import pytest

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import ClusterUnreachable
from mpflow.manager.tick import default_kinds
from mpflow.stages.gromacs import GromacsStage, inputs_check_line
from mpflow.stages.kinds import (
    ProtocolStage,
    ScriptStage,
    StageWork,
    collect_from_winners,
)
from mpflow.stages.spec import StageSpec
from mpflow.states import StageState
from mpflow.store.records import StageRecord
from mpflow.tags import ModelTag

TAG = ModelTag("WT", "None", "m1")


def item(id: int = 1, stage: str = "probe", winner: str | None = None, name: str = "m1") -> StageRecord:
    return StageRecord(id=id, model_id=id, stage=stage, state=StageState.FINISHING, winner=winner, continuations=0,
                       requeues=0, mutant="WT", group="None", name=name)


@pytest.fixture
def work(tmp_path):
    clusters = []
    for name in ("alpha", "beta"):
        (tmp_path / name / "mpflow-work").mkdir(parents=True)
        clusters.append(ClusterSettings(name=name, kind="local", workdir=str(tmp_path / name / "mpflow-work")))
    with ClusterConnections(clusters) as conns:
        yield StageWork(clusters, conns, tmp_path / "templates")


def test_the_kinds_a_project_may_name():
    kinds = default_kinds()
    assert {k: type(v) for k, v in kinds.items()} == {"script": ScriptStage, "protocol": ProtocolStage,
                                                       "gromacs": GromacsStage}
    assert {k: v.managed for k, v in kinds.items()} == {"script": True, "protocol": False, "gromacs": True}


def test_a_script_stage_needs_nothing_prepared_and_runs_its_lines(work):
    spec = StageSpec(kind="script", commands=["sleep 1", "echo ok > probe.gro"])
    assert ScriptStage().prepare(work, spec, [item(1), item(2)]) == {1: None, 2: None}
    assert ScriptStage().job_options(spec, item(), work.clusters[1]) == {
        "commands": ["sleep 1", "echo ok > probe.gro"], "mdrun": False}


def test_the_winners_outputs_come_back_to_the_master_verified(work):
    alpha, beta = work.clusters
    src = TAG.stage_dir(beta.workdir, "probe")
    assert work.connections.transport("beta").write_files({f"{src}/probe.gro": b"ok\n",
                                                            f"{src}/logs/probe.beta.1.out": b"log\n"}) == {}
    other = ModelTag("WT", "None", "m2")
    assert collect_from_winners(work, [item(1, winner="beta"), item(2, winner="alpha", name="m2"),
                                       item(3, winner=None, name="m3")]) == {1: None, 2: None, 3: None}
    dst = TAG.stage_dir(alpha.workdir, "probe")
    with work.connections.transport("alpha").open_read(f"{dst}/logs/probe.beta.1.out") as f:
        assert f.read() == b"log\n"
    assert work.connections.transport("alpha").stat(TAG.stage_dir(alpha.workdir, "probe") + "/probe.gro").size == 3
    assert work.connections.transport("alpha").stat(other.stage_dir(alpha.workdir, "probe")) is None


class Unreachable(ClusterConnections):
    """Connections where one cluster's login node does not answer."""

    def __init__(self, base: ClusterConnections, down: str):
        self.settings, self._base, self._down = base.settings, base, down

    def transport(self, cluster):
        if cluster == self._down:
            raise ClusterUnreachable("cannot connect to 127.0.0.1:2222: connection refused", cluster=cluster)
        return self._base.transport(cluster)


def test_an_unreachable_winner_leaves_the_batch_for_the_next_tick_and_a_missing_folder_holds(work):
    down = StageWork(work.clusters, Unreachable(work.connections, "beta"), work.templates)
    with pytest.raises(ClusterUnreachable):
        collect_from_winners(down, [item(1, winner="beta")])
    [(sid, reason)] = collect_from_winners(work, [item(1, winner="beta")]).items()  # nothing there on beta
    assert sid == 1 and reason.startswith("outputs not brought back from beta: ")


def test_a_gromacs_stage_holds_a_model_whose_previous_stage_left_nothing(work):
    spec = StageSpec(kind="gromacs", after="prep", mdp="emmd", nsteps=10)
    [(sid, reason)] = GromacsStage().prepare(work, spec, [item(1, stage="emmd")]).items()
    assert sid == 1 and "prep/prep.gro" in reason


def test_a_gromacs_job_checks_its_inputs_before_mdrun(work):
    spec = StageSpec(kind="gromacs", after="prep", mdp="emmd", nsteps=10)
    assert GromacsStage().job_options(spec, item(stage="emmd"), work.clusters[1]) == {
        "mdrun": True, "commands": [inputs_check_line("emmd")]}
    assert inputs_check_line("emmd") == ("sha256sum --check --quiet emmd.tpr.sha256 || { echo 'mpflow: emmd.tpr is "
                                         "missing or differs from the master copy' >&2; exit 65; }")


def test_a_protocol_stage_is_not_moved_by_the_manager():
    assert ProtocolStage.managed is False and not hasattr(ProtocolStage(), "prepare")
