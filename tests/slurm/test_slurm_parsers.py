"""Parsers of Slurm output, on lines captured from the dev clusters (Slurm 22.05)."""

from __future__ import annotations

from datetime import datetime

import pytest

from mpflow.slurm import commands as slurm
from mpflow.states import FailureKind, JobState

# squeue --noheader --array --states=all --format='%i|%T|%r|%S|%e|%Z|%j' on alpha (Slurm 22.05): a held job
# cancelled, pending on resources and priority, held, running, completed, failed, cancelled while running,
# and a job of someone else's tool whose name holds the separator.
SQUEUE_OUT = """\
60|CANCELLED|JobHeldUser|2026-11-26T04:22:16|2026-11-26T04:22:16|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-held
59|PENDING|Resources|N/A|N/A|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-res
61|PENDING|Priority|N/A|N/A|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-fail
63|PENDING|JobHeldUser|N/A|N/A|/home/mpflowdev|other|x
58|RUNNING|None|2026-11-26T04:22:08|NONE|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-run
67|CANCELLED|None|2026-11-26T04:22:30|2026-11-26T04:22:32|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-cancel-running
65|COMPLETED|None|2026-11-26T04:22:21|2026-11-26T04:22:21|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-done2
64|FAILED|NonZeroExitCode|2026-11-26T04:22:21|2026-11-26T04:22:21|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-fail2
"""

