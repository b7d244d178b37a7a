"""The manager tick: observe every cluster once, reconcile the jobs database, advance models between
stages, decide every model-stage with the dual-cluster rule, and act in batches.

One tick, whatever the number of models:

1. take the database lease ``manager`` (another tick holding it → this one exits at once);
2. **observe**: per cluster one batched observation of every job not yet seen finished (rows in
   ``SUBMITTING``, ``PD``, ``R``); a cluster that cannot be reached is ``?`` for this tick;
3. **reconcile** (:func:`~mpflow.manager.decisions.reconcile`): what was observed goes into the job
   rows; a ``SUBMITTING`` row is resolved by its token (a crash between ``sbatch`` and the commit never
   makes a second job, and a lost Slurm id is recovered this way);
4. **advance**: finished stages' outputs come back to the master and the next stages' inputs are
   prepared, one batch per stage kind and stage (bounded per tick);
5. **decide** (:func:`~mpflow.manager.decisions.decide`) for every ready or active model-stage;
6. **act**: one submission batch and one ``scancel`` per cluster; every submission is committed as a
   ``SUBMITTING`` row with its token *before* ``sbatch`` runs, every answer is written back;
7. every transition is appended to ``events`` (and emitted as a Prefect event by the flow); the
   progress each job's log shows (read by the same observation) goes into its row
   (``mpflow.manager.progress``); a cluster that became unreachable, or answers again, is an event.

All of the tick's I/O goes through a :class:`TickIO` — plain calls for ``mpflow manage --once``
(:class:`DirectIO`), Prefect task runs in the manager flow (``mpflow.tasks.manager.TaskIO``) — so both
run this same code and, in the flow, every batch (observe, advance, submit, cancel) is a task run that
is retried on transient errors and visible in the UI.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Mapping, Protocol, Sequence, TypeVar

from sqlalchemy.orm import sessionmaker

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import TransportError
from mpflow.manager.decisions import (
    Plan,
    StageCounters,
    decide,
    job_comment,
    job_ref,
    reachability,
    reconcile,
)
from mpflow.manager.progress import progress_changes
from mpflow.project.file import Project
from mpflow.slurm.client import JobRef, ObserveResult, SlurmClient
from mpflow.slurm.commands import SchedulerError
from mpflow.slurm.jobscript import JobScriptOptions, stage_job_options
from mpflow.slurm.submission import SubmitOutcome, SubmitRequest, submit_batch
from mpflow.stages.gromacs import GromacsStage
from mpflow.stages.kinds import ProtocolStage, ScriptStage, StageKind, StageWork
from mpflow.stages.spec import StageSpec
from mpflow.states import MANAGED, EventKind, FailureKind, JobState, StageState
from mpflow.store.leases import (
    MANAGER_LEASE,
    acquire_lease,
    lease_holder,
    release_lease,
)
from mpflow.store.records import (
    JobChange,
    NewJob,
    StageChange,
    StageRecord,
    Transition,
    active_jobs,
    add_job_rows,
    cluster_reachability,
    ensure_model_stages,
    jobs_of,
    new_token,
    ok_model_ids,
    record_events,
    stage_records,
    stage_states,
    update_jobs,
    update_stages,
)
from mpflow.store.schema import utcnow
from mpflow.tags import ModelTag

UNREACHABLE_ERRORS = (TransportError, SchedulerError)
"""A cluster whose transport or scheduler fails this way counts as unreachable (``?``) for the tick."""

log = logging.getLogger(__name__)

T = TypeVar("T")


def default_kinds() -> dict[str, StageKind]:
    """The stage kinds a project's ``[stages]`` may name (``kind = ...``)."""
    return {"script": ScriptStage(), "protocol": ProtocolStage(), "gromacs": GromacsStage()}


class TickIO(Protocol):
    """The tick's I/O: one call per cluster per phase, one per stage batch in the advance phase. Each
    cluster's (or batch's) value is its result, or the exception that made it unreachable."""

    connections: ClusterConnections

    def observe_all(self, refs: Mapping[str, list[JobRef]]) -> dict[str, ObserveResult | Exception]: ...

    def submit_all(self, requests: Mapping[str, list[SubmitRequest]]
                   ) -> dict[str, dict[str, SubmitOutcome] | Exception]: ...

    def cancel_all(self, job_ids: Mapping[str, list[str]]) -> dict[str, list[str] | Exception]: ...

    def advance(self, label: str, batch: Callable[[], dict[int, str | None]]) -> dict[int, str | None] | Exception:
        """Run one stage batch of the advance phase (``label``: e.g. ``prepare-emmd-12``)."""


