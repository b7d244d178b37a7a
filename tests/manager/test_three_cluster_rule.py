"""The race rule over three clusters (issue 20, item 1): the same pure function as for two, each row
written out.

A cell is a state, with what the rule needs beside it:
``R1`` runs, started at T1 (``R`` without a digit: start unknown); ``D0`` done, started at T0;
``F!`` failed with its counted attempts spent; ``Fb`` failed and in its backoff; ``?`` unreachable,
last seen NS; ``?R`` unreachable, last seen R (``?F``: last seen F). The master is alpha.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mpflow.manager.rule import NS, PD, UNREACHABLE, ClusterView, D, F, Outcome, R, dual_cluster_actions

T = [datetime(2026, 12, 2, 12, 0, 0) + timedelta(seconds=5 * i) for i in range(3)]
WAIT, SUBMIT, ACTIVE, DONE, FAILED = Outcome.WAIT, Outcome.SUBMIT, Outcome.ACTIVE, Outcome.DONE, Outcome.FAILED
STATES = {"NS": NS, "PD": PD, "R": R, "D": D, "F": F, "?": UNREACHABLE}


def view(cell: str) -> ClusterView:
    if cell.startswith("?"):
        return ClusterView(UNREACHABLE, last_known=STATES[cell[1:]] if cell[1:] else NS)
    if cell == "F!":
        return ClusterView(F, attempts_left=0)
    if cell == "Fb":
        return ClusterView(F, in_backoff=True)
    if cell[0] in "RD" and cell[1:].isdigit():
        return ClusterView(STATES[cell[0]], started=T[int(cell[1:])])
    return ClusterView(STATES[cell])


# alpha, beta, gamma → outcome, submit, cancel, winner
TABLE = [
    # the seed's rule 1 over three: every cluster in {NS, F} → submit to every one
    ("NS", "NS", "NS", SUBMIT, ("alpha", "beta", "gamma"), (), None),
    ("F", "NS", "F", SUBMIT, ("alpha", "beta", "gamma"), (), None),
    # first to start wins among three, whichever cluster it is; every other copy is cancelled
    ("R2", "R0", "R1", ACTIVE, (), ("alpha", "gamma"), "beta"),
    ("R1", "PD", "R0", ACTIVE, (), ("alpha", "beta"), "gamma"),
    ("PD", "R0", "PD", ACTIVE, (), ("alpha", "gamma"), "beta"),
    ("R0", "R0", "R0", ACTIVE, (), ("beta", "gamma"), "alpha"),  # a tie keeps the master
    ("R", "R2", "R1", ACTIVE, (), ("alpha", "beta"), "gamma"),  # an unknown start loses to known ones
    ("R0", "F", "NS", ACTIVE, (), (), "alpha"),  # nothing pending elsewhere: nothing to cancel
    # D + R + PD: done on one, the running and the pending copies are cancelled
    ("D0", "R1", "PD", DONE, (), ("beta", "gamma"), "alpha"),
    ("PD", "R0", "D1", DONE, (), ("alpha", "beta"), "gamma"),
    ("D0", "F", "?R", DONE, (), (), "alpha"),  # never cancel on an unreachable cluster
    # one unreachable
    ("NS", "NS", "?", SUBMIT, ("alpha", "beta"), (), None),  # gamma last seen NS: the reachable two race
    ("NS", "F", "?F", SUBMIT, ("alpha", "beta"), (), None),
    ("NS", "NS", "?R", WAIT, (), (), None),  # it may be running on gamma: no new copies
    ("PD", "R0", "?", ACTIVE, (), ("alpha",), "beta"),
    ("PD", "NS", "?", SUBMIT, ("beta",), (), None),  # beta missed the submission: it joins the race
    ("?", "?", "?", WAIT, (), (), None),
    ("?", "?", "NS", SUBMIT, ("gamma",), (), None),
    # budgets spent on two of three: the third alone is submitted to; all three spent: failed for good
    ("F!", "F!", "F", SUBMIT, ("gamma",), (), None),
    ("F!", "F", "F!", SUBMIT, ("beta",), (), None),
    ("F!", "F!", "F!", FAILED, (), (), None),
    ("F!", "F!", "?F", WAIT, (), (), None),  # gamma may still have attempts: wait for it, do not fail
    ("F!", "F!", "PD", WAIT, (), (), None),  # the last copy is queued
    # a backoff on one cluster holds the resubmission on all (the copies are submitted together)
    ("Fb", "F", "NS", WAIT, (), (), None),
]


@pytest.mark.parametrize("alpha,beta,gamma,outcome,submit,cancel,winner", TABLE,
                         ids=["-".join(row[:3]) for row in TABLE])
def test_three_clusters(alpha, beta, gamma, outcome, submit, cancel, winner):
    actions = dual_cluster_actions({"alpha": view(alpha), "beta": view(beta), "gamma": view(gamma)})
    assert (actions.outcome, actions.submit, actions.cancel, actions.winner) == (outcome, submit, cancel, winner)


def test_the_order_of_the_clusters_decides_only_ties():
    """The same states with gamma as the master: the earliest start still wins; a tie goes to gamma."""
    earliest = dual_cluster_actions({"gamma": view("R1"), "alpha": view("R0"), "beta": view("R2")})
    assert (earliest.winner, earliest.cancel) == ("alpha", ("gamma", "beta"))
    tie = dual_cluster_actions({"gamma": view("R0"), "alpha": view("R0"), "beta": view("PD")})
    assert (tie.winner, tie.cancel) == ("gamma", ("alpha", "beta"))


def test_five_clusters_use_the_same_rule():
    names = ["c1", "c2", "c3", "c4", "c5"]
    views = dict(zip(names, map(view, ["PD", "PD", "R1", "R0", "NS"])))
    actions = dual_cluster_actions(views)
    assert (actions.outcome, actions.winner, actions.cancel) == (ACTIVE, "c4", ("c1", "c2", "c3"))
