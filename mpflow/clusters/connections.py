"""One open transport per cluster, shared by everything a tick (or a command) does there, and kept from
one tick to the next by a long-lived manager process.

``ClusterConnections`` opens a cluster's transport on first use and hands the same one to every
phase (observe, advance, submit, cancel), so a tick logs in to a remote cluster at most once; the
transports are closed together when the connections are closed.

``KeptConnections`` is the same for a process that ticks many times (``mpflow manage``, the manager
service): leaving a tick's ``with`` keeps every transport open, so a cluster sees one login for as long
as it keeps the connection (an SSH transport reconnects by itself when its connection was lost, and a
cluster whose settings changed gets a new transport). At a two-factor site the reconnection cannot
answer the second factor: the tick sees the cluster unreachable, "login expired: run `mpflow cluster
login NAME`", and goes on with the others.
"""

from __future__ import annotations

import threading
from typing import Sequence

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import SSHTransport, Transport, check, open_transport
from mpflow.clusters.transport.ssh_auth import Prompter


class ClusterConnections:
    """One transport per cluster, opened on first use and closed together."""

    def __init__(self, clusters: Sequence[ClusterSettings]):
        self.settings = {c.name: c for c in clusters}
        self._open: dict[str, Transport] = {}

    def transport(self, cluster: str) -> Transport:
        if cluster not in self._open:
            self._open[cluster] = open_transport(self.settings[cluster])
        return self._open[cluster]

    def close(self) -> None:
        for t in self._open.values():
            t.close()
        self._open.clear()

    def __enter__(self) -> "ClusterConnections":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class KeptConnections(ClusterConnections):
    """Transports kept open across ticks; ``close`` ends them (when the process stops)."""

    def __init__(self, clusters: Sequence[ClusterSettings]):
        super().__init__(clusters)
        self._past_logins: dict[str, int] = {}  # of transports closed since
        self._lock = threading.RLock()  # a login (another thread) may swap a transport between ticks

    def transport(self, cluster: str) -> Transport:
        with self._lock:
            return super().transport(cluster)

    def for_tick(self, clusters: Sequence[ClusterSettings]) -> "KeptConnections":
        """These connections for a tick on ``clusters``: a cluster whose settings changed since (a block
        edited) or that left the project has its transport closed; the others are kept as they are."""
        wanted = {c.name: c for c in clusters}
        with self._lock:
            for name in list(self._open):
                if wanted.get(name) != self._open[name].settings:
                    self._retire(name)
            self.settings = wanted
        return self

    def _retire(self, name: str) -> None:
        t = self._open.pop(name)
        self._past_logins[name] = self._past_logins.get(name, 0) + getattr(t, "logins", 0)
        t.close()

    def login(self, cluster: ClusterSettings, prompter: Prompter) -> None:
        """Log in to ``cluster`` now, answering its second factor with ``prompter`` (a person at a
        terminal), and keep that connection for the ticks. The prompter is forgotten once logged in: a
        reconnection later (the site ended the session) cannot ask anyone, and the cluster shows as
        "login expired" until the next login."""
        transport = SSHTransport(cluster, prompter=prompter)
        try:
            check(transport.run(["true"]), cluster.name, "login")
        except BaseException:
            transport.close()
            raise
        finally:
            transport.prompter = None
        with self._lock:
            if cluster.name in self._open:
                self._retire(cluster.name)
            self.settings[cluster.name] = cluster
            self._open[cluster.name] = transport

    def logins(self) -> dict[str, int]:
        """Logins to each remote cluster's login node so far, closed transports included (a local
        cluster has none)."""
        names = set(self._open) | set(self._past_logins)
        return {n: self._past_logins.get(n, 0) + getattr(self._open.get(n), "logins", 0) for n in sorted(names)}

    def close(self) -> None:
        with self._lock:
            for name in list(self._open):
                self._retire(name)

    def __exit__(self, *exc) -> None:
        pass  # kept for the next tick
