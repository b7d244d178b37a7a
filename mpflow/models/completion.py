"""Completing models that wait for missing residues or atoms (``mpflow complete``).

PDBFixer rebuilds what a waiting model misses from the master's ``model.pdb`` (the incomplete file is
kept beside it as ``model.incomplete.pdb``); the completed model is checked again, measured, and
released (status ``ok``) through the import's own steps 3–5 (classify, folders, register). Each model
is independent: one that cannot be completed stays waiting and is named, while the others go on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy.orm import sessionmaker

from mpflow.analysis.structure.checks import complete_model
from mpflow.clusters.transport import TransportError, open_transport
from mpflow.errors import first_line
from mpflow.models.importing import (
    ClusterSource,
    ModelsError,
    ModelUpdate,
    finish,
    measure_geometry,
    project_mutant,
    resolve_clusters,
)
from mpflow.models.report import ModelsReport
from mpflow.project.file import Project
from mpflow.states import EventKind, ModelStatus
from mpflow.store.records import ModelRow, NoSuchModel, model_rows, models_named
from mpflow.tags import MODEL_FILE

INCOMPLETE_BACKUP = "model.incomplete.pdb"


def waiting_models(Session: sessionmaker, mutant: str | None = None, model: str | None = None) -> list[ModelRow]:
    """The models ``mpflow complete`` works on: waiting ones, of ``mutant``, named ``model``."""
    with Session() as s:
        rows = model_rows(s, mutant)
    if model is not None:
        try:
            rows = models_named(rows, model, mutant)
        except NoSuchModel as exc:
            raise ModelsError(str(exc)) from None
    return [r for r in rows if r.status == ModelStatus.WAITING]


def complete_models(project: Project, Session: sessionmaker, *, mutant: str | None = None,
                    model: str | None = None, clusters: ClusterSource = None, n_groups: int | None = None,
                    seed: int = 0) -> list[ModelsReport]:
    """``mpflow complete``: rebuild what waiting models miss (PDBFixer) from the master's
    ``model.pdb``, check again, and release the complete ones (status ok), one report per mutant.

    Per model: a model that cannot be completed stays waiting and is named in ``failed`` while
    the others go on (each is independent and completion is the tool's job, not the user's
    input)."""
    if mutant is not None:
        project_mutant(project, mutant)
    targets = waiting_models(Session, mutant, model)
    if not targets:
        return []
    settings = resolve_clusters(project, clusters)
    master = settings[0]
    reports: dict[str, ModelsReport] = {}
    updates: dict[str, list[ModelUpdate]] = {}
    with tempfile.TemporaryDirectory(prefix="mpflow-complete-") as tmp:
        work = Path(tmp)
        fetched: dict[int, Path] = {}
        with open_transport(master) as transport:
            for row in targets:
                report = reports.setdefault(row.mutant, ModelsReport(row.mutant))
                local = work / "in" / row.mutant / f"{row.name}.pdb"
                local.parent.mkdir(parents=True, exist_ok=True)
                remote = f"{row.tag.model_dir(master.workdir)}/{MODEL_FILE}"
                try:
                    with transport.open_read(remote) as f:
                        local.write_bytes(f.read())
                    fetched[row.id] = local
                except (OSError, TransportError) as exc:
                    report.failed[row.name] = (f"cannot read {remote} on {master.name} "
                                               f"({first_line(exc)}); import the file again")
        for row in targets:
            if row.id not in fetched:
                continue
            report = reports[row.mutant]
            try:
                mut = project_mutant(project, row.mutant)
                out = work / "out" / row.mutant / f"{row.name}.pdb"
                done = complete_model(fetched[row.id], mut, out, seed=seed)
            except Exception as exc:  # noqa: BLE001 - PDBFixer/OpenMM failures are this model's
                report.failed[row.name] = first_line(exc)
                continue
            if not done.ok:
                report.failed[row.name] = f"still {done.status} after completion"
                continue
            update_ = ModelUpdate(row.name, EventKind.MODEL_COMPLETED, (row.id, row.sha256, row.status),
                                  {"status": ModelStatus.OK, "status_reason": None}, file=out,
                                  backup=INCOMPLETE_BACKUP)
            try:
                measure_geometry([update_])
            except ModelsError as exc:
                report.failed[row.name] = str(exc)
                continue
            updates.setdefault(row.mutant, []).append(update_)
        for name, report in reports.items():
            if name in updates:
                finish(project, Session, settings, name, updates[name], n_groups, report)
    return list(reports.values())
