"""When a long-lived manager ticks next: on a fixed cadence from its start, a tick that ran long skipping
the slots it overran (never two ticks at once, never a burst to catch up). Pure."""

from __future__ import annotations


def seconds_to_next_tick(started: float, interval: float, now: float) -> float:
    """Seconds from ``now`` to the next slot ``started + k * interval`` after ``now`` (monotonic clock)."""
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    return interval - ((now - started) % interval)
