"""The manager lease: one holder at a time; expired or dead holders are taken over."""

import os
import socket
import subprocess
import sys
import time

from sqlalchemy import select

from mpflow.store.database import open_database
from mpflow.store.leases import acquire_lease, lease_holder, release_lease
from mpflow.store.schema import Lease


def _session(tmp_path):
    return open_database(f"sqlite:///{tmp_path / 'jobs.db'}")


def test_one_holder_at_a_time_and_release_frees_it(tmp_path):
    S = _session(tmp_path)
    a, b = lease_holder(), lease_holder()
    assert acquire_lease(S, "manager", a, 60)
    assert not acquire_lease(S, "manager", b, 60)
    assert acquire_lease(S, "manager", a, 60)  # the holder may renew
    release_lease(S, "manager", a)
    assert acquire_lease(S, "manager", b, 60)


def test_an_expired_lease_is_taken_over(tmp_path):
    S = _session(tmp_path)
    assert acquire_lease(S, "manager", lease_holder(), 0.2)
    time.sleep(0.3)
    b = lease_holder()
    assert acquire_lease(S, "manager", b, 60)
    with S() as s:
        assert s.scalar(select(Lease.holder)) == b


def test_a_dead_holder_on_this_host_is_taken_over_before_expiry(tmp_path):
    S = _session(tmp_path)
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = f"{socket.gethostname()}:{int(child.stdout)}:deadbeef"
    assert acquire_lease(S, "manager", dead, 3600)
    assert acquire_lease(S, "manager", lease_holder(), 60)


def test_a_live_holder_on_another_host_is_respected(tmp_path):
    S = _session(tmp_path)
    assert acquire_lease(S, "manager", f"otherhost:{os.getpid()}:cafe", 3600)
    assert not acquire_lease(S, "manager", lease_holder(), 60)
