"""Mutants of a project: the validated ``Mutant`` record and the naming of point mutations.

A mutant is what every model of a project is tagged with: a ``name`` (it becomes a folder on both
clusters and part of Slurm job names, so it is restricted to ``^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$``),
its ``sequence`` (one-letter codes of the 20 standard amino acids, one chain), its ``oligomer``
state (number of identical chains, C_n) and ``first_resid`` (the residue number of the
sequence's first residue, so ``G83I`` means the residue numbered 83 in the models).

Mutations are written ``G83I`` (wild-type letter, residue number, new letter); ``Gly83Ile``,
``GLY83ILE`` and ``p.Gly83Ile`` are read too, and several are joined with ``/``, ``,``, ``+``,
``;`` or spaces. :func:`parse_mutations` checks them against the wild type,
:func:`apply_mutations` makes the mutant, :func:`describe_mutations` names the differences of two
sequences. Every error is a :class:`MutantError` with a one-line message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

#: one-letter → three-letter codes of the 20 standard amino acids
THREE_LETTER = {
    "A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "Q": "GLN", "E": "GLU",
    "G": "GLY", "H": "HIS", "I": "ILE", "L": "LEU", "K": "LYS", "M": "MET", "F": "PHE",
    "P": "PRO", "S": "SER", "T": "THR", "W": "TRP", "Y": "TYR", "V": "VAL",
}
ONE_LETTER = {three: one for one, three in THREE_LETTER.items()}
AMINO_ACIDS = frozenset(THREE_LETTER)
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
#: the largest residue number a PDB file can hold (4 columns)
MAX_PDB_RESID = 9999
#: the most chains a model can have: a PDB file's chain id is one character (A-Z, a-z, 0-9), and
#: mpflow stages every model as PDB for the preparation
MAX_CHAINS = 62
#: a coordinate column of a PDB file (8.3f) holds -999.999 to 9999.999 Å
PDB_COORDINATE_RANGE = (-999.999, 9999.999)
#: rise per residue of an ideal alpha helix, Å (what ``mpflow build`` makes)
HELIX_RISE_A = 1.5
#: room ``mpflow build`` needs around a helix's axis: the ring's radius, side chains and the random
#: shift of the pose (Å)
BUILD_MARGIN_A = 60.0


class MutantError(ValueError):
    """A mutant or a mutation that cannot be accepted; the message is one line."""


class Mutant(BaseModel):
    """One mutant: name, one-chain sequence, number of chains, number of the first residue."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(description="Safe for folder and Slurm job names, e.g. GpA-WT or G83I.")
    sequence: str = Field(description="One-letter amino-acid codes of one chain, N to C.")
    oligomer: int = Field(1, description=f"Number of identical chains (C_n symmetry), 1-{MAX_CHAINS}.")
    first_resid: int = Field(1, description="Residue number of the sequence's first residue.")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not re.fullmatch(NAME_PATTERN, value):
            raise ValueError(f"{value!r} must be 1-64 letters, digits, '_', '.' or '-', "
                             "starting with a letter or digit (it names folders and Slurm jobs)")
        return value

    @field_validator("sequence", mode="before")
    @classmethod
    def _one_letter_codes(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        sequence = re.sub(r"\s+", "", value).upper()
        if not sequence:
            raise ValueError("is empty")
        bad = sorted(set(sequence) - AMINO_ACIDS)
        if bad:
            where = sequence.index(bad[0]) + 1
            raise ValueError(f"has {', '.join(repr(b) for b in bad)} (first at position "
                             f"{where}); use one-letter codes of the 20 standard amino acids")
        return sequence

    @field_validator("oligomer")
    @classmethod
    def _at_least_one_chain(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"must be at least 1 chain, got {value}")
        if value > MAX_CHAINS:
            raise ValueError(f"must be at most {MAX_CHAINS} chains (a PDB chain id is one character: "
                             f"A-Z, a-z, 0-9), got {value}")
        return value

    @model_validator(mode="after")
    def _numbers_fit_a_pdb_file(self) -> Mutant:
        last = self.last_resid
        if self.first_resid < -999 or last > MAX_PDB_RESID:
            raise ValueError(f"residues {self.first_resid}-{last} do not fit PDB numbering "
                             f"(-999 to {MAX_PDB_RESID})")
        return self

    @classmethod
    def create(cls, **fields) -> Mutant:
        """A validated mutant, or :class:`MutantError` with the first problem on one line."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise MutantError(f"mutant {fields.get('name', '?')!s}: {validation_message(exc)}") from None

    def build_problem(self) -> str | None:
        """Why ``mpflow build`` cannot write this mutant's ideal-helix models as PDB files (its
        helices would reach beyond a PDB coordinate column), or None."""
        half_length = HELIX_RISE_A * (len(self.sequence) - 1) / 2
        reach = half_length + BUILD_MARGIN_A
        if reach > -PDB_COORDINATE_RANGE[0]:
            longest = int((-PDB_COORDINATE_RANGE[0] - BUILD_MARGIN_A) * 2 / HELIX_RISE_A) + 1
            return (f"an ideal helix of {len(self.sequence)} residues is {2 * half_length:.0f} Å long: its "
                    f"coordinates would not fit a PDB file's columns ({PDB_COORDINATE_RANGE[0]} to "
                    f"{PDB_COORDINATE_RANGE[1]} Å); `mpflow build` makes helices of at most {longest} residues "
                    "(import models of longer proteins from files)")
        return None

    @property
    def last_resid(self) -> int:
        return self.first_resid + len(self.sequence) - 1

    def residue_name(self, resid: int) -> str:
        """Three-letter name of residue ``resid`` (numbered from ``first_resid``)."""
        return THREE_LETTER[self.sequence[self.index(resid)]]

    def index(self, resid: int) -> int:
        """0-based position of residue number ``resid`` in the sequence."""
        i = resid - self.first_resid
        if not 0 <= i < len(self.sequence):
            raise MutantError(f"residue {resid} is outside {self.name}'s sequence "
                              f"(residues {self.first_resid}-{self.last_resid})")
        return i


def validation_message(exc: ValidationError) -> str:
    """The first error of a pydantic ``ValidationError`` as ``field: message`` on one line."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err.get("loc", ()))
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    if err.get("type") == "missing":
        msg = "is required"
    elif err.get("type") == "extra_forbidden":
        msg = "is not a mutant field (name, sequence, oligomer, first_resid)"
    # a check of the whole record (no field) reads as the message alone
    return (f"{field}: {msg}" if field else msg).splitlines()[0]


