"""The manager tick: observe every cluster once, reconcile the jobs database, advance models between
stages, decide every model-stage with the dual-cluster rule, and act in batches.

One tick, whatever the number of models:

1. take the database lease ``manager`` (another tick holding it → this one exits at once), and make
   sure the project's folder on each cluster is its own (``mpflow.project.claim``; once per cluster,
   then recorded: a folder another project claims stops the tick, with nothing written);
   after a restore from a backup, **recover** first (:mod:`mpflow.manager.recovery`): survey the
   clusters once and adopt the jobs the restored database does not know; until every cluster has
   been surveyed the tick decides and submits nothing;
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
   (``mpflow.manager.progress``); the clusters reached and not reached are recorded
   (``mpflow.store.clusters``: ``mpflow status`` marks an unreachable cluster's states stale, with
   since when) and a cluster that became unreachable, or answers again, is an event.

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
from datetime import UTC, datetime, timedelta
from typing import Callable, Mapping, Protocol, Sequence, TypeVar

from pydantic import ValidationError
from sqlalchemy.orm import sessionmaker

from mpflow.clusters.check import read_gromacs_versions
from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.settings import ClusterSettings, validation_message
from mpflow.clusters.side import ClusterSideError, require_site
from mpflow.clusters.transport import TransportError
from mpflow.manager.budget import (
    CLEARED_BACKOFF,
    GROMACS_RECHECK_S,
    backoff_values,
    in_backoff,
    observe_due,
    room,
)
from mpflow.manager.decisions import (
    Plan,
    StageCounters,
    add_doomed,
    decide,
    job_comment,
    job_ref,
    reconcile,
)
from mpflow.manager.progress import progress_changes
from mpflow.manager.recovery import SURVEYED, adopt, stage_dir
from mpflow.project.claim import claim_folder, has_models, identity, unclaimed
from mpflow.project.file import Project
from mpflow.slurm.client import JobRef, ObserveResult, SlurmClient, Survey
from mpflow.slurm.commands import SchedulerError
from mpflow.slurm.jobscript import JobScriptOptions, resources_key, stage_job_options
from mpflow.slurm.mdrun import unreadable_clusters
from mpflow.slurm.reasons import Refusal, limit_code, refusal_kind
from mpflow.slurm.submission import SubmitOutcome, SubmitRequest, submit_batch
from mpflow.stages.gromacs import GromacsStage
from mpflow.stages.kinds import ProtocolStage, ScriptStage, StageKind, StageWork
from mpflow.stages.spec import StageSpec
from mpflow.states import MANAGED, EventKind, FailureKind, JobState, StageState
from mpflow.store.clusters import record_claim, record_reachability
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
    any_ready,
    ensure_model_stages,
    job_tokens,
    jobs_of,
    new_token,
    ok_model_ids,
    open_recovery,
    record_events,
    stage_records,
    stage_states,
    update_jobs,
    update_recovery,
    update_stages,
)
from mpflow.store.schema import utcnow
from mpflow.store.sites import SiteRecord, site_records, update_site
from mpflow.tags import ModelTag

UNREACHABLE_ERRORS = (TransportError, SchedulerError)
"""A cluster whose transport or scheduler fails this way counts as unreachable (``?``) for the tick."""

log = logging.getLogger(__name__)

T = TypeVar("T")


def default_kinds() -> dict[str, StageKind]:
    """The stage kinds a project's ``[stages]`` may name (``kind = ...``)."""
    return {"script": ScriptStage(), "protocol": ProtocolStage(), "gromacs": GromacsStage()}


@dataclass(frozen=True)
class TickScope:
    """What a tick may start: nothing of a stage after ``until`` (in the project's stage order) is
    prepared or submitted; ``None`` is every stage."""

    until: str | None = None

    def allowed(self, order: Sequence[str]) -> set[str]:
        return set(order[: order.index(self.until) + 1]) if self.until in order else set(order)


def is_managed(kind: StageKind, spec: StageSpec) -> bool:
    """Whether the manager moves a stage: its kind says so, and a protocol the project runs locally is not."""
    return kind.managed and not (spec.kind == "protocol" and spec.run == "local")


