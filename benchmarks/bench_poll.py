"""Batched poll vs the naive poll, with N jobs queued on one cluster.

Ours: ``SlurmClient.poll`` — one ``squeue`` for every job of the cluster, plus one ``sacct`` when an
expected job is no longer known to squeue (measured both ways: all N queued, and N queued + 1 job
that finished long ago, known only to the accounting database).
Baseline: one ``scontrol show job <id>`` per job (how the seed's manager would ask).
Both run side by side in one process on the master dev cluster (local transport), with N held jobs
queued (``sbatch --hold``: they stay PENDING and cost no CPU). Prints scheduler commands per poll
and the time ratio for each N.

    .venv/bin/python benchmarks/bench_poll.py [N ...]      (default: 100 1000 10000)

Needs the dev clusters (scripts/devcluster up); cancels its jobs at the end.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from datetime import datetime, timedelta

from timing import timed

from mpflow.clusters.settings import dev_cluster_settings
from mpflow.clusters.transport import open_transport
from mpflow.slurm import commands as slurm
from mpflow.slurm.client import SlurmClient


def queue_held_jobs(client: SlurmClient, n: int, folder: str, token_prefix: str) -> list[str]:
    """Submit ``n`` held jobs quickly: one bash loop of sbatch calls, in one command."""
    script = os.path.join(folder, "held.sh")
    with open(script, "w") as fh:
        fh.write("#!/bin/bash\n#SBATCH --output=/dev/null\ntrue\n")
    loop = ('for i in $(seq 1 "$1"); do sbatch --parsable --hold --job-name="$2-$i" "$3" || exit 1; done')
    res = client.transport.run(["bash", "-c", loop, "queue", str(n), slurm.job_name(token_prefix), script],
                               timeout=3600, cwd=folder)
    if res.returncode != 0:
        raise SystemExit(f"queueing held jobs failed: {res.stderr.strip()[:500]}")
    return [line.split(";")[0] for line in res.stdout.split()]


def forgotten_job(client: SlurmClient) -> str:
    """A finished mpflow job that squeue no longer lists but sacct remembers (from an earlier run)."""
    res = client.transport.run(slurm.sacct_argv(client.user, since=datetime.now() - timedelta(days=30)))
    finished = {j for j, st in slurm.parse_sacct(res.returncode, res.stdout, res.stderr).items()
                if st.state is slurm.JobState.D}
    old = sorted(finished - set(client.poll().states), key=int)
    if not old:
        raise SystemExit("no finished job older than MinJobAge in alpha's accounting: run the tests once, "
                         "wait 5 minutes, and try again")
    return old[-1]


def naive_poll(client: SlurmClient, job_ids: list[str]) -> tuple[int, int]:
    commands, pending = 0, 0
    for job_id in job_ids:
        res = client.transport.run(slurm.scontrol_show_job_argv(job_id))
        commands += 1
        status = slurm.parse_scontrol_show_job(res.returncode, res.stdout, res.stderr)
        pending += status is not None and status.state is slurm.JobState.PD
    return commands, pending



def main(sizes: list[int]) -> None:
    master = next(s for s in dev_cluster_settings() if s.kind == "local")
    rows = []
    with open_transport(master) as transport, tempfile.TemporaryDirectory(dir="/tmp") as folder:
        client = SlurmClient(transport)
        queued: list[str] = []
        prefix = f"bench-{uuid.uuid4().hex[:6]}"
        finished = forgotten_job(client)
        try:
            for n in sorted(sizes):
                queued += queue_held_jobs(client, n - len(queued), folder, f"{prefix}-{n}")
                repeats = 5 if n <= 1000 else 2
                ours_s, ours = timed(lambda: client.poll(queued), repeats)
                assert sum(s.state is slurm.JobState.PD for s in ours.states.values()) >= n
                with_done = queued + [finished]
                acct_s, acct = timed(lambda: client.poll(with_done), repeats)
                assert acct.states[finished].state is slurm.JobState.D
                naive_s, (naive_cmds, naive_pd) = timed(lambda: naive_poll(client, queued), 1 if n > 1000 else 3)
                assert naive_pd == n
                rows.append((n, ours.commands, ours_s, acct.commands, acct_s, naive_cmds, naive_s))
        finally:
            for i in range(0, len(queued), 2000):
                client.cancel(queued[i:i + 2000])
    print(f"cluster {master.name} (local transport), N held jobs queued; median wall time per poll")
    print(f"{'N':>6} | {'ours: cmds':>10} {'s':>7} | {'ours+1 done: cmds':>17} {'s':>7} | "
          f"{'naive: cmds':>11} {'s':>7} | {'speed-up':>8} {'(+1 done)':>9}")
    for n, oc, os_, ac, as_, nc, ns in rows:
        print(f"{n:>6} | {oc:>10} {os_:>7.3f} | {ac:>17} {as_:>7.3f} | {nc:>11} {ns:>7.2f} | "
              f"{ns / os_:>7.0f}x {ns / as_:>8.0f}x")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 10000])
