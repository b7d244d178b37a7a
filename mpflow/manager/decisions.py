"""The manager's decisions as pure functions: observations → job-row changes, job rows → the rule's
per-cluster views, views → what to submit and cancel. No I/O, no clock of their own.

- :func:`reconcile`: what one tick's observations change in the job rows (a ``SUBMITTING`` row is
  resolved by its token; a failure's cost comes from :data:`FAILURE_POLICY`), with a transition per
  change;
- :func:`cluster_views`: one model-stage's job rows → a :class:`~mpflow.manager.rule.ClusterView`
  per cluster (attempts left, backoff, a checkpoint to continue from, ``?`` for an unreachable one);
- :func:`decide`: every managed model-stage through :func:`~mpflow.manager.rule.dual_cluster_actions`
  → a :class:`Plan` of submissions, cancellations, stage changes and transitions;
- :func:`reachability`: which clusters became unreachable, or answered again, this tick.

The tick (``mpflow.manager.tick``) loads the records, calls these, and writes and sends what they
return.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Mapping, Sequence

from mpflow.manager.progress import header_known
from mpflow.manager.rule import ClusterView, Outcome, dual_cluster_actions
from mpflow.project.file import ManagerSection
from mpflow.slurm.client import JobRef, Observation
from mpflow.slurm.jobscript import INPUT_REFUSED_EXIT, INPUTS_MISSING_EXIT
from mpflow.slurm.reasons import cannot_start, doomed_line
from mpflow.stages.spec import StageSpec
from mpflow.states import NEVER_RAN, EventKind, FailureKind, JobState, StageState
from mpflow.store.records import (
    JobChange,
    JobRecord,
    StageChange,
    StageRecord,
    Transition,
)
from mpflow.tags import ModelTag


class Cost(enum.StrEnum):
    """What a failed job costs its model-stage."""

    CONTINUE = "continue"  # resubmitted on the same cluster from its checkpoint, not counted (up to max_continuations)
    REQUEUE = "requeue"  # resubmitted at once on every cluster, not counted (up to max_requeues)
    RESEND = "resend"  # the stage's inputs are prepared and sent again, then resubmitted, not counted
    FREE = "free"  # never counted
    COUNT = "count"  # a counted attempt, with backoff
    HOLD = "hold"  # the model-stage is held with the job's reason: the input itself is wrong, a retry cannot help


FAILURE_POLICY: dict[FailureKind, Cost] = {
    FailureKind.TIMEOUT: Cost.CONTINUE,
    FailureKind.NODE_FAILURE: Cost.REQUEUE,
    FailureKind.PREEMPTION: Cost.REQUEUE,
    FailureKind.BOOT_FAILURE: Cost.REQUEUE,
    FailureKind.LOST: Cost.REQUEUE,  # Slurm and the job folder have both forgotten the job
    FailureKind.NOT_SUBMITTED: Cost.FREE,  # the submission never reached the scheduler
    FailureKind.STALE_INPUTS: Cost.RESEND,  # the job found its inputs missing: send them again, then resubmit
    FailureKind.CANCELLED_BY_MPFLOW: Cost.FREE,
    FailureKind.CANCELLED: Cost.COUNT,  # cancelled outside mpflow
    FailureKind.OUT_OF_MEMORY: Cost.COUNT,
    FailureKind.NONZERO_EXIT: Cost.COUNT,
    FailureKind.DEADLINE: Cost.COUNT,
    FailureKind.MISSING_OUTPUT: Cost.COUNT,
    FailureKind.SUBMIT_REFUSED: Cost.COUNT,
    FailureKind.LIMITED: Cost.FREE,  # back-pressure: sent again when the cluster has room
    FailureKind.CANNOT_START: Cost.FREE,  # not sent there again with the same resources (ClusterView.doomed)
    FailureKind.UNKNOWN: Cost.COUNT,
    FailureKind.INPUT_REFUSED: Cost.HOLD,  # a bad structure: held with the step's own line
}
"""What a failure costs, by failure kind (every kind has an entry; a unit test checks it)."""

#: a job row's state as the rule sees it (a row waiting for its sbatch to be confirmed is as good as queued)
ROW_TO_VIEW = {JobState.SUBMITTING: JobState.PD, JobState.PD: JobState.PD, JobState.R: JobState.R,
               JobState.D: JobState.D, JobState.F: JobState.F}

_EVENT_OF_STATE = {JobState.D: EventKind.COMPLETED, JobState.F: EventKind.FAILED, JobState.PD: EventKind.QUEUED}


# ------------------------------------------------------------------------------------------------
# Reconcile: observations → job rows
# ------------------------------------------------------------------------------------------------

@dataclass
class StageCounters:
    """Uncounted resubmissions a model-stage has used."""

    continuations: int = 0
    requeues: int = 0


@dataclass
class Reconciled:
    job_changes: list[JobChange] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    counters_changed: set[tuple[int, str]] = field(default_factory=set)  # continuations / requeues
    resend: set[tuple[int, str]] = field(default_factory=set)  # model-stages whose inputs go again
    hold: dict[tuple[int, str], str] = field(default_factory=dict)  # model-stages held, with the job's reason
    # copies pending for a reason they never leave (PartitionTimeLimit...): cancelled, with that reason
    doomed: list[tuple[JobRecord, str]] = field(default_factory=list)


def failure_kind_of(obs: Observation) -> FailureKind:
    """Why an observed job failed; a job that found its inputs stale says so by its exit code."""
    kind = obs.failure_kind or FailureKind.UNKNOWN
    if kind is FailureKind.NONZERO_EXIT and obs.exit_code == INPUTS_MISSING_EXIT:
        return FailureKind.STALE_INPUTS
    if kind is FailureKind.NONZERO_EXIT and obs.exit_code == INPUT_REFUSED_EXIT:
        return FailureKind.INPUT_REFUSED
    return kind


def _vanished(obs: Observation) -> bool:
    """Slurm no longer lists the job and its folder has no exit code of it (or it was never found)."""
    return obs.state is JobState.NS or (obs.state is JobState.F and obs.failure_kind is FailureKind.LOST)


def _pending(job: JobRecord, obs: Observation, limits: ManagerSection, now: datetime, out: "Reconciled") -> None:
    """Record a pending copy's reason (and since when), and mark it doomed when the reason is one it
    never leaves with the same resources (after the grace for nodes that may come back)."""
    reason = obs.pending_reason
    since = job.reason_since if (job.reason == reason and job.reason_since is not None) else now
    if reason != job.reason or (reason is not None and job.reason_since is None):
        out.job_changes.append(JobChange(job.id, reason=reason, reason_since=now))
    entry = cannot_start(reason)
    if entry is None or (entry.grace and (now - since).total_seconds() < limits.unavailable_node_grace_s):
        return
    slurm_id = job.slurm_id or (str(obs.job_id) if obs.job_id else None)
    if slurm_id:
        out.doomed.append((replace(job, slurm_id=slurm_id), doomed_line(reason)))


def reconcile(jobs: Sequence[JobRecord], observations: Mapping[str, Mapping[str, Observation]],
              counters: dict[tuple[int, str], StageCounters], limits: ManagerSection, now: datetime) -> Reconciled:
    """Job-row changes and transitions from one tick's observations.

    ``observations``: per reachable cluster, the observation of each job by its row id (as a string);
    a cluster missing from it was not reached and its jobs are left as they are. ``counters``
    (continuations and requeues per model-stage) are updated in place."""
    out = Reconciled()
    for job in jobs:
        obs = observations.get(job.cluster, {}).get(str(job.id))
        if obs is None:
            continue
        state = obs.state
        ev = dict(model_id=job.model_id, stage=job.stage, cluster=job.cluster, job_id=job.id, time=now)
        if job.state is not JobState.SUBMITTING and _vanished(obs):
            # Missing from squeue, and neither sacct nor the exit-code file says what became of it: it
            # may still be queued or running (a controller failing over, a lagging listing). Judged only
            # after the grace; until then the row keeps its state, so nothing is resubmitted.
            since = job.missing_since or now
            if job.missing_since is None:
                out.job_changes.append(JobChange(job.id, missing_since=now))
            if (now - since).total_seconds() < limits.vanished_grace_s:
                continue
        elif job.missing_since is not None and state is not JobState.UNKNOWN:
            out.job_changes.append(JobChange(job.id, missing_since=None))
        if state is JobState.PD:
            _pending(job, obs, limits, now, out)
        slurm_id = None
        if job.state is JobState.SUBMITTING:
            if state is JobState.NS:
                out.job_changes.append(JobChange(job.id, state=JobState.F, failure_kind=FailureKind.NOT_SUBMITTED,
                                                 counted=False, reason="submission not confirmed and no job "
                                                 "carries its token", ended=now))
                out.transitions.append(Transition(EventKind.NOT_SUBMITTED, from_state=job.state, to_state=JobState.F,
                                                  why="no job with its token: sbatch never ran", **ev))
                continue
            if obs.job_id:
                slurm_id = str(obs.job_id)
                out.transitions.append(Transition(EventKind.RECOVERED, from_state=job.state, to_state=state,
                                                  why=f"found job {obs.job_id} by its token", **ev))
        if state is JobState.UNKNOWN or state == job.state:
            if slurm_id:
                out.job_changes.append(JobChange(job.id, slurm_id=slurm_id))
            continue
        kind = None
        if state is JobState.NS:  # known to nobody: Slurm forgot it and it left no files
            state, kind = JobState.F, FailureKind.LOST
        elif state is JobState.F:
            kind = failure_kind_of(obs)
        started = (obs.start or now) if state in (JobState.R, JobState.D) and job.started is None else None
        ended = (obs.end or now) if state in (JobState.D, JobState.F) else None
        change = dict(state=state)
        if slurm_id:
            change["slurm_id"] = slurm_id
        if started:
            change["started"] = started
        if ended:
            change["ended"] = ended
        why = None
        if state is JobState.F:
            key, cost = (job.model_id, job.stage), FAILURE_POLICY[kind]
            c = counters.setdefault(key, StageCounters())
            if cost is Cost.CONTINUE and c.continuations < limits.max_continuations:
                c.continuations += 1
                counted = False
                out.counters_changed.add(key)
            elif cost is Cost.REQUEUE and c.requeues < limits.max_requeues:
                c.requeues += 1
                counted = False
                out.counters_changed.add(key)
            elif cost is Cost.RESEND:
                counted = False
                out.resend.add(key)
            elif cost is Cost.HOLD:
                counted = False
                out.hold[key] = obs.detail or str(kind)
            else:
                counted = cost is not Cost.FREE
            reason = obs.detail or str(kind)
            change.update(failure_kind=kind, counted=counted, reason=reason)
            why = reason + ("" if counted else f" ({FAILURE_POLICY[kind]}, not counted)")
        out.job_changes.append(JobChange(job.id, **change))
        if state is JobState.R:
            began = started or job.started
            wait = (began - job.submitted).total_seconds() if began else None
            out.transitions.append(Transition(EventKind.STARTED, from_state=job.state, to_state=state, value=wait,
                                              why=f"job {obs.job_id or job.slurm_id} started", **ev))
        else:
            out.transitions.append(Transition(_EVENT_OF_STATE[state], from_state=job.state, to_state=state,
                                              why=why, **ev))
    return out


# ------------------------------------------------------------------------------------------------
# Decide: job rows → cluster views → actions
# ------------------------------------------------------------------------------------------------

def cluster_views(jobs: Sequence[JobRecord], clusters: Sequence[str], unreachable: set[str], spec: StageSpec,
                  backoff_s: Sequence[float], now: datetime, resources: Mapping[str, str] | None = None
                  ) -> dict[str, ClusterView]:
    """The rule's view of one model-stage on each cluster, from its job rows (oldest first).
    ``resources``: per cluster, what a copy would ask of it now (``jobscript.resources_key``): a copy
    that could not start there is doomed while a new one would ask the same."""
    by_cluster: dict[str, list[JobRecord]] = defaultdict(list)
    for j in jobs:
        by_cluster[j.cluster].append(j)
    views = {}
    for c in clusters:
        rows = by_cluster.get(c, [])
        latest = rows[-1] if rows else None
        counted = sum(1 for j in rows if j.counted)
        if latest is None or latest.failure_kind in NEVER_RAN:
            state = JobState.NS
        else:
            state = ROW_TO_VIEW[latest.state]
        failed = latest is not None and latest.state is JobState.F
        in_backoff = False
        if failed and latest.counted and latest.ended is not None:
            wait = backoff_s[min(counted, len(backoff_s)) - 1]
            in_backoff = now < latest.ended + timedelta(seconds=wait)
        resume = failed and latest.failure_kind is FailureKind.TIMEOUT and not latest.counted
        started = latest.started if latest is not None and state in (JobState.R, JobState.D) else None
        doomed = (failed and latest.failure_kind is FailureKind.CANNOT_START
                  and (latest.resources is None or latest.resources == (resources or {}).get(c, latest.resources)))
        if c in unreachable:
            views[c] = ClusterView(JobState.UNKNOWN, attempts_left=spec.retry_budget - counted,
                                   last_known=state, in_backoff=in_backoff, resume_here=resume, doomed=doomed)
        else:
            views[c] = ClusterView(state, attempts_left=spec.retry_budget - counted, started=started,
                                   in_backoff=in_backoff, resume_here=resume, doomed=doomed)
    return views


@dataclass
class Plan:
    """What one tick will do: per cluster the model-stages to submit (and whether each continues from
    its checkpoint) and the jobs to cancel (with why), the stage rows that change, the transitions."""

    submit: dict[str, list[tuple[StageRecord, bool]]] = field(default_factory=lambda: defaultdict(list))
    cancel: dict[str, list[tuple[JobRecord, str]]] = field(default_factory=lambda: defaultdict(list))
    stage_changes: list[StageChange] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    # copies that cannot start where they wait: cancelled, recorded as CANNOT_START with the reason
    doomed: dict[str, list[tuple[JobRecord, str]]] = field(default_factory=lambda: defaultdict(list))


def usable_targets(targets: Sequence[str], excluded: Mapping[str, str]) -> list[str]:
    """A stage's target clusters less those it must not be sent to (``excluded``: cluster → why, e.g.
    an mdrun that cannot read the master's .tpr files); order kept, the master first."""
    return [c for c in targets if c not in excluded]


