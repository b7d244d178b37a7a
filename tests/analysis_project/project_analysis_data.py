"""A real pipeline output to analyse: one GpA dimer prepared in POPC (the production protocol with
a short relaxation), minimised, then PRMD and URMD for four models (two per mutant, each with its
own velocity seed), laid out as the master's model tree and registered in a project database.

The four models share one prepared system (a preparation takes minutes on two cores): the "G83I"
models are the wild-type system under the mutant's name, which is all these tests need (files,
ids, tags and the report of a two-versus-two study).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from mpflow.analysis.structure.helix_builder import build_oligomer, write_pdb
from projects import make_project as make_dev_project

from mpflow.project.mutants import example_mutant
from mpflow.states import ModelStatus, StageState
from mpflow.store.database import open_database
from mpflow.store.records import (
    StageChange,
    add_model,
    ensure_model_stages,
    stage_records,
    update_stages,
)

GPA_SEQUENCE = "EPEITLIIFGVMAGVIGTILLISYGIRRL"
PREP_PARAMS = {"npt_steps": 50}  # the voids the embedding leaves close enough for 40 fs of MD
STEPS = {"emmd": 200, "prmd": 20, "urmd": 20}
#: (mutant, group, name) of the four models, in registration order (database ids 1..4)
MODELS = [("GpA-WT", "Conformation1", "model_1"), ("GpA-WT", "Conformation1", "model_2"),
          ("G83I", "Conformation1", "model_1"), ("G83I", "Conformation1", "model_2")]


def gpa_dimer_pdb(path: Path) -> Path:
    """An ideal GpA TM dimer (helices 1.0 nm apart, crossing -40 deg), residues from 70."""
    model = build_oligomer(GPA_SEQUENCE, 2, 5.0, tilt_deg=-20.0, phase_deg=150.0, first_resid=70)
    return write_pdb(model, path)


@dataclass(frozen=True)
class RealSystem:
    root: Path
    workdir: Path            # the master's workdir: <workdir>/<mutant>/<group>/<name>/
    docked_pdb: Path

    def model_dir(self, mutant: str, group: str, name: str) -> Path:
        return self.workdir / mutant / group / name


def build_real_system(root: Path) -> RealSystem:
    """Prepare and minimise one system, then lay out and run the four models (see the module)."""
    from mpflow.stages.mdp import grompp_stage, run_stage_locally
    from mpflow.stages.prep import prepare_model

    root.mkdir(parents=True, exist_ok=True)
    pdb = gpa_dimer_pdb(root / "docked.pdb")
    base = root / "build" / "model"
    prepare_model(base, pdb, params=PREP_PARAMS)
    grompp_stage(base, "emmd", STEPS["emmd"])
    run_stage_locally(base, "emmd")
    workdir = root / "alpha-work" / PROJECT_NAME  # the master's workdir plus the project's own folder
    for k, (mutant, group, name) in enumerate(MODELS):
        d = workdir / mutant / group / name
        d.mkdir(parents=True)
        shutil.copyfile(pdb, d / "model.pdb")
        for stage in ("prep", "emmd"):
            shutil.copytree(base / stage, d / stage)
        grompp_stage(d, "prmd", STEPS["prmd"], params={"seed": 11 + k})
        run_stage_locally(d, "prmd")
        grompp_stage(d, "urmd", STEPS["urmd"])
        run_stage_locally(d, "urmd")
    return RealSystem(root, workdir, pdb)


#: every test project here has this name, so its models are the real system's tree
PROJECT_NAME = "realsys"


def write_connection_file(path: Path, alpha_workdir: Path, beta_workdir: Path) -> Path:
    """A dev-cluster connection file whose master (alpha, local) works in ``alpha_workdir``.

    The analysis only reads the master's workdir from it; nothing here contacts a cluster."""
    clusters = [
        {"name": "alpha", "role": "master", "kind": "local", "host": "127.0.0.1", "port": 2221,
         "user": "mpflowdev", "slurm_conf": str(path.parent / "alpha-slurm.conf"),
         "workdir": str(alpha_workdir), "partition": "cpu", "accounting": False, "node": "alpha-n1"},
        {"name": "beta", "role": "slave", "kind": "remote", "host": "127.0.0.1", "port": 2222,
         "user": "mpflowdev", "slurm_conf": str(path.parent / "beta-slurm.conf"),
         "workdir": str(beta_workdir), "partition": "cpu", "accounting": False, "node": "beta-n1"},
    ]
    doc = {"format_version": 1, "comment": "test connection file", "user": "mpflowdev",
           "key_path": str(path.parent / "id_ed25519"), "known_hosts": str(path.parent / "known_hosts"),
           "workdir_basename": "mpflow-work", "clusters": clusters}
    path.write_text(json.dumps(doc, indent=1))
    return path


def make_project(folder: Path, *, done: dict[str, list[int]] | None = None,
                 status: dict[int, str] | None = None, name: str = PROJECT_NAME,
                 clusters: tuple[str, ...] = ("alpha", "beta")):
    """A dev-cluster project with the two mutants and the four models registered; ``done``: stage →
    model ids in state done (default: every stage of every model; prep is always done); ``status``:
    model id → status (default ok); ``name`` and ``clusters`` (the master first): as
    ``projects.make_project`` takes them.  Returns (project, Session)."""
    project = make_dev_project(folder, name=name, clusters=clusters,
                               mutants=[example_mutant("GpA-WT"), example_mutant("G83I")])
    Session = open_database(project.database_url)
    ids = list(range(1, len(MODELS) + 1))
    done = {"emmd": ids, "prmd": ids, "urmd": ids} if done is None else done
    status = status or {}
    with Session.begin() as s:
        for k, (mutant, group, name) in enumerate(MODELS, start=1):
            assert add_model(s, mutant=mutant, group=group, name=name, status=status.get(k, ModelStatus.OK)) == k
        ensure_model_stages(s, project.config.stage_order())
        finished = {"prep": ids, **done}
        update_stages(s, [StageChange(st.id, state=StageState.DONE) for st in stage_records(s)
                          if st.model_id in finished.get(st.stage, ())])
    return project, Session
