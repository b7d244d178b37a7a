"""Checks of model files against their mutant, and completion of missing parts with PDBFixer."""

from __future__ import annotations

from pathlib import Path

import pytest
from mpflow.analysis.structure.checks import (
    ModelCheckError,
    check_model,
    complete_model,
    read_atoms,
    residue_ranges,
)
from mpflow.analysis.structure.helix_builder import build_models
from pdb_edits import edit_pdb

from mpflow.project.mutants import GPA_G83I, GPA_WT, WZA_LIKE


@pytest.fixture(scope="module")
def wt_model(tmp_path_factory) -> Path:
    return build_models(GPA_WT, k=1, seed=0, out_dir=tmp_path_factory.mktemp("wt"))[0].path


def _at(line: str, chain: str, resid: int, name: str | None = None) -> bool:
    return (line[21] == chain and int(line[22:26]) == resid
            and (name is None or line[12:16].strip() == name))


def test_built_examples_pass(tmp_path, wt_model, g83i_models):
    assert check_model(wt_model, GPA_WT).status == "ok"
    assert check_model(g83i_models[0][0].path, GPA_G83I).ok
    ring = build_models(WZA_LIKE, k=1, out_dir=tmp_path)[0].path
    report = check_model(ring, WZA_LIKE)
    assert report.ok and report.chains == list("ABCDEFGH")


def test_sequence_mismatch_is_named(tmp_path, wt_model):
    def to_ile(line):
        return line[:17] + "ILE" + line[20:] if _at(line, "B", 83) else line

    report = check_model(edit_pdb(wt_model, tmp_path / "b83.pdb", change=to_ile), GPA_WT)
    assert report.first_error == "b83.pdb: chain B residue 83: ILE in the model, GLY in GpA-WT's sequence"
    assert [p.kind for p in report.errors] == ["sequence"]
    # a wild-type model imported as G83I: both chains differ at 83
    report = check_model(wt_model, GPA_G83I)
    assert [(p.chain, p.resid) for p in report.errors] == [("A", 83), ("B", 83)]
    assert report.status == "error: chain A residue 83: GLY in the model, ILE in G83I's sequence"


def test_chain_count_against_the_oligomer(tmp_path, wt_model):
    one = edit_pdb(wt_model, tmp_path / "one.pdb", keep=lambda line: line[21] == "A")
    assert check_model(one, GPA_WT).first_error == \
        "one.pdb: 1 chain (A) in the model, but GpA-WT is a dimer (2 chains)"


@pytest.mark.parametrize(("edit", "kind", "message"), [
    (lambda l: l[:17] + "XYZ" + l[20:] if _at(l, "A", 75) else l, "unknown_residue",
     "chain A residue 75: unknown residue 'XYZ' (not one of the 20 amino acids)"),
    (lambda l: l[:12] + " CQ " + l[16:] if _at(l, "A", 75, "CG") else l, "unknown_atom",
     "chain A residue 75 LEU: atom CQ is not a LEU atom"),
    (lambda l: l[:22] + " 200" + l[26:] if _at(l, "B", 98) else l, "numbering",
     "chain B residue 200: outside GpA-WT's sequence (residues 70–98)"),
    (lambda l: l[:26] + "A" + l[27:] if _at(l, "A", 80) else l, "numbering",
     "chain A residue 80A: insertion codes are not supported; renumber the model"),
])
def test_bad_residues_and_atoms(tmp_path, wt_model, edit, kind, message):
    report = check_model(edit_pdb(wt_model, tmp_path / "bad.pdb", change=edit), GPA_WT)
    assert report.errors[0].kind == kind
    assert report.first_error == f"bad.pdb: {message}"


def test_duplicate_atoms_residues_and_alternate_locations(tmp_path, wt_model):
    lines = wt_model.read_text().splitlines()
    ca = next(i for i, l in enumerate(lines) if l.startswith("ATOM") and _at(l, "A", 75, "CA"))
    dup_atom = tmp_path / "dup_atom.pdb"
    dup_atom.write_text("\n".join(lines[:ca + 1] + [lines[ca]] + lines[ca + 1:]) + "\n")
    assert check_model(dup_atom, GPA_WT).first_error == \
        "dup_atom.pdb: chain A residue 75 LEU: atom CA appears twice"

    res75 = [l for l in lines if l.startswith("ATOM") and _at(l, "A", 75)]
    end_a = max(i for i, l in enumerate(lines) if l.startswith("ATOM") and l[21] == "A")
    dup_res = tmp_path / "dup_res.pdb"
    dup_res.write_text("\n".join(lines[:end_a + 1] + res75 + lines[end_a + 1:]) + "\n")
    assert check_model(dup_res, GPA_WT).first_error == \
        "dup_res.pdb: chain A residue 75 appears twice (LEU, then LEU)"

    alt = [l[:16] + "B" + l[17:] for l in res75]
    first = next(i for i, l in enumerate(lines) if l.startswith("ATOM") and _at(l, "A", 75))
    altloc = tmp_path / "altloc.pdb"
    body = lines[:first] + [l[:16] + "A" + l[17:] for l in res75] + alt + lines[first + len(res75):]
    altloc.write_text("\n".join(body) + "\n")
    report = check_model(altloc, GPA_WT)
    assert report.first_error == "altloc.pdb: chain A residue 75 LEU: alternate locations A, B; keep one"


