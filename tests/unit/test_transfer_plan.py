"""Pure parts of mpflow.transfer: argv builders and parsers, the tree plan, selection, batching."""

from __future__ import annotations

import hashlib

import pytest

from mpflow.transfer import (FileEntry, TreePlan, batches, find_files_argv, is_temp_name, mismatch,
                             parse_find_files, parse_sha256sum, paths_to_hash_at_destination, plan_tree, select,
                             sha256_local, sha256sum_argv, temp_path)

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


E = FileEntry


@pytest.mark.parametrize("src, dst, copy, skip", [
    # nothing at the destination: copy all
    ([E("a", 1, sha256="x"), E("b", 2, sha256="y")], [], ["a", "b"], []),
    # same size and sha256: skip
    ([E("a", 1, sha256="x")], [E("a", 1, sha256="x")], [], ["a"]),
    # same size, other content
    ([E("a", 1, sha256="x")], [E("a", 1, sha256="z")], ["a"], []),
    # other size (destination not hashed)
    ([E("a", 1, sha256="x")], [E("a", 5)], ["a"], []),
    # destination hash unknown (unreadable): copy
    ([E("a", 1, sha256="x")], [E("a", 1)], ["a"], []),
    # same content under another path does not count; extra destination files are left alone
    ([E("d/a", 1, sha256="x")], [E("a", 1, sha256="x"), E("extra", 3, sha256="q")], ["d/a"], []),
    # mode differences do not force a copy (the mode is fixed in place)
    ([E("s.sh", 4, 0o755, "x")], [E("s.sh", 4, 0o644, "x")], [], ["s.sh"]),
])
def test_plan_tree(src, dst, copy, skip):
    plan = plan_tree(src, dst)
    assert isinstance(plan, TreePlan)
    assert ([e.path for e in plan.copy], [e.path for e in plan.skip]) == (copy, skip)


def test_plan_tree_needs_source_hashes():
    with pytest.raises(ValueError, match="no sha256"):
        plan_tree([E("a", 1)], [])


def test_only_same_size_destination_files_are_hashed():
    src = [E("a", 1), E("b", 2), E("c", 3)]
    dst = [E("a", 1), E("b", 9), E("z", 3)]
    assert paths_to_hash_at_destination(src, dst) == ["a"]


@pytest.mark.parametrize("include, exclude, expected", [
    ((), (), ["md.tpr", "run.sh", "sub/md.tpr", "sub/traj.xtc"]),
    (("*.tpr",), (), ["md.tpr", "sub/md.tpr"]),
    ((), ("*.xtc",), ["md.tpr", "run.sh", "sub/md.tpr"]),
    (("sub/*",), ("*.xtc",), ["sub/md.tpr"]),
])
def test_select_by_patterns_and_never_temp_files(include, exclude, expected):
    entries = [E(p, 1) for p in ["md.tpr", "run.sh", "sub/md.tpr", "sub/traj.xtc", "sub/.md.tpr.mpflow-tmp-1a2b"]]
    assert [e.path for e in select(entries, include, exclude)] == expected


@pytest.mark.parametrize("n, parallel, max_files, sizes", [
    (0, 4, 64, []),
    (5, 1, 64, [5]),
    (10, 4, 64, [3, 3, 3, 1]),
    (10, 1, 4, [4, 4, 2]),
    (3, 8, 64, [1, 1, 1]),
])
def test_batches(n, parallel, max_files, sizes):
    out = batches(list(range(n)), parallel, max_files)
    assert [len(b) for b in out] == sizes
    assert [x for b in out for x in b] == list(range(n))


@pytest.mark.parametrize("found_size, found_sha, expected", [
    (10, "aa", None),
    (None, None, "the copy is missing"),
    (9, "aa", "size 9 instead of 10"),
    (10, "bb", "sha256 bb instead of aa"),
    (9, None, "size 9 instead of 10, sha256 unreadable instead of aa"),
])
def test_mismatch(found_size, found_sha, expected):
    assert mismatch(10, "aa", found_size, found_sha) == expected


def test_sha256_local_reads_in_chunks(tmp_path):
    data = bytes(range(256)) * 9000  # > 2 chunks
    (tmp_path / "f").write_bytes(data)
    assert sha256_local(str(tmp_path / "f")) == (len(data), hashlib.sha256(data).hexdigest())
