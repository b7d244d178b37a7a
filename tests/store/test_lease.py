"""The manager lease on SQLite and PostgreSQL: one holder at a time, also between real processes racing
for it; expired or dead holders are taken over; on PostgreSQL the row lock makes a second taker skip."""

import multiprocessing
import os
import socket
import subprocess
import sys
import time

from at_once import run_at_once
from sqlalchemy import select

from mpflow.store.database import open_database
from mpflow.store.leases import acquire_lease, lease_holder, release_lease
from mpflow.store.schema import Lease


def test_one_holder_at_a_time_and_release_frees_it(database_url):
    S = open_database(database_url)
    a, b = lease_holder(), lease_holder()
    assert acquire_lease(S, "manager", a, 60)
    assert not acquire_lease(S, "manager", b, 60)
    assert acquire_lease(S, "manager", a, 60)  # the holder may renew
    release_lease(S, "manager", a)
    assert acquire_lease(S, "manager", b, 60)


def test_an_expired_lease_is_taken_over(database_url):
    S = open_database(database_url)
    assert acquire_lease(S, "manager", lease_holder(), 0.2)
    time.sleep(0.3)
    b = lease_holder()
    assert acquire_lease(S, "manager", b, 60)
    with S() as s:
        assert s.scalar(select(Lease.holder)) == b


def test_a_dead_holder_on_this_host_is_taken_over_before_expiry(database_url):
    S = open_database(database_url)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{socket.gethostname()}:{int(child.stdout)}:deadbeef"
    assert acquire_lease(S, "manager", dead, 3600)
    assert acquire_lease(S, "manager", lease_holder(), 60)


def test_a_live_holder_on_another_host_is_respected(database_url):
    S = open_database(database_url)
    assert acquire_lease(S, "manager", f"otherhost:{os.getpid()}:cafe", 3600)
    assert not acquire_lease(S, "manager", lease_holder(), 60)


def _race(url: str, rounds: int, start, out) -> None:
    """In a child process: take the lease as often as it can, holding it a moment each time."""
    S = open_database(url)
    me = lease_holder()
    held = []
    start.wait()
    for _ in range(rounds):
        if acquire_lease(S, "manager", me, 60):
            began = time.monotonic()
            time.sleep(0.005)
            ended = time.monotonic()
            release_lease(S, "manager", me)
            held.append((began, ended))
    out.put(held)


def test_processes_racing_for_the_lease_never_hold_it_at_once(database_url):
    open_database(database_url).kw["bind"].dispose()  # created and migrated before the race
    held = run_at_once(_race, (database_url, 60), 3)
    intervals = sorted(i for h in held for i in h)
    assert len(intervals) >= 10  # they did take it, many times
    for (_, end), (begin, _) in zip(intervals, intervals[1:]):
        assert end <= begin, "two processes held the lease at once"


def _try_once(url: str, out) -> None:
    t0 = time.monotonic()
    got = acquire_lease(open_database(url), "manager", lease_holder(), 60)
    out.put((got, time.monotonic() - t0))


def test_on_postgres_a_taker_finding_the_row_locked_skips_at_once(postgres):
    name = postgres.create(template=postgres.migrated_template())
    url = postgres.url_of(name)
    try:
        S = open_database(url)
        assert acquire_lease(S, "manager", lease_holder(), 0.01)  # the row exists; its lease has expired
        time.sleep(0.05)
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        with S.begin() as s:  # another taker between its read and its write: it holds the row lock
            s.execute(select(Lease).where(Lease.name == "manager").with_for_update())
            child = ctx.Process(target=_try_once, args=(url, out))
            child.start()
            got, seconds = out.get(timeout=60)
            child.join(30)
        assert (got, child.exitcode) == (False, 0) and seconds < 5  # neither taken nor waited for
        child = ctx.Process(target=_try_once, args=(url, out))
        child.start()
        assert out.get(timeout=60)[0] is True  # the lock gone, the expired lease is free to take
        child.join(30)
        S.kw["bind"].dispose()
    finally:
        postgres.drop(name)
