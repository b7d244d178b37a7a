"""The query budget, back-off and room as pure decisions on a cluster's record, table by table."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from mpflow.clusters.settings import ClusterSettings
from mpflow.manager.budget import (
    LIMIT_MEMORY_S,
    backoff_values,
    in_backoff,
    next_backoff_s,
    observe_due,
    room,
    site_lines,
)
from mpflow.store.sites import SiteRecord

NOW = datetime(2026, 12, 2, 12, 0, 0)
C = ClusterSettings(name="beta", kind="local", workdir="/tmp/w", min_observe_interval_s=60, backoff_max_s=600,
                    max_queued=10)


def ago(s: float) -> datetime:
    return NOW - timedelta(seconds=s)


@pytest.mark.parametrize("record, due", [
    (SiteRecord("beta"), True),                                   # never observed
    (SiteRecord("beta", observed=ago(15)), False),                # the tick after: decide on what is known
    (SiteRecord("beta", observed=ago(59.9)), False),
    (SiteRecord("beta", observed=ago(60)), True),
    (SiteRecord("beta", observed=ago(600), backoff_until=NOW + timedelta(seconds=1)), False),  # backing off
    (SiteRecord("beta", observed=ago(600), backoff_until=ago(1)), True),  # back-off over
])
def test_observe_due(record, due):
    assert observe_due(record, C, NOW) is due


def test_back_off_doubles_from_twice_the_interval_and_is_capped():
    site, waits = SiteRecord("beta"), []
    for _ in range(5):
        values = backoff_values(site, C, "Socket timed out on send/recv operation", NOW)
        waits.append(values["backoff_s"])
        site = SiteRecord("beta", **values)
    assert waits == [120, 240, 480, 600, 600]
    assert in_backoff(site, NOW) and not in_backoff(site, NOW + timedelta(seconds=600))
    assert next_backoff_s(SiteRecord("beta"), C.model_copy(update={"min_observe_interval_s": 5})) == 60


@pytest.mark.parametrize("record, left", [
    (SiteRecord("beta"), 10),                                       # nothing known: max_queued
    (SiteRecord("beta", user_jobs=7), 3),                           # all of the user's jobs count
    (SiteRecord("beta", user_jobs=12), 0),
    (SiteRecord("beta", user_jobs=3, limit_jobs=4, limit_reason="QOSMaxSubmitJobPerUserLimit", limit_since=ago(60)), 1),
    (SiteRecord("beta", user_jobs=4, limit_jobs=4, limit_reason="QOSMaxSubmitJobPerUserLimit", limit_since=ago(60)), 0),
    # the limit is remembered for an hour, then one submission finds out again
    (SiteRecord("beta", user_jobs=4, limit_jobs=4, limit_since=ago(LIMIT_MEMORY_S + 1)), 6),
])
def test_room(record, left):
    assert room(record, C, NOW)[0] == left


def test_what_status_says_of_a_cluster():
    site = SiteRecord("beta", observed=ago(20), user_jobs=4, backoff_until=NOW + timedelta(seconds=100), backoff_s=240,
                      backoff_reason="Socket timed out on send/recv operation", limit_jobs=4,
                      limit_reason="QOSMaxSubmitJobPerUserLimit", limit_since=ago(30),
                      waiting="3 copies wait for room: QOSMaxSubmitJobPerUserLimit at 4 (4 of the user's jobs queued or running)")
    lines = site_lines(site, C, NOW)
    assert lines[0] == "beta: observed 20 s ago, at most every 60 s; 4 of the user's jobs queued or running"
    assert lines[1].startswith("beta: backing off until 12:01:40 (240 s) after the controller said: Socket timed out")
    assert lines[2] == ("beta: QOSMaxSubmitJobPerUserLimit met at 4 of the user's jobs (11:59:30); "
                        "copies are sent again as jobs leave")
    assert lines[3].startswith("beta: 3 copies wait for room")
