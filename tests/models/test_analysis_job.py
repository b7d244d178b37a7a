"""The pure parts of the analysis job of a remote master (folders, request, job script, progress and
failure lines, poll intervals, the summary's paths) and the cluster side's ``analyse`` command run here
on built docked models: its summary, a missing file in one line, a bad request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mpflow.analysis.frames import FrameSource
from mpflow.analysis.run import AnalysisSettings
from mpflow.analysis.structure.helix_builder import build_models

from mpflow.build import build_digest
from mpflow.cluster_side import main
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import LocalTransport
from mpflow.models.analysis_job import (
    POLL_MAX_S,
    analysis_request,
    existing_files,
    failure_line,
    job_request,
    last_line,
    local_summary,
    master_folders,
    poll_intervals,
    state_line,
)
from mpflow.models.analysis_job import _exit_code as exit_code
from mpflow.project.mutants import GPA_WT
from mpflow.slurm.commands import SlurmStatus
from mpflow.slurm.jobscript import render_job_script
from mpflow.states import JobState

BETA = ClusterSettings(name="beta", kind="remote", host="h", user="u", workdir="/w/proj", partition="cpu")


def test_the_master_folders_of_an_output_folder(tmp_path):
    root = tmp_path / "p"
    default = master_folders(BETA, root / "analysis", root)
    assert default.out_dir == "/w/proj/.analysis/analysis/out" and default.job_dir == "/w/proj/.analysis/analysis/job"
    other = master_folders(BETA, tmp_path / "my results", root)
    assert other.out_dir.startswith("/w/proj/.analysis/my-results-") and other.out_dir.endswith("/out")
    assert master_folders(BETA, tmp_path / "my results", root) == other  # the same folder: the same store
    assert master_folders(BETA, tmp_path / "x" / "my results", root) != other


def test_the_request_and_the_job_script(tmp_path):
    folders = master_folders(BETA, tmp_path / "analysis", tmp_path)
    src = FrameSource(model_id=1, mutant="GpA-WT", group="Conformation1", name="m1", stage="docked",
                      topology="/w/proj/GpA-WT/Conformation1/m1/model.pdb")
    req = analysis_request([src], folders, AnalysisSettings(chunk_frames=7), "dask-local", 2)
    assert req == {"sources": [src.model_dump(mode="json")], "out_dir": folders.out_dir,
                   "settings": {"chunk_frames": 7}, "executor": "dask-local", "n_workers": 2,
                   "summary_file": f"{folders.job_dir}/analysis.summary.json"}
    assert json.loads(json.dumps(req)) == req
    script = render_job_script(BETA, job_request(BETA, folders, project="proj", executor="dask-local", n_workers=2,
                                                 token="analysis-abc123").options)
    assert "#SBATCH --cpus-per-task=2" in script and "#SBATCH --partition=cpu" in script
    assert f"#SBATCH --chdir={folders.job_dir}" in script and "#SBATCH --output=analysis.beta.%j.out" in script
    assert (f"/w/.mpflow/venvs/mpflow-{build_digest()}/bin/python -m mpflow.cluster_side analyse --request "
            "analysis.request.json") in script
    assert "mdrun" not in script.split("set -euo pipefail")[1]
    slow = BETA.model_copy(update={"stage_resources": {"analysis": {"time_limit_min": 240, "cpus_per_task": 1}}})
    opts = job_request(slow, folders, project="proj", executor="dask-local", n_workers=2, token="analysis-abc").options
    assert (opts.cpus_per_task, opts.time_limit_min, opts.gpu) == (1, 240, False)


def test_progress_and_failure_lines():
    pending = SlurmStatus("12", "mpf-analysis-x", JobState.PD, "PENDING", pending_reason="Priority")
    running = SlurmStatus("12", "mpf-analysis-x", JobState.R, "RUNNING")
    assert state_line("12", "beta", pending, 3.4) == "analysis job 12 on beta: PD (Priority) for 3 s"
    assert state_line("12", "beta", running, 40.2, "chunk 1/2 done") == "analysis job 12 on beta: R for 40 s (chunk 1/2 done)"
    assert state_line("12", "beta", None, 1) == "analysis job 12 on beta: not listed by squeue yet for 1 s"
    log = "1 source(s)\nmpflow.cluster_side: analysis failed: manifest: model 1 (m1) stage docked: file not found: /x\n\n"
    assert last_line(log) == "mpflow.cluster_side: analysis failed: manifest: model 1 (m1) stage docked: file not found: /x"
    assert last_line(" \n") is None
    assert failure_line("12", "beta", "exit code 1", last_line(log)) == (
        "analysis job 12 on beta failed (exit code 1): manifest: model 1 (m1) stage docked: file not found: /x")
    assert failure_line("12", "beta", "OUT_OF_MEMORY", "Killed") == "analysis job 12 on beta failed (OUT_OF_MEMORY): Killed"
    assert failure_line("12", "beta", "TIMEOUT", None) == "analysis job 12 on beta failed (TIMEOUT) (its log is empty)"
    assert exit_code("1 12\n", "12") == 1 and exit_code("0 11\n", "12") is None and exit_code(None, "12") is None


def test_which_trajectories_exist_in_one_command(tmp_path):
    here = LocalTransport(ClusterSettings(name="here", kind="local", workdir=str(tmp_path)))
    (tmp_path / "a b").mkdir()
    (tmp_path / "a b" / "prmd.xtc").write_bytes(b"x")
    (tmp_path / "folder.xtc").mkdir()
    paths = [str(tmp_path / "a b" / "prmd.xtc"), str(tmp_path / "urmd.xtc"), str(tmp_path / "folder.xtc")]
    assert existing_files(here, paths) == {str(tmp_path / "a b" / "prmd.xtc")}
    assert existing_files(here, []) == set()


def test_poll_intervals_double_and_respect_the_clusters_minimum():
    fast = poll_intervals(0.0)
    assert [fast() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, POLL_MAX_S, POLL_MAX_S]
    polite = poll_intervals(60.0)
    assert [polite() for _ in range(3)] == [60.0, 60.0, 60.0]


def test_the_summary_gets_the_local_paths(tmp_path):
    folders = master_folders(BETA, tmp_path / "analysis", tmp_path)
    summary = {"frames": 3, "out_dir": folders.out_dir, "report": f"{folders.out_dir}/report.html",
               "notebook": None}
    here = local_summary(summary, folders, tmp_path / "analysis")
    assert here == {"frames": 3, "out_dir": str(tmp_path / "analysis"), "report": str(tmp_path / "analysis" /
                    "report.html"), "notebook": None, "master_out_dir": folders.out_dir}


@pytest.fixture(scope="module")
def docked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("docked")
    return [FrameSource(model_id=i + 1, mutant="GpA-WT", group=None, name=b.path.stem, stage="docked",
                        topology=b.path) for i, b in enumerate(build_models(GPA_WT, k=2, seed=1, out_dir=folder))]


def _request(tmp_path: Path, request: dict) -> str:
    path = tmp_path / "analysis.request.json"
    path.write_text(json.dumps(request))
    return str(path)


def test_cluster_side_analyse_writes_its_summary(docked, tmp_path, capsys):
    request = {"sources": [s.model_dump(mode="json") for s in docked], "out_dir": str(tmp_path / "out"),
               "settings": {}, "executor": "threads", "n_workers": 1, "summary_file": str(tmp_path / "summary.json")}
    assert main(["analyse", "--request", _request(tmp_path, request)]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert (summary["frames"], summary["new_frames"], summary["report"]) == (2, 2, str(tmp_path / "out" / "report.html"))
    assert "2 source(s) of 2 model(s), 2 frame(s) selected, 2 new in 1 chunk(s)" in err


def test_cluster_side_analyse_a_missing_file_and_a_bad_request_are_one_line(docked, tmp_path, capsys):
    gone = docked[0].model_copy(update={"topology": tmp_path / "gone.pdb"})
    request = {"sources": [gone.model_dump(mode="json")], "out_dir": str(tmp_path / "out"), "executor": "threads"}
    assert main(["analyse", "--request", _request(tmp_path, request)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (f"mpflow.cluster_side: analysis failed: manifest: model 1 ({gone.name}) stage docked: file not "
                   f"found: {tmp_path / 'gone.pdb'}\n")
    assert main(["analyse", "--request", _request(tmp_path, {**request, "settings": {"chunk_frames": 0}})]) == 2
    assert capsys.readouterr().err == ("mpflow.cluster_side: chunk_frames: Input should be greater than or equal "
                                       "to 1\n")
    assert main(["analyse", "--request", _request(tmp_path, {"sources": []})]) == 2
    assert capsys.readouterr().err == "mpflow.cluster_side: request lacks out_dir\n"
