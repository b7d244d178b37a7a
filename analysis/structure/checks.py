"""Checks of a docked model file against its mutant, and completion of missing parts with PDBFixer.

This module owns what a model file must satisfy before it enters a project: it reads PDB or mmCIF
records as they are (its own fixed-column PDB reader and Biopython's mmCIF dictionary, so that
duplicates and alternate locations are seen rather than merged away) and returns a
:class:`ModelReport`:

- **errors** (the model is refused; the first one is the one-line message, see
  :attr:`ModelReport.first_error`): unreadable file, chain count against the oligomeric state,
  unknown residues (not one of the 20 amino acids or a usual protonation variant), duplicate
  residues, insertion codes, alternate locations, duplicate atoms, atom names that the residue
  does not have, residues outside the mutant's numbering, and sequence mismatches, named like
  ``chain B residue 83: ILE in the model, GLY in G83I's sequence``;
- **waiting** (the model is held until completed): residues of the mutant's sequence absent from
  a chain (``waiting: missing residues B:45–47``) and missing heavy atoms.

Hydrogens are allowed under any name (naming schemes differ between tools); heavy-atom names must
be the PDB's (plus the C-terminal OXT/OT1/OT2/OC1/OC2, and CD for isoleucine's CD1).  Only the
first model of a multi-model file is read.  :func:`complete_model` rebuilds missing residues and
heavy atoms with PDBFixer, writes the result (temporary name, then rename) and checks it again.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from openmm.app import PDBFile
from pdbfixer import PDBFixer

from mpflow.project.mutants import THREE_LETTER, Mutant

#: heavy atoms of the 20 amino acids (PDB names)
HEAVY_ATOMS: dict[str, tuple[str, ...]] = {
    "ALA": ("CB",), "ARG": ("CB", "CG", "CD", "NE", "CZ", "NH1", "NH2"),
    "ASN": ("CB", "CG", "OD1", "ND2"), "ASP": ("CB", "CG", "OD1", "OD2"), "CYS": ("CB", "SG"),
    "GLN": ("CB", "CG", "CD", "OE1", "NE2"), "GLU": ("CB", "CG", "CD", "OE1", "OE2"), "GLY": (),
    "HIS": ("CB", "CG", "ND1", "CD2", "CE1", "NE2"), "ILE": ("CB", "CG1", "CG2", "CD1"),
    "LEU": ("CB", "CG", "CD1", "CD2"), "LYS": ("CB", "CG", "CD", "CE", "NZ"),
    "MET": ("CB", "CG", "SD", "CE"), "PHE": ("CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ"),
    "PRO": ("CB", "CG", "CD"), "SER": ("CB", "OG"), "THR": ("CB", "OG1", "CG2"),
    "TRP": ("CB", "CG", "CD1", "CD2", "NE1", "CE2", "CE3", "CZ2", "CZ3", "CH2"),
    "TYR": ("CB", "CG", "CD1", "CD2", "CE1", "CE2", "CZ", "OH"), "VAL": ("CB", "CG1", "CG2"),
}
BACKBONE = ("N", "CA", "C", "O")
C_TERMINAL = ("OXT", "OT1", "OT2", "OC1", "OC2")
#: atom names other tools use for a PDB name
ATOM_ALIASES = {("ILE", "CD"): "CD1"}
#: protonation-state and force-field residue names → the amino acid
RESIDUE_ALIASES = {
    "HID": "HIS", "HIE": "HIS", "HIP": "HIS", "HSD": "HIS", "HSE": "HIS", "HSP": "HIS",
    "HISD": "HIS", "HISE": "HIS", "HISH": "HIS", "HISA": "HIS", "HISB": "HIS",
    "CYX": "CYS", "CYM": "CYS", "CYS2": "CYS", "ASH": "ASP", "ASPH": "ASP", "GLH": "GLU",
    "GLUH": "GLU", "LYN": "LYS", "LSN": "LYS", "LYSH": "LYS", "ARGN": "ARG",
}
THREE_LETTER_NAMES = frozenset(THREE_LETTER.values())

#: problem kinds in the order they are reported (the first problem is the model's error)
ERROR_KINDS = ("unreadable", "chain_count", "unknown_residue", "duplicate_residue", "numbering",
               "altloc", "duplicate_atom", "unknown_atom", "sequence")
WAITING_KINDS = ("missing_residues", "missing_atoms")


class StructureReadError(ValueError):
    """A file that cannot be read as a structure (one-line message)."""


class ModelCheckError(ValueError):
    """A model that cannot be accepted or completed (one-line message)."""


@dataclass(frozen=True)
class AtomRecord:
    """One ATOM/HETATM record as written in the file."""

    name: str
    altloc: str
    resname: str
    chain: str
    resid: int
    icode: str
    element: str
    line: int


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`check_model`: ``kind`` (see ERROR_KINDS / WAITING_KINDS) and a one-line
    ``message``, with the chain and residue it concerns when there is one."""

    kind: str
    message: str
    chain: str | None = None
    resid: int | None = None


