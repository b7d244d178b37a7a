"""End to end on the dev clusters: one GpA model through preparation in POPC (a Slurm job on the master),
EMMD, PRMD and URMD,
each XXMD stage submitted to both clusters with one winner; and the bad inputs of the MD stages."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from md_helpers import tiny_pipeline_stages
from mpflow.analysis.structure.helix_builder import build_models
from projects import make_project
from sqlalchemy import select, update

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.transport import open_transport
from mpflow.manager.pipeline import progress, run_pipeline
from mpflow.manager.tick import DirectIO, Manager
from mpflow.models.importing import import_models
from mpflow.project.file import Project
from mpflow.project.mutants import GPA_WT, Mutant
from mpflow.slurm.client import SlurmClient
from mpflow.stages.gro import read_gro
from mpflow.stages.membrane import bilayer_summary
from mpflow.store.database import open_database
from mpflow.store.records import add_model
from mpflow.store.schema import Job, ModelStage
from mpflow.tags import NO_GROUP, ModelTag

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

STAGES = tiny_pipeline_stages()


class Run:
    def __init__(self, root: Path):
        self.root = root
        self.project = Project.load(root)
        self.clusters = self.project.cluster_settings()  # workdirs with the project's own folder
        self.Session = open_database(self.project.database_url)
        self.manager = Manager(self.project, self.Session, self.clusters)

    def pipeline(self, until: str | None = None, timeout_s: float = 900, io_wrapper=None):
        def tick(scope):
            with ClusterConnections(self.clusters) as conns:
                io = DirectIO(conns)
                return self.manager.tick(io_wrapper(io) if io_wrapper else io, scope=scope)

        return run_pipeline(self.project, self.Session, tick=tick, until=until, interval_s=1.0, timeout_s=timeout_s, echo=lambda line: None)

    def cancel_active(self) -> None:
        """Cancel the jobs a run `until` a stage left queued for the next stages."""
        with self.Session() as s:
            active = s.execute(select(Job.cluster, Job.slurm_id).where(Job.state.in_(("PD", "R")),
                                                                        Job.slurm_id.is_not(None))).all()
        with ClusterConnections(self.clusters) as conns:
            for c in self.clusters:
                ids = [j for cl, j in active if cl == c.name]
                if ids:
                    SlurmClient(conns.transport(c.name)).cancel(ids)

    def stage_rows(self) -> dict[tuple[str, str], tuple[str, str | None]]:
        with self.Session() as s:
            from mpflow.store.schema import Model

            rows = s.execute(select(Model.name, ModelStage.stage, ModelStage.state, ModelStage.reason)
                             .join(Model, Model.id == ModelStage.model_id)).all()
        return {(n, st): (state, reason) for n, st, state, reason in rows}


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, master, slave):
    root = tmp_path_factory.mktemp("e2e")
    tag = uuid.uuid4().hex[:6]
    make_project(root, name=f"e2e-{tag}", clusters=[master.name, slave.name], stages=STAGES,
                 manager={"interval_s": 1, "backoff_s": [0]})
    gpa = Mutant(name=f"GpA-{tag}", sequence=GPA_WT.sequence, oligomer=2, first_resid=70)
    # a 64-residue helix is far longer than the bilayer is thick: its membrane build must fail
    long = Mutant(name=f"Long-{tag}", sequence="L" * 64, oligomer=2, first_resid=1)
    run = Run(root)
    for m in (gpa, long):
        run.project.add_mutant(m)
        built = build_models(m, k=1, seed=3, out_dir=root / "built" / m.name)
        import_models(run.project, run.Session, m.name, [b.path for b in built])
    # a model registered without its structure file: preparation must name the missing file
    with run.Session.begin() as s:
        add_model(s, mutant=gpa.name, group=NO_GROUP, name="nofile")
    result = run.pipeline()
    yield run, gpa, long, result
    run.cancel_active()
    for c in run.clusters:
        with open_transport(c) as t:
            t.run(["rm", "-rf", "--", c.workdir])


def test_one_model_goes_through_every_stage_with_one_winner_per_stage(e2e, master, slave):
    run, gpa, _, result = e2e
    assert not result.timed_out
    name = f"{gpa.name}_001"
    rows = run.stage_rows()
    assert [rows[(name, st)][0] for st in ("prep", "emmd", "prmd", "urmd")] == ["done"] * 4
    model_dir = next(Path(run.clusters[0].workdir, gpa.name).glob(f"*/{name}"))  # None or a ConformationN
    for f in ("prep/prep.gro", "prep/topol.top", "prep/index.ndx", "emmd/emmd.tpr", "emmd/emmd.gro",
              "emmd/emmd.log", "prmd/prmd.gro", "prmd/prmd.xtc", "urmd/urmd.gro", "urmd/urmd.xtc"):
        assert (model_dir / f).is_file() and (model_dir / f).stat().st_size > 0, f
    with run.Session() as s:
        jobs = s.execute(select(Job.stage, Job.cluster, Job.state, Job.failure_kind)).all()
    for stage in ("emmd", "prmd", "urmd"):
        mine = [j for j in jobs if j.stage == stage]
        winners = [j for j in mine if j.state == "D"]
        assert len(winners) == 1, mine
        losers = [j for j in mine if j.state != "D"]
        assert all(j.failure_kind == "cancelled_by_mpflow" for j in losers), mine
    assert {j.cluster for j in jobs} == {master.name, slave.name}  # every stage went to both clusters


def test_the_system_holds_a_bilayer_around_the_protein(e2e, master):
    run, gpa, _, _ = e2e
    name = f"{gpa.name}_001"
    model_dir = next(Path(run.clusters[0].workdir, gpa.name).glob(f"*/{name}"))
    for gro in ("prep/prep.gro", "urmd/urmd.gro"):
        b = bilayer_summary(read_gro(model_dir / gro))
        assert b.lipids_upper == b.lipids_lower and 80 <= b.lipids <= 110, (gro, b)
        assert 6.5 < b.box_nm[2] < 7.6, (gro, b.box_nm)
        assert 3.2 < b.thickness_nm < 4.4, (gro, b.thickness_nm)
        assert b.protein_in_slab, (gro, b)


def test_a_failed_membrane_build_holds_that_model_and_the_others_go_on(e2e):
    run, gpa, long, _ = e2e
    rows = run.stage_rows()
    state, reason = rows[(f"{long.name}_001", "prep")]
    assert state == "held" and reason.startswith("step embed: the protein is") and "long" in reason
    assert rows[(f"{gpa.name}_001", "urmd")][0] == "done"
    assert all(rows[(f"{long.name}_001", st)][0] == "waiting" for st in ("emmd", "prmd", "urmd"))


def test_a_missing_input_is_a_clear_error_naming_the_file(e2e):
    run, gpa, _, _ = e2e
    state, reason = run.stage_rows()[("nofile", "prep")]
    assert state == "held" and "model.pdb" in reason and "\n" not in reason


def test_a_grompp_error_holds_the_model_with_gromacs_own_line(e2e, master):
    run, gpa, _, _ = e2e
    mid = _copy_prepared_model(run, gpa, master, "badtop")
    bad = Path(ModelTag(gpa.name, "None", "badtop").model_dir(run.clusters[0].workdir))
    with (bad / "prep" / "topol.top").open("a") as f:
        f.write("\n[ molecules ]\nNOSUCHMOLECULE 3\n")
    run.pipeline(until="emmd", timeout_s=120)
    state, reason = run.stage_rows()[("badtop", "emmd")]
    assert state == "held"
    assert reason.startswith("grompp:") and "NOSUCHMOLECULE" in reason and "\n" not in reason
    with run.Session() as s:
        assert s.scalars(select(Job.id).where(Job.model_id == mid)).all() == []  # nothing was submitted
    assert progress(run.Session, run.project).done()


def _copy_prepared_model(run, gpa, master, name: str) -> int:
    """A model registered with a copy of the prepared model's prep/ folder and its prep stage done."""
    from mpflow.store.records import ensure_model_stages

    good = next(Path(run.clusters[0].workdir, gpa.name).glob(f"*/{gpa.name}_001"))
    with run.Session.begin() as s:
        mid = add_model(s, mutant=gpa.name, group=NO_GROUP, name=name)
    shutil.copytree(good / "prep", Path(ModelTag(gpa.name, "None", name).model_dir(run.clusters[0].workdir)) / "prep")
    with run.Session.begin() as s:
        ensure_model_stages(s, run.project.config.stage_order())
        s.execute(update(ModelStage).where(ModelStage.model_id == mid, ModelStage.stage == "prep")
                  .values(state="done"))
    return mid


