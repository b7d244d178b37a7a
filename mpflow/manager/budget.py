"""Being polite to each cluster, as pure decisions on its ``SiteRecord``: when it may be observed again,
how long to back off, how many more copies it has room for, and the lines ``mpflow status`` shows.

- **query budget**: at most one observation (``squeue``, ``sacct`` where needed, the job folders) per
  cluster per ``min_observe_interval_s`` (60 s by default), however often the manager ticks (15 s);
  ticks in between decide and act on what the database knows, so a stage that became ready is
  submitted at once and a copy that lost the race is cancelled at once. AiiDA keeps such an interval
  per computer (``minimum_scheduler_poll_interval``); mpflow keeps the last observation in the
  database, so a tick in a new process (every Prefect flow run is one) still honours it.
- **back-off**: after the controller answers "Socket timed out", "Slurm temporarily unable" or a rate
  limit, nothing is sent to that cluster for twice its interval, doubling at each such answer up to
  ``backoff_max_s``; the first good observation ends it. While it lasts the cluster is ``?`` to the
  rule (never read as not submitted, never cancelled).
- **room**: at most ``max_queued`` of the user's jobs queued or running on a cluster (all of them, as the
  same ``squeue`` lists them), and after ``sbatch`` was refused by a limit of the site at N of the user's
  jobs, at most N until :data:`LIMIT_MEMORY_S` has passed (then one submission finds out again).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from mpflow.clusters.settings import ClusterSettings
from mpflow.store.sites import SiteRecord

LIMIT_MEMORY_S = 3600.0
"""How long a limit the site enforced (a refused sbatch) caps the copies sent there; then one more
submission tells whether it still holds."""

GROMACS_RECHECK_S = 86400.0
"""A cluster's GROMACS versions are read again after this long (a module default changes rarely)."""


def in_backoff(site: SiteRecord, now: datetime) -> bool:
    return site.backoff_until is not None and now < site.backoff_until


def observe_due(site: SiteRecord, settings: ClusterSettings, now: datetime) -> bool:
    """Whether the cluster may be observed now: not backing off, and its interval has passed."""
    if in_backoff(site, now):
        return False
    return site.observed is None or (now - site.observed).total_seconds() >= settings.min_observe_interval_s


def next_backoff_s(site: SiteRecord, settings: ClusterSettings) -> float:
    """The back-off after one more busy answer: twice the interval (at least 60 s) at first, then
    doubling, never more than ``backoff_max_s``."""
    first = max(2 * settings.min_observe_interval_s, 60.0)
    return min(settings.backoff_max_s, 2 * site.backoff_s if site.backoff_s else first)


def backoff_values(site: SiteRecord, settings: ClusterSettings, reason: str, now: datetime) -> dict:
    """The ``SiteRecord`` fields of a new back-off after the busy answer ``reason``."""
    wait = next_backoff_s(site, settings)
    return {"backoff_s": wait, "backoff_until": now + timedelta(seconds=wait), "backoff_reason": reason}


CLEARED_BACKOFF = {"backoff_s": None, "backoff_until": None, "backoff_reason": None}


def limit_in_force(site: SiteRecord, now: datetime) -> bool:
    return (site.limit_jobs is not None and site.limit_since is not None
            and (now - site.limit_since).total_seconds() < LIMIT_MEMORY_S)


def room(site: SiteRecord, settings: ClusterSettings, now: datetime) -> tuple[int, str | None]:
    """How many more copies may be submitted to the cluster now, and why no more when that is the cap."""
    cap, why = settings.max_queued, f"max_queued {settings.max_queued} reached"
    if limit_in_force(site, now) and site.limit_jobs < cap:
        cap, why = site.limit_jobs, f"{site.limit_reason or 'a limit of the site'} at {site.limit_jobs}"
    queued = site.user_jobs or 0
    left = max(0, cap - queued)
    return left, f"{why} ({queued} of the user's jobs queued or running)"


def _clock(when: datetime | None) -> str:
    return "-" if when is None else f"{when:%H:%M:%S}"


def site_lines(site: SiteRecord, settings: ClusterSettings | None, now: datetime) -> list[str]:
    """What ``mpflow status`` says of one cluster: when it was observed, a back-off, a limit, copies
    waiting for room, GROMACS that cannot read the master's files."""
    c = site.name
    lines = []
    if site.observed is not None:
        ago = (now - site.observed).total_seconds()
        every = "" if settings is None else (", at every tick" if not settings.min_observe_interval_s
                                             else f", at most every {settings.min_observe_interval_s:g} s")
        queued = "" if site.user_jobs is None else f"; {site.user_jobs} of the user's jobs queued or running"
        lines.append(f"{c}: observed {ago:.0f} s ago{every}{queued}")
    if in_backoff(site, now):
        lines.append(f"{c}: backing off until {_clock(site.backoff_until)} ({site.backoff_s:g} s) after the "
                     f"controller said: {site.backoff_reason}")
    if limit_in_force(site, now):
        lines.append(f"{c}: {site.limit_reason} met at {site.limit_jobs} of the user's jobs "
                     f"({_clock(site.limit_since)}); copies are sent again as jobs leave")
    if site.waiting:
        lines.append(f"{c}: {site.waiting}")
    if site.gromacs_problem:
        lines.append(f"{c}: GROMACS: {site.gromacs_problem}")
    return lines
