"""The manager tick: observe every cluster once, reconcile the jobs database, advance models between
stages, decide every model-stage with the dual-cluster rule, and act in batches.

One tick, whatever the number of models:

1. take the database lease ``manager`` (another tick holding it → this one exits at once);
2. **observe**: per cluster one batched observation of every job not yet seen finished (rows in
   ``SUBMITTING``, ``PD``, ``R``); a cluster that cannot be reached is ``?`` for this tick;
3. **reconcile**: write what was observed into the job rows. A ``SUBMITTING`` row is resolved by its
   token (a crash between ``sbatch`` and the commit never makes a second job, and a lost Slurm id is
   recovered this way); failure kinds decide what a failure costs (:data:`FAILURE_POLICY`);
4. **advance**: bring finished stages' outputs back to the master and prepare the next stage's inputs
   (per stage kind, bounded per tick);
5. **decide**: :func:`mpflow.dual_cluster.dual_cluster_actions` for every ready or active model-stage;
6. **act**: one submission batch and one ``scancel`` per cluster; every submission is committed as a
   ``SUBMITTING`` row with its token *before* ``sbatch`` runs, every answer is written back;
7. every transition is appended to ``events`` (and emitted as a Prefect event by the flow).

The I/O goes through a :class:`TickIO` (plain calls for ``mpflow manage --once``, Prefect tasks in the
manager flow), so both run this same code.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Mapping, Protocol, Sequence

from sqlalchemy.orm import sessionmaker

from mpflow.clusters import ClusterSettings
from mpflow.db import JobRowState, StageState, utcnow
from mpflow.dual_cluster import ClusterState, ClusterView, Outcome, dual_cluster_actions
from mpflow.jobscript import INPUTS_MISSING_EXIT
from mpflow.jobs_store import (
    MANAGED_STAGE_STATES,
    JobRecord,
    StageRecord,
    Transition,
    acquire_lease,
    active_jobs,
    add_job_rows,
    ensure_model_stages,
    jobs_of,
    lease_holder,
    new_token,
    record_events,
    release_lease,
    stage_records,
    update_jobs,
    update_stages,
)
from mpflow.project import Project, StageSpec
from mpflow.slurm_client import JobRef
from mpflow.submission import SubmitRequest
from mpflow.tags import ModelTag
from mpflow.slurm import SlurmCommandError
from mpflow.transport import TransportError

# A cluster whose transport or scheduler fails this way counts as unreachable ("?") for the tick.
UNREACHABLE_ERRORS = (TransportError, SlurmCommandError)

log = logging.getLogger(__name__)

LEASE = "manager"

# What a failure costs, by failure kind: "continue" from the checkpoint on the same cluster (not
# counted, up to manager.max_continuations), "requeue" at once on every cluster (not counted, up to
# manager.max_requeues), "resend" (prepare the stage's inputs again, not counted), "free" (never
# counted), or "count" (a counted attempt with backoff).
FAILURE_POLICY: dict[str, str] = {
    "timeout": "continue",
    "node_failure": "requeue",
    "preemption": "requeue",
    "boot_failure": "requeue",
    "lost": "requeue",  # Slurm and the job folder have both forgotten the job
    "not_submitted": "free",  # the submission never reached the scheduler
    "stale_inputs": "resend",  # the job found its inputs missing: send them again, then resubmit
    "cancelled_by_mpflow": "free",
    "cancelled": "count",  # cancelled outside mpflow
    "out_of_memory": "count",
    "nonzero_exit": "count",
    "deadline": "count",
    "submit_refused": "count",
    "unknown": "count",
}


class TickIO(Protocol):
    """The tick's I/O, one call per cluster per phase; a cluster's value is its result or the exception."""

    def observe_all(self, refs: Mapping[str, list[JobRef]]) -> dict[str, object]: ...

    def submit_all(self, requests: Mapping[str, list[SubmitRequest]]) -> dict[str, object]: ...

    def cancel_all(self, job_ids: Mapping[str, list[str]]) -> dict[str, object]: ...


@dataclass
class StageWork:
    """What a stage kind is asked to do in the advance phase."""

    project: Project
    clusters: list[ClusterSettings]
    connections: "ClusterConnections"

    @property
    def master(self) -> ClusterSettings:
        return self.clusters[0]


class StageKind(Protocol):
    """How one kind of stage gets its inputs ready, what its jobs run, and how its outputs come back."""

    managed: bool  # False: its own flow moves it (preparation on the master)

    def prepare(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        """Stage-row id → None (ready) or the reason to hold it."""

    def job_options(self, spec: StageSpec, item: StageRecord, cluster: ClusterSettings) -> dict: ...

    def collect(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        """Stage-row id → None (outputs on the master: done) or the reason to hold it."""


@dataclass
class TickReport:
    holder: str
    skipped: str | None = None
    unreachable: dict[str, str] = field(default_factory=dict)
    observed: dict[str, int] = field(default_factory=dict)
    scheduler_commands: dict[str, int] = field(default_factory=dict)
    submitted: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    cancelled: dict[str, int] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    decided: int = 0

    def summary(self) -> str:
        if self.skipped:
            return f"tick skipped: {self.skipped}"
        parts = [f"{self.decided} model-stage(s) decided"]
        for label, d in (("submitted", self.submitted), ("refused", self.refused), ("cancelled", self.cancelled)):
            if any(d.values()):
                parts.append(f"{label} " + ", ".join(f"{c}: {n}" for c, n in d.items() if n))
        if self.unreachable:
            parts.append("unreachable: " + ", ".join(self.unreachable))
        return "; ".join(parts)


# ------------------------------------------------------------------------------------------------
# Connections: one transport per cluster per tick
# ------------------------------------------------------------------------------------------------

class ClusterConnections:
    """One transport per cluster, opened on first use and closed together at the end of a tick."""

    def __init__(self, clusters: Sequence[ClusterSettings]):
        self.settings = {c.name: c for c in clusters}
        self._open: dict[str, object] = {}

    def transport(self, cluster: str):
        from mpflow.transport import open_transport

        if cluster not in self._open:
            self._open[cluster] = open_transport(self.settings[cluster])
        return self._open[cluster]

    def client(self, cluster: str):
        from mpflow.slurm_client import SlurmClient

        return SlurmClient(self.transport(cluster))

    def close(self) -> None:
        for t in self._open.values():
            t.close()
        self._open.clear()

    def __enter__(self) -> "ClusterConnections":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _per_cluster(items: Mapping[str, list], call: Callable[[str, list], object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for cluster, batch in items.items():
        if not batch:
            continue
        try:
            out[cluster] = call(cluster, batch)
        except UNREACHABLE_ERRORS as exc:
            out[cluster] = exc
    return out


class DirectIO:
    """The tick's I/O as plain calls over one connection per cluster (``mpflow manage --once``)."""

    def __init__(self, connections: ClusterConnections):
        self.connections = connections

    def observe_all(self, refs):
        return _per_cluster(refs, lambda c, b: self.connections.client(c).observe(b))

    def submit_all(self, requests):
        from mpflow.submission import submit_batch

        return _per_cluster(requests, lambda c, b: submit_batch(self.connections.client(c), b))

    def cancel_all(self, job_ids):
        return _per_cluster(job_ids, lambda c, b: self.connections.client(c).cancel(b))


