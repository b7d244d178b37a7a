"""Verified transfers between the dev clusters (mpflow.transfer): alpha is the master (local), beta the
slave (SSH). Every check reads the destination through its own cluster (sha256sum, find, SFTP)."""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import threading
import time

import pytest
from cluster_helpers import new_token

from mpflow.transfer import Action, SourceMissing, TransferError, transfer_file, transfer_tree
from mpflow.transport import SSHTransport, check, open_transport

MB = 1024 * 1024


# -- fixtures and helpers ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tm(master):
    with open_transport(master) as t:
        yield t


@pytest.fixture(scope="module")
def ts(slave):
    with open_transport(slave) as t:
        yield t


@pytest.fixture
def dirs(request, master, slave, tm, ts):
    """A unique folder per test on the master (local) and on the slave (remote); removed afterwards."""
    token = new_token(request.node.name.split("[")[0][5:30])
    m = posixpath.join(master.workdir, "tests", "transfer", token)
    s = posixpath.join(slave.workdir, "tests", "transfer", token)
    os.makedirs(m)
    check(ts.run(["mkdir", "-p", "--", s]), slave.name, "mkdir")
    yield m, s
    shutil.rmtree(m, ignore_errors=True)
    ts.run(["rm", "-rf", "--", s])


def write_tree(root: str, files: dict[str, bytes], modes: dict[str, int] | None = None) -> None:
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, (modes or {}).get(rel, 0o644))


