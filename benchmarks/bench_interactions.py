"""Benchmark of the interaction engine: frames per second against the neighbour-search floor and ProLIF.

Owns nothing but measurement.  One run prints a table and the ratios the issue asks for:

- data 1: ``prolif.datafiles`` TOP/TRAJ (GPCR, 5,067 atoms, 250 frames), chain A against chain B;
- mpflow: all registered types, all 250 frames, 1 process and 2 processes;
- floor: MDAnalysis ``capped_distance`` alone, chain A heavy atoms against chain B heavy atoms at
  4.5 Å (mpflow's largest atom cut-off) with the box, in the same loop over the trajectory;
- ProLIF 2.2 with its default interaction set, timed on the first ``--prolif-frames`` frames
  (ProLIF is slow; the rate is extrapolated from that subset, setup included);
- data 2: a Wza-like C8 ring (8 × 32 residues) from the helix builder, one frame replicated with
  0.1 Å Gaussian noise into ``--ring-frames`` frames, every chain against every other.

Run: ``python benchmarks/bench_interactions.py [--prolif-frames 20] [--ring-frames 100]``.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def _rate(n_frames: int, seconds: float) -> float:
    return n_frames / seconds if seconds > 0 else float("inf")


def bench_gpcr(prolif_frames: int) -> dict[str, tuple[int, float]]:
    import MDAnalysis as mda
    from MDAnalysis.lib.distances import capped_distance
    from prolif.datafiles import TOP, TRAJ

    from mpflow.analysis.interactions import compute_interactions

    u = mda.Universe(TOP, TRAJ)
    n = len(u.trajectory)
    out: dict[str, tuple[int, float]] = {}

    a = u.select_atoms("chainID A and not element H")
    b = u.select_atoms("chainID B and not element H")
    t0 = time.perf_counter()
    n_pairs = 0
    for ts in u.trajectory:
        pairs, _ = capped_distance(a.positions, b.positions, 4.5, box=ts.dimensions)
        n_pairs += len(pairs)
    out["floor: capped_distance heavy A x B 4.5 A"] = (n, time.perf_counter() - t0)

    for jobs in (1, 2):
        t0 = time.perf_counter()
        table = compute_interactions(u, "chainID A", "chainID B", n_jobs=jobs)
        out[f"mpflow all types, n_jobs={jobs}"] = (n, time.perf_counter() - t0)
    out["_rows"] = (len(table), 0.0)
    out["_types"] = (table["type"].nunique(), 0.0)

    import prolif as plf

    lig = u.select_atoms("chainID A")
    prot = u.select_atoms("chainID B")
    fp = plf.Fingerprint()
    t0 = time.perf_counter()
    fp.run(u.trajectory[:prolif_frames], lig, prot, progress=False, n_jobs=1)
    out[f"ProLIF default ({len(fp.interactions)} types), first {prolif_frames} frames"] = (
        prolif_frames, time.perf_counter() - t0)
    return out


def bench_ring(n_frames: int) -> dict[str, tuple[int, float]]:
    from MDAnalysis.coordinates.memory import MemoryReader
    from MDAnalysis.lib.distances import self_capped_distance

    from mpflow.analysis.helix_builder import WZA_LIKE_SEQUENCE, build_oligomer, to_universe
    from mpflow.analysis.interactions import compute_interactions

    model = build_oligomer(WZA_LIKE_SEQUENCE, 8, 13.0)
    u = to_universe(model)
    rng = np.random.default_rng(0)
    coords = model.positions[None] + rng.normal(scale=0.1, size=(n_frames, model.n_atoms, 3))
    u.load_new(coords.astype(np.float32), format=MemoryReader)
    out: dict[str, tuple[int, float]] = {}
    heavy = u.select_atoms("protein and not element H")
    t0 = time.perf_counter()
    for _ts in u.trajectory:
        self_capped_distance(heavy.positions, 4.5)
    out["ring floor: self_capped_distance heavy 4.5 A"] = (n_frames, time.perf_counter() - t0)
    t0 = time.perf_counter()
    table = compute_interactions(u)
    out["ring mpflow all types, n_jobs=1"] = (n_frames, time.perf_counter() - t0)
    out["_ring_rows"] = (len(table), 0.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prolif-frames", type=int, default=20)
    parser.add_argument("--ring-frames", type=int, default=100)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    res = bench_gpcr(args.prolif_frames)
    res.update(bench_ring(args.ring_frames))
    print(f"{'measurement':<58s} {'frames':>7s} {'seconds':>9s} {'frames/s':>9s}")
    rates = {}
    for name, (frames, sec) in res.items():
        if name.startswith("_"):
            continue
        rates[name] = _rate(frames, sec)
        print(f"{name:<58s} {frames:7d} {sec:9.2f} {rates[name]:9.1f}")
    mp1 = rates["mpflow all types, n_jobs=1"]
    mp2 = rates["mpflow all types, n_jobs=2"]
    floor = rates["floor: capped_distance heavy A x B 4.5 A"]
    prolif = next(v for k, v in rates.items() if k.startswith("ProLIF"))
    ring = rates["ring mpflow all types, n_jobs=1"]
    ring_floor = rates["ring floor: self_capped_distance heavy 4.5 A"]
    print()
    print(f"GPCR rows: {res['_rows'][0]} ({res['_types'][0]} types seen); "
          f"ring rows: {res['_ring_rows'][0]}")
    print(f"mpflow (1 process) frames/s:            {mp1:8.1f}   goal >= 100  "
          f"{'met' if mp1 >= 100 else 'MISSED'}")
    print(f"mpflow / ProLIF speed-up (1 process):   {mp1 / prolif:8.1f}x  goal >= 50x "
          f"{'met' if mp1 / prolif >= 50 else 'MISSED'}")
    print(f"mpflow (2 processes) / ProLIF:          {mp2 / prolif:8.1f}x")
    print(f"cost vs raw neighbour search:           {floor / mp1:8.2f}x  goal <= 3x  "
          f"{'met' if floor / mp1 <= 3 else 'MISSED'}")
    print(f"ring: mpflow frames/s {ring:.1f}, cost vs its neighbour search {ring_floor / ring:.2f}x")


if __name__ == "__main__":
    main()
