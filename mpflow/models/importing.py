"""The models of a project: import with checks, completion, geometry, classification, folder tree.

This module holds the plain functions behind ``mpflow import``, ``mpflow complete``, ``mpflow
classify``, ``mpflow models`` and the ``models`` flow (which runs the same steps as Prefect tasks).
One command goes through these steps:

1. **check** (:func:`plan_import`): the paths are expanded (files, or the PDB/mmCIF files of a
   folder); each model is named by its file name, which must be a safe name; every file is checked
   against its mutant (:func:`mpflow.analysis.structure.checks.check_model`) and copied to a local
   staging folder as the PDB file the preparation will read (mmCIF converted). A file whose sha256
   is the one already recorded for that model is unchanged (re-import is a no-op).
   **All or nothing per command**: when any file is bad, the command stops with the first problem
   on one line (and how many more files are bad) before anything is written. A folder of docked
   models is one set (it is classified together); importing the good part of it would classify a
   subset, and once the bad file is fixed, running the same command again costs nothing for the
   files already imported (their sha256 is unchanged).
2. **geometry** (:func:`measure_geometry`): :func:`mpflow.analysis.structure.geometry.geometry_of_models` of
   each new file, stored in ``models.geometry``.
3. **classify** (:func:`plan_groups`, the rule in :mod:`mpflow.models.groups`): every model of the
   mutant with status ``ok`` and a crossing angle and distance is classified again (N by
   silhouette or given); the new groups take the names of the old ones they overlap most (so
   adding models does not rename groups); outliers and models that are ``waiting`` are ``None``.
   **A model that has started a stage keeps its group**: its folder holds its runs, so it is never
   moved; it still counts in the clustering, and the group it joins is named after it.
4. **folders** (:func:`mpflow.models.tree.apply_tree_change`, per cluster, the master first):
   ``<workdir>/<mutant>/<group>/<name>/`` for every model of the mutant on every cluster (moved
   when a group changed), and ``model.pdb`` in the master's folder.
5. **register** (:func:`commit`): one transaction writes the models, their groups, geometry and
   status, the model-stage rows and an event per change.

Steps 3–5 run under the manager's lease (:func:`manager_lease`): no manager tick can start a stage
of a model between its group being decided and its folder being moved. The clusters are contacted
only in step 4, after every check passed, and the database is written only after every cluster's
tree is in place; each step is safe to repeat, so a command that failed on a cluster is simply run
again.

A model with missing residues or heavy atoms is registered with status ``waiting`` and the reason
(``missing residues B:45–47``) and is not classified. :func:`complete_models` rebuilds what is missing
with PDBFixer from the master's ``model.pdb`` (the incomplete file is kept as
``model.incomplete.pdb``), checks again and releases the model (status ``ok``); importing a fixed
file under the same name does the same. A different file for an existing model replaces it only
while the model has not started a stage.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from Bio.PDB import PDBIO, MMCIFParser
from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from mpflow.analysis.structure.checks import check_model
from mpflow.analysis.structure.geometry import geometry_of_models
from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import TransportError
from mpflow.errors import first_line
from mpflow.models.groups import GroupAssignment, GroupRecord, assign_groups
from mpflow.models.report import ModelsReport
from mpflow.models.tree import (
    PlacedFile,
    TreeChange,
    TreeError,
    TreeResult,
    apply_tree_change,
    one_line,
)
from mpflow.project.claim import FolderClaimed, claim_and_record
from mpflow.project.file import Project, ProjectError
from mpflow.project.mutants import Mutant, MutantError
from mpflow.states import EventKind, ModelStatus
from mpflow.store.leases import LeaseTaken, hold_lease
from mpflow.store.records import (
    ModelRow,
    Transition,
    add_model,
    ensure_model_stages,
    model_rows,
    record_events,
)
from mpflow.store.schema import Model, utcnow
from mpflow.tags import ModelTag, TagError, check_part

MODEL_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif")
MMCIF_SUFFIXES = (".cif", ".mmcif")


class ModelsError(ValueError):
    """A models command cannot go on; the message is one line saying what to fix."""


class UnknownMutant(ModelsError):
    """The mutant named is not in the project (bad input, not a bad model file)."""


def project_mutant(project: Project, name: str) -> Mutant:
    """The project's mutant ``name``, or :class:`UnknownMutant` saying which mutants there are."""
    try:
        return project.mutant(name)
    except MutantError as exc:
        raise UnknownMutant(str(exc)) from None


