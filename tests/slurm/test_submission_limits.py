"""A batch of sbatch calls stops at the first refusal by a site's limit (or a busy controller): the jobs
left are not sent. The refusal cannot be caused here without a controller that enforces limits (see
tests/manager/test_site_scenarios.py for the real one), so a stand-in ``sbatch`` on the PATH answers
as Slurm 22.05 does once the user has 2 jobs: exit 1 and its two error lines on stderr."""

from __future__ import annotations

import os

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import LocalTransport
from mpflow.slurm import commands as slurm
from mpflow.slurm.client import SlurmClient
from mpflow.slurm.reasons import Refusal, refusal_kind

REFUSAL = ("sbatch: error: QOSMaxSubmitJobPerUserLimit\n"
           "sbatch: error: Batch job submission failed: Job violates accounting/QOS policy (job submit limit, "
           "user's size and/or time limits)")


def test_a_batch_stops_at_a_limit_and_the_rest_is_not_sent(tmp_path):
    bin_dir, work = tmp_path / "bin", tmp_path / "work"
    bin_dir.mkdir()
    work.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "sbatch").write_text(
        "#!/bin/sh\n"
        f"n=$(cat {calls} 2>/dev/null | wc -l); echo x >> {calls}\n"
        f"if [ \"$n\" -ge 2 ]; then printf '%s\\n' \"{REFUSAL.splitlines()[0]}\" \"{REFUSAL.splitlines()[1]}\" >&2; exit 1; fi\n"
        "echo $((100 + n))\n")
    (bin_dir / "sbatch").chmod(0o755)
    settings = ClusterSettings(name="here", kind="local", workdir=str(work),
                               env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    client = SlurmClient(LocalTransport(settings))
    jobs = [slurm.SbatchJob(f"k{i}", str(work), ("sbatch", "--parsable", f"--job-name=mpf-tok{i:04d}", "a.sh"))
            for i in range(5)]
    answers = client.submit_many(jobs)
    assert [answers[f"k{i}"] for i in range(2)] == ["100", "101"]
    refused = [answers[f"k{i}"] for i in range(2, 5)]
    assert all(isinstance(a, slurm.SchedulerError) and a.refusal is Refusal.LIMIT for a in refused)
    assert "QOSMaxSubmitJobPerUserLimit" in str(refused[0])
    assert "not sent after an earlier refusal" in str(refused[1])
    assert len(calls.read_text().split()) == 3  # one refused sbatch, not one per job left
    assert refusal_kind(str(refused[2])) is Refusal.LIMIT
