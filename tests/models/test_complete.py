"""A model with a gap is held (status ``waiting`` with the gap named, in ``mpflow status`` and
``mpflow models``), completed with PDBFixer and released; re-importing a fixed file releases it too."""

from __future__ import annotations

import json

import pytest
from model_helpers import at, edit_pdb, gap_keep
from mpflow.analysis.structure.checks import check_model, read_atoms
from sqlalchemy import select

from mpflow.project.mutants import GPA_WT
from mpflow.store.schema import Event, Model


@pytest.fixture
def gapped(built, tmp_path):
    """Three complete models of one packing and one with residues B:80–82 missing."""
    models, _ = built
    same = [m for m in models if m.packing == models[0].packing]
    folder = tmp_path / "set"
    for m in same[:3]:
        edit_pdb(m.path, folder / m.path.name)
    gap = edit_pdb(same[3].path, folder / "gap_1.pdb", keep=gap_keep("B", 80, 82))
    return folder, gap, same[3].path


def _row(proj, name):
    with proj.Session() as s:
        return s.scalars(select(Model).where(Model.name == name)).one()


def test_a_gap_is_held_completed_and_released(proj, gapped):
    folder, gap, _ = gapped
    result = proj.cli("import", "GpA-WT", folder)
    assert result.exit_code == 0, result.output
    assert "GpA-WT/gap_1: waiting: missing residues B:80–82 (run `mpflow complete --mutant GpA-WT`)" \
        in result.stdout.splitlines()
    held = _row(proj, "gap_1")
    assert (held.status, held.status_reason, held.group) == ("waiting", "missing residues B:80–82", "None")
    assert held.geometry["n_helices"] == 2  # measured as it is
    others = {_row(proj, f"GpA-WT_{i:03d}").group for i in (1, 5, 9)}
    assert others == {"Conformation1"}

    status = proj.cli("status")
    assert "waiting  GpA-WT/None/gap_1: missing residues B:80–82" in status.stdout.splitlines()
    listing = json.loads(proj.cli("models", "--json", "--mutant", "GpA-WT").stdout)
    assert [(m["name"], m["status"], m["status_reason"]) for m in listing if m["status"] != "ok"] == \
        [("gap_1", "waiting", "missing residues B:80–82")]
    table = proj.cli("models").stdout.splitlines()
    assert any(line.split()[3:5] == ["gap_1", "waiting"] and line.endswith("missing residues B:80–82")
               for line in table)

    result = proj.cli("complete", "--mutant", "GpA-WT")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "GpA-WT: 1 completed"
    done = _row(proj, "gap_1")
    assert (done.status, done.status_reason, done.group) == ("ok", None, "Conformation1")
    assert done.source_sha256 == held.source_sha256  # the imported file is still the one recorded
    master = proj.model_dir(0, "GpA-WT", "Conformation1", "gap_1")
    assert sorted(p.name for p in master.iterdir()) == ["model.incomplete.pdb", "model.pdb"]
    assert (master / "model.incomplete.pdb").read_bytes() == gap.read_bytes()
    assert check_model(master / "model.pdb", GPA_WT).ok
    chain_b = [a.resid for a in read_atoms(master / "model.pdb") if a.chain == "B" and a.name == "CA"]
    assert chain_b == list(range(70, 99))
    # the folder moved from None to the group on both clusters
    assert not proj.model_dir(0, "GpA-WT", "None", "gap_1").exists()
    assert not proj.model_dir(1, "GpA-WT", "None", "gap_1").exists()
    assert proj.model_dir(1, "GpA-WT", "Conformation1", "gap_1").is_dir()
    with proj.Session() as s:
        kinds = [e.kind for e in s.scalars(select(Event).where(Event.model_id == done.id).order_by(Event.id))]
    assert kinds == ["imported", "model_completed", "regrouped"]
    assert proj.cli("complete").stdout.strip() == "nothing to complete: no model is waiting"
    # re-importing the original (gapped) file stays a no-op: it is the file recorded
    assert "nothing new" in proj.cli("import", "GpA-WT", gap).stdout


def test_reimporting_a_fixed_file_releases_the_model(proj, gapped, tmp_path):
    folder, gap, complete = gapped
    assert proj.cli("import", "GpA-WT", folder).exit_code == 0
    assert _row(proj, "gap_1").status == "waiting"
    fixed = edit_pdb(complete, tmp_path / "fixed" / "gap_1.pdb")
    result = proj.cli("import", "GpA-WT", fixed)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "GpA-WT: 1 replaced"
    row = _row(proj, "gap_1")
    assert (row.status, row.status_reason, row.group) == ("ok", None, "Conformation1")
    assert row.source == str(fixed.resolve())
    placed = proj.model_dir(0, "GpA-WT", "Conformation1", "gap_1") / "model.pdb"
    assert placed.read_bytes() == fixed.read_bytes()


def test_missing_heavy_atoms_are_completed_for_one_named_model(proj, built, tmp_path):
    source = built[0][0].path
    no_cd = edit_pdb(source, tmp_path / "noatoms.pdb",
                     keep=lambda line: not (at(line, "A", 75, "CD1") or at(line, "A", 75, "CD2")))
    assert proj.cli("import", "GpA-WT", no_cd).exit_code == 0
    assert _row(proj, "noatoms").status_reason == "missing heavy atoms A:75 (CD1, CD2)"
    result = proj.cli("complete", "--model", "noatoms")
    assert result.exit_code == 0, result.output
    assert _row(proj, "noatoms").status == "ok"
    result = proj.cli("complete", "--model", "nosuch")
    assert (result.exit_code, result.stderr) == (1, "error: no model 'nosuch'; see `mpflow models`\n")
    result = proj.cli("complete", "--mutant", "Nope")
    assert result.exit_code == 2 and result.stderr.startswith("error: no mutant 'Nope' in ")