def test_inputs_missing_on_the_slave_are_sent_again_never_run_stale(e2e, master, slave):
    import subprocess

    from manager_helpers import PassThroughIO

    from mpflow.clusters.devcluster import dev_cluster_info

    run, gpa, _, _ = e2e
    mid = _copy_prepared_model(run, gpa, master, "resend")
    folder = ModelTag(gpa.name, "None", "resend").stage_dir(run.clusters[1].workdir, "emmd")
    removed = []

    class LoseTheSlavesInputs(PassThroughIO):
        def submit_all(self, requests):
            if not removed:  # as if the transfer to the slave had failed: its .tpr is not there
                with open_transport(slave) as t:
                    t.run(["rm", "-f", "--", f"{folder}/emmd.tpr"])
                removed.append(folder)
            return self.io.submit_all(requests)

    conf = dev_cluster_info(master.name)["slurm_conf"]
    part = ["scontrol", "update", f"PartitionName={master.partition}"]
    env = {"SLURM_CONF": conf, "PATH": "/usr/bin:/bin"}
    subprocess.run([*part, "State=DOWN"], env=env, check=True)  # the slave runs it
    try:
        run.pipeline(until="emmd", timeout_s=240, io_wrapper=LoseTheSlavesInputs)
    finally:
        subprocess.run([*part, "State=UP"], env=env, check=True)
    with run.Session() as s:
        jobs = s.execute(select(Job.cluster, Job.state, Job.failure_kind, Job.counted)
                         .where(Job.model_id == mid, Job.cluster == slave.name, Job.stage == "emmd")
                         .order_by(Job.id)).all()
    assert removed
    assert [tuple(j) for j in jobs] == [(slave.name, "F", "stale_inputs", False), (slave.name, "D", None, False)]
    assert run.stage_rows()[("resend", "emmd")][0] == "done"


