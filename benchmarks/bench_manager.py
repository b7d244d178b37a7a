"""A manager tick at N = 100, 1,000 and 10,000 model-stages, jobs really queued on the dev clusters, with
the jobs database on SQLite and on PostgreSQL.

Every job is submitted to start in 30 days (``--begin``, the stage's ``extra_sbatch`` on each
cluster), so it stays pending (BeginTime) and is really in each scheduler's queue, while the shared
dev clusters go on running everyone else's jobs; every job is cancelled at the end. Per N it prints, for the steady-state tick (every job queued on both clusters):

- scheduler commands per cluster (must not grow with N),
- decide + reconcile time (goal < 1 s at 10,000),
- the whole tick (plain calls) and, with ``--server``, the whole tick as a manager flow run against a
  running Prefect server with its number of task runs (goal < 5 s at 10,000; constant task runs).

Baseline, measured in the same run at N = 1,000 (``--baseline-n``): the seed's loop — for every
model, on every cluster, one ``scontrol show job`` and then the rule (goal: ours ≥ 50× faster).

Engines: the jobs are submitted once per N, from a project on SQLite; for PostgreSQL
(``--postgres URL``, default: the test PostgreSQL of ``scripts/test-services up``) the same rows are
copied into a fresh database there and the same project's steady tick is timed against the same
queued jobs, so both engines are measured on identical work (``--engines sqlite`` for SQLite only).

    .venv/bin/python benchmarks/bench_manager.py [--sizes 100 1000 10000] [--engines sqlite postgresql] [--server]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import insert, select, text

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.devcluster import load_connection
from mpflow.clusters.settings import dev_cluster_settings
from mpflow.clusters.transport import open_transport
from mpflow.manager.rule import ClusterView, dual_cluster_actions
from mpflow.manager.tick import DirectIO, Manager
from mpflow.project.file import PROJECT_FILE, Project
from mpflow.slurm.client import SlurmClient
from mpflow.slurm.commands import parse_scontrol_show_job, scontrol_show_job_argv
from mpflow.states import JobState
from mpflow.store.database import open_database
from mpflow.store.records import ensure_model_stages
from mpflow.store.schema import Base, Job, Model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test PostgreSQL
from databases import PostgresServer  # noqa: E402
from services import postgres_url  # noqa: E402

STAGE = '[stages.bench]\nkind = "script"\ncommands = ["true"]\ntime_limit_min = 5\n'


def racing_pair():
    """The two dev clusters the manager races on, the master first (the connection file may list more)."""
    roles = {c["name"]: c.get("role") for c in load_connection()["clusters"]}
    by_role = {roles[s.name]: s for s in dev_cluster_settings() if roles[s.name] in ("master", "slave")}
    return [by_role["master"], by_role["slave"]]


def held_back(cluster):
    """The cluster with the benchmark's jobs set to begin in 30 days: they stay queued."""
    return cluster.model_copy(update={"stage_resources": {"bench": {"extra_sbatch": {"begin": "now+30days"}}}})


def make_project(root: Path, clusters, n: int):
    names = ", ".join(f'"{c.name}"' for c in clusters)
    (root / PROJECT_FILE).write_text(f'[clusters]\nsource = "dev"\nnames = [{names}]\n\n{STAGE}\n'
                                     '[manager]\nadvance_per_tick = 100000\nlease_s = 3600\n')
    project = Project.load(root)
    Session = open_database(project.database_url)
    mutant = f"b{uuid.uuid4().hex[:6]}"
    with Session.begin() as s:
        s.execute(insert(Model), [{"mutant": mutant, "group": "None", "name": f"m{i:05d}", "status": "ok"}
                                  for i in range(n)])
        ensure_model_stages(s, project.config.stage_order())
    return project, Session, mutant


def tick(manager, clusters):
    t0 = time.perf_counter()
    with ClusterConnections(clusters) as conns:
        report = manager.tick(DirectIO(conns))
    return report, time.perf_counter() - t0


