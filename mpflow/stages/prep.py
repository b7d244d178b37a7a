"""Preparation of one model on the master: its protein in a POPC bilayer, solvated and ionised.

This module owns the Python steps of mpflow's ``prep`` protocol
(``templates/protocols/prep.toml``) and :func:`prepare_model`, which runs that protocol in a
model's ``prep/`` folder.  The protocol, with the seed's files4check (in → out):

===========  ===========================================  =====================================
step         in                                           out
===========  ===========================================  =====================================
setup        protein.pdb (the model)                      protein.gro, protein.top (+ chain itps)
embed        protein.gro, protein.top                     embedded.gro, embedded.top, POPC.itp
resolvate    embedded.gro, embedded.top                   ionised.gro, topol.top, index.ndx
relax        ionised.gro, topol.top, index.ndx            prep.gro
===========  ===========================================  =====================================

``prep/prep.gro``, ``prep/topol.top`` (with the .itp files it includes, all in ``prep/``) and
``prep/index.ndx`` (groups Protein, Membrane, Solvent_Ions, Protein_Membrane, …) are what the MD
stages use (contracts.md).  ``topol.top`` defines ``POSRES`` (protein heavy atoms, from pdb2gmx)
and ``POSRES_BB`` (backbone N, C, O: PRMD) restraints.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from mpflow.stages.gmx import ShellRunner, subprocess_runner
from mpflow.tags import MODEL_INPUT
from mpflow.stages.gro import Structure, read_gro, write_gro
from mpflow.stages.membrane import (
    ION_RESNAMES,
    LIPID_RESNAME,
    POPC_ITP,
    WATER_RESNAME,
    MembraneBuildError,
    cache_root,
    embed_protein,
    ensure_popc_patch,
    is_hydrogen,
)
from mpflow.stages.protocols import (
    MissingInputError,
    StepContext,
    StepOutcome,
    run_protocol,
)

PREP_DIR = "prep"
#: molar concentration of pure water, for the ion count from the number of waters
WATER_MOLAR = 55.4
BACKBONE_NAMES = ("N", "C", "O")


# ----------------------------------------------------------------- topology


def _sections(text: str) -> list[tuple[str, list[str]]]:
    """(directive, lines) in file order; lines before the first directive under ``""``."""
    out: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        m = re.match(r"^\s*\[\s*([A-Za-z_]+)\s*\]", line)
        if m:
            out.append((m.group(1), [line]))
        else:
            out[-1][1].append(line)
    return out


def _molecules(top_text: str) -> list[tuple[str, int]]:
    mols = []
    for name, lines in _sections(top_text):
        if name == "molecules":
            for line in lines[1:]:
                parts = line.split(";")[0].split()
                if len(parts) == 2:
                    mols.append((parts[0], int(parts[1])))
    return mols


def _moleculetype_atoms(text: str) -> dict[str, list[tuple[int, str]]]:
    """moleculetype name → [(atom number, atom name)] from a .top/.itp text."""
    found: dict[str, list[tuple[int, str]]] = {}
    current = None
    for name, lines in _sections(text):
        body = [ln.split(";")[0].split() for ln in lines[1:]]
        body = [b for b in body if b and not b[0].startswith("#")]
        if name == "moleculetype" and body:
            current = body[0][0]
            found[current] = []
        elif name == "atoms" and current is not None:
            found[current] += [(int(b[0]), b[4]) for b in body if len(b) >= 5]
    return found


def backbone_restraints_itp(atoms: Sequence[tuple[int, str]], force_kj_mol_nm2: float) -> str:
    """A ``[ position_restraints ]`` block on the backbone N, C, O atoms of one molecule type."""
    lines = ["; backbone N, C, O position restraints for PRMD (mpflow; active with -DPOSRES_BB)",
             "[ position_restraints ]", ";  ai  funct  fcx  fcy  fcz"]
    fc = f"{force_kj_mol_nm2:g}"
    lines += [f"{nr:6d}     1  {fc}  {fc}  {fc}" for nr, name in atoms if name in BACKBONE_NAMES]
    return "\n".join(lines) + "\n"


def write_system_topology(workdir: Path, protein_top: str, out_name: str, n_lipids: int,
                          n_waters: int, restraint_fc: float) -> Path:
    """``out_name``: the protein's molecule types (pdb2gmx's), POPC, water and ions, with
    ``#ifdef POSRES_BB`` backbone restraints after each protein molecule type."""
    protein_mols = _molecules(protein_top)
    if not protein_mols:
        raise MembraneBuildError("protein.top has no [ molecules ] entries")
    lines = protein_top.splitlines()
    includes = [ln for ln in lines if ln.startswith("#include")]
    ff_include = next((ln for ln in includes if ln.endswith('forcefield.itp"')), None)
    if ff_include is None:
        raise MembraneBuildError("protein.top includes no force field (forcefield.itp)")
    ff_dir = ff_include.split('"')[1].split("/")[0]
    local_itps = [ln.split('"')[1] for ln in includes if ".ff/" not in ln and "posre" not in ln]
    atoms: dict[str, list[tuple[int, str]]] = {}
    for itp in local_itps:
        atoms.update(_moleculetype_atoms((workdir / itp).read_text()))
    inline = None
    if not local_itps:
        # one chain: pdb2gmx writes its molecule type into the .top itself; move it to an itp
        start = protein_top.index("[ moleculetype ]")
        stop_marks = [protein_top.find(m, start) for m in ("; Include water topology", "[ system ]")]
        stop = min(s for s in stop_marks if s >= 0)
        inline = "topol_protein.itp"
        (workdir / inline).write_text(protein_top[start:stop])
        local_itps = [inline]
        atoms.update(_moleculetype_atoms(protein_top[start:stop]))
    out = ["; system topology written by mpflow: protein (pdb2gmx), POPC, TIP3P water, ions",
           ff_include, ""]
    for itp in local_itps:
        out.append(f'#include "{itp}"')
        for mol in _moleculetype_atoms((workdir / itp).read_text()):
            restr = f"posre_bb_{mol}.itp"
            (workdir / restr).write_text(backbone_restraints_itp(atoms[mol], restraint_fc))
            out += ["#ifdef POSRES_BB", f'#include "{restr}"', "#endif"]
    out += ["", f'#include "{POPC_ITP}"', "", f'#include "{ff_dir}/tip3p.itp"',
            f'#include "{ff_dir}/ions.itp"', "", "[ system ]", "protein in POPC", "",
            "[ molecules ]"]
    out += [f"{name:<20s}{count:>8d}" for name, count in protein_mols]
    out += [f"{LIPID_RESNAME:<20s}{n_lipids:>8d}", f"{WATER_RESNAME:<20s}{n_waters:>8d}"]
    path = workdir / out_name
    path.write_text("\n".join(out) + "\n")
    return path


