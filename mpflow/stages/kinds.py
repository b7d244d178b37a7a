"""Stage kinds: how the inputs of a stage are made ready, what its jobs run, how its outputs come back.

The manager knows stages only as data (``StageSpec``) plus one of these kinds:

- ``script``: shell lines run as a job on every cluster; nothing to prepare; the winner's stage folder
  is brought back to the master (verified transfer) when it is not the master;
- ``protocol``: runs on the master through the pipeline's preparation (``mpflow.manager.pipeline``);
  the manager does not move it;
- ``gromacs``: ``grompp`` on the master, the ``.tpr`` sent to every cluster, ``mdrun`` as the job, the
  outputs brought back to the master (``mpflow.stages.gromacs``).

Each batch method takes every model-stage of one stage at once (one call per tick, not per model) and
returns a reason per item for what it cannot do (the model-stage is then held with that reason). A
cluster that cannot be reached for the whole batch raises the transport's ``ClusterUnreachable``: the
manager's I/O retries it, and the model-stages wait for the next tick rather than being held.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import ClusterUnreachable, TransportError
from mpflow.errors import file_problem
from mpflow.stages.spec import StageSpec
from mpflow.store.records import StageRecord
from mpflow.tags import ModelTag
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


class ProtocolStage:
    """Preparation on the master: moved by the pipeline's preparation, not by the manager."""

    managed = False
