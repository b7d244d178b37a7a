"""The long-lived manager: one process that runs the manager flow on schedule, in itself, and keeps one
connection per cluster for its whole life.

Why a long-lived process and not OpenSSH's ControlMaster sockets shared by short-lived tick processes:
a process per tick costs its Python and Prefect start-up every tick (28.6 CPU-seconds a minute on an
empty project, and ticks cancelled as overlapping because the start-up outlasted the interval on 2
cores), which a shared socket does not remove; and Paramiko, under Fabric, cannot use a ControlMaster
socket (paramiko#852), so every command and file transfer would have to go through the ``ssh``
binary instead. One process that ticks keeps its Fabric connections (and a site's second factor,
typed once) for as long as the site allows, and one tick never overlaps the next: the loop waits for
the next slot of a fixed cadence, skipping slots a long tick overran (``mpflow.manager.schedule``).

Each tick is a flow run of the manager flow on the project's Prefect server (its tasks, events and
artifacts in the UI), run in this process. A tick that fails is one line and the next tick comes.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable

from mpflow.flows.manager import keep_connections, manager_flow

from mpflow.clusters.connections import KeptConnections
from mpflow.errors import first_line
from mpflow.manager.schedule import seconds_to_next_tick


def serve_manager(project_root: Path, *, interval: float, once: bool = False, echo: Callable[[str], None] = print,
                  stop: threading.Event | None = None) -> KeptConnections:
    """Tick every ``interval`` seconds until ``stop`` is set (or once); returns the connections it kept
    (closed), whose ``logins()`` say how often each cluster was logged in to."""
    stop = stop or threading.Event()
    connections = KeptConnections([])
    keep_connections(connections)
    started = time.monotonic()
    try:
        while True:
            try:
                result = manager_flow(project=str(project_root))
                echo(f"{time.strftime('%H:%M:%S')} {result.get('summary') or result}")
            except Exception as exc:  # one tick failed (the server away, a bug): say so, tick again next slot
                echo(f"{time.strftime('%H:%M:%S')} tick failed: {first_line(exc)}")
            if once or stop.wait(seconds_to_next_tick(started, interval, time.monotonic())):
                return connections
    finally:
        keep_connections(None)
        connections.close()
