"""What the project knows of each cluster besides its jobs (the ``cluster_sites`` table), read as plain
records and written by name.

- the **query budget**: when the cluster was last observed, and a back-off the controller asked for
  ("Socket timed out", "Slurm temporarily unable", a rate limit) until when, how long, and why;
- **room**: the user's jobs queued or running there (all of them, from the same ``squeue``), a limit the
  site enforced (how many of the user's jobs there were when ``sbatch`` was refused, since when, and its
  name), and the copies left unsent this tick for lack of room;
- **GROMACS**: the versions of the cluster's ``grompp`` (the master's matters) and ``mdrun``, when they
  were read, or why they could not be.

The decisions on these records are pure functions of ``mpflow.manager.budget``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mpflow.store.schema import ClusterSite


@dataclass(frozen=True)
class SiteRecord:
    name: str
    observed: datetime | None = None
    user_jobs: int | None = None
    backoff_until: datetime | None = None
    backoff_s: float | None = None
    backoff_reason: str | None = None
    limit_jobs: int | None = None
    limit_reason: str | None = None
    limit_since: datetime | None = None
    waiting: str | None = None
    grompp_version: str | None = None
    mdrun_version: str | None = None
    gromacs_checked: datetime | None = None
    gromacs_problem: str | None = None


SITE_FIELDS = tuple(f.name for f in fields(SiteRecord))


def site_records(s: Session) -> dict[str, SiteRecord]:
    """Every cluster's record by name (a cluster never recorded has none: use ``SiteRecord(name)``)."""
    columns = [getattr(ClusterSite, f) for f in SITE_FIELDS]
    return {row[0]: SiteRecord(*row) for row in s.execute(select(*columns))}


def update_site(s: Session, name: str, **values) -> None:
    """Write ``values`` (fields of :class:`SiteRecord`) into cluster ``name``'s row, made if missing."""
    unknown = sorted(set(values) - set(SITE_FIELDS[1:]))
    if unknown:
        raise ValueError(f"update_site: unknown field(s) {unknown}")
    row = s.get(ClusterSite, name)
    if row is None:
        row = ClusterSite(name=name)
        s.add(row)
    for key, value in values.items():
        setattr(row, key, value)
