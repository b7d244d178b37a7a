"""Small real inputs for the analysis tests: built helix dimers and trajectories written to disk.

GpA wild type and G83I, two packings each (Conformation1: the builder's near right-handed packing,
crossing −40°; Conformation2: its near left-handed one, +20°), ``models`` docked models per
(mutant, packing) from the helix builder, written as PDB; each model's EMMD/PRMD/URMD "trajectory" is the model with
Gaussian noise (``noise_A``) and a slow breathing of the interhelical distance, written as XTC
next to the PDB.  Files only: everything downstream reads them as it would read GROMACS output.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from mpflow.analysis.frames import FrameSource
from mpflow.analysis.structure.helix_builder import (
    GPA_TM_SEQUENCE,
    build_helix,
    build_models,
    default_packings,
)

G83I_SEQUENCE = GPA_TM_SEQUENCE[:13] + "I" + GPA_TM_SEQUENCE[14:]


def packings_of(sequence: str) -> dict:
    near = default_packings(build_helix(sequence, first_resid=70), 2)
    return {"Conformation1": near[0], "Conformation2": near[2]}


def write_trajectory(pdb: Path, out: Path, n_frames: int, noise_A: float, seed: int) -> Path:
    import warnings

    import MDAnalysis as mda

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(str(pdb))
        rng = np.random.default_rng(seed)
        ref = u.atoms.positions.copy()
        chains = u.atoms.chainIDs
        centre = ref.mean(axis=0)
        with mda.Writer(str(out), n_atoms=u.atoms.n_atoms) as w:
            for k in range(n_frames):
                breathe = 1.0 + 0.04 * np.sin(2 * np.pi * k / max(n_frames, 2))
                pos = ref.copy()
                for ch in np.unique(chains):
                    m = chains == ch
                    c = pos[m].mean(axis=0)
                    pos[m] += (c - centre) * (breathe - 1.0)
                pos += rng.normal(0.0, noise_A, pos.shape)
                u.atoms.positions = pos.astype(np.float32)
                u.trajectory.ts.time = 10.0 * k
                w.write(u.atoms)
    return out


def helix_manifest(root: Path, *, models: int = 2, frames: dict[str, int] | None = None,
                   noise_A: float = 0.3, mutants: dict[str, str] | None = None) -> list[FrameSource]:
    frames = frames if frames is not None else {"emmd": 2, "prmd": 6, "urmd": 10}
    mutants = mutants or {"GpA-WT": GPA_TM_SEQUENCE, "G83I": G83I_SEQUENCE}
    sources = []
    model_id = 0
    for m_i, (mutant, seq) in enumerate(mutants.items()):
        for c_i, (conf, packing) in enumerate(packings_of(seq).items()):
            built = build_models(seq, 2, k=models, seed=10 * m_i + c_i, packings=[packing],
                                 first_resid=70, out_dir=root / mutant / conf,
                                 name_prefix=f"{mutant}_{conf}", crossing_sd_deg=2.0,
                                 distance_sd_A=0.2)
            for b in built:
                model_id += 1
                pdb = Path(b.path)
                sources.append(FrameSource(model_id=model_id, mutant=mutant, group=conf, name=b.name,
                                           stage="docked", topology=pdb))
                for s_i, (stage, n) in enumerate(frames.items()):
                    xtc = write_trajectory(pdb, pdb.with_name(f"{pdb.stem}.{stage}.xtc"), n, noise_A,
                                           seed=1000 * model_id + s_i)
                    sources.append(FrameSource(model_id=model_id, mutant=mutant, group=conf,
                                               name=b.name, stage=stage, topology=pdb, trajectory=xtc))
    return sources
