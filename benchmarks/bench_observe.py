"""A poll's cost does not grow with finished jobs: N jobs tracked on beta (SSH, no accounting), 90 % finished.

Ours: ``SlurmClient.observe`` — one ``squeue --states=all`` for all of the user's jobs and one command
reading every job's folder (plus, once per client, one ``sacct`` that learns beta has no accounting).
Baseline: the poll mpflow had before issue 8 — one ``squeue`` of queued and running jobs, then one
``scontrol show job`` per tracked job missing from it.

Steps, in one run on beta: submit N held jobs with ``submit_batch``; poll with nothing finished;
finish 90 % of them (``--run`` of them are released and really run, writing ``emmd.gro`` and their
exit-code file; the rest are cancelled); poll again, passing all N (the first poll after they
finished), then passing only the unfinished ones (every later poll). With ``--wait-purge``, wait until
Slurm has forgotten the finished jobs (MinJobAge, 300 s on the dev clusters) and poll all N once
more: the finished jobs are then judged by their files alone. Prints scheduler commands per poll and
wall time for ours and the baseline.

    .venv/bin/python benchmarks/bench_observe.py [--jobs 1000] [--run 20] [--wait-purge]

Needs the dev clusters (scripts/devcluster up); cancels its jobs and removes its folder at the end.
"""

from __future__ import annotations

import argparse
import posixpath
import time
import uuid

from timing import timed

from mpflow.clusters.settings import dev_cluster_settings
from mpflow.clusters.transport import open_transport
from mpflow.slurm import commands as slurm
from mpflow.slurm.client import JobRef, SlurmClient
from mpflow.slurm.jobscript import JobScriptOptions
from mpflow.slurm.submission import SubmitRequest, submit_batch
from mpflow.states import JobState


def baseline_poll(client: SlurmClient, job_ids: list[str]) -> tuple[int, dict[str, slurm.SlurmStatus]]:
    """The poll before issue 8: squeue of live jobs, then one scontrol per job it does not list."""
    argv = ["squeue", "--noheader", "--array", f"--format={slurm.SQUEUE_FORMAT}", f"--user={client.user}"]
    res = client.transport.run(argv)
    states = slurm.parse_squeue(res.returncode, res.stdout, res.stderr)
    commands = 1
    for job_id in job_ids:
        if job_id not in states:
            res = client.transport.run(slurm.scontrol_show_job_argv(job_id))
            commands += 1
            status = slurm.parse_scontrol_show_job(res.returncode, res.stdout, res.stderr)
            if status is not None:
                states[job_id] = status
    return commands, states



def main(n: int, run: int, wait_purge: bool) -> None:
    beta = next(s for s in dev_cluster_settings() if s.kind == "remote")
    token = uuid.uuid4().hex[:6]
    base = posixpath.join(beta.workdir, "bench", f"observe-{token}")
    rows = []
    with open_transport(beta) as transport:
        client = SlurmClient(transport)
        reqs = [SubmitRequest(key=f"m{i}", token=f"bo{token}-{i}", options=JobScriptOptions(
            job_dir=posixpath.join(base, f"m{i}"), stage="emmd", mdrun=False, commands=["echo x > emmd.gro"],
            time_limit_min=5, extra_sbatch={"hold": ""})) for i in range(n)]
        t0 = time.perf_counter()
        outcomes = submit_batch(client, reqs)
        submit_s = time.perf_counter() - t0
        ids = [o.job_id for o in outcomes.values()]
        assert all(ids), [o.error for o in outcomes.values() if o.error][:3]
        refs = [JobRef(k, posixpath.join(base, k), "emmd", job_id=o.job_id) for k, o in outcomes.items()]
        try:
            client.observe(refs[:1])  # the client learns here that beta has no accounting (one sacct, once)
            ours_s, ours = timed(lambda: client.observe(refs))
            assert all(o.state is JobState.PD for o in ours.observations.values())
            base_s, (base_cmds, _) = timed(lambda: baseline_poll(client, ids))
            rows.append(("nothing finished", n, ours.commands, ours_s, base_cmds, base_s))

            finished = int(n * 0.9)
            released, cancelled = ids[:run], ids[run:finished]
            transport.run(["scontrol", "release", ",".join(released)])
            client.cancel(cancelled)
            t_run = time.perf_counter()
            while True:  # the released jobs run one after another on beta's two CPUs
                states = client.poll(released).states
                if all(states[j].state in slurm.TERMINAL for j in released):
                    break
                if time.perf_counter() - t_run > 30 + 5 * run:
                    raise SystemExit("the released jobs did not finish in time")
                time.sleep(1)
            ours_s, ours = timed(lambda: client.observe(refs))
            done = [o for o in ours.observations.values() if o.terminal]
            assert len(done) == finished, len(done)
            assert sum(o.state is JobState.D for o in done) == run
            base_s, (base_cmds, _) = timed(lambda: baseline_poll(client, ids), repeats=1)
            rows.append(("90 % finished, first poll (all N passed)", n, ours.commands, ours_s, base_cmds, base_s))
            unfinished = [r for r in refs if not ours.observations[r.key].terminal]
            ours_s, ours = timed(lambda: client.observe(unfinished))
            base_s, (base_cmds, _) = timed(lambda: baseline_poll(client, [r.job_id for r in unfinished]))
            rows.append(("90 % finished, later polls (unfinished passed)", len(unfinished), ours.commands, ours_s,
                         base_cmds, base_s))

            if wait_purge:
                t_purge = time.perf_counter()
                while any(j in client.poll().states for j in released + cancelled):
                    time.sleep(10)
                print(f"Slurm forgot the finished jobs after {time.perf_counter() - t_purge:.0f} s more")
                ours_s, ours = timed(lambda: client.observe(refs))
                by_files = [o for o in ours.observations.values() if o.terminal]
                assert sum(o.state is JobState.D and o.slurm is None for o in by_files) == run
                base_s, (base_cmds, _) = timed(lambda: baseline_poll(client, ids), repeats=1)
                rows.append(("90 % finished and forgotten by Slurm (all N)", n, ours.commands, ours_s, base_cmds,
                             base_s))
        finally:
            client.cancel(ids)
            transport.run(["rm", "-rf", "--", base])
    print(f"cluster {beta.name} (SSH, no accounting); {n} jobs submitted with submit_batch in {submit_s:.1f} s; "
          f"{run} of the finished ones really ran; median wall time per poll")
    print(f"{'poll':<48} {'jobs':>5} | {'ours: cmds':>10} {'s':>6} | {'baseline: cmds':>14} {'s':>7}")
    for what, jobs, oc, os_, bc, bs in rows:
        print(f"{what:<48} {jobs:>5} | {oc:>10} {os_:>6.2f} | {bc:>14} {bs:>7.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--run", type=int, default=20, help="finished jobs that really run (the rest are cancelled)")
    parser.add_argument("--wait-purge", action="store_true", help="also poll after Slurm forgot the finished jobs")
    args = parser.parse_args()
    main(args.jobs, args.run, args.wait_purge)
