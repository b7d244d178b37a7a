"""A project: one folder holding the project file ``mpflow.toml`` and, by default, the jobs database.

This module owns reading, validating and writing the project file, and finding the project a command
acts on (``--project DIR``, ``$MPFLOW_PROJECT``, or the current directory). Everything a user can get
wrong in the file (a typo in a key, an unknown stage, a stage without a template, a cluster source
that does not exist) is refused here with one line naming the key, before anything else runs.

The file (TOML)::

    [project]
    name = "gpa"
    database = "sqlite:///mpflow.db"     # relative SQLite paths are relative to this folder

    [clusters]
    source = "dev"                       # "dev": the dev clusters; "blocks": Prefect blocks by name
    names = ["alpha", "beta"]            # the master first

    [mutants.GpA-WT]
    sequence = "EPEITLIIFGVMAGVIGTILLISYGIRRL"
    oligomer = 2
    first_resid = 70

    [stages.emmd]
    kind = "gromacs"
    after = "prep"
    mdp = "emmd"
    nsteps = 50

    [manager]
    interval_s = 15

    [notify]                             # optional: notifications through the Prefect server
    webhook = "https://hooks.example.org/T000/B000"     # or: block = "slack-webhook/lab"
    on = ["held", "failed", "unreachable"]
    unreachable_min = 30

Writes go through ``tomlkit`` (comments and layout the user wrote are kept) to a temporary file that
is renamed over the old one.
"""

from __future__ import annotations

import os
import posixpath
import re
import tomllib
import uuid
from pathlib import Path
from typing import Annotated, Callable, Literal

import tomlkit
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mpflow.clusters.devcluster import DevClusterNotFound
from mpflow.clusters.settings import ClusterSettings, dev_cluster_settings
from mpflow.project.mutants import NAME_PATTERN, Mutant, MutantError
from mpflow.stages.mdp import MdpError, render_mdp
from mpflow.stages.protocols import ProtocolError, check_protocol
from mpflow.stages.spec import StageSpec, default_stages

ClusterSource = Callable[[str], ClusterSettings]
"""Where a project whose ``[clusters] source`` is ``"blocks"`` gets each cluster's settings, by name
(the Prefect layer supplies one: ``mpflow.blocks.cluster.load_cluster_block``)."""

PROJECT_FILE = "mpflow.toml"
PROJECT_ENV = "MPFLOW_PROJECT"
DEFAULT_DATABASE = "sqlite:///mpflow.db"
STAGE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
DAY_S = 86_400.0


class ProjectError(Exception):
    """A project that cannot be found, read or used; the message is one line saying what to fix."""


def check_project_name(name: object) -> str:
    """A project name: it names the project's folder on every cluster, so 1-64 letters, digits, '_',
    '.' or '-', starting with a letter or digit (``ValueError`` with one line otherwise)."""
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ValueError(f"{name!r} is not a project name: use 1-64 letters, digits, '_', '.' or '-', starting "
                         "with a letter or digit (it names the project's folder on every cluster)")
    return name


def new_project_id() -> str:
    """A fresh project identity (what claims the project's folder on every cluster)."""
    return uuid.uuid4().hex


