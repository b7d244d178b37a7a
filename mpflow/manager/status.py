"""What ``mpflow status`` shows: every model-stage with its state and its jobs, and what dual
submission bought, computed from the jobs and events tables (read-only).

Dual-submission figures (per cluster):

- queue wait: from submission to start, for jobs that started;
- win rate: the share of finished model-stages whose winning job ran on this cluster;
- loser's wait at cancellation: how long a cancelled pending copy had queued (a lower bound on the
  queue time the race saved);
- core-hours lost: CPU time of copies that had started before they were cancelled (both started
  within one tick);
- winner start → loser cancel: how long the losing copy lived after the winner started.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mpflow.manager.budget import site_lines
from mpflow.slurm.mdrun import unreadable_clusters
from mpflow.states import FailureKind, JobState, ModelStatus, StageState
from mpflow.store.clusters import cluster_records
from mpflow.store.schema import Job, Model, ModelStage


@dataclass(frozen=True)
class StageStatus:
    model: int
    mutant: str
    group: str
    name: str
    model_status: str
    stage: str
    state: str
    reason: str | None
    winner: str | None
    clusters: dict[str, dict]

    def as_dict(self) -> dict:
        return {"model": self.model, "mutant": self.mutant, "group": self.group, "name": self.name,
                "model_status": self.model_status, "stage": self.stage, "state": self.state,
                "reason": self.reason, "winner": self.winner, "clusters": self.clusters}


def stage_statuses(s: Session, *, mutant: str | None = None, stage: str | None = None,
                   stage_order: list[str] | None = None) -> list[StageStatus]:
    q = (select(ModelStage.model_id, Model.mutant, Model.group, Model.name, Model.status, Model.status_reason,
                ModelStage.stage, ModelStage.state, ModelStage.reason, ModelStage.winner)
         .join(Model, Model.id == ModelStage.model_id))
    if mutant:
        q = q.where(Model.mutant == mutant)
    if stage:
        q = q.where(ModelStage.stage == stage)
    rows = s.execute(q).all()
    latest: dict[tuple[int, str], dict[str, dict]] = defaultdict(dict)
    jq = select(Job.model_id, Job.stage, Job.cluster, Job.attempt, Job.state, Job.slurm_id, Job.failure_kind,
                Job.reason).order_by(Job.id)
    if stage:
        jq = jq.where(Job.stage == stage)
    for m, st, c, attempt, state, slurm_id, kind, reason in s.execute(jq):
        latest[(m, st)][c] = {"state": state, "job_id": slurm_id, "attempt": attempt, "failure_kind": kind,
                              "reason": reason}
    order = {name: i for i, name in enumerate(stage_order or [])}
    out = []
    for m, mut, grp, name, mstatus, mreason, st, state, reason, winner in rows:
        if mstatus != ModelStatus.OK and state == StageState.WAITING:
            state, reason = mstatus.split(":")[0], mreason or mstatus
        out.append(StageStatus(m, mut, grp, name, mstatus, st, state, reason, winner, latest.get((m, st), {})))
    return sorted(out, key=lambda r: (r.mutant, r.name, order.get(r.stage, 99), r.stage))


#: The line under the count table that says what its job-state cells mean.
CELL_KEY = ("cells: each cluster's latest job per model-stage: NS not submitted (or refused by a site's limit, sent\n"
            "again when there is room), PD pending, R running, D done, F failed, lost = cancelled by mpflow as the\n"
            "other cluster's copy started first, doomed = cancelled as it could never start there; - = runs on the master")


def job_cell_state(job: dict) -> str:
    """A latest job's state as the count table shows it: ``lost`` for the slower copy mpflow cancelled
    (a Slurm F, but no failure), else the job's state (NS when there is no job)."""
    if job.get("state") == JobState.F and job.get("failure_kind") == FailureKind.CANCELLED_BY_MPFLOW:
        return "lost"
    if job.get("state") == JobState.F and job.get("failure_kind") == FailureKind.CANNOT_START:
        return "doomed"
    if job.get("state") == JobState.F and job.get("failure_kind") == FailureKind.LIMITED:
        return JobState.NS  # back-pressure: not submitted, sent again when there is room
    return job.get("state", JobState.NS)


@dataclass(frozen=True)
class Stale:
    """A cluster the manager's ticks cannot reach: since when, and why (the last tick's error)."""

    since: datetime
    reason: str | None

    def line(self, cluster: str, now: datetime) -> str:
        return (f"{cluster} (stale): unreachable since {self.since:%Y-%m-%d %H:%M:%S} UTC "
                f"({_ago((now - self.since).total_seconds())} ago): {self.reason or 'no answer'}; its job states are "
                "the last known")


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def stale_clusters(s: Session, clusters: list[str]) -> dict[str, Stale]:
    """The project's clusters that the last ticks could not reach (``mpflow.store.clusters``)."""
    return {name: Stale(r.unreachable_since, r.unreachable_reason) for name, r in cluster_records(s).items()
            if name in clusters and r.unreachable_since is not None}


def with_staleness(row: dict, stale: dict[str, Stale]) -> dict:
    """A model-stage's JSON (``StageStatus.as_dict``) with ``stale_since`` on the jobs of each
    unreachable cluster: their states are the last known."""
    for cluster, job in row["clusters"].items():
        if cluster in stale:
            job["stale_since"] = stale[cluster].since.isoformat(timespec="seconds")
    return row
