"""The Mutant record: validation with one-line errors, mutation names, the shipped examples."""

from __future__ import annotations

import pytest

from mpflow.project.mutants import (
    EXAMPLES,
    GPA_G83I,
    GPA_WT,
    Mutant,
    MutantError,
    Mutation,
    apply_mutations,
    describe_mutations,
    parse_mutation,
    parse_mutations,
)


def test_examples():
    assert set(EXAMPLES) == {"GpA-WT", "G83I", "Wza-like"}
    assert GPA_WT.sequence == "EPEITLIIFGVMAGVIGTILLISYGIRRL" and GPA_WT.first_resid == 70
    assert GPA_WT.residue_name(79) == GPA_WT.residue_name(83) == "GLY"  # the GxxxG motif
    assert GPA_G83I.residue_name(83) == "ILE" and GPA_G83I.oligomer == 2
    assert EXAMPLES["Wza-like"].oligomer == 8 and len(EXAMPLES["Wza-like"].sequence) == 32


def test_sequence_is_normalised():
    mutant = Mutant.create(name="x.1_b-2", sequence=" acd\nefg ", oligomer=3, first_resid=-2)
    assert mutant.sequence == "ACDEFG" and mutant.last_resid == 3


@pytest.mark.parametrize(("fields", "message"), [
    (dict(name="G83 I", sequence="AAA"),
     "mutant G83 I: name: 'G83 I' must be 1-64 letters, digits, '_', '.' or '-', starting with a "
     "letter or digit (it names folders and Slurm jobs)"),
    (dict(name="-x", sequence="AAA"), "mutant -x: name: '-x' must be"),
    (dict(name="x" * 65, sequence="AAA"), "name: 'xxxx"),
    (dict(name="x", sequence="AXZB"),
     "mutant x: sequence: has 'B', 'X', 'Z' (first at position 4); use one-letter codes of the 20 "
     "standard amino acids"),
    (dict(name="x", sequence="  "), "mutant x: sequence: is empty"),
    (dict(name="x", sequence="AA", oligomer=0), "mutant x: oligomer: must be at least 1 chain, got 0"),
    # issue 24, item 3: more chains than a PDB file can name are refused when the mutant is added
    (dict(name="x", sequence="AA", oligomer=100000), "mutant x: oligomer: must be at most 62 chains (a PDB "
                                                      "chain id is one character: A-Z, a-z, 0-9), got 100000"),
    # issue 24, item 5: a value of the wrong type is refused, not converted (true is not 1 chain)
    (dict(name="x", sequence="AA", oligomer=True), "mutant x: oligomer: Input should be a valid integer"),
    (dict(name="x", sequence="AA", first_resid=2.0), "mutant x: first_resid: Input should be a valid integer"),
    (dict(name="x"), "mutant x: sequence: is required"),
    (dict(name="x", sequence="A", colour="red"),
     "mutant x: colour: is not a mutant field (name, sequence, oligomer, first_resid)"),
    (dict(name="x", sequence="AAAA", first_resid=9998), "residues 9998-10001 do not fit PDB numbering"),
])
def test_bad_mutants_give_one_line_errors(fields, message):
    with pytest.raises(MutantError) as info:
        Mutant.create(**fields)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_mutant_too_long_to_build_says_so_and_a_short_one_builds():
    """Issue 24, item 3: an ideal helix of 9,999 residues would overflow a PDB file's coordinate
    columns; ``Mutant.build_problem`` says so before anything is built."""
    assert GPA_WT.build_problem() is None
    long = Mutant.create(name="long", sequence="A" * 9999, oligomer=2)
    problem = long.build_problem()
    assert problem.startswith("an ideal helix of 9999 residues is 14997 Å long: its coordinates would not fit")
    assert "at most 1254 residues" in problem
    assert Mutant.create(name="edge", sequence="A" * 1254).build_problem() is None
    assert Mutant.create(name="over", sequence="A" * 1255).build_problem() is not None


@pytest.mark.parametrize("text", ["G83I", "g83i", "Gly83Ile", "GLY83ILE", "p.Gly83Ile"])
def test_mutation_spellings(text):
    assert parse_mutation(text) == Mutation("G", 83, "I")


def test_mutation_names():
    mutation = parse_mutation("G83I")
    assert str(mutation) == "G83I"
    assert [str(m) for m in parse_mutations("G83I/G79A", GPA_WT)] == ["G79A", "G83I"]
    assert [str(m) for m in parse_mutations("G79A, G83I", GPA_WT)] == ["G79A", "G83I"]
    double = apply_mutations(GPA_WT, "G79A+G83I")
    assert double.name == "G79A_G83I" and double.residue_name(79) == "ALA"
    assert apply_mutations(GPA_WT, ["G83I"], name="GpA-G83I").name == "GpA-G83I"
    assert describe_mutations(GPA_WT, double) == [Mutation("G", 79, "A"), Mutation("G", 83, "I")]
    assert describe_mutations(GPA_WT, GPA_WT) == []


@pytest.mark.parametrize(("text", "message"), [
    ("A83I", "mutation A83I: residue 83 of GpA-WT is G (GLY), not A"),
    ("G83G", "mutation 'G83G' changes nothing"),
    ("G83X", "mutation 'G83X': 'X' is not a standard amino acid"),
    ("Gly83Xaa", "mutation 'Gly83Xaa': 'Xaa' is not a standard amino acid"),
    ("83I", "mutation '83I' is not of the form G83I"),
    ("G200I", "residue 200 is outside GpA-WT's sequence (residues 70-98)"),
    ("G83I G83A", "mutations G83I and G83A both change residue 83"),
    ("", "no mutation given"),
])
def test_bad_mutations(text, message):
    with pytest.raises(MutantError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_mutations(text, GPA_WT)


def test_describe_needs_the_same_numbering():
    shorter = Mutant.create(name="short", sequence=GPA_WT.sequence[1:], oligomer=2, first_resid=71)
    with pytest.raises(MutantError, match="cover different residues"):
        describe_mutations(GPA_WT, shorter)
