"""The transfer engine (mpflow.transfers.engine) on two local transports: copies, skips, retries, faults, confinement.

Faults are injected through a transport (``transport_wrappers.Damaging``): the bytes that land in the destination
file are really damaged, and the engine must catch it by size and sha256.
"""

from __future__ import annotations

import hashlib
import os
import threading

import pytest
from transport_wrappers import Counting, Damaging

from mpflow.clusters.transport import PathOutsideWorkdir
from mpflow.transfers.engine import (
    Action,
    SourceMissing,
    TransferError,
    transfer_file,
    transfer_files,
    transfer_tree,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write(t, files: dict[str, bytes], modes: dict[str, int] | None = None) -> None:
    assert t.write_files(files) == {}
    for path, mode in (modes or {}).items():
        t.chmod(path, mode)


def listing(t, folder: str = ".") -> dict[str, tuple[int, int]]:
    """{relative path: (size, mode)} of every file under ``folder``, temporary files included."""
    return {e.path: (e.size, e.mode) for e in t.list_files(folder) or []}


TREE = {
    "run.sh": b"#!/bin/bash\necho md\n",
    "md.tpr": os.urandom(20_000),
    "sub/em.mdp": b"integrator = steep\n",
    "sub/deeper/traj.xtc": os.urandom(150_000),
    "sub/deeper/empty.dat": b"",
}


def test_tree_copies_with_modes_then_skips_identical_files_and_recopies_a_changed_one(local_pair):
    here, there = local_pair
    write(here, {f"src/{k}": v for k, v in TREE.items()}, {"src/run.sh": 0o755})
    first = transfer_tree(here, "src", there, "dst")
    root = there.settings.workdir
    assert [(r.path, r.action, r.attempts, r.bytes, r.sha256) for r in first] == [
        (f"{root}/dst/{k}", Action.COPIED, 1, len(TREE[k]), sha(TREE[k])) for k in sorted(TREE)]
    assert listing(there, "dst") == {k: (len(v), 0o755 if k == "run.sh" else 0o644) for k, v in TREE.items()}
    assert there.sha256([f"dst/{k}" for k in TREE]) == {f"dst/{k}": sha(v) for k, v in TREE.items()}

    second = transfer_tree(here, "src", there, "dst")
    assert [(r.action, r.attempts) for r in second] == [(Action.SKIPPED, 0)] * len(TREE)

    changed = bytes(b ^ 1 for b in TREE["md.tpr"])  # same size, other content
    write(here, {"src/md.tpr": changed})
    there.chmod("dst/sub/em.mdp", 0o600)  # a mode that differs is fixed without a copy
    third = {os.path.relpath(r.path, f"{root}/dst"): r.action for r in transfer_tree(here, "src", there, "dst")}
    assert third == {k: Action.COPIED if k == "md.tpr" else Action.SKIPPED for k in TREE}
    assert listing(there, "dst")["sub/em.mdp"] == (len(TREE["sub/em.mdp"]), 0o644)

    back = transfer_tree(there, "dst", here, "back", include=["*.tpr", "*.sh", "*.xtc"], exclude=["sub/*"])
    assert [os.path.basename(r.path) for r in back] == ["md.tpr", "run.sh"]
    assert listing(here, "back") == {"md.tpr": (len(changed), 0o644), "run.sh": (len(TREE["run.sh"]), 0o755)}


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_copy_damaged_once_is_caught_and_retried_once(local_pair, damage):
    here, there = local_pair
    data = os.urandom(30_000)
    write(here, {"md.tpr": data})
    faulty = Damaging(there, damage, times=1)
    res = transfer_file(here, "md.tpr", faulty, "out/md.tpr", retry_delay_s=0)
    assert (res.action, res.attempts, res.sha256) == (Action.COPIED, 2, sha(data))
    assert len(faulty.written) == 2 and faulty.written[0] != faulty.written[1]
    assert all(os.path.basename(p).startswith(".md.tpr.mpflow-tmp-") for p in faulty.written)
    assert listing(there) == {"out/md.tpr": (len(data), 0o644)}, "no temporary file left"


@pytest.mark.parametrize("existed", [False, True])
def test_a_copy_damaged_every_time_fails_and_leaves_the_destination_as_it_was(local_pair, existed):
    here, there = local_pair
    data = os.urandom(30_000)
    write(here, {"md.tpr": data})
    old = b"previous good version\n"
    if existed:
        write(there, {"sub/md.tpr": old})
    faulty = Damaging(there, "flip")
    with pytest.raises(TransferError) as err:
        transfer_file(here, "md.tpr", faulty, "sub/md.tpr", retry_delay_s=0)
    e = err.value
    dst = f"{there.settings.workdir}/sub/md.tpr"
    assert (e.source, e.destination, e.attempts, len(faulty.written)) == (f"{here.settings.workdir}/md.tpr", dst, 3, 3)
    assert (e.expected_size, e.expected_sha256, e.found_size) == (len(data), sha(data), len(data))
    assert e.found_sha256 not in (None, sha(data))
    assert dst in str(e) and sha(data) in str(e) and e.found_sha256 in str(e) and "3 attempt" in str(e)
    assert listing(there) == ({"sub/md.tpr": (len(old), 0o644)} if existed else {}), "no temporary file left"


def test_a_tree_damaged_every_time_in_parallel_leaves_no_temporary_file(local_pair):
    here, there = local_pair
    write(here, {f"src/f{i}": os.urandom(5000) for i in range(6)})
    faulty = Damaging(there, "truncate")
    with pytest.raises(TransferError):
        transfer_tree(here, "src", faulty, "dst", parallel=3, attempts=2, retry_delay_s=0)
    assert len(faulty.written) == 12
    assert listing(there) == {}


def test_parallel_workers_give_the_same_result_as_one(local_pair):
    here, there = local_pair
    files = {f"src/g{i % 4}/f{i:02d}.bin": os.urandom(1000 * (i + 1)) for i in range(24)}
    write(here, files)
    meet = threading.Barrier(4, timeout=30)

    class FourAtOnce(Damaging):
        """Damages nothing; each worker's first write waits until four workers write at once."""

        def open_write(self, path):
            if threading.current_thread().name not in self.threads:
                meet.wait()
            return super().open_write(path)

    counting = FourAtOnce(there, "flip", times=0)
    seq = transfer_tree(here, "src", there, "seq")
    par = transfer_tree(here, "src", counting, "par", parallel=4)
    root = there.settings.workdir
    assert [(os.path.relpath(r.path, f"{root}/par"), r.sha256, r.attempts) for r in par] == [
        (os.path.relpath(r.path, f"{root}/seq"), r.sha256, r.attempts) for r in seq]
    assert len(counting.threads) == 4 and all(n.startswith("mpflow-transfer") for n in counting.threads)


def test_files_go_as_one_batch_with_one_hash_command_per_side(local_pair):
    here, there = local_pair
    files = {f"m{i}/emmd/emmd.tpr": os.urandom(5_000 + i) for i in range(4)}
    write(here, {f"src/{k}": v for k, v in files.items()})
    write(there, {"dst/m0/emmd/emmd.tpr": files["m0/emmd/emmd.tpr"]})  # already there: skipped
    src, dst = Counting(here), Counting(there)
    pairs = [(f"src/{k}", f"dst/{k}") for k in files]
    results = transfer_files(src, dst, pairs)
    root = there.settings.workdir
    assert [(r.path, r.action, r.sha256) for r in results] == [
        (f"{root}/dst/{k}", Action.SKIPPED if k.startswith("m0/") else Action.COPIED, sha(v))
        for k, v in files.items()]
    assert there.sha256([f"dst/{k}" for k in files]) == {f"dst/{k}": sha(v) for k, v in files.items()}
    assert src.calls["sha256"] == 1  # every source file hashed by one command
    assert dst.calls["sha256"] == 2  # the one same-size file at the destination, then the copies
    assert dst.calls["makedirs"] == 1


def test_a_missing_source_in_a_batch_creates_nothing(local_pair):
    here, there = local_pair
    write(here, {"src/a.tpr": b"a"})
    with pytest.raises(SourceMissing, match="no-such.tpr"):
        transfer_files(here, there, [("src/a.tpr", "dst/a.tpr"), ("src/no-such.tpr", "dst/b.tpr")])
    assert there.list_files("dst") is None


def test_a_missing_source_is_a_clear_error_and_creates_nothing(local_pair):
    here, there = local_pair
    with pytest.raises(SourceMissing, match=r"source file .*/no-such.tpr does not exist on here"):
        transfer_file(here, "no-such.tpr", there, "new/md.tpr")
    with pytest.raises(SourceMissing, match=r"source folder .*/no-such-dir does not exist on here"):
        transfer_tree(here, "no-such-dir", there, "new")
    assert listing(there) == {} and os.listdir(there.settings.workdir) == []


@pytest.mark.parametrize(("src_path", "dst_path"), [
    ("/etc/hostname", "stolen"),
    ("../../../../../../etc/hostname", "stolen"),
    ("md.tpr", "/tmp/planted"),
    ("md.tpr", "../planted"),
])
def test_transfers_stay_inside_both_workdirs(local_pair, tmp_path, src_path, dst_path):
    here, there = local_pair
    write(here, {"md.tpr": b"x"})
    with pytest.raises(PathOutsideWorkdir, match="outside the cluster's workdir"):
        transfer_file(here, src_path, there, dst_path)
    with pytest.raises(PathOutsideWorkdir):
        transfer_tree(here, os.path.dirname(src_path) or ".", there, dst_path)
    assert listing(there) == {}
    assert not os.path.exists("/tmp/planted") and not (tmp_path / "there" / "planted").exists()