@dataclass
class ModelReport:
    """What :func:`check_model` found in one model file."""

    path: Path
    mutant: str
    chains: list[str] = field(default_factory=list)
    n_atoms: int = 0
    problems: list[Problem] = field(default_factory=list)
    missing_residues: dict[str, list[int]] = field(default_factory=dict)
    missing_atoms: dict[tuple[str, int], list[str]] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.kind in ERROR_KINDS]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def waiting(self) -> bool:
        """No error, but residues or heavy atoms are missing (completion can fix it)."""
        return not self.errors and bool(self.missing_residues or self.missing_atoms)

    @property
    def first_error(self) -> str | None:
        """``FILE: message`` of the first problem (errors before missing parts), or None; an
        unreadable file's message names the file itself."""
        if not self.problems:
            return None
        first = self.problems[0]
        return first.message if first.kind == "unreadable" else f"{self.path.name}: {first.message}"

    @property
    def status(self) -> str:
        """``ok``, ``waiting: missing residues B:45–47; …`` or ``error: <first problem>``."""
        if self.errors:
            return f"error: {self.errors[0].message}"
        if not self.waiting:
            return "ok"
        parts = []
        if self.missing_residues:
            parts.append("missing residues " + ", ".join(
                f"{chain}:{span}" for chain, resids in self.missing_residues.items()
                for span in residue_ranges(resids)))
        if self.missing_atoms:
            items = [f"{chain}:{resid} ({', '.join(names)})"
                     for (chain, resid), names in self.missing_atoms.items()]
            more = f", … ({len(items) - 5} more residues)" if len(items) > 5 else ""
            parts.append("missing heavy atoms " + ", ".join(items[:5]) + more)
        return "waiting: " + "; ".join(parts)


def residue_ranges(resids: list[int]) -> list[str]:
    """``[45, 46, 47, 50]`` → ``["45–47", "50"]`` (en dash)."""
    out: list[str] = []
    resids = sorted(resids)
    start = prev = None
    for r in resids + [None]:
        if start is not None and (r is None or r != prev + 1):
            out.append(f"{start}" if start == prev else f"{start}–{prev}")
            start = None
        if r is not None and start is None:
            start = r
        prev = r
    return out


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------

def _element(name: str, given: str) -> str:
    given = given.strip().upper()
    if given:
        return given
    letters = name.lstrip("0123456789")
    return letters[:1].upper()


def _read_pdb(path: Path, text: str) -> list[AtomRecord]:
    atoms = []
    for number, line in enumerate(text.splitlines(), start=1):
        record = line[:6]
        if record == "ENDMDL":
            break
        if record not in ("ATOM  ", "HETATM"):
            continue
        try:
            name = line[12:16].strip()
            resid = int(line[22:26])
            [float(line[k:k + 8]) for k in (30, 38, 46)]
        except ValueError:
            raise StructureReadError(f"cannot read {path} as a structure: line {number} is not a "
                                     "valid ATOM/HETATM record") from None
        chain = line[21].strip() or line[72:76].strip()
        atoms.append(AtomRecord(name, line[16].strip(), line[17:21].strip(), chain, resid,
                                line[26].strip(), _element(name, line[76:78]), number))
    return atoms


