"""``mpflow import``: checked models are registered with geometry and groups and placed on both
clusters; every bad input is one line and changes nothing; re-import is a no-op."""

from __future__ import annotations

import json
import shutil

import pytest
from model_helpers import at, copy_built, edit_pdb, snapshot
from mpflow.analysis.structure.checks import read_atoms
from sqlalchemy import select

from mpflow.models.importing import ModelsError, import_models
from mpflow.store.schema import Event, Model, ModelStage


@pytest.fixture
def four(built, tmp_path):
    """Four models of the built set, one per packing, in their own folder."""
    models, _ = built
    return copy_built(models[:4], tmp_path / "four")


def test_import_registers_measures_and_places_models(proj, four):
    result = proj.cli("import", "GpA-WT", four)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "GpA-WT: 4 imported"
    names = sorted(p.stem for p in four.iterdir())
    with proj.Session() as s:
        models = {m.name: m for m in s.scalars(select(Model))}
        stages = sorted(s.execute(select(ModelStage.model_id, ModelStage.stage)).all())
        kinds = sorted(e.kind for e in s.scalars(select(Event)))
    assert sorted(models) == names
    assert {m.status for m in models.values()} == {"ok"}
    assert {m.source for m in models.values()} == {str(p.resolve()) for p in four.iterdir()}
    assert len(stages) == 4 * 4  # prep, emmd, prmd, urmd per model: status shows them
    assert kinds == ["imported"] * 4
    for m in models.values():
        assert set(m.geometry) >= {"n_helices", "crossing_angle_deg", "distance_A", "tilt_deg"}
        assert m.geometry["n_helices"] == 2
    # four models, one per packing: too few for the silhouette to split them, so one group
    assert {m.group for m in models.values()} == {"Conformation1"}
    for name in names:
        master = proj.model_dir(0, "GpA-WT", "Conformation1", name)
        assert (master / "model.pdb").read_bytes() == (four / f"{name}.pdb").read_bytes()
        slave = proj.model_dir(1, "GpA-WT", "Conformation1", name)
        assert slave.is_dir() and list(slave.iterdir()) == []


def test_reimport_of_the_same_files_is_a_no_op(proj, four):
    assert proj.cli("import", "GpA-WT", four).exit_code == 0
    before = snapshot(proj.project, proj.clusters)
    result = proj.cli("import", "GpA-WT", four, *sorted(four.iterdir()))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "GpA-WT: nothing new (4 model(s) unchanged)"
    assert snapshot(proj.project, proj.clusters) == before


def _bad_inputs(built, tmp_path):
    """(case, argv after `import`, exit code, exact error line) for every bad input of the issue."""
    good = built[0][0].path  # GpA-WT_001.pdb
    d = tmp_path / "bad"

    def to_ile(line):
        return line[:17] + "ILE" + line[20:] if at(line, "B", 83) else line

    lines = good.read_text().splitlines()
    ca = next(i for i, line in enumerate(lines) if line.startswith("ATOM") and at(line, "A", 75, "CA"))
    (d / "dup_atom").mkdir(parents=True)
    (d / "dup_atom" / "dup_atom.pdb").write_text("\n".join(lines[:ca + 1] + [lines[ca]] + lines[ca + 1:]) + "\n")
    res75 = [line for line in lines if line.startswith("ATOM") and at(line, "A", 75)]
    first = lines.index(res75[0])
    altloc = lines[:first] + [x[:16] + "A" + x[17:] for x in res75] + [x[:16] + "B" + x[17:] for x in res75] \
        + lines[first + len(res75):]
    (d / "altloc.pdb").write_text("\n".join(altloc) + "\n")
    (d / "junk.pdb").write_text("hello\nworld\n")
    (d / "twice").mkdir()
    shutil.copy(good, d / "twice" / "GpA-WT_002.pdb")
    (d / "other").mkdir()
    shutil.copy(built[0][2].path, d / "other" / "GpA-WT_002.pdb")
    (d / "bad name.pdb").write_text(good.read_text())
    (d / "notes.txt").write_text("a docked model\n")
    return [
        ("sequence mismatch", [edit_pdb(good, d / "b83.pdb", change=to_ile)], 1,
         "b83.pdb: chain B residue 83: ILE in the model, GLY in GpA-WT's sequence"),
        ("wrong chain count", [edit_pdb(good, d / "one.pdb", keep=lambda line: line[21] == "A")], 1,
         "one.pdb: 1 chain (A) in the model, but GpA-WT is a dimer (2 chains)"),
        ("bad PDB", [d / "junk.pdb"], 1, f"cannot read {d / 'junk.pdb'} as a structure"),
        ("duplicate atom", [d / "dup_atom"], 1, "dup_atom.pdb: chain A residue 75 LEU: atom CA appears twice"),
        ("alternate locations", [d / "altloc.pdb"], 1,
         "altloc.pdb: chain A residue 75 LEU: alternate locations A, B; keep one"),
        ("duplicate name", [d / "twice", d / "other"], 1,
         f"model name 'GpA-WT_002' comes from two files, {d / 'twice' / 'GpA-WT_002.pdb'} and "
         f"{d / 'other' / 'GpA-WT_002.pdb'}; rename one"),
        ("duplicate content", [d / "twice"], 1,
         f"GpA-WT_002.pdb: same content as model GpA-WT_001 of GpA-WT (imported from {good.resolve()}); "
         "a duplicate model"),
        ("unsafe name", [d / "bad name.pdb"], 1,
         f"{d / 'bad name.pdb'}: model name 'bad name' (the file name) is not a safe name: use letters, digits, "
         "'_', '.' or '-', starting with a letter or digit"),
        ("not a model file", [d / "notes.txt"], 1,
         f"{d / 'notes.txt'}: not a PDB or mmCIF file name (expected .pdb, .ent, .cif, .mmcif)"),
        ("missing path", [d / "absent"], 1, f"{d / 'absent'}: no such file or folder"),
        ("good and bad together", [built[0][3].path, d / "b83.pdb", d / "one.pdb"], 1,
         "b83.pdb: chain B residue 83: ILE in the model, GLY in GpA-WT's sequence (and 1 more bad file; "
         "nothing was imported)"),
    ]