def per_cluster(items: Mapping[str, list], call: Callable[[str, list], T]) -> dict[str, T | Exception]:
    """``call(cluster, batch)`` for every non-empty batch; an unreachable cluster's value is its error."""
    out: dict[str, T | Exception] = {}
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

    def client(self, cluster: str) -> SlurmClient:
        return SlurmClient(self.connections.transport(cluster))

    def observe_all(self, refs):
        return per_cluster(refs, lambda c, b: self.client(c).observe(b))

    def submit_all(self, requests):
        return per_cluster(requests, lambda c, b: submit_batch(self.client(c), b))

    def cancel_all(self, job_ids):
        return per_cluster(job_ids, lambda c, b: self.client(c).cancel(b))

    def advance(self, label, batch):
        try:
            return batch()
        except UNREACHABLE_ERRORS as exc:
            return exc


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
    reached: set[str] = field(default_factory=set)  # clusters that answered this tick
    progressed: int = 0  # jobs whose progress (from their logs) changed

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

    def unreachable_now(self, cluster: str, exc: BaseException) -> None:
        self.unreachable.setdefault(cluster, str(exc).splitlines()[0])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Manager:
    """Runs ticks for one project over its clusters; ``kinds`` maps a stage kind to its behaviour."""

    def __init__(self, project: Project, Session: sessionmaker, clusters: Sequence[ClusterSettings],
                 kinds: Mapping[str, StageKind] | None = None):
        self.project = project
        self.Session = Session
        self.clusters = list(clusters)
        self.names = [c.name for c in self.clusters]
        self.kinds = dict(kinds or default_kinds())

    def tick(self, io: TickIO, *, holder: str | None = None, now: Callable[[], datetime] = utcnow) -> TickReport:
        holder = holder or lease_holder()
        report = TickReport(holder)
        if not acquire_lease(self.Session, MANAGER_LEASE, holder, self.project.config.manager.lease_s):
            report.skipped = "another tick holds the manager lease"
            return report
        try:
            self._tick(io, report, now)
        finally:
            release_lease(self.Session, MANAGER_LEASE, holder)
        return report

    def _timed(self, report: TickReport, phase: str, t0: float) -> float:
        t1 = time.perf_counter()
        report.seconds[phase] = report.seconds.get(phase, 0.0) + t1 - t0
        return t1

    def _tick(self, io: TickIO, report: TickReport, now) -> None:
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
                refs[j.cluster].append(job_ref(j, tags[j.model_id], settings[j.cluster].workdir))
        t = self._timed(report, "load", t)

        results = io.observe_all(refs)
        t = self._timed(report, "observe", t)
        observations = {}
        for c, r in results.items():
            if isinstance(r, Exception):
                report.unreachable_now(c, r)
            else:
                report.reached.add(c)
                observations[c] = r.observations
                report.observed[c] = len(r.observations)
                report.scheduler_commands[c] = r.commands
        unreachable = set(report.unreachable)

        with self.Session.begin() as s:
            keys = {(j.model_id, j.stage) for j in jobs}
            rows = {(st.model_id, st.stage): st for st in stage_records(s, model_ids={m for m, _ in keys})} \
                if keys else {}
            counters = {k: StageCounters(st.continuations, st.requeues) for k, st in rows.items()}
            t_now = now()
            rec = reconcile(jobs, observations, counters, cfg.manager, t_now)
            progressed = progress_changes(jobs, observations, t_now)
            report.progressed = len(progressed)
            update_jobs(s, rec.job_changes + progressed)
            update_stages(s, [StageChange(rows[k].id, continuations=counters[k].continuations,
                                          requeues=counters[k].requeues,
                                          # prepared again in this tick's advance, then resubmitted
                                          **({"state": StageState.WAITING} if k in rec.resend else {}))
                              for k in rec.counters_changed | rec.resend])
            record_events(s, rec.transitions)
        report.transitions += rec.transitions
        t = self._timed(report, "reconcile", t)

        self.advance(io, report)
        t = self._timed(report, "advance", t)

        managed = [n for n, spec in cfg.stages.items() if self.kinds[spec.kind].managed]
        with self.Session.begin() as s:
            stages = stage_records(s, states=MANAGED, stages=managed)
            jobs_by_stage = jobs_of(s, {(st.model_id, st.stage) for st in stages})
        plan = decide(stages, jobs_by_stage, cfg.stages, self.names, unreachable, cfg.manager.backoff_s, now())
        report.decided = len(stages)
        t = self._timed(report, "decide", t)

        self.act(plan, io, report, now)
        t = self._timed(report, "act", t)

        with self.Session.begin() as s:
            last = {c: r[0] for c, r in cluster_reachability(s).items()}
            changes = reachability(last, report.reached, {c: w for c, w in report.unreachable.items()
                                                          if c in settings}, now())
            record_events(s, changes)
        report.transitions += changes
        self._timed(report, "record", t)

    # -- act -------------------------------------------------------------------------------------
    def act(self, plan: Plan, io: TickIO, report: TickReport, now) -> None:
        cfg = self.project.config
        settings = {c.name: c for c in self.clusters}
        new_rows: list[NewJob] = []
        pending: dict[str, list[tuple[StageRecord, NewJob]]] = defaultdict(list)
        with self.Session.begin() as s:
            attempts: Counter = Counter()
            for (m, st_name), job_list in jobs_of(s, {(st.model_id, st.stage) for c in plan.submit
                                                      for st, _ in plan.submit[c]}).items():
                for j in job_list:
                    attempts[(m, st_name, j.cluster)] = max(attempts[(m, st_name, j.cluster)], j.attempt)
            for cluster, items in plan.submit.items():
                for st, resume in items:
                    row = NewJob(model_id=st.model_id, stage=st.stage, cluster=cluster,
                                 attempt=attempts[(st.model_id, st.stage, cluster)] + 1, token=new_token(),
                                 continuation=resume, cpus=cfg.stages[st.stage].cpus_per_task, submitted=now())
                    new_rows.append(row)
                    pending[cluster].append((st, row))
            ids = dict(zip((id(r) for r in new_rows), add_job_rows(s, new_rows)))
            update_stages(s, plan.stage_changes)
            record_events(s, plan.transitions)
        report.transitions += plan.transitions
        # The rows are committed: from here a crash leaves SUBMITTING rows that the next tick resolves.
        requests: dict[str, list[SubmitRequest]] = {}
        row_of: dict[int, NewJob] = {}
        held: list[tuple[int, NewJob, str]] = []
        for cluster, items in pending.items():
            reqs = []
            for st, row in items:
                job_id = ids[id(row)]
                row_of[job_id] = row
                spec = cfg.stages[st.stage]
                try:
                    options = job_script_options(settings[cluster], spec, st,
                                                 self.kinds[spec.kind].job_options(spec, st, settings[cluster]),
                                                 continuation=row.continuation)
                    reqs.append(SubmitRequest(key=str(job_id), token=row.token, options=options))
                except ValueError as exc:
                    held.append((job_id, row, _first_line(exc)))
            requests[cluster] = reqs
        outcomes = io.submit_all(requests) if any(requests.values()) else {}
        cancels = {c: [j.slurm_id for j, _ in items] for c, items in plan.cancel.items() if items}
        cancelled = io.cancel_all(cancels) if cancels else {}

        job_changes: list[JobChange] = []
        transitions: list[Transition] = []
        t_now = now()

        def refused(job_id: int, row: NewJob, reason: str) -> None:
            job_changes.append(JobChange(job_id, state=JobState.F, failure_kind=FailureKind.SUBMIT_REFUSED,
                                         counted=True, reason=reason, ended=t_now))
            transitions.append(Transition(EventKind.SUBMIT_REFUSED, row.model_id, row.stage, row.cluster, job_id,
                                          JobState.SUBMITTING, JobState.F, reason, time=t_now))

        for job_id, row, why in held:
            refused(job_id, row, why)
        for cluster, result in outcomes.items():
            if isinstance(result, Exception):
                report.unreachable_now(cluster, result)
                continue  # rows stay SUBMITTING: the next tick finds them by token, or knows they never ran
            report.reached.add(cluster)
            for o in result.values():
                job_id = int(o.key)
                row = row_of[job_id]
                if o.error:
                    refused(job_id, row, o.error.strip().splitlines()[0] if o.error.strip()
                            else "sbatch refused the job")
                    report.refused[cluster] = report.refused.get(cluster, 0) + 1
                else:
                    job_changes.append(JobChange(job_id, state=JobState.PD, slurm_id=str(o.job_id)))
                    transitions.append(Transition(EventKind.SUBMITTED, row.model_id, row.stage, cluster, job_id,
                                                  JobState.SUBMITTING, JobState.PD, f"job {o.job_id}"
                                                  + (" (continues from its checkpoint)" if row.continuation else ""),
                                                  time=t_now))
                    report.submitted[cluster] = report.submitted.get(cluster, 0) + 1
        for cluster, result in cancelled.items():
            if isinstance(result, Exception):
                report.unreachable_now(cluster, result)
                continue  # cancelled next tick
            report.reached.add(cluster)
            for job, why in plan.cancel[cluster]:
                running = job.state is JobState.R
                lost = (t_now - job.started).total_seconds() * job.cpus if running and job.started else None
                waited = (t_now - job.submitted).total_seconds()
                job_changes.append(JobChange(job.id, state=JobState.F, failure_kind=FailureKind.CANCELLED_BY_MPFLOW,
                                             counted=False, reason=f"cancelled by mpflow: {why}", ended=t_now))
                transitions.append(Transition(EventKind.CANCELLED, job.model_id, job.stage, cluster, job.id, job.state,
                                              JobState.F, f"{why}" + (" (it had started)" if running else ""),
                                              value=lost if running else waited, time=t_now))
                report.cancelled[cluster] = report.cancelled.get(cluster, 0) + 1
        with self.Session.begin() as s:
            update_jobs(s, job_changes)
            record_events(s, transitions)
        report.transitions += transitions

    # -- advance ---------------------------------------------------------------------------------
    def advance(self, io: TickIO, report: TickReport) -> None:
        """Collect finished stages and prepare waiting ones, one batch per stage, bounded per tick."""
        cfg = self.project.config
        work = StageWork(self.clusters, io.connections, self.project.root / "templates")
        budget = cfg.manager.advance_per_tick
        with self.Session.begin() as s:
            finishing = stage_records(s, states=[StageState.FINISHING])[:budget]
            waiting = stage_records(s, states=[StageState.WAITING])
            states = stage_states(s)
            model_ok = ok_model_ids(s)
        changes: list[StageChange] = []
        transitions: list[Transition] = []

        def run(phase: str, stage: str, items: list[StageRecord], call) -> dict[int, str | None]:
            result = io.advance(f"{phase}-{stage}-{len(items)}", call)
            if isinstance(result, Exception):  # unreachable after retries: these wait for the next tick
                report.unreachable_now(getattr(result, "cluster", "") or "?", result)
                return {}
            return result

        t_now = utcnow()
        for stage_name, items in _group_by_stage(finishing).items():
            spec = cfg.stages[stage_name]
            kind = self.kinds[spec.kind]
            if not kind.managed:
                continue
            by_id = {st.id: st for st in items}
            for sid, problem in run("collect", stage_name, items, lambda: kind.collect(work, spec, items)).items():
                st = by_id[sid]
                new = StageState.DONE if problem is None else StageState.HELD
                changes.append(StageChange(sid, state=new, reason=problem))
                transitions.append(Transition(EventKind.DONE if problem is None else EventKind.HELD, st.model_id,
                                              st.stage, st.winner, None, st.state, new,
                                              problem or f"outputs of {st.winner} on the master", time=t_now))
                states[(st.model_id, st.stage)] = new
        ready_to_prepare = []
        for st in waiting:
            spec = cfg.stages[st.stage]
            if not self.kinds[spec.kind].managed:
                continue
            prev_done = (st.model_id in model_ok if spec.after is None
                         else states.get((st.model_id, spec.after)) is StageState.DONE)
            if prev_done:
                ready_to_prepare.append(st)
        ready_to_prepare = ready_to_prepare[:max(0, budget - len(finishing))]
        for stage_name, items in _group_by_stage(ready_to_prepare).items():
            spec = cfg.stages[stage_name]
            kind = self.kinds[spec.kind]
            by_id = {st.id: st for st in items}
            for sid, problem in run("prepare", stage_name, items, lambda: kind.prepare(work, spec, items)).items():
                st = by_id[sid]
                new = StageState.READY if problem is None else StageState.HELD
                changes.append(StageChange(sid, state=new, reason=problem))
                transitions.append(Transition(EventKind.READY if problem is None else EventKind.HELD, st.model_id,
                                              st.stage, None, None, st.state, new, problem, time=t_now))
        with self.Session.begin() as s:
            update_stages(s, changes)
            record_events(s, transitions)
        report.transitions += transitions


def _group_by_stage(items: list[StageRecord]) -> dict[str, list[StageRecord]]:
    out: dict[str, list[StageRecord]] = defaultdict(list)
    for st in items:
        out[st.stage].append(st)
    return out


def job_script_options(settings: ClusterSettings, spec: StageSpec, st: StageRecord, kind_options: dict, *,
                       continuation: bool) -> JobScriptOptions:
    """The job-script options of one model-stage's job on one cluster: the stage kind's options, the
    project's resources for the stage, then the cluster's own per-stage resources, which win."""
    tag = ModelTag(st.mutant, st.group, st.name)
    overrides = {"time_limit_min": spec.time_limit_min, "cpus_per_task": spec.cpus_per_task, **kind_options,
                 "continuation": continuation}  # -cpi only when resuming after a timeout
    for key in settings.stage_resources.get(st.stage, {}):
        overrides.pop(key, None)
    return stage_job_options(settings, stage=st.stage, job_dir=tag.stage_dir(settings.workdir, st.stage),
                             comment=job_comment(st), **overrides)
