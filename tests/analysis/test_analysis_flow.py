"""The analysis flow in a real Prefect API: chunk tasks, incremental re-run, artifacts, local Dask."""

from __future__ import annotations

import pandas as pd
import pytest
from analysis_data import helix_manifest
from mpflow.analysis.frames import write_manifest
from mpflow.analysis.run import AnalysisSettings
from mpflow.flows.analysis import analysis_flow


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    return helix_manifest(tmp_path_factory.mktemp("flow"), models=1, frames={"prmd": 4, "urmd": 6})


def _artifacts(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))


def test_flow_runs_chunks_then_only_new_frames_and_leaves_artifacts(prefect_api, sources, tmp_path):
    manifest = write_manifest(sources, tmp_path / "manifest.json")
    first = analysis_flow(str(manifest), str(tmp_path / "out"), executor="threads",
                          settings=AnalysisSettings(chunk_frames=8, frames={"prmd": "last:2"},
                                                    test="welch", n_bootstrap=50))
    # 4 models × (docked 1 + prmd 2 + urmd 6) = 36 frames in chunks of 8
    assert first["new_frames"] == 36 and first["chunks"] == 5 and first["frames"] == 36
    again = analysis_flow(str(manifest), str(tmp_path / "out"), executor="threads",
                          settings=dict(chunk_frames=8, frames={"prmd": "last:4"}, test="welch",
                                        n_bootstrap=50))  # a dict, as a deployment run passes it
    assert again["new_frames"] == 8 and again["frames"] == 44   # 2 more PRMD frames per model
    assert (tmp_path / "out" / "report.html").is_file() and (tmp_path / "out" / "analysis.ipynb").is_file()
    assert _artifacts("analysis-summary") and _artifacts("analysis-signatures")
    # the session's API holds the links of every analysis run so far: this run's is among them
    uri = (tmp_path / "out" / "report.html").resolve().as_uri()
    assert any(uri in link.data for link in _artifacts("analysis-report"))


def test_local_dask_gives_the_same_tables_as_one_thread(prefect_api, sources, tmp_path):
    settings = AnalysisSettings(chunk_frames=10, frames={"prmd": "all"}, n_bootstrap=50, n_permutations=200)
    analysis_flow(sources, str(tmp_path / "threads"), executor="threads", settings=settings)
    analysis_flow(sources, str(tmp_path / "dask"), executor="dask-local", n_workers=2, settings=settings)
    for name in ("probabilities", "comparisons", "superbase", "geometry"):
        a = pd.read_parquet(tmp_path / "threads" / "tables" / f"{name}.parquet")
        b = pd.read_parquet(tmp_path / "dask" / "tables" / f"{name}.parquet")
        pd.testing.assert_frame_equal(a, b)


def test_settings_that_do_not_validate_stop_the_run_before_it_starts(prefect_api, sources, tmp_path):
    with pytest.raises(Exception, match="alpha must be within"):
        analysis_flow(sources, str(tmp_path / "out"), executor="threads", settings={"alpha": 2.0})
    assert not (tmp_path / "out").exists()
