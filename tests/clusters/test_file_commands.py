"""The SSH transport's file commands (mpflow.clusters.transport.file_commands): argv builders and output parsers."""

from __future__ import annotations

import io
import tarfile

import pytest

from mpflow.clusters.transport import FileEntry, is_temp_name, temp_path
from mpflow.clusters.transport.file_commands import (
    chunk_paths,
    find_files_argv,
    mkdir_argv,
    parse_find_files,
    parse_sha256sum,
    parse_untar,
    sha256sum_argv,
    tar_stream,
    untar_argv,
)

# Captured on the beta dev cluster (GNU coreutils 9.1): `sha256sum -z -- a.txt 'x y;$(touch pwn)' nope`.
SHA256SUM_Z_STDOUT = (
    "76eb791bc93dec015c38813b3dca09a0c9410043cdaeb5b7133908c8e83123f9  /w/smoke/a.txt\x00"
    "ae888686b1eb1c6c990e7bc92601e5f91c691c1f07a6b451964d2c02439fa669  /w/smoke/x y;$(touch pwn)\x00"
)
SHA256SUM_Z_STDERR = "sha256sum: /w/smoke/nope: No such file or directory\n"

# Captured on beta (GNU findutils 4.9.0): `find -H DIR -type f -printf '%P\0%s\0%m\0'`.
FIND_STDOUT = ("x y;$(touch pwn)\x004000\x00644\x00sub/b.sh\x002000\x00755\x00sub/deep/c\x003000\x00644\x00"
               "a.txt\x001000\x00644\x00")


def test_parse_sha256sum_keeps_names_literal_and_leaves_out_missing_files():
    found = parse_sha256sum(1, SHA256SUM_Z_STDOUT, SHA256SUM_Z_STDERR)
    assert found == {
        "/w/smoke/a.txt": "76eb791bc93dec015c38813b3dca09a0c9410043cdaeb5b7133908c8e83123f9",
        "/w/smoke/x y;$(touch pwn)": "ae888686b1eb1c6c990e7bc92601e5f91c691c1f07a6b451964d2c02439fa669",
    }


def test_parse_sha256sum_takes_newlines_in_names_and_binary_marker():
    digest = "0" * 64
    assert parse_sha256sum(0, f"{digest}  /a/line\nbreak\x00{digest} */b\x00", "") == {
        "/a/line\nbreak": digest, "/b": digest}


@pytest.mark.parametrize("stdout, rc, stderr", [
    ("not-a-digest  /a\x00", 0, ""),
    ("", 2, "sha256sum: invalid option -- 'z'"),
])
def test_parse_sha256sum_refuses_what_it_cannot_read(stdout, rc, stderr):
    with pytest.raises(ValueError):
        parse_sha256sum(rc, stdout, stderr)


def test_sha256sum_argv_passes_paths_as_separate_literal_arguments():
    assert sha256sum_argv(["/w/a b;$(touch x)", "-odd"]) == ["sha256sum", "-z", "--", "/w/a b;$(touch x)", "./-odd"]


def test_find_argv_and_parser_give_sorted_entries_with_octal_modes():
    assert find_files_argv("/w/t") == ["find", "-H", "/w/t", "-type", "f", "-printf", r"%P\0%s\0%m\0"]
    assert parse_find_files(0, FIND_STDOUT, "") == [
        FileEntry("a.txt", 1000, 0o644),
        FileEntry("sub/b.sh", 2000, 0o755),
        FileEntry("sub/deep/c", 3000, 0o644),
        FileEntry("x y;$(touch pwn)", 4000, 0o644),
    ]
    assert parse_find_files(0, "", "") == []


def test_parse_find_files_raises_with_find_error():
    with pytest.raises(ValueError, match="No such file"):
        parse_find_files(1, "", "find: '/w/none': No such file or directory\n")


def test_temp_path_is_hidden_beside_the_destination_and_recognised():
    assert temp_path("/w/a/md.tpr", "abc") == "/w/a/.md.tpr.mpflow-tmp-abc"
    assert is_temp_name(temp_path("/w/a/md.tpr"))
    assert not is_temp_name("/w/a/md.tpr")
    assert temp_path("/w/a/md.tpr") != temp_path("/w/a/md.tpr")


def test_parse_sha256sum_maps_a_leading_dash_back():
    digest = "1" * 64
    assert parse_sha256sum(0, f"{digest}  ./-odd\x00", "") == {"-odd": digest}


def test_chunk_paths_bounds_files_and_characters_per_command():
    assert chunk_paths(["a", "b", "c"], max_files=2) == [["a", "b"], ["c"]]
    assert chunk_paths(["aaaa", "bbbb", "cc"], max_chars=10) == [["aaaa", "bbbb"], ["cc"]]
    assert chunk_paths([]) == []
    assert mkdir_argv(["/w/a b", "-x"]) == ["mkdir", "-p", "--", "/w/a b", "./-x"]


def test_tar_stream_holds_relative_members_and_untar_takes_the_root_as_an_argument():
    data = tar_stream("/w/root", {"/w/root/m1/emmd.beta.sbatch": b"#!/bin/bash\n", "/w/root/a b/c": b"x"}, 0o640)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: (m.size, m.mode) for m in tar.getmembers()}
        assert tar.extractfile("m1/emmd.beta.sbatch").read() == b"#!/bin/bash\n"
    assert members == {"m1/emmd.beta.sbatch": (12, 0o640), "a b/c": (1, 0o640)}
    argv = untar_argv("/w/root")
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["mpflow-upload", "/w/root"] and "/w/root" not in argv[2]


def test_parse_untar_names_the_files_tar_could_not_write():
    paths = ["/w/root/m1/s.sh", "/w/root/m2/s.sh", "/w/root/m3/s.sh"]
    # GNU tar 1.34 on beta, with m2/ not writable and a file where m3/ should be (captured).
    stderr = ("tar: m2/s.sh: Cannot open: Permission denied\n"
              "tar: m3/s.sh: Cannot open: Not a directory\n"
              "tar: Exiting with failure status due to previous errors\n")
    assert parse_untar(2, "", stderr, "/w/root", paths) == {
        "/w/root/m2/s.sh": "/w/root/m2/s.sh: Cannot open: Permission denied",
        "/w/root/m3/s.sh": "/w/root/m3/s.sh: Cannot open: Not a directory",
    }
    # an error about a folder counts for every file under it
    assert parse_untar(2, "", "tar: m2: Cannot mkdir: Permission denied\n", "/w/root", paths) == {
        "/w/root/m2/s.sh": "/w/root/m2/s.sh: Cannot mkdir: Permission denied"}
    assert parse_untar(0, "", "", "/w/root", paths) == {}
    with pytest.raises(ValueError, match="tar -x failed"):
        parse_untar(2, "", "tar: This does not look like a tar archive\n", "/w/root", paths)
