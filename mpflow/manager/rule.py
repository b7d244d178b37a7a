"""The dual-cluster rule: from each cluster's state of one model-stage to the actions to take.

One pure function, :func:`dual_cluster_actions`, with no I/O and no clock of its own. Per cluster the
state is one of ``NS`` (not submitted), ``PD``, ``R``, ``D``, ``F`` or ``?`` (the cluster could not be
reached this tick). The seed's two rules:

1. every cluster in {NS, F} → submit to every cluster (while the retry budget lasts);
2. one cluster in {R, D} and another in {PD, F, NS} → cancel the other if it is PD, nothing otherwise;

and the extensions of DESIGN.md ("Job states and the dual-cluster rule"):

- a D anywhere → the model-stage is done; every PD or R elsewhere is cancelled (D + R → cancel the R);
- several R (they started within one tick) → keep the one that started first (ties: cluster order,
  the master first) and cancel the others;
- ``?`` is never cancelled and never read as NS. With ``?`` on one cluster and {NS, F} on the others,
  the reachable ones are submitted to only if the unreachable one's last known state was NS or F;
- budget: a cluster whose counted attempts are spent is not submitted to; when every cluster is F
  and spent, the model-stage has failed for good (never resubmitted again);
- a cluster whose copy was cancelled because it could never start there (``doomed``: pending for
  PartitionTimeLimit and the like) is not submitted to again with the same resources; when no cluster
  can take a copy and one of them is doomed, the model-stage is held for a person (``HELD``);
- what a failure costs is decided before this function (see ``ClusterView``): a job that hit its time
  limit continues from its checkpoint on the cluster that holds it, without counting; a node failure
  or preemption is resubmitted at once; a non-zero exit counts and waits out a backoff.
- a cluster left at NS while another is PD (it missed the submission, e.g. it was unreachable then)
  joins the race once it can be reached.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from mpflow.states import JobState

NS, PD, R, D, F, UNREACHABLE = JobState.NS, JobState.PD, JobState.R, JobState.D, JobState.F, JobState.UNKNOWN


class Outcome(enum.StrEnum):
    WAIT = "wait"  # nothing to do this tick (queued, in backoff, or a cluster unknown)
    SUBMIT = "submit"  # submissions only
    ACTIVE = "active"  # a job runs; cancellations may go with it
    DONE = "done"  # a job completed; cancellations may go with it
    FAILED = "failed"  # every cluster failed and its budget is spent: failed for good
    HELD = "held"  # no copy can start anywhere as asked (cancelled as doomed): a person changes the resources


@dataclass(frozen=True)
class ClusterView:
    """What the rule knows about one model-stage on one cluster."""

    state: JobState  # NS, PD, R, D, F, or UNKNOWN (?) when the cluster could not be reached
    attempts_left: int = 1  # counted attempts still allowed here
    started: datetime | None = None  # when its job started running (R, D)
    last_known: JobState = NS  # the last state seen before this tick (meaningful for ``?``)
    in_backoff: bool = False  # a counted failure whose backoff has not run out
    resume_here: bool = False  # a timed-out job with a checkpoint here: continue here only
    doomed: bool = False  # its copy could not start here (PartitionTimeLimit...) and would ask the same again

    @property
    def can_submit(self) -> bool:
        return (self.attempts_left > 0 or self.resume_here) and not self.doomed


@dataclass(frozen=True)
class Actions:
    outcome: Outcome
    submit: tuple[str, ...] = ()
    cancel: tuple[str, ...] = ()
    winner: str | None = None
    why: str = ""


def _earliest_start(running: list[tuple[str, ClusterView]]) -> str:
    # Unknown start times sort last; ties keep cluster order (the master first).
    order = {name: i for i, (name, _) in enumerate(running)}
    return min(running, key=lambda nv: (nv[1].started is None, nv[1].started or datetime.max, order[nv[0]]))[0]


def dual_cluster_actions(views: Mapping[str, ClusterView]) -> Actions:
    """The actions for one model-stage. ``views`` is ordered: the master first."""
    items = list(views.items())
    names_in = lambda *states: [n for n, v in items if v.state in states]  # noqa: E731

    done = names_in(D)
    if done:
        cancel = tuple(names_in(PD, R))
        return Actions(Outcome.DONE, cancel=cancel, winner=done[0],
                       why=f"done on {done[0]}" + (f"; cancel {', '.join(cancel)}" if cancel else ""))

    running = [(n, v) for n, v in items if v.state is R]
    if running:
        winner = _earliest_start(running)
        cancel = tuple(n for n, v in items if v.state in (PD, R) and n != winner)
        why = f"running on {winner}"
        if len(running) > 1:
            why += " (started first)"
        if cancel:
            why += f"; cancel {', '.join(cancel)}"
        return Actions(Outcome.ACTIVE, cancel=cancel, winner=winner, why=why)

    unreachable = [(n, v) for n, v in items if v.state is UNREACHABLE]
    if unreachable and len(unreachable) == len(items):
        return Actions(Outcome.WAIT, why="no cluster reachable")
    if any(v.last_known in (PD, R, D) for _, v in unreachable):
        seen = ", ".join(f"{n} (last {v.last_known.value})" for n, v in unreachable)
        return Actions(Outcome.WAIT, why=f"unreachable: {seen}; it may be running there")

    pending = names_in(PD)
    if pending:
        joiners = tuple(n for n, v in items if v.state is NS and v.can_submit)
        if joiners:
            return Actions(Outcome.SUBMIT, submit=joiners,
                           why=f"pending on {', '.join(pending)}; {', '.join(joiners)} joins the race")
        return Actions(Outcome.WAIT, why=f"pending on {', '.join(pending)}")

    # Every reachable cluster is in {NS, F}.
    reachable = [(n, v) for n, v in items if v.state is not UNREACHABLE]
    resume = tuple(n for n, v in reachable if v.resume_here)
    if resume:
        return Actions(Outcome.SUBMIT, submit=resume, why=f"continue from the checkpoint on {', '.join(resume)}")
    can = [(n, v) for n, v in reachable if v.can_submit]
    if not can:
        doomed = [n for n, v in reachable if v.doomed]
        if doomed and not unreachable:
            return Actions(Outcome.HELD, why=f"no copy can start as asked (on {', '.join(doomed)})")
        if unreachable:
            return Actions(Outcome.WAIT, why="budget spent on the reachable clusters; waiting for "
                                              + ", ".join(n for n, _ in unreachable))
        return Actions(Outcome.FAILED, why="failed on every cluster and the retry budget is spent")
    if any(v.in_backoff for _, v in can):
        return Actions(Outcome.WAIT, why="waiting out the backoff after a failure")
    submit = tuple(n for n, _ in can)
    return Actions(Outcome.SUBMIT, submit=submit, why=f"submit to {', '.join(submit)}")
