"""What the project knows of each cluster besides its jobs (the ``clusters`` table): the claim on the
project's folder there, and whether the manager's ticks reach it.

- **claim**: the folder ``<cluster workdir>/<project name>`` was verified to hold this project's
  marker (``mpflow.project.claim``); recorded so a tick checks it once, not every 15 seconds, and again
  only when the folder changes (a cluster's workdir edited in its block).
- **reachability**: a tick that could not reach a cluster records since when (the first tick of the
  outage) and why; the first tick that reaches it again clears that. ``mpflow status`` shows a
  cluster's job states as stale, with since when, while it is unreachable. Each change is also an
  event (``cluster_unreachable``, ``cluster_reachable``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from mpflow.states import EventKind, JobState
from mpflow.store.records import Transition, record_events
from mpflow.store.schema import ClusterState

REACHABLE = "reachable"
"""An event's from/to state for a cluster the ticks reach (``?`` when they do not)."""


@dataclass(frozen=True)
class ClusterRecord:
    name: str
    workdir: str | None
    claimed: datetime | None
    reached: datetime | None
    unreachable_since: datetime | None
    unreachable_reason: str | None

    def claims(self, workdir: str) -> bool:
        """This project's marker was verified in ``workdir`` on this cluster."""
        return self.claimed is not None and self.workdir == workdir


def cluster_records(s: Session) -> dict[str, ClusterRecord]:
    rows = s.execute(select(ClusterState.name, ClusterState.workdir, ClusterState.claimed, ClusterState.reached,
                            ClusterState.unreachable_since, ClusterState.unreachable_reason))
    return {r.name: ClusterRecord(*r) for r in rows}


def _row(s: Session, name: str) -> ClusterState:
    row = s.get(ClusterState, name)
    if row is None:
        row = ClusterState(name=name)
        s.add(row)
    return row


def record_claim(s: Session, name: str, workdir: str, when: datetime) -> None:
    """The project's marker is verified in ``workdir`` on cluster ``name``."""
    row = _row(s, name)
    row.workdir, row.claimed = workdir, when


def record_reachability(s: Session, reached: Iterable[str], unreachable: Mapping[str, str],
                        when: datetime) -> list[Transition]:
    """Clusters a tick reached and those it could not (with why); returns the events of the changes
    (a cluster becoming unreachable, or reachable again), already written."""
    transitions = []
    for name in reached:
        if name in unreachable:
            continue
        row = _row(s, name)
        if row.unreachable_since is not None:
            down = (when - row.unreachable_since).total_seconds()
            transitions.append(Transition(EventKind.CLUSTER_REACHABLE, None, None, name, None, JobState.UNKNOWN,
                                          REACHABLE, f"reachable again after {down:.0f} s", value=down, time=when))
        row.reached, row.unreachable_since, row.unreachable_reason = when, None, None
    for name, why in unreachable.items():
        row = _row(s, name)
        if row.unreachable_since is None:
            row.unreachable_since = when
            transitions.append(Transition(EventKind.CLUSTER_UNREACHABLE, None, None, name, None, REACHABLE,
                                          JobState.UNKNOWN, why, time=when))
        row.unreachable_reason = why
    s.flush()
    record_events(s, transitions)
    return transitions
