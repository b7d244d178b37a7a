"""The local transport on a temporary workdir: commands, file operations, and confinement to the workdir."""

from __future__ import annotations

import hashlib
import os

import pytest

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import (
    FileEntry,
    FileStat,
    LocalTransport,
    PathOutsideWorkdir,
    TransportError,
)


def test_run_takes_argv_stdin_and_a_missing_cwd_fails_the_command(local_pair, tmp_path):
    here, _ = local_pair
    res = here.run(["sh", "-c", 'printf "%s|" "$@"; cat', "argv0", "a b", "$(reboot)"], stdin=b"in\n")
    assert (res.returncode, res.stdout) == (0, "a b|$(reboot)|in\n")
    missing = tmp_path / "no-such-folder"
    res = here.run(["pwd"], cwd=str(missing))
    assert (res.returncode, res.stdout, res.stderr) == (1, "", f"cd: {missing}: No such file or directory\n")


def test_a_missing_program_is_a_transport_error_with_a_hint(local_pair):
    here, _ = local_pair
    with pytest.raises(TransportError, match=r"^\[here\] program not found: no-such-program-x; is it installed"):
        here.run(["no-such-program-x"])


def test_file_operations(local_pair):
    here, _ = local_pair
    root = here.settings.workdir
    here.makedirs(["a/b", "a/c"])
    with here.open_write("a/b/f.bin") as f:
        f.write(b"x" * 3000)
    here.chmod("a/b/f.bin", 0o750)
    assert here.stat("a/b/f.bin") == FileStat(3000, 0o750, True, False)
    assert here.stat("a/c") == FileStat(os.stat(f"{root}/a/c").st_size, 0o755, False, True)
    assert here.stat("a/nothing") is None
    here.rename("a/b/f.bin", "a/c/g.bin")
    with here.open_read(f"{root}/a/c/g.bin") as f:
        assert f.read() == b"x" * 3000
    assert here.sha256(["a/c/g.bin", "a/none", "a/b"]) == {"a/c/g.bin": hashlib.sha256(b"x" * 3000).hexdigest()}
    os.symlink(f"{root}/a/c/g.bin", f"{root}/a/link")
    assert here.list_files("a") == [FileEntry("c/g.bin", 3000, 0o750)]  # the link is not followed
    assert here.list_files("nothing-here") is None
    here.remove("a/c/g.bin")
    here.remove("a/c/g.bin")  # nothing there is not an error
    assert here.list_files("a") == []


def test_write_files_writes_many_and_reports_the_ones_it_could_not(local_pair):
    here, _ = local_pair
    root = here.settings.workdir
    open(f"{root}/m3", "w").close()  # a file where a folder should be
    failed = here.write_files({"m1/s.sh": b"one", f"{root}/m2/s.sh": b"two", "m3/s.sh": b"three"}, mode=0o640)
    assert failed == {"m3/s.sh": "m3/s.sh: File exists"}
    assert [(e.path, e.size, e.mode) for e in here.list_files(".")] == [("m1/s.sh", 3, 0o640), ("m2/s.sh", 3, 0o640),
                                                                       ("m3", 0, 0o644)]


@pytest.mark.parametrize("path", ["/etc/hostname", "../escape", "a/../../escape", "/", ""])
def test_paths_outside_the_workdir_are_refused_before_anything_happens(local_pair, path):
    here, _ = local_pair
    with pytest.raises(PathOutsideWorkdir):
        here.write_files({path: b"x"})
    with pytest.raises(PathOutsideWorkdir):
        here.stat(path)
    assert here.list_files(".") == []


def test_a_symbolic_link_cannot_lead_a_local_write_outside_the_workdir(local_pair, tmp_path):
    here, _ = local_pair
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, os.path.join(here.settings.workdir, "link"))
    with pytest.raises(PathOutsideWorkdir, match="through a symbolic link"):
        here.write_files({"link/pwned": b"x"})
    with pytest.raises(PathOutsideWorkdir, match="through a symbolic link"):
        with here.open_write("link/pwned"):
            pass
    assert list(outside.iterdir()) == []


def test_a_workdir_reached_through_a_link_is_still_inside(tmp_path):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    t = LocalTransport(ClusterSettings(name="here", kind="local", workdir=str(tmp_path / "alias")))
    assert t.write_files({"a/b": b"x"}) == {}
    assert (tmp_path / "real" / "a" / "b").read_bytes() == b"x"
