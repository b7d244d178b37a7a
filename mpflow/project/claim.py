"""A project's folder on each cluster, claimed by a marker holding the project's identity.

Every project works in ``<cluster workdir>/<project name>`` on each of its clusters. Two projects of
the same name (two folders called ``gpa``, or two project files without a name) would share those
folders and overwrite each other's models. So the folder is claimed: the file ``.mpflow-project`` in
it holds the identity of the project that owns it (its ``[project] id``, made by ``mpflow init``, its
name and where its project file is), and a project that finds another project's marker there, or
files without any marker, is refused in one line before it writes anything.

:func:`claim_folder` is one command on one cluster: a constant script, the folder and the marker's
text given as its arguments, that creates the marker only if none is there (``set -C``: an exclusive
create, so two projects claiming at once cannot both win). A folder that holds files but no marker
(a project from before markers) is taken only with ``adopt`` — when this project's own database
already has models, so those files are its own.
"""

from __future__ import annotations

import json
import posixpath
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from mpflow.clusters.connections import ClusterConnections
from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import Transport, TransportError
from mpflow.project.file import Project, ProjectError
from mpflow.store.clusters import cluster_records, record_claim
from mpflow.store.schema import Model, utcnow

MARKER = ".mpflow-project"
MARKER_FORMAT = 1

#: $1 the folder, $2 the marker's text, $3 "adopt" or "", $4 "claim" or "check"; prints the outcome
#: (claimed | free | unmarked | existing, then the marker's text)
CLAIM_SCRIPT = r"""
d=$1; m=$1/.mpflow-project
if [ -f "$m" ]; then echo existing; cat -- "$m"; exit 0; fi
if [ -d "$d" ] && [ -n "$(ls -A -- "$d")" ] && [ "$3" != adopt ]; then echo unmarked; exit 0; fi
if [ "$4" = check ]; then echo free; exit 0; fi
mkdir -p -- "$d" || exit 1
if (set -C; printf '%s\n' "$2" > "$m") 2>/dev/null; then echo claimed; exit 0; fi
if [ -f "$m" ]; then echo existing; cat -- "$m"; exit 0; fi
echo "cannot create $m" >&2; exit 1
"""


class FolderClaimed(ProjectError):
    """The project's folder on a cluster belongs to another project (or holds files of unknown
    origin); the message is one line naming the cluster, the folder, the owner and the fix."""


@dataclass(frozen=True)
class Identity:
    """Who a project is, as its marker on every cluster says."""

    id: str
    name: str
    project_file: str  # host:path of its mpflow.toml, to tell the user where the other project is

    def marker_text(self) -> str:
        return json.dumps({"mpflow_project": MARKER_FORMAT, "id": self.id, "name": self.name,
                           "project_file": self.project_file}, sort_keys=True)


def identity(project: Project) -> Identity:
    """The project's identity (its ``[project] id``, written into the project file first if it has
    none: a project made before identities)."""
    return Identity(project.ensure_id(), project.config.project.name, f"{socket.gethostname()}:{project.file}")


def _owner(text: str) -> dict:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _fix(project: Project) -> str:
    return (f"give this project another name ([project] name in {project.file}); its folder on every cluster is "
            "<cluster workdir>/<project name>")


def claim_folder(transport: Transport, folder: str, me: Identity, project: Project, *, adopt: bool,
                 check_only: bool = False) -> bool:
    """Claim ``folder`` on the transport's cluster for ``me`` (or, with ``check_only``, only make sure
    it could be: nothing is written). True when the folder is this project's (it was, or is now).
    :class:`FolderClaimed` when another project's marker is there, or files without a marker and not
    ``adopt``; the transport's errors when the cluster cannot be reached or the folder made."""
    cluster = transport.settings.name
    result = transport.run(["sh", "-c", CLAIM_SCRIPT, "mpflow-claim", folder, me.marker_text(),
                            "adopt" if adopt else "", "check" if check_only else "claim"])
    if not result.ok:
        detail = (result.stderr or result.stdout).strip().splitlines()
        why = detail[-1] if detail else f"exit code {result.returncode}"
        raise TransportError(f"cannot claim {folder}: {why}",
                             cluster=cluster, argv=result.argv[:3], returncode=result.returncode,
                             stdout=result.stdout, stderr=result.stderr)
    outcome, _, rest = result.stdout.partition("\n")
    if outcome in ("claimed", "free"):
        return True
    if outcome == "unmarked":
        raise FolderClaimed(f"[{cluster}] {folder} holds files but no project marker ({MARKER}): another project "
                            f"of the name {me.name!r} may use it; {_fix(project)}")
    owner = _owner(rest.strip())
    if owner.get("id") == me.id:
        return True
    if not owner.get("id"):
        raise FolderClaimed(f"[{cluster}] {posixpath.join(folder, MARKER)} is not a marker mpflow can read; "
                            f"{_fix(project)}")
    raise FolderClaimed(f"[{cluster}] {folder} belongs to another project named {owner.get('name')!r} (id "
                        f"{owner['id']}, project file {owner.get('project_file', '?')}); {_fix(project)}")


def claim_folders(project: Project, clusters: Sequence[ClusterSettings], *, adopt: bool,
                  transport: Callable[[ClusterSettings], Transport] | None = None) -> None:
    """Make sure the project's folder on every cluster is its own, before anything is written there:
    first each cluster is checked (nothing written), then each is claimed. ``clusters``: the project's
    (each one's workdir is the project's folder); ``transport``: an open transport per cluster (else
    one is opened and closed for each)."""
    me = identity(project)
    with ClusterConnections(clusters) as connections:
        for check_only in (True, False):
            for settings in clusters:
                t = transport(settings) if transport is not None else connections.transport(settings.name)
                claim_folder(t, settings.workdir, me, project, adopt=adopt, check_only=check_only)


def unclaimed(Session: sessionmaker, clusters: Sequence[ClusterSettings]) -> list[ClusterSettings]:
    """The clusters whose project folder this project's database does not record as claimed (a
    cluster new to the project, a workdir changed, or a project from before markers)."""
    with Session() as s:
        records = cluster_records(s)
    return [c for c in clusters if not (c.name in records and records[c.name].claims(c.workdir))]


def has_models(Session: sessionmaker) -> bool:
    """The project has used its folders already (it has models): files found there without a marker
    are its own, from before markers existed."""
    with Session() as s:
        return s.scalar(select(Model.id).limit(1)) is not None


def claim_and_record(project: Project, Session: sessionmaker, clusters: Sequence[ClusterSettings], *,
                     transport: Callable[[ClusterSettings], Transport] | None = None) -> None:
    """:func:`claim_folders` on ``clusters`` (every one checked, then every one claimed), each recorded
    as claimed in the database (``mpflow.store.clusters``) so the manager's ticks need not ask again."""
    claim_folders(project, clusters, adopt=has_models(Session), transport=transport)
    with Session.begin() as s:
        for c in clusters:
            record_claim(s, c.name, c.workdir, utcnow())
