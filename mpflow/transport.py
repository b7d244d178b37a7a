"""Transports: the only code that runs commands on, or moves files to and from, a cluster.

Every command is an argv list. Locally it goes straight to ``subprocess`` (never a shell); remotely
it is joined with ``shlex.join`` so each argument reaches the login node's shell quoted, exactly
once. One SSH connection (Fabric/Paramiko) per cluster is opened lazily and reused for every
command and SFTP transfer of a batch; connect and command timeouts are always set. Host keys are
verified against ``known_hosts`` by default (Fabric's own default would auto-add them).

Why not prefect-shell here: ``ShellOperation`` takes shell strings; mpflow never needs a shell for
scheduler commands, and argv lists rule out quoting mistakes with user-supplied names.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence

from mpflow.clusters import ClusterSettings


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class TransportError(RuntimeError):
    """A command or transfer failed; carries what is needed to understand why."""

    def __init__(self, message: str, *, cluster: str, argv: Sequence[str] = (), returncode: int | None = None,
                 stdout: str = "", stderr: str = ""):
        self.cluster = cluster
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        detail = [f"[{cluster}] {message}"]
        if argv:
            detail.append(f"command: {shlex.join(argv)}")
        if returncode is not None:
            detail.append(f"exit code: {returncode}")
        if stdout.strip():
            detail.append(f"stdout: {stdout.strip()[:2000]}")
        if stderr.strip():
            detail.append(f"stderr: {stderr.strip()[:2000]}")
        super().__init__("\n".join(detail))


class ClusterUnreachable(TransportError):
    """The cluster could not be reached at all (connection refused, timeout, authentication, host key)."""


class CommandTimeout(TransportError):
    """A command did not finish within its timeout."""


class Transport(Protocol):
    settings: ClusterSettings

    def run(self, argv: Sequence[str], *, timeout: float | None = None, cwd: str | None = None,
            stdin: str | None = None) -> CommandResult: ...

    def put(self, local: Path, remote: str) -> None: ...

    def get(self, remote: str, local: Path) -> None: ...

    def close(self) -> None: ...


def check(result: CommandResult, cluster: str, what: str) -> CommandResult:
    """Raise a ``TransportError`` naming ``what`` when ``result`` has a non-zero exit code."""
    if not result.ok:
        raise TransportError(f"{what} failed", cluster=cluster, argv=result.argv, returncode=result.returncode,
                             stdout=result.stdout, stderr=result.stderr)
    return result


class LocalTransport:
    """Runs commands as subprocesses of this process, with the cluster's ``env`` added."""

    def __init__(self, settings: ClusterSettings):
        self.settings = settings

    def run(self, argv: Sequence[str], *, timeout: float | None = None, cwd: str | None = None,
            stdin: str | None = None) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        timeout = timeout or self.settings.command_timeout_s
        try:
            proc = subprocess.run(argv, env={**os.environ, **self.settings.env}, cwd=cwd, input=stdin,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise CommandTimeout(f"no answer within {timeout:.0f} s", cluster=self.settings.name, argv=argv) from exc
        except FileNotFoundError as exc:
            raise TransportError(f"program not found: {argv[0]}", cluster=self.settings.name, argv=argv) from exc
        return CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)

    def put(self, local: Path, remote: str) -> None:
        Path(remote).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, remote)

    def get(self, remote: str, local: Path) -> None:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(remote, local)

    def close(self) -> None:
        pass

    def __enter__(self) -> "LocalTransport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SSHTransport:
    """Commands and SFTP over one Fabric connection, opened on first use and reused until ``close``."""

    def __init__(self, settings: ClusterSettings):
        self.settings = settings
        self._conn = None
        self._sftp = None

    # -- connection ------------------------------------------------------------------------------
    def _connect_kwargs(self) -> dict:
        s = self.settings
        kwargs: dict = {"allow_agent": False, "look_for_keys": False,
                        "banner_timeout": s.connect_timeout_s, "auth_timeout": s.connect_timeout_s}
        if s.key_path:
            kwargs["key_filename"] = [str(Path(s.key_path).expanduser())]
        if s.private_key:
            kwargs["pkey"] = _load_private_key(s.private_key.get_secret_value(),
                                               s.key_passphrase.get_secret_value() if s.key_passphrase else None)
        if s.key_passphrase:
            kwargs["passphrase"] = s.key_passphrase.get_secret_value()
        if s.password:
            kwargs["password"] = s.password.get_secret_value()
        return kwargs

    def connection(self):
        if self._conn is not None and self._conn.is_connected:
            return self._conn
        import paramiko
        from fabric import Config, Connection

        s = self.settings
        # An empty Fabric config: no ~/.ssh/config surprises; everything comes from the settings.
        config = Config(overrides={"load_ssh_configs": False})
        conn = Connection(s.host, user=s.user, port=s.port, connect_timeout=int(max(1, s.connect_timeout_s)),
                          connect_kwargs=self._connect_kwargs(), config=config)
        if s.verify_host_key:
            system_known = Path("~/.ssh/known_hosts").expanduser()
            if system_known.exists():
                conn.client.load_host_keys(str(system_known))
            if s.known_hosts:
                conn.client.load_host_keys(str(Path(s.known_hosts).expanduser()))
            conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        else:
            conn.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            conn.open()
        except paramiko.BadHostKeyException as exc:
            raise ClusterUnreachable(
                f"host key of {s.host}:{s.port} does not match known_hosts (possible man-in-the-middle)",
                cluster=s.name) from exc
        except paramiko.AuthenticationException as exc:
            raise ClusterUnreachable(f"authentication as {s.user!r} failed on {s.host}:{s.port} ({exc}); "
                                     f"check the user and key", cluster=s.name) from exc
        except paramiko.SSHException as exc:
            msg = str(exc)
            if "not found in known_hosts" in msg:
                msg = (f"host key of {s.host}:{s.port} is unknown; add it to known_hosts "
                       f"(ssh-keyscan -p {s.port} {s.host}) or set the cluster's known_hosts file")
            elif "banner" in msg or "No existing session" in msg:
                # TCP connected but the server never spoke SSH in time: a hung or overloaded login node.
                msg = f"no SSH answer from {s.host}:{s.port} within {s.connect_timeout_s:.0f} s (login node hung?)"
            raise ClusterUnreachable(msg, cluster=s.name) from exc
        except (socket.timeout, TimeoutError) as exc:
            raise ClusterUnreachable(f"no answer from {s.host}:{s.port} within {s.connect_timeout_s:.0f} s",
                                     cluster=s.name) from exc
        except OSError as exc:  # refused, unreachable, name resolution
            raise ClusterUnreachable(f"cannot connect to {s.host}:{s.port}: {exc.strerror or exc}",
                                     cluster=s.name) from exc
        self._conn = conn
        return conn

    def sftp(self):
        """The shared SFTP client of this connection (one thread only; see ``open_sftp``)."""
        if self._sftp is None or self._conn is None or not self._conn.is_connected:
            self._sftp = self.open_sftp()
        return self._sftp

    def open_sftp(self):
        """A new SFTP channel over the shared connection, for one worker thread; the caller closes it.
        Paramiko's SFTP clients must not be shared between threads."""
        channel = self.connection().client.open_sftp()
        channel.get_channel().settimeout(self.settings.command_timeout_s)
        return channel

    # -- commands --------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout: float | None = None, cwd: str | None = None,
            stdin: str | None = None) -> CommandResult:
        from invoke.exceptions import CommandTimedOut
        from paramiko import SSHException

        argv = tuple(str(a) for a in argv)
        timeout = timeout or self.settings.command_timeout_s
        command = shlex.join(argv)
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.settings.env.items())
        if exports:
            command = f"export {exports}; {command}"
        if cwd:
            command = f"cd {shlex.quote(cwd)} && {command}"
        conn = self.connection()
        try:
            res = conn.run(command, hide=True, warn=True, timeout=timeout, pty=False,
                           in_stream=io.StringIO(stdin) if stdin is not None else False)
        except CommandTimedOut as exc:
            raise CommandTimeout(f"no answer within {timeout:.0f} s", cluster=self.settings.name, argv=argv) from exc
        except (OSError, EOFError, SSHException) as exc:  # the session died under us
            self._drop()
            raise ClusterUnreachable(f"connection lost: {exc}", cluster=self.settings.name, argv=argv) from exc
        return CommandResult(argv, res.exited, res.stdout, res.stderr)

    # -- files -----------------------------------------------------------------------------------
    def put(self, local: Path, remote: str) -> None:
        self.sftp().put(str(local), remote)

    def get(self, remote: str, local: Path) -> None:
        Path(local).parent.mkdir(parents=True, exist_ok=True)
        self.sftp().get(remote, str(local))

    def _drop(self) -> None:
        self._sftp = None
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a dead connection may raise anything; it is gone either way
                pass
        self._conn = None

    def close(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except OSError:
                pass
        self._drop()

    def __enter__(self) -> "SSHTransport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _load_private_key(text: str, passphrase: str | None):
    import paramiko

    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.SSHException:
            continue
    raise ValueError("private_key is not an Ed25519, ECDSA or RSA private key (or the passphrase is wrong)")


def open_transport(settings: ClusterSettings) -> LocalTransport | SSHTransport:
    """The transport for a cluster: subprocesses for a local cluster, SSH for a remote one."""
    return LocalTransport(settings) if settings.kind == "local" else SSHTransport(settings)