@pytest.mark.parametrize("content", [b"", b"hello\nworld\n", b"\x00\x01\x02 binary", b"ATOM  garbage\n"])
def test_unreadable_files(tmp_path, content):
    path = tmp_path / "junk.pdb"
    path.write_bytes(content)
    report = check_model(path, GPA_WT)
    assert [p.kind for p in report.problems] == ["unreadable"]
    assert report.first_error.startswith(f"cannot read {path} as a structure")
    assert "\n" not in report.first_error


def test_missing_file_and_garbage_mmcif(tmp_path):
    assert check_model(tmp_path / "absent.pdb", GPA_WT).first_error.startswith(
        f"cannot read {tmp_path / 'absent.pdb'} as a structure")
    cif = tmp_path / "junk.cif"
    cif.write_text("data_x\n_cell.length_a 1\n")
    assert check_model(cif, GPA_WT).first_error.startswith(f"cannot read {cif} as a structure")


def test_mmcif_model_is_read_like_pdb(tmp_path, wt_model):
    from Bio.PDB import MMCIFIO, PDBParser

    structure = PDBParser(QUIET=True).get_structure("m", str(wt_model))
    writer = MMCIFIO()
    writer.set_structure(structure)
    cif = tmp_path / "model.cif"
    writer.save(str(cif))
    assert len(read_atoms(cif)) == len(read_atoms(wt_model))
    assert check_model(cif, GPA_WT).ok
    assert check_model(cif, GPA_G83I).first_error == \
        "model.cif: chain A residue 83: GLY in the model, ILE in G83I's sequence"


def test_gap_is_held_completed_and_released(tmp_path, wt_model):
    def keep(line):
        gap = line[21] == "B" and 80 <= int(line[22:26]) <= 82
        atoms = _at(line, "A", 75, "CD1") or _at(line, "A", 75, "CD2")
        return not (gap or atoms)

    gapped = edit_pdb(wt_model, tmp_path / "gapped.pdb", keep=keep)
    before = gapped.read_bytes()
    report = check_model(gapped, GPA_WT)
    assert not report.errors and report.waiting
    assert report.missing_residues == {"B": [80, 81, 82]}
    assert report.missing_atoms == {("A", 75): ["CD1", "CD2"]}
    assert report.status == "waiting: missing residues B:80–82; missing heavy atoms A:75 (CD1, CD2)"
    completed = complete_model(gapped, GPA_WT, tmp_path / "completed.pdb")
    assert completed.ok and completed.status == "ok"
    assert gapped.read_bytes() == before
    atoms = read_atoms(tmp_path / "completed.pdb")
    chain_b = [(a.resid, a.resname) for a in atoms if a.chain == "B" and a.name == "CA"]
    assert chain_b == [(70 + i, r) for i, r in enumerate(
        ["GLU", "PRO", "GLU", "ILE", "THR", "LEU", "ILE", "ILE", "PHE", "GLY", "VAL", "MET", "ALA",
         "GLY", "VAL", "ILE", "GLY", "THR", "ILE", "LEU", "LEU", "ILE", "SER", "TYR", "GLY", "ILE",
         "ARG", "ARG", "LEU"])]
    assert not (tmp_path / ".completed.pdb.tmp").exists()


def test_terminal_residues_missing_are_completed(tmp_path, wt_model):
    trimmed = edit_pdb(wt_model, tmp_path / "trimmed.pdb", keep=lambda l: int(l[22:26]) not in (70, 98))
    report = check_model(trimmed, GPA_WT)
    assert report.status == "waiting: missing residues A:70, A:98, B:70, B:98"
    assert complete_model(trimmed, GPA_WT, tmp_path / "full.pdb").ok


def test_a_model_with_errors_is_not_completed(tmp_path, wt_model):
    with pytest.raises(ModelCheckError, match="cannot complete GpA-WT_001.pdb: chain A residue 83"):
        complete_model(wt_model, GPA_G83I, tmp_path / "never.pdb")
    assert not (tmp_path / "never.pdb").exists()


def test_residue_ranges():
    assert residue_ranges([47, 45, 46, 50, 52, 53]) == ["45–47", "50", "52–53"]
    assert residue_ranges([]) == []
