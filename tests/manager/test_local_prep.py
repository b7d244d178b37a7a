"""Preparation on this machine (``run = "local"``): what a finished process means, and an orphan left by
a killed run ended by the next one (real processes, no GROMACS)."""

from __future__ import annotations

import subprocess

import pytest

from mpflow.clusters.settings import ClusterSettings
from mpflow.manager.local_prep import LocalJob, end_orphan, outcome_of, pid_file
from mpflow.manager.pipeline import preparation_workdirs
from mpflow.project.file import ProjectError
from mpflow.states import StageState
from mpflow.store.records import StageRecord


def job(folder) -> LocalJob:
    return LocalJob(1, folder, "prep", "prep", {})


def test_what_a_finished_preparation_process_means(tmp_path):
    j = job(tmp_path)
    assert outcome_of(j, 0) is None
    (tmp_path / "prep.local.reason").write_text("step embed: the protein is 9.1 nm long\nmore\n")
    assert outcome_of(j, 66) == "step embed: the protein is 9.1 nm long"
    (tmp_path / "prep.local.reason").unlink()
    assert outcome_of(j, 66) == "prep refused its input"
    assert outcome_of(j, 1) == f"prep on this machine ended with exit code 1 (see {tmp_path / 'prep.local.out'})"


def test_an_orphan_of_a_killed_run_is_ended_with_its_whole_group(tmp_path):
    # a process group as a killed run leaves it: the leader and a child of its own
    leader = subprocess.Popen(["sh", "-c", "sleep 300 & wait"], start_new_session=True)
    pid_file(tmp_path, "prep").write_text(f"{leader.pid}\n")
    assert end_orphan(tmp_path, "prep") is True
    assert leader.wait(timeout=10) == -9
    assert not pid_file(tmp_path, "prep").exists()
    assert end_orphan(tmp_path, "prep") is False  # nothing left


def test_preparing_here_for_a_master_reached_over_ssh_is_one_line_and_places_nothing(tmp_path):
    remote = ClusterSettings(name="hpc", kind="remote", host="login.example.org", user="me",
                             workdir=str(tmp_path / "work"))
    st = StageRecord(1, 1, "prep", StageState.WAITING, None, 0, 0, "GpA", "None", "GpA_001")
    with pytest.raises(ProjectError) as err:
        preparation_workdirs(None, remote, [st])
    assert str(err.value) == ('stage prep: run = "local" prepares models in the master\'s folders on this machine, '
                              'and the master hpc is reached over SSH: remove `run = "local"` from [stages.prep] '
                              '(it then runs as a Slurm job on hpc)')
    assert not (tmp_path / "work").exists()
