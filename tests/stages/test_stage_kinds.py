"""The stage kinds on two local clusters (no Slurm, no GROMACS): what each prepares, what its job runs,
how the winner's outputs come back, and what holds a model-stage."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mpflow.clusters.connections import ClusterConnections
from mpflow.build import build_digest
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import ClusterUnreachable
from mpflow.manager.tick import default_kinds, is_managed
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
from mpflow.tags import MODEL_FILE, ModelTag

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
    assert {k: v.managed for k, v in kinds.items()} == {"script": True, "protocol": True, "gromacs": True}


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


def test_a_protocol_stage_run_locally_is_not_moved_by_the_manager():
    kind = ProtocolStage()
    assert is_managed(kind, StageSpec(kind="protocol", protocol="prep")) is True
    assert is_managed(kind, StageSpec(kind="protocol", protocol="prep", run="local")) is False


def test_a_protocol_stage_places_the_structure_and_the_request_on_its_targets(work):
    alpha, beta = work.clusters
    for st in (item(1, "prep"), item(2, "prep", name="m2")):
        assert work.connections.transport("alpha").write_files(
            {f"{ModelTag('WT', 'None', st.name).model_dir(alpha.workdir)}/{MODEL_FILE}": f"ATOM {st.name}\n".encode()}) == {}
    items = [item(1, "prep"), item(2, "prep", name="m2"), item(3, "prep", name="absent")]
    spec = StageSpec(kind="protocol", protocol="prep", params={"threads": 1}, clusters="all")
    out = ProtocolStage().prepare(work, spec, items)
    assert out[1] is None and out[2] is None
    assert out[3].startswith("prep: the model's structure ") and "cannot be read on alpha" in out[3]
    for cluster in (alpha, beta):
        folder = Path(TAG.stage_dir(cluster.workdir, "prep"))
        assert (folder / "protein.pdb").read_text() == "ATOM m1\n"
        request = json.loads((folder / "prep.request.json").read_text())
        assert request == {"protocol": "prep", "workdir": str(folder), "params": {"threads": 1},
                           "search_dirs": [], "reason_file": str(folder / f"prep.{cluster.name}.reason")}
    # the master only, by default
    spec_master = StageSpec(kind="protocol", protocol="prep")
    assert ProtocolStage().prepare(work, spec_master, [item(2, "prep", name="m2")]) == {2: None}


def test_a_protocol_job_runs_the_cluster_side_mpflow(work):
    spec = StageSpec(kind="protocol", protocol="prep")
    alpha = work.clusters[0]
    assert ProtocolStage().job_options(spec, item(stage="prep"), alpha) == {
        "mdrun": False, "commands": [f"{sys.executable} -m mpflow.cluster_side protocol --request prep.request.json"]}
    setup = alpha.model_copy(update={"mpflow_python": "/opt/venvs/mpflow-1/bin/python"})
    assert ProtocolStage().job_options(spec, item(stage="prep"), setup)["commands"] == [
        "/opt/venvs/mpflow-1/bin/python -m mpflow.cluster_side protocol --request prep.request.json"]
    remote = ClusterSettings(name="gamma", kind="remote", host="h", user="u", workdir="/w/project")
    assert ProtocolStage().job_options(spec, item(stage="prep"), remote)["commands"] == [
        f"/w/.mpflow/venvs/mpflow-{build_digest()}/bin/python -m mpflow.cluster_side protocol --request "
        "prep.request.json"]
