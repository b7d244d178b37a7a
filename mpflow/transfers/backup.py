"""Backups of finished stages (the original design's ``backup`` engine): each done model-stage's
folder on the master is copied to a backup location — a folder on this machine or a cluster of the
project — with size and sha256 checked before each file is renamed into place. Files already
backed up with the same checksum are skipped, so a backup can run again after every stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import select

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import TransportError, open_transport
from mpflow.states import EventKind, StageState
from mpflow.store.records import Transition, record_events
from mpflow.store.schema import Model, ModelStage
from mpflow.tags import ModelTag
from mpflow.transfers.engine import Action, TransferError, transfer_tree


@dataclass(frozen=True)
class BackupItem:
    model_id: int
    tag: ModelTag
    stage: str


@dataclass(frozen=True)
class BackupResult:
    items: int
    files_copied: int
    files_identical: int
    bytes_copied: int
    failed: tuple[str, ...] = ()


def destination_settings(destination: str, clusters: Sequence[ClusterSettings]) -> ClusterSettings:
    """A project cluster by name, or an absolute folder on this machine."""
    by_name = {c.name: c for c in clusters}
    if destination in by_name:
        return by_name[destination]
    if not destination.startswith("/"):
        raise ValueError(f"backup destination {destination!r} is neither a cluster of the project "
                         f"({', '.join(by_name)}) nor an absolute folder")
    return ClusterSettings(name="backup", kind="local", workdir=destination)


def done_stages(Session, *, stages: Sequence[str] | None = None, mutants: Sequence[str] | None = None
                ) -> list[BackupItem]:
    q = (select(ModelStage.model_id, ModelStage.stage, Model.mutant, Model.group, Model.name)
         .join(Model, Model.id == ModelStage.model_id).where(ModelStage.state == StageState.DONE))
    if stages:
        q = q.where(ModelStage.stage.in_(list(stages)))
    if mutants:
        q = q.where(Model.mutant.in_(list(mutants)))
    with Session() as s:
        return [BackupItem(m, ModelTag(mut, grp, name), st) for m, st, mut, grp, name in s.execute(q.order_by(
            ModelStage.model_id, ModelStage.stage))]


def back_up(Session, master: ClusterSettings, destination: ClusterSettings, items: Sequence[BackupItem],
            *, parallel: int = 2) -> BackupResult:
    """Copy every item's stage folder from the master to ``destination`` (verified, atomic per file)."""
    copied = identical = nbytes = 0
    failed: list[str] = []
    transitions: list[Transition] = []
    with open_transport(master) as src, open_transport(destination) as dst:
        for it in items:
            try:
                results = transfer_tree(src, it.tag.stage_dir(master.workdir, it.stage), dst,
                                        it.tag.stage_dir(destination.workdir, it.stage), parallel=parallel)
            except (TransferError, TransportError) as exc:
                failed.append(f"{it.tag}/{it.stage}: {str(exc).splitlines()[0]}")
                continue
            new = [r for r in results if r.action is Action.COPIED]
            copied += len(new)
            identical += len(results) - len(new)
            nbytes += sum(r.bytes for r in new)
            transitions.append(Transition(EventKind.BACKED_UP, it.model_id, it.stage, destination.name, None, None, None,
                                          f"{len(new)} file(s) copied, {len(results) - len(new)} already there, "
                                          f"to {destination.workdir}", value=float(sum(r.bytes for r in new))))
    with Session.begin() as s:
        record_events(s, transitions)
    return BackupResult(len(items), copied, identical, nbytes, tuple(failed))