# ------------------------------------------------------------------------------------------------
# Reconcile: observations → job rows
# ------------------------------------------------------------------------------------------------

def failure_kind_of(obs) -> str:
    kind = getattr(obs, "failure_kind", None)
    return getattr(kind, "value", kind) or "unknown"


@dataclass
class _StageCounters:
    continuations: int
    requeues: int


@dataclass
class Reconciled:
    job_changes: list[dict] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    counters_changed: set[tuple[int, str]] = field(default_factory=set)  # continuations / requeues
    resend: set[tuple[int, str]] = field(default_factory=set)  # model-stages whose inputs go again


def reconcile(jobs: list[JobRecord], results: Mapping[str, object], counters: dict[tuple[int, str], _StageCounters],
              limits, now: datetime) -> Reconciled:
    """Job-row changes and transitions from one tick's observations.

    ``counters`` (continuations and requeues per model-stage) are updated in place."""
    out = Reconciled()
    changes, transitions, touched = out.job_changes, out.transitions, out.counters_changed
    for job in jobs:
        result = results.get(job.cluster)
        if result is None or isinstance(result, Exception):
            continue
        obs = result.observations.get(str(job.id))
        if obs is None:
            continue
        state = obs.state.value
        ev = dict(model_id=job.model_id, stage=job.stage, cluster=job.cluster, job_id=job.id, time=now)
        change: dict = {}
        if job.state == JobRowState.SUBMITTING.value:
            if state == "NS":
                changes.append({"id": job.id, "state": "F", "failure_kind": "not_submitted", "counted": False,
                                "reason": "submission not confirmed and no job carries its token", "ended": now})
                transitions.append(Transition("not_submitted", from_state="SUBMITTING", to_state="F",
                                              why="no job with its token: sbatch never ran", **ev))
                continue
            if obs.job_id:
                change["slurm_id"] = str(obs.job_id)
                transitions.append(Transition("recovered", from_state="SUBMITTING", to_state=state,
                                              why=f"found job {obs.job_id} by its token", **ev))
        if state in ("?", "UNKNOWN") or state == job.state:
            if change:
                changes.append({"id": job.id, **change})
            continue
        if state == "NS":  # known to nobody: Slurm forgot it and it left no files
            state, kind = "F", "lost"
        else:
            kind = failure_kind_of(obs) if state == "F" else None
            if kind == "nonzero_exit" and getattr(obs, "exit_code", None) == INPUTS_MISSING_EXIT:
                kind = "stale_inputs"
        change["state"] = state
        if state in ("R", "D") and job.started is None:
            change["started"] = getattr(obs, "start", None) or now
        if state in ("D", "F"):
            change["ended"] = getattr(obs, "end", None) or now
        why = None
        if state == "F":
            key = (job.model_id, job.stage)
            c = counters[key]
            policy = FAILURE_POLICY.get(kind, "count")
            counted = True
            if policy == "continue" and c.continuations < limits.max_continuations:
                c.continuations += 1
                counted = False
                touched.add(key)
            elif policy == "requeue" and c.requeues < limits.max_requeues:
                c.requeues += 1
                counted = False
                touched.add(key)
            elif policy == "resend":
                counted = False
                out.resend.add(key)
            elif policy == "free":
                counted = False
            reason = obs.detail or kind
            change.update(failure_kind=kind, counted=counted, reason=reason)
            why = f"{reason}" + ("" if counted else f" ({policy}, not counted)")
        elif state == "R":
            started = change.get("started") or job.started
            wait = (started - job.submitted).total_seconds() if started else None
            transitions.append(Transition("started", from_state=job.state, to_state="R", value=wait,
                                          why=f"job {obs.job_id or job.slurm_id} started", **ev))
            changes.append({"id": job.id, **change})
            continue
        kind_name = {"D": "completed", "F": "failed", "PD": "queued"}.get(state, state)
        transitions.append(Transition(kind_name, from_state=job.state, to_state=state, why=why, **ev))
        changes.append({"id": job.id, **change})
    return out


