"""The dual-cluster rule against the full table of state pairs, each row written out.

Columns: alpha (the master), beta, then the expected outcome, submissions, cancellations and winner.
Default context: one attempt left on each cluster, no backoff, alpha's job started before beta's
when both run, and an unreachable cluster's last known state NS.
"""

from datetime import datetime

import pytest

from mpflow.manager.rule import (
    NS,
    PD,
    UNREACHABLE,
    ClusterView,
    D,
    F,
    Outcome,
    R,
    dual_cluster_actions,
)

T0 = datetime(2026, 11, 26, 12, 0, 0)
T1 = datetime(2026, 11, 26, 12, 0, 5)
Q = UNREACHABLE
WAIT, SUBMIT, ACTIVE, DONE, FAILED = Outcome.WAIT, Outcome.SUBMIT, Outcome.ACTIVE, Outcome.DONE, Outcome.FAILED

# alpha, beta → outcome, submit, cancel, winner
TABLE = [
    (NS, NS, SUBMIT, ("alpha", "beta"), (), None),  # seed rule 1
    (NS, PD, SUBMIT, ("alpha",), (), None),  # alpha missed the submission: joins the race
    (NS, R, ACTIVE, (), (), "beta"),  # seed rule 2: nothing to cancel
    (NS, D, DONE, (), (), "beta"),
    (NS, F, SUBMIT, ("alpha", "beta"), (), None),  # seed rule 1
    (NS, Q, SUBMIT, ("alpha",), (), None),  # beta last known NS: submit to the reachable one
    (PD, NS, SUBMIT, ("beta",), (), None),
    (PD, PD, WAIT, (), (), None),
    (PD, R, ACTIVE, (), ("alpha",), "beta"),  # seed rule 2: cancel the pending copy
    (PD, D, DONE, (), ("alpha",), "beta"),
    (PD, F, WAIT, (), (), None),  # the seed has no rule: wait for the pending copy
    (PD, Q, WAIT, (), (), None),
    (R, NS, ACTIVE, (), (), "alpha"),
    (R, PD, ACTIVE, (), ("beta",), "alpha"),  # seed rule 2
    (R, R, ACTIVE, (), ("beta",), "alpha"),  # both started: keep the earlier start (alpha)
    (R, D, DONE, (), ("alpha",), "beta"),  # done elsewhere: cancel the running copy
    (R, F, ACTIVE, (), (), "alpha"),
    (R, Q, ACTIVE, (), (), "alpha"),  # never cancel on an unreachable cluster
    (D, NS, DONE, (), (), "alpha"),
    (D, PD, DONE, (), ("beta",), "alpha"),
    (D, R, DONE, (), ("beta",), "alpha"),
    (D, D, DONE, (), (), "alpha"),
    (D, F, DONE, (), (), "alpha"),
    (D, Q, DONE, (), (), "alpha"),
    (F, NS, SUBMIT, ("alpha", "beta"), (), None),  # seed rule 1
    (F, PD, WAIT, (), (), None),
    (F, R, ACTIVE, (), (), "beta"),
    (F, D, DONE, (), (), "beta"),
    (F, F, SUBMIT, ("alpha", "beta"), (), None),  # seed rule 1: resubmit while the budget lasts
    (F, Q, SUBMIT, ("alpha",), (), None),
    (Q, NS, SUBMIT, ("beta",), (), None),
    (Q, PD, WAIT, (), (), None),
    (Q, R, ACTIVE, (), (), "beta"),
    (Q, D, DONE, (), (), "beta"),
    (Q, F, SUBMIT, ("beta",), (), None),
    (Q, Q, WAIT, (), (), None),
]


def _view(state, started=None, **kw):
    return ClusterView(state=state, started=started, **kw)


def _views(a, b, **kw):
    return {"alpha": _view(a, T0 if a in (R, D) else None, **kw.get("alpha", {})),
            "beta": _view(b, T1 if b in (R, D) else None, **kw.get("beta", {}))}