@dataclass(frozen=True)
class Mutation:
    """A point substitution: ``wild_type`` letter at residue ``resid`` becomes ``new``."""

    wild_type: str
    resid: int
    new: str

    def __str__(self) -> str:
        return f"{self.wild_type}{self.resid}{self.new}"


_MUTATION = re.compile(r"(?:p\.)?([A-Za-z]{3}|[A-Za-z])(-?\d+)([A-Za-z]{3}|[A-Za-z])")
_THREE_TO_ONE_ANY_CASE = {three: one for three, one in ONE_LETTER.items()}


def _letter(code: str, text: str) -> str:
    if len(code) == 1:
        letter = code.upper()
        if letter not in AMINO_ACIDS:
            raise MutantError(f"mutation {text!r}: {code!r} is not a standard amino acid")
        return letter
    letter = _THREE_TO_ONE_ANY_CASE.get(code.upper())
    if letter is None:
        raise MutantError(f"mutation {text!r}: {code!r} is not a standard amino acid")
    return letter


def parse_mutation(text: str) -> Mutation:
    """``G83I`` / ``Gly83Ile`` / ``GLY83ILE`` / ``p.Gly83Ile`` → :class:`Mutation` (no wild-type check)."""
    m = _MUTATION.fullmatch(text.strip())
    if m is None:
        raise MutantError(f"mutation {text!r} is not of the form G83I (wild type, residue number, "
                          "new residue)")
    wt, new = _letter(m.group(1), text), _letter(m.group(3), text)
    if wt == new:
        raise MutantError(f"mutation {text!r} changes nothing")
    return Mutation(wt, int(m.group(2)), new)


