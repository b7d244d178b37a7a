"""The analysis flow's chunk tasks on Dask workers that are Slurm jobs of the dev cluster alpha."""

from __future__ import annotations

import os
import subprocess
import time

import pandas as pd
import pytest
from analysis_data import helix_manifest  # noqa: E402  (tests/analysis, on the path beside this file)
from mpflow.analysis.run import AnalysisSettings  # noqa: E402
from mpflow.flows.analysis import analysis_flow  # noqa: E402

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters


def _our_jobs(master) -> list[str]:
    res = subprocess.run(["squeue", "-h", "-o", "%i|%j"], env={**os.environ, **master.env},
                         capture_output=True, text=True, timeout=30)
    return [line for line in res.stdout.splitlines() if "mpflow-analysis" in line]


def test_dask_on_slurm_gives_the_same_tables_as_the_local_path(prefect_api, master, tmp_path):
    sources = helix_manifest(tmp_path / "data", models=1, frames={"prmd": 3, "urmd": 4})
    kw = dict(settings=AnalysisSettings(chunk_frames=12, frames={"prmd": "all"}, n_bootstrap=50,
                                        n_permutations=200))
    analysis_flow(sources, str(tmp_path / "local"), executor="threads", **kw)
    analysis_flow(sources, str(tmp_path / "slurm"), executor="dask-slurm", slurm_cluster=master,
                  n_workers=1, **kw)
    for name in ("probabilities", "comparisons", "superbase", "geometry", "model_counts"):
        a = pd.read_parquet(tmp_path / "local" / "tables" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "slurm" / "tables" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b)
    # the worker ran as a Slurm job (its log is there) and was cancelled when the flow ended
    logs = list((tmp_path / "slurm" / "store" / "dask-logs").glob("*.err"))
    assert logs, "no dask-jobqueue job log: the workers did not run through sbatch"
    deadline = time.monotonic() + 60
    while _our_jobs(master) and time.monotonic() < deadline:
        time.sleep(1)
    assert _our_jobs(master) == []
