"""Both transports on the dev clusters: commands (a missing folder fails them, stdin, env), file operations,
many files in one upload, and every path kept inside the workdir."""

from __future__ import annotations

import hashlib
import os

import pytest
from transport_wrappers import Counting

from mpflow.clusters.transport import (
    FileEntry,
    FileStat,
    PathOutsideWorkdir,
    open_transport,
)

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters


def test_a_missing_folder_fails_the_command_even_with_env_set(site, tmp_path):
    """Over SSH the command is `export ...` and `cd -- <folder>` and the command, joined by `&&`: with env
    set, a failed `cd` must not run the command in $HOME and report success."""
    marker = f"mpflow-ran-{os.getpid()}"
    with_env = site.settings.model_copy(update={"env": {**site.settings.env, "MPFLOW_TEST_VAR": "a b;$(reboot)"}})
    with open_transport(with_env) as t:
        res = t.run(["sh", "-c", 'touch "$HOME/$1"; echo "$MPFLOW_TEST_VAR"', "sh", marker],
                    cwd=site.path("no-such-folder"))
        assert res.returncode != 0 and res.stdout == ""
        assert res.stderr.rstrip().endswith(f"cd: {site.path('no-such-folder')}: No such file or directory")
        home = t.run(["sh", "-c", 'echo "$HOME"']).stdout.strip()
        assert t.run(["test", "-e", f"{home}/{marker}"]).returncode == 1, "the command ran elsewhere"
        ok = t.run(["sh", "-c", 'echo "$MPFLOW_TEST_VAR"; pwd'], cwd=site.folder)
        assert (ok.returncode, ok.stdout) == (0, f"a b;$(reboot)\n{site.folder}\n")


def test_stdin_of_any_size_reaches_the_command_byte_for_byte(site):
    data = os.urandom(300_000)
    res = site.transport.run(["sha256sum"], stdin=data)
    assert res.stdout.split()[0] == hashlib.sha256(data).hexdigest()


def test_many_files_go_in_one_upload_and_failures_are_named_per_file(site):
    counting = Counting(site.transport)
    files = {site.path(f"m{i:03d}", "emmd.sbatch"): f"#!/bin/bash\necho {i}\n".encode() for i in range(300)}
    blocked = site.path("blocked")
    assert site.transport.write_files({blocked: b"a file where a folder should be"}) == {}
    files[site.path("blocked", "emmd.sbatch")] = b"x"
    failed = counting.write_files(files, mode=0o640)
    # over SSH tar says why; locally the folder cannot be made
    why = "Cannot open: Not a directory" if site.settings.kind == "remote" else "File exists"
    assert failed == {site.path("blocked", "emmd.sbatch"): f"{site.path('blocked', 'emmd.sbatch')}: {why}"}
    assert counting.calls == {"write_files": 1}
    listing = site.transport.list_files(site.folder)
    assert len(listing) == 301 and listing[1] == FileEntry("m000/emmd.sbatch", 19, 0o640)
    assert site.transport.sha256([site.path("m007", "emmd.sbatch")]) == {
        site.path("m007", "emmd.sbatch"): hashlib.sha256(b"#!/bin/bash\necho 7\n").hexdigest()}


def test_file_operations_round_trip(site):
    t = site.transport
    t.makedirs([site.path("a", "b"), site.path("c")])
    with t.open_write(site.path("a", "b", "x.bin")) as f:
        f.write(b"0123456789" * 1000)
    t.chmod(site.path("a", "b", "x.bin"), 0o600)
    assert t.stat(site.path("a", "b", "x.bin")) == FileStat(10_000, 0o600, True, False)
    assert t.stat(site.path("c")).is_dir and t.stat(site.path("none")) is None
    t.rename(site.path("a", "b", "x.bin"), site.path("c", "y.bin"))
    with t.open_read(site.path("c", "y.bin")) as f:
        assert f.read() == b"0123456789" * 1000
    t.remove(site.path("c", "y.bin"))
    t.remove(site.path("c", "y.bin"))
    assert t.list_files(site.folder) == [] and t.list_files(site.path("none")) is None


@pytest.mark.parametrize("path", ["/etc/passwd", "../../../../../../etc/passwd", "/tmp/mpflow-planted", ".."])
def test_every_file_operation_stays_inside_the_workdir(site, path):
    t = site.transport
    for operation in (lambda: t.stat(path), lambda: t.write_files({path: b"x"}), lambda: t.sha256([path]),
                      lambda: t.list_files(path), lambda: t.remove(path), lambda: t.makedirs([path])):
        with pytest.raises(PathOutsideWorkdir, match=rf"\[{site.name}\] path .* is outside the cluster's workdir"):
            operation()
    assert t.run(["test", "-e", "/tmp/mpflow-planted"]).returncode == 1