# sacct -X -P --noheader --format=JobID,State,ExitCode,Start,End,WorkDir,JobName on alpha.
SACCT_OUT = """\
1|COMPLETED|0:0|2026-11-25T15:17:14|2026-11-25T15:17:14|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-demo-80e2455c-alpha
2|COMPLETED|0:0|2026-11-25T15:17:22|2026-11-25T15:17:52|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-run
3|TIMEOUT|0:15|2026-11-25T15:17:22|2026-11-25T15:18:41|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-to
4|FAILED|3:0|2026-11-25T15:17:52|2026-11-25T15:17:52|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-fail
5|CANCELLED by 0|0:0|2026-11-25T15:17:24|2026-11-25T15:17:24|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-cancel
7|COMPLETED|0:0|2026-11-25T15:17:55|2026-11-25T15:18:00|/home/mpflowdev|other
6|CANCELLED by 0|0:0|None|2026-11-25T15:19:41|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-held
58|RUNNING|0:0|2026-11-26T04:22:08|Unknown|/home/mpflowdev/alpha/mpflow-work/tests/cap|mpf-cap-run
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


def test_squeue_keeps_only_mpflow_jobs_with_typed_failures_and_pending_reasons():
    jobs = slurm.parse_squeue(0, SQUEUE_OUT, "")
    assert sorted(jobs, key=int) == ["58", "59", "60", "61", "64", "65", "67"]
    assert {j: (s.state, s.failure_kind, s.pending_reason) for j, s in jobs.items()} == {
        "58": (JobState.R, None, None),
        "59": (JobState.PD, None, "Resources"),
        "60": (JobState.F, FailureKind.CANCELLED, None),
        "61": (JobState.PD, None, "Priority"),
        "64": (JobState.F, FailureKind.NONZERO_EXIT, None),
        "65": (JobState.D, None, None),
        "67": (JobState.F, FailureKind.CANCELLED, None),
    }
    assert (jobs["58"].start, jobs["58"].end) == (datetime(2026, 11, 26, 4, 22, 8), None)
    assert (jobs["59"].start, jobs["59"].end) == (None, None)
    assert (jobs["67"].start, jobs["67"].end) == (datetime(2026, 11, 26, 4, 22, 30), datetime(2026, 11, 26, 4, 22, 32))
    assert {s.source for s in jobs.values()} == {"squeue"}
    assert jobs["58"].work_dir == "/home/mpflowdev/alpha/mpflow-work/tests/cap"


def test_squeue_asks_for_finished_jobs_too_with_the_name_last():
    argv = slurm.squeue_argv("mpflowdev")
    assert argv == ["squeue", "--noheader", "--array", "--states=all", "--format=%i|%T|%r|%S|%e|%Z|%j",
                    "--user=mpflowdev"]
    # never --me: releases before 20.11 do not have it (Snakemake-Profiles/slurm#101), so the user is named
    assert not any(a == "--me" for a in argv)
    with pytest.raises(ValueError):
        slurm.squeue_argv("")


def test_a_separator_in_a_foreign_job_name_shifts_no_field():
    jobs = slurm.parse_squeue(0, SQUEUE_OUT, "", only_mpflow=False)
    assert (jobs["63"].name, jobs["63"].state, jobs["63"].pending_reason) == ("other|x", JobState.PD, "JobHeldUser")


def test_squeue_error_raises_with_stderr_and_a_hint():
    with pytest.raises(slurm.SchedulerError, match="Unable to contact slurm controller") as info:
        slurm.parse_squeue(1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)")
    assert info.value.returncode == 1 and "SLURM_CONF" in info.value.hint
    placed = info.value.at("beta", ["squeue", "--me"])
    assert isinstance(placed, slurm.SchedulerError) and (placed.cluster, placed.argv) == ("beta", ("squeue", "--me"))
    first = str(placed).splitlines()[0]
    assert first.startswith("[beta] squeue failed: slurm_load_jobs error: Unable to contact") and "SLURM_CONF" in first
    assert "command: squeue --me" in str(placed)


def test_sacct_maps_terminal_states_to_failure_kinds_and_exit_codes():
    jobs = slurm.parse_sacct(0, SACCT_OUT, "")
    assert {j: (s.state, s.slurm_state, s.failure_kind, s.exit_code) for j, s in jobs.items()} == {
        "1": (JobState.D, "COMPLETED", None, 0),
        "2": (JobState.D, "COMPLETED", None, 0),
        "3": (JobState.F, "TIMEOUT", FailureKind.TIMEOUT, 0),
        "4": (JobState.F, "FAILED", FailureKind.NONZERO_EXIT, 3),
        "5": (JobState.F, "CANCELLED", FailureKind.CANCELLED, 0),
        "6": (JobState.F, "CANCELLED", FailureKind.CANCELLED, 0),
        "58": (JobState.R, "RUNNING", None, 0),
    }
    assert (jobs["3"].signal, jobs["3"].end) == (15, datetime(2026, 11, 25, 15, 18, 41))
    assert jobs["6"].start is None  # a held job cancelled before it ever started
    assert jobs["58"].end is None
    assert jobs["4"].work_dir == "/home/mpflowdev/alpha/mpflow-work/tests/cap"


def test_sacct_argv_by_ids_by_names_and_since():
    assert slurm.sacct_argv("me", job_ids=["4", "5"]) == [
        "sacct", "-X", "-P", "--noheader", "--format=JobID,State,ExitCode,Start,End,WorkDir,JobName", "--user=me",
        "--jobs=4,5"]
    assert slurm.sacct_argv(since=datetime(2026, 1, 2, 3, 4, 5), job_names=["mpf-a1b2", "mpf-c3d4"])[-2:] == [
        "--starttime=2026-01-02T03:04:05", "--name=mpf-a1b2,mpf-c3d4"]


def test_sacct_without_accounting_is_its_own_error():
    # beta: `sacct -X -P` exits 1 with this line on stderr.
    with pytest.raises(slurm.AccountingDisabled):
        slurm.parse_sacct(1, "", "Slurm accounting storage is disabled\n")


def test_scontrol_show_job_done_pending_and_purged():
    done = slurm.parse_scontrol_show_job(0, SCONTROL_DONE, "")
    assert (done.job_id, done.name, done.state, done.exit_code, done.end) == (
        "1", "mpf-demo-80e2455c-alpha", JobState.D, 0, datetime(2026, 11, 25, 15, 17, 14))
    pending = slurm.parse_scontrol_show_job(0, SCONTROL_PENDING, "")
    assert (pending.state, pending.pending_reason, pending.failure_kind, pending.start) == (
        JobState.PD, "Priority", None, None)
    assert slurm.parse_scontrol_show_job(1, "", "slurm_load_jobs error: Invalid job id specified\n") is None


SBATCH_REFUSED = ("sbatch: error: invalid partition specified: gpu\n"
                  "sbatch: error: Batch job submission failed: Invalid partition name specified")


def test_sbatch_parsable_and_test_only():
    assert slurm.parse_sbatch(0, "42\n", "") == "42"
    assert slurm.parse_sbatch(0, "42;alpha\n", "") == "42"
    with pytest.raises(slurm.SchedulerError, match="invalid partition") as info:
        slurm.parse_sbatch(1, "", SBATCH_REFUSED)
    assert info.value.hint == "check the cluster's `partition` (or the job's extra_sbatch partition)"
    stderr = "sbatch: Job 8 to start at 10193-01-09T19:32:22 using 1 processors on nodes alpha-n1 in partition cpu\n"
    assert "to start at" in slurm.parse_sbatch_test_only(0, "", stderr)
    with pytest.raises(slurm.SchedulerError):
        slurm.parse_sbatch_test_only(1, "", "sbatch: error: Batch job submission failed: Invalid partition name")


def test_a_missing_slurm_command_gets_a_path_hint():
    err = slurm.scheduler_error("squeue", 127, "", "bash: line 1: squeue: command not found\n")
    assert err.hint.startswith("Slurm's commands are not on the login shell's PATH")


def test_batch_sbatch_records_are_nul_separated_fields_never_shell_text():
    jobs = [slurm.SbatchJob("m1", "/w/a b", ("sbatch", "--parsable", "--comment=x;$(reboot)", "/w/a b/s.sh")),
            slurm.SbatchJob("m2", "/w/c", ("sbatch", "/w/c/s.sh"))]
    data = slurm.sbatch_many_stdin(jobs)
    assert data.split(b"\0") == [b"m1", b"/w/a b", b"3", b"--parsable", b"--comment=x;$(reboot)", b"/w/a b/s.sh",
                                  b"m2", b"/w/c", b"1", b"/w/c/s.sh", b""]
    argv = slurm.sbatch_many_argv()
    assert argv[:2] == ["bash", "-c"] and argv[3:] == ["mpflow-sbatch"]
    with pytest.raises(ValueError, match="tab or newline"):
        slurm.sbatch_many_stdin([slurm.SbatchJob("a\nb", "/w", ("sbatch", "/w/s.sh"))])
    with pytest.raises(ValueError, match="must start with sbatch"):
        slurm.sbatch_many_stdin([slurm.SbatchJob("a", "/w", ("rm", "-rf", "/"))])


def test_batch_sbatch_answers_per_job():
    # Captured on beta: one line per job (key, exit code, stdout, stderr); m4 never answered.
    stdout = ("m1\t0\t61\t\n"
              "m2\t1\t\tsbatch: error: invalid partition specified: gpu sbatch: error: Batch job submission "
              "failed: Invalid partition name specified\n"
              "m3\t1\t\tmpflow-sbatch: line 8: cd: /nonexistent: No such file or directory\n")
    answers = slurm.parse_sbatch_many(0, stdout, "", ["m1", "m2", "m3", "m4"])
    assert answers["m1"] == "61"
    assert [type(answers[k]) for k in ("m2", "m3", "m4")] == [slurm.SchedulerError] * 3
    assert str(answers["m2"]).splitlines()[0] == (
        "sbatch failed: sbatch: error: invalid partition specified: gpu sbatch: error: Batch job submission failed: "
        "Invalid partition name specified; check the cluster's `partition` (or the job's extra_sbatch partition)")
    assert "cd: /nonexistent: No such file or directory" in str(answers["m3"])
    assert str(answers["m4"]).startswith("batch sbatch (no answer for this job) failed")


# sinfo --noheader --format='%P|%a|%D|%t' on the dev clusters and on a site with two partitions.
SINFO_BOTH = "cpu*|up|1|idle\ngpu|up|2|drain\ngpu|up|1|mix\nold|down|4|idle\n"


@pytest.mark.parametrize(("partition", "problem"), [
    (None, None),
    ("cpu", None),
    ("gpu", None),
    ("gpu,cpu", None),
    ("old", "partition old is down"),
    ("nosuch", "partition nosuch does not exist (sinfo lists cpu, gpu, old)"),
])
def test_partition_problem(partition, problem):
    assert slurm.partition_problem(slurm.parse_sinfo(0, SINFO_BOTH, ""), partition) == problem


def test_partition_without_a_node_that_takes_jobs():
    rows = slurm.parse_sinfo(0, "cpu*|up|1|drain*\n", "")
    assert rows == [slurm.PartitionNodes("cpu", True, True, 1, "drain*")]
    assert slurm.partition_problem(rows, None) == "partition cpu has no node that takes jobs (1 drain*)"
    assert slurm.partition_problem(slurm.parse_sinfo(0, "cpu|up|1|idle\n", ""), None) == (
        "no default partition: set the cluster's `partition`")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("PENDING", ("PENDING", JobState.PD, None)),
        ("PD", ("PENDING", JobState.PD, None)),
        ("R", ("RUNNING", JobState.R, None)),
        ("CG", ("COMPLETING", JobState.R, None)),
        ("CD", ("COMPLETED", JobState.D, None)),
        ("CANCELLED by 0", ("CANCELLED", JobState.F, FailureKind.CANCELLED)),
        ("TIMEOUT", ("TIMEOUT", JobState.F, FailureKind.TIMEOUT)),
        ("NF", ("NODE_FAIL", JobState.F, FailureKind.NODE_FAILURE)),
        ("OOM", ("OUT_OF_MEMORY", JobState.F, FailureKind.OUT_OF_MEMORY)),
        ("PREEMPTED", ("PREEMPTED", JobState.F, FailureKind.PREEMPTION)),
        ("BF", ("BOOT_FAIL", JobState.F, FailureKind.BOOT_FAILURE)),
        ("DL", ("DEADLINE", JobState.F, FailureKind.DEADLINE)),
        ("F", ("FAILED", JobState.F, FailureKind.NONZERO_EXIT)),
        ("RV", ("REVOKED", JobState.F, FailureKind.CANCELLED)),
        ("REQUEUED", ("REQUEUED", JobState.PD, None)),
        ("SUSPENDED", ("SUSPENDED", JobState.R, None)),
    ],
)
def test_state_table(code, expected):
    assert slurm.map_slurm_state(code) == expected


def test_every_slurm_state_maps_by_long_and_short_name_and_failures_have_a_kind():
    for long, (short, state, kind) in slurm.SLURM_STATES.items():
        assert slurm.map_slurm_state(long)[1] is state
        assert slurm.map_slurm_state(short) == (long, state, kind)
        assert (kind is not None) == (state is JobState.F), long


def test_unknown_state_is_undetermined_with_a_warning(caplog):
    long, state, kind = slurm.map_slurm_state("LAUNCH_FAILED_SOMEHOW")
    assert (long, state, kind) == ("LAUNCH_FAILED_SOMEHOW", JobState.UNKNOWN, None)
    assert "unknown Slurm job state" in caplog.text


def test_builders_quote_nothing_and_refuse_bad_tokens_tags_and_ids():
    argv = slurm.sbatch_argv("/w/a b/job.sh", token="abc-123", comment="Conformation1:EMMD:Protein_3", partition="cpu")
    assert argv == ["sbatch", "--parsable", "--job-name=mpf-abc-123", "--comment=Conformation1:EMMD:Protein_3",
                    "--partition=cpu", "/w/a b/job.sh"]
    with pytest.raises(ValueError, match="submission token"):
        slurm.sbatch_argv("/w/job.sh", token="$(reboot)")
    with pytest.raises(ValueError, match="scancel|numeric"):
        slurm.scancel_argv(["12", "13;reboot"])
    assert slurm.scancel_argv(["12", "13"]) == ["scancel", "12", "13"]


FORGED_TAG = "None\n99999|mpf-forged-job|COMPLETED|None|N/A|x"


def test_a_tag_with_a_newline_never_reaches_sbatch():
    """Such a comment would print as an extra squeue line: a forged job 99999, COMPLETED."""
    with pytest.raises(ValueError, match="model tag"):
        slurm.sbatch_argv("/w/job.sh", token="abc-123", comment=FORGED_TAG)
    with pytest.raises(ValueError, match="model tag"):
        slurm.sbatch_argv("/w/job.sh", token="abc-123", comment="Conformation1; rm -rf /")