# ------------------------------------------------------------------------------------------------
# Decide: job rows → cluster views → actions
# ------------------------------------------------------------------------------------------------

#: failure kinds of jobs that never ran their work: the cluster is back to NS and joins the race again
NEVER_RAN = ("not_submitted", "stale_inputs")

_ROW_TO_VIEW = {"SUBMITTING": ClusterState.PD, "PD": ClusterState.PD, "R": ClusterState.R, "D": ClusterState.D,
                "F": ClusterState.F}


def cluster_views(jobs: list[JobRecord], clusters: Sequence[str], unreachable: set[str], spec: StageSpec,
                  backoff_s: Sequence[float], now: datetime) -> dict[str, ClusterView]:
    """The rule's view of one model-stage on each cluster, from its job rows (oldest first)."""
    by_cluster: dict[str, list[JobRecord]] = defaultdict(list)
    for j in jobs:
        by_cluster[j.cluster].append(j)
    views = {}
    for c in clusters:
        rows = by_cluster.get(c, [])
        latest = rows[-1] if rows else None
        counted = sum(1 for j in rows if j.counted)
        if latest is None or latest.failure_kind in NEVER_RAN:
            state = ClusterState.NS
        else:
            state = _ROW_TO_VIEW[latest.state]
        in_backoff = False
        if latest is not None and latest.state == "F" and latest.counted and latest.ended is not None:
            wait = backoff_s[min(counted, len(backoff_s)) - 1]
            in_backoff = now < latest.ended + timedelta(seconds=wait)
        resume = (latest is not None and latest.state == "F" and latest.failure_kind == "timeout"
                  and not latest.counted)
        started = latest.started if latest is not None and state in (ClusterState.R, ClusterState.D) else None
        if c in unreachable:
            views[c] = ClusterView(ClusterState.UNREACHABLE, attempts_left=spec.retry_budget - counted,
                                   last_known=state, in_backoff=in_backoff, resume_here=resume)
        else:
            views[c] = ClusterView(state, attempts_left=spec.retry_budget - counted, started=started,
                                   in_backoff=in_backoff, resume_here=resume)
    return views


