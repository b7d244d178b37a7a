"""Registering models in the jobs database (the models flow's import and the tests use this).

A model is (mutant, group, name) plus its source file; registering the same (mutant, name) again is a
no-op that returns the existing id. Model-stage rows are created by the manager for every stage of
the project.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from mpflow.db import Model
from mpflow.tags import ModelTag


def register_model(s: Session, mutant: str, name: str, *, group: str = "None", source: str | None = None,
                   source_sha256: str | None = None, status: str = "ok", status_reason: str | None = None) -> int:
    ModelTag(mutant, group, name)  # validates every part
    existing = s.scalar(select(Model.id).where(Model.mutant == mutant, Model.name == name))
    if existing is not None:
        return existing
    model = Model(mutant=mutant, group=group, name=name, source=source, source_sha256=source_sha256,
                  status=status, status_reason=status_reason)
    s.add(model)
    s.flush()
    return model.id
