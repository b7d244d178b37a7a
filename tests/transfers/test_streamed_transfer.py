"""Transfers between two remote clusters stream through this process without holding the file: a
~100 MB copy from the master reached over SSH (alpha as a remote) to the slave (beta), and a reader
that stops early, each in a fresh subprocess whose peak resident memory (VmHWM, which only grows) is
read before and after. The copy is verified on both sides (sha256) as every transfer is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from mpflow.clusters.transport import SSHTransport, ssh

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

SIZE = 100 * 10**6
BOUND = 32 * 2**20  # extra memory allowed to the copying process: a third of the file (measured: ~4 MiB)
EARLY_STOP_BOUND = 12 * 2**20
"""A reader that stops early reads off what it had asked for, a block at a time (measured: 4-6 MiB). Paramiko's
whole-file prefetch left 22-32 MB of this file, what it had asked for by then, answered into the closed file."""


CHILD = textwrap.dedent('''
    import json, sys, threading, time
    from mpflow.clusters.settings import dev_cluster_settings
    from mpflow.clusters.transport import SSHTransport, ssh
    from mpflow.transfers.engine import transfer_file

    def hwm():
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))

    what, src_name, src_path, dst_name, dst_path = sys.argv[1:6]
    by_name = {s.name: s for s in dev_cluster_settings()}
    src = by_name[src_name].model_copy(update={"kind": "remote"})
    with SSHTransport(src) as ta, SSHTransport(by_name[dst_name]) as tb:
        ta.stat(src_path), tb.stat(".")  # connected, an SFTP channel open on each side
        threads, h0 = threading.active_count(), hwm()
        if what == "early-stop":  # a reader that stops after 1 MiB (as when the other side of a copy fails)
            try:
                with ta.open_read(src_path) as f:
                    first = f.read(1 << 20)
                    raise KeyError("the destination failed")
            except KeyError:
                pass
            ta.stat(src_path)  # the next operation on the same (pooled) SFTP channel
            time.sleep(0.2)
            out = {"first": len(first), "threads_left": threading.active_count() - threads}
        else:
            res = transfer_file(ta, src_path, tb, dst_path)
            out = {"action": res.action.value, "attempts": res.attempts, "sha256": res.sha256}
        out["growth"] = hwm() - h0
    print(json.dumps(out))
''')


def child(what: str, src_name: str, src: str, dst_name: str, dst: str) -> dict:
    """Run ``CHILD`` in a fresh interpreter (VmHWM only grows: each measurement needs its own process)."""
    out = subprocess.run([sys.executable, "-c", CHILD, what, src_name, src, dst_name, dst],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_100mb_copy_between_two_remote_clusters_streams_in_bounded_memory(master, slave):
    alpha_ssh = master.model_copy(update={"kind": "remote"})
    name = f"streamed-{os.getpid()}-{os.urandom(3).hex()}"
    # straight under alpha's workdir: its tests/ folder belongs to this process's user, not the SSH one
    src, dst = f"{master.workdir}/{name}.bin", f"{slave.workdir}/{name}/copy.bin"
    with SSHTransport(alpha_ssh) as ta, SSHTransport(slave) as tb:
        try:
            made = ta.run(["sh", "-c", f'head -c {SIZE} /dev/urandom > "$1"', "sh", src], timeout=120)
            assert made.returncode == 0, made.stderr
            expected = ta.sha256([src])[src]

            early = child("early-stop", master.name, src, slave.name, dst)
            assert early["first"] == 1 << 20
            assert early["growth"] < EARLY_STOP_BOUND, \
                f"a reader stopped after 1 MiB grew the process by {early['growth']} bytes"
            assert early["threads_left"] <= 0, "a read-ahead thread outlived its file"

            copy = child("copy", master.name, src, slave.name, dst)
            assert copy["growth"] < BOUND, f"the {SIZE}-byte copy grew the process by {copy['growth']} bytes"
            assert (copy["action"], copy["attempts"], copy["sha256"]) == ("copied", 1, expected)
            print(f"\nextra peak memory: {early['growth'] / 2**20:.1f} MiB after an early stop, "
                  f"{copy['growth'] / 2**20:.1f} MiB for the {SIZE // 10**6} MB copy")
            assert tb.sha256([dst]) == {dst: expected}
            assert tb.stat(dst).size == SIZE
            assert [e.path for e in tb.list_files(f"{slave.workdir}/{name}")] == ["copy.bin"], "no temporary left"
        finally:
            ta.run(["rm", "-f", "--", src])
            tb.run(["rm", "-rf", "--", f"{slave.workdir}/{name}"])


@pytest.mark.parametrize("size", [0, 1, 3 * 65536, 5 * 65536 + 17])
def test_read_ahead_reads_every_byte_whatever_the_read_sizes(ts, sites, slave, monkeypatch, size):
    """Reads of odd sizes, across segment ends, and read() of the rest give the file exactly (64 KiB segments)."""
    monkeypatch.setattr(ssh, "READ_AHEAD_BYTES", 65536)
    data = os.urandom(size)
    path = sites[slave.name].path("r.bin")
    assert ts.write_files({path: data}) == {}
    with ts.open_read(path) as f:
        parts = [f.read(n) for n in (1000, 70000, 1, 65536)]
        parts.append(f.read())
        assert f.read() == b"" and f.read(10) == b""
    assert b"".join(parts) == data
    with ts.open_read(path) as f:
        assert f.read() == data
