"""What every transport offers (the ``Transport`` protocol), the values it returns and its errors.

A transport runs commands on one cluster and does the file operations mpflow needs there; it is
implemented once for a local cluster (``LocalTransport``) and once over SSH (``SSHTransport``).
Everything above it (transfers, submission, polls) talks only to this protocol.

Every path a file operation takes is confined to the cluster's workdir (``confine``): a relative
path is taken from the workdir, and a path that leaves it (``..``, another absolute path) raises
``PathOutsideWorkdir`` before anything is read or written.
"""

from __future__ import annotations

import posixpath
import stat as stat_module
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Mapping, Protocol, Sequence

from mpflow.clusters.settings import ClusterSettings
from mpflow.errors import CommandError

MODE_BITS = 0o777
"""Permission bits that travel with a file; setuid, setgid and sticky bits do not."""

TEMP_MARK = ".mpflow-tmp-"
"""Files being written are ``.<name>.mpflow-tmp-<hex>`` beside their destination until renamed."""


def temp_path(path: str, token: str | None = None) -> str:
    """The temporary name beside ``path``: ``dir/.name.mpflow-tmp-<token>``."""
    head, name = posixpath.split(path)
    return posixpath.join(head, f".{name}{TEMP_MARK}{token or uuid.uuid4().hex[:12]}")


def is_temp_name(path: str) -> bool:
    name = posixpath.basename(path)
    return name.startswith(".") and TEMP_MARK in name


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class FileStat:
    size: int
    mode: int  # permission bits only
    is_file: bool
    is_dir: bool

    @classmethod
    def from_stat(cls, st) -> "FileStat":
        """From an ``os.stat_result`` or an SFTP attributes object (both have st_size, st_mode)."""
        return cls(st.st_size, stat_module.S_IMODE(st.st_mode), stat_module.S_ISREG(st.st_mode),
                   stat_module.S_ISDIR(st.st_mode))


@dataclass(frozen=True)
class FileEntry:
    """One regular file of a listing: path relative to the listed folder (POSIX), size, mode bits,
    and its sha256 once known."""

    path: str
    size: int
    mode: int = 0o644
    sha256: str | None = None


class TransportError(CommandError):
    """A command or a file operation on a cluster failed."""


class ClusterUnreachable(TransportError):
    """The cluster could not be reached (connection refused or lost, timeout, authentication, host key).
    Transient: trying again later may work."""


class CommandTimeout(TransportError):
    """A command did not finish within its timeout."""


class ClusterSettingsError(TransportError):
    """A cluster setting is wrong (a missing key file, a wrong passphrase...): trying again will not help.
    ``setting`` names the field of ``ClusterSettings`` to fix."""

    def __init__(self, message: str, *, setting: str = "", **fields):
        self.setting = setting
        super().__init__(message, **fields)

    def at(self, cluster, argv):
        err = super().at(cluster, argv)
        err.setting = self.setting
        return err


class PathOutsideWorkdir(ValueError):
    """A path given to a file operation leaves the cluster's workdir."""


def confine(workdir: str, path: str, cluster: str = "") -> str:
    """``path`` as an absolute, normalised path inside ``workdir`` (relative paths are taken from the
    workdir); raises ``PathOutsideWorkdir`` when it is not inside."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise PathOutsideWorkdir(f"[{cluster}] invalid path {path!r}")
    full = posixpath.normpath(posixpath.join(workdir, path))
    if full.startswith("//"):  # POSIX keeps a leading '//'; it is still the root
        full = "/" + full.lstrip("/")
    if full != workdir and not full.startswith(workdir.rstrip("/") + "/"):
        raise PathOutsideWorkdir(f"[{cluster}] path {path!r} is outside the cluster's workdir {workdir}; "
                                 f"mpflow reads and writes files only inside it")
    return full


def check(result: CommandResult, cluster: str, what: str) -> CommandResult:
    """Raise a ``TransportError`` naming ``what`` when ``result`` has a non-zero exit code."""
    if not result.ok:
        raise TransportError(f"{what} failed", cluster=cluster, argv=result.argv, returncode=result.returncode,
                             stdout=result.stdout, stderr=result.stderr)
    return result


class Transport(Protocol):
    """Commands and file operations on one cluster. Paths are confined to ``settings.workdir``.

    Safe to use from several threads at once (transfers run a bounded pool of workers)."""

    settings: ClusterSettings

    def run(self, argv: Sequence[str], *, timeout: float | None = None, cwd: str | None = None,
            stdin: str | bytes | None = None) -> CommandResult:
        """Run ``argv`` (never through a shell unquoted), in ``cwd`` if given (a missing ``cwd`` fails
        the command, it never runs elsewhere), with ``stdin`` fed to it."""

    def resolve(self, path: str) -> str:
        """``path`` confined to the workdir (see ``confine``)."""

    def stat(self, path: str) -> FileStat | None:
        """What is at ``path`` (symbolic links followed), or None when nothing is."""

    def open_read(self, path: str) -> AbstractContextManager[BinaryIO]: ...

    def open_write(self, path: str) -> AbstractContextManager[BinaryIO]:
        """Create or truncate ``path`` (its folder must exist) and write to it."""

    def rename(self, src: str, dst: str) -> None:
        """Rename atomically, replacing ``dst`` if it exists."""

    def remove(self, path: str) -> None:
        """Remove a file; nothing there is not an error."""

    def chmod(self, path: str, mode: int) -> None: ...

    def makedirs(self, folders: Iterable[str]) -> None:
        """Create folders and their parents (one round trip for all of them)."""

    def sha256(self, paths: Sequence[str], *, total_bytes: int = 0) -> dict[str, str]:
        """{path: hex digest} computed where the files are; unreadable files are left out.
        ``total_bytes`` (their summed size, if known) lengthens the timeout of big batches."""

    def list_files(self, folder: str) -> list[FileEntry] | None:
        """Every regular file under ``folder`` (relative paths, sorted), or None when there is no such
        folder. Symbolic links below the folder are not followed."""

    def write_files(self, files: Mapping[str, bytes], *, mode: int = 0o644) -> dict[str, str]:
        """Write many small files in one upload, creating their folders. Returns {path: error} for
        files that could not be written (empty when all were)."""

    def close(self) -> None: ...
