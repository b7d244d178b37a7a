"""Named leases in the jobs database: one holder at a time, with an expiry.

A manager tick holds :data:`MANAGER_LEASE` while it runs, so two ticks (the scheduled deployment and
``mpflow run``, two machines sharing a database) never act at once; a models command holds the same
lease while it moves folders (:func:`hold_lease`), so no tick starts a stage of a model whose folder
is moving. A holder is ``host:pid:random``; a lease is free once it has expired, or at once when its
holder was a process of this host that has died (a killed tick does not block the next one for the
whole TTL).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from mpflow.store.schema import Lease, utcnow

MANAGER_LEASE = "manager"


class LeaseTaken(RuntimeError):
    """The lease stayed taken for as long as the caller would wait."""


def lease_holder() -> str:
    """``host:pid:random``: whoever holds a lease, and how to tell that it has died."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _holder_dead(holder: str | None) -> bool:
    """True when ``holder`` is a process of this host that no longer exists."""
    try:
        host, pid, _ = (holder or "").split(":")
        pid_n = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    try:
        os.kill(pid_n, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _ensure_lease_row(Session: sessionmaker, name: str) -> None:
    """The lease's row, free, unless it exists (it is made once, on first use)."""
    with Session() as s:
        if s.scalar(select(Lease.name).where(Lease.name == name)) is not None:
            return
    try:
        with Session.begin() as s:
            s.execute(insert(Lease).values(name=name, holder=None, expires=None))
    except IntegrityError:  # another caller made it first
        pass


def acquire_lease(Session: sessionmaker, name: str, holder: str, ttl_s: float) -> bool:
    """Take the lease ``name`` for ``ttl_s`` seconds unless another live holder has it.

    One transaction holds the lease row's lock from the read to the write: ``SELECT ... FOR UPDATE
    SKIP LOCKED`` on PostgreSQL, where a second caller at the same moment finds the row locked and
    gives up at once (whoever holds the lock is taking or renewing the lease). SQLite has no row locks
    and one writer at a time: there the write is conditional on the holder that was read (a
    compare-and-swap in the UPDATE's WHERE), so of two callers that read the lease free only the first
    to write takes it."""
    _ensure_lease_row(Session, name)
    now = utcnow()
    with Session.begin() as s:
        row = s.execute(select(Lease.holder, Lease.expires).where(Lease.name == name)
                        .with_for_update(skip_locked=True)).first()
        if row is None:  # locked by another caller this very moment
            return False
        current, current_expires = row
        free = current is None or current_expires is None or current_expires < now or _holder_dead(current)
        if not free and current != holder:
            return False
        taken = s.execute(update(Lease).where(Lease.name == name, Lease.holder.is_not_distinct_from(current))
                          .values(holder=holder, expires=now + timedelta(seconds=ttl_s)))
        return taken.rowcount == 1


def release_lease(Session: sessionmaker, name: str, holder: str) -> None:
    with Session.begin() as s:
        s.execute(update(Lease).where(Lease.name == name, Lease.holder == holder).values(holder=None, expires=None))


@contextmanager
def hold_lease(Session: sessionmaker, name: str = MANAGER_LEASE, *, wait_s: float = 60.0,
               ttl_s: float = 600.0, poll_s: float = 0.5) -> Iterator[str]:
    """Hold the lease ``name`` for the ``with`` block, waiting up to ``wait_s`` for its holder to let
    go; :class:`LeaseTaken` when it does not. Yields the holder string."""
    holder = lease_holder()
    deadline = time.monotonic() + wait_s
    while not acquire_lease(Session, name, holder, ttl_s):
        if time.monotonic() > deadline:
            raise LeaseTaken(f"the {name} lease stayed taken for {wait_s:.0f} s")
        time.sleep(poll_s)
    try:
        yield holder
    finally:
        release_lease(Session, name, holder)
