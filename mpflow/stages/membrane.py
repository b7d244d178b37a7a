"""A real POPC bilayer around a membrane protein, with a topology native to GROMACS (charmm27).

This module owns the membrane: the pre-equilibrated POPC patch that ships inside openmm
(``openmm/app/data/POPC.pdb``: 128 POPC, 5,120 TIP3P waters, CHARMM36 naming), converted once to
GROMACS' bundled ``charmm27.ff`` naming and cached with a ``POPC.itp`` made by ``pdb2gmx`` on one
lipid (:func:`ensure_popc_patch`); the embedding of a protein in it (:func:`embed_protein`: TM axis
on z, centred at the bilayer centre, overlapping lipids and waters removed, leaflets balanced) and
the figures that tell a bilayer is there (:func:`bilayer_summary`).

Why carving a patch and not OpenMM's ``addMembrane``: the latter minimises and relaxes with
CHARMM36's tabulated NBFIX force and took 175–240 s per model on 2 cores; carving takes seconds and
the voids it leaves are closed by the restrained NPT equilibration of the preparation and by PRMD.

Cache: ``$MPFLOW_CACHE_DIR`` or ``$XDG_CACHE_HOME/mpflow`` or ``~/.cache/mpflow``, one folder per
(openmm patch checksum, conversion version); rebuilt when missing, built in a temporary folder and
renamed, so concurrent builders never see half a cache.  Generated data is never committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from mpflow.analysis.structure.ring_order import assembly_axis
from mpflow.stages.gmx import run_gmx
from mpflow.stages.gro import Structure, write_gro

#: OpenMM CHARMM36 POPC atom name → charmm27 ``lipids.rtp`` name (all others are identical).
#: Checked against both force fields' bonds: every rtp bond of the converted patch is 0.10–0.17 nm.
POPC_NAME_MAP = {
    "C12": "C11", "H12A": "H11", "H12B": "H12",
    "C13": "C12", "H13A": "H21", "H13B": "H22", "H13C": "H23",
    "C14": "C13", "H14A": "H31", "H14B": "H32", "H14C": "H33",
    "C15": "C14", "H15A": "H41", "H15B": "H42", "H15C": "H43",
    "C11": "C15", "H11A": "H51", "H11B": "H52",
    "P": "P1", "O12": "O1", "O11": "O2", "O13": "O3", "O14": "O4",
}
WATER_NAME_MAP = {"O": "OW", "H1": "HW1", "H2": "HW2"}
LIPID_RESNAME = "POPC"
PHOSPHORUS = "P1"
WATER_RESNAME = "SOL"
ION_RESNAMES = ("NA", "CL")
#: bump when the conversion changes, so old caches are not reused
CONVERSION_VERSION = 1
PATCH_GRO = "POPC_patch.gro"
POPC_ITP = "POPC.itp"


class MembraneBuildError(RuntimeError):
    """The protein cannot be embedded; the message says why and what to change."""


@dataclass(frozen=True)
class MembranePatch:
    """The cached, converted patch: coordinates and the POPC molecule type."""

    gro: Path
    itp: Path


def cache_root() -> Path:
    if os.environ.get("MPFLOW_CACHE_DIR"):
        return Path(os.environ["MPFLOW_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mpflow"


def openmm_popc_pdb() -> Path:
    """openmm's shipped POPC patch (a dependency of mpflow)."""
    import openmm.app  # heavy: openmm is read for this one data file, once per cache

    path = Path(openmm.app.__file__).parent / "data" / "POPC.pdb"
    if not path.is_file():
        raise MembraneBuildError(f"openmm's POPC patch is missing: {path}")
    return path


def convert_openmm_patch(pdb_path: str | Path) -> Structure:
    """The openmm CHARMM36 patch in charmm27 naming (POPC residues, SOL waters), nm."""
    resids, resnames, names, pos = [], [], [], []
    box = None
    for line in Path(pdb_path).read_text().splitlines():
        if line.startswith("CRYST1"):
            box = [float(line[6:15]) / 10, float(line[15:24]) / 10, float(line[24:33]) / 10]
        elif line.startswith(("ATOM", "HETATM")):
            name, resname = line[12:16].strip(), line[17:21].strip()
            if resname in ("POP", "POPC"):  # the PDB writer truncated POPC to POP
                resname, name = LIPID_RESNAME, POPC_NAME_MAP.get(name, name)
            elif resname == "HOH":
                resname, name = WATER_RESNAME, WATER_NAME_MAP[name]
            else:
                raise MembraneBuildError(f"{pdb_path}: unexpected residue {resname!r}")
            resids.append(int(line[22:26]))
            resnames.append(resname)
            names.append(name)
            pos.append((float(line[30:38]) / 10, float(line[38:46]) / 10,
                        float(line[46:54]) / 10))
    if box is None:
        raise MembraneBuildError(f"{pdb_path}: no CRYST1 box")
    structure = Structure("POPC bilayer patch (openmm, charmm27 names)", np.array(resids),
                          np.array(resnames, dtype=object), np.array(names, dtype=object),
                          np.array(pos, dtype=float), np.array(box))
    # wrap whole residues into the box by their first atom, so carving sees one image
    starts = structure.residue_starts()
    counts = np.diff(np.concatenate([starts, [structure.n_atoms]]))
    shift = np.floor(structure.positions[starts] / structure.box_nm) * structure.box_nm
    structure.positions -= np.repeat(shift, counts, axis=0)
    return structure


def _popc_itp_from_pdb2gmx(one_lipid: Structure, gmx: str) -> str:
    """The POPC molecule type: pdb2gmx (charmm27) on one lipid, renamed POPC, restraints dropped."""
    with tempfile.TemporaryDirectory(prefix="mpflow-popc-") as tmp:
        tmpdir = Path(tmp)
        write_gro(one_lipid, tmpdir / "popc.gro")
        share = _gromacs_residuetypes(gmx)
        # pdb2gmx reads residuetypes.dat from the working directory first: add POPC to it
        (tmpdir / "residuetypes.dat").write_text(share + f"\n{LIPID_RESNAME} Other\n")
        run_gmx([gmx, "-quiet", "pdb2gmx", "-f", "popc.gro", "-o", "popc_out.gro", "-p",
                 "popc.top", "-i", "posre_popc.itp", "-ff", "charmm27", "-water", "tip3p"],
                tmpdir)
        top = (tmpdir / "popc.top").read_text()
    start = top.index("[ moleculetype ]")
    stop = top.index("; Include water topology") if "; Include water topology" in top else \
        top.index("[ system ]")
    body = top[start:stop]
    # drop pdb2gmx's "#ifdef POSRES / #include posre_popc.itp / #endif": -DPOSRES restrains the
    # protein only
    kept, skip = [], False
    for line in body.splitlines():
        if line.startswith("; Include Position restraint file"):
            continue
        if line.startswith("#ifdef POSRES"):
            skip = True
        if not skip:
            kept.append(line)
        if skip and line.startswith("#endif"):
            skip = False
    lines = "\n".join(kept).splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("Other"):  # moleculetype name given by pdb2gmx
            lines[i] = line.replace("Other", LIPID_RESNAME, 1)
            break
    header = ("; POPC (charmm27 lipids.rtp) made by mpflow with gmx pdb2gmx on one lipid of "
              "openmm's POPC patch\n")
    return header + "\n".join(lines).rstrip() + "\n"


def _gromacs_residuetypes(gmx: str) -> str:
    """GROMACS' own residuetypes.dat (next to the force fields in its share folder)."""
    candidates = []
    if os.environ.get("GMXLIB"):
        candidates.append(Path(os.environ["GMXLIB"]) / "residuetypes.dat")
    exe = shutil.which(gmx)
    if exe:
        prefix = Path(exe).resolve().parent.parent
        candidates.append(prefix / "share" / "gromacs" / "top" / "residuetypes.dat")
    for cand in candidates:
        if cand.is_file():
            return cand.read_text()
    raise MembraneBuildError(f"cannot find GROMACS' residuetypes.dat (looked in "
                             f"{', '.join(map(str, candidates)) or 'nowhere: gmx not found'})")


def ensure_popc_patch(cache_dir: str | Path | None = None, *, gmx: str = "gmx") -> MembranePatch:
    """The converted patch and POPC.itp from the cache, built there first when missing."""
    source = openmm_popc_pdb()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    folder = Path(cache_dir) if cache_dir else cache_root()
    final = folder / f"popc-charmm27-v{CONVERSION_VERSION}-{digest}"
    patch = MembranePatch(final / PATCH_GRO, final / POPC_ITP)
    if patch.gro.is_file() and patch.itp.is_file():
        return patch
    folder.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".building-", dir=folder))
    try:
        structure = convert_openmm_patch(source)
        write_gro(structure, building / PATCH_GRO)
        first = structure.take((structure.resnames == LIPID_RESNAME)
                               & (structure.resids == structure.resids[0]))
        (building / POPC_ITP).write_text(_popc_itp_from_pdb2gmx(first, gmx))
        (building / "source.json").write_text(json.dumps(
            {"openmm_patch": str(source), "sha256": digest, "version": CONVERSION_VERSION},
            indent=1))
        try:
            os.rename(building, final)
        except OSError:  # another process finished first: use its cache
            if not (patch.gro.is_file() and patch.itp.is_file()):
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return patch


# ---------------------------------------------------------------- embedding


def is_hydrogen(names: np.ndarray) -> np.ndarray:
    return np.array([n.startswith("H") for n in names], dtype=bool)


def protein_chains(protein: Structure) -> np.ndarray:
    """Chain index per atom: a new chain wherever the residue number does not go up by one or
    the C(i)–N(i+1) distance exceeds 0.2 nm."""
    starts = protein.residue_starts()
    chain_of_res = np.zeros(len(starts), dtype=np.int64)
    chain = 0
    prev_c = None
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else protein.n_atoms
        names = protein.names[s:e]
        n_idx = np.flatnonzero(names == "N")
        if k > 0:
            broken = (protein.resids[s] != protein.resids[starts[k - 1]] + 1 or prev_c is None
                      or len(n_idx) == 0
                      or np.linalg.norm(protein.positions[s + n_idx[0]] - prev_c) > 0.2)
            chain += int(broken)
        chain_of_res[k] = chain
        c_idx = np.flatnonzero(names == "C")
        prev_c = protein.positions[s + c_idx[0]] if len(c_idx) else None
    counts = np.diff(np.concatenate([starts, [protein.n_atoms]]))
    return np.repeat(chain_of_res, counts)


def tm_axis(protein: Structure) -> np.ndarray:
    """Unit axis of the TM helix assembly from CA atoms, pointing the way chain 1 runs (N→C).

    One or two chains: the principal axis of all CA atoms (helices cross at small angles).  Three
    or more: :func:`mpflow.analysis.structure.ring_order.assembly_axis` (normal of the ring of chain
    centroids), which stays right for wide rings whose principal axis lies in the membrane plane.
    """
    ca = protein.names == "CA"
    if ca.sum() < 3:
        raise MembraneBuildError("the protein has fewer than 3 CA atoms: no helix axis")
    chains = protein_chains(protein)
    labels = sorted(set(chains[ca].tolist()))
    cents, dirs = [], []
    for c in labels:
        p = protein.positions[ca & (chains == c)]
        cents.append(p.mean(axis=0))
        dirs.append(p[-1] - p[0])
    dirs = np.array(dirs)
    if len(labels) >= 3:
        axis = assembly_axis(np.array(cents), dirs)
    else:
        p = protein.positions[ca]
        _, _, vt = np.linalg.svd(p - p.mean(axis=0))
        axis = vt[0]
    if np.dot(axis, dirs[0]) < 0:
        axis = -axis
    return axis / np.linalg.norm(axis)


def _rotation_onto_z(axis: np.ndarray) -> np.ndarray:
    """Rotation matrix taking unit vector ``axis`` onto +z (Rodrigues)."""
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(axis, z)
    s, c = np.linalg.norm(v), float(np.dot(axis, z))
    if s < 1e-12:
        return np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]]) / s
    return np.eye(3) + s * k + (1 - c) * (k @ k)


@dataclass
class EmbedResult:
    """The embedded system and what the carving did."""

    structure: Structure
    n_lipids: int
    n_waters: int
    lipids_removed_upper: int
    lipids_removed_lower: int
    waters_removed: int
    tiles: tuple[int, int] = (1, 1)
    notes: list[str] = field(default_factory=list)


def _tile(patch: Structure, nx: int, ny: int) -> Structure:
    if (nx, ny) == (1, 1):
        return patch
    parts = []
    offset = 0
    n_res = len(patch.residue_starts())
    for ix in range(nx):
        for iy in range(ny):
            copy = patch.take(np.arange(patch.n_atoms))
            copy.positions = copy.positions + np.array([ix * patch.box_nm[0],
                                                        iy * patch.box_nm[1], 0.0])
            copy.resids = copy.resids + offset
            offset += n_res
            parts.append(copy)
    # lipids first, then waters, as the topology lists them
    whole = Structure.concatenate(parts, patch.title,
                                  patch.box_nm * np.array([nx, ny, 1.0]))
    order = np.argsort(whole.resnames != LIPID_RESNAME, kind="stable")
    return whole.take(order)


def embed_protein(protein: Structure, patch: Structure, *, lipid_cutoff_nm: float = 0.35,
                  water_cutoff_nm: float = 0.30, image_gap_nm: float = 2.5,
                  water_margin_nm: float = 0.8, balance_leaflets: bool = True) -> EmbedResult:
    """Put ``protein`` (TM axis → z) at the centre of the bilayer ``patch`` and carve it in.

    Removed: every lipid with a heavy atom closer than ``lipid_cutoff_nm`` to a protein heavy atom,
    every water whose oxygen is closer than ``water_cutoff_nm``; with ``balance_leaflets`` the
    leaflet that lost fewer lipids loses the next-closest ones too, so both leaflets keep the same
    count (an unequal count bends the bilayer or strains one leaflet).  The patch is tiled in x/y
    when the protein and its periodic image would come closer than ``image_gap_nm``.  The protein
    must end at least ``water_margin_nm`` inside the box along z.  Distances are periodic.
    """
    if protein.n_atoms == 0:
        raise MembraneBuildError("no protein atoms")
    rot = _rotation_onto_z(tm_axis(protein))
    ca = protein.names == "CA"
    prot = protein.take(np.arange(protein.n_atoms))
    prot.positions = (protein.positions - protein.positions[ca].mean(axis=0)) @ rot.T
    extent = prot.positions.max(axis=0) - prot.positions.min(axis=0)
    tiles = [1, 1]
    for d in (0, 1):
        while tiles[d] * patch.box_nm[d] - extent[d] < image_gap_nm:
            tiles[d] += 1
            if tiles[d] > 4:
                raise MembraneBuildError(
                    f"the protein is {extent[d]:.1f} nm wide along {'xy'[d]}: more than 4 tiles "
                    f"of the {patch.box_nm[d]:.2f} nm POPC patch would be needed")
    if extent[2] + 2 * water_margin_nm > patch.box_nm[2]:
        raise MembraneBuildError(
            f"the protein is {extent[2]:.1f} nm long along the membrane normal; the POPC patch is "
            f"{patch.box_nm[2]:.2f} nm tall (bilayer + water) and needs {water_margin_nm} nm of "
            "water beyond each end: trim the model to its TM segment")
    bilayer = _tile(patch, *tiles)
    box = bilayer.box_nm
    is_lipid = bilayer.resnames == LIPID_RESNAME
    p_atoms = is_lipid & (bilayer.names == PHOSPHORUS)
    if p_atoms.sum() < 2:
        raise MembraneBuildError("the patch holds no POPC phosphorus atoms")
    centre_z = bilayer.positions[p_atoms, 2].mean()
    prot.positions += np.array([box[0] / 2, box[1] / 2, centre_z])
    prot.box_nm = box.copy()

    heavy_prot = prot.positions[~is_hydrogen(prot.names)] % box
    tree = cKDTree(heavy_prot, boxsize=box)
    starts = bilayer.residue_starts()
    counts = np.diff(np.concatenate([starts, [bilayer.n_atoms]]))
    res_of_atom = np.repeat(np.arange(len(starts)), counts)
    res_is_lipid = bilayer.resnames[starts] == LIPID_RESNAME

    lipid_heavy = np.flatnonzero(is_lipid & ~is_hydrogen(bilayer.names))
    dist, _ = tree.query(bilayer.positions[lipid_heavy] % box, k=1)
    min_dist = np.full(len(starts), np.inf)
    np.minimum.at(min_dist, res_of_atom[lipid_heavy], dist)
    remove = res_is_lipid & (min_dist < lipid_cutoff_nm)

    p_idx = np.flatnonzero(p_atoms)
    upper_res = np.zeros(len(starts), dtype=bool)
    upper_res[res_of_atom[p_idx]] = bilayer.positions[p_idx, 2] > centre_z
    lower_res = res_is_lipid & ~upper_res
    removed_up = int((remove & upper_res).sum())
    removed_lo = int((remove & lower_res).sum())
    notes = []
    if balance_leaflets and removed_up != removed_lo:
        fewer = upper_res if removed_up < removed_lo else lower_res
        candidates = np.flatnonzero(fewer & ~remove)
        extra = candidates[np.argsort(min_dist[candidates], kind="stable")][
            :abs(removed_up - removed_lo)]
        remove[extra] = True
        notes.append(f"removed {len(extra)} more lipid(s) from the "
                     f"{'upper' if removed_up < removed_lo else 'lower'} leaflet to balance "
                     f"({removed_up}/{removed_lo} overlapped)")
        removed_up = int((remove & upper_res).sum())
        removed_lo = int((remove & lower_res).sum())

    ow = np.flatnonzero(bilayer.names == "OW")
    wdist, _ = tree.query(bilayer.positions[ow] % box, k=1)
    remove[res_of_atom[ow[wdist < water_cutoff_nm]]] = True
    keep_atoms = ~remove[res_of_atom]
    kept = bilayer.take(keep_atoms)
    n_lipids = int((res_is_lipid & ~remove).sum())
    n_waters = int((~res_is_lipid & ~remove).sum())
    if removed_up + removed_lo >= res_is_lipid.sum() // 2:
        raise MembraneBuildError(
            f"the protein displaced {removed_up + removed_lo} of {int(res_is_lipid.sum())} lipids: "
            "it is not a TM protein of this patch's size or it is not oriented along its TM axis")
    system = Structure.concatenate([prot, kept], "protein in POPC (mpflow)", box)
    return EmbedResult(system, n_lipids, n_waters, removed_up, removed_lo,
                       int((~res_is_lipid & remove).sum()), (tiles[0], tiles[1]), notes)


# ---------------------------------------------------------------- checks


@dataclass(frozen=True)
class BilayerSummary:
    """What tells a bilayer holds the protein (nm)."""

    lipids_upper: int
    lipids_lower: int
    waters: int
    ions: int
    atoms: int
    box_nm: tuple[float, float, float]
    p_upper_z_nm: float       # mean z of the upper leaflet's phosphorus atoms
    p_lower_z_nm: float
    protein_centre_z_nm: float  # CA centroid
    protein_z_min_nm: float
    protein_z_max_nm: float

    @property
    def lipids(self) -> int:
        return self.lipids_upper + self.lipids_lower

    @property
    def thickness_nm(self) -> float:
        """Phosphorus–phosphorus distance across the bilayer."""
        return self.p_upper_z_nm - self.p_lower_z_nm

    @property
    def protein_in_slab(self) -> bool:
        """The CA centroid lies between the two phosphorus planes and the protein spans the core."""
        return (self.p_lower_z_nm < self.protein_centre_z_nm < self.p_upper_z_nm
                and self.protein_z_min_nm < self.p_lower_z_nm
                and self.protein_z_max_nm > self.p_upper_z_nm)


def bilayer_summary(structure: Structure) -> BilayerSummary:
    """Leaflet counts (by phosphorus z), P planes, box and the protein's z span.

    z is taken relative to the protein's CA centroid modulo the box, so a system whose membrane
    crosses the periodic boundary in z is read correctly.
    """
    box = structure.box_nm
    is_p = (structure.resnames == LIPID_RESNAME) & (structure.names == PHOSPHORUS)
    protein = ~np.isin(structure.resnames, [LIPID_RESNAME, WATER_RESNAME, *ION_RESNAMES])
    ca = protein & (structure.names == "CA")
    if not is_p.any() or not ca.any():
        raise MembraneBuildError("the system has no POPC phosphorus or no protein CA atoms")
    ref = structure.positions[ca, 2].mean()
    # unwrap z around the protein centre
    z = structure.positions[:, 2] - ref
    z -= np.round(z / box[2]) * box[2]
    pz = z[is_p]
    threshold = float(np.median(pz))
    for _ in range(20):  # two-means split of the phosphorus heights into leaflets
        upper = pz > threshold
        if upper.all() or not upper.any():
            break
        new = (pz[upper].mean() + pz[~upper].mean()) / 2
        if abs(new - threshold) < 1e-6:
            break
        threshold = new
    upper = pz > threshold
    if upper.all() or not upper.any():
        raise MembraneBuildError("all phosphorus atoms lie in one plane: no bilayer")
    sol = structure.names == "OW"
    ions = np.isin(structure.resnames, ION_RESNAMES)
    return BilayerSummary(
        lipids_upper=int(upper.sum()), lipids_lower=int((~upper).sum()),
        waters=int(sol.sum()), ions=int(ions.sum()), atoms=structure.n_atoms,
        box_nm=(float(box[0]), float(box[1]), float(box[2])),
        p_upper_z_nm=float(pz[upper].mean() + ref), p_lower_z_nm=float(pz[~upper].mean() + ref),
        protein_centre_z_nm=float(ref),
        protein_z_min_nm=float(z[protein].min() + ref), protein_z_max_nm=float(z[protein].max() + ref))