class ProjectSection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field("mpflow", description="Project name (shown in the UI); the project's folder on every "
                      "cluster is <cluster workdir>/<name>.")
    id: str | None = Field(None, pattern=ID_PATTERN, description="The project's identity, made by mpflow init: "
                           "the marker that claims its folder on every cluster holds it. Do not copy it to another "
                           "project.")
    database: str = Field(DEFAULT_DATABASE, description="SQLAlchemy URL of the jobs database; a relative "
                          "SQLite path is relative to the project folder.")

    @field_validator("name")
    @classmethod
    def _a_folder_name(cls, value: str) -> str:
        return check_project_name(value)

    @field_validator("database")
    @classmethod
    def _a_database_url(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError:
            # not echoed: what does not parse as a URL cannot have its password masked
            raise ValueError("is not a database URL (e.g. sqlite:///jobs.db or "
                             "postgresql://USER:PASSWORD@HOST/DB)") from None
        return value


class ClustersSection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    source: Literal["dev", "blocks"] = Field(
        "blocks", description='"blocks": mpflow-slurm-cluster Prefect blocks by name; "dev": the dev clusters.')
    names: list[str] = Field(default_factory=list, min_length=1,
                             description="Cluster names, the master first (any number of clusters: the others "
                                         "race the master's stages, the first copy to start wins).")
    reach: Literal["as-set-up", "ssh"] = Field(
        "as-set-up", description='dev clusters only: "as-set-up" (alpha on this machine, the others over SSH) '
                                 'or "ssh" (every one over SSH, as a workstation reaches real clusters).')

    @model_validator(mode="after")
    def _reach_of_dev_clusters(self) -> "ClustersSection":
        if self.reach != "as-set-up" and self.source != "dev":
            raise ValueError('reach: only the dev clusters (source = "dev") are reached by choice; a Prefect '
                             "block says how its cluster is reached (kind, host, proxy_jump)")
        return self

    @field_validator("names")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        for n in value:
            if not re.fullmatch(r"^[A-Za-z][A-Za-z0-9_-]{0,31}$", n):
                raise ValueError(f"cluster name {n!r} is not a valid cluster name")
        if len(set(value)) != len(value):
            raise ValueError(f"cluster names must be distinct, got {value}")
        return value


class ManagerSection(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    interval_s: float = Field(15, gt=0, le=DAY_S, description="Seconds between manager ticks.")
    backoff_s: list[Annotated[float, Field(ge=0, le=DAY_S)]] = Field(
        [30, 120, 600], min_length=1, description="Wait before resubmitting after the 1st, 2nd, ... counted failure.")
    max_continuations: int = Field(10, ge=0, le=10_000, description="Time-limit continuations (from the "
                                   "checkpoint) allowed per stage before a timeout counts as a failed attempt.")
    max_requeues: int = Field(5, ge=0, le=10_000, description="Node-failure and preemption resubmissions "
                              "allowed per stage before they count as failed attempts.")
    lease_s: float = Field(120, gt=0, le=DAY_S, description="A tick's database lease; another tick waits it out.")
    advance_per_tick: int = Field(50, ge=1, le=100_000, description="At most this many model-stages prepared "
                                  "per tick.")
    vanished_grace_s: float = Field(600, ge=0, le=DAY_S, description="A job missing from squeue is judged (by sacct, "
                                    "else its exit-code file) only after this long; until then it may still run.")
    unavailable_node_grace_s: float = Field(3600, ge=0, le=7 * DAY_S, description="A copy pending for ReqNodeNotAvail, "
                                            "NodeDown or PartitionNodeLimit is cancelled as unable to start only after "
                                            "this long.")


NOTIFY_EVENTS = ("held", "failed", "unreachable")


class NotifySection(BaseModel):
    """Notifications through the project's Prefect server: ``mpflow server start`` creates one Prefect
    automation per kind in ``on`` (``mpflow.deployments.notify``)."""

    model_config = ConfigDict(extra="forbid")

    webhook: str | None = Field(None, description="URL the notifications are POSTed to as JSON "
                                "{\"subject\": ..., \"body\": ...} (Slack, Mattermost, a chat bridge...).")
    block: str | None = Field(None, description="Instead of a webhook: a Prefect notification block saved on "
                              "the server, as TYPE/NAME (e.g. slack-webhook/lab).")
    on: list[Literal["held", "failed", "unreachable"]] = Field(
        default_factory=lambda: list(NOTIFY_EVENTS),
        description="held: a model-stage needs a person; failed: failed for good; unreachable: a cluster "
                    "could not be reached for longer than unreachable_min.")
    unreachable_min: float = Field(30, ge=10 / 60, description="Minutes a cluster may stay unreachable before "
                                   "it is notified (at least 10 s, Prefect's shortest wait).")

    @model_validator(mode="after")
    def _one_target(self) -> "NotifySection":
        if (self.webhook is None) == (self.block is None):
            raise ValueError("give exactly one of webhook (a URL) or block (TYPE/NAME of a notification block)")
        if self.webhook is not None and not re.fullmatch(r"https?://[^\s]+", self.webhook):
            raise ValueError(f"webhook {self.webhook!r} must be an http:// or https:// URL")
        if self.block is not None and not re.fullmatch(r"[a-z0-9-]+/[A-Za-z0-9_.-]+", self.block):
            raise ValueError(f"block {self.block!r} must be TYPE/NAME, e.g. slack-webhook/lab")
        if not self.on:
            raise ValueError("on: name at least one of held, failed, unreachable")
        return self


class ProjectConfig(BaseModel):
    """The whole project file."""

    # strict: a value of the wrong type is refused, never converted (``interval_s = true`` is not 1 s)
    model_config = ConfigDict(extra="forbid", strict=True)

    project: ProjectSection = Field(default_factory=ProjectSection)
    clusters: ClustersSection
    mutants: dict[str, Mutant] = Field(default_factory=dict)
    stages: dict[str, StageSpec] = Field(default_factory=default_stages)
    manager: ManagerSection = Field(default_factory=ManagerSection)
    notify: NotifySection | None = None

    @field_validator("mutants", mode="before")
    @classmethod
    def _named_mutants(cls, value):
        # A [mutants.NAME] table holds everything but the name, which is its key.
        if isinstance(value, dict):
            return {n: ({"name": n, **e} if isinstance(e, dict) else e) for n, e in value.items()}
        return value

    @model_validator(mode="after")
    def _stage_graph(self) -> "ProjectConfig":
        for name, spec in self.stages.items():
            if not re.fullmatch(STAGE_PATTERN, name):
                raise ValueError(f"stage name {name!r} must match {STAGE_PATTERN}")
            if spec.after is not None and spec.after not in self.stages:
                raise ValueError(f"stages.{name}.after: no stage named {spec.after!r} "
                                 f"(stages: {', '.join(self.stages)})")
        for name in self.stages:  # no cycles: following `after` must end
            seen, cur = set(), name
            while cur is not None:
                if cur in seen:
                    raise ValueError(f"stages: `after` forms a cycle through {cur!r}")
                seen.add(cur)
                cur = self.stages[cur].after
        return self

    def stage_order(self) -> list[str]:
        """Stages sorted so each comes after the one it waits for."""
        depth = {}
        for name in self.stages:
            d, cur = 0, self.stages[name].after
            while cur is not None:
                d, cur = d + 1, self.stages[cur].after
            depth[name] = d
        return sorted(self.stages, key=lambda n: (depth[n], list(self.stages).index(n)))

    def master_stages(self) -> set[str]:
        """Stages that run on the orchestrator itself, without Slurm jobs (a protocol with ``run = "local"``)."""
        return {name for name, spec in self.stages.items() if spec.kind == "protocol" and spec.run == "local"}

    def master_only_stages(self) -> set[str]:
        """Stages whose Slurm jobs go to the master alone (a protocol with ``clusters = "master"``)."""
        return {name for name, spec in self.stages.items()
                if spec.kind == "protocol" and spec.run != "local" and spec.clusters == "master"}


def _format_validation_error(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"] if p not in ("__root__",))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key (a typo?)"
    return f"{source}: {where + ': ' if where else ''}{msg}"


class Project:
    """A project folder and its validated configuration."""

    def __init__(self, root: Path, config: ProjectConfig, *, cluster_source: ClusterSource | None = None):
        self.root = Path(root).resolve()
        self.config = config
        self.cluster_source = cluster_source

    # -- finding and loading ---------------------------------------------------------------------
    @property
    def file(self) -> Path:
        return self.root / PROJECT_FILE

    @classmethod
    def load(cls, root: str | Path, *, cluster_source: ClusterSource | None = None) -> "Project":
        root = Path(root)
        path = root / PROJECT_FILE
        if not path.is_file():
            raise ProjectError(f"no {PROJECT_FILE} in {root}: create a project with `mpflow init {root}`")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ProjectError(f"{path}: not valid TOML ({exc})") from None
        except OSError as exc:
            raise ProjectError(f"cannot read {path}: {exc.strerror}") from None
        try:
            config = ProjectConfig.model_validate(data)
        except ValidationError as exc:
            raise ProjectError(_format_validation_error(exc, str(path))) from None
        project = cls(root, config, cluster_source=cluster_source)
        project.check_stage_templates()
        return project

    def check_stage_templates(self) -> None:
        """Render every GROMACS stage's .mdp and every protocol stage's steps (with the stage's
        ``params``) once, so a bad override, parameter or template is refused here, before anything is
        prepared or submitted; nothing runs and nothing is written."""
        templates = [self.root / "templates"]
        for name, spec in self.config.stages.items():
            try:
                if spec.kind == "gromacs":
                    render_mdp(spec.mdp, spec.nsteps, overrides=spec.mdp_overrides, search_dirs=templates)
                elif spec.kind == "protocol":
                    check_protocol(spec.protocol, spec.params, search_dirs=templates)
            except MdpError as exc:
                raise ProjectError(f"{self.file}: stages.{name}: {self._short(str(exc).splitlines()[0])}") from None
            except ProtocolError as exc:
                raise ProjectError(f"{self.file}: stages.{name}.params: {self._short(exc.reason)}") from None

    def _short(self, text: str) -> str:
        """``text`` with the project's own files named from the project folder (``templates/x.j2``)."""
        return text.replace(f"{self.root}/", "")

    @classmethod
    def locate(cls, explicit: str | Path | None = None, *, cluster_source: ClusterSource | None = None
               ) -> "Project":
        """The project named by ``explicit``, else ``$MPFLOW_PROJECT``, else the current directory."""
        root = explicit or os.environ.get(PROJECT_ENV) or Path.cwd()
        return cls.load(root, cluster_source=cluster_source)

    # -- derived settings ------------------------------------------------------------------------
    @property
    def database_url(self) -> str:
        url = self.config.project.database
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            if rel and rel != ":memory:":
                return f"sqlite:///{(self.root / rel).resolve()}"
        return url

    @property
    def cluster_names(self) -> list[str]:
        return list(self.config.clusters.names)

    def cluster_settings(self) -> list[ClusterSettings]:
        """Settings of the project's clusters, the master first, each with the project's own folder
        as its workdir: ``<cluster workdir>/<project name>`` (the original design's ``mydir``, the same
        basename on every cluster). Projects sharing a cluster never share model folders."""
        return [s.model_copy(update={"workdir": posixpath.join(s.workdir, self.config.project.name)})
                for s in self._cluster_blocks()]

    def _cluster_blocks(self) -> list[ClusterSettings]:
        names = self.config.clusters.names
        if self.config.clusters.source == "dev":
            try:
                found = {s.name: s for s in dev_cluster_settings(over_ssh=self.config.clusters.reach == "ssh")}
            except DevClusterNotFound as exc:
                raise ProjectError(str(exc)) from None
            missing = [n for n in names if n not in found]
            if missing:
                raise ProjectError(f"{self.file}: clusters.names: no dev cluster {missing[0]!r} "
                                   f"(the dev clusters are {', '.join(found)})")
            return [found[n] for n in names]
        if self.cluster_source is None:
            raise ProjectError(f"{self.file}: the clusters are Prefect blocks (clusters.source = \"blocks\"), "
                               "and this caller gave no way to read them")
        return [self.cluster_source(n) for n in names]

    # -- mutants ---------------------------------------------------------------------------------
    def mutant(self, name: str) -> Mutant:
        """The project's mutant ``name``, or :class:`MutantError` saying which mutants there are."""
        try:
            return self.config.mutants[name]
        except KeyError:
            have = ", ".join(self.config.mutants) or "none yet"
            raise MutantError(f"no mutant {name!r} in {self.file} (mutants: {have}); add it with "
                              "`mpflow mutant add NAME SEQUENCE`") from None

    def add_mutant(self, mutant: Mutant) -> bool:
        """Write ``mutant`` into the project file; False when it is there already with the same fields.

        Adding a mutant that is there with other fields is refused (its models were checked against
        the old sequence)."""
        current = self.config.mutants.get(mutant.name)
        if current is not None:
            if current == mutant:
                return False
            diff = [f for f in ("sequence", "oligomer", "first_resid")
                    if getattr(current, f) != getattr(mutant, f)]
            raise MutantError(f"mutant {mutant.name} is already in {self.file} with another "
                              f"{', '.join(diff)}; pick another name")

        def edit(doc) -> None:
            if "mutants" not in doc:
                doc.add("mutants", tomlkit.table(is_super_table=True))
            table = tomlkit.table()
            table.add("sequence", mutant.sequence)
            table.add("oligomer", mutant.oligomer)
            table.add("first_resid", mutant.first_resid)
            table.add(tomlkit.nl())
            doc["mutants"][mutant.name] = table

        self.update_file(edit)
        return True

    def ensure_id(self) -> str:
        """The project's identity; a project file made before identities gets one written into it now."""
        if self.config.project.id is None:
            new = new_project_id()

            def edit(doc) -> None:
                if "project" not in doc:
                    doc.add("project", tomlkit.table())
                doc["project"]["id"] = new

            self.update_file(edit)
        return self.config.project.id

    def stage(self, name: str) -> StageSpec:
        try:
            return self.config.stages[name]
        except KeyError:
            raise ProjectError(f"no stage {name!r} in {self.file} (stages: {', '.join(self.config.stages)})") from None

    # -- writing ---------------------------------------------------------------------------------
    def update_file(self, edit) -> None:
        """Apply ``edit(document)`` to the project file's tomlkit document, validate, write atomically."""
        doc = tomlkit.parse(self.file.read_text())
        edit(doc)
        text = tomlkit.dumps(doc)
        try:
            config = ProjectConfig.model_validate(tomllib.loads(text))
        except ValidationError as exc:
            raise ProjectError(_format_validation_error(exc, str(self.file))) from None
        atomic_write_text(self.file, text)
        self.config = config


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def new_project_text(name: str, *, dev: bool, clusters: list[str] | None = None, reach: str | None = None) -> str:
    """The project file ``mpflow init`` writes: every section, with comments saying what it holds."""
    names = clusters or (["alpha", "beta"] if dev else ["master", "slave"])
    doc = tomlkit.document()
    doc.add(tomlkit.comment("mpflow project file; see `mpflow --help` and docs/architecture.md"))
    proj = tomlkit.table()
    proj.add("name", name)
    proj["name"].comment("the project's folder on every cluster: <cluster workdir>/<name>")
    proj.add("id", new_project_id())
    proj["id"].comment("this project's identity: it claims that folder (do not copy it to another project)")
    proj.add("database", DEFAULT_DATABASE)
    proj["database"].comment("SQLAlchemy URL; relative SQLite paths are relative to this folder")
    doc.add("project", proj)
    cl = tomlkit.table()
    cl.add("source", "dev" if dev else "blocks")
    cl["source"].comment('"blocks": mpflow-slurm-cluster Prefect blocks by name; "dev": the dev clusters')
    cl.add("names", names)
    cl["names"].comment("the master first")
    if reach is not None:
        cl.add("reach", reach)
        cl["reach"].comment('"ssh": every dev cluster over SSH, none of their files on this machine')
    doc.add("clusters", cl)
    doc.add("mutants", tomlkit.table())
    stages = tomlkit.table(is_super_table=True)
    for sname, spec in default_stages().items():
        t = tomlkit.table()
        for k, v in spec.model_dump(exclude_defaults=True).items():
            t.add(k, v)
        stages.add(sname, t)
    doc.add("stages", stages)
    mgr = tomlkit.table()
    mgr.add("interval_s", 15)
    doc.add("manager", mgr)
    text = tomlkit.dumps(doc)
    ProjectConfig.model_validate(tomllib.loads(text))  # what init writes must load
    return text


def init_project(root: str | Path, *, name: str | None = None, dev: bool = False,
                 clusters: list[str] | None = None, reach: str | None = None) -> Project:
    """Create ``root/mpflow.toml`` (refusing to overwrite one) and return the project."""
    root = Path(root)
    path = root / PROJECT_FILE
    if path.exists():
        raise ProjectError(f"{path} already exists: this folder is a project already")
    if name is not None:
        try:
            project_name = check_project_name(name)
        except ValueError as exc:
            raise ProjectError(f"--name {exc}") from None
    else:  # from the folder's name, made safe (`my project` → `my-project`)
        project_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", root.resolve().name).strip("-._")[:64]
        if not re.fullmatch(NAME_PATTERN, project_name):
            raise ProjectError(f"the folder name {root.resolve().name!r} makes no project name: give one with "
                               "--name (letters, digits, '_', '.' or '-')")
    if reach is not None and not dev:
        raise ProjectError("--reach: only with --dev (a real cluster's block says how it is reached: kind, host, "
                           "proxy_jump)")
    try:
        text = new_project_text(project_name, dev=dev, clusters=clusters, reach=reach)
    except ValidationError as exc:
        raise ProjectError(_format_validation_error(exc, "--clusters")) from None
    if dev and clusters:
        try:
            known = [s.name for s in dev_cluster_settings()]
        except DevClusterNotFound as exc:
            raise ProjectError(str(exc)) from None
        missing = [n for n in clusters if n not in known]
        if missing:
            raise ProjectError(f"--clusters: no dev cluster {missing[0]!r} (the dev clusters are {', '.join(known)})")
    try:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except OSError as exc:
        raise ProjectError(f"cannot create {path}: {exc.strerror}") from None
    return Project.load(root)
