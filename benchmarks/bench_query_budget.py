"""Scheduler commands per hour per cluster with 1,000 jobs in flight and 15 s ticks: the manager as it
was (every tick observes: ``min_observe_interval_s = 0``) against the budgeted manager (the default,
60 s), side by side in one run on the same queue.

The 1,000 jobs are real held jobs on the master dev cluster (``sbatch --hold``: they stay PENDING and
use no CPU), so every ``squeue`` lists and parses them all, as on a real cluster; the manager's ticks are
real (real database, real squeue, sacct and job-folder probe) but run back to back on a simulated clock
that advances 15 s per tick (the ``now`` of ``Manager.tick``), so one simulated hour takes minutes. Every
command the ticks run on the cluster is counted by its program (squeue, sacct, sbatch, scancel, scontrol
are the scheduler's; ``sh`` is the job-folder probe, not the scheduler's).

    .venv/bin/python benchmarks/bench_query_budget.py [--jobs 1000] [--minutes 60]

Needs the dev clusters (scripts/devcluster up); cancels its jobs and removes its project at the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import tomlkit
from sqlalchemy import insert, update

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_poll import queue_held_jobs  # noqa: E402  (the benchmarks' one way to queue held jobs)

from mpflow.clusters.connections import ClusterConnections  # noqa: E402
from mpflow.clusters.settings import dev_cluster_settings  # noqa: E402
from mpflow.clusters.transport import open_transport  # noqa: E402
from mpflow.manager.tick import DirectIO, Manager  # noqa: E402
from mpflow.project.file import Project, init_project  # noqa: E402
from mpflow.slurm.client import SlurmClient  # noqa: E402
from mpflow.states import JobState, StageState  # noqa: E402
from mpflow.store.database import open_database  # noqa: E402
from mpflow.store.records import add_model, ensure_model_stages  # noqa: E402
from mpflow.store.schema import Job, ModelStage  # noqa: E402

SCHEDULER = {"squeue", "sacct", "sbatch", "scancel", "scontrol", "sinfo"}
TICK_S = 15.0
STAGE = '[stages.probe]\nkind = "script"\ncommands = ["true"]\n'


class Counting:
    """A transport passed through unchanged, counting each command by its program."""

    def __init__(self, transport, counts: Counter):
        self._t, self.counts = transport, counts

    def __getattr__(self, name):
        return getattr(self._t, name)

    def run(self, argv, **kw):
        program = argv[0]
        if program == "bash" and "sbatch" in " ".join(argv[1:2]):
            program = "sbatch"  # the batch of sbatch calls (none here: every job is in flight)
        self.counts[program] += 1
        return self._t.run(argv, **kw)


class CountingIO(DirectIO):
    def __init__(self, connections, counts):
        super().__init__(connections)
        self.counts = counts

    def client(self, cluster):
        return SlurmClient(Counting(self.connections.transport(cluster), self.counts))


def make_project(root: Path, cluster, job_ids: list[str], tokens: list[str], interval: float, start: datetime):
    init_project(root, name=f"bench{uuid.uuid4().hex[:6]}", dev=True, clusters=[cluster.name])
    project = Project.load(root)
    project.update_file(lambda doc: doc.__setitem__("stages", tomlkit.parse(STAGE)["stages"]))
    Session = open_database(project.database_url)
    with Session.begin() as s:
        model_ids = [add_model(s, mutant="B", group="None", name=f"m{i}") for i in range(len(job_ids))]
        ensure_model_stages(s, project.config.stage_order())
        s.execute(update(ModelStage).values(state=StageState.ACTIVE))
        s.execute(insert(Job), [{"model_id": m, "stage": "probe", "cluster": cluster.name, "attempt": 1,
                                 "state": JobState.PD, "slurm_id": j, "token": t, "submitted": start}
                                for m, j, t in zip(model_ids, job_ids, tokens)])
    settings = [c.model_copy(update={"workdir": f"{c.workdir}/{project.config.project.name}",
                                     "min_observe_interval_s": interval, "max_queued": 100000})
                for c in [cluster]]
    return project, Session, settings


def run_hour(project, Session, settings, minutes: float, start: datetime) -> tuple[Counter, float]:
    counts: Counter = Counter()
    clock = [start]
    manager = Manager(project, Session, settings)
    t0 = time.perf_counter()
    with ClusterConnections(settings) as conns:
        io = CountingIO(conns, counts)
        for _ in range(int(minutes * 60 / TICK_S)):
            report = manager.tick(io, now=lambda: clock[0])
            assert not report.unreachable, report.unreachable
            clock[0] += timedelta(seconds=TICK_S)
    return counts, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--minutes", type=float, default=60.0, help="simulated minutes of 15 s ticks")
    args = ap.parse_args()
    master = next(s for s in dev_cluster_settings() if s.kind == "local")
    start = datetime(2026, 1, 1, 12, 0, 0)
    per_hour = 60.0 / args.minutes
    with open_transport(master) as transport, tempfile.TemporaryDirectory(dir="/tmp") as folder:
        client = SlurmClient(transport)
        prefix = f"bq-{uuid.uuid4().hex[:6]}"
        job_ids = queue_held_jobs(client, args.jobs, folder, prefix)
        tokens = [f"{prefix}-{i}" for i in range(1, args.jobs + 1)]
        results = {}
        try:
            for label, interval in (("today (every tick)", 0.0), ("budgeted (60 s)", 60.0)):
                with tempfile.TemporaryDirectory() as root:
                    project, Session, settings = make_project(Path(root), master, job_ids, tokens, interval, start)
                    results[label] = run_hour(project, Session, settings, args.minutes, start)
        finally:
            for i in range(0, len(job_ids), 2000):
                client.cancel(job_ids[i:i + 2000])
    print(f"cluster {master.name}: {args.jobs} held jobs in flight, a tick every {TICK_S:g} s, "
          f"{args.minutes:g} simulated minutes; commands per hour")
    print(f"{'manager':<20} | {'squeue':>6} {'sacct':>5} {'scheduler':>9} | {'probe (sh)':>10} | {'wall s':>6}")
    rows = {}
    for label, (counts, wall) in results.items():
        sched = sum(n for p, n in counts.items() if p in SCHEDULER) * per_hour
        rows[label] = sched
        print(f"{label:<20} | {counts['squeue'] * per_hour:>6.0f} {counts['sacct'] * per_hour:>5.0f} {sched:>9.0f} | "
              f"{counts['sh'] * per_hour:>10.0f} | {wall:>6.1f}")
    today, budgeted = rows.values()
    print(f"scheduler commands per hour: {today:.0f} today, {budgeted:.0f} budgeted: {today / budgeted:.1f}x fewer "
          f"(goal: <= 120 per hour and >= 4x fewer)")


if __name__ == "__main__":
    main()