def seed_loop(Session, clusters) -> tuple[float, int]:
    """The seed's manager: per model, per cluster, one scontrol show job, then the rule."""
    with Session() as s:
        jobs = s.execute(select(Job.model_id, Job.cluster, Job.slurm_id)).all()
    by_model: dict[int, dict[str, str]] = {}
    for m, c, jid in jobs:
        by_model.setdefault(m, {})[c] = jid
    calls = 0
    t0 = time.perf_counter()
    transports = {c.name: open_transport(c) for c in clusters}
    try:
        for m, ids in by_model.items():
            views = {}
            for c in clusters:
                res = transports[c.name].run(scontrol_show_job_argv(ids[c.name]))
                calls += 1
                status = parse_scontrol_show_job(res.returncode, res.stdout, res.stderr)
                state = status.state if status and status.state is not JobState.UNKNOWN else JobState.NS
                views[c.name] = ClusterView(state)
            dual_cluster_actions(views)
    finally:
        for t in transports.values():
            t.close()
    return time.perf_counter() - t0, calls


def copy_rows(source, dest) -> None:
    """Every row of the jobs database ``source`` into the empty, migrated ``dest`` (ids kept)."""
    with source() as src, dest.begin() as dst:
        for table in Base.metadata.sorted_tables:
            rows = [dict(r) for r in src.execute(select(table)).mappings()]
            for i in range(0, len(rows), 5000):
                dst.execute(insert(table), rows[i:i + 5000])
            if "id" in table.c and dst.bind.dialect.name == "postgresql":
                dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                 f"coalesce(max(id), 0) + 1, false) FROM {table.name}"))


def cancel_all(Session, clusters) -> None:
    with Session() as s:
        ids = s.execute(select(Job.cluster, Job.slurm_id).where(Job.slurm_id.is_not(None))).all()
    with ClusterConnections(clusters) as conns:
        for c in clusters:
            mine = [j for cl, j in ids if cl == c.name]
            if mine:
                SlurmClient(conns.transport(c.name)).cancel(mine)


def cleanup_folders(clusters, mutant: str) -> None:
    for c in clusters:
        with open_transport(c) as t:
            t.run(["rm", "-rf", "--", f"{c.workdir}/{mutant}"])


def flow_tick(root: Path) -> tuple[float, int]:
    """One manager flow run against the project's own Prefect server; (seconds, task runs)."""
    import asyncio

    from mpflow.flows.manager import manager_flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    for _ in range(10):  # a scheduled tick may hold the lease for a moment
        t0 = time.perf_counter()
        state = manager_flow(project=str(root), return_state=True)
        seconds = time.perf_counter() - t0
        if "skipped" not in state.result():
            break
        time.sleep(2)

    async def count() -> int:
        async with get_client() as client:
            runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(
                any_=[state.state_details.flow_run_id])))
            return len(runs)

    return seconds, asyncio.run(count())


def server_tick(root: Path, project) -> tuple[float, int]:
    """The tick as a manager flow run on the project's own server, with the schedule paused."""
    from mpflow.deployments.processes import running_server
    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: running_server(root).api_url}):
        with get_client(sync_client=True) as client:  # only our runs tick
            dep = client.read_deployment_by_name(f"manager/{project.config.project.name}")
            client.pause_deployment(dep.id)
        flow_tick(root)  # the first flow run pays the imports
        result = flow_tick(root)
        APILogHandler().flush()  # the run's last log lines, before the server goes
    return result


