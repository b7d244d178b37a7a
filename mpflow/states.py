"""mpflow's one vocabulary of states: a job on a cluster, why a job failed, a model-stage, a model.

Every layer speaks these enums: the Slurm parsers map Slurm's codes to :class:`JobState`, the jobs
database stores their values, the dual-cluster rule reads them, ``mpflow status`` prints them. They
are ``StrEnum``: a member equals its value (``JobState.PD == "PD"``), formats as its value, and is
what the database column holds, so no module spells a state as a string literal.
"""

from __future__ import annotations

import enum


class JobState(enum.StrEnum):
    """One job (or one copy of a model-stage) on one cluster."""

    SUBMITTING = "SUBMITTING"  # its row is committed, sbatch not yet confirmed (found again by its token)
    NS = "NS"  # not submitted
    PD = "PD"  # pending (queued, configuring, requeued, held)
    R = "R"  # running: started, so it wins the race in the dual-cluster rule
    D = "D"  # done: completed successfully, its outputs are in its folder
    F = "F"  # failed: any other terminal state; ``FailureKind`` says why
    UNKNOWN = "?"  # not known this time: the cluster could not be asked, or Slurm printed a code mpflow does not know


TERMINAL = frozenset({JobState.D, JobState.F})
"""States a job never leaves."""
ACTIVE = (JobState.SUBMITTING, JobState.PD, JobState.R)
"""States of a job row the manager still observes."""


class FailureKind(enum.StrEnum):
    """Why a job is F: what Slurm and the job's folder say, and what mpflow itself records. The
    manager's ``FAILURE_POLICY`` maps every member to what the failure costs."""

    # said by Slurm or the job's folder
    TIMEOUT = "timeout"  # reached its time limit
    NODE_FAILURE = "node_failure"  # a node of the job failed
    PREEMPTION = "preemption"  # preempted by a higher-priority job
    BOOT_FAILURE = "boot_failure"  # the node could not boot for the job
    OUT_OF_MEMORY = "out_of_memory"
    CANCELLED = "cancelled"  # scancel by a user or an administrator (not mpflow's own)
    NONZERO_EXIT = "nonzero_exit"  # the job script ended with a non-zero exit code
    DEADLINE = "deadline"  # terminated on its --deadline
    MISSING_OUTPUT = "missing_output"  # success by Slurm or the exit code, but the stage's output is not there
    LOST = "lost"  # Slurm has forgotten the job and it left no exit-code file (killed, or cancelled before it ran)
    UNKNOWN = "unknown"  # failed in a way Slurm does not name (SPECIAL_EXIT)
    # recorded by mpflow
    NOT_SUBMITTED = "not_submitted"  # the submission never reached the scheduler (no job carries its token)
    STALE_INPUTS = "stale_inputs"  # the job found its inputs missing or different from the master's
    CANCELLED_BY_MPFLOW = "cancelled_by_mpflow"  # the slower copy, cancelled because another cluster's started first
    SUBMIT_REFUSED = "submit_refused"  # sbatch (or the job's options) refused the job
    LIMITED = "limited"  # sbatch refused it by a limit or policy of the site (back-pressure: retried when there is room)
    CANNOT_START = "cannot_start"  # pending for a reason it never leaves (PartitionTimeLimit...): cancelled by mpflow
    INPUT_REFUSED = "input_refused"  # a preparation step refused the model's input (a bad structure): held, not retried


NEVER_RAN = frozenset({FailureKind.NOT_SUBMITTED, FailureKind.STALE_INPUTS, FailureKind.LIMITED})
"""Failures of jobs that never ran their work: their cluster is back to NS and joins the race again."""


class StageState(enum.StrEnum):
    """Where one model is in one stage of the pipeline."""

    WAITING = "waiting"  # the previous stage is not done
    READY = "ready"  # inputs are in place on every cluster: the manager may submit
    ACTIVE = "active"  # jobs queued or running
    FINISHING = "finishing"  # a job is done; its outputs are being brought back to the master
    DONE = "done"
    HELD = "held"  # needs a person (a failing protocol, outputs not brought back); the reason says why
    FAILED = "failed"  # the retry budget is spent on every cluster: failed for good
    BLOCKED = "blocked"  # derived, never stored: waiting behind a held or failed stage, or a model not ok


MANAGED = (StageState.READY, StageState.ACTIVE)
"""Model-stages the dual-cluster rule decides every tick."""
FINAL = frozenset({StageState.DONE, StageState.HELD, StageState.FAILED, StageState.BLOCKED})
"""Model-stages that do not move by themselves."""


class ModelStatus(enum.StrEnum):
    """A docked model as imported."""

    OK = "ok"  # complete and checked: its stages may run
    WAITING = "waiting"  # missing residues or atoms: held until completed (the reason names the gap)


class EventKind(enum.StrEnum):
    """What one row of the ``events`` table records (the flows emit each as a Prefect event)."""

    # a job on one cluster
    SUBMITTED = "submitted"  # sbatch gave it an id
    SUBMIT_REFUSED = "submit_refused"  # sbatch or its options refused it
    NOT_SUBMITTED = "not_submitted"  # a SUBMITTING row no job carries the token of: sbatch never ran
    RECOVERED = "recovered"  # a SUBMITTING row's job found again by its token
    ADOPTED = "adopted"  # after a restore: a job the restored database did not know, found again on its cluster
    QUEUED = "queued"  # back to pending (requeued)
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # cancelled by mpflow (the slower copy, or a copy of a stage done elsewhere)
    # a model-stage
    READY = "ready"  # inputs in place on every cluster
    WON = "won"  # a copy started first: the others are cancelled
    STAGE_DONE = "stage_done"  # a copy completed: its outputs come back to the master
    DONE = "done"  # outputs on the master: the next stage may start
    HELD = "held"  # needs a person; the reason says why
    RELEASED = "released"  # a person released it (``mpflow release``): prepared, or its outputs brought back, again
    FAILED_FOR_GOOD = "failed_for_good"  # the retry budget is spent on every cluster
    BACKED_UP = "backed_up"  # its folder copied to the backup location
    # a cluster
    CLUSTER_UNREACHABLE = "cluster_unreachable"  # a tick could not reach it (the first tick of an outage)
    CLUSTER_REACHABLE = "cluster_reachable"  # a tick reached it again
    # the jobs database
    RESTORED = "restored"  # restored from a backup: the ticks find again the jobs submitted since
    # a model
    IMPORTED = "imported"
    REPLACED = "replaced"  # a new file for a model that had not started
    MODEL_COMPLETED = "model_completed"  # missing residues or atoms rebuilt
    REGROUPED = "regrouped"  # moved to another conformation group