def test_the_table_covers_every_pair_once():
    pairs = [(a, b) for a, b, *_ in TABLE]
    states = [NS, PD, R, D, F, Q]
    assert sorted(pairs, key=str) == sorted(((a, b) for a in states for b in states), key=str)


@pytest.mark.parametrize("alpha,beta,outcome,submit,cancel,winner", TABLE,
                         ids=[f"{a.value}-{b.value}" for a, b, *_ in TABLE])
def test_state_pair(alpha, beta, outcome, submit, cancel, winner):
    actions = dual_cluster_actions(_views(alpha, beta))
    assert (actions.outcome, actions.submit, actions.cancel, actions.winner) == (outcome, submit, cancel, winner)


def test_both_running_keeps_the_earlier_start_whichever_cluster_it_is():
    views = {"alpha": _view(R, T1), "beta": _view(R, T0)}
    a = dual_cluster_actions(views)
    assert (a.outcome, a.winner, a.cancel) == (ACTIVE, "beta", ("alpha",))


def test_both_running_with_equal_starts_keeps_the_master():
    a = dual_cluster_actions({"alpha": _view(R, T0), "beta": _view(R, T0)})
    assert (a.winner, a.cancel) == ("alpha", ("beta",))


def test_unknown_start_time_loses_to_a_known_one():
    a = dual_cluster_actions({"alpha": _view(R, None), "beta": _view(R, T1)})
    assert (a.winner, a.cancel) == ("beta", ("alpha",))


@pytest.mark.parametrize("last", [PD, R, D])
def test_unreachable_cluster_that_may_be_running_blocks_submission(last):
    for other in (NS, F):
        a = dual_cluster_actions({"alpha": _view(other), "beta": _view(Q, last_known=last)})
        assert (a.outcome, a.submit, a.cancel) == (WAIT, (), ())


def test_unreachable_cluster_last_seen_failed_does_not_block():
    a = dual_cluster_actions({"alpha": _view(F), "beta": _view(Q, last_known=F)})
    assert (a.outcome, a.submit) == (SUBMIT, ("alpha",))


def test_budget_spent_on_both_is_failed_for_good():
    a = dual_cluster_actions(_views(F, F, alpha={"attempts_left": 0}, beta={"attempts_left": 0}))
    assert (a.outcome, a.submit) == (FAILED, ())


def test_budget_spent_on_one_submits_to_the_other_only():
    a = dual_cluster_actions(_views(F, F, alpha={"attempts_left": 0}))
    assert (a.outcome, a.submit) == (SUBMIT, ("beta",))


def test_budget_spent_and_the_other_unreachable_waits_rather_than_failing():
    a = dual_cluster_actions({"alpha": _view(F, attempts_left=0), "beta": _view(Q, last_known=F, attempts_left=1)})
    assert (a.outcome, a.submit) == (WAIT, ())


def test_spent_cluster_does_not_join_a_race():
    a = dual_cluster_actions(_views(NS, PD, alpha={"attempts_left": 0}))
    assert (a.outcome, a.submit) == (WAIT, ())


def test_backoff_delays_the_resubmission_on_every_cluster():
    a = dual_cluster_actions(_views(F, F, alpha={"in_backoff": True}))
    assert (a.outcome, a.submit) == (WAIT, ())


def test_timeout_continues_on_the_cluster_holding_the_checkpoint_only():
    a = dual_cluster_actions(_views(F, F, alpha={"resume_here": True, "attempts_left": 0}))
    assert (a.outcome, a.submit) == (SUBMIT, ("alpha",))


def test_a_single_cluster_project_uses_the_same_rule():
    assert dual_cluster_actions({"alpha": _view(NS)}).submit == ("alpha",)
    assert dual_cluster_actions({"alpha": _view(F, attempts_left=0)}).outcome is FAILED
    assert dual_cluster_actions({"alpha": _view(D, T0)}).outcome is DONE
