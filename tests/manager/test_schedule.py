"""The long-lived manager's cadence: fixed slots from its start; an overrun skips slots, never bursts."""

import pytest

from mpflow.manager.schedule import pick_due_run, seconds_to_next_tick


@pytest.mark.parametrize("now,expected", [
    (100.0, 15.0),  # just started: the next slot is one interval away
    (101.5, 13.5),  # a tick of 1.5 s: the rest of the interval
    (114.9, 0.1),
    (115.0, 15.0),  # exactly on a slot (the tick took no time): the next one
    (131.0, 14.0),  # a tick of 31 s overran two slots: the next slot after now, no catching up
])
def test_next_slot(now, expected):
    assert seconds_to_next_tick(100.0, 15.0, now) == pytest.approx(expected)


def test_an_interval_must_be_positive():
    with pytest.raises(ValueError, match="interval must be positive"):
        seconds_to_next_tick(0.0, 0.0, 1.0)


@pytest.mark.parametrize("scheduled,now,expected", [
    ([], 100.0, (None, [], None)),
    ([("a", 115.0), ("b", 130.0)], 100.0, (None, [], 115.0)),  # nothing due: wait for a
    ([("b", 115.0), ("a", 100.0)], 100.5, ("a", [], 115.0)),  # due: run it now
    ([("c", 130.0), ("a", 100.0), ("b", 115.0)], 116.0, ("b", ["a"], 130.0)),  # a overran: skipped, b runs
])
def test_the_due_run_of_a_deployment(scheduled, now, expected):
    assert pick_due_run(scheduled, now) == expected