def test_finished_stages_are_backed_up_with_checksums(e2e, master, tmp_path):
    import hashlib

    from mpflow.clusters.settings import ClusterSettings
    from mpflow.transfers.backup import back_up, destination_settings, done_stages

    run, gpa, _, _ = e2e
    dest = destination_settings(str(tmp_path / "backup"), [master])
    (tmp_path / "backup").mkdir()
    items = [i for i in done_stages(run.Session, mutants=[gpa.name]) if i.tag.name == f"{gpa.name}_001"]
    assert sorted(i.stage for i in items) == ["emmd", "prep", "prmd", "urmd"]
    first = back_up(run.Session, run.clusters[0], dest, items)
    assert first.failed == () and first.files_copied > 0 and first.files_identical == 0
    for it in items:
        src = Path(it.tag.stage_dir(run.clusters[0].workdir, it.stage))
        dst = Path(it.tag.stage_dir(dest.workdir, it.stage))
        for f in src.rglob("*"):
            if f.is_file():
                copy = dst / f.relative_to(src)
                assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(f.read_bytes()).digest()
    again = back_up(run.Session, run.clusters[0], dest, items)
    assert (again.files_copied, again.files_identical) == (0, first.files_copied)
    assert isinstance(dest, ClusterSettings) and dest.kind == "local"
