"""The shell commands behind the SSH transport's file operations, as pure builders and parsers.

Pairs of ``*_argv`` builders and ``parse_*(returncode, stdout, stderr)`` parsers (no I/O here):
``sha256sum -z`` for many files at once, ``find`` for a listing, ``mkdir -p`` for many folders, and
an upload of many files as one tar stream read by ``tar -x`` on the login node. Paths always travel
as argv items or inside the tar stream, never inside a shell string. The login node needs GNU
coreutils, findutils and tar (as every Linux cluster has).
"""

from __future__ import annotations

import io
import posixpath
import re
import tarfile
import time
from typing import Mapping, Sequence

from mpflow.clusters.transport.base import FileEntry

ARGV_BATCH_FILES = 64
"""At most this many paths per command (``sha256sum``, ``mkdir``)..."""
ARGV_BATCH_CHARS = 64_000
"""...and at most this many characters of paths: over SSH the whole command is one argument of the
login shell, which Linux caps at 128 KiB (MAX_ARG_STRLEN)."""


def argv_path(path: str) -> str:
    # sha256sum treats "-" as stdin even after "--"; find takes a leading "-" as an expression.
    return path if not path.startswith("-") else "./" + path


def chunk_paths(paths: Sequence[str], max_files: int = ARGV_BATCH_FILES,
                max_chars: int = ARGV_BATCH_CHARS) -> list[list[str]]:
    """Consecutive groups of ``paths`` small enough for one command line each."""
    out: list[list[str]] = []
    cur: list[str] = []
    chars = 0
    for p in paths:
        if cur and (len(cur) >= max_files or chars + len(p) + 1 > max_chars):
            out.append(cur)
            cur, chars = [], 0
        cur.append(p)
        chars += len(p) + 1
    if cur:
        out.append(cur)
    return out


def sha256sum_argv(paths: Sequence[str]) -> list[str]:
    """One ``sha256sum`` for many files; ``-z`` ends records with NUL and turns off name escaping."""
    return ["sha256sum", "-z", "--", *(argv_path(p) for p in paths)]


def parse_sha256sum(returncode: int, stdout: str, stderr: str) -> dict[str, str]:
    """``sha256sum -z`` output → {path: hex digest}. Files that could not be read are absent (their
    errors are on stderr and make the exit code 1); anything unparsable raises ``ValueError``."""
    found = {}
    for record in stdout.split("\0"):
        if not record:
            continue
        digest, sep, name = record[:64], record[64:66], record[66:]
        if len(digest) != 64 or sep not in ("  ", " *") or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"unexpected sha256sum output record {record[:200]!r} (stderr: {stderr.strip()[:300]})")
        found[name[2:] if name.startswith("./-") else name] = digest
    if returncode != 0 and not found and "No such file" not in stderr and "Is a directory" not in stderr:
        raise ValueError(f"sha256sum failed (exit {returncode}): {stderr.strip()[:500]}")
    return found


def find_files_argv(folder: str) -> list[str]:
    """Every regular file under ``folder`` as NUL-separated (relative path, size, octal mode)."""
    return ["find", "-H", argv_path(folder), "-type", "f", "-printf", r"%P\0%s\0%m\0"]


def parse_find_files(returncode: int, stdout: str, stderr: str) -> list[FileEntry]:
    if returncode != 0:
        raise ValueError(f"find failed (exit {returncode}): {stderr.strip()[:500]}")
    fields = stdout.split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    if len(fields) % 3:
        raise ValueError(f"find output has {len(fields)} fields, not a multiple of 3: {stdout[:300]!r}")
    return sorted((FileEntry(fields[i], int(fields[i + 1]), int(fields[i + 2], 8))
                   for i in range(0, len(fields), 3)), key=lambda e: e.path)


def mkdir_argv(folders: Sequence[str]) -> list[str]:
    return ["mkdir", "-p", "--", *(argv_path(f) for f in folders)]


# -- many files in one upload: a tar stream extracted under the workdir -----------------------------
_UNTAR = 'mkdir -p -- "$1" && cd -- "$1" && exec tar -x -f - --no-same-owner --no-overwrite-dir'


def untar_argv(root: str) -> list[str]:
    """``tar -x`` of a stream on stdin into ``root`` (created if needed); members are relative paths."""
    return ["sh", "-c", _UNTAR, "mpflow-upload", root]


def tar_stream(root: str, files: Mapping[str, bytes], mode: int = 0o644) -> bytes:
    """A tar archive of ``files`` ({absolute path under ``root``: content}), member names relative
    to ``root``."""
    buf = io.BytesIO()
    now = time.time()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in files.items():
            info = tarfile.TarInfo(posixpath.relpath(path, root))
            info.size, info.mode, info.mtime = len(data), mode, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


_TAR_ERROR = re.compile(r"^tar: (?P<member>.+?): (?P<error>[A-Z][^:]*: .*)$")


def parse_untar(returncode: int, stdout: str, stderr: str, root: str, paths: Sequence[str]) -> dict[str, str]:
    """{path: error} for the files tar could not write. A member is named in tar's messages by its
    relative path (``tar: a/b.sh: Cannot open: Permission denied``); an error about a folder counts
    for every file under it. Raises ``ValueError`` when tar failed and no file is named."""
    if returncode == 0:
        return {}
    rel = {posixpath.relpath(p, root): p for p in paths}
    failed: dict[str, str] = {}
    for line in stderr.splitlines():
        m = _TAR_ERROR.match(line.strip())
        if not m:
            continue
        member, error = m.group("member"), m.group("error")
        for r, p in rel.items():
            if r == member or r.startswith(member.rstrip("/") + "/"):
                failed.setdefault(p, f"{p}: {error}")
    if not failed:
        raise ValueError(f"tar -x failed (exit {returncode}): {stderr.strip()[:500]}")
    return failed