def test_every_bad_input_is_one_line_and_changes_nothing(proj, built, tmp_path):
    assert proj.cli("import", "GpA-WT", built[0][0].path).exit_code == 0
    before = snapshot(proj.project, proj.clusters)
    cases = _bad_inputs(built, tmp_path)
    for case, paths, code, message in cases:
        result = proj.cli("import", "GpA-WT", *paths)
        assert (case, result.exit_code) == (case, code), result.output
        assert (case, result.stderr) == (case, f"error: {message}\n")
        assert snapshot(proj.project, proj.clusters) == before, case
    result = proj.cli("import", "NoSuchMutant", built[0][1].path)
    assert result.exit_code == 2
    assert result.stderr == (f"error: no mutant 'NoSuchMutant' in {proj.project.file} (mutants: GpA-WT, "
                             "G83I); add it with `mpflow mutant add NAME SEQUENCE`\n")
    # a wild-type model is not a G83I model: both chains differ at 83, the first is named
    result = proj.cli("import", "G83I", built[0][1].path)
    assert result.stderr == "error: GpA-WT_002.pdb: chain A residue 83: GLY in the model, ILE in G83I's sequence\n"
    assert snapshot(proj.project, proj.clusters) == before


def test_mmcif_is_converted_to_the_masters_model_pdb(proj, built, tmp_path):
    from Bio.PDB import MMCIFIO, PDBParser

    source = built[0][0].path
    structure = PDBParser(QUIET=True).get_structure("m", str(source))
    writer = MMCIFIO()
    writer.set_structure(structure)
    cif = tmp_path / "docked_7.cif"
    writer.save(str(cif))
    result = proj.cli("import", "GpA-WT", cif, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == ["docked_7"]
    placed = proj.model_dir(0, "GpA-WT", "None", "docked_7") / "model.pdb"  # one model: no group
    key = [(a.chain, a.resid, a.resname, a.name) for a in read_atoms(placed)]
    assert key == [(a.chain, a.resid, a.resname, a.name) for a in read_atoms(source)]


def test_a_model_that_started_is_not_replaced(proj, built, tmp_path):
    source = built[0][0].path
    assert proj.cli("import", "GpA-WT", source).exit_code == 0
    with proj.Session.begin() as s:
        s.execute(ModelStage.__table__.update().where(ModelStage.stage == "prep").values(state="active"))
    other = tmp_path / "again" / source.name
    other.parent.mkdir()
    other.write_text(source.read_text() + "REMARK another version\n")
    before = snapshot(proj.project, proj.clusters)
    with pytest.raises(ModelsError, match=r"has started its stages with another file .* is not replaced"):
        import_models(proj.project, proj.Session, "GpA-WT", [other])
    assert snapshot(proj.project, proj.clusters) == before


def test_the_manager_lease_keeps_a_tick_and_an_import_apart(proj):
    from mpflow.models.importing import manager_lease
    from mpflow.store.leases import acquire_lease, lease_holder, release_lease

    tick = lease_holder()  # this live process: not taken over as a dead holder
    assert acquire_lease(proj.Session, "manager", tick, 60)
    with pytest.raises(ModelsError, match="manager's lease stayed taken"):
        with manager_lease(proj.Session, wait_s=0.3):
            pass
    release_lease(proj.Session, "manager", tick)
    with manager_lease(proj.Session, wait_s=0.3):
        assert not acquire_lease(proj.Session, "manager", tick, 60)
