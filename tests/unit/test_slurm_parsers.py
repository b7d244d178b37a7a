"""Parsers of Slurm output, on lines captured from the dev clusters (Slurm 22.05)."""

from __future__ import annotations

from datetime import datetime

import pytest

from mpflow import slurm
from mpflow.slurm import JobState

# squeue --noheader --array --format='%i|%j|%T|%r|%S|%k' on alpha, with jobs in several states.
SQUEUE_OUT = """\
4|mpf-cap-fail|PENDING|Resources|N/A|(null)
5|mpf-cap-cancel|PENDING|Priority|N/A|(null)
7|other|PENDING|Priority|N/A|(null)
6|mpf-cap-held|PENDING|JobHeldUser|N/A|(null)
2|mpf-cap-run|RUNNING|None|2026-11-25T15:17:22|Conformation1:EMMD:model_7
3|mpf-cap-to|RUNNING|None|2026-11-25T15:17:22|(null)
"""

# sacct -X -P --noheader --format=JobID,JobName,State,ExitCode,Start,End,Comment on alpha.
SACCT_OUT = """\
1|mpf-demo-80e2455c-alpha|COMPLETED|0:0|2026-11-25T15:17:14|2026-11-25T15:17:14|
2|mpf-cap-run|COMPLETED|0:0|2026-11-25T15:17:22|2026-11-25T15:17:52|
3|mpf-cap-to|TIMEOUT|0:15|2026-11-25T15:17:22|2026-11-25T15:18:41|
4|mpf-cap-fail|FAILED|3:0|2026-11-25T15:17:52|2026-11-25T15:17:52|
5|mpf-cap-cancel|CANCELLED by 0|0:0|2026-11-25T15:17:24|2026-11-25T15:17:24|
7|other|COMPLETED|0:0|2026-11-25T15:17:55|2026-11-25T15:18:00|
6|mpf-cap-held|CANCELLED|0:0|None|2026-11-25T15:19:41|
"""

# scontrol --oneliner show job 1 on alpha (trimmed of nothing: the whole line as printed).
SCONTROL_DONE = (
    "JobId=1 JobName=mpf-demo-80e2455c-alpha UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901759 "
    "Nice=0 Account=root QOS=normal JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 Restarts=0 "
    "BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:00:00 TimeLimit=00:05:00 TimeMin=N/A "
    "SubmitTime=2026-11-25T15:17:13 EligibleTime=2026-11-25T15:17:13 AccrueTime=2026-11-25T15:17:13 "
    "StartTime=2026-11-25T15:17:14 EndTime=2026-11-25T15:17:14 Deadline=N/A SuspendTime=None SecsPreSuspend=0 "
    "LastSchedEval=2026-11-25T15:17:14 Scheduler=Main Partition=cpu AllocNode:Sid=localhost:1083 "
    "ReqNodeList=(null) ExcNodeList=(null) NodeList=alpha-n1 BatchHost=alpha-n1 NumNodes=1 NumCPUs=1 NumTasks=1 "
    "CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* "
    "CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 "
    "OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) "
    "Command=/home/mpflowdev/alpha/mpflow-work/demo/None/waterbox_80e2455c/solvate/solvate.sh "
    "WorkDir=/home/mpflowdev/alpha/mpflow-work/demo/None/waterbox_80e2455c/solvate Comment=demo:None:waterbox  "
    "StdErr=/home/mpflowdev/alpha/mpflow-work/demo/None/waterbox_80e2455c/solvate/solvate.alpha.1.out "
    "StdIn=/dev/null StdOut=/home/mpflowdev/alpha/mpflow-work/demo/None/waterbox_80e2455c/solvate/solvate.alpha.1.out "
    "Power= \n"
)
SCONTROL_PENDING = (
    "JobId=7 JobName=other UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901754 Nice=0 Account=root "
    "QOS=normal JobState=PENDING Reason=Priority Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 "
    "ExitCode=0:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-11-25T15:17:21 "
    "EligibleTime=2026-11-25T15:17:21 AccrueTime=2026-11-25T15:17:21 StartTime=Unknown EndTime=Unknown "
    "Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-11-25T15:17:22 Scheduler=Main "
    "Partition=cpu AllocNode:Sid=localhost:1083 ReqNodeList=(null) ExcNodeList=(null) NodeList= NumNodes=1 "
    "NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=1M,node=1,billing=1 Socks/Node=* "
    "NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) "
    "DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=(null) "
    "WorkDir=/home/mpflowdev/alpha/mpflow-work StdErr=/home/mpflowdev/alpha/mpflow-work/slurm-7.out "
    "StdIn=/dev/null StdOut=/home/mpflowdev/alpha/mpflow-work/slurm-7.out Power= \n"
)


def test_squeue_keeps_only_mpflow_jobs_with_states_reasons_and_comments():
    jobs = slurm.parse_squeue(0, SQUEUE_OUT, "")
    assert sorted(jobs) == ["2", "3", "4", "5", "6"]
    assert {j: (s.state, s.reason) for j, s in jobs.items()} == {
        "2": (JobState.R, None),
        "3": (JobState.R, None),
        "4": (JobState.PD, "Resources"),
        "5": (JobState.PD, "Priority"),
        "6": (JobState.PD, "JobHeldUser"),
    }
    assert jobs["2"].comment == "Conformation1:EMMD:model_7"
    assert jobs["3"].comment is None
    assert jobs["2"].start == datetime(2026, 11, 25, 15, 17, 22)
    assert jobs["4"].start is None


