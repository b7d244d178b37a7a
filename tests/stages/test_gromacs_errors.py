"""GROMACS' own error line from real failing commands (the line a model is held with)."""

from __future__ import annotations

import pytest
from md_helpers import gpa_dimer_pdb

from mpflow.stages.gmx import GromacsError, gromacs_error, run_gmx


@pytest.fixture(scope="module")
def protein_dir(tmp_path_factory):
    work = tmp_path_factory.mktemp("errors")
    gpa_dimer_pdb(work / "protein.pdb")
    run_gmx(["gmx", "-quiet", "pdb2gmx", "-f", "protein.pdb", "-o", "protein.gro", "-p",
             "topol.top", "-ff", "charmm27", "-water", "tip3p", "-ignh"], work)
    run_gmx(["gmx", "-quiet", "editconf", "-f", "protein.gro", "-o", "boxed.gro", "-d", "1.0"], work)
    return work


def _fail(argv, cwd) -> GromacsError:
    with pytest.raises(GromacsError) as err:
        run_gmx(argv, cwd)
    return err.value


def test_grompp_input_error_names_the_file_line_and_problem(protein_dir):
    (protein_dir / "bad.mdp").write_text("nsteps = 10\nintegrator = stepp\n")
    err = _fail(["gmx", "-quiet", "grompp", "-f", "bad.mdp", "-c", "boxed.gro", "-p", "topol.top",
                 "-o", "bad.tpr"], protein_dir)
    assert err.reason == (
        "ERROR 1 [file bad.mdp, line 3]: Invalid enum 'stepp' for variable integrator, using 'md' "
        "Next time, use one of: 'md' 'steep' 'cg' 'bd' 'sd2 - removed' 'nm' 'l-bfgs' 'tpi' "
        "'tpic' 'sd' 'md-vv' 'md-vv-avek' 'mimic' (There was 1 error in input file(s))")
    # the same line when blank lines were dropped (prefect-shell drops them)
    squeezed = "\n".join(ln for ln in err.output.splitlines() if ln.strip())
    assert gromacs_error(squeezed) == err.reason


def test_grompp_topology_mismatch(protein_dir):
    (protein_dir / "ok.mdp").write_text("integrator = steep\nnsteps = 10\n")
    top = (protein_dir / "topol.top").read_text().replace("Protein_chain_B     1",
                                                         "Protein_chain_B     2")
    (protein_dir / "bad.top").write_text(top)
    err = _fail(["gmx", "-quiet", "grompp", "-f", "ok.mdp", "-c", "boxed.gro", "-p", "bad.top",
                 "-o", "bad.tpr"], protein_dir)
    assert err.reason == ("number of coordinates in coordinate file (boxed.gro, 942) does not "
                          "match topology (bad.top, 1413)")


def test_pdb2gmx_unknown_residue(tmp_path):
    (tmp_path / "x.pdb").write_text(
        "ATOM      1  N   XYZ A   1       0.000   0.000   0.000  1.00  0.00           N\nEND\n")
    err = _fail(["gmx", "-quiet", "pdb2gmx", "-f", "x.pdb", "-ff", "charmm27", "-water", "tip3p",
                 "-ignh"], tmp_path)
    assert err.reason == "Residue 'XYZ' not found in residue topology database"


def test_no_fatal_error_means_none():
    assert gromacs_error("GROMACS reminds you: ...\nFinished mdrun\n") is None
