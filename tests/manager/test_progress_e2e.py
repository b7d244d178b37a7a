"""The manager's ticks on the dev clusters follow a real mdrun through its log: every tick stores the
winner's steps, speed and time left in its job row, `mpflow status` shows them, and the expected end
each tick predicted is checked against when the run really ended (a run whose numbers are known:
its steps, its time step and GROMACS's own wall time). A cluster that cannot be reached is one event
per outage, and one when it answers again."""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime, timedelta

import pytest
from manager_helpers import make_bench
from md_helpers import water_box_tpr
from sqlalchemy import select

from mpflow.clusters.transport import open_transport
from mpflow.manager.progress import SPEED_GROMACS, JobProgress, ns_per_day
from mpflow.states import EventKind, JobState
from mpflow.store.records import cluster_reachability
from mpflow.store.schema import Event
from mpflow.tags import ModelTag

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

NSTEPS = 60_000  # 120 ps of a 663-atom water box: half a minute to a few minutes on the shared 2 cores
MD_STAGE = '''[stages.md]
kind = "script"
commands = ["gmx mdrun -deffnm md -ntomp 1"]
time_limit_min = 20
'''


def test_ticks_follow_a_real_mdrun_and_its_expected_end_comes_true(tmp_path, master, slave):
    b = make_bench(tmp_path, [master, slave], MD_STAGE, "interval_s = 2")
    try:
        [m1] = b.add_models("m1")
        tpr = water_box_tpr(tmp_path / "tpr", "md", nsteps=NSTEPS, nstlog=1000)
        tag = ModelTag(b.mutant, "None", "m1")
        for c in b.clusters:  # the stage's input, where its job will look for it on each cluster
            folder = tag.stage_dir(c.workdir, "md")
            with open_transport(c) as t:
                t.makedirs([folder])
                assert t.write_files({posixpath.join(folder, "md.tpr"): tpr.read_bytes()}) == {}
        readings: dict[int, list[JobProgress]] = {}  # by job row: what each tick stored

        def done():
            for j in b.jobs("md"):
                if j.progress:
                    p = JobProgress.from_dict(j.progress)
                    seen = readings.setdefault(j.id, [])
                    if not seen or p != seen[-1]:
                        seen.append(p)
            return b.stage_state(m1, "md") == "done"

        b.tick_until("the run to finish", done, timeout=900, interval=2.0)
        jobs = b.jobs("md")
        [won] = [j for j in jobs if j.state == JobState.D]
        final = readings[won.id][-1]
        readings = readings[won.id]
        assert final.ended and final.speed_from == SPEED_GROMACS and final.step == NSTEPS and final.left_s == 0.0
        # GROMACS's ns/day is the run's steps over its wall time
        assert ns_per_day(NSTEPS, 0.002, final.wall_s) == pytest.approx(final.ns_per_day, rel=0.01)
        running = [p for p in readings if not p.ended and p.eta is not None]
        assert running, f"no running reading with an expected end: {readings}"
        assert all(p.step < NSTEPS and p.nsteps == NSTEPS and p.atoms == 663 for p in running)
        ended_at = datetime.fromtimestamp(final.written_at, UTC).replace(tzinfo=None)  # the log's last write
        errors = [((p.eta - ended_at).total_seconds(), p.fraction) for p in running]
        print(f"\nmd of {NSTEPS} steps: {final.ns_per_day} ns/day by GROMACS, {final.wall_s} s wall; "
              "expected end minus real end at each tick (s, at fraction done): "
              + ", ".join(f"{e:+.1f} @ {f:.0%}" for e, f in errors))
        late = [(e, f) for e, f in errors if f >= 0.25]
        # once a quarter is done, the prediction is within half the run's length (loose: the dev clusters
        # share two cores with whatever else runs, so the speed itself moves during the run)
        if late:
            assert max(abs(e) for e, _ in late) < 0.5 * final.wall_s, errors
    finally:
        b.cleanup()


def test_an_unreachable_cluster_is_one_event_per_outage(tmp_path, master, slave):
    b = make_bench(tmp_path, [master, slave], '[stages.probe]\nkind = "script"\ncommands = ["sleep 20"]\n')
    dead = [b.clusters[0], b.clusters[1].model_copy(update={"port": 1, "connect_timeout_s": 3})]
    try:
        b.add_models("m1")
        for _ in range(3):  # submit (beta refused: unreachable), then observe the rows left SUBMITTING there
            report = b.tick(clusters=dead)
            assert slave.name in report.unreachable
        report = b.tick()  # beta answers again
        assert slave.name not in report.unreachable
        with b.Session() as s:
            events = [(e.cluster, e.kind) for e in s.scalars(select(Event).where(Event.model_id.is_(None))
                                                             .order_by(Event.id))]
            reach = cluster_reachability(s)
        assert events == [(slave.name, EventKind.CLUSTER_UNREACHABLE), (slave.name, EventKind.CLUSTER_REACHABLE)]
        assert reach[slave.name][0] is True
        assert datetime.now(UTC).replace(tzinfo=None) - reach[slave.name][1] < timedelta(minutes=5)
    finally:
        b.cleanup()
