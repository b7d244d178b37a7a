"""The local transport: a cluster whose scheduler commands run on this machine (the master, usually).

Commands are argv lists given straight to ``subprocess`` (never a shell), with the cluster's ``env``
added. File operations are plain ``os`` calls. Since they run as the user who started mpflow, every
path is confined to the workdir twice: by name (``confine``) and after resolving symbolic links, so
a link inside the workdir cannot lead a write outside it.
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_module
import subprocess
from contextlib import contextmanager
from typing import BinaryIO, Iterable, Iterator, Mapping, Sequence

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport.base import (
    MODE_BITS,
    CommandResult,
    CommandTimeout,
    FileEntry,
    FileStat,
    PathOutsideWorkdir,
    TransportError,
    confine,
    temp_path,
)

_CHUNK = 1 << 20


class LocalTransport:
    """Runs commands as subprocesses of this process and does file operations with ``os``."""

    def __init__(self, settings: ClusterSettings):
        self.settings = settings

    # -- commands --------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout: float | None = None, cwd: str | None = None,
            stdin: str | bytes | None = None) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        timeout = timeout or self.settings.command_timeout_s
        if isinstance(stdin, str):
            stdin = stdin.encode("utf-8", "surrogateescape")
        try:
            proc = subprocess.run(argv, env={**os.environ, **self.settings.env}, cwd=cwd, input=stdin,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(f"no answer within {timeout:.0f} s", cluster=self.settings.name, argv=argv) from exc
        except OSError as exc:
            if cwd is not None and exc.filename == cwd:
                # The same outcome as a failed `cd` before the command in a shell: the command fails.
                return CommandResult(argv, 1, "", f"cd: {cwd}: {exc.strerror}\n")
            if isinstance(exc, FileNotFoundError):
                raise TransportError(f"program not found: {argv[0]}", cluster=self.settings.name, argv=argv,
                                     hint="is it installed on this machine and on the PATH (or set PATH in `env`)?"
                                     ) from exc
            raise TransportError(f"cannot run {argv[0]}: {exc.strerror or exc}", cluster=self.settings.name,
                                 argv=argv) from exc
        return CommandResult(argv, proc.returncode, proc.stdout.decode("utf-8", "surrogateescape"),
                             proc.stderr.decode("utf-8", "surrogateescape"))

    # -- paths -----------------------------------------------------------------------------------
    def resolve(self, path: str) -> str:
        full = confine(self.settings.workdir, path, self.settings.name)
        root = os.path.realpath(self.settings.workdir)
        real = os.path.realpath(full)
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            raise PathOutsideWorkdir(f"[{self.settings.name}] path {path!r} leads outside the cluster's workdir "
                                     f"{self.settings.workdir} through a symbolic link (to {real})")
        return full

    # -- files -----------------------------------------------------------------------------------
    def stat(self, path: str) -> FileStat | None:
        try:
            st = os.stat(self.resolve(path))
        except FileNotFoundError:
            return None
        return FileStat.from_stat(st)

    @contextmanager
    def open_read(self, path: str) -> Iterator[BinaryIO]:
        with open(self.resolve(path), "rb") as f:
            yield f

    @contextmanager
    def open_write(self, path: str) -> Iterator[BinaryIO]:
        with open(self.resolve(path), "wb") as f:
            yield f

    def rename(self, src: str, dst: str) -> None:
        os.replace(self.resolve(src), self.resolve(dst))

    def remove(self, path: str) -> None:
        try:
            os.unlink(self.resolve(path))
        except FileNotFoundError:
            pass

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(self.resolve(path), mode & MODE_BITS)

    def makedirs(self, folders: Iterable[str]) -> None:
        for folder in sorted({self.resolve(f) for f in folders}):
            os.makedirs(folder, exist_ok=True)

    def sha256(self, paths: Sequence[str], *, total_bytes: int = 0) -> dict[str, str]:
        found = {}
        for path in paths:
            h = hashlib.sha256()
            try:
                with open(self.resolve(path), "rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                continue
            found[path] = h.hexdigest()
        return found

    def list_files(self, folder: str) -> list[FileEntry] | None:
        root = self.resolve(folder)
        if not os.path.isdir(root):
            return None
        entries = []
        for here, _dirs, names in os.walk(root):
            for name in names:
                full = os.path.join(here, name)
                st = os.lstat(full)
                if stat_module.S_ISREG(st.st_mode):
                    entries.append(FileEntry(os.path.relpath(full, root), st.st_size, stat_module.S_IMODE(st.st_mode)))
        return sorted(entries, key=lambda e: e.path)

    def write_files(self, files: Mapping[str, bytes], *, mode: int = 0o644) -> dict[str, str]:
        resolved = {path: self.resolve(path) for path in files}  # all paths checked before any write
        failed = {}
        for path, data in files.items():
            full = resolved[path]
            tmp = temp_path(full)
            try:
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(tmp, "wb") as f:
                    f.write(data)
                os.chmod(tmp, mode & MODE_BITS)
                os.replace(tmp, full)
            except OSError as exc:
                failed[path] = f"{path}: {exc.strerror or exc}"
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        return failed

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalTransport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