@dataclass
class ModelUpdate:
    """A change to one model decided by a check or a completion.

    ``expected``: (id, sha256, status) of the model when the change was planned (None: a new
    model); the change is refused if the model is different when it is written. ``fields``:
    columns to set (source, source_sha256, status, status_reason, geometry). ``file``: the local
    PDB file to place as the model's ``model.pdb`` on the master; ``backup``: keep the replaced
    file under this name."""

    name: str
    kind: EventKind  # IMPORTED, REPLACED or MODEL_COMPLETED
    expected: tuple[int, str | None, str] | None
    fields: dict
    file: Path | None = None
    backup: str | None = None

    @property
    def status(self) -> str:
        return self.fields["status"]


@dataclass
class ImportPlan:
    """The outcome of the check step: what changes (``updates``), what is already there, and what the
    user should know (``notes``: files that hold several models, of which only the first was taken)."""

    mutant: Mutant
    updates: list[ModelUpdate]
    unchanged: list[str]
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# step 1: files and checks
# --------------------------------------------------------------------------------------------

def collect_files(paths: Sequence[str | Path]) -> list[tuple[str, Path]]:
    """(model name, file) for every file in ``paths`` (files, or folders: their PDB/mmCIF files,
    not recursive, hidden files left out), in order; the same file given twice counts once.

    Refused with one line: a path that does not exist, a file or folder that is not PDB/mmCIF, a
    name that is not safe for folders and job names, two files giving the same name."""
    if not paths:
        raise ModelsError("no model files given")
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in MODEL_SUFFIXES)
            if not found:
                raise ModelsError(f"{path}: no PDB or mmCIF files in this folder "
                                  f"({', '.join(MODEL_SUFFIXES)})")
            files += found
        elif path.is_file():
            if path.suffix.lower() not in MODEL_SUFFIXES:
                raise ModelsError(f"{path}: not a PDB or mmCIF file name (expected "
                                  f"{', '.join(MODEL_SUFFIXES)})")
            files.append(path)
        else:
            raise ModelsError(f"{path}: no such file or folder")
    out: list[tuple[str, Path]] = []
    seen: set[Path] = set()
    by_name: dict[str, Path] = {}
    for path in files:
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        name = path.stem
        try:
            check_part("model name", name)
        except TagError:
            raise ModelsError(f"{path}: model name {name!r} (the file name) is not a safe name: use "
                              "letters, digits, '_', '.' or '-', starting with a letter or digit") from None
        if name in by_name:
            raise ModelsError(f"model name {name!r} comes from two files, {by_name[name]} and {path}; "
                              "rename one")
        by_name[name] = path
        out.append((name, path))
    return out


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _is_mmcif(path: Path) -> bool:
    if path.suffix.lower() in MMCIF_SUFFIXES:
        return True
    with open(path, "rb") as handle:
        return handle.read(256).lstrip().startswith(b"data_")