def _read_mmcif(path: Path) -> list[AtomRecord]:
    try:
        data = MMCIF2Dict(str(path))
    except Exception:  # noqa: BLE001 - Biopython raises many kinds on garbage
        raise StructureReadError(f"cannot read {path} as a structure") from None

    def column(*names: str) -> list[str] | None:
        for name in names:
            values = data.get(f"_atom_site.{name}")
            if values is not None:
                return [v if v not in ("?", ".") else "" for v in values]
        return None

    names = column("auth_atom_id", "label_atom_id")
    resnames = column("auth_comp_id", "label_comp_id")
    chains = column("auth_asym_id", "label_asym_id")
    resids = column("auth_seq_id", "label_seq_id")
    if not names or not resnames or not chains or not resids or column("Cartn_x") is None:
        raise StructureReadError(f"cannot read {path} as a structure: no atom_site coordinates")
    n = len(names)
    altlocs = column("label_alt_id") or [""] * n
    icodes = column("pdbx_PDB_ins_code") or [""] * n
    elements = column("type_symbol") or [""] * n
    models = column("pdbx_PDB_model_num") or ["1"] * n
    atoms = []
    for i in range(n):
        if models[i] != models[0]:
            break
        try:
            resid = int(resids[i])
        except ValueError:
            raise StructureReadError(f"cannot read {path} as a structure: atom {i + 1} has residue "
                                     f"number {resids[i]!r}") from None
        atoms.append(AtomRecord(names[i].strip('"'), altlocs[i], resnames[i], chains[i], resid,
                                icodes[i], _element(names[i], elements[i]), i + 1))
    return atoms


