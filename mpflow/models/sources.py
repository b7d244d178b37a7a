"""The analysis manifest of a project: its models and finished stages as ``FrameSource`` records.

This module owns what the analysis reads from a project (the analysis itself knows nothing of
projects and databases):

- every model with status ``ok`` is one **docked** frame, read from the master's copy of the
  model, ``<master workdir>/<mutant>/<group>/<name>/model.pdb``;
- every model-stage in state ``done`` of a GROMACS stage is a trajectory: topology
  ``<stage>/<stage>.gro`` (the stage's final coordinates: the same atoms, in the same order, as
  its trajectory), frames from ``<stage>/<stage>.xtc`` when the stage wrote one, else that final
  structure alone (EMMD).  Not the ``.tpr``: MDAnalysis reads GROMACS 2022 run inputs, but numbers
  their residues 1, 2, ... across all chains instead of the model's numbers (MDAnalysis issue
  4224), so keys of MD frames would not match those of the docked models; the GRO file keeps the
  numbers ``pdb2gmx`` kept, and chains are found at the peptide-bond breaks;
- project stages map to the analysis's stage names (:func:`analysis_stages`): a GROMACS stage
  named ``emmd``, ``prmd`` or ``urmd`` is that stage; another GROMACS stage is the stage of its
  ``mdp`` template when no other stage claims it; anything else (preparation, scripts) is not read.

:func:`analysis_inputs` resolves what a run analyses — a manifest given (list or file), else the
project's — and where it writes (default ``<project>/analysis``); the flow and the CLI use it.
Errors are ``ValueError``/``ProjectError`` with one line naming the model, file or option.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import select

from mpflow.analysis.frames import STAGES, FrameSource, check_manifest, read_manifest
from mpflow.project.file import Project, ProjectError
from mpflow.states import ModelStatus, StageState
from mpflow.store.database import open_database
from mpflow.store.schema import Model, ModelStage
from mpflow.tags import MODEL_FILE, ModelTag

DOCKED = "docked"
MD_STAGES = tuple(s for s in STAGES if s != DOCKED)
ANALYSIS_DIR = "analysis"


def analysis_stages(project: Project) -> dict[str, str]:
    """Project GROMACS stage → analysis stage (see the module docstring), in pipeline order."""
    stages = project.config.stages
    gromacs = [n for n in project.config.stage_order() if stages[n].kind == "gromacs"]
    mapped = {n: n for n in gromacs if n in MD_STAGES}
    for n in gromacs:
        template = stages[n].mdp
        if n not in mapped and template in MD_STAGES and template not in mapped.values():
            mapped[n] = template
    return {n: mapped[n] for n in gromacs if n in mapped}


def wanted_stages(project: Project, stages: Sequence[str] | None) -> list[str]:
    """Analysis stage names asked for (project or analysis names), all by default; one-line errors."""
    mapping = analysis_stages(project)
    if not stages:
        return [DOCKED, *mapping.values()]
    out = []
    for s in stages:
        name = mapping.get(s, s)
        if name != DOCKED and name not in mapping.values():
            known = ", ".join([DOCKED, *mapping]) if mapping else DOCKED
            raise ValueError(f"stage {s!r} is not analysed (stages: {known})")
        if name not in out:
            out.append(name)
    return out


def project_manifest(project: Project, Session, *, stages: Sequence[str] | None = None,
                     mutants: Sequence[str] | None = None, master_workdir: str | Path | None = None,
                     is_file: Callable[[Path], bool] | None = None) -> list[FrameSource]:
    """The project's docked models and finished GROMACS stages as manifest rows (model id, then stage).

    ``stages``: only these (analysis or project stage names; ``docked`` for the models);
    ``mutants``: only these.  ``master_workdir``: where the master's model tree is (default: the
    project's master cluster, which must be on this machine).  ``is_file``: whether a file of the
    master's tree exists (a remote master's, asked through its transport): given, it decides only
    whether a stage wrote a trajectory, and the files are checked where the analysis runs, on the
    master; not given, every file is checked on this machine.
    """
    to_analysis = analysis_stages(project)
    wanted = wanted_stages(project, stages)
    workdir = Path(master_workdir) if master_workdir is not None else _master_workdir(project)
    with Session() as s:
        models = s.execute(select(Model.id, Model.mutant, Model.group, Model.name, Model.status)
                           .order_by(Model.id)).all()
        done = s.execute(select(ModelStage.model_id, ModelStage.stage)
                         .where(ModelStage.state == StageState.DONE)).all()
    if mutants:
        known = set(project.config.mutants) | {m.mutant for m in models}
        unknown = [m for m in mutants if m not in known]
        if unknown:
            raise ValueError(f"mutant {unknown[0]!r} is not in the project (mutants: "
                             f"{', '.join(sorted(known)) or 'none yet'})")
    done_by_model: dict[int, set[str]] = {}
    for model_id, stage in done:
        if stage in to_analysis:
            done_by_model.setdefault(model_id, set()).add(to_analysis[stage])
    project_stage = {a: p for p, a in to_analysis.items()}
    sources: list[FrameSource] = []
    for model_id, mutant, group, name, status in models:
        if mutants and mutant not in mutants:
            continue
        model_dir = Path(ModelTag(mutant, group, name).model_dir(str(workdir)))
        common = dict(model_id=model_id, mutant=mutant, group=group, name=name)
        if DOCKED in wanted and status == ModelStatus.OK:
            sources.append(FrameSource(**common, stage=DOCKED, topology=model_dir / MODEL_FILE))
        for stage in MD_STAGES:
            if stage in wanted and stage in done_by_model.get(model_id, ()):
                sources.append(stage_source(model_dir, project_stage[stage], stage, is_file=is_file, **common))
    if is_file is None:
        check_manifest(sources, f"project {project.config.project.name}")
    return sources


class NothingToAnalyse(ValueError):
    """The project has no model with status ok and no done stage of the stages asked."""


def project_sources(project: Project, Session, *, stages: Sequence[str] | None = None,
                    mutants: Sequence[str] | None = None, master_workdir: str | Path | None = None,
                    is_file: Callable[[Path], bool] | None = None) -> tuple[list[FrameSource], list[str]]:
    """The project's manifest (:func:`project_manifest`, ``master_workdir`` and ``is_file`` passed on)
    and notes for the user.

    Raises :class:`NothingToAnalyse` (one line saying what is missing) for an empty manifest; a
    note says when no MD stage asked for is done yet, so only the docked models are analysed.
    """
    wanted = wanted_stages(project, stages)
    md_wanted = [w for w in wanted if w != DOCKED]
    sources = project_manifest(project, Session, stages=wanted, mutants=mutants, master_workdir=master_workdir,
                               is_file=is_file)
    if not sources:
        missing = ["no model with status ok"] if DOCKED in wanted else []
        if md_wanted:
            missing.append(f"no {'/'.join(md_wanted)} stage done")
        raise NothingToAnalyse(f"nothing to analyse in {project.root}: {' and '.join(missing)} "
                               "(`mpflow status` shows where the models are)")
    notes = []
    if md_wanted and all(s.stage == DOCKED for s in sources):
        notes.append(f"note: no {'/'.join(md_wanted)} stage is done yet: analysing the "
                     f"{len(sources)} docked model(s) only")
    return sources, notes


def stage_source(model_dir: Path, project_stage: str, stage: str, *,
                 is_file: Callable[[Path], bool] | None = None, **model) -> FrameSource:
    """The manifest row of one finished GROMACS stage (files named by ``-deffnm <project_stage>``;
    ``is_file``: whether its trajectory exists, default: on this machine)."""
    folder = model_dir / project_stage
    xtc = folder / f"{project_stage}.xtc"
    return FrameSource(**model, stage=stage, topology=folder / f"{project_stage}.gro",
                       trajectory=xtc if (is_file or Path.is_file)(xtc) else None)


def _master_workdir(project: Project) -> Path:
    master = project.cluster_settings()[0]
    if master.kind != "local":
        raise ProjectError(f"the master cluster {master.name} is not on this machine: the analysis reads "
                           "the master's model tree (`mpflow analyse` runs it as a job on the master)")
    return Path(master.workdir)


def filter_sources(sources: list[FrameSource], *, stages: Sequence[str] | None = None,
                   mutants: Sequence[str] | None = None) -> list[FrameSource]:
    """Manifest rows of only these analysis stages and mutants (unknown names are one-line errors)."""
    for s in stages or ():
        if s not in STAGES:
            raise ValueError(f"stage {s!r} is not analysed (stages: {', '.join(STAGES)})")
    present = {x.mutant for x in sources}
    for m in mutants or ():
        if m not in present:
            raise ValueError(f"mutant {m!r} is not in the manifest (mutants: {', '.join(sorted(present))})")
    return [x for x in sources if (not stages or x.stage in stages) and (not mutants or x.mutant in mutants)]


def analysis_inputs(manifest: list | str | Path | None, out_dir: str | Path | None,
                    project: Project | str | Path | None,
                    *, stages: Sequence[str] | None = None, mutants: Sequence[str] | None = None
                    ) -> tuple[list[FrameSource], Path]:
    """The sources and output folder of a run.

    ``manifest``: FrameSource records (or dicts) or a manifest file; empty → the project's manifest
    (:func:`project_manifest`).  ``out_dir``: default ``<project>/analysis``.  ``project``: the
    project (a ``Project``, or its folder: default ``$MPFLOW_PROJECT``, else the current directory).
    """
    proj = project if isinstance(project, Project) else None
    if manifest:
        if isinstance(manifest, (str, Path)):
            sources = read_manifest(manifest)
        else:
            sources = [FrameSource.model_validate(s) for s in manifest]
        sources = filter_sources(sources, stages=stages, mutants=mutants)
    else:
        proj = proj or Project.locate(project)
        sources = project_manifest(proj, open_database(proj.database_url), stages=stages, mutants=mutants)
    if out_dir:
        return sources, Path(out_dir)
    proj = proj or Project.locate(project)
    return sources, proj.root / ANALYSIS_DIR
