"""The SSH transport: a remote cluster reached through its login node over one reused connection.

One SSH connection (Fabric/Paramiko) per transport, opened on first use (under a lock, so threads
share it) and reused for every command and file operation until ``close``.

- Commands: an argv list is joined with ``shlex.join`` (each argument reaches the login shell quoted,
  exactly once), prefixed by ``export`` of the cluster's ``env`` and ``cd -- <cwd>``, all joined by
  ``&&`` so a failed ``cd`` fails the command. Each command gets its own exec channel: stdin is fed
  as bytes from a thread (a tar stream, a list of job folders), stdout and stderr are read together
  (neither can fill up and block the other) and one deadline bounds the whole command.
- Files: SFTP channels from a small pool; a channel serves one operation at a time (Paramiko's SFTP
  clients are not safe to share between threads), so N worker threads use at most N channels.
  A file is read with a bounded read-ahead (``ReadAhead``, ``READ_AHEAD_BYTES``) and written with
  pipelined writes bounded by the SSH window: copying a file of any size holds a few MiB of it.
  Hashes, listings and folder creation are batched commands (``file_commands``); many small files
  go up as one tar stream.
- Settings are checked before connecting: a missing, unreadable or encrypted key, a wrong passphrase
  or a missing known_hosts file raise ``ClusterSettingsError`` naming the setting to fix. Host keys
  are verified against known_hosts by default (Fabric's own default would auto-add them).
"""

from __future__ import annotations

import io
import logging
import select
import shlex
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Mapping, Sequence

import paramiko
from fabric import Config, Connection

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import file_commands as fc
from mpflow.clusters.transport.base import (
    MODE_BITS,
    ClusterSettingsError,
    ClusterUnreachable,
    CommandResult,
    CommandTimeout,
    FileEntry,
    FileStat,
    TransportError,
    check,
    confine,
)
from mpflow.clusters.transport.routes import Hop, read_ssh_config, resolve_route
from mpflow.clusters.transport.ssh_auth import (
    HopAuthentication,
    LoginRequired,
    Prompter,
    agent_keys,
)

log = logging.getLogger(__name__)

HASH_SECONDS_PER_GB = 20.0
"""Added to a remote hash command's timeout per GB hashed (sha256sum does ~0.5-2 GB/s)."""
_READ = 1 << 16
READ_AHEAD_BYTES = 16 << 20
"""``open_read`` asks for a file a segment of this many bytes at a time, for the next segment as it
starts reading one: at most two segments (32 MiB) are asked for and not yet read. What is held in this
process is much less: the SSH channel window (2 MiB) bounds what the server sends before it is read;
the rest waits on the server. Measured (alpha over SSH -> beta, open_read -> open_write): the server
needs that much asked for ahead to keep the pipe full; 200 MB, 3 runs each in one process: 16 MiB
segments 47-60 MB/s, the whole file at once 52-56, 4 MiB segments 38-45; benchmarks/bench_transfers.py,
500 MB: 52-53 MB/s against 55-59 for the whole file at once. A reader that stops early reads off what is
still asked for (``ReadAhead.drain``: at most 32 MiB of traffic, ~0.2 s here) rather than let closing
the file gather it into memory."""
KEEPALIVE_S = 30
"""An SSH keepalive this often on every hop, so a connection kept for many ticks is not dropped as idle
by a firewall or a jump host (and a dead one is noticed)."""


