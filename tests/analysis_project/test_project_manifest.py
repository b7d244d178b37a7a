"""The analysis manifest of a project (database rows + the master's files of a real GROMACS run), and
what the analysis reads from such frames: the protein only, its two chains, the models' residue
numbers, whole chains even when the box cuts them."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mpflow.analysis.frame_pass import PassOptions, analyse_part, canonical_names
from mpflow.analysis.frames import ChunkPart, FrameSource
from project_analysis_data import MODELS, make_project

from mpflow.models.sources import analysis_stages, project_manifest, wanted_stages
from mpflow.project.file import Project, ProjectConfig, ProjectError

pytestmark = pytest.mark.slow  # the session's real system takes ~1.5 min to build

PROTEIN_RESNAMES = set("ALA ARG GLU GLY ILE LEU MET PHE PRO SER THR TYR VAL".split())


def _rows(sources, workdir: Path):
    return [(s.model_id, s.stage, s.topology.relative_to(workdir).as_posix(),
             s.trajectory.name if s.trajectory else None) for s in sources]


def test_manifest_lists_ok_models_and_done_gromacs_stages(real_system, dev_master, tmp_path):
    # model 2 is still waiting (not ok); model 3 is in PRMD; model 4 is through every stage
    project, Session = make_project(tmp_path / "p", status={2: "waiting"},
                                    done={"emmd": [1, 3, 4], "prmd": [1, 4], "urmd": [1, 4]})
    sources = project_manifest(project, Session)  # the master's workdir from the dev clusters' file
    wt1, g1, g2 = "GpA-WT/Conformation1/model_1", "G83I/Conformation1/model_1", "G83I/Conformation1/model_2"
    assert _rows(sources, real_system.workdir) == [
        (1, "docked", f"{wt1}/model.pdb", None),
        (1, "emmd", f"{wt1}/emmd/emmd.gro", None),
        (1, "prmd", f"{wt1}/prmd/prmd.gro", "prmd.xtc"),
        (1, "urmd", f"{wt1}/urmd/urmd.gro", "urmd.xtc"),
        (3, "docked", f"{g1}/model.pdb", None),
        (3, "emmd", f"{g1}/emmd/emmd.gro", None),
        (4, "docked", f"{g2}/model.pdb", None),
        (4, "emmd", f"{g2}/emmd/emmd.gro", None),
        (4, "prmd", f"{g2}/prmd/prmd.gro", "prmd.xtc"),
        (4, "urmd", f"{g2}/urmd/urmd.gro", "urmd.xtc"),
    ]
    assert {(s.model_id, s.mutant, s.group, s.name) for s in sources} == {
        (1, "GpA-WT", "Conformation1", "model_1"), (3, "G83I", "Conformation1", "model_1"),
        (4, "G83I", "Conformation1", "model_2")}
    only = project_manifest(project, Session, stages=["prmd", "docked"], mutants=["G83I"],
                            master_workdir=real_system.workdir)
    assert [(s.model_id, s.stage) for s in only] == [(3, "docked"), (4, "docked"), (4, "prmd")]


def test_manifest_errors_are_one_line(real_system, tmp_path):
    project, Session = make_project(tmp_path / "p")
    kw = dict(master_workdir=real_system.workdir)
    with pytest.raises(ValueError, match=r"^stage 'prep' is not analysed \(stages: docked, emmd, prmd, urmd\)$"):
        project_manifest(project, Session, stages=["prep"], **kw)
    with pytest.raises(ValueError, match=r"^mutant 'G83A' is not in the project \(mutants: G83I, GpA-WT\)$"):
        project_manifest(project, Session, mutants=["G83A"], **kw)
    with pytest.raises(ValueError, match=r"^project realsys: model 1 \(model_1\) stage docked: file not found: .*model.pdb$"):
        project_manifest(project, Session, master_workdir=tmp_path / "elsewhere")


def _with_stages(tmp_path, stages: dict) -> Project:
    data = {"clusters": {"source": "dev", "names": ["alpha"]},
            "stages": {"prep": {"kind": "protocol", "protocol": "prep"}, **stages}}
    return Project(tmp_path, ProjectConfig.model_validate(data))


def test_project_stages_map_to_the_analysis_stages(tmp_path):
    md = lambda after, mdp: {"kind": "gromacs", "after": after, "mdp": mdp, "nsteps": 10}  # noqa: E731
    default = _with_stages(tmp_path, {"emmd": md("prep", "emmd"), "prmd": md("emmd", "prmd"),
                                      "urmd": md("prmd", "urmd")})
    assert analysis_stages(default) == {"emmd": "emmd", "prmd": "prmd", "urmd": "urmd"}
    # a production stage under another name is read as urmd (its template); a script stage is not read
    renamed = _with_stages(tmp_path, {"emmd": md("prep", "emmd"), "prmd": md("emmd", "prmd"),
                                      "production": md("prmd", "urmd"),
                                      "check": {"kind": "script", "after": "production", "commands": ["true"]}})
    assert analysis_stages(renamed) == {"emmd": "emmd", "prmd": "prmd", "production": "urmd"}
    assert wanted_stages(renamed, ["production", "docked", "urmd"]) == ["urmd", "docked"]
    assert wanted_stages(renamed, None) == ["docked", "emmd", "prmd", "urmd"]
    # an extension of urmd from the same template is not urmd: urmd keeps its own name
    extended = _with_stages(tmp_path, {"emmd": md("prep", "emmd"), "prmd": md("emmd", "prmd"),
                                       "urmd": md("prmd", "urmd"), "urmd2": md("urmd", "urmd")})
    assert analysis_stages(extended) == {"emmd": "emmd", "prmd": "prmd", "urmd": "urmd"}
    with pytest.raises(ValueError, match=r"^stage 'urmd2' is not analysed \(stages: docked, emmd, prmd, urmd\)$"):
        wanted_stages(extended, ["urmd2"])


def test_a_remote_master_is_refused(dev_master, tmp_path):
    project, Session = make_project(tmp_path / "p")
    project.update_file(lambda d: d["clusters"].__setitem__("names", ["beta", "alpha"]))
    with pytest.raises(ProjectError, match=r"^the master cluster beta is not on this machine"):
        project_manifest(project, Session)


# --------------------------------------------------------------------------- what is read

def _source(real_system, stage: str, trajectory: Path | None = None, model: int = 0) -> FrameSource:
    mutant, group, name = MODELS[model]
    d = real_system.model_dir(mutant, group, name) / stage
    return FrameSource(model_id=model + 1, mutant=mutant, group=group, name=name, stage=stage,
                       topology=d / f"{stage}.gro", trajectory=trajectory or d / f"{stage}.xtc")


def _analyse(source: FrameSource, frames=range(11)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return analyse_part(ChunkPart(source, tuple(frames)), PassOptions())


@pytest.fixture(scope="module")
def urmd_tables(real_system):
    return _analyse(_source(real_system, "urmd"))


def test_md_frames_are_read_as_the_protein_dimer_only(urmd_tables):
    inter, frames, geo = urmd_tables["interactions"], urmd_tables["frames"], urmd_tables["geometry"]
    assert len(inter) > 0
    assert set(inter["resname_a"].astype(str)) | set(inter["resname_b"].astype(str)) <= PROTEIN_RESNAMES
    assert set(inter["chain_a"].astype(str)) | set(inter["chain_b"].astype(str)) == {"A", "B"}
    assert frames["n_chains"].tolist() == [2] * 11
    assert frames["tag"].tolist() == [f"Conformation1:URMD:Protein_{n}" for n in range(11)]
    # the residue numbers are the model's (GpA 70-98), not MDAnalysis' 1..58 of a .tpr
    resids = set(inter["resid_a"]) | set(inter["resid_b"])
    assert resids <= set(range(70, 99)) and {82, 90} <= resids
    assert geo["n_helices"].tolist() == [2] * 11
    assert geo["crossing_angle_deg"].between(-50, -30).all() and geo["distance_A"].between(8, 12).all()


def test_a_protein_cut_by_the_box_gives_the_same_tables(real_system, urmd_tables, tmp_path):
    """mdrun puts every atom back in the box: a chain crossing a face comes out in pieces."""
    import MDAnalysis as mda

    src = _source(real_system, "urmd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(src.topology), str(src.trajectory))
        wrapped = tmp_path / "wrapped.trr"  # full precision: an XTC's 0.01 A grid could move a contact across a cut-off
        protein = u.select_atoms("protein")
        with mda.Writer(str(wrapped), u.atoms.n_atoms) as w:
            for ts in u.trajectory:
                u.atoms.translate(ts.dimensions[:3] / 2)  # the protein now straddles the box faces
                u.atoms.wrap(compound="atoms")
                steps = np.linalg.norm(np.diff(protein.positions, axis=0), axis=1)
                assert steps.max() > ts.dimensions[:3].min() / 2  # cut, as mdrun would write it
                w.write(u.atoms)
    cut = _analyse(FrameSource(**{**src.model_dump(), "trajectory": wrapped}))
    key = ["frame", "key"]
    whole = urmd_tables["occurrences"].astype({"key": str}).sort_values(key).reset_index(drop=True)
    again = cut["occurrences"].astype({"key": str}).sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(again[key + ["count"]], whole[key + ["count"]])
    columns = ["tilt_deg", "crossing_angle_deg", "distance_A"]
    np.testing.assert_allclose(cut["geometry"][columns], urmd_tables["geometry"][columns], atol=1e-3)
    assert cut["frames"]["n_chains"].tolist() == [2] * 11


def test_docked_and_md_frames_share_keys(real_system):
    docked = FrameSource(model_id=1, mutant="GpA-WT", group="Conformation1", name="model_1", stage="docked",
                         topology=real_system.model_dir(*MODELS[0]) / "model.pdb")
    emmd = _source(real_system, "emmd")
    emmd = FrameSource(**{**emmd.model_dump(), "trajectory": None})
    k_docked = set(_analyse(docked, [0])["keys"]["key"])
    k_emmd = set(_analyse(emmd, [0])["keys"]["key"])
    # the minimised model keeps the docked packing: its contacts are the docked model's
    assert {"hydrophobic|1|ALA82:|ALA82:", "hydrophobic|1|LEU90:|LEU90:"} <= k_docked & k_emmd


def test_keys_use_force_field_neutral_names():
    table = pd.DataFrame({"resname_a": ["HSD", "LEU", "HSP"], "atoms_a": ["NE2", "OT1,OT2", "ND1"],
                          "resname_b": ["GLU", "HIE", "ASH"], "atoms_b": ["OE1,OE2", "OC1", "OD1"]})
    out = canonical_names(table)
    assert out.to_dict("list") == {"resname_a": ["HIS", "LEU", "HIS"], "atoms_a": ["NE2", "O,OXT", "ND1"],
                                   "resname_b": ["GLU", "HIS", "ASP"], "atoms_b": ["OE1,OE2", "O", "OD1"]}
