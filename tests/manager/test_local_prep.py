"""Preparation on this machine (``run = "local"``): what a finished process means, and an orphan left by
a killed run ended by the next one (real processes, no GROMACS)."""

from __future__ import annotations

import subprocess

from mpflow.manager.local_prep import LocalJob, end_orphan, outcome_of, pid_file


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
