"""``mpflow cluster login NAME``: a person answers a site's second factor once, and the long-lived manager
keeps that login for its ticks.

The long-lived manager (``mpflow manage``, the manager service of ``mpflow server start``) holds the
connections, so the login must happen in *its* process. It listens on a Unix socket of its own (mode
0600, in a folder only this user can enter; its name derived from the project's folder); ``mpflow
cluster login`` connects to it and relays the site's questions to the terminal and the answers back.
The manager opens the cluster's connection with those answers and keeps it
(``KeptConnections.login``); when the site ends the session later, the cluster shows as "login
expired: run `mpflow cluster login NAME`" until the next login.

The conversation is one JSON object per line:

    client → {"login": NAME}
    manager → {"ask": {"hop": ..., "instructions": ..., "prompts": [[question, echo], ...]}}   (0 or more)
    client → {"answers": [...]}
    manager → {"logged_in": "logged in to NAME ..."} | {"error": "one line"}

Answers never reach a log or a file; only the two processes of this user see them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Callable

from mpflow.clusters.connections import KeptConnections
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport.ssh_auth import Prompter
from mpflow.errors import CommandError, first_line

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 300.0
"""How long the manager waits for a person to type an answer before giving the login up."""


class NoManagerRunning(RuntimeError):
    """No long-lived manager listens for this project's logins."""


def login_socket_path(project_root: Path) -> Path:
    """The socket of the project's long-lived manager: short (a Unix socket path has ~100 bytes), in a
    folder of this user's only, named after the project's resolved folder."""
    digest = hashlib.sha256(str(Path(project_root).resolve()).encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / f"mpflow-{os.getuid()}"
    return base / f"{digest}.sock"


def _send(sock_file, message: dict) -> None:
    sock_file.write((json.dumps(message) + "\n").encode())
    sock_file.flush()


def _receive(sock_file) -> dict:
    line = sock_file.readline(1 << 16)
    if not line:
        raise ConnectionError("the other side closed the conversation")
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("not a message")
    return message


class LoginDesk:
    """The manager's side: a thread that takes logins on the project's socket."""

    def __init__(self, project_root: Path, connections: KeptConnections,
                 settings_of: Callable[[str], ClusterSettings]):
        self.path = login_socket_path(project_root)
        self.connections = connections
        self.settings_of = settings_of
        self._server: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "LoginDesk":
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        if self.path.exists():
            try:  # another manager of this project answering: refuse to take its place
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.settimeout(1)
                    probe.connect(str(self.path))
                raise RuntimeError(f"another manager of this project listens on {self.path}")
            except (ConnectionRefusedError, FileNotFoundError, socket.timeout):
                self.path.unlink(missing_ok=True)  # left by a manager that died
        server = socket.socket(socket.AF_UNIX)
        old = os.umask(0o177)
        try:
            server.bind(str(self.path))
        finally:
            os.umask(old)
        server.listen(2)
        self._server = server
        self._thread = threading.Thread(target=self._serve, name="mpflow-login-desk", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "LoginDesk":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _serve(self) -> None:
        while self._server is not None:
            try:
                client, _ = self._server.accept()
            except OSError:
                return  # closed
            with client, client.makefile("rwb") as f:
                try:
                    self._one_login(f)
                except Exception as exc:  # a client that went away mid-way, a bad message: next login
                    log.info("a login did not complete: %s", first_line(exc))

    def _one_login(self, f) -> None:
        name = _receive(f).get("login")
        try:
            settings = self.settings_of(str(name))
        except KeyError:
            _send(f, {"error": f"no cluster {name!r} in this project"})
            return

        def relay(hop: str, instructions: str, prompts) -> list[str]:
            _send(f, {"ask": {"hop": hop, "instructions": instructions, "prompts": [list(p) for p in prompts]}})
            answers = _receive(f).get("answers")
            if not isinstance(answers, list) or len(answers) != len(prompts):
                raise ValueError("the answers do not match the questions")
            return [str(a) for a in answers]

        try:
            self.connections.login(settings, relay)
        except CommandError as exc:
            _send(f, {"error": first_line(exc)})
            return
        _send(f, {"logged_in": f"logged in to {settings.name}; the manager keeps this login until the site ends it"})


def request_login(project_root: Path, cluster: str, prompter: Prompter, *, timeout_s: float = ANSWER_TIMEOUT_S) -> str:
    """The client's side: ask the project's manager to log in to ``cluster``, answering its questions
    with ``prompter``; the manager's one-line answer, or ``RuntimeError`` with its one-line error."""
    path = login_socket_path(project_root)
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(timeout_s)
    try:
        sock.connect(str(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        raise NoManagerRunning("no manager of this project is running to keep the login: start it "
                               "(`mpflow server start`, or `mpflow manage`), then log in again") from None
    with sock, sock.makefile("rwb") as f:
        _send(f, {"login": cluster})
        while True:
            message = _receive(f)
            if "ask" in message:
                ask = message["ask"]
                _send(f, {"answers": list(prompter(ask["hop"], ask["instructions"],
                                                   [tuple(p) for p in ask["prompts"]]))})
            elif "logged_in" in message:
                return str(message["logged_in"])
            else:
                raise RuntimeError(str(message.get("error", "the manager gave no answer")))
