"""Releasing held model-stages (``mpflow release``): a person fixed what held them, the manager takes
them on again.

A model-stage is held when something needs a person: a preparation or ``grompp`` that failed, outputs
that could not be brought back, a folder that could not be written. Nothing releases it by itself,
since the same cause would hold it again every tick. Once the cause is fixed (the project file, a
template, a full disk), :func:`release_held` puts each chosen held model-stage back where it was held
from — ``finishing`` when its outputs were being brought back (the finished job is not run again),
else ``waiting``, so it is prepared again — clears the reason and records a ``released`` event that
keeps the old reason. It runs under the manager's lease, so no tick sees half of it.

Models are named as ``mpflow status`` and ``mpflow models`` show them: ``NAME``, ``MUTANT/NAME`` or
``MUTANT/GROUP/NAME``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from mpflow.states import EventKind, StageState
from mpflow.store.leases import LeaseTaken, hold_lease
from mpflow.store.records import (
    NoSuchModel,
    StageChange,
    Transition,
    model_rows,
    models_named,
    record_events,
    update_stages,
)
from mpflow.store.schema import Event, Model, ModelStage


class ReleaseError(ValueError):
    """A model that is not in the project, or a name two mutants share; one line."""


@dataclass(frozen=True)
class Released:
    """One released model-stage: which, the reason it was held with, and the state it is back in."""

    mutant: str
    group: str
    name: str
    stage: str
    reason: str | None
    state: StageState

    def line(self) -> str:
        return f"released {self.mutant}/{self.group}/{self.name} {self.stage} ({self.state}; it was held: " \
               f"{self.reason or 'no reason recorded'})"


def model_ids(Session: sessionmaker, names: Sequence[str], mutant: str | None = None) -> set[int]:
    """The ids of the models named ``NAME``, ``MUTANT/NAME`` or ``MUTANT/GROUP/NAME``; one-line
    :class:`ReleaseError` for a name no model has, or one that two mutants share."""
    with Session() as s:
        rows = model_rows(s)
    try:
        return {r.id for ref in names for r in models_named(rows, ref, mutant)}
    except NoSuchModel as exc:
        raise ReleaseError(str(exc)) from None


def release_held(Session: sessionmaker, *, models: Sequence[str] = (), stage: str | None = None,
                 mutant: str | None = None, wait_s: float = 60.0) -> list[Released]:
    """Release the held model-stages of ``models`` (default: every model; only ``mutant``'s with
    ``mutant``) in ``stage`` (default: every stage); see the module docstring. Returns what was
    released, in model and stage order."""
    wanted = model_ids(Session, models, mutant) if models else None
    try:
        with hold_lease(Session, wait_s=wait_s, ttl_s=max(wait_s, 60.0)):
            with Session.begin() as s:
                q = (select(ModelStage.id, ModelStage.model_id, ModelStage.stage, ModelStage.reason, ModelStage.winner,
                            Model.mutant, Model.group, Model.name)
                     .join(Model, Model.id == ModelStage.model_id).where(ModelStage.state == StageState.HELD)
                     .order_by(ModelStage.model_id, ModelStage.id))
                if stage is not None:
                    q = q.where(ModelStage.stage == stage)
                if mutant is not None:
                    q = q.where(Model.mutant == mutant)
                held = [r for r in s.execute(q) if wanted is None or r.model_id in wanted]
                if not held:
                    return []
                held_from = _held_from(s, {r.model_id for r in held})
                released, changes, events = [], [], []
                for r in held:
                    back = StageState.FINISHING if held_from.get((r.model_id, r.stage)) == StageState.FINISHING \
                        and r.winner else StageState.WAITING
                    released.append(Released(r.mutant, r.group, r.name, r.stage, r.reason, back))
                    changes.append(StageChange(r.id, state=back, reason=None))
                    events.append(Transition(EventKind.RELEASED, r.model_id, r.stage,
                                             r.winner if back is StageState.FINISHING else None, None, StageState.HELD,
                                             back, f"released; it was held: {r.reason or 'no reason recorded'}"))
                update_stages(s, changes)
                record_events(s, events)
    except LeaseTaken:
        raise ReleaseError(f"the manager's lease stayed taken for {wait_s:.0f} s (a manager tick is running); "
                           "run the command again") from None
    return released


def _held_from(s, model_ids: set[int]) -> dict[tuple[int, str], str | None]:
    """(model id, stage) → the state its latest hold came from (the ``held`` events)."""
    q = (select(Event.model_id, Event.stage, Event.from_state)
         .where(Event.kind == EventKind.HELD, Event.model_id.in_(sorted(model_ids))).order_by(Event.id))
    return {(model_id, stage): from_state for model_id, stage, from_state in s.execute(q)}
