"""Streamed transfers through this machine between two remote clusters: rate and memory (issue 19, item 5).

Ours: ``transfer_file`` from the master reached over SSH (alpha, as a remote) to a slave (beta), both
sides SFTP through this process, with its verification (sha256 on each side) and atomic rename.
Baseline: ``scp -3`` (OpenSSH copying between the two remote hosts through this machine; no
verification), with the dev key and known_hosts.

For each file size (default 50 and 500 MB, random bytes made on alpha with ``head -c``), one run
alternates, ``--repeats`` times: ours with the read-ahead segment ``open_read`` uses
(``ssh.READ_AHEAD_BYTES``), ``scp -3``, and with ``--read-aheads`` also other segment sizes and
``none`` (Paramiko's ``prefetch()`` asking for the whole file at once, what ``open_read`` did
before). Each round starts one later in that order (what ran just before a copy, such as the
writeback of the previous 500 MB on beta, slows it: measured ~15 %), so ``--repeats`` equal to the
number of contenders gives each every place. Every copy of ours runs in a fresh subprocess, which
reports the copy's wall time, the part of it spent streaming (open_read -> open_write, without the
hash commands) and the growth of its peak resident memory (VmHWM after the copy minus before it,
connections already open). Prints MB/s (median of the repeats; 1 MB = 10**6 bytes), the ratio to
scp, and the peak memory.

    .venv/bin/python benchmarks/bench_transfers.py [--sizes 50 500] [--repeats 4] [--read-aheads none 4194304]

Needs the dev clusters (scripts/devcluster up); removes its files at the end. Figures are on
whatever else the machine is doing (2 shared cores, every SSH end on this machine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid

from mpflow.clusters.settings import ClusterSettings, dev_cluster_settings
from mpflow.clusters.transport import SSHTransport, ssh
from mpflow.clusters.transport.base import ClusterSettingsError

MB = 10**6


def clusters() -> tuple[ClusterSettings, ClusterSettings]:
    """alpha as a remote cluster (over its SSH login node) and beta."""
    by_name = {s.name: s for s in dev_cluster_settings()}
    return by_name["alpha"].model_copy(update={"kind": "remote"}), by_name["beta"]


def vm_hwm() -> int:
    """This process's peak resident memory so far, in bytes (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


@contextlib.contextmanager
def _whole_file_prefetch(self, path):
    """``SSHTransport.open_read`` as it was: ``prefetch()`` asks for every block of the file at once."""
    with self._sftp() as sftp, sftp.open(self.resolve(path), "rb") as f:
        f.prefetch()
        yield f


def child(src_path: str, dst_path: str, read_ahead: str) -> None:
    """One copy of ours, in this (fresh) process: prints {seconds, stream_s, hwm_growth} as JSON."""
    from mpflow.transfers import engine
    from mpflow.transfers.engine import transfer_file

    if read_ahead == "none":
        SSHTransport.open_read = _whole_file_prefetch
    else:
        ssh.READ_AHEAD_BYTES = int(read_ahead)
    streaming = []
    copy = engine._Engine._copy

    def timed_copy(self, item, tmp):
        t0 = time.perf_counter()
        copy(self, item, tmp)
        streaming.append(time.perf_counter() - t0)

    engine._Engine._copy = timed_copy
    a, b = clusters()
    with SSHTransport(a) as ta, SSHTransport(b) as tb:
        ta.stat(src_path), tb.stat(os.path.dirname(dst_path))  # connect and open an SFTP channel each first
        before = vm_hwm()
        t0 = time.perf_counter()
        res = transfer_file(ta, src_path, tb, dst_path)
        seconds = time.perf_counter() - t0
        growth = vm_hwm() - before
    assert res.attempts == 1, res
    print(json.dumps({"seconds": seconds, "stream_s": sum(streaming), "hwm_growth": growth}))


