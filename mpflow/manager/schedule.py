"""When a long-lived manager ticks next: on a fixed cadence from its start, a tick that ran long skipping
the slots it overran (never two ticks at once, never a burst to catch up). Pure."""

from __future__ import annotations


def seconds_to_next_tick(started: float, interval: float, now: float) -> float:
    """Seconds from ``now`` to the next slot ``started + k * interval`` after ``now`` (monotonic clock)."""
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval}")
    return interval - ((now - started) % interval)


def pick_due_run(scheduled: list[tuple[str, float]], now: float) -> tuple[str | None, list[str], float | None]:
    """Of a deployment's scheduled runs ``[(id, expected start), ...]`` (any order, times in seconds): the
    run to start now (the latest one that is due), the due ones before it (slots a long tick overran:
    skipped, never run back to back), and when the next one is due (None: none scheduled)."""
    due = sorted((t, i) for i, t in scheduled if t <= now)
    later = [t for _, t in scheduled if t > now]
    wake = min(later) if later else None
    if not due:
        return None, [], wake
    return due[-1][1], [i for _, i in due[:-1]], wake