class TickIO(Protocol):
    """The tick's I/O: one call per cluster per phase, one per stage batch in the advance phase. Each
    cluster's (or batch's) value is its result, or the exception that made it unreachable."""

    connections: ClusterConnections

    def observe_all(self, refs: Mapping[str, list[JobRef]]) -> dict[str, ObserveResult | Exception]:
        """Observe every cluster of ``refs``, an empty list included (the tick chooses which: its query budget)."""

    def submit_all(self, requests: Mapping[str, list[SubmitRequest]]
                   ) -> dict[str, dict[str, SubmitOutcome] | Exception]: ...

    def cancel_all(self, job_ids: Mapping[str, list[str]]) -> dict[str, list[str] | Exception]: ...

    def advance(self, label: str, batch: Callable[[], dict[int, str | None]]) -> dict[int, str | None] | Exception:
        """Run one stage batch of the advance phase (``label``: e.g. ``prepare-emmd-12``)."""

    def claim_all(self, claims: Mapping[str, Callable[[], object]]) -> dict[str, object | Exception]:
        """Claim the project's folder on each cluster (``claims``: cluster → the call that does it)."""
    def survey_all(self, since: datetime, folders: Mapping[str, list[tuple[str, str]]]
                   ) -> dict[str, Survey | Exception]:
        """After a restore: every mpflow job each cluster knows of since ``since``, and its ``folders``."""



def per_cluster(items: Mapping[str, list], call: Callable[[str, list], T], *, empty_too: bool = False
                ) -> dict[str, T | Exception]:
    """``call(cluster, batch)`` for every non-empty batch (every batch with ``empty_too``: an observation
    with no job still counts the user's jobs); an unreachable cluster's value is its error."""
    out: dict[str, T | Exception] = {}
    for cluster, batch in items.items():
        if not batch and not empty_too:
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
        return per_cluster(refs, lambda c, b: self.client(c).observe(b), empty_too=True)

    def submit_all(self, requests):
        return per_cluster(requests, lambda c, b: submit_batch(self.client(c), b))

    def cancel_all(self, job_ids):
        return per_cluster(job_ids, lambda c, b: self.client(c).cancel(b))

    def advance(self, label, batch):
        try:
            return batch()
        except UNREACHABLE_ERRORS as exc:
            return exc

    def claim_all(self, claims):
        return per_cluster({c: [call] for c, call in claims.items()}, lambda c, b: b[0]())
    def survey_all(self, since, folders):
        return per_cluster(folders, lambda c, b: self.client(c).survey(since, b))


