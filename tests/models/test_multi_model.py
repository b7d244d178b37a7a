"""Files of several models (issue 24, item 4): a PDB or mmCIF file with several MODEL records is not
cut to its first model without a word. By default its first model is imported and the import says
so; with ``--each-model`` every model becomes a model of its own."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
from Bio.PDB import MMCIFIO, PDBParser
from sqlalchemy import select

from mpflow.models.importing import model_count
from mpflow.store.schema import Model


def _multi_model_pdb(models, path: Path) -> Path:
    """One PDB file holding the given built models as MODEL 1..n (the way docking programs write them)."""
    lines = ["REMARK   1 three poses of one docking run"]
    for k, m in enumerate(models, 1):
        lines.append(f"MODEL     {k:>4}")
        lines += [ln for ln in m.path.read_text().splitlines() if ln.startswith(("ATOM", "HETATM", "TER"))]
        lines.append("ENDMDL")
    path.write_text("\n".join(lines + ["END"]) + "\n")
    return path


@pytest.fixture
def poses(built, tmp_path) -> Path:
    models, _ = built
    folder = tmp_path / "poses"
    folder.mkdir()
    return _multi_model_pdb(models[:3], folder / "run7.pdb")


def test_the_first_model_is_imported_and_the_import_says_so(proj, poses, built):
    assert model_count(poses) == 3
    result = proj.cli("import", "GpA-WT", poses)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "GpA-WT: 1 imported"
    assert lines[-1] == ("GpA-WT: note: run7.pdb holds 3 models: only its first was imported as run7 "
                         "(`mpflow import --each-model` imports every model as its own)")
    with proj.Session() as s:
        [model] = s.scalars(select(Model))
    assert model.name == "run7"
    placed = proj.model_dir(0, "GpA-WT", model.group, "run7") / "model.pdb"
    first = [ln for ln in built[0][0].path.read_text().splitlines() if ln.startswith("ATOM")]
    assert [ln for ln in placed.read_text().splitlines() if ln.startswith("ATOM")] == first
    again = proj.cli("import", "GpA-WT", poses, "--json")  # unchanged: nothing new, the note again
    assert json.loads(again.stdout)["notes"] == [lines[-1].removeprefix("GpA-WT: note: ")]


def test_each_model_imports_every_model_of_the_file_as_its_own(proj, poses, built):
    result = proj.cli("import", "GpA-WT", poses, "--each-model")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "GpA-WT: 3 imported"
    assert "note:" not in result.stdout
    with proj.Session() as s:
        models = {m.name: m for m in s.scalars(select(Model))}
    assert sorted(models) == ["run7_m1", "run7_m2", "run7_m3"]
    assert [models[f"run7_m{k}"].source for k in (1, 2, 3)] == [f"{poses.resolve()} (model {k})" for k in (1, 2, 3)]
    for k, m in enumerate(built[0][:3], 1):
        placed = proj.model_dir(0, "GpA-WT", models[f"run7_m{k}"].group, f"run7_m{k}") / "model.pdb"
        atoms = [ln for ln in placed.read_text().splitlines() if ln.startswith("ATOM")]
        assert atoms == [ln for ln in m.path.read_text().splitlines() if ln.startswith("ATOM")]
    again = proj.cli("import", "GpA-WT", poses, "--each-model")
    assert again.stdout.strip() == "GpA-WT: nothing new (3 model(s) unchanged)"


def test_an_mmcif_file_of_several_models_is_read_the_same_way(proj, poses):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure = PDBParser(QUIET=True).get_structure("run7", str(poses))
    cif = poses.with_name("run8.cif")
    writer = MMCIFIO()
    writer.set_structure(structure)
    writer.save(str(cif))
    assert model_count(cif) == 3
    result = proj.cli("import", "GpA-WT", cif, "--each-model")
    assert result.exit_code == 0, result.output
    with proj.Session() as s:
        assert sorted(s.scalars(select(Model.name))) == ["run8_m1", "run8_m2", "run8_m3"]


def test_a_part_named_like_another_file_is_refused_and_nothing_is_imported(proj, poses, built):
    other = poses.with_name("run7_m2.pdb")
    other.write_bytes(built[0][5].path.read_bytes())
    result = proj.cli("import", "GpA-WT", poses.parent, "--each-model")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: model name 'run7_m2' comes from two files")
    with proj.Session() as s:
        assert list(s.scalars(select(Model))) == []
