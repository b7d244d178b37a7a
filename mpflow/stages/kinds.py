"""Stage kinds: how the inputs of a stage are made ready, what its jobs run, how its outputs come back.

The manager knows stages only as data (``StageSpec``) plus one of these kinds:

- ``script``: shell lines run as a job on every cluster; nothing to prepare; the winner's stage folder
  is brought back to the master (verified transfer) when it is not the master;
- ``protocol``: the preparation, one job per model on the master (or raced on every cluster with
  ``clusters = "all"``) running ``python -m mpflow.cluster_side protocol`` with the cluster-side
  mpflow's interpreter; the model's structure and the job's request are placed in its folder first
  (one upload per cluster for the whole batch); a project may choose ``run = "local"`` instead, and
  then the pipeline prepares it on the orchestrator (``mpflow.manager.local_prep``);
- ``gromacs``: ``grompp`` on the master, the ``.tpr`` sent to every cluster, ``mdrun`` as the job, the
  outputs brought back to the master (``mpflow.stages.gromacs``).

Each batch method takes every model-stage of one stage at once (one call per tick, not per model) and
returns a reason per item for what it cannot do (the model-stage is then held with that reason). A
cluster that cannot be reached for the whole batch raises the transport's ``ClusterUnreachable``: the
manager's I/O retries it, and the model-stages wait for the next tick rather than being held.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.side import side_command
from mpflow.clusters.transport import ClusterUnreachable, TransportError
from mpflow.errors import file_problem
from mpflow.slurm.jobscript import reason_name
from mpflow.stages.spec import StageSpec
from mpflow.store.records import StageRecord
from mpflow.tags import MODEL_FILE, MODEL_INPUT, ModelTag
from mpflow.transfers.engine import TransferError, transfer_tree


@dataclass
class StageWork:
    """What a stage kind works with in the manager's advance phase: the clusters (the master first),
    one connection to each, and the project's own templates folder (``<project>/templates``)."""

    clusters: list[ClusterSettings]
    connections: ClusterConnections
    templates: Path

    @property
    def master(self) -> ClusterSettings:
        return self.clusters[0]


class StageKind(Protocol):
    """How one kind of stage gets its inputs ready, what its jobs run, and how its outputs come back."""

    managed: bool  # False: the pipeline's preparation moves it, not the manager (protocols on the master)

    def prepare(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        """Stage-row id → None (ready) or the reason to hold it."""

    def job_options(self, spec: StageSpec, item: StageRecord, cluster: ClusterSettings) -> dict:
        """The job-script options of its job on ``cluster`` (``commands``, ``mdrun``)."""

    def collect(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        """Stage-row id → None (outputs on the master: done) or the reason to hold it."""


def collect_from_winners(work: StageWork, items: list[StageRecord]) -> dict[int, str | None]:
    """Bring each item's stage folder from the cluster that ran it to the master, verified.

    Items won by the master need nothing. One transfer per item, all over the tick's connections;
    a transfer that fails for one item (after the engine's own retries) holds that item."""
    master = work.master
    out: dict[int, str | None] = {}
    for st in items:
        if st.winner in (None, master.name):
            out[st.id] = None
            continue
        tag = ModelTag(st.mutant, st.group, st.name)
        src = work.connections.settings[st.winner]
        try:
            transfer_tree(work.connections.transport(st.winner), tag.stage_dir(src.workdir, st.stage),
                          work.connections.transport(master.name), tag.stage_dir(master.workdir, st.stage))
            out[st.id] = None
        except ClusterUnreachable:
            raise  # the whole batch waits for the next tick
        except (TransferError, TransportError) as exc:
            out[st.id] = f"outputs not brought back from {st.winner}: {str(exc).splitlines()[0]}"
        except OSError as exc:  # the master's folder cannot be written
            out[st.id] = f"outputs not brought back from {st.winner}: {file_problem(exc, 'on the master')}"
    return out


class ScriptStage:
    """Shell lines of the project file run as the job, on every cluster."""

    managed = True

    def prepare(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        return {st.id: None for st in items}

    def job_options(self, spec: StageSpec, item: StageRecord, cluster: ClusterSettings) -> dict:
        return {"commands": list(spec.commands), "mdrun": False}

    def collect(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        return collect_from_winners(work, items)


#: the request file a preparation job reads, in its own folder
def request_name(stage: str) -> str:
    return f"{stage}.request.json"


def protocol_request(*, protocol: str, workdir: str, params, search_dirs=(), reason_file: str) -> dict:
    """The request a preparation job gives ``python -m mpflow.cluster_side protocol`` (its folder's
    ``<stage>.request.json``)."""
    return {"protocol": protocol, "workdir": workdir, "params": dict(params),
            "search_dirs": [str(d) for d in search_dirs], "reason_file": reason_file}


def protocol_targets(work: StageWork, spec: StageSpec) -> list[ClusterSettings]:
    return list(work.clusters) if spec.clusters == "all" else [work.master]


class ProtocolStage:
    """Preparation as a Slurm job: the protocol's steps run by the cluster-side mpflow in the model's
    stage folder; its outputs come back from the winner like any stage's."""

    managed = True

    def prepare(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        """Place each model's structure and its job's request in its stage folder on every target
        cluster: one read per model on the master, one upload per cluster."""
        master = work.master
        out: dict[int, str | None] = {}
        structures: dict[int, bytes] = {}
        source = work.connections.transport(master.name)
        for st in items:
            tag = ModelTag(st.mutant, st.group, st.name)
            path = posixpath.join(tag.model_dir(master.workdir), MODEL_FILE)
            try:
                with source.open_read(path) as f:
                    structures[st.id] = f.read()
            except ClusterUnreachable:
                raise
            except (TransportError, OSError) as exc:
                out[st.id] = f"{st.stage}: the model's structure {path} cannot be read on {master.name}: " \
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        search = [str(work.templates)] if work.templates.is_dir() else []
        for cluster in protocol_targets(work, spec):
            files: dict[str, bytes] = {}
            for st in items:
                if st.id not in structures:
                    continue
                folder = ModelTag(st.mutant, st.group, st.name).stage_dir(cluster.workdir, st.stage)
                request = protocol_request(protocol=spec.protocol, workdir=folder, params=spec.params,
                                           search_dirs=search if cluster.kind == "local" else (),
                                           reason_file=posixpath.join(folder, reason_name(st.stage, cluster.name)))
                files[posixpath.join(folder, MODEL_INPUT)] = structures[st.id]
                files[posixpath.join(folder, request_name(st.stage))] = json.dumps(request, indent=1).encode()
            if not files:
                continue
            try:
                failed = work.connections.transport(cluster.name).write_files(files)
            except ClusterUnreachable:
                if cluster.name == master.name:
                    raise
                continue  # that cluster's copy finds no request and fails; the master's may win
            for st in items:
                folder = ModelTag(st.mutant, st.group, st.name).stage_dir(cluster.workdir, st.stage)
                problem = failed.get(posixpath.join(folder, MODEL_INPUT)) or failed.get(
                    posixpath.join(folder, request_name(st.stage)))
                if problem and cluster.name == master.name:
                    out[st.id] = f"{st.stage} inputs not placed on {cluster.name}: {problem}"
        for st in items:
            out.setdefault(st.id, None)
        return out

    def job_options(self, spec: StageSpec, item: StageRecord, cluster: ClusterSettings) -> dict:
        argv = side_command(cluster, "protocol", "--request", request_name(item.stage))
        return {"commands": [shlex.join(argv)], "mdrun": False}

    def collect(self, work: StageWork, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        return collect_from_winners(work, items)
