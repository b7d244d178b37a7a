"""Benchmark of the analysis: decomposition statistics at 10^5 and 10^6 frames, and chunk tasks on Dask.

Owns nothing but measurement.  One run prints two tables:

A. A synthetic decomposition of N frames × 1,000 keys (``mpflow.analysis.statistics.synthetic``): 2 mutants ×
   2 conformations × 50 models; every model has a docked frame, an EMMD frame, and PRMD and URMD
   trajectories (1,000 + 3,998 frames each at N ≈ 10^6; 100 + 398 at N ≈ 10^5); key probabilities
   ~ Beta(0.4, 12) with some keys shifted between mutants and conformations; 2 chain-pair copies.
   A first subprocess writes the per-stage occurrence tables as Parquet (as the store holds them);
   a second subprocess, timed, does what the flow's summary task does up to the report:
   read + super-base merge + decomposition (CSR), PCA filter, probabilities with cluster-bootstrap
   intervals, all comparisons with permutation tests and BH, signatures.  Its peak RSS
   (``ru_maxrss``) is reported.  Targets at 10^6 frames: < 60 s and < 4 GB.
B. Interaction + geometry tables (the chunk task's work) for 1,000 frames of a GpA dimer trajectory
   (helix builder model with noise, XTC): one process, one chunk, vs two Dask worker processes
   (``distributed.LocalCluster``, 10 chunks of 100 frames, the cluster's start-up timed apart).

Run: ``python benchmarks/bench_analysis.py [--sizes 100000 1000000] [--frames 1000]``.
Figures are wall-clock on whatever else the machine is doing; read the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_KEYS = 1000
MODELS_PER_GROUP = 50


def _frames_for(size: int) -> dict[str, int]:
    per_model = size // (4 * MODELS_PER_GROUP)
    prmd = per_model // 5
    return {"docked": 1, "emmd": 1, "prmd": prmd, "urmd": per_model - prmd - 2}


def _probabilities(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    base = rng.beta(0.4, 12.0, N_KEYS)
    out = {}
    for m_i, m in enumerate(("GpA-WT", "G83I")):
        for c_i, c in enumerate(("Conformation1", "Conformation2")):
            for s_i, s in enumerate(("docked", "emmd", "prmd", "urmd")):
                p = base.copy()
                p[:20] += 0.3 * m_i          # mutant-specific keys
                p[20:40] += 0.3 * c_i        # conformation-specific keys
                p[40:50] = 0.5 if s == "prmd" else 0.0  # keys of one stage
                out[(m, c, s)] = np.clip(p, 0, 1)
    return out


def generate(size: int, folder: Path) -> None:
    """Child 1: write frames, keys and per-stage occurrence tables (Parquet)."""
    import pandas as pd

    from mpflow.analysis.store import write_parquet
    from mpflow.analysis.statistics.synthetic import synthetic_tables

    tab = synthetic_tables(_probabilities(), models_per_group=MODELS_PER_GROUP,
                           frames_per_stage=_frames_for(size), model_sd=0.05, persistence=0.5, seed=1)
    write_parquet(tab.frames, folder / "frames.parquet")
    write_parquet(tab.keys, folder / "keys.parquet")
    for occ in tab.occurrences:
        stage = str(occ["stage"].iloc[0])
        write_parquet(occ, folder / f"occurrences_{stage}.parquet")
    print(json.dumps({"frames": len(tab.frames),
                      "occurrences": int(sum(len(o) for o in tab.occurrences))}))
    del pd


def run(folder: Path) -> None:
    """Child 2 (timed): merge + decomposition + PCA filter + statistics; prints JSON."""
    import pandas as pd

    from mpflow.analysis.statistics.pca_filter import FilterOptions
    from mpflow.analysis.statistics.compute import compute
    from mpflow.analysis.statistics.occurrence import StatsOptions
    from mpflow.analysis.statistics.superbase import decompose

    t0 = time.perf_counter()
    frames = pd.read_parquet(folder / "frames.parquet")
    keys = pd.read_parquet(folder / "keys.parquet")
    import pyarrow.parquet as pq

    pieces = (batch for p in sorted(folder.glob("occurrences_*.parquet"))
              for batch in pq.ParquetFile(p).iter_batches(batch_size=1 << 22))
    dec = decompose(frames, pieces, keys)
    t_merge = time.perf_counter() - t0
    t1 = time.perf_counter()
    c = compute(dec, StatsOptions(), FilterOptions())
    t_rest = time.perf_counter() - t1
    print(json.dumps({
        "frames": dec.n_frames, "keys": dec.n_keys, "nnz": int(dec.counts.nnz),
        "kept_keys": int(c.filter.kept.sum()), "comparisons": len(c.comparisons),
        "signatures": int(c.signatures["signature"].sum()) if len(c.signatures) else 0,
        "merge_s": t_merge, "filter_stats_s": t_rest, "total_s": t_merge + t_rest,
        "peak_rss_GB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2}))


def _child(args: list[str]) -> dict:
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_decomposition(sizes: list[int]) -> None:
    print(f"A. decomposition statistics, {N_KEYS} keys, {4 * MODELS_PER_GROUP} models "
          "(merge + PCA filter + statistics, one process)")
    print(f"{'frames':>10} {'nnz':>12} {'kept':>5} {'merge s':>8} {'filter+stats s':>15} "
          f"{'total s':>8} {'peak RSS GB':>12}")
    rows = []
    for size in sizes:
        folder = Path(tempfile.mkdtemp(prefix="mpflow-bench-"))
        try:
            _child(["--generate", str(size), str(folder)])
            r = _child(["--run", str(folder)])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        rows.append(r)
        print(f"{r['frames']:>10,} {r['nnz']:>12,} {r['kept_keys']:>5} {r['merge_s']:>8.1f} "
              f"{r['filter_stats_s']:>15.1f} {r['total_s']:>8.1f} {r['peak_rss_GB']:>12.2f}")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        print(f"growth {b['frames'] / a['frames']:.0f}x frames: time x{b['total_s'] / a['total_s']:.1f}, "
              f"peak RSS x{b['peak_rss_GB'] / a['peak_rss_GB']:.1f}")
    big = rows[-1]
    print(f"target at {big['frames']:,} frames: < 60 s ({'met' if big['total_s'] < 60 else 'NOT met'}), "
          f"< 4 GB ({'met' if big['peak_rss_GB'] < 4 else 'NOT met'})")


def _trajectory(folder: Path, n_frames: int):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "analysis"))
    from analysis_data import write_trajectory

    from mpflow.analysis.frames import FrameSource
    from mpflow.analysis.structure.helix_builder import (GPA_TM_SEQUENCE, build_helix, build_models,
                                                          default_packings)

    packing = default_packings(build_helix(GPA_TM_SEQUENCE, first_resid=70), 2)[0]
    built = build_models(GPA_TM_SEQUENCE, 2, k=1, packings=[packing], first_resid=70, out_dir=folder,
                         name_prefix="bench")[0]
    xtc = write_trajectory(Path(built.path), folder / "bench.xtc", n_frames, 0.3, seed=0)
    return FrameSource(model_id=1, mutant="GpA-WT", group="Conformation1", name=built.name, stage="urmd",
                       topology=Path(built.path), trajectory=xtc)


def bench_chunks(n_frames: int, chunk: int = 100) -> None:
    import warnings

    from distributed import Client, LocalCluster

    from mpflow.analysis.frame_pass import PassOptions, analyse_chunk
    from mpflow.analysis.frames import Chunk, ChunkPart

    warnings.filterwarnings("ignore")
    folder = Path(tempfile.mkdtemp(prefix="mpflow-bench-"))
    try:
        source = _trajectory(folder, n_frames)
        options = PassOptions()
        one = Chunk((ChunkPart(source, tuple(range(n_frames))),))
        t0 = time.perf_counter()
        s1 = analyse_chunk(one, str(folder / "store1"), options)
        t_one = time.perf_counter() - t0
        chunks = [Chunk((ChunkPart(source, tuple(range(k, min(k + chunk, n_frames)))),))
                  for k in range(0, n_frames, chunk)]
        t0 = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.wait_for_workers(2)
            t_start = time.perf_counter() - t0
            t1 = time.perf_counter()
            futures = client.map(analyse_chunk, chunks, store_root=str(folder / "store2"),
                                 options=options, pure=False)
            s2 = client.gather(futures)
            t_two = time.perf_counter() - t1
        rows2 = sum(s.interactions for s in s2)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"\nB. interaction + geometry tables, {n_frames} frames of a GpA dimer trajectory")
    print(f"{'runner':<44} {'s':>7} {'frames/s':>9} {'rows':>7}")
    print(f"{'one process, one chunk':<44} {t_one:>7.1f} {n_frames / t_one:>9.0f} {s1.interactions:>7}")
    print(f"{f'2 Dask workers, {len(chunks)} chunks (start-up {t_start:.1f} s apart)':<44} "
          f"{t_two:>7.1f} {n_frames / t_two:>9.0f} {rows2:>7}")
    print(f"speed-up 2 workers / 1 process: {t_one / t_two:.2f}x (cores: {os.cpu_count()})")


def main() -> None:
    if len(sys.argv) >= 2 and sys.argv[1] == "--generate":
        return generate(int(sys.argv[2]), Path(sys.argv[3]))
    if len(sys.argv) >= 2 and sys.argv[1] == "--run":
        return run(Path(sys.argv[2]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--frames", type=int, default=1000)
    ap.add_argument("--skip-chunks", action="store_true")
    args = ap.parse_args()
    bench_decomposition(args.sizes)
    if not args.skip_chunks:
        bench_chunks(args.frames)


if __name__ == "__main__":
    main()
