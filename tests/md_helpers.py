"""Small builders shared by the MD-stage tests (GpA dimer models)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mpflow.analysis.structure.helix_builder import build_oligomer, write_pdb

GPA_SEQUENCE = "EPEITLIIFGVMAGVIGTILLISYGIRRL"
GPA_FIRST_RESID = 70
#: helix rotation without interchain clashes for 1.0 nm / -40 deg (closest heavy atoms 0.39 nm)
GPA_PHASE_DEG = 150.0


def gpa_dimer_pdb(path: Path, *, sequence: str = GPA_SEQUENCE, phase_deg: float = GPA_PHASE_DEG
                  ) -> Path:
    """An ideal GpA TM dimer (helices 1.0 nm apart, crossing -40 deg), residues from 70."""
    model = build_oligomer(sequence, 2, 5.0, tilt_deg=-20.0, phase_deg=phase_deg,
                           first_resid=GPA_FIRST_RESID)
    return write_pdb(model, path)


#: an .mdp for a small water box: MD (or minimisation with integrator=steep), the log every ``nstlog`` steps
WATER_MDP = """integrator = {integrator}
dt = {dt}
nsteps = {nsteps}
nstlog = {nstlog}
nstcalcenergy = 100
nstenergy = {nstlog}
emtol = 100
cutoff-scheme = Verlet
coulombtype = PME
rcoulomb = 0.9
rvdw = 0.9
{thermostat}
constraints = h-bonds
"""


def water_box_tpr(folder: Path, name: str, *, nsteps: int, nstlog: int = 500, dt: float = 0.002,
                  integrator: str = "md", box_nm: float = 2.0) -> Path:
    """``folder/name.tpr``: SPC/E water in a cubic box (``box_nm`` 2.0: 663 atoms), made with the
    GROMACS on this machine (the dev clusters' own), so tests can run real mdrun jobs in seconds."""
    folder.mkdir(parents=True, exist_ok=True)

    def gmx(*args: str) -> None:
        res = subprocess.run(["gmx", "-quiet", *args], cwd=folder, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-2000:]

    gro = folder / "water.gro"
    if not gro.exists():
        gmx("solvate", "-cs", "spc216.gro", "-box", str(box_nm), str(box_nm), str(box_nm), "-o", gro.name)
    waters = (len(gro.read_text().splitlines()) - 3) // 3
    (folder / "topol.top").write_text('#include "oplsaa.ff/forcefield.itp"\n#include "oplsaa.ff/spce.itp"\n'
                                      f"[ system ]\nwater\n[ molecules ]\nSOL {waters}\n")
    thermostat = ("tcoupl = v-rescale\ntc-grps = System\ntau-t = 0.1\nref-t = 300" if integrator == "md" else "")
    (folder / f"{name}.mdp").write_text(WATER_MDP.format(integrator=integrator, dt=dt, nsteps=nsteps, nstlog=nstlog,
                                                         thermostat=thermostat))
    gmx("grompp", "-f", f"{name}.mdp", "-c", gro.name, "-p", "topol.top", "-o", f"{name}.tpr", "-po",
        f"{name}.mdout.mdp", "-maxwarn", "2")
    return folder / f"{name}.tpr"


def tiny_pipeline_stages(*, prep_threads: int = 2, emmd_steps: int = 150) -> str:
    """The ``[stages]`` of a whole pipeline at tiny step counts (prep on the master, then EMMD, PRMD and
    URMD): one model through every stage in a couple of minutes on the dev clusters."""
    return f"""
[stages.prep]
kind = "protocol"
clusters = "master"
protocol = "prep"
params = {{ npt_steps = 200, threads = {prep_threads} }}

[stages.emmd]
kind = "gromacs"
after = "prep"
mdp = "emmd"
nsteps = {emmd_steps}

[stages.prmd]
kind = "gromacs"
after = "emmd"
mdp = "prmd"
nsteps = 40

[stages.urmd]
kind = "gromacs"
after = "prmd"
mdp = "urmd"
nsteps = 60
"""
