"""Where the time of one model goes: preparation in POPC and the three MD stages, demo size.

Ours: mpflow's ``prep`` protocol (pdb2gmx, carving openmm's POPC patch, genion, EM and a short
restrained NPT) then grompp + mdrun of EMMD, PRMD and URMD with the demo's tiny step counts, for
the demo's four models (glycophorin A TM dimer wild type and G83I, two helix phases each), run one
after another on this machine with ``gmx mdrun -ntmpi 1 -ntomp 2``.  Prints one row per model
with the split and the totals.

Baseline (``--baseline``, off by default: it takes minutes): OpenMM's ``Modeller.addMembrane`` on
the first model (CHARMM36, POPC, 0.15 M NaCl), timed in the same run, and the ratio to our
preparation of that model.

    .venv/bin/python benchmarks/bench_prep.py [--models N] [--npt-steps S] [--baseline]

Timings on a shared 2-core machine vary with the load of other processes; the script prints the
load average before and after.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mpflow.analysis.structure.helix_builder import build_oligomer, write_pdb
from mpflow.stages.gro import read_gro
from mpflow.stages.mdp import em_result, grompp_stage, run_stage_locally
from mpflow.stages.membrane import bilayer_summary, ensure_popc_patch
from mpflow.stages.prep import prepare_model

GPA = "EPEITLIIFGVMAGVIGTILLISYGIRRL"
G83I = GPA[:13] + "I" + GPA[14:]
#: (mutant, model, sequence, helix phase): clash-free phases for helices 1.0 nm apart at -40 deg
DEMO_MODELS = [("GpA-WT", "model_1", GPA, 150.0), ("GpA-WT", "model_2", GPA, 30.0),
               ("G83I", "model_1", G83I, 150.0), ("G83I", "model_2", G83I, 30.0)]
STAGE_STEPS = {"emmd": 500, "prmd": 50, "urmd": 50}


def _mdrun_wall_s(log: Path) -> float:
    """mdrun's wall time from its log: "Started ... on rank 0 <date>" to "Finished mdrun on rank 0
    <date>" (EM logs have no performance table), 1 s resolution."""
    from datetime import datetime

    text = log.read_text()
    stamps = [re.search(pattern + r" on rank 0 (.+)$", text, flags=re.M)
              for pattern in (r"^Started .+?", r"^Finished mdrun")]
    if not all(stamps):
        return float("nan")
    start, end = (datetime.strptime(m.group(1).strip(), "%a %b %d %H:%M:%S %Y") for m in stamps)
    return (end - start).total_seconds()


def run_model(root: Path, mutant: str, name: str, sequence: str, phase: float,
              npt_steps: int) -> dict[str, float]:
    model_dir = root / mutant / "None" / name
    pdb = write_pdb(build_oligomer(sequence, 2, 5.0, tilt_deg=-20.0, phase_deg=phase,
                                   first_resid=70), root / f"{mutant}_{name}.pdb")
    row: dict[str, float] = {}
    t0 = time.perf_counter()
    steps = {o.name: o.seconds for o in prepare_model(model_dir, pdb,
                                                      params={"npt_steps": npt_steps})}
    row["prep"] = time.perf_counter() - t0
    prep = model_dir / "prep"
    em_s = _mdrun_wall_s(prep / "relax_em.log")
    npt_s = _mdrun_wall_s(prep / "relax_npt.log")
    row.update({"pdb2gmx": steps["setup"], "carve": steps["embed"], "genion": steps["resolvate"],
                "em": em_s, "npt": npt_s, "relax_other": steps["relax"] - em_s - npt_s})
    ok, _ = em_result(prep / "relax_em.log")
    row["em_converged"] = float(ok)
    for stage, nsteps in STAGE_STEPS.items():
        t = time.perf_counter()
        grompp_stage(model_dir, stage, nsteps)
        row[f"{stage}_grompp"] = time.perf_counter() - t
        t = time.perf_counter()
        run_stage_locally(model_dir, stage)
        row[f"{stage}_mdrun"] = time.perf_counter() - t
    row["total"] = time.perf_counter() - t0
    s = bilayer_summary(read_gro(prep / "prep.gro"))
    row.update({"lipids_upper": s.lipids_upper, "lipids_lower": s.lipids_lower,
                "atoms": s.atoms, "box_x": s.box_nm[0], "box_y": s.box_nm[1],
                "box_z": s.box_nm[2], "waters": s.waters, "ions": s.ions,
                "in_slab": float(s.protein_in_slab)})
    return row


