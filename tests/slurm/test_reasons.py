"""What Slurm's words mean: pending reasons a copy never leaves (tested on squeue lines as Slurm 22.05
prints them for mpflow's format), and sbatch/squeue answers that are a site's limit or a busy controller."""

from __future__ import annotations

import pytest

from mpflow.slurm import commands as slurm
from mpflow.slurm.reasons import (
    PENDING_REASONS,
    Refusal,
    cannot_start,
    doomed_line,
    limit_code,
    reason_code,
    refusal_kind,
)

# squeue --format=%i|%T|%r|%S|%e|%Z|%j as Slurm 22.05 prints it (captured on the dev clusters for the
# reasons they can show: PartitionTimeLimit on beta's short partition, JobHeldUser, Priority, Resources,
# PartitionDown; the others in the same format, with the reason codes of squeue(1))
CAPTURED = """\
101|PENDING|PartitionTimeLimit|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t1
102|PENDING|ReqNodeNotAvail, UnavailableNodes:beta-n1|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t2
103|PENDING|Priority|2026-12-02T05:01:00|2026-12-02T05:06:00|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t3
104|PENDING|Resources|2026-12-02T05:01:00|2026-12-02T05:06:00|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t4
105|PENDING|QOSMaxJobsPerUserLimit|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t5
106|PENDING|AssocMaxWallDurationPerJobLimit|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t6
107|PENDING|QOSMaxWallDurationPerJobLimit|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t7
108|PENDING|JobHeldUser|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t8
109|PENDING|PartitionDown|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t9
110|PENDING|BadConstraints|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t10
111|PENDING|QOSMaxCpuPerUserLimit|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t11
112|PENDING|DependencyNeverSatisfied|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t12
113|PENDING|InvalidQOS|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t13
114|PENDING|NodeDown|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t14
115|PENDING|QOSMaxCpuPerJobLimit|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t15
116|PENDING|AssocGrpCPURunMinutesLimit|N/A|N/A|/srv/dev/beta/work/demo/GpA-WT/None/GpA-WT_001/emmd|mpf-t16
"""

# job id → (never starts as asked, only after a grace)
EXPECTED = {
    "101": (True, False), "102": (True, True), "103": (False, None), "104": (False, None), "105": (False, None),
    "106": (True, False), "107": (True, False), "108": (False, None), "109": (False, None), "110": (True, False),
    "111": (False, None), "112": (True, False), "113": (True, False), "114": (True, True), "115": (True, False),
    "116": (False, None),
}


@pytest.mark.parametrize("job_id", sorted(EXPECTED, key=int))
def test_captured_squeue_lines_through_the_reason_table(job_id):
    status = slurm.parse_squeue(0, CAPTURED, "")[job_id]
    entry = cannot_start(status.pending_reason)
    doomed, grace = EXPECTED[job_id]
    assert (entry is not None) == doomed, status.pending_reason
    if doomed:
        assert entry.grace is grace


def test_the_reason_line_status_shows():
    assert doomed_line("PartitionTimeLimit") == "PartitionTimeLimit — the stage's time limit exceeds the partition's"
    assert reason_code("ReqNodeNotAvail, UnavailableNodes:beta-n1") == "ReqNodeNotAvail"
    assert reason_code("(Priority)") == "Priority" and reason_code(None) == ""
    assert doomed_line("Priority") is None


def test_every_entry_quotes_slurms_documentation_and_says_what_it_means():
    for entry in PENDING_REASONS:
        assert entry.slurm_doc.endswith(".") and len(entry.slurm_doc) > 20, entry.code
        assert entry.means and entry.means[0].islower(), entry.code


# What sbatch and squeue print (Slurm 22.05 wording; the rate limit's from Slurm 23.02's slurm_errno)
ANSWERS = [
    ("sbatch: error: QOSMaxSubmitJobPerUserLimit\nsbatch: error: Batch job submission failed: Job violates "
     "accounting/QOS policy (job submit limit, user's size and/or time limits)", Refusal.LIMIT,
     "QOSMaxSubmitJobPerUserLimit"),
    ("sbatch: error: AssocMaxSubmitJobLimit\nsbatch: error: Batch job submission failed: Job violates "
     "accounting/QOS policy (job submit limit, user's size and/or time limits)", Refusal.LIMIT, "AssocMaxSubmitJobLimit"),
    ("sbatch: error: Batch job submission failed: Socket timed out on send/recv operation", Refusal.BUSY, None),
    ("squeue: error: slurm_receive_msg: Socket timed out on send/recv operation\n"
     "slurm_load_jobs error: Socket timed out on send/recv operation", Refusal.BUSY, None),
    ("sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying", Refusal.BUSY, None),
    ("slurm_load_jobs error: Rate limit exceeded, please retry momentarily", Refusal.BUSY, None),
    ("sbatch: error: Batch job submission failed: Invalid partition name specified", None, None),
    ("sbatch: error: Batch job submission failed: Requested node configuration is not available", None, None),
]


@pytest.mark.parametrize("message, kind, code", ANSWERS, ids=[a[0][:40] for a in ANSWERS])
def test_refusals_and_busy_answers(message, kind, code):
    assert refusal_kind(message) is kind
    if code:
        assert limit_code(message) == code


def test_a_scheduler_error_says_which_refusal_it_is():
    err = slurm.scheduler_error("squeue", 1, "", "slurm_load_jobs error: Socket timed out on send/recv operation")
    assert err.refusal is Refusal.BUSY
    assert slurm.scheduler_error("sbatch", 1, "", ANSWERS[0][0]).refusal is Refusal.LIMIT
    assert slurm.scheduler_error("sbatch", 1, "", "Invalid account").refusal is None