@dataclass(frozen=True)
class SideProblem:
    """An advance batch that the master's cluster-side mpflow could not run (missing, another build, failed)."""

    line: str


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
    deferred: dict[str, str] = field(default_factory=dict)  # not observed this tick (the query budget), why
    backing_off: dict[str, float] = field(default_factory=dict)  # cluster → seconds of its back-off
    limited: dict[str, int] = field(default_factory=dict)  # copies refused by a site's limit (back-pressure)
    waiting_for_room: dict[str, int] = field(default_factory=dict)  # copies not sent: no room there
    adopted: dict[str, int] = field(default_factory=dict)  # after a restore: jobs found again per cluster
    recovering: list[str] = field(default_factory=list)  # clusters a restore's recovery has yet to survey
    unmatched: list[str] = field(default_factory=list)  # jobs in the project's folders of no known model-stage
    progressed: int = 0  # jobs whose progress (from their logs) changed
    cluster_side: dict[str, str] = field(default_factory=dict)  # cluster → why its mpflow cannot run jobs there

    def summary(self) -> str:
        if self.skipped:
            return f"tick skipped: {self.skipped}"
        parts = [f"{self.decided} model-stage(s) decided"]
        if self.recovering:
            parts = [f"recovering after a restore: {', '.join(self.recovering)} not yet surveyed, nothing decided"]
        for label, d in (("adopted", self.adopted), ("submitted", self.submitted), ("refused", self.refused),
                         ("cancelled", self.cancelled)):
            if any(d.values()):
                parts.append(f"{label} " + ", ".join(f"{c}: {n}" for c, n in d.items() if n))
        for label, d in (("limited", self.limited), ("waiting for room", self.waiting_for_room)):
            if any(d.values()):
                parts.append(f"{label} " + ", ".join(f"{c}: {n}" for c, n in d.items() if n))
        parts += list(self.cluster_side.values())
        if self.backing_off:
            parts.append("backing off: " + ", ".join(f"{c} ({s:g} s)" for c, s in self.backing_off.items()))
        others = [c for c in self.unreachable if c not in self.backing_off]
        if others:
            parts.append("unreachable: " + ", ".join(others))
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
        self.scope = TickScope()

    def tick(self, io: TickIO, *, holder: str | None = None, now: Callable[[], datetime] = utcnow,
             scope: TickScope | None = None) -> TickReport:
        holder = holder or lease_holder()
        self.scope = scope or TickScope()
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
        self.claim(io, report)
        with self.Session.begin() as s:
            ensure_model_stages(s, cfg.stage_order())
        report.recovering = sorted(self.recover(io, report, now))
        if report.recovering or report.adopted:
            t = self._timed(report, "recover", t)
        with self.Session.begin() as s:
            jobs = active_jobs(s)
            tags = {st.model_id: ModelTag(st.mutant, st.group, st.name)
                    for st in stage_records(s, with_active_jobs=True)} if jobs else {}
            sites = site_records(s)
            ready = any_ready(s)
        refs: dict[str, list[JobRef]] = defaultdict(list)
        for j in jobs:
            if j.cluster in settings:
                refs[j.cluster].append(job_ref(j, tags[j.model_id], settings[j.cluster].workdir))
        t = self._timed(report, "load", t)

        t0 = now()
        to_observe = self.observe_plan(refs, sites, ready, t0, report)
        results = io.observe_all(to_observe)
        t = self._timed(report, "observe", t)
        observations = {}
        site_updates: dict[str, dict] = {}
        for c, r in results.items():
            if isinstance(r, Exception):
                if isinstance(r, SchedulerError) and r.refusal is Refusal.BUSY:
                    site_updates[c] = backoff_values(sites.get(c, SiteRecord(c)), settings[c], _first_line(r), t0)
                    report.backing_off[c] = site_updates[c]["backoff_s"]
                report.unreachable_now(c, r)
            else:
                report.reached.add(c)
                observations[c] = r.observations
                report.observed[c] = len(r.observations)
                report.scheduler_commands[c] = r.commands
                site_updates[c] = {"observed": t0, "user_jobs": r.user_jobs, **CLEARED_BACKOFF}
        unreachable = set(report.unreachable)
        with self.Session.begin() as s:
            for c, values in site_updates.items():
                update_site(s, c, **values)
            sites = site_records(s)

        with self.Session.begin() as s:
            keys = {(j.model_id, j.stage) for j in jobs}
            # the models of `jobs`: no row has changed since they were loaded (this tick holds the lease)
            rows = {(st.model_id, st.stage): st for st in stage_records(s, with_active_jobs=True)} if keys else {}
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
                              for k in (rec.counters_changed | rec.resend) - set(rec.hold)])
            # a job that refused its input (a bad structure): the model-stage is held with its line
            held = [(rows[k], why) for k, why in rec.hold.items() if k in rows]
            update_stages(s, [StageChange(st.id, state=StageState.HELD, reason=why) for st, why in held])
            rec.transitions += [Transition(EventKind.HELD, st.model_id, st.stage, None, None, st.state,
                                           StageState.HELD, why, time=t_now) for st, why in held]
            record_events(s, rec.transitions)
        report.transitions += rec.transitions
        t = self._timed(report, "reconcile", t)

        self.advance(io, report)
        t = self._timed(report, "advance", t)
        if report.recovering:  # some cluster may hold copies the database does not know yet: wait
            return

        allowed = self.scope.allowed(cfg.stage_order())
        managed = [n for n in self.managed_stages() if n in allowed]  # nothing past --until is submitted
        sites = self.read_gromacs(io, sites, unreachable, report)
        with self.Session.begin() as s:
            stages = stage_records(s, states=MANAGED, stages=managed)
            jobs_by_stage = jobs_of(s, {(st.model_id, st.stage) for st in stages})
        resources = {(n, c.name): stage_resources_key(c, cfg.stages[n], n) for n in managed for c in self.clusters}
        plan = decide(stages, jobs_by_stage, cfg.stages, self.names, unreachable, cfg.manager.backoff_s, now(),
                      resources=resources, excluded=self.gromacs_exclusions(sites))
        add_doomed(plan, rec.doomed)
        report.decided = len(stages)
        t = self._timed(report, "decide", t)

        self.act(plan, io, report, now, sites=sites, resources=resources, unreachable=unreachable)
        with self.Session.begin() as s:
            report.transitions += record_reachability(
                s, report.reached, {c: why for c, why in report.unreachable.items() if c in settings}, now())
        self._timed(report, "act", t)

    # -- the project's folders -------------------------------------------------------------------
    def claim(self, io: TickIO, report: TickReport) -> None:
        """Claim the project's folder on every cluster where the database does not record it claimed
        (a cluster new to the project, a workdir changed, a project from before markers), before the
        tick writes anything there. A folder of another project raises :class:`FolderClaimed`; a
        cluster that cannot be reached is unreachable for this tick, and asked again next tick."""
        need = unclaimed(self.Session, self.clusters)
        if not need:
            return
        me, adopt = identity(self.project), has_models(self.Session)
        results = io.claim_all({c.name: (lambda c=c: claim_folder(io.connections.transport(c.name), c.workdir, me,
                                                                  self.project, adopt=adopt)) for c in need})
        with self.Session.begin() as s:
            for c in need:
                r = results.get(c.name)
                if isinstance(r, Exception):
                    report.unreachable_now(c.name, r)
                else:
                    report.reached.add(c.name)
                    record_claim(s, c.name, c.workdir, utcnow())

    # -- the query budget --------------------------------------------------------------------------
    def observe_plan(self, refs: Mapping[str, list[JobRef]], sites: Mapping[str, SiteRecord], ready: bool,
                     now: datetime, report: TickReport) -> dict[str, list[JobRef]]:
        """The clusters observed this tick: those with jobs to follow (or, while a model-stage is ready to
        submit, every cluster, to count the user's jobs there) whose ``min_observe_interval_s`` has passed
        and that are not backing off. A cluster backing off is ``?`` for the tick; one that is merely not
        due keeps what the database knows."""
        out: dict[str, list[JobRef]] = {}
        for c in self.clusters:
            site = sites.get(c.name, SiteRecord(c.name))
            if in_backoff(site, now):
                report.unreachable_now(c.name, f"backing off until {site.backoff_until:%H:%M:%S} after: "
                                               f"{site.backoff_reason}")
                report.backing_off[c.name] = site.backoff_s or 0.0
            elif not refs.get(c.name) and not ready:
                continue
            elif observe_due(site, c, now):
                out[c.name] = list(refs.get(c.name, []))
            else:
                report.deferred[c.name] = (f"observed {(now - site.observed).total_seconds():.0f} s ago "
                                           f"(at most every {c.min_observe_interval_s:g} s)")
        return out

    # -- GROMACS per site ------------------------------------------------------------------------
    def gromacs_stages(self) -> list[str]:
        cfg = self.project.config
        return [n for n, spec in cfg.stages.items() if spec.kind == "gromacs" and is_managed(self.kinds[spec.kind], spec)]

    def read_gromacs(self, io: TickIO, sites: dict[str, SiteRecord], unreachable: set[str],
                     report: TickReport) -> dict[str, SiteRecord]:
        """Read the GROMACS versions (the master's grompp, every cluster's mdrun) of clusters never read or
        read more than a day ago: one command per such cluster, in one batch of the tick."""
        if not self.gromacs_stages():
            return sites
        now_ = utcnow()
        stale = [c for c in self.clusters if c.name not in unreachable
                 and (sites.get(c.name) is None or sites[c.name].gromacs_checked is None
                      or (now_ - sites[c.name].gromacs_checked).total_seconds() > GROMACS_RECHECK_S)]
        if not stale:
            return sites
        master = self.clusters[0].name

        def batch():
            out = {}
            for c in stale:
                try:
                    out[c.name] = read_gromacs_versions(io.connections.transport(c.name), grompp=c.name == master)
                except UNREACHABLE_ERRORS as exc:
                    out[c.name] = exc
            return out

        found = io.advance(f"gromacs-versions-{len(stale)}", batch)
        if isinstance(found, Exception):
            return sites
        with self.Session.begin() as s:
            for name, versions in found.items():
                if isinstance(versions, Exception):
                    continue
                update_site(s, name, grompp_version=versions.grompp, mdrun_version=versions.mdrun,
                            gromacs_problem=versions.problem, gromacs_checked=now_)
            return site_records(s)

    def gromacs_exclusions(self, sites: Mapping[str, SiteRecord]) -> dict[str, dict[str, str]]:
        """Per GROMACS stage, the clusters whose mdrun cannot read the master's .tpr files, with why."""
        master = sites.get(self.names[0])
        left_out = unreadable_clusters(master.grompp_version if master else None,
                                       {c: (sites[c].mdrun_version if c in sites else None) for c in self.names})
        return {stage: left_out for stage in self.gromacs_stages()} if left_out else {}
    def managed_stages(self) -> list[str]:
        return [n for n, spec in self.project.config.stages.items() if is_managed(self.kinds[spec.kind], spec)]

    # -- recover ---------------------------------------------------------------------------------
    def recover(self, io: TickIO, report: TickReport, now) -> set[str]:
        """After a restore from a backup: survey the clusters the recovery names and adopt the jobs no
        row knows (:mod:`mpflow.manager.recovery`). Returns the clusters still to survey."""
        settings = {c.name: c for c in self.clusters}
        with self.Session() as s:
            rec = open_recovery(s)
            if rec is None:
                return set()
            stages = [st for st in stage_records(s, stages=self.managed_stages()) if st.state in SURVEYED]
            jobs = jobs_of(s, {(st.model_id, st.stage) for st in stages})
            tokens = job_tokens(s)
        targets = [c for c in rec.pending if c in settings]
        folders = {c: [(stage_dir(st, settings[c].workdir), st.stage) for st in stages] for c in targets}
        # sacct reads the cluster's local time; a day's margin covers any time zone and clock skew
        since = rec.since.replace(tzinfo=UTC).astimezone().replace(tzinfo=None) - timedelta(days=1)
        results = io.survey_all(since, {c: f for c, f in folders.items() if f})
        surveyed = {c for c in rec.pending if c not in settings or not folders.get(c)}
        cpus = {name: spec.cpus_per_task for name, spec in self.project.config.stages.items()}
        rows, changes, transitions = [], {}, []
        t_now = now()
        for cluster, result in results.items():
            if isinstance(result, Exception):
                report.unreachable_now(cluster, result)
                continue
            surveyed.add(cluster)
            found = adopt(cluster, result, settings[cluster].workdir, stages, jobs, tokens, cpus, t_now)
            rows += found.jobs
            changes.update({c.id: c for c in found.stage_changes})
            transitions += found.transitions
            report.unmatched += [f"{cluster}: {u}" for u in found.unmatched]
            if found.jobs:
                report.adopted[cluster] = len(found.jobs)
        for line in report.unmatched:
            log.warning("after the restore, %s belongs to no model-stage of the database "
                        "(a model imported after the backup? import it again)", line)
        with self.Session.begin() as s:
            add_job_rows(s, rows)
            update_stages(s, list(changes.values()))
            record_events(s, transitions)
            update_recovery(s, surveyed, len(rows), t_now)
        report.transitions += transitions
        return set(rec.pending) - surveyed

    # -- act -------------------------------------------------------------------------------------
    def act(self, plan: Plan, io: TickIO, report: TickReport, now, *, sites: Mapping[str, SiteRecord] | None = None,
            resources: Mapping[tuple[str, str], str | None] | None = None, unreachable: set[str] = frozenset()
            ) -> None:
        cfg = self.project.config
        settings = {c.name: c for c in self.clusters}
        sites = dict(sites or {})
        self.require_cluster_side(plan, io, report)
        site_updates = self.make_room(plan, sites, unreachable, report, now())
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
                                 continuation=resume, cpus=cfg.stages[st.stage].cpus_per_task, submitted=now(),
                                 resources=(resources or {}).get((st.stage, cluster)))
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
                except ValidationError as exc:  # the options' field and problem, not pydantic's title
                    held.append((job_id, row, f"cluster {cluster}: job options: {validation_message(exc)}"))
                except ValueError as exc:
                    held.append((job_id, row, _first_line(exc)))
            requests[cluster] = reqs
        outcomes = io.submit_all(requests) if any(requests.values()) else {}
        cancels = {c: [j.slurm_id for j, _ in plan.cancel.get(c, [])] + [j.slurm_id for j, _ in plan.doomed.get(c, [])]
                   for c in set(plan.cancel) | set(plan.doomed)}
        cancels = {c: ids for c, ids in cancels.items() if ids}
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
            site = sites.get(cluster, SiteRecord(cluster))
            accepted = sum(1 for o in result.values() if not o.error)
            for o in result.values():
                job_id = int(o.key)
                row = row_of[job_id]
                kind = refusal_kind(o.error) if o.error else None
                if kind is Refusal.BUSY:
                    # sbatch may have queued it all the same: the row stays SUBMITTING and the next
                    # observation finds it by its token, or knows it never ran; the cluster backs off
                    if cluster not in report.backing_off:
                        values = backoff_values(site, settings[cluster], o.error.strip().splitlines()[0], t_now)
                        site_updates.setdefault(cluster, {}).update(values)
                        report.backing_off[cluster] = values["backoff_s"]
                elif kind is Refusal.LIMIT:
                    code = limit_code(o.error)
                    job_changes.append(JobChange(job_id, state=JobState.F, failure_kind=FailureKind.LIMITED,
                                                 counted=False, reason=f"refused by {code}: sent again when "
                                                 f"{cluster} has room", ended=t_now))
                    transitions.append(Transition(EventKind.SUBMIT_REFUSED, row.model_id, row.stage, cluster, job_id,
                                                  JobState.SUBMITTING, JobState.F,
                                                  f"{code} (a limit of the site: not counted, sent again when "
                                                  "there is room)", time=t_now))
                    report.limited[cluster] = report.limited.get(cluster, 0) + 1
                    site_updates.setdefault(cluster, {}).update(
                        limit_jobs=(site.user_jobs or 0) + accepted, limit_reason=code, limit_since=t_now)
                elif o.error:
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
            for job, line in plan.doomed.get(cluster, []):
                job_changes.append(JobChange(job.id, state=JobState.F, failure_kind=FailureKind.CANNOT_START,
                                             counted=False, reason=line, ended=t_now))
                transitions.append(Transition(EventKind.CANCELLED, job.model_id, job.stage, cluster, job.id, job.state,
                                              JobState.F, f"cannot start on {cluster}: {line}",
                                              value=(t_now - job.submitted).total_seconds(), time=t_now))
                report.cancelled[cluster] = report.cancelled.get(cluster, 0) + 1
        for cluster, n in report.submitted.items():
            queued = site_updates.get(cluster, {}).get("user_jobs", sites.get(cluster, SiteRecord(cluster)).user_jobs)
            site_updates.setdefault(cluster, {})["user_jobs"] = (queued or 0) + n
        with self.Session.begin() as s:
            update_jobs(s, job_changes)
            record_events(s, transitions)
            for cluster, values in site_updates.items():
                update_site(s, cluster, **values)
        report.transitions += transitions

    def require_cluster_side(self, plan: Plan, io: TickIO, report: TickReport) -> None:
        """Before a job that runs mpflow's cluster side (a preparation) goes to a cluster, that cluster's
        mpflow must be this build (``mpflow.clusters.side.require_site``, cached): where it is missing or
        another build, those jobs are not submitted (nothing held: they go once it is set up) and the
        tick says why in one line."""
        cfg = self.project.config
        settings = {c.name: c for c in self.clusters}

        def runs_side(st: StageRecord) -> bool:
            return cfg.stages[st.stage].kind == "protocol"

        need = [c for c, items in plan.submit.items() if any(runs_side(st) for st, _ in items)]
        if not need:
            return

        def batch() -> dict[str, str | None]:
            out: dict[str, str | None] = {}
            for c in need:
                try:
                    require_site(io.connections.transport(c), settings[c])
                    out[c] = None
                except ClusterSideError as exc:
                    out[c] = str(exc)
            return out

        found = io.advance(f"cluster-side-{len(need)}", batch)
        for c in need:
            line = (f"{c}: {_first_line(found)}" if isinstance(found, Exception) else found.get(c))
            if line:
                report.cluster_side[c] = line
                plan.submit[c] = [(st, resume) for st, resume in plan.submit[c] if not runs_side(st)]

    def make_room(self, plan: Plan, sites: Mapping[str, SiteRecord], unreachable: set[str], report: TickReport,
                  now: datetime) -> dict[str, dict]:
        """Keep in ``plan`` only the copies each cluster has room for (``max_queued`` of the user's jobs, or
        fewer while a limit of the site holds); the others stay not submitted and go when there is room.
        Returns each reachable cluster's ``waiting`` line (None when nothing waits)."""
        updates: dict[str, dict] = {}
        for c in self.clusters:
            if c.name in unreachable:
                continue
            items = plan.submit.get(c.name, [])
            left, why = room(sites.get(c.name, SiteRecord(c.name)), c, now)
            waiting = None
            if len(items) > left:
                plan.submit[c.name] = items[:left]
                n = len(items) - left
                report.waiting_for_room[c.name] = n
                waiting = f"{n} cop{'y waits' if n == 1 else 'ies wait'} for room: {why}"
            updates[c.name] = {"waiting": waiting}
        return updates

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
            def guarded():
                try:
                    return call()
                except ClusterSideError as exc:  # returned as data, not raised: a failed batch task is retried
                    return SideProblem(str(exc))

            result = io.advance(f"{phase}-{stage}-{len(items)}", guarded)
            if isinstance(result, SideProblem):  # the master's mpflow cannot run it: these wait
                report.cluster_side[self.clusters[0].name] = result.line
                return {}
            if isinstance(result, Exception):  # unreachable after retries: these wait for the next tick
                report.unreachable_now(getattr(result, "cluster", "") or "?", result)
                return {}
            return result

        t_now = utcnow()
        for stage_name, items in _group_by_stage(finishing).items():
            spec = cfg.stages[stage_name]
            kind = self.kinds[spec.kind]
            if not is_managed(kind, spec):
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
        allowed = self.scope.allowed(cfg.stage_order())
        for st in waiting:
            spec = cfg.stages[st.stage]
            if not is_managed(self.kinds[spec.kind], spec) or st.stage not in allowed:
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