def remote_listing(t, folder: str) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mode)} of every file under ``folder``, temporary files included."""
    res = check(t.run(["find", folder, "-type", "f", "-printf", r"%P\0%s\0%m\0"]), t.settings.name, "find")
    f = res.stdout.split("\0")[:-1]
    return {f[i]: (int(f[i + 1]), int(f[i + 2], 8)) for i in range(0, len(f), 3)}


def remote_sha256(t, path: str) -> str:
    res = check(t.run(["sha256sum", "--", path]), t.settings.name, "sha256sum")
    return res.stdout.split()[0]


def local_listing(folder: str) -> dict[str, tuple[int, int]]:
    out = {}
    for root, _, names in os.walk(folder):
        for n in names:
            st = os.stat(os.path.join(root, n))
            out[os.path.relpath(os.path.join(root, n), folder)] = (st.st_size, stat.S_IMODE(st.st_mode))
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


TREE = {
    "run.sh": b"#!/bin/bash\necho md\n",
    "md.tpr": os.urandom(200_000),
    "sub/em.mdp": b"integrator = steep\n",
    "sub/deeper/traj.xtc": os.urandom(1_500_000),
    "sub/deeper/empty.dat": b"",
}
TREE_MODES = {"run.sh": 0o755}


# -- tests -------------------------------------------------------------------------------------------

def test_50mb_round_trip_master_to_slave_and_back(tm, ts, dirs, tmp_path, capsys, record_property):
    m, s = dirs
    data = os.urandom(50 * MB)
    src = tmp_path / "big.bin"
    src.write_bytes(data)

    t0 = time.monotonic()
    up = transfer_file(tm, str(src), ts, posixpath.join(s, "big.bin"))
    t1 = time.monotonic()
    down = transfer_file(ts, posixpath.join(s, "big.bin"), tm, posixpath.join(m, "big.bin"))
    t2 = time.monotonic()

    assert (up.action, up.attempts, up.bytes, up.sha256) == (Action.COPIED, 1, 50 * MB, sha(data))
    assert (down.action, down.attempts, down.bytes, down.sha256) == (Action.COPIED, 1, 50 * MB, sha(data))
    assert remote_sha256(ts, posixpath.join(s, "big.bin")) == sha(data)
    with open(posixpath.join(m, "big.bin"), "rb") as f:
        assert sha(f.read()) == sha(data)
    assert remote_listing(ts, s) == {"big.bin": (50 * MB, 0o644)}, "no temporary file left"
    assert sorted(os.listdir(m)) == ["big.bin"]

    record_property("upload_s", round(t1 - t0, 2))
    record_property("download_s", round(t2 - t1, 2))
    with capsys.disabled():
        print(f"\n50 MB round trip: up {t1 - t0:.2f} s ({50 / (t1 - t0):.0f} MB/s), "
              f"down {t2 - t1:.2f} s ({50 / (t2 - t1):.0f} MB/s), total {t2 - t0:.2f} s")

    again = transfer_file(tm, str(src), ts, posixpath.join(s, "big.bin"))
    assert (again.action, again.attempts) == (Action.SKIPPED, 0)


def test_tree_copies_with_modes_then_a_second_transfer_skips_every_file(tm, ts, dirs):
    m, s = dirs
    write_tree(posixpath.join(m, "src"), TREE, TREE_MODES)
    dst = posixpath.join(s, "tree")

    first = transfer_tree(tm, posixpath.join(m, "src"), ts, dst)
    assert [(posixpath.relpath(r.path, dst), r.action, r.attempts, r.bytes, r.sha256) for r in first] == [
        (rel, Action.COPIED, 1, len(TREE[rel]), sha(TREE[rel])) for rel in sorted(TREE)]
    assert remote_listing(ts, dst) == {rel: (len(data), TREE_MODES.get(rel, 0o644)) for rel, data in TREE.items()}
    for rel, data in TREE.items():
        assert remote_sha256(ts, posixpath.join(dst, rel)) == sha(data)

    second = transfer_tree(tm, posixpath.join(m, "src"), ts, dst)
    assert [(r.action, r.attempts) for r in second] == [(Action.SKIPPED, 0)] * len(TREE)

    # one changed file (same size) is copied again; the others are still skipped
    changed = bytes(b ^ 1 for b in TREE["md.tpr"])
    write_tree(posixpath.join(m, "src"), {"md.tpr": changed})
    third = {posixpath.relpath(r.path, dst): r.action for r in transfer_tree(tm, posixpath.join(m, "src"), ts, dst)}
    assert third == {rel: Action.COPIED if rel == "md.tpr" else Action.SKIPPED for rel in TREE}
    assert remote_sha256(ts, posixpath.join(dst, "md.tpr")) == sha(changed)

    # and back to the master, with include/exclude patterns
    back = posixpath.join(m, "back")
    got = transfer_tree(ts, dst, tm, back, include=["*.tpr", "*.sh", "*.xtc"], exclude=["sub/*"])
    assert [posixpath.relpath(r.path, back) for r in got] == ["md.tpr", "run.sh"]
    assert local_listing(back) == {"md.tpr": (len(changed), 0o644), "run.sh": (len(TREE["run.sh"]), 0o755)}


def test_parallel_tree_transfer_gives_the_same_result_as_sequential(tm, ts, dirs):
    m, s = dirs
    files = {f"g{i % 4}/f{i:02d}.bin": os.urandom(1000 * (i + 1)) for i in range(24)}
    files["g0/job.sh"] = b"#!/bin/bash\n"
    write_tree(posixpath.join(m, "src"), files, {"g0/job.sh": 0o750})
    threads: set[str] = set()

    def note_thread(_t, _tmp):
        threads.add(threading.current_thread().name)

    seq = transfer_tree(tm, posixpath.join(m, "src"), ts, posixpath.join(s, "seq"), parallel=1)
    par = transfer_tree(tm, posixpath.join(m, "src"), ts, posixpath.join(s, "par"), parallel=4,
                        after_copy=note_thread)

    def summary(results, root):
        return [(posixpath.relpath(r.path, root), r.bytes, r.sha256, r.action, r.attempts) for r in results]

    assert summary(par, posixpath.join(s, "par")) == summary(seq, posixpath.join(s, "seq"))
    assert len(seq) == len(files)
    assert remote_listing(ts, posixpath.join(s, "par")) == remote_listing(ts, posixpath.join(s, "seq"))
    assert len(threads) == 4 and all(n.startswith("mpflow-transfer") for n in threads), threads
    # from the slave back to the master, in parallel too
    back = transfer_tree(ts, posixpath.join(s, "par"), tm, posixpath.join(m, "back"), parallel=4)
    assert summary(back, posixpath.join(m, "back")) == summary(seq, posixpath.join(s, "seq"))


def flip_bytes(t, path: str) -> None:
    """Really alter a file on the destination cluster: invert 16 bytes in the middle. The hook may run
    in several worker threads at once, so it opens its own SFTP channel (clients are not shared)."""
    with t.connection().client.open_sftp() as sftp, sftp.open(path, "r+") as f:
        f.seek(1000)
        chunk = f.read(16)
        f.seek(1000)
        f.write(bytes(b ^ 0xFF for b in chunk))


def truncate(t, path: str) -> None:
    """A partial copy: cut the last 100 bytes."""
    with t.connection().client.open_sftp() as sftp:
        sftp.truncate(path, sftp.stat(path).st_size - 100)


@pytest.mark.parametrize("damage", [flip_bytes, truncate])
def test_a_copy_damaged_once_is_caught_and_retried(tm, ts, dirs, damage):
    m, s = dirs
    data = os.urandom(300_000)
    write_tree(m, {"md.tpr": data})
    calls = []

    def damage_first(t, tmp):
        calls.append(tmp)
        assert t is ts and posixpath.basename(tmp).startswith(".md.tpr.mpflow-tmp-")
        if len(calls) == 1:
            damage(t, tmp)

    res = transfer_file(tm, posixpath.join(m, "md.tpr"), ts, posixpath.join(s, "md.tpr"),
                        after_copy=damage_first, retry_delay_s=0)
    assert (res.action, res.attempts, res.sha256) == (Action.COPIED, 2, sha(data))
    assert len(calls) == 2 and calls[0] != calls[1]
    assert remote_sha256(ts, posixpath.join(s, "md.tpr")) == sha(data)
    assert remote_listing(ts, s) == {"md.tpr": (len(data), 0o644)}


@pytest.mark.parametrize("existed", [False, True])
def test_a_copy_damaged_every_time_fails_and_leaves_the_destination_as_it_was(tm, ts, dirs, existed):
    m, s = dirs
    data = os.urandom(300_000)
    write_tree(m, {"md.tpr": data})
    dst = posixpath.join(s, "sub", "md.tpr")
    old = b"previous good version\n"
    if existed:
        write_tree(m, {"old": old})
        transfer_file(tm, posixpath.join(m, "old"), ts, dst)

    with pytest.raises(TransferError) as err:
        transfer_file(tm, posixpath.join(m, "md.tpr"), ts, dst, after_copy=flip_bytes, retry_delay_s=0)
    e = err.value
    assert (e.source, e.destination, e.attempts) == (posixpath.join(m, "md.tpr"), dst, 3)
    assert (e.expected_size, e.expected_sha256, e.found_size) == (len(data), sha(data), len(data))
    assert e.found_sha256 not in (None, sha(data))
    assert dst in str(e) and sha(data) in str(e) and e.found_sha256 in str(e) and "3 attempt" in str(e)

    if existed:
        assert remote_listing(ts, s) == {"sub/md.tpr": (len(old), 0o644)}
        assert remote_sha256(ts, dst) == sha(old)
    else:
        assert remote_listing(ts, s) == {}, "no destination and no temporary file"


def test_a_tree_damaged_every_time_in_parallel_leaves_no_temp_files(tm, ts, dirs):
    m, s = dirs
    write_tree(posixpath.join(m, "src"), {f"f{i}": os.urandom(5000) for i in range(6)})
    with pytest.raises(TransferError):
        transfer_tree(tm, posixpath.join(m, "src"), ts, s, parallel=3, attempts=2, after_copy=flip_bytes,
                      retry_delay_s=0)
    assert remote_listing(ts, s) == {}


def test_a_missing_source_is_a_clear_error_and_creates_nothing(tm, ts, dirs):
    m, s = dirs
    with pytest.raises(SourceMissing, match=r"does not exist on alpha") as err:
        transfer_file(tm, posixpath.join(m, "no-such.tpr"), ts, posixpath.join(s, "new", "md.tpr"))
    assert err.value.source == posixpath.join(m, "no-such.tpr")
    with pytest.raises(SourceMissing, match=r"does not exist on beta"):
        transfer_file(ts, posixpath.join(s, "no-such.tpr"), tm, posixpath.join(m, "new", "md.tpr"))
    with pytest.raises(SourceMissing, match=r"source folder .* does not exist"):
        transfer_tree(tm, posixpath.join(m, "no-such-dir"), ts, posixpath.join(s, "new"))
    assert check(ts.run(["ls", "-A", s]), "beta", "ls").stdout == ""
    assert os.listdir(m) == []


def test_paths_with_spaces_and_shell_metacharacters_travel_literally(tm, ts, dirs, slave):
    m, s = dirs
    token = new_token("pwned")
    folder = f"a b;$(touch {token})"
    names = {f"{folder}/it's \"q\" $HOME;`touch {token}` *.tpr": b"one",
             f"{folder}/-dash & | > {token}": b"two",
             f"{folder}/line\nbreak": b"three"}
    write_tree(posixpath.join(m, "src"), names)

    res = transfer_tree(tm, posixpath.join(m, "src"), ts, s, parallel=2)
    assert sorted(posixpath.relpath(r.path, s) for r in res) == sorted(names)
    assert remote_listing(ts, s) == {rel: (len(data), 0o644) for rel, data in names.items()}
    sftp_names = set(ts.sftp().listdir(posixpath.join(s, folder)))
    assert sftp_names == {posixpath.basename(rel) for rel in names}

    one = next(rel for rel in names if rel.endswith("*.tpr"))
    back = transfer_file(ts, posixpath.join(s, one), tm, posixpath.join(m, "back", one))
    assert back.sha256 == sha(b"one")
    with open(posixpath.join(m, "back", one), "rb") as f:
        assert f.read() == b"one"

    # nothing ran: no file named after the token anywhere a shell would have created it
    home = check(ts.run(["sh", "-c", 'echo "$HOME"']), "beta", "home").stdout.strip()
    found = ts.run(["find", home, slave.workdir, "/tmp", "-maxdepth", "6", "-name", f"{token}*", "-print"])
    assert found.stdout == "", found.stdout
    assert not any(token in n for n in os.listdir(".")) and not os.path.exists(os.path.join(m, token))


def test_slave_to_remote_master_goes_through_a_local_temp_file(master, ts, dirs):
    """Neither side local: the master cluster reached over its SSH login node, as a second remote."""
    m, s = dirs
    check(ts.run(["mkdir", "-p", "--", posixpath.join(s, "src", "sub")]), "beta", "mkdir")
    data = os.urandom(400_000)
    with ts.sftp().open(posixpath.join(s, "src", "sub", "x.bin"), "w") as f:
        f.write(data)
    ts.sftp().chmod(posixpath.join(s, "src", "sub", "x.bin"), 0o700)

    alpha_ssh = master.model_copy(update={"kind": "remote"})
    with SSHTransport(alpha_ssh) as ta:
        # straight under the workdir: the tests/ folder there belongs to this process's user, not the SSH one
        target = posixpath.join(master.workdir, new_token("transfer-viamaster"))
        check(ta.run(["mkdir", "--", target]), "alpha", "mkdir")
        try:
            res = transfer_tree(ts, posixpath.join(s, "src"), ta, target, parallel=2)
            assert [(posixpath.relpath(r.path, target), r.action, r.sha256) for r in res] == [
                ("sub/x.bin", Action.COPIED, sha(data))]
            assert remote_listing(ta, target) == {"sub/x.bin": (len(data), 0o700)}
            assert remote_sha256(ta, posixpath.join(target, "sub", "x.bin")) == sha(data)
        finally:
            ta.run(["rm", "-rf", "--", target])