def baseline_add_membrane(pdb: Path) -> float:
    """OpenMM's addMembrane on the same model (hydrogens added first), seconds."""
    import openmm.app as app
    import openmm.unit as unit

    t = time.perf_counter()
    ff = app.ForceField("charmm36.xml", "charmm36/water.xml")
    modeller = app.Modeller(*(lambda p: (p.topology, p.positions))(app.PDBFile(str(pdb))))
    modeller.addHydrogens(ff)
    modeller.addMembrane(ff, lipidType="POPC", minimumPadding=0.5 * unit.nanometer,
                         ionicStrength=0.15 * unit.molar)
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=len(DEMO_MODELS))
    ap.add_argument("--npt-steps", type=int, default=1000,
                    help="restrained NPT steps of the preparation (prep.toml default: 1000)")
    ap.add_argument("--baseline", action="store_true", help="also time OpenMM's addMembrane")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 cores shared with other work)")
    root = Path(tempfile.mkdtemp(prefix="mpflow-bench-prep-"))
    try:
        t = time.perf_counter()
        ensure_popc_patch(root / "cache")
        os.environ["MPFLOW_CACHE_DIR"] = str(root / "cache")
        print(f"one-time patch conversion + POPC.itp (cache build): {time.perf_counter() - t:.1f} s")
        cols = ["pdb2gmx", "carve", "genion", "em", "npt", "relax_other", "prep",
                "emmd_grompp", "emmd_mdrun", "prmd_grompp", "prmd_mdrun", "urmd_grompp",
                "urmd_mdrun", "total"]
        print(f"stage steps: {STAGE_STEPS}; prep NPT {args.npt_steps} steps (2 fs)")
        print(f"{'model':<16}" + "".join(f"{c:>12}" for c in cols))
        rows = []
        for mutant, name, seq, phase in DEMO_MODELS[:args.models]:
            row = run_model(root, mutant, name, seq, phase, args.npt_steps)
            rows.append(row)
            print(f"{mutant + '/' + name:<16}" + "".join(f"{row[c]:>12.1f}" for c in cols),
                  flush=True)
        total = sum(r["total"] for r in rows)
        print(f"{'sum':<16}" + "".join(f"{sum(r[c] for r in rows):>12.1f}" for c in cols))
        print(f"all {len(rows)} models, prep + EMMD + PRMD + URMD: {total:.1f} s "
              f"({total / len(rows):.1f} s per model; prep {sum(r['prep'] for r in rows) / len(rows):.1f} s)")
        for (mutant, name, _, _), r in zip(DEMO_MODELS, rows):
            print(f"{mutant}/{name}: {r['lipids_upper']:.0f}/{r['lipids_lower']:.0f} POPC per "
                  f"leaflet, {r['waters']:.0f} waters, {r['ions']:.0f} ions, {r['atoms']:.0f} atoms,"
                  f" box {r['box_x']:.2f} x {r['box_y']:.2f} x {r['box_z']:.2f} nm, "
                  f"EM converged {bool(r['em_converged'])}, protein in slab {bool(r['in_slab'])}")
        if args.baseline:
            pdb = root / f"{DEMO_MODELS[0][0]}_{DEMO_MODELS[0][1]}.pdb"
            base = baseline_add_membrane(pdb)
            print(f"baseline OpenMM addMembrane (model 1): {base:.1f} s; ours prep {rows[0]['prep']:.1f} s;"
                  f" ratio {base / rows[0]['prep']:.1f}x")
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
