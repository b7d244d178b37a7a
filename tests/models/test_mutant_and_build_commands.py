"""``mpflow mutant add|list`` write the project file through its validation (one-line errors, the
file unchanged on error); ``mpflow build`` writes models that import as they are."""

from __future__ import annotations

import json

import pytest

from mpflow.project.file import Project


@pytest.mark.parametrize("args,message", [
    (["X1", "EPEITLXB"], "mutant X1: sequence: has 'B', 'X' (first at position 8); use one-letter codes "
                         "of the 20 standard amino acids"),
    (["bad/name", "AAAA"], "mutant bad/name: name: 'bad/name' must be 1-64 letters, digits, '_', '.' or '-', "
                           "starting with a letter or digit (it names folders and Slurm jobs)"),
    (["Z", "AAAA", "--oligomer", "0"], "mutant Z: oligomer: must be at least 1 chain, got 0"),
    (["Z", "AAAA", "--oligomer", "100000"], "mutant Z: oligomer: must be at most 62 chains (a PDB chain id is "
                                            "one character: A-Z, a-z, 0-9), got 100000"),
    (["Z", "AAAA", "--first-resid", "9998"], "mutant Z: residues 9998-10001 do not fit PDB numbering "
                                             "(-999 to 9999)"),
    (["GpA-WT", "AAAA"], "mutant GpA-WT is already in {file} with another sequence, oligomer, first_resid; "
                         "pick another name"),
    (["G83I", "EPEITLIIFGVMAGVIGTILLISYGIRRL", "--oligomer", "2", "--first-resid", "70"],
     "mutant G83I is already in {file} with another sequence; pick another name"),
    (["--example", "GpA-XX"], "no example mutant 'GpA-XX'; the examples are GpA-WT, G83I, Wza-like"),
    (["Only"], "give NAME and SEQUENCE (or --example NAME)"),
])
def test_bad_mutants_are_one_line_and_leave_the_file_alone(proj, args, message):
    before = proj.project.file.read_bytes()
    result = proj.cli("mutant", "add", *args)
    assert result.exit_code == 2
    assert result.stderr == f"error: {message.format(file=proj.project.file)}\n"
    assert proj.project.file.read_bytes() == before


def test_add_list_and_examples(proj):
    result = proj.cli("mutant", "add", "TM-1", "lvvgg iaall", "--oligomer", "3", "--first-resid", "10")
    assert (result.exit_code, result.stdout) == (0, "added mutant TM-1: 10 residues 10–19, 3 chain(s)\n")
    assert proj.cli("mutant", "add", "--example", "wza-like").exit_code == 0
    again = proj.cli("mutant", "add", "--example", "Wza-like")
    assert again.stdout.startswith("mutant Wza-like is already in the project")
    text = proj.project.file.read_text()
    assert '[mutants.TM-1]\nsequence = "LVVGGIAALL"\noligomer = 3\nfirst_resid = 10\n\n' in text
    assert "# the master first" in text  # the user's comments are kept
    mutants = {m.name: m for m in Project.load(proj.root).config.mutants.values()}
    assert list(mutants) == ["GpA-WT", "G83I", "TM-1", "Wza-like"]
    assert (mutants["Wza-like"].oligomer, mutants["Wza-like"].first_resid) == (8, 1)
    listed = json.loads(proj.cli("mutant", "list", "--json").stdout)
    assert [(m["name"], m["oligomer"], m["last_resid"], m["models"]) for m in listed] == [
        ("GpA-WT", 2, 98, 0), ("G83I", 2, 98, 0), ("TM-1", 3, 19, 0), ("Wza-like", 8, 32, 0)]


def test_build_writes_models_ready_for_import(proj):
    result = proj.cli("build", "G83I", "--models", "4", "--seed", "2")
    assert result.exit_code == 0, result.output
    folder = proj.root / "built" / "G83I"
    assert sorted(p.name for p in folder.iterdir()) == [f"G83I_{i:03d}.pdb" for i in range(1, 5)]
    assert result.stdout.splitlines()[-1] == f"import them with: mpflow import G83I {folder}"
    imported = proj.cli("import", "G83I", folder)
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.splitlines()[0] == "G83I: 4 imported"
    listed = json.loads(proj.cli("models", "--json").stdout)
    assert [(m["tag"].split(":")[0], m["status"]) for m in listed] == [("G83I", "ok")] * 4
    assert all(m["crossing_angle_deg"] is not None and m["distance_A"] > 7 for m in listed)
    result = proj.cli("build", "Nope", "--models", "2")
    assert result.exit_code == 2 and result.stderr.startswith("error: no mutant 'Nope' in ")


def test_build_refuses_a_mutant_whose_helices_overflow_pdb_columns(proj):
    """Issue 24, item 3: a 9,999-residue mutant is added (docked models of a long protein may be
    imported), but `build` refuses it in one line and writes nothing."""
    assert proj.cli("mutant", "add", "Long", "A" * 9999).exit_code == 0
    result = proj.cli("build", "Long", "--models", "1")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: Long: an ideal helix of 9999 residues is 14997 Å long: its "
                                    "coordinates would not fit a PDB file's columns")
    assert result.stderr.count("\n") == 1
    assert not (proj.root / "built" / "Long").exists()