def ours(src_path: str, dst_path: str, read_ahead: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", src_path, dst_path, read_ahead],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"copy failed: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def scp3(a: ClusterSettings, src_path: str, b: ClusterSettings, dst_path: str) -> float:
    opts = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={a.known_hosts}",
            "-i", a.key_path, "-q"]
    cmd = ["scp", "-3", *opts, f"scp://{a.user}@{a.host}:{a.port}/{src_path}",
           f"scp://{b.user}@{b.host}:{b.port}/{dst_path}"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, timeout=3600)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[50, 500], help="file sizes, MB")
    ap.add_argument("--repeats", type=int, default=4)
    ap.add_argument("--read-aheads", nargs="*", default=[],
                    help="other read-ahead segments (bytes) to measure, or 'none' (the whole file at once)")
    args = ap.parse_args()
    a, b = clusters()
    token = uuid.uuid4().hex[:8]
    src_dir, dst_dir = f"{a.workdir}/bench-transfers-{token}", f"{b.workdir}/bench-transfers-{token}"
    modes = [str(ssh.READ_AHEAD_BYTES), *(m for m in args.read_aheads if m != str(ssh.READ_AHEAD_BYTES))]
    print(f"alpha (over SSH) -> beta through this process; {args.repeats} repeat(s), alternating; "
          f"mpflow's read-ahead segment {ssh.READ_AHEAD_BYTES} bytes")
    with SSHTransport(a) as ta, SSHTransport(b) as tb:
        try:
            ta.makedirs([src_dir])
            tb.makedirs([dst_dir])
            for size in args.sizes:
                src = f"{src_dir}/f{size}"
                ta.run(["sh", "-c", f'head -c {size * MB} /dev/urandom > "$1"', "sh", src], timeout=600)
                runs: dict[str, list[dict]] = {m: [] for m in modes}
                scp_s = []
                order = [*modes, "scp"]
                for i in range(args.repeats):
                    for m in order[i % len(order):] + order[:i % len(order)]:  # each repeat starts one later
                        dst = f"{dst_dir}/{m}-{size}"
                        if m == "scp":
                            scp_s.append(scp3(a, src, b, dst))
                            if tb.sha256([dst])[dst] != ta.sha256([src])[src]:
                                raise RuntimeError("scp -3 made a bad copy")
                        else:
                            runs[m].append(ours(src, dst, m))
                        tb.remove(dst)  # else the next copy of ours is skipped as identical
                scp_rate = size / statistics.median(scp_s)
                print(f"\n{size} MB file: scp -3 {scp_rate:.1f} MB/s (median {statistics.median(scp_s):.2f} s)")
                print(f"  {'mpflow read-ahead':>22} {'MB/s':>7} {'x scp':>6} {'stream MB/s':>12} {'x scp':>6} "
                      f"{'peak memory growth':>19}")
                for m in modes:
                    t = statistics.median(r["seconds"] for r in runs[m])
                    st = statistics.median(r["stream_s"] for r in runs[m])
                    mem = max(r["hwm_growth"] for r in runs[m]) / 2**20
                    label = "whole file (old)" if m == "none" else f"{int(m) // 1024} KiB segments"
                    print(f"  {label:>22} {size / t:7.1f} {size / t / scp_rate:6.2f} {size / st:12.1f} "
                          f"{size / st / scp_rate:6.2f} {mem:16.1f} MiB")
                ta.remove(src)
        finally:
            ta.run(["rm", "-rf", "--", src_dir])
            tb.run(["rm", "-rf", "--", dst_dir])
    print("\nMB/s: transfer_file's whole call (stat, sha256 on each side, stream, verify, rename); stream MB/s: "
          "its open_read -> open_write part only. Peak memory growth: VmHWM of the copying process after the "
          "copy minus before it (max over the repeats).")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(*sys.argv[2:5])
    else:
        try:
            main()
        except ClusterSettingsError as exc:
            sys.exit(f"dev clusters not reachable: {exc}")