def add_doomed(plan: Plan, doomed: Sequence[tuple[JobRecord, str]]) -> None:
    """Cancel each doomed copy with its reason (a copy the rule also cancels, having lost the race, is
    recorded as unable to start: that is why it waited, and it tells the next stages where not to go)."""
    ids = {job.id for job, _ in doomed}
    for cluster, items in plan.cancel.items():
        plan.cancel[cluster] = [(j, why) for j, why in items if j.id not in ids]
    for job, line in doomed:
        plan.doomed[job.cluster].append((job, line))


def decide(stages: Sequence[StageRecord], jobs: Mapping[tuple[int, str], Sequence[JobRecord]],
           specs: Mapping[str, StageSpec], clusters: Sequence[str], unreachable: set[str],
           backoff_s: Sequence[float], now: datetime, *,
           resources: Mapping[tuple[str, str], str] | None = None,
           excluded: Mapping[str, Mapping[str, str]] | None = None) -> Plan:
    """The plan for every model-stage in ``stages`` (ready or active) over ``clusters`` (the master
    first; a stage with ``clusters = "master"`` runs only there). ``resources``: per (stage, cluster),
    what a copy would ask now; ``excluded``: per stage, the clusters it is not sent to, with why."""
    plan = Plan()
    for st in stages:
        spec = specs[st.stage]
        all_targets = list(clusters) if spec.clusters == "all" else [clusters[0]]
        left_out = (excluded or {}).get(st.stage, {})
        targets = usable_targets(all_targets, left_out)
        rows = jobs.get((st.model_id, st.stage), [])
        latest = {j.cluster: j for j in rows}
        ev = dict(model_id=st.model_id, stage=st.stage, time=now)
        if not targets:
            why = "; ".join(f"not sent to {c}: {left_out[c]}" for c in all_targets)
            if st.state is not StageState.HELD:
                plan.stage_changes.append(StageChange(st.id, state=StageState.HELD, reason=why))
                plan.transitions.append(Transition(EventKind.HELD, from_state=st.state, to_state=StageState.HELD,
                                                   why=why, **ev))
            continue
        views = cluster_views(rows, targets, unreachable, spec, backoff_s, now,
                              {c: (resources or {}).get((st.stage, c)) for c in targets if
                               (resources or {}).get((st.stage, c)) is not None})
        actions = dual_cluster_actions(views)
        for c in actions.submit:
            plan.submit[c].append((st, views[c].resume_here))
        for c in actions.cancel:
            job = latest.get(c)
            if job is not None and job.slurm_id:
                why = f"done on {actions.winner}" if actions.outcome is Outcome.DONE else f"lost to {actions.winner}"
                plan.cancel[c].append((job, why))
        if actions.outcome is Outcome.HELD:
            why = "; ".join(f"cancelled on {c}: {latest[c].reason}" for c in targets
                            if c in latest and views[c].doomed)
            plan.stage_changes.append(StageChange(st.id, state=StageState.HELD, reason=why))
            plan.transitions.append(Transition(EventKind.HELD, from_state=st.state, to_state=StageState.HELD,
                                               why=why, **ev))
        elif actions.outcome is Outcome.DONE:
            plan.stage_changes.append(StageChange(st.id, state=StageState.FINISHING, winner=actions.winner,
                                                  reason=None))
            plan.transitions.append(Transition(EventKind.STAGE_DONE, cluster=actions.winner, from_state=st.state,
                                               to_state=StageState.FINISHING, why=actions.why, **ev))
        elif actions.outcome is Outcome.ACTIVE:
            if st.winner != actions.winner:
                plan.stage_changes.append(StageChange(st.id, state=StageState.ACTIVE, winner=actions.winner))
                plan.transitions.append(Transition(EventKind.WON, cluster=actions.winner, why=actions.why, **ev))
        elif actions.outcome is Outcome.SUBMIT:
            if st.state is not StageState.ACTIVE:
                plan.stage_changes.append(StageChange(st.id, state=StageState.ACTIVE))
        elif actions.outcome is Outcome.FAILED:
            reasons = "; ".join(f"{c}: {latest[c].failure_kind}" for c in targets if c in latest)
            plan.stage_changes.append(StageChange(st.id, state=StageState.FAILED,
                                                  reason=f"failed for good ({reasons})"))
            plan.transitions.append(Transition(EventKind.FAILED_FOR_GOOD, from_state=st.state,
                                               to_state=StageState.FAILED, why=f"{actions.why} ({reasons})", **ev))
    return plan


def job_ref(job: JobRecord, tag: ModelTag, workdir: str) -> JobRef:
    """How the Slurm client finds one job row's job on a cluster whose workdir is ``workdir`` (the
    head of its log is read until its progress knows the run's length)."""
    return JobRef(key=str(job.id), job_dir=tag.stage_dir(workdir, job.stage), stage=job.stage,
                  job_id=job.slurm_id, token=job.token, log_header=not header_known(job))


def job_comment(st: StageRecord) -> str:
    """The job's Slurm ``--comment``: ``mutant:group:name:stage``, so ``squeue`` says what a job is."""
    return f"{st.mutant}:{st.group}:{st.name}:{st.stage}"
