"""The long-lived manager's cadence: fixed slots from its start; an overrun skips slots, never bursts."""

import pytest

from mpflow.manager.schedule import seconds_to_next_tick


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
