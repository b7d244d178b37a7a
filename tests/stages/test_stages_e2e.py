"""One GpA dimer model through preparation (POPC), EMMD, PRMD and URMD with tiny step counts,
run here with ``gmx mdrun`` (the dual-cluster path is the manager's), and each bad input."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from md_helpers import GPA_SEQUENCE, gpa_dimer_pdb

from mpflow.stages.gro import read_gro
from mpflow.stages.mdp import (
    MdpError,
    StageError,
    em_result,
    grompp_stage,
    run_stage_locally,
)
from mpflow.stages.membrane import bilayer_summary
from mpflow.stages.prep import WATER_MOLAR, prepare_model
from mpflow.stages.protocols import MissingInputError, StepFailedError

#: short enough for CI; the protocol is the production one, only the lengths shrink
PREP_PARAMS = {"npt_steps": 200}
STAGE_STEPS = {"emmd": 500, "prmd": 20, "urmd": 20}  # EMMD stops early once Fmax < emtol

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """<workdir>/GpA-WT/None/model_1 prepared and run through every stage."""
    root = tmp_path_factory.mktemp("work")
    pdb = gpa_dimer_pdb(root / "model_1.pdb")
    model_dir = root / "GpA-WT" / "None" / "model_1"
    prepare_model(model_dir, pdb, params=PREP_PARAMS)
    for stage, nsteps in STAGE_STEPS.items():
        grompp_stage(model_dir, stage, nsteps)
        run_stage_locally(model_dir, stage)
    return model_dir


def test_prep_products(model):
    prep = model / "prep"
    for name in ("prep.gro", "topol.top", "index.ndx", "POPC.itp", "posre_bb_Protein_chain_A.itp",
                 "protein_Protein_chain_A.itp", "protein_Protein_chain_B.itp"):
        assert (prep / name).is_file(), name
    groups = [ln.strip("[] \n") for ln in (prep / "index.ndx").read_text().splitlines()
              if ln.startswith("[")]
    assert {"Protein", "Membrane", "Solvent_Ions", "Protein_Membrane"} <= set(groups)
    converged, line = em_result(prep / "relax_em.log")
    assert converged, line


def test_prepared_system_holds_a_bilayer_and_salt(model):
    system = read_gro(model / "prep" / "prep.gro")
    s = bilayer_summary(system)
    assert s.lipids_upper == s.lipids_lower and 90 <= s.lipids <= 104
    assert 6.8 < s.box_nm[2] < 7.5 and 6.0 < s.box_nm[0] < 6.6
    assert 3.3 < s.thickness_nm < 4.3
    assert s.protein_in_slab
    n_na = int((system.resnames == "NA").sum())
    n_cl = int((system.resnames == "CL").sum())
    assert n_na == n_cl == round(s.waters * 0.15 / WATER_MOLAR)  # the protein is neutral


@pytest.mark.parametrize("stage", ["emmd", "prmd", "urmd"])
def test_stage_files_follow_the_contract(model, stage):
    folder = model / stage
    expected = {f"{stage}.{ext}" for ext in ("mdp", "tpr", "gro", "log", "edr")}
    if stage != "emmd":
        expected |= {f"{stage}.xtc", f"{stage}.cpt"}
    assert expected <= {p.name for p in folder.iterdir()}
    log = (folder / f"{stage}.log").read_text()
    assert "LINCS WARNING" not in log and "Finished mdrun" in log


def test_emmd_converged_and_the_bilayer_survives_md(model):
    converged, line = em_result(model / "emmd" / "emmd.log")
    assert converged, line
    s = bilayer_summary(read_gro(model / "urmd" / "urmd.gro"))
    assert s.lipids_upper == s.lipids_lower and s.protein_in_slab
    assert 3.3 < s.thickness_nm < 4.3


def test_second_preparation_skips_every_step(model):
    pdb = model / "prep" / "protein.pdb"
    outcomes = prepare_model(model, pdb, params=PREP_PARAMS)
    assert [(o.name, o.status) for o in outcomes] == [
        ("setup", "skipped"), ("embed", "skipped"), ("resolvate", "skipped"), ("relax", "skipped")]


# ------------------------------------------------------------------ bad input


def test_grompp_error_is_held_with_gromacs_line(model, tmp_path):
    copy = tmp_path / "model_1"
    shutil.copytree(model / "prep", copy / "prep")
    shutil.copytree(model / "emmd", copy / "emmd")
    with pytest.raises(StageError) as err:
        grompp_stage(copy, "prmd", 20, overrides={"tc-grps": "Protein_Membrane Nothing"})
    assert err.value.reason == (
        "grompp: Group Nothing referenced in the .mdp file was not found in the index file. Group "
        "names must match either [moleculetype] names or custom index group names, in which case "
        "you must supply an index file to the '-n' option of grompp.")
    assert not (copy / "prmd" / "prmd.tpr").exists()


def test_stage_without_previous_coordinates_names_the_file(model, tmp_path):
    shutil.copytree(model / "prep", tmp_path / "m" / "prep")
    with pytest.raises(StageError) as err:
        grompp_stage(tmp_path / "m", "urmd", 20)
    assert err.value.reason == f"missing input {tmp_path / 'm' / 'prmd' / 'prmd.gro'}"


def test_zero_length_or_malformed_override_fails_before_grompp(model, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(model / "prep", copy / "prep")
    with pytest.raises(MdpError, match="emmd: the length must be at least 1 step, got 0"):
        grompp_stage(copy, "emmd", 0)
    with pytest.raises(MdpError, match="not a GROMACS 2022 mdp option"):
        grompp_stage(copy, "emmd", 10, overrides={"emtoll": 10})
    assert not (copy / "emmd").exists()


def test_membrane_build_failure_is_held_with_the_reason(tmp_path):
    pdb = gpa_dimer_pdb(tmp_path / "long.pdb", sequence=GPA_SEQUENCE * 2)
    with pytest.raises(StepFailedError) as err:
        prepare_model(tmp_path / "long", pdb)
    assert err.value.reason.startswith("step embed: the protein is ")
    assert "nm long along the membrane normal" in err.value.reason
    assert not (tmp_path / "long" / "prep" / "embedded.gro").exists()


def test_missing_model_file_names_it(tmp_path):
    with pytest.raises(MissingInputError) as err:
        prepare_model(tmp_path / "m", tmp_path / "nope.pdb")
    assert err.value.reason == f"step setup: missing input {tmp_path / 'nope.pdb'}"
