"""The pure plan of a transfer (mpflow.transfers.plan): which files to copy or skip, selection, batching."""

from __future__ import annotations

import pytest

from mpflow.transfers.plan import (
    FileEntry,
    TreePlan,
    batches,
    mismatch,
    paths_to_hash_at_destination,
    plan_tree,
    select,
)

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