def set_water_count(top_text: str, n_waters: int) -> str:
    """``top_text`` with the SOL count of [ molecules ] set to ``n_waters``."""
    def repl(m: re.Match) -> str:
        return f"{m.group(1)}{n_waters:>8d}"
    new, n = re.subn(rf"^({WATER_RESNAME}\s+)\d+\s*$", repl, top_text, flags=re.M)
    if n != 1:
        raise MembraneBuildError(f"topology has {n} {WATER_RESNAME} lines in [ molecules ]")
    return new


# ----------------------------------------------------------------- index


def index_groups(structure: Structure) -> dict[str, np.ndarray]:
    """Index groups (0-based atom indices) for thermostats, restraints and analysis."""
    rn = structure.resnames
    lipid = rn == LIPID_RESNAME
    water = rn == WATER_RESNAME
    ions = np.isin(rn, ION_RESNAMES)
    protein = ~(lipid | water | ions)
    idx = np.arange(structure.n_atoms)
    bb = protein & np.isin(structure.names, BACKBONE_NAMES)
    return {"System": idx, "Protein": idx[protein],
            "Protein-H": idx[protein & ~is_hydrogen(structure.names)],
            "Backbone_NCO": idx[bb], "Membrane": idx[lipid], "POPC": idx[lipid],
            "Water": idx[water], "Ions": idx[ions], "Solvent_Ions": idx[water | ions],
            "Protein_Membrane": idx[protein | lipid]}


def write_index(groups: Mapping[str, np.ndarray], path: Path) -> Path:
    lines = []
    for name, members in groups.items():
        lines.append(f"[ {name} ]")
        one_based = (np.asarray(members) + 1).tolist()
        for k in range(0, len(one_based), 15):
            lines.append(" ".join(f"{v:>5d}" for v in one_based[k:k + 15]))
    path.write_text("\n".join(lines) + "\n")
    return path


# ----------------------------------------------------------------- steps


def ion_pairs(n_waters: int, salt_molar: float) -> int:
    """NaCl pairs for ``salt_molar`` in the water actually present (not the whole box, which
    includes the membrane: ``genion -conc`` would double the salt)."""
    if salt_molar < 0:
        raise ValueError(f"salt concentration must be >= 0, got {salt_molar}")
    return int(round(n_waters * salt_molar / WATER_MOLAR))


def embed_step(ctx: StepContext) -> None:
    """embed: protein.gro + protein.top → embedded.gro, embedded.top, POPC.itp (+ restraint itps).

    The protein's TM axis goes on z at the bilayer centre; overlapping lipids are removed, leaflets
    balanced.  Waters stay until resolvate."""
    patch_files = ensure_popc_patch(cache_root(), gmx=str(ctx.params["gmx"]))
    patch = read_gro(patch_files.gro)
    protein = read_gro(ctx.path("protein.gro"))
    result = embed_protein(protein, patch, lipid_cutoff_nm=float(ctx.params["lipid_cutoff_nm"]),
                           water_cutoff_nm=0.0,
                           balance_leaflets=bool(ctx.params["balance_leaflets"]))
    for note in result.notes:
        ctx.log(f"[embed] {note}")
    ctx.log(f"[embed] {result.n_lipids} POPC kept ({result.lipids_removed_upper} upper / "
            f"{result.lipids_removed_lower} lower removed), tiles {result.tiles}, box "
            + " x ".join(f"{v:.2f}" for v in result.structure.box_nm) + " nm")
    shutil.copyfile(patch_files.itp, ctx.path(POPC_ITP))
    write_gro(result.structure, ctx.path("embedded.gro"))
    write_system_topology(ctx.workdir, ctx.path("protein.top").read_text(), "embedded.top",
                          result.n_lipids, result.n_waters,
                          float(ctx.params["backbone_restraint_kj_mol_nm2"]))


