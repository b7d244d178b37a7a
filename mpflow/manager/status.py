"""What ``mpflow status`` shows: every model-stage with its state, its jobs and how far a running
job is (``jobs.progress``, from its log), what dual submission bought, which cluster computes faster
and when the selected models will be through (``mpflow.manager.forecast``), computed from the jobs and
events tables (read-only).

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
from datetime import UTC, datetime, timedelta
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from mpflow.manager.budget import site_lines
from mpflow.manager.forecast import (
    Durations,
    FinishedRun,
    Forecast,
    Spread,
    StageLeft,
    duration_text,
    faster_lines,
    forecast,
    forecast_sentence,
    speed_table,
    spread,
)
from mpflow.manager.progress import SPEED_GROMACS, JobProgress
from mpflow.project.file import Project
from mpflow.slurm.md_log import MINIMISERS
from mpflow.slurm.mdrun import unreadable_clusters
from mpflow.stages.mdp import mdp_setting, render_mdp
from mpflow.states import EventKind, FailureKind, JobState, ModelStatus, StageState
from mpflow.store.clusters import cluster_records
from mpflow.store.schema import Event, Job, Model, ModelStage


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
    progress: JobProgress | None = None  # its running job's (the winner's), or its finished winner's
    progress_cluster: str | None = None

    @property
    def tag(self) -> str:
        return f"{self.mutant}/{self.group}/{self.name}"

    @property
    def running(self) -> bool:
        """A job of it runs now (its latest job on some cluster is R)."""
        return any(j.get("state") == JobState.R for j in self.clusters.values())

    def as_dict(self) -> dict:
        clusters = {c: {k: v for k, v in j.items() if k != "progress_record"} for c, j in self.clusters.items()}
        return {"model": self.model, "mutant": self.mutant, "group": self.group, "name": self.name,
                "model_status": self.model_status, "stage": self.stage, "state": self.state,
                "reason": self.reason, "winner": self.winner, "clusters": clusters,
                "progress": ({"cluster": self.progress_cluster, **self.progress.summary()}
                             if self.progress is not None else None)}


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
                Job.reason, Job.progress).order_by(Job.id)
    if stage:
        jq = jq.where(Job.stage == stage)
    for m, st, c, attempt, state, slurm_id, kind, reason, prog in s.execute(jq):
        record = JobProgress.from_dict(prog) if prog else None
        latest[(m, st)][c] = {"state": state, "job_id": slurm_id, "attempt": attempt, "failure_kind": kind,
                              "reason": reason, "progress": record.summary() if record else None,
                              "progress_record": record}
    order = {name: i for i, name in enumerate(stage_order or [])}
    out = []
    for m, mut, grp, name, mstatus, mreason, st, state, reason, winner in rows:
        if mstatus != ModelStatus.OK and state == StageState.WAITING:
            state, reason = mstatus.split(":")[0], mreason or mstatus
        jobs = latest.get((m, st), {})
        cluster, prog = _shown_progress(jobs, winner)
        out.append(StageStatus(m, mut, grp, name, mstatus, st, state, reason, winner, jobs, prog, cluster))
    return sorted(out, key=lambda r: (r.mutant, r.name, order.get(r.stage, 99), r.stage))


def _shown_progress(jobs: dict[str, dict], winner: str | None) -> tuple[str | None, JobProgress | None]:
    """The progress a model-stage shows: its winner's latest job's, else a running job's."""
    if winner and jobs.get(winner, {}).get("progress_record") is not None:
        return winner, jobs[winner]["progress_record"]
    for c, j in jobs.items():
        if j.get("state") == JobState.R and j.get("progress_record") is not None:
            return c, j["progress_record"]
    return None, None