def test_squeue_error_raises_with_stderr():
    with pytest.raises(slurm.SlurmCommandError, match="Unable to contact slurm controller"):
        slurm.parse_squeue(1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)")


def test_sacct_maps_terminal_states_and_failure_kinds():
    jobs = slurm.parse_sacct(0, SACCT_OUT, "")
    assert {j: (s.state, s.slurm_state, s.reason, s.exit_code) for j, s in jobs.items()} == {
        "1": (JobState.D, "COMPLETED", None, 0),
        "2": (JobState.D, "COMPLETED", None, 0),
        "3": (JobState.F, "TIMEOUT", "TIMEOUT", 0),
        "4": (JobState.F, "FAILED", "exit code 3", 3),
        "5": (JobState.F, "CANCELLED", "CANCELLED", 0),
        "6": (JobState.F, "CANCELLED", "CANCELLED", 0),
    }
    assert (jobs["3"].signal, jobs["3"].end) == (15, datetime(2026, 11, 25, 15, 18, 41))
    assert jobs["6"].start is None  # a held job cancelled before it ever started


def test_sacct_without_accounting_is_its_own_error():
    # beta: `sacct -X -P` exits 1 with this line on stderr.
    with pytest.raises(slurm.AccountingDisabled):
        slurm.parse_sacct(1, "", "Slurm accounting storage is disabled\n")


def test_scontrol_show_job_done_pending_and_purged():
    done = slurm.parse_scontrol_show_job(0, SCONTROL_DONE, "")
    assert (done.job_id, done.name, done.state, done.exit_code, done.comment) == (
        "1", "mpf-demo-80e2455c-alpha", JobState.D, 0, "demo:None:waterbox")
    pending = slurm.parse_scontrol_show_job(0, SCONTROL_PENDING, "")
    assert (pending.state, pending.reason, pending.start) == (JobState.PD, "Priority", None)
    assert slurm.parse_scontrol_show_job(1, "", "slurm_load_jobs error: Invalid job id specified\n") is None


def test_sbatch_parsable_and_test_only():
    assert slurm.parse_sbatch(0, "42\n", "") == "42"
    assert slurm.parse_sbatch(0, "42;alpha\n", "") == "42"
    with pytest.raises(slurm.SlurmCommandError, match="invalid partition"):
        slurm.parse_sbatch(1, "", "sbatch: error: invalid partition specified: gpu\n"
                                  "sbatch: error: Batch job submission failed: Invalid partition name specified")
    stderr = "sbatch: Job 8 to start at 10193-01-09T19:32:22 using 1 processors on nodes alpha-n1 in partition cpu\n"
    assert "to start at" in slurm.parse_sbatch_test_only(0, "", stderr)
    with pytest.raises(slurm.SlurmCommandError):
        slurm.parse_sbatch_test_only(1, "", "sbatch: error: Batch job submission failed: Invalid partition name")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("PENDING", ("PENDING", JobState.PD, None)),
        ("PD", ("PENDING", JobState.PD, None)),
        ("R", ("RUNNING", JobState.R, None)),
        ("CG", ("COMPLETING", JobState.R, None)),
        ("CD", ("COMPLETED", JobState.D, None)),
        ("CANCELLED by 0", ("CANCELLED", JobState.F, "CANCELLED")),
        ("TIMEOUT", ("TIMEOUT", JobState.F, "TIMEOUT")),
        ("NF", ("NODE_FAIL", JobState.F, "NODE_FAIL")),
        ("OOM", ("OUT_OF_MEMORY", JobState.F, "OUT_OF_MEMORY")),
        ("PREEMPTED", ("PREEMPTED", JobState.F, "PREEMPTED")),
        ("BF", ("BOOT_FAIL", JobState.F, "BOOT_FAIL")),
        ("REQUEUED", ("REQUEUED", JobState.PD, None)),
        ("SUSPENDED", ("SUSPENDED", JobState.R, "SUSPENDED")),
    ],
)
def test_state_table(code, expected):
    assert slurm.map_slurm_state(code) == expected


def test_every_slurm_state_maps_by_long_and_short_name():
    for long, (short, state, _) in slurm.SLURM_STATES.items():
        assert slurm.map_slurm_state(long)[1] is state
        assert slurm.map_slurm_state(short)[:2] == (long, state)


def test_unknown_state_is_undetermined_with_a_warning(caplog):
    long, state, reason = slurm.map_slurm_state("LAUNCH_FAILED_SOMEHOW")
    assert state is JobState.UNKNOWN and "unknown Slurm state" in reason
    assert "unknown Slurm job state" in caplog.text


def test_builders_quote_nothing_and_refuse_bad_tokens_and_ids():
    argv = slurm.sbatch_argv("/w/a b/job.sh", token="abc-123", comment="Conformation1:EMMD:Protein_3; rm -rf /",
                             partition="cpu")
    assert argv == ["sbatch", "--parsable", "--job-name=mpf-abc-123",
                    "--comment=Conformation1:EMMD:Protein_3; rm -rf /", "--partition=cpu", "/w/a b/job.sh"]
    with pytest.raises(ValueError):
        slurm.sbatch_argv("/w/job.sh", token="$(reboot)")
    with pytest.raises(ValueError):
        slurm.scancel_argv(["12", "13;reboot"])
    assert slurm.scancel_argv(["12", "13"]) == ["scancel", "12", "13"]
