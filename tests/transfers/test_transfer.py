"""Verified transfers between the dev clusters (mpflow.transfers.engine): alpha is the master (local), beta the slave
(SSH). Every check reads the destination through its own cluster (sha256sum, find, SFTP); faults are
injected through the destination's transport (``transport_wrappers.Damaging``)."""

from __future__ import annotations

import hashlib
import os
import posixpath
import threading
import time

import pytest
from transport_wrappers import Damaging

from mpflow.clusters.transport import PathOutsideWorkdir, SSHTransport
from mpflow.transfers.engine import (
    Action,
    SourceMissing,
    TransferError,
    transfer_file,
    transfer_tree,
)

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

MB = 1024 * 1024


@pytest.fixture
def dirs(sites, master, slave):
    """This test's own folder on the master (local) and on the slave (remote)."""
    return sites[master.name].folder, sites[slave.name].folder


def write(t, files: dict[str, bytes], modes: dict[str, int] | None = None) -> None:
    assert t.write_files(files) == {}
    for path, mode in (modes or {}).items():
        t.chmod(path, mode)


def listing(t, folder: str) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mode)} of every file under ``folder``, temporary files included."""
    return {e.path: (e.size, e.mode) for e in t.list_files(folder) or []}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


TREE = {
    "run.sh": b"#!/bin/bash\necho md\n",
    "md.tpr": os.urandom(200_000),
    "sub/em.mdp": b"integrator = steep\n",
    "sub/deeper/traj.xtc": os.urandom(1_500_000),
    "sub/deeper/empty.dat": b"",
}


def test_50mb_round_trip_master_to_slave_and_back(tm, ts, dirs, capsys, record_property):
    m, s = dirs
    data = os.urandom(50 * MB)
    with tm.open_write(f"{m}/big.bin") as f:
        f.write(data)

    t0 = time.monotonic()
    up = transfer_file(tm, f"{m}/big.bin", ts, f"{s}/big.bin")
    t1 = time.monotonic()
    down = transfer_file(ts, f"{s}/big.bin", tm, f"{m}/back/big.bin")
    t2 = time.monotonic()

    assert (up.action, up.attempts, up.bytes, up.sha256) == (Action.COPIED, 1, 50 * MB, sha(data))
    assert (down.action, down.attempts, down.bytes, down.sha256) == (Action.COPIED, 1, 50 * MB, sha(data))
    assert ts.sha256([f"{s}/big.bin"]) == {f"{s}/big.bin": sha(data)}
    assert tm.sha256([f"{m}/back/big.bin"]) == {f"{m}/back/big.bin": sha(data)}
    assert listing(ts, s) == {"big.bin": (50 * MB, 0o644)}, "no temporary file left"
    assert listing(tm, m) == {"big.bin": (50 * MB, 0o644), "back/big.bin": (50 * MB, 0o644)}

    record_property("upload_s", round(t1 - t0, 2))
    record_property("download_s", round(t2 - t1, 2))
    with capsys.disabled():
        print(f"\n50 MB round trip: up {t1 - t0:.2f} s ({50 / (t1 - t0):.0f} MB/s), "
              f"down {t2 - t1:.2f} s ({50 / (t2 - t1):.0f} MB/s), total {t2 - t0:.2f} s")

    again = transfer_file(tm, f"{m}/big.bin", ts, f"{s}/big.bin")
    assert (again.action, again.attempts) == (Action.SKIPPED, 0)


def test_tree_copies_with_modes_then_a_second_transfer_skips_every_file(tm, ts, dirs):
    m, s = dirs
    write(tm, {f"{m}/src/{k}": v for k, v in TREE.items()}, {f"{m}/src/run.sh": 0o755})
    dst = f"{s}/tree"

    first = transfer_tree(tm, f"{m}/src", ts, dst)
    assert [(posixpath.relpath(r.path, dst), r.action, r.attempts, r.bytes, r.sha256) for r in first] == [
        (rel, Action.COPIED, 1, len(TREE[rel]), sha(TREE[rel])) for rel in sorted(TREE)]
    assert listing(ts, dst) == {rel: (len(data), 0o755 if rel == "run.sh" else 0o644) for rel, data in TREE.items()}
    assert ts.sha256([f"{dst}/{rel}" for rel in TREE]) == {f"{dst}/{rel}": sha(data) for rel, data in TREE.items()}

    second = transfer_tree(tm, f"{m}/src", ts, dst)
    assert [(r.action, r.attempts) for r in second] == [(Action.SKIPPED, 0)] * len(TREE)

    changed = bytes(b ^ 1 for b in TREE["md.tpr"])  # same size, other content
    write(tm, {f"{m}/src/md.tpr": changed})
    third = {posixpath.relpath(r.path, dst): r.action for r in transfer_tree(tm, f"{m}/src", ts, dst)}
    assert third == {rel: Action.COPIED if rel == "md.tpr" else Action.SKIPPED for rel in TREE}
    assert ts.sha256([f"{dst}/md.tpr"]) == {f"{dst}/md.tpr": sha(changed)}

    back = f"{m}/back"
    got = transfer_tree(ts, dst, tm, back, include=["*.tpr", "*.sh", "*.xtc"], exclude=["sub/*"])
    assert [posixpath.relpath(r.path, back) for r in got] == ["md.tpr", "run.sh"]
    assert listing(tm, back) == {"md.tpr": (len(changed), 0o644), "run.sh": (len(TREE["run.sh"]), 0o755)}


def test_parallel_tree_transfer_uses_its_workers_and_gives_the_same_result_as_sequential(tm, ts, dirs):
    m, s = dirs
    files = {f"g{i % 4}/f{i:02d}.bin": os.urandom(1000 * (i + 1)) for i in range(24)}
    files["g0/job.sh"] = b"#!/bin/bash\n"
    write(tm, {f"{m}/src/{k}": v for k, v in files.items()}, {f"{m}/src/g0/job.sh": 0o750})
    meet = threading.Barrier(4, timeout=60)

    class FourAtOnce(Damaging):
        """Damages nothing; each worker's first write waits until four workers write at once."""

        def open_write(self, path):
            if threading.current_thread().name not in self.threads:
                meet.wait()
            return super().open_write(path)

    workers = FourAtOnce(ts, "flip", times=0)
    seq = transfer_tree(tm, f"{m}/src", ts, f"{s}/seq", parallel=1)
    par = transfer_tree(tm, f"{m}/src", workers, f"{s}/par", parallel=4)

    def summary(results, root):
        return [(posixpath.relpath(r.path, root), r.bytes, r.sha256, r.action, r.attempts) for r in results]

    assert summary(par, f"{s}/par") == summary(seq, f"{s}/seq")
    assert len(seq) == len(files)
    assert listing(ts, f"{s}/par") == listing(ts, f"{s}/seq")
    assert len(workers.threads) == 4 and all(n.startswith("mpflow-transfer") for n in workers.threads)
    back = transfer_tree(ts, f"{s}/par", tm, f"{m}/back", parallel=4)
    assert summary(back, f"{m}/back") == summary(seq, f"{s}/seq")


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_copy_damaged_once_on_the_slave_is_caught_and_retried(tm, ts, dirs, damage):
    m, s = dirs
    data = os.urandom(300_000)
    write(tm, {f"{m}/md.tpr": data})
    faulty = Damaging(ts, damage, times=1)
    res = transfer_file(tm, f"{m}/md.tpr", faulty, f"{s}/md.tpr", retry_delay_s=0)
    assert (res.action, res.attempts, res.sha256) == (Action.COPIED, 2, sha(data))
    assert len(faulty.written) == 2 and all(posixpath.basename(p).startswith(".md.tpr.mpflow-tmp-")
                                            for p in faulty.written)
    assert ts.sha256([f"{s}/md.tpr"]) == {f"{s}/md.tpr": sha(data)}
    assert listing(ts, s) == {"md.tpr": (len(data), 0o644)}