#: The line under the count table that says what its job-state cells mean.
CELL_KEY = ("cells: each cluster's latest job per model-stage: NS not submitted (or refused by a site's limit, sent\n"
            "again when there is room), PD pending, R running, D done, F failed, lost = cancelled by mpflow as the\n"
            "other cluster's copy started first, doomed = cancelled as it could never start there; - = no job there\n"
            "(the stage runs on the master alone, or on this machine)")


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
                stale: frozenset[str] | set[str] | dict = frozenset(), now: datetime | None = None,
                master_only: frozenset[str] | set[str] = frozenset()) -> tuple[list[str], list[list]]:
    """Rows of (stage, state, model-stages, per-cluster latest job states; see :data:`CELL_KEY`),
    and, given ``now``, a ``progress`` column where jobs run (:func:`progress_cell`).
    ``master_stages``: stages that run on the master without Slurm jobs (their cells are ``-``);
    ``master_only``: stages whose jobs go to the master alone (the other clusters' cells are ``-``);
    ``stale``: clusters the ticks cannot reach (their column is headed ``<name> (stale)``)."""
    counts: Counter = Counter()
    per_cluster: dict[tuple[str, str], Counter] = defaultdict(Counter)
    running: dict[tuple[str, str], list[JobProgress]] = defaultdict(list)
    for r in statuses:
        counts[(r.stage, r.state)] += 1
        if r.running and r.progress is not None:
            running[(r.stage, r.state)].append(r.progress)
        if r.stage in master_stages:
            continue
        for c in clusters[:1] if r.stage in master_only else clusters:
            per_cluster[(r.stage, r.state)][(c, job_cell_state(r.clusters.get(c, {})))] += 1
    with_progress = now is not None and bool(running)
    header = ["stage", "state", "models", *(f"{c} (stale)" if c in stale else c for c in clusters)] + \
        (["progress"] if with_progress else [])
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
            if with_progress:
                cells.append(progress_cell(running.get((st, state), []), now))
            rows.append([stage, state, n, *cells])
    return header, rows


# ------------------------------------------------------------------------------------------------
# Progress of running jobs, as text
# ------------------------------------------------------------------------------------------------

def clock_text(when: datetime, now: datetime) -> str:
    """A UTC time (naive, as the database holds it) on the local clock: ``14:32``, ``Thu 14:32``, or
    the date when more than a week away."""
    local, here = when.replace(tzinfo=UTC).astimezone(), now.replace(tzinfo=UTC).astimezone()
    if local.date() == here.date():
        return f"{local:%H:%M}"
    if abs((local - here).days) < 7:
        return f"{local:%a %H:%M}"
    return f"{local:%Y-%m-%d %H:%M}"


def eta_text(p: JobProgress, now: datetime) -> str:
    """``ends ~14:32 (in 8 min)``, or what is known instead."""
    if p.ended:
        if p.stopped is not None:
            return f"stopped: {p.stopped}"
        return p.minimised if p.minimisation and p.minimised else "ended"
    if p.eta is None:
        return "speed not measured yet" if not p.minimisation else "minimising"
    left = max(0.0, (p.eta - now).total_seconds())
    return f"ends ~{clock_text(p.eta, now)} (in {duration_text(left)})"


def progress_text(p: JobProgress, now: datetime) -> str:
    """One running job's progress: steps, simulated time, speed and expected end."""
    if p.minimisation:
        steps = f"step {p.step:,}" if p.step is not None else "no step yet"
        limit = f" of at most {p.nsteps:,}" if p.nsteps and p.nsteps > 0 else ""
        return f"{steps}{limit} (minimising)" + (f"; {p.minimised}" if p.minimised else "")
    parts = []
    if p.step is not None:
        frac = p.fraction
        parts.append(f"{p.step:,}/{p.nsteps:,} steps" + (f" ({frac:.0%})" if frac is not None else "")
                     if p.nsteps and p.nsteps > 0 else f"step {p.step:,}")
    if p.time_ps is not None:
        total = p.total_ps
        parts.append(f"{p.time_ps / 1000:.3g}/{total / 1000:.3g} ns" if total else f"{p.time_ps / 1000:.3g} ns")
    if p.ns_per_day is not None:
        parts.append(f"{p.ns_per_day:.3g} ns/day")
    parts.append(eta_text(p, now))
    return " · ".join(parts)


def progress_cell(progress: list[JobProgress], now: datetime) -> str:
    """The count table's progress cell for the running jobs of one (stage, state) row."""
    if not progress:
        return ""
    fractions = sorted(p.fraction for p in progress if p.fraction is not None)
    etas = [p.eta for p in progress if p.eta is not None and not p.ended]
    text = f"{len(progress)} running"
    if fractions:
        lo, hi = fractions[0], fractions[-1]
        text += f" {lo:.0%}" if hi - lo < 0.005 else f" {lo:.0%}-{hi:.0%}"
    if etas:
        text += f", last ends ~{clock_text(max(etas), now)}"
    return text