class SSHTransport:
    """Commands and SFTP over one SSH connection, opened on first use and reused until ``close``."""

    def __init__(self, settings: ClusterSettings, *, prompter: Prompter | None = None):
        self.settings = settings
        self.prompter = prompter  # answers a second factor's questions; None: nobody is here (the manager)
        self.logins = 0  # connections opened to the login node, for the benchmarks and tests
        self._conn = None
        self._hops: list = []
        self._lock = threading.RLock()
        self._idle_sftp: list = []

    # -- connection ------------------------------------------------------------------------------
    def _keys(self, hop: Hop) -> list:
        """The private keys offered on ``hop``: the settings' key text, the hop's key files, the agent's."""
        s = self.settings
        passphrase = s.key_passphrase.get_secret_value() if s.key_passphrase else None
        keys = []
        if s.private_key:
            keys.append(load_private_key(s.private_key.get_secret_value(), passphrase, where="private_key",
                                         setting="private_key", cluster=s.name))
        cluster_key = Path(s.key_path).expanduser() if s.key_path else None
        for path in hop.key_files:
            setting = "key_path" if path == cluster_key else "proxy_jump" if hop.from_settings else "ssh_config"
            if setting == "ssh_config" and not path.exists():
                continue  # as OpenSSH does, an IdentityFile that is not there is skipped
            keys.append(load_private_key(_read_setting_file(path, setting, s.name), passphrase,
                                         where=f"{setting} {path}" if setting != "proxy_jump" else f"key {path}",
                                         setting=setting, cluster=s.name))
        use_agent = s.use_agent if s.use_agent is not None else not (keys or s.password)
        if use_agent:
            keys += agent_keys()
        return keys

    def _host_keys(self, client, hop: Hop) -> None:
        """Verify ``hop``'s host key: against ~/.ssh/known_hosts, the cluster's known_hosts and the ssh_config
        entry's UserKnownHostsFile; an unknown key is refused (every hop, unless verify_host_key is off)."""
        s = self.settings
        if not s.verify_host_key:
            client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
            return
        system_known = Path("~/.ssh/known_hosts").expanduser()
        if system_known.is_file():
            try:
                client.load_host_keys(str(system_known))
            except (OSError, paramiko.SSHException) as exc:
                log.warning("ignoring unreadable %s: %s", system_known, exc)
        for path, setting in [*((Path(s.known_hosts).expanduser(), "known_hosts"),) * bool(s.known_hosts),
                              *((p, "ssh_config") for p in hop.known_hosts if p.exists())]:
            _read_setting_file(path, setting, s.name)
            try:
                client.load_host_keys(str(path))
            except (OSError, paramiko.SSHException, ValueError) as exc:
                raise ClusterSettingsError(f"known_hosts {path} is not a known_hosts file ({exc})",
                                           setting=setting, cluster=s.name) from exc
        client.set_missing_host_key_policy(paramiko.RejectPolicy())

    def _connection(self):
        """The open connection to the login node, connecting (through every jump host) first if needed
        (thread-safe)."""
        with self._lock:
            if self._conn is not None and self._conn.is_connected:
                return self._conn
            self._drop()
            route = resolve_route(self.settings, read_ssh_config(self.settings))
            opened: list = []
            try:
                for i, hop in enumerate(route):
                    opened.append(self._open_hop(hop, opened[-1] if opened else None, route[i - 1] if i else None))
            except BaseException:
                for conn in reversed(opened):
                    _close_quietly(conn)
                raise
            self._hops, self._conn = opened[:-1], opened[-1]
            self.logins += 1
            return self._conn

    def _open_hop(self, hop: Hop, previous, previous_hop: Hop | None):
        """One SSH connection of the route: straight to ``hop``, or through a tunnel of the previous hop."""
        s = self.settings
        # a direct route keeps its errors short (host:port); a route with jump hosts names the hop
        via = f"{hop.host}:{hop.port}" if previous is None and hop.role == "login node" else hop.label
        kwargs: dict = {"banner_timeout": s.connect_timeout_s, "auth_timeout": s.connect_timeout_s,
                        "auth_strategy": HopAuthentication(
                            username=hop.user, label=hop.label, cluster=s.name, keys=self._keys(hop),
                            password=s.password.get_secret_value() if s.password and hop.role == "login node" else None,
                            prompter=self.prompter)}
        if previous is not None:
            try:
                kwargs["sock"] = previous.transport.open_channel(
                    "direct-tcpip", (hop.host, hop.port), ("", 0), timeout=s.connect_timeout_s)
            except paramiko.ChannelException as exc:
                raise ClusterUnreachable(
                    f"{previous_hop.label} could not open a tunnel to {hop.label}: {exc.text or exc}",
                    cluster=s.name, hint=f"check that {hop.host}:{hop.port} is up and that the jump host allows "
                                         "forwarding (AllowTcpForwarding)") from exc
            except (paramiko.SSHException, EOFError, OSError) as exc:
                raise ClusterUnreachable(f"{previous_hop.label}: connection lost ({exc or type(exc).__name__})",
                                         cluster=s.name) from exc
        # An empty Fabric config: the route and its options come from resolve_route, nowhere else.
        conn = Connection(hop.host, user=hop.user, port=hop.port, connect_timeout=int(max(1, s.connect_timeout_s)),
                          connect_kwargs=kwargs, config=Config(overrides={"load_ssh_configs": False}))
        self._host_keys(conn.client, hop)
        try:
            conn.open()
        except LoginRequired:
            raise
        except paramiko.BadHostKeyException as exc:
            raise ClusterSettingsError(f"host key of {via} does not match known_hosts (possible "
                                       f"man-in-the-middle)", setting="known_hosts", cluster=s.name,
                                       hint="if its key really changed, update known_hosts") from exc
        except paramiko.AuthenticationException as exc:
            setting = "user" if hop.role == "login node" else "proxy_jump"
            raise ClusterSettingsError(
                f"authentication as {hop.user!r} failed on {via}", setting=setting, cluster=s.name,
                hint=("check `user` and `key_path` (or `private_key`, `password`), and that the public key "
                      "is in the login node's authorized_keys") if setting == "user" else
                     "check the jump host's user and key (`proxy_jump`, or the ssh_config entry), and that "
                     "the public key is in its authorized_keys") from exc
        except paramiko.SSHException as exc:
            msg = str(exc)
            if "not found in known_hosts" in msg:
                keyscan = f"ssh-keyscan -p {hop.port} {hop.host}" if hop.port != 22 else f"ssh-keyscan {hop.host}"
                raise ClusterSettingsError(
                    f"host key of {via} is unknown", setting="known_hosts", cluster=s.name,
                    hint=f"add it to known_hosts ({keyscan}) or set the cluster's `known_hosts` file") from exc
            if "banner" in msg or "No existing session" in msg:
                # TCP connected but the server never spoke SSH in time: a hung or overloaded login node.
                msg = f"no SSH answer from {via} within {s.connect_timeout_s:.0f} s (hung?)"
            else:
                msg = f"{via}: {msg}"
            raise ClusterUnreachable(msg, cluster=s.name) from exc
        except (socket.timeout, TimeoutError) as exc:
            raise ClusterUnreachable(f"no answer from {via} within {s.connect_timeout_s:.0f} s",
                                     cluster=s.name) from exc
        except OSError as exc:  # refused, unreachable, name resolution
            # Paramiko gathers the errors of every address tried; the first one says why.
            cause = next(iter(getattr(exc, "errors", {}).values()), exc)
            hint = ("check `host` and `port`, and that the login node is up" if hop.role == "login node" else
                    f"check the {hop.role}'s host and port (`proxy_jump` or the ssh_config entry), and that it is up")
            raise ClusterUnreachable(f"cannot connect to {via}: {cause.strerror or cause}", cluster=s.name,
                                     hint=hint) from exc
        conn.transport.set_keepalive(KEEPALIVE_S)
        return conn

    def _lost(self, exc: BaseException, argv: Sequence[str] = ()) -> ClusterUnreachable:
        self._drop()
        return ClusterUnreachable(f"connection lost: {exc or type(exc).__name__}", cluster=self.settings.name,
                                  argv=argv)

    def _drop(self) -> None:
        with self._lock:
            idle, self._idle_sftp = self._idle_sftp, []
            conns, self._conn, self._hops = [self._conn, *reversed(self._hops)], None, []
        for client in idle:
            _close_quietly(client)
        for conn in conns:
            if conn is not None:
                _close_quietly(conn)

    def close(self) -> None:
        self._drop()

    def __enter__(self) -> "SSHTransport":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- commands --------------------------------------------------------------------------------
    def run(self, argv: Sequence[str], *, timeout: float | None = None, cwd: str | None = None,
            stdin: str | bytes | None = None) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        timeout = timeout or self.settings.command_timeout_s
        steps = []
        if self.settings.env:
            steps.append("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in self.settings.env.items()))
        if cwd is not None:
            steps.append(f"cd -- {shlex.quote(cwd)}")
        steps.append(shlex.join(argv))
        data = stdin.encode("utf-8", "surrogateescape") if isinstance(stdin, str) else stdin
        rc, out, err = self._exec(" && ".join(steps), data, timeout, argv)
        return CommandResult(argv, rc, out.decode("utf-8", "surrogateescape"), err.decode("utf-8", "surrogateescape"))

    def _exec(self, command: str, stdin: bytes | None, timeout: float, argv: tuple[str, ...]
              ) -> tuple[int, bytes, bytes]:

        conn = self._connection()
        try:
            chan = conn.client.get_transport().open_session(timeout=self.settings.connect_timeout_s)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise self._lost(exc, argv) from exc
        try:
            chan.exec_command(command.encode("utf-8", "surrogateescape"))
            if stdin:
                threading.Thread(target=_feed, args=(chan, stdin), name="mpflow-ssh-stdin", daemon=True).start()
            else:
                chan.shutdown_write()
            out, err = bytearray(), bytearray()
            deadline = time.monotonic() + timeout
            while not (chan.eof_received or chan.closed):
                if chan.recv_ready():
                    out += chan.recv(_READ)
                elif chan.recv_stderr_ready():
                    err += chan.recv_stderr(_READ)
                else:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise CommandTimeout(f"no answer within {timeout:.0f} s", cluster=self.settings.name,
                                             argv=argv)
                    select.select([chan], [], [], min(remaining, 0.5))
            while chan.recv_ready():  # what arrived just before the end of the stream
                out += chan.recv(_READ)
            while chan.recv_stderr_ready():
                err += chan.recv_stderr(_READ)
            chan.status_event.wait(max(0.1, deadline - time.monotonic()))
            if not chan.exit_status_ready() or not conn.client.get_transport().is_active():
                raise self._lost(EOFError("the session ended without an exit status"), argv)
            return chan.recv_exit_status(), bytes(out), bytes(err)
        except (paramiko.SSHException, EOFError, socket.error) as exc:
            raise self._lost(exc, argv) from exc
        finally:
            chan.close()

    # -- SFTP channels ---------------------------------------------------------------------------
    @contextmanager
    def _sftp(self):
        """An SFTP client for one operation: an idle one from the pool, or a new one."""

        with self._lock:
            client = self._idle_sftp.pop() if self._idle_sftp else None
        if client is None or client.sock.closed:
            conn = self._connection()
            try:
                client = conn.client.open_sftp()
            except (paramiko.SSHException, EOFError, socket.error) as exc:
                raise self._lost(exc) from exc
            client.get_channel().settimeout(self.settings.command_timeout_s)
        try:
            yield client
        except (paramiko.SSHException, EOFError) as exc:
            client.close()
            raise self._lost(exc) from exc
        except OSError:
            if client.sock.closed:  # a socket error, not a file error: the channel is gone
                raise self._lost(ConnectionError("SFTP channel closed"))
            raise
        finally:
            if not client.sock.closed:
                with self._lock:
                    self._idle_sftp.append(client)

    # -- files -----------------------------------------------------------------------------------
    def resolve(self, path: str) -> str:
        return confine(self.settings.workdir, path, self.settings.name)

    def stat(self, path: str) -> FileStat | None:
        path = self.resolve(path)
        with self._sftp() as sftp:
            try:
                st = sftp.stat(path)
            except FileNotFoundError:
                return None
        return FileStat.from_stat(st)

    @contextmanager
    def open_read(self, path: str) -> Iterator[BinaryIO]:
        path = self.resolve(path)
        with self._sftp() as sftp, sftp.open(path, "rb") as f:
            reader = ReadAhead(f, f.stat().st_size, READ_AHEAD_BYTES)
            try:
                yield reader
            finally:
                reader.drain()

    @contextmanager
    def open_write(self, path: str) -> Iterator[BinaryIO]:
        path = self.resolve(path)
        with self._sftp() as sftp, sftp.open(path, "wb") as f:
            # Do not wait for each block's acknowledgement; errors surface at close. Paramiko (5.1) does not
            # bound the blocks sent and not yet acknowledged by a count (it only collects the acks once
            # more than 100 are outstanding and one has arrived): the bound is the SSH channel window,
            # as each write blocks in Channel.send until the server's window (2 MiB on OpenSSH) has room.
            # Nothing queues in this process but the request numbers.
            f.set_pipelined(True)
            yield f

    def rename(self, src: str, dst: str) -> None:
        src, dst = self.resolve(src), self.resolve(dst)
        with self._sftp() as sftp:
            sftp.posix_rename(src, dst)

    def remove(self, path: str) -> None:
        path = self.resolve(path)
        with self._sftp() as sftp:
            try:
                sftp.remove(path)
            except FileNotFoundError:
                pass

    def chmod(self, path: str, mode: int) -> None:
        path = self.resolve(path)
        with self._sftp() as sftp:
            sftp.chmod(path, mode & MODE_BITS)

    def makedirs(self, folders: Iterable[str]) -> None:
        for group in fc.chunk_paths(sorted({self.resolve(f) for f in folders})):
            check(self.run(fc.mkdir_argv(group)), self.settings.name, "mkdir")

    def sha256(self, paths: Sequence[str], *, total_bytes: int = 0) -> dict[str, str]:
        resolved = {self.resolve(p): p for p in paths}
        timeout = self.settings.command_timeout_s + HASH_SECONDS_PER_GB * total_bytes / 1e9
        found = {}
        for group in fc.chunk_paths(list(resolved)):
            res = self.run(fc.sha256sum_argv(group), timeout=timeout)
            try:
                digests = fc.parse_sha256sum(res.returncode, res.stdout, res.stderr)
            except ValueError as exc:
                raise TransportError(f"hashing {len(group)} file(s) failed: {exc}", cluster=self.settings.name,
                                     argv=res.argv, returncode=res.returncode, stderr=res.stderr) from exc
            found.update({resolved[p]: d for p, d in digests.items() if p in resolved})
        return found

    def list_files(self, folder: str) -> list[FileEntry] | None:
        st = self.stat(folder)
        if st is None or not st.is_dir:
            return None
        res = self.run(fc.find_files_argv(self.resolve(folder)))
        try:
            return fc.parse_find_files(res.returncode, res.stdout, res.stderr)
        except ValueError as exc:
            raise TransportError(f"listing {folder} failed", cluster=self.settings.name, argv=res.argv,
                                 returncode=res.returncode, stderr=res.stderr) from exc

    def write_files(self, files: Mapping[str, bytes], *, mode: int = 0o644) -> dict[str, str]:
        if not files:
            return {}
        root = self.settings.workdir
        content = {self.resolve(p): data for p, data in files.items()}
        originals = {self.resolve(p): p for p in files}
        stream = fc.tar_stream(root, content, mode)
        timeout = self.settings.command_timeout_s + len(stream) / 1e6  # + 1 s per MB
        res = self.run(fc.untar_argv(root), stdin=stream, timeout=timeout)
        try:
            failed = fc.parse_untar(res.returncode, res.stdout, res.stderr, root, list(content))
        except ValueError as exc:
            raise TransportError(f"upload of {len(files)} file(s) failed", cluster=self.settings.name,
                                 argv=res.argv, returncode=res.returncode, stderr=res.stderr) from exc
        return {originals[p]: error for p, error in failed.items()}


class ReadAhead(io.RawIOBase):
    """A reader of an open ``SFTPFile`` that keeps a bounded read-ahead: the file is asked for in
    segments of ``segment`` bytes, each one as the reader enters the segment before it, so at most
    two segments are asked for and not yet read, however long the file.

    Paramiko's ``SFTPFile.prefetch()`` alone asks for every block of the file at once. While the file
    is read to its end, the SSH window still bounds what it holds (measured: +11 MiB for 500 MB, much
    of it the bookkeeping of 15,000 requests), but a reader that stops early (the other side of a copy
    failed) leaves everything asked for by then to be answered into the closed file's buffers:
    22-46 MB measured for 100-200 MB files. Its bound, ``max_concurrent_requests``, waits in its thread
    for answers to free a slot: after an early stop nobody reads them and the thread polls forever
    (seen with Paramiko 5.1). Here each segment's requests are sent by a short-lived thread that never
    waits, and ``drain`` reads off the answers still to come, a block at a time."""

    def __init__(self, f: paramiko.SFTPFile, size: int, segment: int):
        super().__init__()
        self._f, self._size, self._segment = f, size, segment
        self._pos = 0  # what the reader has had; also the SFTPFile's position between reads
        self._asked = 0  # the end of what has been asked for
        self._ask(2 * segment)  # by one thread: two would interleave their requests, and so the answers

    def _ask(self, length: int) -> None:
        """Ask for the next ``length`` bytes (Paramiko's prefetch runs from the file's position, so move it
        there and back: nothing is buffered in the SFTPFile itself between our reads)."""
        if self._asked >= self._size:
            return
        end = min(self._size, self._asked + length)
        moved = self._asked != self._pos
        if moved:
            self._f.seek(self._asked)
        self._f.prefetch(file_size=end)
        if moved:
            self._f.seek(self._pos)
        self._asked = end

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while part := self.read(self._segment):
                parts.append(part)
            return b"".join(parts)
        if self._pos < self._size:
            # never across a segment's end, so the file's position is that end when the next is asked for
            size = min(size, self._segment - self._pos % self._segment, self._size - self._pos)
        data = self._f.read(size)
        self._pos += len(data)
        if self._pos % self._segment == 0:
            self._ask(self._segment)
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def drain(self) -> None:
        """Read off, and drop, what was asked for and not read (a reader that stopped early), a block at
        a time: closing the file would gather those answers into its buffers, all at once. Quiet: if the
        file cannot be read any more, closing it (or losing the channel) ends it as well."""
        try:
            while self._pos < self._asked:
                block = self._f.read(min(self._asked - self._pos, 1 << 15))
                if not block:
                    return
                self._pos += len(block)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.debug("read-ahead not drained: %s", exc)


def _close_quietly(thing) -> None:
    try:
        thing.close()
    except Exception:  # closing a dead channel or connection may raise anything; it is gone either way
        pass


def _feed(chan, data: bytes) -> None:
    """Send ``data`` as the command's stdin, then end it (run in a thread while output is read)."""
    try:
        chan.sendall(data)
        chan.shutdown_write()
    except Exception as exc:  # the command ended early or the connection died: run() reports which
        log.debug("stdin not fully sent: %s", exc)


def _read_setting_file(path: Path, setting: str, cluster: str) -> str:
    """The text of a file named by a setting, or a ``ClusterSettingsError`` saying what is wrong with it."""
    try:
        return path.read_text()
    except FileNotFoundError:
        problem = "does not exist"
    except IsADirectoryError:
        problem = "is a folder, not a file"
    except PermissionError:
        problem = "is not readable by this user"
    except (OSError, UnicodeDecodeError) as exc:
        problem = f"cannot be read ({exc})"
    raise ClusterSettingsError(f"{setting} {path} {problem}", setting=setting, cluster=cluster,
                               hint=f"fix the cluster's `{setting}`")


def load_private_key(text: str, passphrase: str | None, *, where: str, setting: str, cluster: str = ""):
    """A Paramiko key from ``text``; ``ClusterSettingsError`` for an encrypted key without a passphrase,
    a wrong passphrase, or text that is no private key."""

    classes = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)
    for key_class in classes:
        try:
            return key_class.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException as exc:
            raise ClusterSettingsError(f"{where} is encrypted and no key_passphrase is set", setting="key_passphrase",
                                       cluster=cluster, hint="set the cluster's `key_passphrase`") from exc
        except (paramiko.SSHException, ValueError):
            continue
    if passphrase is not None:
        for key_class in classes:
            try:
                key_class.from_private_key(io.StringIO(text), password=None)
            except paramiko.PasswordRequiredException:
                raise ClusterSettingsError(f"key_passphrase does not unlock {where}", setting="key_passphrase",
                                           cluster=cluster, hint="fix the cluster's `key_passphrase`") from None
            except (paramiko.SSHException, ValueError):
                continue
    raise ClusterSettingsError(f"{where} is not an Ed25519, ECDSA or RSA private key", setting=setting,
                               cluster=cluster, hint=f"fix the cluster's `{setting}`")