def parse_mutations(text: str | list[str], wild_type: Mutant) -> list[Mutation]:
    """Mutations in ``text`` checked against ``wild_type``'s sequence, sorted by residue number."""
    parts = text if isinstance(text, list) else [p for p in re.split(r"[\s,;/+]+", text) if p]
    if not parts:
        raise MutantError("no mutation given (e.g. G83I)")
    mutations = [parse_mutation(p) for p in parts]
    seen: dict[int, Mutation] = {}
    for mut in mutations:
        if mut.resid in seen:
            raise MutantError(f"mutations {seen[mut.resid]} and {mut} both change residue {mut.resid}")
        seen[mut.resid] = mut
        actual = wild_type.sequence[wild_type.index(mut.resid)]
        if actual != mut.wild_type:
            raise MutantError(f"mutation {mut}: residue {mut.resid} of {wild_type.name} is "
                              f"{actual} ({THREE_LETTER[actual]}), not {mut.wild_type}")
    return sorted(mutations, key=lambda m: m.resid)


def apply_mutations(wild_type: Mutant, mutations: str | list[str], name: str | None = None) -> Mutant:
    """The mutant of ``wild_type`` carrying ``mutations``; named e.g. ``G79A_G83I`` unless ``name``."""
    muts = parse_mutations(mutations, wild_type)
    seq = list(wild_type.sequence)
    for mut in muts:
        seq[wild_type.index(mut.resid)] = mut.new
    return Mutant.create(name=name or "_".join(str(m) for m in muts), sequence="".join(seq),
                         oligomer=wild_type.oligomer, first_resid=wild_type.first_resid)


def describe_mutations(wild_type: Mutant, mutant: Mutant) -> list[Mutation]:
    """The substitutions that turn ``wild_type`` into ``mutant`` (same length and numbering)."""
    if (len(mutant.sequence), mutant.first_resid) != (len(wild_type.sequence), wild_type.first_resid):
        raise MutantError(f"{mutant.name} and {wild_type.name} cover different residues "
                          f"({mutant.first_resid}-{mutant.last_resid} vs "
                          f"{wild_type.first_resid}-{wild_type.last_resid}): not point mutants")
    return [Mutation(a, wild_type.first_resid + i, b)
            for i, (a, b) in enumerate(zip(wild_type.sequence, mutant.sequence)) if a != b]


#: glycophorin A's transmembrane segment, residue 70 onwards (G79 and G83 form its GxxxG motif)
GPA_WT = Mutant(name="GpA-WT", sequence="EPEITLIIFGVMAGVIGTILLISYGIRRL", oligomer=2, first_resid=70)
#: the disruptive GxxxG mutant of glycophorin A
GPA_G83I = apply_mutations(GPA_WT, "G83I")
#: a Wza-like C8 ring of 32-residue amphipathic helices (made-up sequence, not Wza's own)
WZA_LIKE = Mutant(name="Wza-like", sequence="SPEELIKAFAEYLAKVAGELWKRLAEAFDKLG", oligomer=8, first_resid=1)
#: the shipped example mutants by name
EXAMPLES = {m.name: m for m in (GPA_WT, GPA_G83I, WZA_LIKE)}


def example_mutant(name: str) -> Mutant:
    """The shipped example called ``name`` (any letter case): GpA-WT, G83I or Wza-like."""
    for key, mutant in EXAMPLES.items():
        if key.lower() == name.strip().lower():
            return mutant
    raise MutantError(f"no example mutant {name!r}; the examples are {', '.join(EXAMPLES)}")
