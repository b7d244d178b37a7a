"""Issue 20's "Done when": a dev project on alpha, beta and gamma (gamma through the bastion) runs one model
through every stage (prep -> emmd -> prmd -> urmd) with the scheduled manager deployment that
`mpflow server start` serves, and each remote login node's sshd (beta's, gamma's, the bastion's) accepts
at most one login after the first."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from cluster_helpers import sshd_sessions, wait_until
from md_helpers import tiny_pipeline_stages
from mpflow.analysis.structure.helix_builder import build_models
from projects import make_project
from sqlalchemy import select

from mpflow.clusters.devcluster import load_connection, state_dir
from mpflow.clusters.transport import open_transport
from mpflow.models.importing import import_models
from mpflow.project.file import Project
from mpflow.project.mutants import GPA_WT
from mpflow.store.database import open_database
from mpflow.store.schema import ModelStage

pytestmark = [pytest.mark.devcluster, pytest.mark.slow]

STAGES = tiny_pipeline_stages()
ORDER = ["prep", "emmd", "prmd", "urmd"]


def _mpflow(*args: str, root: Path, timeout: float = 400) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MPFLOW_PROJECT")}
    return subprocess.run([sys.executable, "-m", "mpflow", *args, "--project", str(root)], cwd=root.parent, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _login_listeners() -> dict[str, str]:
    """The listening sshd of each remote login node and of the bastion (as benchmarks/bench_logins.py)."""
    doc = load_connection()
    files = {c["name"]: state_dir() / c["name"] / "run" / "sshd.pid" for c in doc["clusters"] if c["kind"] == "remote"}
    files["bastion"] = Path(doc["bastion"]["pid_file"])
    return {name: f.read_text().split()[0] for name, f in files.items()}



def test_one_model_through_every_stage_on_three_clusters_logging_in_once(tmp_path, master, slave, gamma):
    t0 = time.monotonic()
    root = tmp_path / "three"
    project = make_project(root, name=f"three-{uuid.uuid4().hex[:8]}", clusters=[master.name, slave.name, gamma.name],
                           stages=STAGES, manager={"backoff_s": [0]}, mutants=[GPA_WT])
    project = Project.load(root)
    Session = open_database(project.database_url)
    built = build_models(GPA_WT, k=1, seed=3, out_dir=tmp_path / "built")
    import_models(project, Session, GPA_WT.name, [b.path for b in built])
    listeners = _login_listeners()
    before = {name: sshd_sessions(pid) for name, pid in listeners.items()}  # other sessions, not ours
    seen: dict[str, set[int]] = {name: set() for name in listeners}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for name, pid in listeners.items():
                seen[name] |= sshd_sessions(pid) - before[name]
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def states() -> dict[str, str]:
        with Session() as s:
            return dict(s.execute(select(ModelStage.stage, ModelStage.state)).all())

    try:
        res = _mpflow("server", "start", root=root)
        assert res.returncode == 0, res.stdout + res.stderr
        wait_until("the model's urmd done", lambda: states().get("urmd") == "done" or
                   any(v == "failed" for v in states().values()), timeout=900)
        assert {st: states()[st] for st in ORDER} == {st: "done" for st in ORDER}
    finally:
        stopped = _mpflow("server", "stop", root=root, timeout=120)
        stop.set()
        watcher.join()
        for c in project.cluster_settings():
            with open_transport(c) as t:
                t.run(["rm", "-rf", "--", c.workdir])
        print(f"\nthree-cluster pipeline: {time.monotonic() - t0:.0f} s, logins per node {({n: len(s) for n, s in seen.items()})}")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    logins_after_first = {name: max(len(s) - 1, 0) for name, s in seen.items()}
    assert all(n <= 1 for n in logins_after_first.values()), (logins_after_first, states())