@dataclass
class Plan:
    submit: dict[str, list[tuple[StageRecord, bool]]] = field(default_factory=lambda: defaultdict(list))
    cancel: dict[str, list[tuple[JobRecord, str]]] = field(default_factory=lambda: defaultdict(list))
    stage_changes: list[dict] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)


def decide(stages: list[StageRecord], jobs: dict[tuple[int, str], list[JobRecord]], project: Project,
           clusters: Sequence[str], unreachable: set[str], now: datetime) -> Plan:
    plan = Plan()
    cfg = project.config
    for st in stages:
        spec = cfg.stages[st.stage]
        targets = list(clusters) if spec.clusters == "all" else [clusters[0]]
        rows = jobs.get((st.model_id, st.stage), [])
        views = cluster_views(rows, targets, unreachable, spec, cfg.manager.backoff_s, now)
        actions = dual_cluster_actions(views)
        latest = {}
        for j in rows:
            latest[j.cluster] = j
        for c in actions.submit:
            plan.submit[c].append((st, views[c].resume_here))
        for c in actions.cancel:
            job = latest.get(c)
            if job is not None and job.slurm_id:
                why = f"done on {actions.winner}" if actions.outcome is Outcome.DONE else f"lost to {actions.winner}"
                plan.cancel[c].append((job, why))
        ev = dict(model_id=st.model_id, stage=st.stage, time=now)
        if actions.outcome is Outcome.DONE:
            plan.stage_changes.append({"id": st.id, "state": StageState.FINISHING.value, "winner": actions.winner,
                                       "reason": None})
            plan.transitions.append(Transition("stage_done", cluster=actions.winner, from_state=st.state,
                                               to_state=StageState.FINISHING.value, why=actions.why, **ev))
        elif actions.outcome is Outcome.ACTIVE:
            if st.winner != actions.winner:
                plan.stage_changes.append({"id": st.id, "state": StageState.ACTIVE.value, "winner": actions.winner})
                plan.transitions.append(Transition("won", cluster=actions.winner, why=actions.why, **ev))
        elif actions.outcome is Outcome.SUBMIT:
            if st.state != StageState.ACTIVE.value:
                plan.stage_changes.append({"id": st.id, "state": StageState.ACTIVE.value})
        elif actions.outcome is Outcome.FAILED:
            reasons = "; ".join(f"{c}: {latest[c].failure_kind}" for c in targets if c in latest)
            plan.stage_changes.append({"id": st.id, "state": StageState.FAILED.value,
                                       "reason": f"failed for good ({reasons})"})
            plan.transitions.append(Transition("failed_for_good", from_state=st.state, to_state="failed",
                                               why=f"{actions.why} ({reasons})", **ev))
    return plan


# ------------------------------------------------------------------------------------------------
# The tick
# ------------------------------------------------------------------------------------------------

def job_ref(job: JobRecord, tag: ModelTag, cluster: ClusterSettings) -> JobRef:
    return JobRef(key=str(job.id), job_dir=tag.stage_dir(cluster.workdir, job.stage), stage=job.stage,
                  job_id=job.slurm_id, token=job.token)


def job_comment(st: StageRecord) -> str:
    return f"{st.mutant}:{st.group}:{st.name}:{st.stage}"