def running_summary(statuses: list[StageStatus], now: datetime) -> str:
    """The running model-stages in one line: ``m1 prmd on alpha 60% (150 ns/day, ends ~04:12); ...``."""
    parts = []
    for r in statuses:
        if not r.running:
            continue
        p = r.progress
        if p is None:
            parts.append(f"{r.tag} {r.stage}: no log read yet")
            continue
        frac = f" {p.fraction:.0%}" if p.fraction is not None else ""
        speed = f"{p.ns_per_day:.3g} ns/day, " if p.ns_per_day is not None else ""
        parts.append(f"{r.tag} {r.stage} on {r.progress_cluster}{frac} ({speed}{eta_text(p, now)})")
    return "; ".join(parts)


def running_lines(statuses: list[StageStatus], now: datetime, limit: int = 20) -> list[str]:
    """One line per running model-stage (the first ``limit``), with its progress."""
    rows = [r for r in statuses if r.running]
    out = []
    for r in rows[:limit]:
        where = r.progress_cluster or next(c for c, j in r.clusters.items() if j.get("state") == JobState.R)
        what = progress_text(r.progress, now) if r.progress is not None else "no log read yet"
        out.append(f"  {r.tag} {r.stage} on {where}: {what}")
    if len(rows) > limit:
        out.append(f"  ... and {len(rows) - limit} more (mpflow status --json)")
    return out


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


# ------------------------------------------------------------------------------------------------
# Which cluster computes faster, and when the selected models will be through
# ------------------------------------------------------------------------------------------------

def finished_runs(s: Session) -> list[FinishedRun]:
    """Every run part whose log gave GROMACS's own speed (the job ended: done, stopped or killed
    after its performance block)."""
    out = []
    for cluster, stage, prog in s.execute(select(Job.cluster, Job.stage, Job.progress).where(Job.progress.is_not(None))):
        p = JobProgress.from_dict(prog)
        if p.ended and p.speed_from == SPEED_GROMACS and p.ns_per_day:
            out.append(FinishedRun(cluster, stage, p.atoms, p.ns_per_day, p.wall_s))
    return out


def _md_length(project: Project, stage: str) -> tuple[bool, float | None]:
    """(minimisation, simulated picoseconds) of a GROMACS stage, from its rendered .mdp."""
    spec = project.config.stages[stage]
    text = render_mdp(spec.mdp, spec.nsteps, overrides=spec.mdp_overrides, search_dirs=[project.root / "templates"])
    integrator = (mdp_setting(text, "integrator") or "md").lower()
    if integrator in MINIMISERS:
        return True, None
    return False, spec.nsteps * float(mdp_setting(text, "dt") or 0.001)


