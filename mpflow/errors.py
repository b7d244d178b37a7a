"""The base of mpflow's errors about commands run on a cluster: where, what ran, what it said, what to do.

``TransportError`` (the cluster could not be reached, a command or a file operation failed) and
``SchedulerError`` (Slurm refused or failed) both carry the cluster, the argv, the exit code, stdout,
stderr and a hint. Their first line is complete on its own (``[beta] sbatch failed: ...; hint``), so
a command line can print just that line; the lines after it give the command and its output.
"""

from __future__ import annotations

import shlex
from typing import Sequence


class CommandError(RuntimeError):
    """A command on a cluster failed. ``message`` says what failed, ``hint`` what to change."""

    def __init__(self, message: str, *, cluster: str = "", argv: Sequence[str] = (), returncode: int | None = None,
                 stdout: str = "", stderr: str = "", hint: str | None = None):
        self.message = message
        self.cluster = cluster
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        self.hint = hint
        super().__init__(self._text())

    def _text(self) -> str:
        head = f"[{self.cluster}] {self.message}" if self.cluster else self.message
        if self.hint:
            head += f"; {self.hint}"
        lines = [head]
        if self.argv:
            lines.append(f"command: {shlex.join(self.argv)}")
        if self.returncode is not None:
            lines.append(f"exit code: {self.returncode}")
        if self.stdout.strip():
            lines.append(f"stdout: {self.stdout.strip()[:2000]}")
        if self.stderr.strip():
            lines.append(f"stderr: {self.stderr.strip()[:2000]}")
        return "\n".join(lines)

    def at(self, cluster: str, argv: Sequence[str]) -> "CommandError":
        """The same error, placed on ``cluster`` and the command ``argv`` (for errors raised by pure
        parsers, which see only the output)."""
        return type(self)(self.message, cluster=cluster, argv=argv, returncode=self.returncode, stdout=self.stdout,
                          stderr=self.stderr, hint=self.hint)

    def __reduce__(self):
        # Keyword-only fields: rebuild through a helper so errors survive pickling (Prefect results).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls, message, fields):
    err = cls(message, **{k: v for k, v in fields.items()
                          if k in {"cluster", "argv", "returncode", "stdout", "stderr", "hint"}})
    err.__dict__.update(fields)  # and what a subclass adds (ClusterSettingsError.setting)
    return err


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (the complete message of mpflow's errors), or its type
    name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def file_problem(exc: OSError, where: str = "") -> str:
    """One line for a file operation that failed: ``[where: ]<file>: <reason>`` (``Permission denied``,
    ``No space left on device``, ``Read-only file system``, ...)."""
    what = exc.filename if exc.filename is not None else "a file"
    why = exc.strerror or first_line(exc)
    return f"{where + ': ' if where else ''}{what}: {why}"