@pytest.mark.parametrize("existed", [False, True])
def test_a_copy_damaged_every_time_fails_and_leaves_the_destination_as_it_was(tm, ts, dirs, existed):
    m, s = dirs
    data = os.urandom(300_000)
    write(tm, {f"{m}/md.tpr": data})
    dst = f"{s}/sub/md.tpr"
    old = b"previous good version\n"
    if existed:
        write(ts, {dst: old})

    with pytest.raises(TransferError) as err:
        transfer_file(tm, f"{m}/md.tpr", Damaging(ts, "flip"), dst, retry_delay_s=0)
    e = err.value
    assert (e.source, e.destination, e.attempts) == (f"{m}/md.tpr", dst, 3)
    assert (e.expected_size, e.expected_sha256, e.found_size) == (len(data), sha(data), len(data))
    assert e.found_sha256 not in (None, sha(data))
    assert dst in str(e) and sha(data) in str(e) and e.found_sha256 in str(e) and "3 attempt" in str(e)
    assert listing(ts, s) == ({"sub/md.tpr": (len(old), 0o644)} if existed else {}), "no temporary file left"
    if existed:
        assert ts.sha256([dst]) == {dst: sha(old)}


def test_a_tree_damaged_every_time_in_parallel_leaves_no_temp_files(tm, ts, dirs):
    m, s = dirs
    write(tm, {f"{m}/src/f{i}": os.urandom(5000) for i in range(6)})
    faulty = Damaging(ts, "truncate")
    with pytest.raises(TransferError):
        transfer_tree(tm, f"{m}/src", faulty, s, parallel=3, attempts=2, retry_delay_s=0)
    assert len(faulty.written) == 12
    assert listing(ts, s) == {}