def cannot_start_lines(statuses: list[StageStatus]) -> list[str]:
    """One line per stage, cluster and reason of copies cancelled because they could never start
    there: ``emmd: cancelled on beta (3 model-stages): PartitionTimeLimit — the stage's time limit
    exceeds the partition's``."""
    counts: Counter = Counter()
    for r in statuses:
        if r.state == StageState.DONE:
            continue
        for cluster, job in r.clusters.items():
            if job.get("state") == JobState.F and job.get("failure_kind") == FailureKind.CANNOT_START:
                counts[(r.stage, cluster, job.get("reason") or "cannot start")] += 1
    return [f"{stage}: cancelled on {cluster} ({n} model-stage{'s' if n != 1 else ''}): {reason}"
            for (stage, cluster, reason), n in sorted(counts.items())]


def cluster_lines(sites: dict, settings: dict, names: list[str], now, *, gromacs_stages: bool = True) -> list[str]:
    """What ``mpflow status`` says of each cluster (``budget.site_lines``), and the clusters not sent
    GROMACS stages because their mdrun cannot read the master's .tpr files."""
    lines = []
    for name in names:
        site = sites.get(name)
        if site is not None:
            lines += site_lines(site, settings.get(name), now)
    master = sites.get(names[0]) if names else None
    if gromacs_stages and master is not None:
        left_out = unreadable_clusters(master.grompp_version, {n: sites[n].mdrun_version for n in names if n in sites})
        lines += [f"{c}: not sent GROMACS stages: {why}" for c, why in left_out.items()]
    return lines


def count_table(statuses: list[StageStatus], clusters: list[str],
                master_stages: frozenset[str] | set[str] = frozenset(),
                stale: frozenset[str] | set[str] | dict = frozenset()) -> tuple[list[str], list[list]]:
    """Rows of (stage, state, model-stages, per-cluster latest job states; see :data:`CELL_KEY`).
    ``master_stages``: stages that run on the master without Slurm jobs (their cells are ``-``);
    ``stale``: clusters the ticks cannot reach (their column is headed ``<name> (stale)``)."""
    counts: Counter = Counter()
    per_cluster: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for r in statuses:
        counts[(r.stage, r.state)] += 1
        if r.stage in master_stages:
            continue
        for c in clusters:
            per_cluster[(r.stage, r.state)][(c, job_cell_state(r.clusters.get(c, {})))] += 1
    header = ["stage", "state", "models", *(f"{c} (stale)" if c in stale else c for c in clusters)]
    rows = []
    seen_stages = list(dict.fromkeys(r.stage for r in statuses))
    for stage in seen_stages:
        for (st, state), n in counts.items():
            if st != stage:
                continue
            cells = []
            for c in clusters:
                cc = per_cluster[(st, state)]
                cells.append(" ".join(f"{js}:{k}" for (cl, js), k in sorted(cc.items()) if cl == c) or "-")
            rows.append([stage, state, n, *cells])
    return header, rows


def table_lines(header: list[str], rows: list[list]) -> list[str]:
    """``header`` and ``rows`` as left-aligned text columns."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    return ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip() for line in [header, *rows]]


def _summ(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "median_s": None, "mean_s": None, "max_s": None}
    return {"n": len(values), "median_s": round(statistics.median(values), 1),
            "mean_s": round(statistics.fmean(values), 1), "max_s": round(max(values), 1)}


def dual_submission_summary(s: Session, clusters: list[str]) -> dict[str, dict]:
    """The figures in this module's docstring, per cluster."""
    jobs = s.execute(select(Job.id, Job.model_id, Job.stage, Job.cluster, Job.state, Job.failure_kind,
                            Job.submitted, Job.started, Job.ended, Job.cpus)).all()
    winners = dict(((m, st), w) for m, st, w, state in
                   s.execute(select(ModelStage.model_id, ModelStage.stage, ModelStage.winner, ModelStage.state))
                   if w and state in (StageState.FINISHING, StageState.DONE))
    winner_start: dict[tuple[int, str], object] = {}
    for j in jobs:
        key = (j.model_id, j.stage)
        if winners.get(key) == j.cluster and j.started and j.state == JobState.D:
            winner_start[key] = j.started
    out = {}
    total_done = len(winners)
    for c in clusters:
        mine = [j for j in jobs if j.cluster == c]
        waits = [(j.started - j.submitted).total_seconds() for j in mine if j.started]
        cancelled = [j for j in mine if j.failure_kind == FailureKind.CANCELLED_BY_MPFLOW]
        loser_waits = [(j.ended - j.submitted).total_seconds() for j in cancelled if not j.started and j.ended]
        lost = sum((j.ended - j.started).total_seconds() * j.cpus for j in cancelled if j.started and j.ended)
        after_win = [(j.ended - winner_start[(j.model_id, j.stage)]).total_seconds() for j in cancelled
                     if j.ended and (j.model_id, j.stage) in winner_start]
        won = sum(1 for w in winners.values() if w == c)
        out[c] = {
            "jobs": len(mine),
            "queue_wait": _summ(waits),
            "won": won,
            "win_rate": round(won / total_done, 3) if total_done else None,
            "cancelled_losers": len(cancelled),
            "loser_wait_at_cancel": _summ(loser_waits),
            "core_hours_lost": round(lost / 3600, 4),
            "winner_start_to_loser_cancel": _summ(after_win),
        }
    return out


def count_jobs_by_stage_state_cluster(s: Session) -> list[tuple[str, str, str, int]]:
    """(stage, latest job state, cluster, number of model-stages) over every model-stage's latest jobs."""
    latest: dict[tuple[int, str, str], str] = {}
    for m, st, c, state in s.execute(select(Job.model_id, Job.stage, Job.cluster, Job.state).order_by(Job.id)):
        latest[(m, st, c)] = state
    counts = Counter((st, state, c) for (m, st, c), state in latest.items())
    return sorted((st, state, c, n) for (st, state, c), n in counts.items())
