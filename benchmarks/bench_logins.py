"""SSH logins per cluster, CPU and tick time of the manager, on a project on alpha, beta and gamma (gamma through
the bastion) with jobs in flight (issue 20, items 5 and 6).

Owns nothing but measurement. One run prints:

A. The tick's wall time (plain calls, ``DirectIO``) with connections kept from tick to tick
   (``KeptConnections``, what the long-lived manager does) against a fresh connection per tick
   (``ClusterConnections`` opened and closed by each tick, what a process per tick does), alternating,
   ``--ticks`` of each; and the logins each way.
B. The scheduled manager deployment for ``--minutes`` (default 10) at the project's 15 s: ``mpflow
   server start`` (whose long-lived manager runs the deployment's runs), then every 0.5 s the
   per-connection processes under each login node's sshd (beta, gamma, the bastion) are listed: every
   new one is an SSH login the sshd accepted. Also the CPU-seconds per minute of the long-lived manager
   process and of the worker (each with its children), and the manager's runs by final state
   (none should be Cancelled).

The jobs in flight: ``--models`` models of a script stage, each submitted to the three clusters to begin
in 30 days (``--begin``, the clusters' ``extra_sbatch`` in their blocks): they stay queued everywhere, so
every tick observes all three clusters; everything is cancelled and removed at the end.

    .venv/bin/python benchmarks/bench_logins.py [--minutes 10] [--ticks 8] [--models 2]

Figures are on whatever else the machine is doing (2 shared cores); the login counts do not depend on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import tomlkit
from prefect.settings import PREFECT_API_URL, temporary_settings

from mpflow.blocks.cluster import SlurmCluster
from mpflow.clusters.connections import ClusterConnections, KeptConnections
from mpflow.clusters.settings import ClusterSettings, dev_cluster_settings
from mpflow.clusters.devcluster import load_connection, state_dir
from mpflow.clusters.transport import open_transport
from mpflow.manager.tick import DirectIO, Manager
from mpflow.project.file import Project, init_project
from mpflow.store.database import open_database
from mpflow.store.records import add_model
from mpflow.store.schema import Job
from mpflow.tags import NO_GROUP

REPO = Path(__file__).resolve().parents[1]
CLUSTERS = ["alpha", "beta", "gamma"]


def held_clusters() -> dict[str, ClusterSettings]:
    """The dev clusters, with the benchmark's jobs set to begin in 30 days: they stay queued on all three
    (jobs in flight on every cluster, none winning), so every tick observes every cluster."""
    return {s.name: s.model_copy(update={"stage_resources": {"probe": {"extra_sbatch": {"begin": "now+30days"}}}})
            for s in dev_cluster_settings() if s.name in CLUSTERS}


def make_project(root: Path) -> Project:
    """A project on the clusters as blocks (saved on the project's server by ``save_blocks``)."""
    project = init_project(root, name=f"bench-logins-{uuid.uuid4().hex[:6]}", clusters=CLUSTERS)

    def edit(doc) -> None:
        stages = tomlkit.table(is_super_table=True)
        stages["probe"] = {"kind": "script", "commands": ["echo ok > probe.gro"], "time_limit_min": 5}
        doc["stages"] = stages

    project.update_file(edit)
    held = held_clusters()
    return Project.load(root, cluster_source=held.__getitem__)


def add_models(project: Project, models: int) -> None:
    Session = open_database(project.database_url)
    with Session.begin() as s:
        for i in range(models):
            add_model(s, mutant="BENCH", group=NO_GROUP, name=f"m{i}")


def timed_ticks(project: Project, n: int) -> dict[str, list[float] | dict]:
    """``n`` ticks each way, alternating: kept connections against a fresh connection per tick."""
    clusters = project.cluster_settings()
    Session = open_database(project.database_url)
    manager = Manager(project, Session, clusters)
    kept = KeptConnections(clusters)
    times: dict[str, list[float]] = {"kept": [], "fresh": []}
    fresh_logins = Counter()
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            with kept.for_tick(clusters):
                manager.tick(DirectIO(kept))
            times["kept"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with ClusterConnections(clusters) as conns:
                manager.tick(DirectIO(conns))
                fresh_logins.update({name: getattr(t, "logins", 0) for name, t in conns._open.items()})
            times["fresh"].append(time.perf_counter() - t0)
    finally:
        kept.close()
    return {**times, "logins_kept": kept.logins(), "logins_fresh": dict(fresh_logins)}


def login_nodes() -> dict[str, Path]:
    """The pid files of the sshds whose accepted logins are counted (beta's, gamma's, the bastion's)."""
    doc = load_connection()
    nodes = {c["name"]: state_dir() / c["name"] / "run" / "sshd.pid" for c in doc["clusters"] if c["kind"] == "remote"}
    nodes["bastion"] = Path(doc["bastion"]["pid_file"])
    return nodes


def children(pid: str) -> set[int]:
    out = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                status = (proc / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                out.add(int(proc.name))
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def mpflow(*args: str, project: Project) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mpflow", *args, "--project", str(project.root)],
                          capture_output=True, text=True, timeout=600)


def save_blocks(project: Project) -> None:
    """The held clusters as the project server's blocks (what its flow runs read)."""
    url = json.loads(mpflow("server", "status", "--json", project=project).stdout)["url"]
    with temporary_settings({PREFECT_API_URL: f"{url}/api"}):
        for name, settings in held_clusters().items():
            SlurmCluster(**dict(settings)).save(name, overwrite=True)


def scheduled_deployment(project: Project, minutes: float) -> dict:
    res = mpflow("server", "start", project=project)
    if res.returncode != 0:
        raise SystemExit(f"mpflow server start failed: {res.stdout}{res.stderr}")
    save_blocks(project)
    state = project.root / ".mpflow"
    pids = {role: int((state / f"{role}.pid").read_text()) for role in ("manager", "worker")}
    listeners = {name: pf.read_text().split()[0] for name, pf in login_nodes().items()}
    seen: dict[str, set[int]] = {name: set() for name in listeners}
    try:
        time.sleep(20)  # the first tick (claims, GROMACS versions) is not the steady state
        for name, pid in listeners.items():
            seen[name] |= children(pid)  # sessions open now: the first login of each
        first = {name: len(s) for name, s in seen.items()}
        cpu0 = {role: cpu_seconds(pid) for role, pid in pids.items()}
        t0 = time.monotonic()
        while time.monotonic() - t0 < minutes * 60:
            for name, pid in listeners.items():
                seen[name] |= children(pid)
            time.sleep(0.5)
        elapsed_min = (time.monotonic() - t0) / 60
        cpu = {role: (cpu_seconds(pid) - cpu0[role]) / elapsed_min for role, pid in pids.items()}
        runs = Counter()
        status = mpflow("server", "status", "--json", project=project)
        for run in json.loads(status.stdout).get("manager_runs", []):
            runs[run["state"]] += 1
        return {"minutes": elapsed_min, "logins_after_first": {n: len(s) - first[n] for n, s in seen.items()},
                "open_at_start": first, "cpu_per_min": cpu, "last_runs": dict(runs)}
    finally:
        mpflow("server", "stop", project=project)


def clean_up(project: Project) -> None:
    Session = open_database(project.database_url)
    with Session() as s:
        jobs = [(j.cluster, j.slurm_id) for j in s.query(Job) if j.slurm_id and j.state in ("PD", "R")]
    for c in project.cluster_settings():
        with open_transport(c) as t:
            ids = [i for name, i in jobs if name == c.name]
            if ids:
                t.run(["scancel", *ids])
            t.run(["rm", "-rf", "--", c.workdir])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--ticks", type=int, default=8)
    parser.add_argument("--models", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-logins-") as tmp:
        project = make_project(Path(tmp) / "p")
        add_models(project, args.models)
        try:
            a = timed_ticks(project, args.ticks)
            print(f"A. tick wall time over {args.ticks} ticks each (median, min-max), jobs in flight:")
            for way in ("kept", "fresh"):
                v = a[way]
                print(f"   {way:5} connections: {statistics.median(v):.2f} s ({min(v):.2f}-{max(v):.2f})")
            print(f"   logins: kept {a['logins_kept']}; fresh per tick {a['logins_fresh']}")
            b = scheduled_deployment(project, args.minutes)
            print(f"B. the scheduled manager deployment, {b['minutes']:.1f} min at "
                  f"{project.config.manager.interval_s:g} s ticks:")
            print(f"   SSH logins accepted after the first, per login node: {b['logins_after_first']} "
                  f"(sessions open when counting began: {b['open_at_start']})")
            print("   CPU-seconds per minute: " + ", ".join(f"{r} {v:.2f}" for r, v in b["cpu_per_min"].items()))
            print(f"   the manager's last runs by state: {b['last_runs']}")
        finally:
            clean_up(project)


if __name__ == "__main__":
    main()