class Manager:
    """Runs ticks for one project over its clusters; ``kinds`` maps a stage kind to its behaviour."""

    def __init__(self, project: Project, Session: sessionmaker, clusters: Sequence[ClusterSettings],
                 kinds: Mapping[str, StageKind] | None = None):
        from mpflow.stage_kinds import default_kinds

        self.project = project
        self.Session = Session
        self.clusters = list(clusters)
        self.names = [c.name for c in self.clusters]
        self.kinds = dict(kinds or default_kinds())

    def tick(self, io: TickIO, connections: ClusterConnections, *, holder: str | None = None,
             now: Callable[[], datetime] = utcnow) -> TickReport:
        holder = holder or lease_holder()
        report = TickReport(holder)
        cfg = self.project.config
        if not acquire_lease(self.Session, LEASE, holder, cfg.manager.lease_s):
            report.skipped = "another tick holds the manager lease"
            return report
        try:
            self._tick(io, connections, report, now)
        finally:
            release_lease(self.Session, LEASE, holder)
        return report

    def _timed(self, report: TickReport, phase: str, t0: float) -> float:
        t1 = time.perf_counter()
        report.seconds[phase] = report.seconds.get(phase, 0.0) + t1 - t0
        return t1

    def _tick(self, io: TickIO, connections: ClusterConnections, report: TickReport, now) -> None:
        cfg = self.project.config
        settings = {c.name: c for c in self.clusters}
        t = time.perf_counter()
        with self.Session.begin() as s:
            ensure_model_stages(s, cfg.stage_order())
            jobs = active_jobs(s)
            tags = {st.model_id: ModelTag(st.mutant, st.group, st.name)
                    for st in stage_records(s, model_ids={j.model_id for j in jobs})} if jobs else {}
        refs: dict[str, list[JobRef]] = defaultdict(list)
        for j in jobs:
            if j.cluster in settings:
                refs[j.cluster].append(job_ref(j, tags[j.model_id], settings[j.cluster]))
        t = self._timed(report, "load", t)

        results = io.observe_all(refs)
        t = self._timed(report, "observe", t)
        for c, r in results.items():
            if isinstance(r, Exception):
                report.unreachable[c] = str(r).splitlines()[0]
            else:
                report.observed[c] = len(r.observations)
                report.scheduler_commands[c] = r.commands
        unreachable = set(report.unreachable)

        with self.Session.begin() as s:
            keys = {(j.model_id, j.stage) for j in jobs}
            counters = {(st.model_id, st.stage): _StageCounters(st.continuations, st.requeues)
                        for st in stage_records(s, model_ids={m for m, _ in keys})} if keys else {}
            counters = defaultdict(lambda: _StageCounters(0, 0), counters)
            rec = reconcile(jobs, results, counters, cfg.manager, now())
            update_jobs(s, rec.job_changes)
            touched = rec.counters_changed | rec.resend
            if touched:
                ids = {(st.model_id, st.stage): st.id for st in stage_records(s, model_ids={m for m, _ in touched})}
                changes = []
                for k in touched:
                    change = {"id": ids[k], "continuations": counters[k].continuations,
                              "requeues": counters[k].requeues}
                    if k in rec.resend:
                        change["state"] = StageState.WAITING.value  # prepared again in this tick's advance
                    changes.append(change)
                update_stages(s, changes)
            record_events(s, rec.transitions)
        report.transitions += rec.transitions
        t = self._timed(report, "reconcile", t)

        self.advance(connections, report)
        t = self._timed(report, "advance", t)

        managed = [n for n, spec in cfg.stages.items() if self.kinds[spec.kind].managed]
        with self.Session.begin() as s:
            stages = stage_records(s, states=MANAGED_STAGE_STATES, stages=managed)
            jobs_by_stage = jobs_of(s, {(st.model_id, st.stage) for st in stages})
        plan = decide(stages, jobs_by_stage, self.project, self.names, unreachable, now())
        report.decided = len(stages)
        t = self._timed(report, "decide", t)

        self.act(plan, io, report, now)
        self._timed(report, "act", t)

    # -- act -------------------------------------------------------------------------------------
    def act(self, plan: Plan, io: TickIO, report: TickReport, now) -> None:
        cfg = self.project.config
        settings = {c.name: c for c in self.clusters}
        rows: list[dict] = []
        pending: dict[str, list[tuple[StageRecord, dict]]] = defaultdict(list)
        with self.Session.begin() as s:
            attempts = Counter()
            for (m, st_name), job_list in jobs_of(s, {(st.model_id, st.stage) for c in plan.submit
                                                      for st, _ in plan.submit[c]}).items():
                for j in job_list:
                    attempts[(m, st_name, j.cluster)] = max(attempts[(m, st_name, j.cluster)], j.attempt)
            for cluster, items in plan.submit.items():
                for st, resume in items:
                    spec = cfg.stages[st.stage]
                    row = {"model_id": st.model_id, "stage": st.stage, "cluster": cluster,
                           "attempt": attempts[(st.model_id, st.stage, cluster)] + 1, "state": "SUBMITTING",
                           "token": new_token(), "continuation": resume, "cpus": spec.cpus_per_task,
                           "submitted": now()}
                    rows.append(row)
                    pending[cluster].append((st, row))
            ids = add_job_rows(s, rows)
            for row, job_id in zip(rows, ids):
                row["id"] = job_id
            update_stages(s, plan.stage_changes)
            record_events(s, plan.transitions)
        report.transitions += plan.transitions
        # The rows are committed: from here a crash leaves SUBMITTING rows that the next tick resolves.
        requests: dict[str, list[SubmitRequest]] = {}
        held: list[tuple[dict, str]] = []
        for cluster, items in pending.items():
            reqs = []
            for st, row in items:
                spec = cfg.stages[st.stage]
                tag = ModelTag(st.mutant, st.group, st.name)
                try:
                    options = self.kinds[spec.kind].job_options(spec, st, settings[cluster])
                    options["continuation"] = row["continuation"]  # -cpi only when resuming after a timeout
                    reqs.append(SubmitRequest(key=str(row["id"]), token=row["token"], tag=job_comment(st),
                                              options=_job_script_options(settings[cluster], spec, st, tag, options)))
                except ValueError as exc:
                    held.append((row, str(exc).splitlines()[0]))
            requests[cluster] = reqs
        outcomes = io.submit_all(requests) if any(requests.values()) else {}
        cancels = {c: [j.slurm_id for j, _ in items] for c, items in plan.cancel.items() if items}
        cancelled = io.cancel_all(cancels) if cancels else {}

        job_changes: list[dict] = []
        transitions: list[Transition] = []
        t_now = now()
        by_id = {row["id"]: row for row in rows}
        for row, why in held:
            job_changes.append({"id": row["id"], "state": "F", "failure_kind": "submit_refused", "counted": True,
                                "reason": why, "ended": t_now})
            transitions.append(Transition("submit_refused", row["model_id"], row["stage"], row["cluster"], row["id"],
                                          "SUBMITTING", "F", why, time=t_now))
        for cluster, result in outcomes.items():
            if isinstance(result, Exception):
                report.unreachable.setdefault(cluster, str(result).splitlines()[0])
                continue  # rows stay SUBMITTING: the next tick finds them by token, or knows they never ran
            for o in result.values():
                row = by_id[int(o.key)]
                if o.error:
                    reason = o.error.strip().splitlines()[0] if o.error.strip() else "sbatch refused the job"
                    job_changes.append({"id": row["id"], "state": "F", "failure_kind": "submit_refused",
                                        "counted": True, "reason": reason, "ended": t_now})
                    transitions.append(Transition("submit_refused", row["model_id"], row["stage"], cluster,
                                                  row["id"], "SUBMITTING", "F", reason, time=t_now))
                    report.refused[cluster] = report.refused.get(cluster, 0) + 1
                else:
                    job_changes.append({"id": row["id"], "state": "PD", "slurm_id": str(o.job_id)})
                    transitions.append(Transition("submitted", row["model_id"], row["stage"], cluster, row["id"],
                                                  "SUBMITTING", "PD", f"job {o.job_id}"
                                                  + (" (continues from its checkpoint)" if row["continuation"] else ""),
                                                  time=t_now))
                    report.submitted[cluster] = report.submitted.get(cluster, 0) + 1
        for cluster, result in cancelled.items():
            if isinstance(result, Exception):
                report.unreachable.setdefault(cluster, str(result).splitlines()[0])
                continue  # cancelled next tick
            for job, why in plan.cancel[cluster]:
                running = job.state == "R"
                lost = (t_now - job.started).total_seconds() * job.cpus if running and job.started else None
                waited = (t_now - job.submitted).total_seconds()
                job_changes.append({"id": job.id, "state": "F", "failure_kind": "cancelled_by_mpflow",
                                    "counted": False, "reason": f"cancelled by mpflow: {why}", "ended": t_now})
                transitions.append(Transition("cancelled", job.model_id, job.stage, cluster, job.id, job.state, "F",
                                              f"{why}" + (" (it had started)" if running else ""),
                                              value=lost if running else waited, time=t_now))
                report.cancelled[cluster] = report.cancelled.get(cluster, 0) + 1
        with self.Session.begin() as s:
            update_jobs(s, job_changes)
            record_events(s, transitions)
        report.transitions += transitions

    # -- advance ---------------------------------------------------------------------------------
    def advance(self, connections: ClusterConnections, report: TickReport) -> None:
        """Collect finished stages and prepare waiting ones, per stage kind, bounded per tick."""
        cfg = self.project.config
        work = StageWork(self.project, self.clusters, connections)
        budget = cfg.manager.advance_per_tick
        with self.Session.begin() as s:
            finishing = stage_records(s, states=[StageState.FINISHING.value])[:budget]
            waiting = stage_records(s, states=[StageState.WAITING.value])
            states = {(st.model_id, st.stage): st.state for st in stage_records(s)}
            from mpflow.db import Model
            from sqlalchemy import select

            model_ok = {mid for mid, status in s.execute(select(Model.id, Model.status)) if status == "ok"}
        changes: list[dict] = []
        transitions: list[Transition] = []
        t_now = utcnow()
        for stage_name, items in _group_by_stage(finishing).items():
            spec = cfg.stages[stage_name]
            kind = self.kinds[spec.kind]
            if not kind.managed:
                continue
            for sid, problem in kind.collect(work, spec, items).items():
                st = next(i for i in items if i.id == sid)
                new = StageState.DONE.value if problem is None else StageState.HELD.value
                changes.append({"id": sid, "state": new, "reason": problem})
                transitions.append(Transition("done" if problem is None else "held", st.model_id, st.stage,
                                              st.winner, None, st.state, new,
                                              problem or f"outputs of {st.winner} on the master", time=t_now))
                states[(st.model_id, st.stage)] = new
        ready_to_prepare = []
        for st in waiting:
            spec = cfg.stages[st.stage]
            if not self.kinds[spec.kind].managed:
                continue
            prev_done = (st.model_id in model_ok if spec.after is None
                         else states.get((st.model_id, spec.after)) == StageState.DONE.value)
            if prev_done:
                ready_to_prepare.append(st)
        ready_to_prepare = ready_to_prepare[:max(0, budget - len(finishing))]
        for stage_name, items in _group_by_stage(ready_to_prepare).items():
            spec = cfg.stages[stage_name]
            for sid, problem in self.kinds[spec.kind].prepare(work, spec, items).items():
                st = next(i for i in items if i.id == sid)
                new = StageState.READY.value if problem is None else StageState.HELD.value
                changes.append({"id": sid, "state": new, "reason": problem})
                transitions.append(Transition("ready" if problem is None else "held", st.model_id, st.stage,
                                              None, None, st.state, new, problem, time=t_now))
        with self.Session.begin() as s:
            update_stages(s, changes)
            record_events(s, transitions)
        report.transitions += transitions


def _group_by_stage(items: list[StageRecord]) -> dict[str, list[StageRecord]]:
    out: dict[str, list[StageRecord]] = defaultdict(list)
    for st in items:
        out[st.stage].append(st)
    return out


def _job_script_options(settings: ClusterSettings, spec: StageSpec, st: StageRecord, tag: ModelTag, extra: dict):
    from mpflow.jobscript import stage_job_options

    overrides = {"time_limit_min": spec.time_limit_min, "cpus_per_task": spec.cpus_per_task, **extra}
    # the cluster's own per-stage resources win over the project's defaults
    for key in settings.stage_resources.get(st.stage, {}):
        overrides.pop(key, None)
    return stage_job_options(settings, stage=st.stage, job_dir=tag.stage_dir(settings.workdir, st.stage),
                             tag=job_comment(st), **overrides)
