"""Submission in a constant number of round trips: N held jobs to beta (SSH), batched vs one by one.

Ours: ``submit_batch`` — every job script rendered, sent as one upload (a tar stream read by ``tar -x``
on the login node) and submitted by one remote command running every ``sbatch``.
Baseline: how mpflow submitted before issue 8 — per job a ``mkdir -p`` command, an SFTP write of the
script and an ``sbatch`` command.
Both run side by side in one process for each N, with held jobs (``--hold``: they stay pending and
cost no CPU); each batch is then cancelled with one ``scancel``. Prints the transport calls (each a
round trip to the login node at least; an SFTP write is an open, the writes and a close) and the
wall time of both, and their ratio.

    .venv/bin/python benchmarks/bench_submit.py [N ...]      (default: 100 1000)

Needs the dev clusters (scripts/devcluster up); removes its jobs and folders at the end.
"""

from __future__ import annotations

import posixpath
import sys
import time
import uuid
from pathlib import Path

from mpflow.clusters.settings import dev_cluster_settings
from mpflow.clusters.transport import check, open_transport
from mpflow.slurm.client import SlurmClient
from mpflow.slurm.jobscript import JobScriptOptions, render_job_script
from mpflow.slurm.submission import SubmitRequest, script_name, submit_batch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from transport_wrappers import Counting  # noqa: E402  (the tests' call counter: one definition)


def requests(base: str, n: int, token: str) -> list[SubmitRequest]:
    return [SubmitRequest(key=f"m{i}", token=f"{token}-{i}", options=JobScriptOptions(
        job_dir=posixpath.join(base, f"m{i}"), stage="emmd", mdrun=False, commands=["true"], time_limit_min=5,
        extra_sbatch={"hold": ""})) for i in range(n)]


def one_by_one(client: SlurmClient, reqs: list[SubmitRequest]) -> list[str]:
    """The baseline: per job, mkdir + SFTP write + sbatch."""
    t, settings = client.transport, client.transport.settings
    ids = []
    for r in reqs:
        path = posixpath.join(r.options.job_dir, script_name(r.options.stage, settings.name))
        text = render_job_script(settings, r.options)
        check(t.run(["mkdir", "-p", "--", r.options.job_dir]), settings.name, "mkdir")
        with t.open_write(path) as f:
            f.write(text.encode())
        ids.append(client.submit(path, token=r.token, comment=r.tag, cwd=r.options.job_dir))
    return ids


def main(sizes: list[int]) -> None:
    beta = next(s for s in dev_cluster_settings() if s.kind == "remote")
    rows = []
    with open_transport(beta) as transport:
        transport.run(["true"])  # connect before timing
        for n in sizes:
            token = uuid.uuid4().hex[:6]
            base = posixpath.join(beta.workdir, "bench", f"submit-{token}")
            ids: list[str] = []
            try:
                ours_t = Counting(transport)
                t0 = time.perf_counter()
                outcomes = submit_batch(SlurmClient(ours_t), requests(f"{base}/ours", n, f"bs{token}a"))
                ours_s = time.perf_counter() - t0
                ours_ids = [o.job_id for o in outcomes.values()]
                assert all(ours_ids), [o.error for o in outcomes.values() if o.error][:3]
                ids += ours_ids

                base_t = Counting(transport)
                t0 = time.perf_counter()
                base_ids = one_by_one(SlurmClient(base_t), requests(f"{base}/baseline", n, f"bs{token}b"))
                base_s = time.perf_counter() - t0
                ids += base_ids

                cancel_t = Counting(transport)
                t0 = time.perf_counter()
                assert SlurmClient(cancel_t).cancel(ids) == []
                cancel_s = time.perf_counter() - t0
                ids = []
                rows.append((n, sum(ours_t.calls.values()), ours_s, sum(base_t.calls.values()), base_s,
                             sum(cancel_t.calls.values()), cancel_s))
            finally:
                if ids:
                    SlurmClient(transport).cancel(ids)
                transport.run(["rm", "-rf", "--", base])
    print(f"cluster {beta.name} (SSH); N held jobs submitted; transport calls and wall time")
    print(f"{'N':>5} | {'ours: calls':>11} {'s':>6} | {'one by one: calls':>17} {'s':>7} | {'speed-up':>8} | "
          f"{'cancel all 2N: calls':>20} {'s':>5}")
    for n, oc, os_, bc, bs, cc, cs in rows:
        print(f"{n:>5} | {oc:>11} {os_:>6.2f} | {bc:>17} {bs:>7.2f} | {bs / os_:>7.1f}x | {cc:>20} {cs:>5.2f}")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000])