def resolvate_step(ctx: StepContext) -> None:
    """resolvate: embedded.gro/.top → ionised.gro, topol.top, index.ndx.

    Waters whose oxygen is within ``water_cutoff_nm`` of a protein heavy atom go; then genion
    replaces waters by ``round(n_water × salt / 55.4)`` NaCl pairs and neutralises."""
    system = read_gro(ctx.path("embedded.gro"))
    groups = index_groups(system)
    protein_heavy = np.intersect1d(groups["Protein"], groups["Protein-H"])

    box = system.box_nm
    tree = cKDTree(system.positions[protein_heavy] % box, boxsize=box)
    ow = np.flatnonzero(system.names == "OW")
    dist, _ = tree.query(system.positions[ow] % box, k=1)
    clash_res = set(zip(system.resids[ow[dist < float(ctx.params["water_cutoff_nm"])]].tolist(),
                        system.resnames[ow[dist < float(ctx.params["water_cutoff_nm"])]].tolist()))
    keep = np.array([not (rn == WATER_RESNAME and (ri, rn) in clash_res)
                     for ri, rn in zip(system.resids.tolist(), system.resnames.tolist())])
    solvated = system.take(keep)
    n_waters = int((solvated.names == "OW").sum())
    ctx.log(f"[resolvate] removed {len(clash_res)} waters overlapping the protein; "
            f"{n_waters} left")
    write_gro(solvated, ctx.path("solvated.gro"))
    top = set_water_count(ctx.path("embedded.top").read_text(), n_waters)
    ctx.path("topol.top").write_text(top)
    pairs = ion_pairs(n_waters, float(ctx.params["salt_molar"]))
    gmx = str(ctx.params["gmx"])
    ctx.run([gmx, "-quiet", "grompp", "-f", "ions.mdp", "-c", "solvated.gro", "-p", "topol.top",
             "-o", "ions.tpr", "-po", "ions_out.mdp", "-maxwarn", "0"])
    ctx.run([gmx, "-quiet", "genion", "-s", "ions.tpr", "-o", "ionised.gro", "-p", "topol.top",
             "-pname", "NA", "-nname", "CL", "-np", str(pairs), "-nn", str(pairs), "-neutral",
             "-seed", str(ctx.params["ion_seed"])], stdin=f"{WATER_RESNAME}\n")
    ionised = read_gro(ctx.path("ionised.gro"))
    write_index(index_groups(ionised), ctx.path("index.ndx"))
    n_na = int((ionised.resnames == "NA").sum())
    n_cl = int((ionised.resnames == "CL").sum())
    ctx.log(f"[resolvate] {n_na} NA + {n_cl} CL ({pairs} pairs for {ctx.params['salt_molar']} M "
            f"in {n_waters} waters); {ionised.n_atoms} atoms")


def place_model_input(model_dir: str | Path, protein_pdb: str | Path) -> Path:
    """Copy the model's PDB to ``<model_dir>/prep/protein.pdb`` (through a temporary name; left
    alone when identical, so the step record stays valid).  Returns the prep folder."""
    prep = Path(model_dir) / PREP_DIR
    src = Path(protein_pdb)
    if not src.is_file():
        raise MissingInputError("setup", src)
    prep.mkdir(parents=True, exist_ok=True)
    dst = prep / MODEL_INPUT
    if not dst.is_file() or dst.read_bytes() != src.read_bytes():
        tmp = dst.with_name(f".{dst.name}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    return prep


def prepare_model(model_dir: str | Path, protein_pdb: str | Path | None = None, *,
                  params: Mapping[str, object] | None = None,
                  runner: ShellRunner = subprocess_runner,
                  log: Callable[[str], None] | None = None,
                  search_dirs: Sequence[str | Path] = (), force: bool = False) -> list[StepOutcome]:
    """Run the ``prep`` protocol in ``<model_dir>/prep/``.

    ``protein_pdb`` is copied to ``prep/protein.pdb`` when given and different (the step record
    notices a changed model and re-runs what depends on it).  Raises
    :class:`mpflow.stages.protocols.ProtocolError` subclasses whose ``reason`` is one line.
    """
    prep = place_model_input(model_dir, protein_pdb) if protein_pdb is not None else \
        Path(model_dir) / PREP_DIR
    prep.mkdir(parents=True, exist_ok=True)
    return run_protocol("prep", prep, params, runner=runner, log=log, search_dirs=search_dirs,
                        force=force)
