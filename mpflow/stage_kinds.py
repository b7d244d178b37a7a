"""Stage kinds: how the inputs of a stage are made ready, what its jobs run, how its outputs come back.

The manager knows stages only as data (``StageSpec``) plus one of these kinds:

- ``script``: shell lines run as a job on every cluster; nothing to prepare; the winner's stage folder
  is brought back to the master (verified transfer) when it is not the master;
- ``protocol``: runs on the master through its own flow (preparation); the manager does not move it;
- ``gromacs``: ``grompp`` on the master, the ``.tpr`` sent to every cluster, ``mdrun`` as the job, the
  outputs brought back to the master (see ``mpflow.md_stages``).

Each batch method takes every model-stage of one stage at once (one call per tick, not per model).
"""

from __future__ import annotations

import logging

from mpflow.jobs_store import StageRecord
from mpflow.project import StageSpec
from mpflow.tags import ModelTag

log = logging.getLogger(__name__)


def collect_from_winners(work, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
    """Bring each item's stage folder from the cluster that ran it to the master, verified.

    Items won by the master need nothing. One transfer per item, all over the tick's connections."""
    from mpflow.transfer import TransferError, transfer_tree
    from mpflow.transport import TransportError

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
        except (TransferError, TransportError) as exc:
            # Left in FINISHING would retry every tick; a transfer that failed after its own retries
            # is held with the reason so a person looks at it.
            out[st.id] = f"outputs not brought back from {st.winner}: {str(exc).splitlines()[0]}"
    return out


class ScriptStage:
    managed = True

    def prepare(self, work, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        return {st.id: None for st in items}

    def job_options(self, spec: StageSpec, item: StageRecord, cluster) -> dict:
        return {"commands": list(spec.commands), "mdrun": False}

    def collect(self, work, spec: StageSpec, items: list[StageRecord]) -> dict[int, str | None]:
        return collect_from_winners(work, spec, items)


class ProtocolStage:
    """Preparation on the master: moved by the prepare flow, not by the manager."""

    managed = False


def default_kinds() -> dict[str, object]:
    from mpflow.md_stages import GromacsStage

    return {"script": ScriptStage(), "protocol": ProtocolStage(), "gromacs": GromacsStage()}
