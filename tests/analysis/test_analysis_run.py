"""The analysis without Prefect (what ``mpflow analyse`` runs when no server does): one process or a
local Dask cluster give the same tables, progress comes per chunk, a re-run computes nothing."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from analysis_data import helix_manifest
from mpflow.analysis.run import (
    AnalysisSettings,
    plan_analysis,
    run_analysis,
    settings_error,
)
from mpflow.analysis.statistics.occurrence import StatsOptions
from mpflow.analysis.statistics.pca_filter import FilterOptions
from pydantic import ValidationError


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return helix_manifest(tmp_path_factory.mktemp("run"), models=1, frames={"prmd": 4, "urmd": 6})


SETTINGS = AnalysisSettings(chunk_frames=10, frames={"prmd": "all"}, n_bootstrap=50, n_permutations=200)


def test_local_dask_without_prefect_gives_the_tables_of_one_process(sources, tmp_path):
    one, many = [], []
    a = run_analysis(sources, tmp_path / "one", SETTINGS, executor="threads", progress=one.append)
    b = run_analysis(sources, tmp_path / "dask", SETTINGS, executor="dask-local", n_workers=2,
                     progress=many.append)
    # 4 models × (docked 1 + prmd 4 + urmd 6) = 44 frames in chunks of 10
    assert (a["frames"], a["new_frames"], a["chunks"]) == (b["frames"], b["new_frames"], b["chunks"]) == (44, 44, 5)
    for name in ("probabilities", "comparisons", "superbase", "geometry", "testability"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "one" / "tables" / f"{name}.parquet"),
                                      pd.read_parquet(tmp_path / "dask" / "tables" / f"{name}.parquet"))
    for lines in (one, many):
        assert lines[0] == "12 source(s) of 4 model(s), 44 frame(s) selected, 44 new in 5 chunk(s)"
        done = [re.fullmatch(r"chunk (\d)/5 done: (\d+) frame\(s\) .* \((\d+)/44 new frames\)", ln) for ln in lines[1:6]]
        assert [int(m.group(1)) for m in done] == [1, 2, 3, 4, 5]
        assert sum(int(m.group(2)) for m in done) == 44 and int(done[-1].group(3)) == 44
        assert lines[6:] == ["statistics, report and notebook ..."]
    assert a["report"] == str(tmp_path / "one" / "report.html")
    again = run_analysis(sources, tmp_path / "one", SETTINGS, executor="dask-local")
    assert (again["new_frames"], again["chunks"], again["frames"]) == (0, 0, 44)


def test_plan_refuses_an_empty_manifest_and_a_bad_setting(sources, tmp_path):
    with pytest.raises(ValueError, match="^manifest: no rows$"):
        plan_analysis([], tmp_path)
    with pytest.raises(ValueError, match="alpha must be within"):
        plan_analysis(sources, tmp_path, AnalysisSettings(alpha=2.0))
    with pytest.raises(ValueError, match="frame selection 'last:x'"):
        plan_analysis(sources, tmp_path, AnalysisSettings(frames={"urmd": "last:x"}))


def test_a_local_dask_run_leaves_the_environment_as_it_was(sources, tmp_path, monkeypatch):
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = dict(os.environ)
    run_analysis(sources[:6], tmp_path, AnalysisSettings(chunk_frames=4, n_bootstrap=20, n_permutations=20),
                 executor="dask-local", n_workers=2)
    assert dict(os.environ) == before


@pytest.mark.parametrize(("values", "message"), [
    ({"types": ("hbond", "pication")}, "unknown interaction type(s) pication; valid: hbond, "),
    ({"params": {"hbond": {"distance_max_A": -1}}}, "hbond.distance_max_A=-1.0: must be > 0"),
    ({"criteria": "plip"}, "criteria: Input should be 'mpflow' or 'prolif'"),
    ({"n_bootstrap": 0}, "n_permutations and n_bootstrap must be >= 1"),
    ({"pca_variance": 1.5}, "pca_variance must be within (0, 1], got 1.5"),
    ({"chunk_frames": 0}, "chunk_frames: Input should be greater than or equal to 1"),
    ({"n_bootstrapp": 50}, "n_bootstrapp: Extra inputs are not permitted"),
])
def test_settings_are_checked_when_made_by_the_science_modules_in_one_line(values, message):
    with pytest.raises(ValidationError) as caught:
        AnalysisSettings(**values)
    line = settings_error(caught.value)
    assert line.startswith(message) and "\n" not in line


def test_settings_defaults_are_the_science_modules_own():
    s = AnalysisSettings()
    assert s.stats_options() == StatsOptions() and s.filter_options() == FilterOptions()
    assert s.frame_specs() == AnalysisSettings(frames={}).frame_specs()
