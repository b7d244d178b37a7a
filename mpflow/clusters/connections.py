"""One open transport per cluster, shared by everything a tick (or a command) does there.

``ClusterConnections`` opens a cluster's transport on first use and hands the same one to every
phase (observe, advance, submit, cancel), so a tick logs in to a remote cluster at most once; the
transports are closed together when the connections are closed.
"""

from __future__ import annotations

from typing import Sequence

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import Transport, open_transport


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