def _overrides(settings: ClusterSettings, spec: StageSpec, stage: str, kind_options: dict) -> dict:
    """The project's resources for the stage and the kind's options, less what the cluster's own
    per-stage resources set (those win)."""
    overrides = {"time_limit_min": spec.time_limit_min, "cpus_per_task": spec.cpus_per_task, **kind_options}
    for key in settings.stage_resources.get(stage, {}):
        overrides.pop(key, None)
    return overrides


def job_script_options(settings: ClusterSettings, spec: StageSpec, st: StageRecord, kind_options: dict, *,
                       continuation: bool) -> JobScriptOptions:
    """The job-script options of one model-stage's job on one cluster: the stage kind's options, the
    project's resources for the stage, then the cluster's own per-stage resources, which win."""
    tag = ModelTag(st.mutant, st.group, st.name)
    overrides = {**_overrides(settings, spec, st.stage, kind_options),
                 "continuation": continuation}  # -cpi only when resuming after a timeout
    return stage_job_options(settings, stage=st.stage, job_dir=tag.stage_dir(settings.workdir, st.stage),
                             comment=job_comment(st), **overrides)


def stage_resources_key(settings: ClusterSettings, spec: StageSpec, stage: str) -> str | None:
    """What a copy of ``stage`` would ask of this cluster now (``jobscript.resources_key``), or None
    when its options do not build (the submission will say why)."""
    try:
        opts = stage_job_options(settings, stage=stage, job_dir=settings.workdir,
                                 **_overrides(settings, spec, stage, {}))
    except ValueError:
        return None
    return resources_key(settings, opts)