def peak_concurrency(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals open at one time."""
    points = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals], key=lambda x: (x[0], x[1]))
    peak = cur = 0
    for _, step in points:
        cur += step
        peak = max(peak, cur)
    return peak


def project_forecast(s: Session, project: Project, statuses: list[StageStatus], runs: list[FinishedRun],
                     now: datetime) -> Forecast:
    """When the models of ``statuses`` will be through the project's last stage (see
    ``mpflow.manager.forecast`` for how)."""
    cfg = project.config
    order = cfg.stage_order()
    master = cfg.master_stages()
    jobs = s.execute(select(Job.stage, Job.state, Job.submitted, Job.started, Job.ended)
                     .where(Job.state.in_([JobState.D, JobState.R]))).all()
    waits = [(j.started - j.submitted).total_seconds() for j in jobs if j.started and j.state == JobState.D]
    intervals = [(j.started, j.ended or now) for j in jobs if j.started]
    running_rates = [r.progress.ns_per_day for r in statuses if r.running and r.progress and r.progress.ns_per_day]
    all_rates = [r.ns_per_day for r in runs]
    wall: dict[str, Spread] = {}
    for stage in order:
        spec = cfg.stages[stage]
        if stage in master:
            done = [t for (t,) in s.execute(select(Event.time).where(Event.stage == stage, Event.kind == EventKind.DONE)
                                            .order_by(Event.time))]
            gaps = spread((b - a).total_seconds() for a, b in zip(done, done[1:]))
            if gaps:
                wall[stage] = gaps
            continue
        minimisation, total_ps = _md_length(project, stage) if spec.kind == "gromacs" else (True, None)
        if total_ps:
            rates = spread([r.ns_per_day for r in runs if r.stage == stage] or all_rates or running_rates)
            if rates:  # the fastest speed gives the shortest time
                lo, mid, hi = (total_ps / 1000.0 / rate * 86400.0 for rate in (rates[2], rates[1], rates[0]))
                wall[stage] = (lo, mid, hi)
            continue
        took = spread((j.ended - j.started).total_seconds() for j in jobs
                      if j.stage == stage and j.state == JobState.D and j.started and j.ended)
        if took:
            wall[stage] = took
    chains: list[list[StageLeft]] = []
    excluded: Counter = Counter()
    by_model: dict[int, list[StageStatus]] = defaultdict(list)
    for r in statuses:
        by_model[r.model].append(r)
    for rows in by_model.values():
        states = {r.state for r in rows}
        if rows[0].model_status != ModelStatus.OK:
            excluded["incomplete (waiting for missing residues)"] += 1
            continue
        if StageState.FAILED in states:
            excluded["failed for good"] += 1
            continue
        if StageState.HELD in states:
            excluded["held"] += 1
            continue
        chain = []
        for r in sorted(rows, key=lambda r: order.index(r.stage) if r.stage in order else 99):
            if r.state in (StageState.DONE, StageState.FINISHING):
                continue
            p = r.progress if r.running else None
            if p is not None:
                left = 1.0 - (p.fraction or 0.0)
                chain.append(StageLeft(r.stage, left=left, running_left_s=p.left_s, started=True))
            else:
                chain.append(StageLeft(r.stage, started=r.running))
        if chain:
            chains.append(chain)
    slots = max(1, peak_concurrency(intervals))
    wait = spread(waits) or (0.0, 0.0, 0.0)
    basis = []
    if all_rates:
        lo, _, hi = spread(all_rates)
        basis.append(f"from {len(all_rates)} finished MD run(s) at {lo:.3g}-{hi:.3g} ns/day")
    elif running_rates:
        basis.append(f"from the speed of {len(running_rates)} running job(s) (no MD run has finished yet)")
    basis.append(f"a median queue wait of {duration_text(wait[1])}" if waits else "no queue wait measured yet")
    basis.append(f"up to {slots} job(s) at once")
    rates = spread(all_rates or running_rates)
    factor = (rates[1] / rates[2], 1.0, rates[1] / rates[0]) if rates and rates[0] > 0 else (1.0, 1.0, 1.0)
    return forecast(chains, Durations(wall, wait, slots, frozenset(master), factor), dict(excluded),
                    ", ".join(basis))


def project_summary(s: Session, project: Project, *, mutants: Sequence[str] | None = None, now: datetime) -> dict:
    """``mpflow status --summary``: per cluster what dual submission bought and the speed of its
    finished runs, which cluster is faster where both ran, and the forecast for the models of
    ``mutants`` (default: all)."""
    clusters = dual_submission_summary(s, project.cluster_names)
    runs = finished_runs(s)
    rows = speed_table(runs)
    for c, d in clusters.items():
        d["speed"] = [r.as_dict() for r in rows if r.cluster == c]
    statuses = [r for r in stage_statuses(s, stage_order=project.config.stage_order())
                if not mutants or r.mutant in mutants]
    fc = project_forecast(s, project, statuses, runs, now)
    last = project.config.stage_order()[-1]
    eta = now + timedelta(seconds=fc.seconds[1]) if fc.seconds else None
    return {"clusters": clusters, "faster": faster_lines(rows),
            "forecast": {**fc.as_dict(), "through": last, "eta": eta.isoformat(timespec="seconds") if eta else None,
                         "sentence": forecast_sentence(fc, last, clock_text(eta, now) if eta else None)}}
