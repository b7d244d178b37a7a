"""The manager's pure decisions without any cluster: reconcile (observations → job rows), the
per-cluster views (job rows → what the rule sees), decide (views → a plan), each against a table
written out row by row, and the failure policy for every failure kind."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import pytest

from mpflow.manager.decisions import (
    FAILURE_POLICY,
    Cost,
    StageCounters,
    add_doomed,
    cluster_views,
    decide,
    job_comment,
    reconcile,
    usable_targets,
)
from mpflow.manager.rule import ClusterView
from mpflow.project.file import ManagerSection
from mpflow.slurm.client import Observation
from mpflow.slurm.jobscript import INPUT_REFUSED_EXIT, INPUTS_MISSING_EXIT
from mpflow.stages.spec import StageSpec
from mpflow.states import EventKind, FailureKind, JobState, StageState
from mpflow.store.records import UNSET, JobChange, JobRecord, StageChange, StageRecord

NOW = datetime(2026, 12, 2, 12, 0, 0)
SUBMITTED = NOW - timedelta(minutes=10)
STARTED = NOW - timedelta(minutes=5)
ENDED = NOW - timedelta(minutes=1)
LIMITS = ManagerSection(max_continuations=1, max_requeues=1)
S, NS, PD, R, D, F, Q = (JobState.SUBMITTING, JobState.NS, JobState.PD, JobState.R, JobState.D, JobState.F,
                         JobState.UNKNOWN)
K = FailureKind


def job(id=1, cluster="alpha", state=PD, slurm_id="41", kind=None, counted=False, started=None, ended=None,
        attempt=1, model_id=7, stage="emmd", reason=None, resources=None, reason_since=None,
        missing_since=None) -> JobRecord:
    return JobRecord(id=id, model_id=model_id, stage=stage, cluster=cluster, attempt=attempt, state=state,
                     slurm_id=slurm_id, token=f"tok{id:04d}", failure_kind=kind, counted=counted, continuation=False,
                     cpus=2, submitted=SUBMITTED, started=started, ended=ended, reason=reason, resources=resources,
                     reason_since=reason_since, missing_since=missing_since)


def obs(state, *, job_id="41", kind=None, exit_code=None, start=None, end=None, detail=None,
        pending_reason=None) -> Observation:
    return Observation(key="1", state=state, failure_kind=kind, pending_reason=pending_reason, job_id=job_id,
                       start=start, end=end, exit_code=exit_code, detail=detail, slurm=None, files=None)


# ------------------------------------------------------------------------------------------------
# reconcile
# ------------------------------------------------------------------------------------------------

# row state, observed (state, failure kind, exit code, job id) → the change written, the event (None: none)
RECONCILE = [
    # a SUBMITTING row is resolved by its token
    (S, (NS, None, None, None), JobChange(1, state=F, failure_kind=K.NOT_SUBMITTED, counted=False,
                                          reason="submission not confirmed and no job carries its token", ended=NOW),
     EventKind.NOT_SUBMITTED),
    (S, (PD, None, None, "77"), JobChange(1, state=PD, slurm_id="77"), EventKind.QUEUED),
    (S, (R, None, None, "77"), JobChange(1, state=R, slurm_id="77", started=STARTED), EventKind.STARTED),
    (S, (Q, None, None, "77"), JobChange(1, slurm_id="77"), EventKind.RECOVERED),
    # nothing new: no change, no event
    (PD, (PD, None, None, "41"), None, None),
    (PD, (Q, None, None, "41"), None, None),
    (R, (R, None, None, "41"), None, None),
    # moves
    (PD, (R, None, None, "41"), JobChange(1, state=R, started=STARTED), EventKind.STARTED),
    (R, (D, None, 0, "41"), JobChange(1, state=D, ended=ENDED), EventKind.COMPLETED),
    (PD, (D, None, 0, "41"), JobChange(1, state=D, started=STARTED, ended=ENDED), EventKind.COMPLETED),
    (R, (PD, None, None, "41"), JobChange(1, state=PD), EventKind.QUEUED),  # requeued
    # failures and what they cost
    (R, (F, K.NONZERO_EXIT, 3, "41"), JobChange(1, state=F, failure_kind=K.NONZERO_EXIT, counted=True,
                                                 reason="exit code 3", ended=ENDED), EventKind.FAILED),
    (R, (F, K.NONZERO_EXIT, INPUTS_MISSING_EXIT, "41"),
     JobChange(1, state=F, failure_kind=K.STALE_INPUTS, counted=False, reason="exit code 65", ended=ENDED),
     EventKind.FAILED),
    (R, (F, K.TIMEOUT, None, "41"), JobChange(1, state=F, failure_kind=K.TIMEOUT, counted=False,
                                               reason="TIMEOUT", ended=ENDED), EventKind.FAILED),
    (R, (F, K.NODE_FAILURE, None, "41"), JobChange(1, state=F, failure_kind=K.NODE_FAILURE, counted=False,
                                                    reason="NODE_FAIL", ended=ENDED), EventKind.FAILED),
    (R, (F, K.OUT_OF_MEMORY, None, "41"), JobChange(1, state=F, failure_kind=K.OUT_OF_MEMORY, counted=True,
                                                     reason="OUT_OF_MEMORY", ended=ENDED), EventKind.FAILED),
    (PD, (F, K.CANCELLED, None, "41"), JobChange(1, state=F, failure_kind=K.CANCELLED, counted=True,
                                                  reason="CANCELLED", ended=ENDED), EventKind.FAILED),
    # known to nobody: it may still run (a lagging listing), so only marked missing, within its grace
    (R, (NS, None, None, "41"), JobChange(1, missing_since=NOW), None),
    (R, (F, None, None, "41"), JobChange(1, state=F, failure_kind=K.UNKNOWN, counted=True, reason="unknown",
                                          ended=ENDED), EventKind.FAILED),
]


@pytest.mark.parametrize("row_state, seen, change, event", RECONCILE,
                         ids=[f"{r[0]}->{r[1][0]}:{r[1][1] or ''}:{r[1][2] or ''}" for r in RECONCILE])
def test_reconcile_table(row_state, seen, change, event):
    state, kind, exit_code, job_id = seen
    started = STARTED if row_state in (S, PD) and state in (R, D) else None
    details = {K.NONZERO_EXIT: f"exit code {exit_code}", K.TIMEOUT: "TIMEOUT", K.NODE_FAILURE: "NODE_FAIL",
               K.OUT_OF_MEMORY: "OUT_OF_MEMORY", K.CANCELLED: "CANCELLED"}
    o = obs(state, job_id=job_id, kind=kind, exit_code=exit_code,
            start=STARTED if state in (R, D) else None, end=ENDED if state in (D, F) else None,
            detail=details.get(kind))
    j = job(state=row_state, slurm_id=None if row_state is S else "41",
            started=STARTED if row_state is R else None)
    out = reconcile([j], {"alpha": {"1": o}}, {}, LIMITS, NOW)
    assert out.job_changes == ([change] if change else [])
    assert [t.kind for t in out.transitions][-1:] == ([event] if event else [])


GRACE = ManagerSection(vanished_grace_s=600, unavailable_node_grace_s=3600)
LOST = obs(F, kind=K.LOST, detail="job 41 is no longer known to Slurm and wrote no exit-code file")


@pytest.mark.parametrize("missing_for, change", [
    (None, JobChange(1, missing_since=NOW)),  # first tick it is missing: only noted
    (599, None),  # within the grace: it may still run, nothing changes, nothing is resubmitted
    (600, JobChange(1, state=F, failure_kind=K.LOST, counted=False, reason=LOST.detail, ended=NOW)),
])
def test_a_vanished_job_is_judged_only_after_the_grace(missing_for, change):
    since = None if missing_for is None else NOW - timedelta(seconds=missing_for)
    out = reconcile([job(state=R, started=STARTED, missing_since=since)], {"alpha": {"1": LOST}}, {}, GRACE, NOW)
    assert out.job_changes == ([change] if change else [])


def test_a_job_seen_again_is_no_longer_missing():
    out = reconcile([job(state=R, started=STARTED, missing_since=ENDED)], {"alpha": {"1": obs(R, start=STARTED)}},
                    {}, GRACE, NOW)
    assert out.job_changes == [JobChange(1, missing_since=None)]


# pending reason seen, the row's reason and since how long → recorded change, doomed line (None: waits)
PENDING = [
    ("Priority", None, None, JobChange(1, reason="Priority", reason_since=NOW), None),
    ("Priority", "Priority", 7200, None, None),
    ("PartitionTimeLimit", None, None, JobChange(1, reason="PartitionTimeLimit", reason_since=NOW),
     "PartitionTimeLimit — the stage's time limit exceeds the partition's"),
    ("ReqNodeNotAvail, UnavailableNodes:beta-n1", None, None,
     JobChange(1, reason="ReqNodeNotAvail, UnavailableNodes:beta-n1", reason_since=NOW), None),  # grace starts
    ("ReqNodeNotAvail, UnavailableNodes:beta-n1", "ReqNodeNotAvail, UnavailableNodes:beta-n1", 3599, None, None),
    ("ReqNodeNotAvail, UnavailableNodes:beta-n1", "ReqNodeNotAvail, UnavailableNodes:beta-n1", 3600, None,
     "ReqNodeNotAvail — the nodes it needs stay unavailable"),
    ("QOSMaxJobsPerUserLimit", "QOSMaxJobsPerUserLimit", 86400, None, None),  # a queue that moves
]


@pytest.mark.parametrize("seen, had, for_s, change, doomed", PENDING, ids=[f"{p[0][:20]}-{p[2]}" for p in PENDING])
def test_pending_reasons_recorded_and_doomed_copies_found(seen, had, for_s, change, doomed):
    since = None if for_s is None else NOW - timedelta(seconds=for_s)
    out = reconcile([job(state=PD, reason=had, reason_since=since)], {"alpha": {"1": obs(PD, pending_reason=seen)}},
                    {}, GRACE, NOW)
    assert out.job_changes == ([change] if change else [])
    assert [line for _, line in out.doomed] == ([doomed] if doomed else [])


def test_a_cluster_not_observed_changes_nothing_on_it():
    j = job(state=R, started=STARTED)
    assert reconcile([j], {}, {}, LIMITS, NOW).job_changes == []
    assert reconcile([j], {"beta": {"1": obs(D)}}, {}, LIMITS, NOW).job_changes == []


def test_continuations_and_requeues_are_free_until_their_limit_then_count():
    counters = defaultdict(StageCounters)
    timeout = obs(F, kind=K.TIMEOUT, end=ENDED, detail="TIMEOUT")
    first = reconcile([job(state=R, started=STARTED)], {"alpha": {"1": timeout}}, counters, LIMITS, NOW)
    assert [c.counted for c in first.job_changes] == [False] and first.counters_changed == {(7, "emmd")}
    second = reconcile([job(state=R, started=STARTED)], {"alpha": {"1": timeout}}, counters, LIMITS, NOW)
    assert [c.counted for c in second.job_changes] == [True] and second.counters_changed == set()
    assert counters[(7, "emmd")] == StageCounters(continuations=1, requeues=0)
    node = obs(F, kind=K.NODE_FAILURE, end=ENDED, detail="NODE_FAIL")
    assert reconcile([job(state=R)], {"alpha": {"1": node}}, counters, LIMITS, NOW).job_changes[0].counted is False
    assert reconcile([job(state=R)], {"alpha": {"1": node}}, counters, LIMITS, NOW).job_changes[0].counted is True


def test_stale_inputs_send_the_inputs_again():
    out = reconcile([job(state=R)], {"alpha": {"1": obs(F, kind=K.NONZERO_EXIT, exit_code=INPUTS_MISSING_EXIT)}},
                    {}, LIMITS, NOW)
    assert out.resend == {(7, "emmd")} and out.counters_changed == set()


def test_a_refused_input_holds_the_model_stage_with_the_jobs_line():
    line = "Fatal error: Residue 'XYZ' not found in residue topology database"
    out = reconcile([job(state=R)], {"alpha": {"1": obs(F, kind=K.NONZERO_EXIT, exit_code=INPUT_REFUSED_EXIT,
                                                          detail=line)}}, {}, LIMITS, NOW)
    assert out.hold == {(7, "emmd"): line} and out.resend == set()
    assert out.job_changes[0].failure_kind is K.INPUT_REFUSED and out.job_changes[0].counted is False


def test_every_failure_kind_has_a_cost():
    assert set(FAILURE_POLICY) == set(FailureKind)
    assert {FAILURE_POLICY[k] for k in (K.NOT_SUBMITTED, K.CANCELLED_BY_MPFLOW)} == {Cost.FREE}
    assert FAILURE_POLICY[K.TIMEOUT] is Cost.CONTINUE and FAILURE_POLICY[K.STALE_INPUTS] is Cost.RESEND


# ------------------------------------------------------------------------------------------------
# cluster_views
# ------------------------------------------------------------------------------------------------

SPEC = StageSpec(kind="gromacs", mdp="emmd", nsteps=10, retry_budget=2)
BACKOFF = [30, 120]
RES = "--partition=short --time=5"

# the model-stage's rows on alpha (oldest first), alpha unreachable? → alpha's view
VIEWS = [
    ([], False, ClusterView(NS, attempts_left=2)),
    ([job(state=S, slurm_id=None)], False, ClusterView(PD, attempts_left=2)),
    ([job(state=PD)], False, ClusterView(PD, attempts_left=2)),
    ([job(state=R, started=STARTED)], False, ClusterView(R, attempts_left=2, started=STARTED)),
    ([job(state=D, started=STARTED, ended=ENDED)], False, ClusterView(D, attempts_left=2, started=STARTED)),
    # a counted failure a minute ago: one attempt left, and its 30 s backoff is over
    ([job(state=F, kind=K.NONZERO_EXIT, counted=True, ended=ENDED)], False, ClusterView(F, attempts_left=1)),
    ([job(state=F, kind=K.NONZERO_EXIT, counted=True, ended=NOW - timedelta(seconds=10))], False,
     ClusterView(F, attempts_left=1, in_backoff=True)),
    # the second counted failure waits 120 s
    ([job(1, state=F, kind=K.NONZERO_EXIT, counted=True, ended=NOW - timedelta(seconds=300)),
      job(2, state=F, kind=K.NONZERO_EXIT, counted=True, ended=ENDED, attempt=2)], False,
     ClusterView(F, attempts_left=0, in_backoff=True)),
    # a timeout continues here from its checkpoint
    ([job(state=F, kind=K.TIMEOUT, counted=False, ended=ENDED)], False, ClusterView(F, attempts_left=2,
                                                                                     resume_here=True)),
    # jobs that never ran put the cluster back to NS
    ([job(state=F, kind=K.NOT_SUBMITTED, ended=ENDED)], False, ClusterView(NS, attempts_left=2)),
    ([job(state=F, kind=K.STALE_INPUTS, ended=ENDED)], False, ClusterView(NS, attempts_left=2)),
    # the slower copy cancelled by mpflow is F, not counted
    ([job(state=F, kind=K.CANCELLED_BY_MPFLOW, ended=ENDED)], False, ClusterView(F, attempts_left=2)),
    # unreachable: ? with its last known state
    ([], True, ClusterView(Q, attempts_left=2, last_known=NS)),
    ([job(state=R, started=STARTED)], True, ClusterView(Q, attempts_left=2, last_known=R)),
    ([job(state=F, kind=K.NONZERO_EXIT, counted=True, ended=ENDED)], True, ClusterView(Q, attempts_left=1,
                                                                                         last_known=F)),
    # refused by a site's limit: back to NS, not counted (sent again when there is room)
    ([job(state=F, kind=K.LIMITED, ended=ENDED)], False, ClusterView(NS, attempts_left=2)),
    # could not start with what it asked: doomed while a new copy would ask the same...
    ([job(state=F, kind=K.CANNOT_START, ended=ENDED, resources=RES)], False,
     ClusterView(F, attempts_left=2, doomed=True)),
    # ...and not when the cluster's resources for the stage were changed since
    ([job(state=F, kind=K.CANNOT_START, ended=ENDED, resources="--partition=short --time=90")], False,
     ClusterView(F, attempts_left=2)),
]


@pytest.mark.parametrize("rows, unreachable, view", VIEWS, ids=[f"row{i}" for i in range(len(VIEWS))])
def test_cluster_views_table(rows, unreachable, view):
    views = cluster_views(rows, ["alpha", "beta"], {"alpha"} if unreachable else set(), SPEC, BACKOFF, NOW,
                          {"alpha": RES})
    assert views == {"alpha": view, "beta": ClusterView(NS, attempts_left=2)}  # beta has no job yet


# ------------------------------------------------------------------------------------------------
# decide
# ------------------------------------------------------------------------------------------------

def stage(state=StageState.READY, winner=None, id=3, stage_name="emmd") -> StageRecord:
    return StageRecord(id=id, model_id=7, stage=stage_name, state=state, winner=winner, continuations=0, requeues=0,
                       mutant="WT", group="None", name="m1")


SPECS = {"emmd": SPEC, "prep": StageSpec(kind="protocol", protocol="prep", clusters="master"),
         "solo": StageSpec(kind="script", commands=["true"], clusters="master")}

# the stage row, its job rows, unreachable → submissions, cancellations, stage change, event
DECIDE = [
    (stage(), [], set(), {"alpha": [False], "beta": [False]}, {}, StageChange(3, state=StageState.ACTIVE), None),
    (stage(StageState.ACTIVE), [job(1, "alpha", PD), job(2, "beta", PD, slurm_id="9")], set(), {}, {}, None, None),
    (stage(StageState.ACTIVE), [job(1, "alpha", PD), job(2, "beta", R, slurm_id="9", started=STARTED)], set(),
     {}, {"alpha": ["41"]}, StageChange(3, state=StageState.ACTIVE, winner="beta"), EventKind.WON),
    (stage(StageState.ACTIVE, winner="beta"), [job(1, "alpha", PD), job(2, "beta", R, slurm_id="9",
                                                                       started=STARTED)],
     set(), {}, {"alpha": ["41"]}, None, None),  # the win is recorded once; the cancel goes again
    (stage(StageState.ACTIVE, winner="beta"),
     [job(1, "alpha", F, kind=K.CANCELLED_BY_MPFLOW, ended=ENDED), job(2, "beta", D, slurm_id="9",
                                                                       started=STARTED, ended=ENDED)],
     set(), {}, {}, StageChange(3, state=StageState.FINISHING, winner="beta", reason=None), EventKind.STAGE_DONE),
    (stage(StageState.ACTIVE), [job(1, "alpha", F, kind=K.NONZERO_EXIT, counted=True, ended=NOW - timedelta(hours=1)),
                                job(2, "alpha", F, kind=K.NONZERO_EXIT, counted=True, ended=NOW - timedelta(hours=1),
                                    attempt=2),
                                job(3, "beta", F, kind=K.OUT_OF_MEMORY, counted=True, ended=NOW - timedelta(hours=1),
                                    slurm_id="9"),
                                job(4, "beta", F, kind=K.OUT_OF_MEMORY, counted=True, ended=NOW - timedelta(hours=1),
                                    slurm_id="10", attempt=2)],
     set(), {}, {}, StageChange(3, state=StageState.FAILED,
                                reason="failed for good (alpha: nonzero_exit; beta: out_of_memory)"),
     EventKind.FAILED_FOR_GOOD),
    # beta unreachable, last seen running: nothing is submitted or cancelled anywhere
    (stage(StageState.ACTIVE), [job(1, "alpha", F, kind=K.CANCELLED_BY_MPFLOW, ended=ENDED),
                                job(2, "beta", R, slurm_id="9", started=STARTED)], {"beta"}, {}, {}, None, None),
    # a timeout continues from its checkpoint on the cluster that has it, only there
    (stage(StageState.ACTIVE), [job(1, "alpha", F, kind=K.TIMEOUT, ended=ENDED),
                                job(2, "beta", F, kind=K.CANCELLED_BY_MPFLOW, ended=ENDED, slurm_id="9")],
     set(), {"alpha": [True]}, {}, None, None),
    # a stage that runs on the master only
    (stage(stage_name="solo"), [], set(), {"alpha": [False]}, {}, StageChange(3, state=StageState.ACTIVE), None),
]


@pytest.mark.parametrize("st, rows, unreachable, submit, cancel, change, event", DECIDE,
                         ids=[f"row{i}" for i in range(len(DECIDE))])
def test_decide_table(st, rows, unreachable, submit, cancel, change, event):
    rows = [j if j.stage == st.stage else j.__class__(**{**j.__dict__, "stage": st.stage}) for j in rows]
    plan = decide([st], {(7, st.stage): rows}, SPECS, ["alpha", "beta"], unreachable, BACKOFF, NOW)
    assert {c: [resume for _, resume in items] for c, items in plan.submit.items() if items} == submit
    assert {c: [j.slurm_id for j, _ in items] for c, items in plan.cancel.items() if items} == cancel
    assert plan.stage_changes == ([change] if change else [])
    assert [t.kind for t in plan.transitions] == ([event] if event else [])


PTL = "PartitionTimeLimit — the stage's time limit exceeds the partition's"


def test_a_stage_whose_every_copy_cannot_start_is_held_with_the_reasons():
    rows = [job(1, "alpha", F, kind=K.CANNOT_START, ended=ENDED, reason=PTL, resources=RES),
            job(2, "beta", F, kind=K.CANNOT_START, ended=ENDED, slurm_id="9", reason=PTL, resources=RES)]
    res = {("emmd", "alpha"): RES, ("emmd", "beta"): RES}
    plan = decide([stage(StageState.ACTIVE)], {(7, "emmd"): rows}, SPECS, ["alpha", "beta"], set(), BACKOFF, NOW,
                  resources=res)
    assert plan.stage_changes == [StageChange(3, state=StageState.HELD,
                                              reason=f"cancelled on alpha: {PTL}; cancelled on beta: {PTL}")]
    assert [t.kind for t in plan.transitions] == [EventKind.HELD] and not plan.submit
    # one copy doomed, the other cluster free: only the other is sent a copy
    plan = decide([stage(StageState.ACTIVE)], {(7, "emmd"): rows[1:]}, SPECS, ["alpha", "beta"], set(), BACKOFF, NOW,
                  resources=res)
    assert {c: len(v) for c, v in plan.submit.items() if v} == {"alpha": 1}


def test_a_cluster_left_out_of_a_stage_is_not_sent_it_and_all_left_out_holds_it():
    left_out = {"emmd": {"beta": "its mdrun (GROMACS 2018.8) cannot read .tpr files of the master's grompp "
                                 "(GROMACS 2022.5)"}}
    plan = decide([stage()], {}, SPECS, ["alpha", "beta"], set(), BACKOFF, NOW, excluded=left_out)
    assert {c: len(v) for c, v in plan.submit.items() if v} == {"alpha": 1}
    both = {"emmd": {"alpha": "x", "beta": "y"}}
    plan = decide([stage()], {}, SPECS, ["alpha", "beta"], set(), BACKOFF, NOW, excluded=both)
    assert plan.stage_changes == [StageChange(3, state=StageState.HELD, reason="not sent to alpha: x; not sent to beta: y")]
    assert usable_targets(["alpha", "beta", "gamma"], {"beta": "y"}) == ["alpha", "gamma"]


def test_doomed_copies_are_cancelled_with_their_reason_even_when_they_lost_the_race():
    plan = decide([stage(StageState.ACTIVE)], {(7, "emmd"): [job(1, "alpha", PD), job(2, "beta", R, slurm_id="9",
                                                                                         started=STARTED)]},
                  SPECS, ["alpha", "beta"], set(), BACKOFF, NOW)
    add_doomed(plan, [(job(1, "alpha", PD), PTL), (job(5, "beta", PD, slurm_id="12"), PTL)])
    assert {c: [j.id for j, _ in v] for c, v in plan.doomed.items()} == {"alpha": [1], "beta": [5]}
    assert not any(plan.cancel.values())  # alpha's copy lost the race, but it is recorded as unable to start


def test_unset_fields_are_not_written_and_none_clears():
    assert JobChange(1, state=F).state is F and JobChange(1).reason is UNSET
    assert StageChange(1, reason=None).reason is None


def test_the_jobs_comment_names_the_model_stage():
    assert job_comment(stage()) == "WT:None:m1:emmd"