def _mmcif_structure(path: Path, name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MMCIFParser(QUIET=True).get_structure(name, str(path))


def _write_pdb(model, source: Path, out: Path) -> Path:
    """One model of an mmCIF file (a Biopython model) written as PDB to ``out``; the chain ids must
    be one character each."""
    long_ids = [c.id for c in model if len(c.id) != 1]
    if long_ids:
        raise ModelsError(f"{source.name}: chain id {long_ids[0]!r} does not fit a PDB file (one "
                          "character); rename the chains")
    writer = PDBIO()
    writer.set_structure(model)
    writer.save(str(out))
    return out


def model_count(path: Path) -> int:
    """How many models a file holds (its ``MODEL`` records; an mmCIF file's ``pdbx_PDB_model_num``
    values), at least 1."""
    if _is_mmcif(path):
        return max(1, len(_mmcif_structure(path, path.stem)))
    with open(path, "rb") as handle:
        return max(1, sum(1 for line in handle if line.startswith(b"MODEL ") or line.rstrip() == b"MODEL"))


def split_models(path: Path, name: str, folder: Path) -> list[tuple[str, Path]]:
    """Each model of a file as its own PDB file in ``folder``, named ``<name>_m<k>`` (k from 1,
    zero-padded to the number of models): ``(model name, file)`` in the file's order. A PDB file's
    lines before its first ``MODEL`` go into every part."""
    folder.mkdir(parents=True, exist_ok=True)
    if _is_mmcif(path):
        structure = _mmcif_structure(path, name)
        models = list(structure)
        width = len(str(len(models)))
        out = []
        for k, model in enumerate(models, 1):
            part = f"{name}_m{k:0{width}d}"
            out.append((part, _write_pdb(model, path, folder / f"{part}.pdb")))
        return out
    header: list[str] = []
    models: list[list[str]] = []
    current: list[str] | None = None
    for line in path.read_bytes().decode("latin-1").splitlines():
        if line.startswith("MODEL"):
            current = []
        elif line.startswith("ENDMDL"):
            if current is not None:
                models.append(current)
            current = None
        elif current is not None:
            current.append(line)
        elif not models and not line.startswith(("END", "CONECT", "MASTER")):
            header.append(line)
    width = len(str(len(models)))
    out = []
    for k, lines in enumerate(models, 1):
        part = f"{name}_m{k:0{width}d}"
        (folder / f"{part}.pdb").write_bytes(("\n".join(header + lines) + "\nEND\n").encode("latin-1"))
        out.append((part, folder / f"{part}.pdb"))
    return out


def expand_models(files: Sequence[tuple[str, Path]], folder: Path, *, each_model: bool
                  ) -> tuple[list[tuple[str, Path, str]], list[str]]:
    """``(model name, file to check, source)`` for every model to import, and notes for the user.

    A file with several models is one model (its first) with a note saying so, or, with
    ``each_model``, one model per model in the file (:func:`split_models`; the source names the
    model: ``<file> (model k)``). Refused with one line: a name that two files or parts give."""
    out: list[tuple[str, Path, str]] = []
    notes: list[str] = []
    for name, path in files:
        try:
            n = model_count(path)
        except Exception:  # noqa: BLE001 - an unreadable file: the check that follows says why, in one line
            n = 1
        if n == 1:
            out.append((name, path, str(path.resolve())))
        elif each_model:
            for k, (part, part_path) in enumerate(split_models(path, name, folder / name), 1):
                out.append((part, part_path, f"{path.resolve()} (model {k})"))
        else:
            notes.append(f"{path.name} holds {n} models: only its first was imported as {name} "
                         "(`mpflow import --each-model` imports every model as its own)")
            out.append((name, path, str(path.resolve())))
    seen: dict[str, str] = {}
    for name, _, source in out:
        if name in seen:
            raise ModelsError(f"model name {name!r} comes from two files, {seen[name]} and {source}; rename one")
        seen[name] = source
    return out, notes


def stage_structure(path: Path, name: str, staging: Path) -> Path:
    """The checked structure as the PDB file the preparation reads: ``staging/<name>.pdb``.

    A PDB file is copied as it is (only its first model when it has several: the checks read the
    first); an mmCIF file is converted (Biopython), which needs one-character chain ids."""
    staging.mkdir(parents=True, exist_ok=True)
    out = staging / f"{name}.pdb"
    tmp = staging / f".{name}.pdb.tmp"
    if _is_mmcif(path):
        _write_pdb(next(iter(_mmcif_structure(path, name))), path, tmp)
    else:
        text = path.read_bytes().decode("latin-1")
        if "\nENDMDL" in text or text.startswith("ENDMDL"):
            lines = []
            for line in text.splitlines():
                if line.startswith("ENDMDL"):
                    break
                if not line.startswith("MODEL "):
                    lines.append(line)
            tmp.write_bytes(("\n".join(lines) + "\nEND\n").encode("latin-1"))
        else:
            shutil.copyfile(path, tmp)
    tmp.replace(out)
    return out


def waiting_reason(report) -> str:
    """``missing residues B:45–47`` (and missing heavy atoms) from a check report that is waiting."""
    return report.status.removeprefix("waiting: ")


def _too_many(problems: list[str]) -> str:
    more = len(problems) - 1
    return problems[0] + (f" (and {more} more bad file{'s' if more > 1 else ''}; nothing was imported)"
                          if more else "")


def plan_import(project: Project, Session: sessionmaker, mutant_name: str, paths: Sequence[str | Path],
                staging: Path, *, each_model: bool = False) -> ImportPlan:
    """Step 1: expand ``paths`` (and, with ``each_model``, every file of several models into one
    model per model: :func:`expand_models`), check every model against the mutant, stage the
    accepted ones.

    Raises :class:`ModelsError` with the first problem (one line) when anything is refused;
    nothing is written outside ``staging``."""
    mutant = project_mutant(project, mutant_name)
    files, notes = expand_models(collect_files(paths), staging / "models", each_model=each_model)
    with Session() as s:
        rows = {r.name: r for r in model_rows(s, mutant.name)}
    name_of_sha = {r.sha256: r.name for r in rows.values() if r.sha256}
    first_with_sha: dict[str, Path] = {}
    updates: list[ModelUpdate] = []
    unchanged: list[str] = []
    problems: list[str] = []
    for name, path, source in files:
        try:
            sha = sha256_file(path)
        except OSError as exc:
            problems.append(f"cannot read {path}: {exc.strerror}")
            continue
        row = rows.get(name)
        if row is not None and row.sha256 == sha:
            unchanged.append(name)
            continue
        if sha in first_with_sha:
            problems.append(f"{path.name}: same content as {first_with_sha[sha].name} (a duplicate model)")
            continue
        first_with_sha[sha] = path
        if sha in name_of_sha:
            other = rows[name_of_sha[sha]]
            problems.append(f"{path.name}: same content as model {other.name} of {mutant.name} "
                            f"(imported from {other.source}); a duplicate model")
            continue
        if row is not None and row.started:
            problems.append(f"{path.name}: model {name} of {mutant.name} has started its stages with "
                            f"another file ({row.source}) and is not replaced; import this one under "
                            "another name")
            continue
        report = check_model(path, mutant)
        if report.errors:
            problems.append(report.first_error)
            continue
        try:
            staged = stage_structure(path, name, staging)
        except ModelsError as exc:
            problems.append(str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - a converter's failure is this file's problem
            problems.append(f"{path.name}: cannot be written as PDB: {first_line(exc)}")
            continue
        if staged_report_differs(staged, mutant, report):
            problems.append(f"{path.name}: converting it to PDB changed what it holds; convert it yourself")
            continue
        status, reason = (ModelStatus.OK, None) if report.ok else (ModelStatus.WAITING, waiting_reason(report))
        updates.append(ModelUpdate(
            name, EventKind.REPLACED if row else EventKind.IMPORTED,
            (row.id, row.sha256, row.status) if row else None,
            {"source": source, "source_sha256": sha, "status": status, "status_reason": reason},
            file=staged))
    if problems:
        raise ModelsError(_too_many(problems))
    return ImportPlan(mutant, updates, unchanged, notes)


def staged_report_differs(staged: Path, mutant: Mutant, report) -> bool:
    """True when the staged copy of a converted file does not check like the original."""
    if staged.read_bytes() == Path(report.path).read_bytes():
        return False
    again = check_model(staged, mutant)
    return (again.status, again.chains) != (report.status, report.chains)


# --------------------------------------------------------------------------------------------
# step 2: geometry
# --------------------------------------------------------------------------------------------

def geometry_record(row) -> dict:
    """A geometry table row as JSON-ready values (NaN → None), without ``model`` and ``frame``."""
    out = {}
    for key, value in row.items():
        if key in ("model", "frame"):
            continue
        value = value.item() if hasattr(value, "item") else value
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[str(key)] = value
    return out


def measure_geometry(updates: Sequence[ModelUpdate]) -> None:
    """Step 2: the geometry of each update's file, into ``fields["geometry"]``."""
    for u in updates:
        if u.file is None:
            continue
        try:
            table = geometry_of_models([u.file])
        except Exception as exc:  # noqa: BLE001 - any reader or DSSP failure is this model's problem
            raise ModelsError(f"{u.name}: its geometry cannot be measured: {first_line(exc)}") from None
        u.fields["geometry"] = geometry_record(table.iloc[0])


# --------------------------------------------------------------------------------------------
# step 3: classification
# --------------------------------------------------------------------------------------------

@dataclass
class GroupPlan:
    """Step 3's outcome for one mutant: the rows read under the lease, the groups, the tree."""

    mutant: str
    rows: dict[str, ModelRow]
    assignment: GroupAssignment
    change: TreeChange

    def moved(self) -> list[str]:
        return [old.name for old, _ in self.change.moves]


def plan_groups(Session: sessionmaker, mutant: Mutant | str, updates: Sequence[ModelUpdate] = (),
                n_groups: int | None = None) -> GroupPlan:
    """Step 3: classify the mutant's models with ``updates`` applied and say what the tree needs.

    Run it under :func:`manager_lease`. Refused when a model to change is not as it was when the
    change was planned (another command changed it meanwhile)."""
    mutant_name = mutant.name if isinstance(mutant, Mutant) else mutant
    with Session() as s:
        rows = {r.name: r for r in model_rows(s, mutant_name)}
    by_name = {u.name: u for u in updates}
    for u in updates:
        row = rows.get(u.name)
        now = (row.id, row.sha256, row.status) if row else None
        if now != u.expected or (row is not None and row.started):
            raise ModelsError(f"model {u.name} of {mutant_name} changed while this command ran (another "
                              "import, or a stage started); run the command again")
    records = []
    for name in sorted(set(rows) | set(by_name)):
        row, u = rows.get(name), by_name.get(name)
        status = u.status if u else row.status
        geometry = u.fields.get("geometry", row.geometry if row else None) if u else row.geometry
        records.append(GroupRecord(name, status, geometry, row.group if row else None,
                                   row.started if row else False))
    assignment = assign_groups(records, n_groups)
    groups = assignment.groups
    change = TreeChange(
        folders=tuple(ModelTag(mutant_name, groups[n], n) for n in sorted(groups)),
        moves=tuple((rows[n].tag, ModelTag(mutant_name, groups[n], n)) for n in sorted(rows)
                    if rows[n].group != groups[n]),
        files=tuple(PlacedFile(ModelTag(mutant_name, groups[u.name], u.name), u.file, backup=u.backup)
                    for u in updates if u.file is not None))
    return GroupPlan(mutant_name, rows, assignment, change)


# --------------------------------------------------------------------------------------------
# steps 4 and 5: folders and registration
# --------------------------------------------------------------------------------------------

def apply_folders(project: Project, Session: sessionmaker, clusters: Sequence[ClusterSettings],
                  change: TreeChange) -> list[TreeResult]:
    """Step 4 on every cluster, the master (first) first, over one connection per cluster: the
    project's folder is claimed on every cluster first (``mpflow.project.claim``: refused, with
    nothing written, when it is another project's), then the tree is changed. One line naming the
    cluster on failure."""
    try:
        with ClusterConnections(clusters) as connections:
            claim_and_record(project, Session, clusters, transport=lambda c: connections.transport(c.name))
            return [apply_tree_change(c, change, master=(i == 0), transport=connections.transport(c.name))
                    for i, c in enumerate(clusters)]
    except FolderClaimed as exc:
        raise ModelsError(f"{exc}; nothing was imported") from None
    except TreeError as exc:
        raise ModelsError(f"{exc}; nothing was registered, run the command again") from None
    except TransportError as exc:
        raise ModelsError(f"{one_line(exc)}; nothing was registered, run the command again") from None


def commit(Session: sessionmaker, project: Project, plan: GroupPlan, updates: Sequence[ModelUpdate]) -> None:
    """Step 5: write the updates and the groups in one transaction, with the model-stage rows of
    new models and one event per change."""
    groups = plan.assignment.groups
    now = utcnow()
    events: list[Transition] = []
    updated = {u.name for u in updates}
    with Session.begin() as s:
        for u in updates:
            row = plan.rows.get(u.name)
            values = dict(u.fields)
            if row is None:
                model_id = add_model(s, mutant=plan.mutant, group=groups[u.name], name=u.name, **values)
                events.append(Transition(u.kind, model_id, None, from_state=None, to_state=u.status,
                                         why=values.get("source"), time=now))
                continue
            s.execute(update(Model).where(Model.id == row.id)
                      .values({Model.group: groups[u.name], **{getattr(Model, k): v for k, v in values.items()}}))
            events.append(Transition(u.kind, row.id, None, from_state=row.status, to_state=u.status,
                                     why=values.get("status_reason") or values.get("source"), time=now))
        for name, row in plan.rows.items():
            if row.group != groups[name]:
                if name not in updated:
                    s.execute(update(Model).where(Model.id == row.id).values({Model.group: groups[name]}))
                events.append(Transition(EventKind.REGROUPED, row.id, None, from_state=row.group,
                                         to_state=groups[name], why=f"classification: {plan.assignment.criterion}",
                                         time=now))
        ensure_model_stages(s, project.config.stage_order())
        record_events(s, events)


@contextmanager
def manager_lease(Session: sessionmaker, *, wait_s: float = 60.0, ttl_s: float = 600.0) -> Iterator[None]:
    """Hold the manager's lease (no tick runs meanwhile), waiting up to ``wait_s`` for a tick."""
    try:
        with hold_lease(Session, wait_s=wait_s, ttl_s=ttl_s):
            yield
    except LeaseTaken:
        raise ModelsError(f"the manager's lease stayed taken for {wait_s:.0f} s (a manager tick is "
                          "running); run the command again") from None


ClusterSource = Sequence[ClusterSettings] | Callable[[], Sequence[ClusterSettings]] | None
"""The clusters a models command places folders on: given, a function giving them, or None (the project's)."""


def resolve_clusters(project: Project, clusters: ClusterSource) -> list[ClusterSettings]:
    if callable(clusters):
        clusters = clusters()
    if clusters is None:
        try:
            clusters = project.cluster_settings()
        except ProjectError as exc:
            raise ModelsError(str(exc)) from None
    return list(clusters)


def finish(project: Project, Session: sessionmaker, clusters: ClusterSource, mutant: Mutant | str,
           updates: Sequence[ModelUpdate], n_groups: int | None, report: ModelsReport) -> ModelsReport:
    """Steps 3–5 under the manager's lease; fills ``report`` (groups, moves, clusters)."""
    settings = resolve_clusters(project, clusters)
    with manager_lease(Session):
        plan = plan_groups(Session, mutant, updates, n_groups)
        results = apply_folders(project, Session, settings, plan.change)
        commit(Session, project, plan, updates)
    return fill_report(report, updates, plan, results)


def fill_report(report: ModelsReport, updates: Sequence[ModelUpdate], plan: GroupPlan,
                clusters: Sequence[TreeResult]) -> ModelsReport:
    """``report`` with what ``updates`` and the group plan did (the command and the flow share it)."""
    report.imported = [u.name for u in updates if u.kind is EventKind.IMPORTED]
    report.replaced = [u.name for u in updates if u.kind is EventKind.REPLACED]
    report.completed = [u.name for u in updates if u.kind is EventKind.MODEL_COMPLETED]
    report.waiting = {u.name: u.fields["status_reason"] for u in updates if u.status == ModelStatus.WAITING}
    report.groups = dict(plan.assignment.groups)
    report.moved = plan.moved()
    report.criterion, report.n_groups = plan.assignment.criterion, plan.assignment.n_groups
    report.clusters = list(clusters)
    return report


def import_models(project: Project, Session: sessionmaker, mutant: str, paths: Sequence[str | Path], *,
                  clusters: ClusterSource = None, n_groups: int | None = None,
                  each_model: bool = False) -> ModelsReport:
    """``mpflow import``: check, measure, classify, place and register ``paths`` as models of
    ``mutant`` (see the module docstring; ``each_model``: every model of a multi-model file as its
    own). Nothing new (every file unchanged) does nothing at all."""
    with tempfile.TemporaryDirectory(prefix="mpflow-import-") as staging:
        plan = plan_import(project, Session, mutant, paths, Path(staging), each_model=each_model)
        report = ModelsReport(plan.mutant.name, unchanged=plan.unchanged, notes=plan.notes)
        if not plan.updates:
            return report
        measure_geometry(plan.updates)
        return finish(project, Session, clusters, plan.mutant, plan.updates, n_groups, report)


def classify_models(project: Project, Session: sessionmaker, mutant: str, *, clusters: ClusterSource = None,
                    n_groups: int | None = None) -> ModelsReport:
    """``mpflow classify``: classify a mutant's models again and move the folders that change group."""
    project_mutant(project, mutant)
    return finish(project, Session, clusters, mutant, [], n_groups, ModelsReport(mutant))