def read_atoms(path: str | Path) -> list[AtomRecord]:
    """The atom records of ``path`` (PDB, or mmCIF by ``.cif``/``.mmcif`` suffix or ``data_``
    header); :class:`StructureReadError` ``cannot read FILE as a structure`` when it has none."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise StructureReadError(f"cannot read {path} as a structure: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            raise StructureReadError(f"cannot read {path} as a structure") from None
    if "\x00" in text:
        raise StructureReadError(f"cannot read {path} as a structure")
    is_cif = path.suffix.lower() in (".cif", ".mmcif") or text.lstrip().startswith("data_")
    atoms = _read_mmcif(path) if is_cif else _read_pdb(path, text)
    if not atoms:
        raise StructureReadError(f"cannot read {path} as a structure")
    return atoms


# --------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------

def _oligomer_word(n: int) -> str:
    words = {1: "monomer", 2: "dimer", 3: "trimer", 4: "tetramer", 5: "pentamer", 6: "hexamer",
             7: "heptamer", 8: "octamer"}
    return f"a {words[n]} ({n} chains)" if n in words else f"an oligomer of {n} chains"


def check_model(path: str | Path, mutant: Mutant) -> ModelReport:
    """Check the model file ``path`` against ``mutant`` (see the module docstring)."""
    path = Path(path)
    report = ModelReport(path, mutant.name)
    try:
        atoms = read_atoms(path)
    except StructureReadError as exc:
        report.problems.append(Problem("unreadable", str(exc)))
        return report
    report.n_atoms = len(atoms)
    problems: list[Problem] = []

    # residues: runs of consecutive records with the same (chain, resid, icode, resname)
    runs: list[tuple[tuple[str, int, str, str], list[AtomRecord]]] = []
    for atom in atoms:
        key = (atom.chain, atom.resid, atom.icode, atom.resname)
        if runs and runs[-1][0] == key:
            runs[-1][1].append(atom)
        else:
            runs.append((key, [atom]))
    chains = list(dict.fromkeys(key[0] for key, _ in runs))
    report.chains = chains
    if len(chains) != mutant.oligomer:
        shown = ", ".join(c or "(blank)" for c in chains)
        problems.append(Problem("chain_count", f"{len(chains)} chain{'s' if len(chains) != 1 else ''} "
                                f"({shown}) in the model, but {mutant.name} is "
                                f"{_oligomer_word(mutant.oligomer)}"))
    last_run_of_chain = {key[0]: i for i, (key, _) in enumerate(runs)}
    seen: dict[tuple[str, int, str], str] = {}
    present: dict[str, set[int]] = {c: set() for c in chains}
    for i, ((chain, resid, icode, resname), records) in enumerate(runs):
        where = f"chain {chain or '(blank)'} residue {resid}{icode}"
        canonical = RESIDUE_ALIASES.get(resname, resname)
        res_key = (chain, resid, icode)
        if res_key in seen:
            problems.append(Problem("duplicate_residue", f"{where} appears twice ({seen[res_key]}, "
                                    f"then {resname})", chain, resid))
            continue
        seen[res_key] = resname
        if canonical not in THREE_LETTER_NAMES:
            problems.append(Problem("unknown_residue", f"{where}: unknown residue {resname!r} (not "
                                    "one of the 20 amino acids)", chain, resid))
            continue
        if icode:
            problems.append(Problem("numbering", f"{where}: insertion codes are not supported; "
                                    "renumber the model", chain, resid))
            continue
        altlocs = sorted({a.altloc for a in records if a.altloc})
        if altlocs:
            problems.append(Problem("altloc", f"{where} {resname}: alternate locations "
                                    f"{', '.join(altlocs)}; keep one", chain, resid))
        allowed = set(BACKBONE) | set(HEAVY_ATOMS[canonical])
        is_c_terminal = i == last_run_of_chain[chain]
        names_seen: set[tuple[str, str]] = set()
        heavy_names: set[str] = set()
        for atom in records:
            if (atom.name, atom.altloc) in names_seen:
                problems.append(Problem("duplicate_atom", f"{where} {resname}: atom {atom.name} "
                                        "appears twice", chain, resid))
                break
            names_seen.add((atom.name, atom.altloc))
            if atom.element == "H" or atom.element == "D":
                continue
            name = ATOM_ALIASES.get((canonical, atom.name), atom.name)
            if name not in allowed and not (is_c_terminal and name in C_TERMINAL):
                problems.append(Problem("unknown_atom", f"{where} {resname}: atom {atom.name} is not "
                                        f"a {canonical} atom", chain, resid))
                break
            heavy_names.add(name)
        if is_c_terminal and "O" not in heavy_names and heavy_names & {"OT1", "OC1"}:
            heavy_names.add("O")
        missing = [n for n in (*BACKBONE, *HEAVY_ATOMS[canonical]) if n not in heavy_names]
        if not mutant.first_resid <= resid <= mutant.last_resid:
            problems.append(Problem("numbering", f"{where}: outside {mutant.name}'s sequence "
                                    f"(residues {mutant.first_resid}–{mutant.last_resid})",
                                    chain, resid))
            continue
        present[chain].add(resid)
        expected = mutant.residue_name(resid)
        if canonical != expected:
            problems.append(Problem("sequence", f"{where}: {resname} in the model, {expected} in "
                                    f"{mutant.name}'s sequence", chain, resid))
            continue
        if missing:
            report.missing_atoms[(chain, resid)] = missing
    for chain in chains:
        absent = sorted(set(range(mutant.first_resid, mutant.last_resid + 1)) - present[chain])
        if absent and present[chain]:
            report.missing_residues[chain] = absent
    for chain, resids in report.missing_residues.items():
        problems.append(Problem("missing_residues", f"chain {chain}: missing residues "
                                f"{', '.join(residue_ranges(resids))}", chain, resids[0]))
    for (chain, resid), names in report.missing_atoms.items():
        problems.append(Problem("missing_atoms", f"chain {chain} residue {resid}: missing heavy atoms "
                                f"{', '.join(names)}", chain, resid))
    rank = {kind: k for k, kind in enumerate(ERROR_KINDS + WAITING_KINDS)}
    report.problems = sorted(problems, key=lambda p: rank[p.kind])  # stable: file order within a kind
    return report


# --------------------------------------------------------------------------------------------
# completion
# --------------------------------------------------------------------------------------------

def complete_model(path: str | Path, mutant: Mutant, out_path: str | Path, *, seed: int = 0
                   ) -> ModelReport:
    """Rebuild the missing residues and heavy atoms of ``path`` with PDBFixer into ``out_path``
    (PDB, original numbering; written to a temporary name, then renamed) and check the result.

    A model with errors (anything but missing parts) is refused with :class:`ModelCheckError`.
    """
    path, out_path = Path(path), Path(out_path)
    report = check_model(path, mutant)
    if report.errors:
        raise ModelCheckError(f"cannot complete {report.first_error}")
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if not report.waiting:
        shutil.copyfile(path, tmp)
        tmp.replace(out_path)
        return check_model(out_path, mutant)

    fixer = PDBFixer(filename=str(path))
    chain_index = {chain.id: chain.index for chain in fixer.topology.chains()}
    missing_residues: dict[tuple[int, int], list[str]] = {}
    for chain, absent in report.missing_residues.items():
        present = sorted(set(range(mutant.first_resid, mutant.last_resid + 1)) - set(absent))
        for span in _runs(absent):
            before = sum(1 for r in present if r < span[0])
            missing_residues[(chain_index[chain], before)] = [mutant.residue_name(r) for r in span]
    fixer.missingResidues = missing_residues
    fixer.findMissingAtoms()
    fixer.addMissingAtoms(seed=seed)
    with open(tmp, "w") as handle:
        PDBFile.writeFile(fixer.topology, fixer.positions, handle, keepIds=True)
    tmp.replace(out_path)
    return check_model(out_path, mutant)


def _runs(resids: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for r in sorted(resids):
        if runs and r == runs[-1][-1] + 1:
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs

