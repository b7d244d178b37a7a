"""The POPC patch conversion and the carving of a protein into it (real GROMACS pdb2gmx)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from md_helpers import GPA_SEQUENCE, gpa_dimer_pdb
from mpflow.analysis.structure.helix_builder import WZA_LIKE_SEQUENCE, build_oligomer

from mpflow.stages.gmx import run_gmx
from mpflow.stages.gro import Structure, read_gro
from mpflow.stages.membrane import (
    MembraneBuildError,
    bilayer_summary,
    embed_protein,
    ensure_popc_patch,
    is_hydrogen,
    tm_axis,
)


@pytest.fixture(scope="module")
def patch():
    return ensure_popc_patch()


@pytest.fixture(scope="module")
def gpa_protein(tmp_path_factory) -> Structure:
    work = tmp_path_factory.mktemp("gpa-setup")
    gpa_dimer_pdb(work / "protein.pdb")
    run_gmx(["gmx", "-quiet", "pdb2gmx", "-f", "protein.pdb", "-o", "protein.gro", "-p",
             "protein.top", "-ff", "charmm27", "-water", "tip3p", "-ignh"], work)
    return read_gro(work / "protein.gro")


def _bonds(itp_text: str) -> np.ndarray:
    block = itp_text.split("[ bonds ]")[1].split("[")[0]
    pairs = [ln.split()[:2] for ln in block.splitlines() if ln.strip() and ln.split()[0].isdigit()]
    return np.array(pairs, dtype=int) - 1


def test_converted_patch_matches_charmm27_popc_bond_for_bond(patch):
    system = read_gro(patch.gro)
    itp = patch.itp.read_text()
    assert re.search(r"\[ moleculetype \]\n; Name\s+nrexcl\nPOPC\s+3", itp)
    assert "posre" not in itp.lower()
    names_itp = [ln.split()[4] for ln in itp.split("[ atoms ]")[1].split("[ bonds ]")[0]
                 .splitlines() if ln.strip() and not ln.lstrip().startswith(";")]
    lipid = system.resnames == "POPC"
    assert (system.n_atoms, int(lipid.sum()) // 134, int((system.names == "OW").sum())) == \
        (32512, 128, 5120)
    assert len(names_itp) == 134
    pos = system.positions[lipid].reshape(128, 134, 3)
    assert np.array_equal(system.names[lipid].reshape(128, 134)[0], np.array(names_itp))
    bonds = _bonds(itp)
    d = pos[:, bonds[:, 0]] - pos[:, bonds[:, 1]]
    d -= np.round(d / system.box_nm) * system.box_nm
    length = np.linalg.norm(d, axis=2)
    # every charmm27 bond of every lipid is a real bond in the converted coordinates
    assert length.min() > 0.09 and length.max() < 0.19


def test_patch_is_cached(patch):
    assert ensure_popc_patch() == patch


def test_gpa_dimer_is_carved_in_along_its_axis(patch, gpa_protein):
    result = embed_protein(gpa_protein, read_gro(patch.gro))
    s = result.structure
    summary = bilayer_summary(s)
    assert result.lipids_removed_upper == result.lipids_removed_lower
    assert (summary.lipids_upper, summary.lipids_lower) == (64 - result.lipids_removed_upper,) * 2
    assert 90 <= summary.lipids <= 104
    assert summary.protein_in_slab
    mid = (summary.p_upper_z_nm + summary.p_lower_z_nm) / 2
    assert abs(summary.protein_centre_z_nm - mid) < 0.05
    protein = ~np.isin(s.resnames, ["POPC", "SOL"])
    axis = tm_axis(s.take(protein))
    assert abs(axis[2]) > np.cos(np.radians(1.0))
    heavy_p = s.positions[protein & ~is_hydrogen(s.names)]
    heavy_l = s.positions[(s.resnames == "POPC") & ~is_hydrogen(s.names)]
    gap = np.linalg.norm(heavy_l[:, None, :] - heavy_p[None, :, :], axis=2).min()
    assert gap >= 0.35
    assert result.tiles == (1, 1)


def _oligomer_structure(model) -> Structure:
    return Structure("test", model.resids, model.resnames, model.names,
                     model.positions / 10.0, np.zeros(3))


def test_wide_ring_gets_a_tiled_patch(patch):
    ring = _oligomer_structure(build_oligomer(WZA_LIKE_SEQUENCE, 8, 25.0))
    result = embed_protein(ring, read_gro(patch.gro), balance_leaflets=True)
    assert result.tiles == (2, 2)
    assert np.allclose(result.structure.box_nm[:2], 2 * read_gro(patch.gro).box_nm[:2])
    assert result.lipids_removed_upper == result.lipids_removed_lower
    assert bilayer_summary(result.structure).protein_in_slab


def test_protein_longer_than_the_patch_is_refused(patch):
    long_helix = _oligomer_structure(build_oligomer(GPA_SEQUENCE * 2, 2, 5.0))
    with pytest.raises(MembraneBuildError) as err:
        embed_protein(long_helix, read_gro(patch.gro))
    assert re.fullmatch(r"the protein is 9\.\d nm long along the membrane normal; the POPC patch "
                        r"is 7\.31 nm tall \(bilayer \+ water\) and needs 0\.8 nm of water beyond "
                        r"each end: trim the model to its TM segment", str(err.value))