def test_a_missing_source_is_a_clear_error_and_creates_nothing(tm, ts, dirs):
    m, s = dirs
    with pytest.raises(SourceMissing, match=r"does not exist on alpha") as err:
        transfer_file(tm, f"{m}/no-such.tpr", ts, f"{s}/new/md.tpr")
    assert err.value.source == f"{m}/no-such.tpr"
    with pytest.raises(SourceMissing, match=r"does not exist on beta"):
        transfer_file(ts, f"{s}/no-such.tpr", tm, f"{m}/new/md.tpr")
    with pytest.raises(SourceMissing, match=r"source folder .* does not exist"):
        transfer_tree(tm, f"{m}/no-such-dir", ts, f"{s}/new")
    assert ts.run(["ls", "-A", s]).stdout == ""
    assert tm.run(["ls", "-A", m]).stdout == ""


@pytest.mark.parametrize(("side", "path"), [
    ("src", "/etc/passwd"),
    ("src", "../../../../../../../etc/passwd"),
    ("dst", "/tmp/mpflow-planted"),
    ("dst", "../mpflow-planted"),
])
def test_transfers_stay_inside_the_workdirs_on_the_slave(tm, ts, dirs, side, path):
    m, s = dirs
    write(tm, {f"{m}/md.tpr": b"x"})
    with pytest.raises(PathOutsideWorkdir, match=r"\[beta\] path .* is outside the cluster's workdir"):
        if side == "src":
            transfer_file(ts, path, tm, f"{m}/stolen")
        else:
            transfer_file(tm, f"{m}/md.tpr", ts, path)
    assert listing(tm, m) == {"md.tpr": (1, 0o644)}
    assert ts.run(["ls", "/tmp/mpflow-planted", f"{ts.settings.workdir}/../mpflow-planted"]).returncode == 2


def test_paths_with_spaces_and_shell_metacharacters_travel_literally(tm, ts, dirs, slave):
    m, s = dirs
    token = f"pwned{os.getpid()}"
    folder = f"a b;$(touch {token})"
    names = {f"{folder}/it's \"q\" $HOME;`touch {token}` *.tpr": b"one",
             f"{folder}/-dash & | > {token}": b"two",
             f"{folder}/line\nbreak": b"three"}
    write(tm, {f"{m}/src/{k}": v for k, v in names.items()})

    res = transfer_tree(tm, f"{m}/src", ts, s, parallel=2)
    assert sorted(posixpath.relpath(r.path, s) for r in res) == sorted(names)
    assert listing(ts, s) == {rel: (len(data), 0o644) for rel, data in names.items()}

    one = next(rel for rel in names if rel.endswith("*.tpr"))
    back = transfer_file(ts, f"{s}/{one}", tm, f"{m}/back/{one}")
    assert back.sha256 == sha(b"one")
    with tm.open_read(f"{m}/back/{one}") as f:
        assert f.read() == b"one"

    # nothing ran: no file named after the token anywhere a shell would have created it
    home = ts.run(["sh", "-c", 'echo "$HOME"']).stdout.strip()
    found = ts.run(["find", home, slave.workdir, "/tmp", "-maxdepth", "6", "-name", f"{token}*", "-print"])
    assert found.stdout == "", found.stdout
    assert not any(token in n for n in os.listdir(".")) and not os.path.exists(os.path.join(m, token))


def test_slave_to_a_remote_master_streams_through_this_machine(master, ts, dirs):
    """Neither side local: the master cluster reached over its SSH login node, as a second remote."""
    m, s = dirs
    data = os.urandom(400_000)
    write(ts, {f"{s}/src/sub/x.bin": data}, {f"{s}/src/sub/x.bin": 0o700})
    alpha_ssh = master.model_copy(update={"kind": "remote"})
    with SSHTransport(alpha_ssh) as ta:
        # straight under the workdir: the tests/ folder there belongs to this process's user, not the SSH one
        target = f"{master.workdir}/viamaster-{os.getpid()}"
        try:
            res = transfer_tree(ts, f"{s}/src", ta, target, parallel=2)
            assert [(posixpath.relpath(r.path, target), r.action, r.sha256) for r in res] == [
                ("sub/x.bin", Action.COPIED, sha(data))]
            assert listing(ta, target) == {"sub/x.bin": (len(data), 0o700)}
            assert ta.sha256([f"{target}/sub/x.bin"]) == {f"{target}/sub/x.bin": sha(data)}
        finally:
            ta.run(["rm", "-rf", "--", target])
