"""The long-lived manager: one process that runs the scheduled manager deployment's runs in itself and keeps
one connection per cluster for its whole life.

Why a long-lived process and not OpenSSH's ControlMaster sockets shared by short-lived tick processes:
a process per tick costs its Python and Prefect start-up every tick (28.6 CPU-seconds a minute on an
empty project, and ticks cancelled as overlapping because the start-up outlasted the interval on 2
cores), which a shared socket does not remove; and Paramiko, under Fabric, cannot use a ControlMaster
socket (paramiko#852), so every command and file transfer would have to go through the ``ssh``
binary instead. One process keeps its Fabric connections (and a site's second factor, typed once with
``mpflow cluster login``) for as long as the site allows.

The schedule stays the deployment's (the server makes its runs every ``interval_s``, as the UI shows);
the deployment's runs go to a work queue of their own that the worker does not serve
(``MANAGER_QUEUE``), and this process starts each due run in itself (``prefect.flow_engine.run_flow``)
after taking it to Pending as a worker would (the deployment's one-at-a-time slot). It waits for the
next run's scheduled time, so an idle project costs two API queries and the tick per interval. Runs a
long tick overran are skipped (``pick_due_run``), never run back to back. Without a deployment (no
server) it ticks on its own cadence. It also takes logins (``mpflow.manager.logins.LoginDesk``).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from mpflow.blocks.cluster import open_project
from mpflow.deployments.deploy import deployment_name
from mpflow.flows.manager import keep_connections, manager_flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.responses import SetStateStatus
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.flow_engine import run_flow
from prefect.states import Cancelled, Pending

from mpflow.clusters.connections import KeptConnections
from mpflow.errors import first_line
from mpflow.manager.logins import LoginDesk
from mpflow.manager.schedule import pick_due_run, seconds_to_next_tick

LOOK_AHEAD = 20
"""Scheduled runs read per query (the earliest first): the due ones and the next."""


def _epoch(when: datetime) -> float:
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def serve_manager(project_root: Path, *, interval: float, once: bool = False, echo: Callable[[str], None] = print,
                  stop: threading.Event | None = None) -> KeptConnections:
    """Run the manager's ticks until ``stop`` is set (or one tick, ``once``); returns the connections it kept
    (closed), whose ``logins()`` say how often each cluster was logged in to."""
    stop = stop or threading.Event()
    project = open_project(str(project_root))
    connections = KeptConnections([])
    keep_connections(connections)
    desk = LoginDesk(project.root, connections, lambda name: {c.name: c for c in project.cluster_settings()}[name])
    desk.start()
    try:
        deployment_id = _manager_deployment(project)
        if deployment_id is None:
            echo(f"no manager deployment on the server: ticking every {interval:g} s on this process's own cadence")
            _own_cadence(project.root, interval, once, echo, stop)
        else:
            _deployment_runs(deployment_id, interval, once, echo, stop)
    finally:
        desk.close()
        keep_connections(None)
        connections.close()
    return connections


def _manager_deployment(project):
    try:
        with get_client(sync_client=True) as client:
            return client.read_deployment_by_name(f"manager/{deployment_name(project)}").id
    except ObjectNotFound:
        return None


def _one_tick(run: Callable[[], object], echo: Callable[[str], None]) -> None:
    try:
        result = run()
        summary = result.get("summary") or result.get("skipped") if isinstance(result, dict) else result
        echo(f"{time.strftime('%H:%M:%S')} {summary}")
    except Exception as exc:  # one tick failed (the server away, a bug): say so, the next one comes
        echo(f"{time.strftime('%H:%M:%S')} tick failed: {first_line(exc)}")


def _own_cadence(root: Path, interval: float, once: bool, echo, stop: threading.Event) -> None:
    started = time.monotonic()
    while True:
        _one_tick(lambda: manager_flow(project=str(root)), echo)
        if once or stop.wait(seconds_to_next_tick(started, interval, time.monotonic())):
            return


def _deployment_runs(deployment_id, interval: float, once: bool, echo, stop: threading.Event) -> None:
    scheduled = FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])))
    of_deployment = DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
    with get_client(sync_client=True) as client:
        while not stop.is_set():
            try:
                runs = client.read_flow_runs(flow_run_filter=scheduled, deployment_filter=of_deployment,
                                             sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=LOOK_AHEAD)
            except Exception as exc:  # the server restarting: try again after an interval
                echo(f"{time.strftime('%H:%M:%S')} cannot read the manager's runs: {first_line(exc)}")
                stop.wait(interval)
                continue
            by_id = {str(r.id): r for r in runs}
            now_run, skipped, wake = pick_due_run(
                [(str(r.id), _epoch(r.expected_start_time or r.next_scheduled_start_time)) for r in runs],
                time.time())
            for run_id in skipped:
                client.set_flow_run_state(run_id, Cancelled(message="skipped: the tick before it ran into its time"))
            if now_run is None:
                stop.wait(min(interval, max(0.05, (wake or time.time() + interval) - time.time())))
                continue
            taken = client.set_flow_run_state(now_run, Pending())
            if taken.status != SetStateStatus.ACCEPT:
                continue  # another taker, or the slot refused it: the server's state says why
            flow_run = client.read_flow_run(by_id[now_run].id)
            _one_tick(lambda: run_flow(manager_flow, flow_run=flow_run, parameters=flow_run.parameters), echo)
            if once:
                return
