"""What Slurm's words mean for mpflow: pending reasons a job never leaves, sbatch refusals that are
back-pressure, and controller answers that ask a client to back off. Pure, no I/O.

- :data:`PENDING_REASONS`: the pending reasons (squeue's ``%r``) after which a copy *cannot start*
  with the resources it asked for, each with the sentence of Slurm's documentation that says so
  (squeue(1), "JOB REASON CODES", Slurm 22.05) and mpflow's own line for ``mpflow status``. Reasons
  that may clear by themselves (a node that is down may come back) count only after a grace time.
  Every other reason (Priority, Resources, QOSMaxJobsPerUserLimit, PartitionDown, JobHeldUser...)
  is a queue that moves: the copy waits.
- :func:`refusal_kind`: an sbatch error that is a site's limit or policy (``QOSMaxSubmitJobPerUserLimit``,
  ``AssocMaxSubmitJobLimit``, "Job violates accounting/QOS policy"): the copy stays not submitted and
  is tried again when the cluster has room, never counted as a failed attempt; or a controller that
  is too busy to answer ("Socket timed out on send/recv operation", "Slurm temporarily unable to
  accept job", Slurm 23.02's RPC rate limit "Rate limit exceeded, please retry momentarily"): the
  manager backs off from that cluster.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PendingReason:
    """A pending reason after which a copy cannot start as asked."""

    code: str  # Slurm's reason code, or a pattern's name (e.g. "QOSMax*PerJobLimit")
    slurm_doc: str  # what Slurm's documentation says about it (squeue(1), Slurm 22.05)
    means: str  # mpflow's line: why this copy will not start with the same resources
    grace: bool = False  # may clear by itself (a node back up): counts only after the grace time


PENDING_REASONS: tuple[PendingReason, ...] = (
    PendingReason("PartitionTimeLimit", "The job's time limit exceeds its partition's current time limit.",
                  "the stage's time limit exceeds the partition's"),
    PendingReason("PartitionNodeLimit", "The number of nodes required by this job is outside of its "
                  "partition's current limits. Can also indicate that required nodes are DOWN or DRAINED.",
                  "the job's node count is outside the partition's limits, or its nodes are down", grace=True),
    PendingReason("AssocMax*PerJobLimit", "The job requests a resource that violates a per-job limit on the "
                  "requested association.", "the job asks for more than the association allows per job "
                  "(e.g. AssocMaxWallDurationPerJobLimit: its time limit)"),
    PendingReason("QOSMax*PerJobLimit", "The job requests a resource that violates a per-job limit on the "
                  "requested QOS.", "the job asks for more than its QOS allows per job "
                  "(e.g. QOSMaxWallDurationPerJobLimit: its time limit)"),
    PendingReason("QOSMax*PerNode*", "The job requests a resource that violates a per-job limit on the "
                  "requested QOS.", "the job asks for more per node than its QOS allows"),
    PendingReason("BadConstraints", "The job's constraints can not be satisfied.",
                  "the job's constraints match no node"),
    PendingReason("DependencyNeverSatisfied", "This job has a dependency on another job that will never be "
                  "satisfied.", "its dependency will never be satisfied"),
    PendingReason("InvalidAccount", "The job's account is invalid.", "the job's account is invalid here"),
    PendingReason("InvalidQOS", "The job's QOS is invalid.", "the job's QOS is invalid here"),
    PendingReason("ReqNodeNotAvail", "Some node specifically required by the job is not currently available. "
                  "[...] Nodes which are DOWN, DRAINED, or not responding will be identified as part of the "
                  "job's \"reason\" field as \"UnavailableNodes\". Such nodes will typically require the "
                  "intervention of a system administrator to make available.",
                  "the nodes it needs stay unavailable", grace=True),
    PendingReason("NodeDown", "A node required by the job is down.", "a node it needs stays down", grace=True),
)
"""Pending reasons a copy never leaves with the same resources (quotes: squeue(1), Slurm 22.05)."""


def _pattern(code: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(part) for part in code.split("*")) + "$")


_MATCHERS = [(_pattern(r.code), r) for r in PENDING_REASONS]


def reason_code(reason: str | None) -> str:
    """The code of a pending reason as squeue prints it: ``"ReqNodeNotAvail, UnavailableNodes:n1"``
    → ``"ReqNodeNotAvail"``; a parenthesised ``%R`` reason loses its parentheses."""
    text = (reason or "").strip().strip("()")
    return re.split(r"[,\s]", text, maxsplit=1)[0] if text else ""


def cannot_start(reason: str | None) -> PendingReason | None:
    """The table's entry when a copy pending for ``reason`` cannot start as asked, else None."""
    code = reason_code(reason)
    return next((r for pattern, r in _MATCHERS if pattern.match(code)), None)


def doomed_line(reason: str | None) -> str | None:
    """``"PartitionTimeLimit — the stage's time limit exceeds the partition's"``, or None."""
    entry = cannot_start(reason)
    return None if entry is None else f"{reason_code(reason)} — {entry.means}"


# ------------------------------------------------------------------------------------------------
# sbatch refusals and busy controllers
# ------------------------------------------------------------------------------------------------

class Refusal(enum.StrEnum):
    LIMIT = "limit"  # a limit or policy of the site: back-pressure, retried when there is room
    BUSY = "busy"  # the controller asks clients to back off


LIMIT_WORDS = ("MaxSubmitJob", "MaxSubmitJobs", "MaxJobsPerUser", "violates accounting/QOS policy",
               "Job violates accounting", "AssocGrpSubmitJobsLimit", "QOSGrpSubmitJobsLimit",
               "job submit limit", "MaxJobCount")
"""Words of sbatch's refusal by a limit: ``sbatch: error: QOSMaxSubmitJobPerUserLimit`` then
``Batch job submission failed: Job violates accounting/QOS policy (job submit limit, user's size and/or
time limits)`` (Slurm 22.05), ``AssocMaxSubmitJobLimit``, and a controller at MaxJobCount."""

BUSY_WORDS = ("Socket timed out on send/recv operation", "Slurm temporarily unable",
              "Rate limit exceeded", "RPC rate limit", "Resource temporarily unavailable")
"""Words of a controller too busy to answer (any command): mpflow backs off from that cluster."""


def refusal_kind(message: str) -> Refusal | None:
    """Whether a failed command's output is a site's limit, a busy controller, or neither."""
    low = message.lower()
    if any(w.lower() in low for w in BUSY_WORDS):
        return Refusal.BUSY
    if any(w.lower() in low for w in LIMIT_WORDS):
        return Refusal.LIMIT
    return None


def limit_code(message: str) -> str:
    """The limit's name in an sbatch refusal (``QOSMaxSubmitJobPerUserLimit``), or its first line."""
    found = re.search(r"\b((?:QOS|Assoc)\w*Limit)\b", message)
    if found:
        return found.group(1)
    return next((ln.strip() for ln in message.splitlines() if ln.strip()), "a limit of the site")
