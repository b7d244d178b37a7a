"""Two Slurm releases through the same parsers: output captured in mpflow's formats from Slurm 22.05
(the dev clusters) next to the same commands' output as Slurm 20.11 prints it (its man pages: squeue(1)
and sacct(1) of 20.11 document the same %-fields and -P layout; scancel of releases before 21.08 reports
an unknown id with an error and exit code 1), and the options mpflow avoids because older releases lack
them (squeue --me came in 20.11: Snakemake-Profiles/slurm#101)."""

from __future__ import annotations

import pytest

from mpflow.slurm import commands as slurm
from mpflow.states import FailureKind, JobState

SQUEUE = {
    "22.05": "41|RUNNING|None|2026-12-02T04:30:01|2026-12-02T05:30:01|/home/u/w/p/m/None/x/emmd|mpf-aa01\n"
             "42|PENDING|PartitionTimeLimit|N/A|N/A|/home/u/w/p/m/None/x/emmd|mpf-aa02\n"
             "43|COMPLETED|None|2026-12-02T04:20:00|2026-12-02T04:21:10|/home/u/w/p/m/None/x/emmd|mpf-aa03\n"
             "44|PENDING|JobHeldUser|N/A|N/A|/home/u/w/p/m/None/x/emmd|somebody-elses\n",
    # 20.11: the same format; a pending job's start is N/A, a job held by its user says JobHeldUser
    "20.11": "41|RUNNING|None|2026-12-02T04:30:01|2026-12-02T05:30:01|/home/u/w/p/m/None/x/emmd|mpf-aa01\n"
             "42|PENDING|PartitionTimeLimit|N/A|N/A|/home/u/w/p/m/None/x/emmd|mpf-aa02\n"
             "43|COMPLETED|None|2026-12-02T04:20:00|2026-12-02T04:21:10|/home/u/w/p/m/None/x/emmd|mpf-aa03\n"
             "44|PENDING|JobHeldUser|N/A|N/A|/home/u/w/p/m/None/x/emmd|somebody-elses\n",
}

SACCT = {
    "22.05": "41|COMPLETED|0:0|2026-12-02T04:30:01|2026-12-02T04:31:40|/home/u/w/p/m/None/x/emmd|mpf-aa01\n"
             "45|FAILED|3:0|2026-12-02T04:30:01|2026-12-02T04:30:05|/home/u/w/p/m/None/x/emmd|mpf-aa05\n"
             "46|CANCELLED by 1001|0:0|None|2026-12-02T04:33:00|/home/u/w/p/m/None/x/emmd|mpf-aa06\n"
             "47|TIMEOUT|0:0|2026-12-02T03:30:01|2026-12-02T04:30:31|/home/u/w/p/m/None/x/emmd|mpf-aa07\n"
             "48|OUT_OF_MEMORY|0:125|2026-12-02T04:00:01|2026-12-02T04:10:31|/home/u/w/p/m/None/x/emmd|mpf-aa08\n",
    # 20.11: a job cancelled before it started has Start "Unknown" (22.05: "None"); the rest the same
    "20.11": "41|COMPLETED|0:0|2026-12-02T04:30:01|2026-12-02T04:31:40|/home/u/w/p/m/None/x/emmd|mpf-aa01\n"
             "45|FAILED|3:0|2026-12-02T04:30:01|2026-12-02T04:30:05|/home/u/w/p/m/None/x/emmd|mpf-aa05\n"
             "46|CANCELLED by 1001|0:0|Unknown|2026-12-02T04:33:00|/home/u/w/p/m/None/x/emmd|mpf-aa06\n"
             "47|TIMEOUT|0:0|2026-12-02T03:30:01|2026-12-02T04:30:31|/home/u/w/p/m/None/x/emmd|mpf-aa07\n"
             "48|OUT_OF_MEMORY|0:125|2026-12-02T04:00:01|2026-12-02T04:10:31|/home/u/w/p/m/None/x/emmd|mpf-aa08\n",
}


@pytest.mark.parametrize("release", ["20.11", "22.05"])
def test_squeue_of_both_releases(release):
    everyone = slurm.parse_squeue(0, SQUEUE[release], "", only_mpflow=False)
    assert slurm.queued_count(everyone) == 3  # the user's others count towards a site's limits too
    mine = slurm.parse_squeue(0, SQUEUE[release], "")
    assert {j: s.state for j, s in mine.items()} == {"41": JobState.R, "42": JobState.PD, "43": JobState.D}
    assert mine["42"].pending_reason == "PartitionTimeLimit"


@pytest.mark.parametrize("release", ["20.11", "22.05"])
def test_sacct_of_both_releases(release):
    jobs = slurm.parse_sacct(0, SACCT[release], "")
    assert {j: (s.state, s.failure_kind) for j, s in jobs.items()} == {
        "41": (JobState.D, None), "45": (JobState.F, FailureKind.NONZERO_EXIT),
        "46": (JobState.F, FailureKind.CANCELLED), "47": (JobState.F, FailureKind.TIMEOUT),
        "48": (JobState.F, FailureKind.OUT_OF_MEMORY)}
    assert jobs["45"].exit_code == 3 and jobs["46"].start is None


@pytest.mark.parametrize("release, stdout", [("22.05", "1234\n"), ("20.11", "1234\n"), ("federated", "1234;alpha\n")])
def test_sbatch_parsable_of_both_releases(release, stdout):
    assert slurm.parse_sbatch(0, stdout, "") == "1234"


def test_scancel_of_an_unknown_id_in_both_releases():
    # 22.05 cancels an id it does not know silently; 20.11 says so and exits 1
    assert slurm.parse_scancel(0, "", "") == []
    assert slurm.parse_scancel(1, "", "scancel: error: Kill job error on job id 99: Invalid job id specified\n") == ["99"]


@pytest.mark.parametrize("text, version, problem", [
    ("slurm 22.05.8\n", "22.05.8", False), ("slurm 20.11.9\n", "20.11.9", False),
    ("slurm-wlm 17.11.2\n", "17.11.2", False), ("slurm 16.05.9\n", "16.05.9", True),
])
def test_slurm_versions(text, version, problem):
    assert slurm.parse_slurm_version(text) == version
    assert (slurm.version_problem(version) is not None) is problem


NEWER_OPTIONS = {"--me", "--only-job-state", "--json", "--yaml", "--clusters", "-M"}
"""squeue --me (20.11), --only-job-state (24.05), --json/--yaml (21.08); --clusters needs a multi-cluster setup."""


def test_mpflows_commands_use_no_option_an_older_release_lacks():
    argvs = [slurm.squeue_argv("u"), slurm.sacct_argv("u", job_ids=["1"]), slurm.sacct_argv(job_names=["mpf-x"]),
             slurm.sbatch_argv("/w/a.sbatch", token="abcd1234"), slurm.scancel_argv(["1"]), slurm.sinfo_argv()]
    used = {a.split("=", 1)[0] for argv in argvs for a in argv}
    assert not used & NEWER_OPTIONS