def steady(manager, clusters) -> tuple:
    """The steady tick (twice: the first warms caches and connections); (report, seconds, decide+reconcile)."""
    tick(manager, clusters)
    report, seconds = tick(manager, clusters)
    return report, seconds, report.seconds.get("reconcile", 0) + report.seconds.get("decide", 0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    ap.add_argument("--engines", nargs="+", choices=["sqlite", "postgresql"], default=["sqlite", "postgresql"])
    ap.add_argument("--postgres", help="a PostgreSQL URL whose role may create databases "
                                       "(default: the test PostgreSQL of scripts/test-services)")
    ap.add_argument("--baseline-n", type=int, default=1000)
    ap.add_argument("--server", action="store_true", help="also time the tick as a flow run on a Prefect server")
    args = ap.parse_args()
    pg = None
    if "postgresql" in args.engines:
        try:
            pg = PostgresServer(args.postgres or postgres_url())
            pg.check()
        except Exception as exc:  # one line, then stop: the run would be incomplete
            print(f"no PostgreSQL for the benchmark: {str(exc).splitlines()[0]} (scripts/test-services up, or "
                  "--engines sqlite)")
            return 2
    clusters = [held_back(c) for c in racing_pair()]
    rows = []
    baseline = None
    try:
        for n in args.sizes:
            with tempfile.TemporaryDirectory(prefix="bench-manager-") as tmp:
                root = Path(tmp)
                project, Session, mutant = make_project(root, clusters, n)
                manager = Manager(project, Session, clusters)
                try:
                    first, t_first = tick(manager, clusters)
                    print(f"N={n}: first tick submitted {first.submitted} in {t_first:.1f} s"
              + (f" (unreachable: {first.unreachable})" if first.unreachable else "")
              + (f" (refused: {first.refused})" if first.refused else ""), flush=True)
                    report, t_steady, dr = steady(manager, clusters)
                    flow_s = task_runs = None
                    if args.server:
                        server = subprocess.run([sys.executable, "-m", "mpflow", "server", "start", "--project",
                                                 str(root)], capture_output=True, text=True)
                        if server.returncode != 0:
                            print(server.stdout + server.stderr)
                        else:
                            try:
                                flow_s, task_runs = server_tick(root, project)
                            finally:
                                subprocess.run([sys.executable, "-m", "mpflow", "server", "stop", "--project",
                                                str(root)], capture_output=True)
                    if "sqlite" in args.engines:
                        rows.append((n, "sqlite", report.scheduler_commands, dr, t_steady, flow_s, task_runs))
                        print(f"N={n} sqlite: steady tick {t_steady:.2f} s, scheduler commands "
                              f"{report.scheduler_commands}, decide+reconcile {dr:.3f} s, phases "
                              + ", ".join(f"{k} {v:.2f}" for k, v in report.seconds.items()), flush=True)
                    if pg is not None:
                        name = pg.create(label=f"bench{n}")
                        try:
                            PgSession = open_database(pg.url_of(name))
                            copy_rows(Session, PgSession)
                            report, t_pg, dr_pg = steady(Manager(project, PgSession, clusters), clusters)
                            rows.append((n, "postgresql", report.scheduler_commands, dr_pg, t_pg, None, None))
                            print(f"N={n} postgresql: steady tick {t_pg:.2f} s, scheduler commands "
                                  f"{report.scheduler_commands}, decide+reconcile {dr_pg:.3f} s, phases "
                                  + ", ".join(f"{k} {v:.2f}" for k, v in report.seconds.items()), flush=True)
                            PgSession.kw["bind"].dispose()
                        finally:
                            pg.drop(name)
                    if n == args.baseline_n:
                        baseline = seed_loop(Session, clusters)
                        print(f"N={n}: seed loop {baseline[0]:.1f} s with {baseline[1]} scontrol calls", flush=True)
                finally:
                    cancel_all(Session, clusters)
                    cleanup_folders(clusters, mutant)
    finally:
        if pg is not None:
            pg.close()
    print()
    print(f"{'N':>6}  {'engine':>10}  {'cmds/cluster':>14}  {'decide+reconcile s':>18}  {'tick s':>7}  "
          f"{'flow tick s':>11}  {'task runs':>9}")
    for n, engine, cmds, dr, t, fs, tr in rows:
        print(f"{n:>6}  {engine:>10}  {str(sorted(set(cmds.values()))):>14}  {dr:>18.3f}  {t:>7.2f}  "
              f"{'-' if fs is None else f'{fs:.2f}':>11}  {'-' if tr is None else tr:>9}")
    if baseline:
        ours = next(t for n, _, _, _, t, *_ in rows if n == args.baseline_n)
        print(f"\nseed loop at N={args.baseline_n}: {baseline[0]:.1f} s ({baseline[1]} scontrol calls); "
              f"ours {ours:.2f} s: {baseline[0] / ours:.0f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
