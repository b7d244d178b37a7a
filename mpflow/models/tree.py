"""The models' folder tree on the clusters: ``<workdir>/<mutant>/<group>/<name>/`` on every cluster,
identical everywhere, and each model's ``model.pdb`` in its folder on the master.

A :class:`TreeChange` says what the tree must look like after an import, a completion or a
re-classification; :func:`apply_tree_change` makes one cluster look like that with a constant number
of commands, whatever the number of models:

1. model folders whose group changed are moved (one ``sh`` running a constant script, the paths
   given as its arguments; a folder already moved is left alone, so a re-run does nothing);
2. one ``mkdir -p`` of every model folder of the change;
3. on the master only: each file is uploaded under a temporary name in its folder, then one ``sh``
   (the same constant script) renames them all into place, after copying a file they replace to
   its backup name when one is asked for (once: an existing backup is kept).

Argument lists longer than :data:`ARGS_PER_COMMAND` paths are split into several commands of the
same kind (command lines have a size limit). Paths are built from checked tags
(:class:`mpflow.tags.ModelTag`) and are never put into a shell string: the script is constant and
reads them as ``"$2"``, ``"$3"``. Only ``Transport.run``, ``put`` and ``close`` are used.
"""

from __future__ import annotations

import posixpath
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport import (
    ClusterUnreachable,
    CommandTimeout,
    TransportError,
    check,
    open_transport,
)
from mpflow.tags import MODEL_FILE, ModelTag

#: at most this many paths in one command line (well under any ARG_MAX with paths of ~200 bytes)
ARGS_PER_COMMAND = 600

#: Operations as (op, src, dst) triples in "$@":
#:   move:    a model folder to its new group folder (skipped when src is gone: already moved; an
#:            empty dst left by an earlier mkdir is removed first; the old group folder is removed
#:            when it is left empty)
#:   backup:  copy src to dst unless dst exists (the first version is the one kept)
#:   replace: rename src over dst (atomic on one file system)
TREE_SCRIPT = r"""
while [ "$#" -ge 3 ]; do
  case "$1" in
    move)
      if [ -e "$2" ]; then
        if [ -d "$3" ]; then rmdir "$3" || exit 1; fi
        mkdir -p "${3%/*}" && mv "$2" "$3" || exit 1
        rmdir "${2%/*}" 2>/dev/null || :
      fi ;;
    backup)
      if [ -e "$2" ] && [ ! -e "$3" ]; then cp -p "$2" "$3" || exit 1; fi ;;
    replace)
      mv -f "$2" "$3" || exit 1 ;;
    *)
      echo "unknown operation $1" >&2; exit 2 ;;
  esac
  shift 3
done
"""


class TreeError(RuntimeError):
    """A cluster's tree could not be changed; the message is one line naming the cluster.
    ``transient``: the cluster could not be reached or did not answer in time (worth a retry)."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


def _tree_error(exc: BaseException, cluster: str) -> TreeError:
    text = one_line(exc) if isinstance(exc, TransportError) else f"[{cluster}] {one_line(exc)}"
    return TreeError(text, transient=isinstance(exc, (ClusterUnreachable, CommandTimeout)))


@dataclass(frozen=True)
class PlacedFile:
    """A local file to put into a model's folder on the master, as ``name``; ``backup``: keep the
    file it replaces under this name (the first time only)."""

    tag: ModelTag
    local: Path
    name: str = MODEL_FILE
    backup: str | None = None


@dataclass(frozen=True)
class TreeChange:
    """What the tree must hold: ``folders`` (every model folder to exist), ``moves`` (model folders
    whose group changed: old tag, new tag) and ``files`` (for the master)."""

    folders: tuple[ModelTag, ...] = ()
    moves: tuple[tuple[ModelTag, ModelTag], ...] = ()
    files: tuple[PlacedFile, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not (self.folders or self.moves or self.files)


@dataclass(frozen=True)
class TreeResult:
    """What :func:`apply_tree_change` did on one cluster (commands counts every command run)."""

    cluster: str
    folders: int
    moved: int
    files: int
    commands: int


def _chunks(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _run_ops(transport, cluster: str, ops: list[tuple[str, str, str]], what: str) -> int:
    """Run the triples through :data:`TREE_SCRIPT`; returns the number of commands."""
    n = 0
    for chunk in _chunks(ops, ARGS_PER_COMMAND // 3):
        argv = ["sh", "-c", TREE_SCRIPT, "mpflow-tree"] + [x for op in chunk for x in op]
        _checked(transport.run(argv), cluster, what)
        n += 1
    return n


def _checked(result, cluster: str, what: str):
    try:
        return check(result, cluster, what)
    except TransportError as exc:
        raise _tree_error(exc, cluster) from exc


def one_line(exc: BaseException) -> str:
    """``[cluster] what failed: first line of stderr`` for a transport error, else the first line."""
    if isinstance(exc, TransportError):
        head = str(exc).splitlines()[0]
        detail = (exc.stderr or "").strip().splitlines()
        return f"{head}: {detail[-1]}" if detail else head
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def apply_tree_change(settings: ClusterSettings, change: TreeChange, *, master: bool,
                      transport=None) -> TreeResult:
    """Make ``settings``' tree hold ``change`` (files only when ``master``). ``transport``: an open
    transport of that cluster to use (it is then left open); otherwise one is opened and closed.

    Raises :class:`TreeError` (one line) when a command or upload fails or the cluster cannot be
    reached; what was done before stays (every step is safe to repeat)."""
    own = transport is None
    transport = transport or open_transport(settings)
    name, workdir = settings.name, settings.workdir
    commands = 0
    try:
        moves = [("move", old.model_dir(workdir), new.model_dir(workdir)) for old, new in change.moves]
        if moves:
            commands += _run_ops(transport, name, moves, "moving model folders to their new groups")
        folders = sorted({t.model_dir(workdir) for t in change.folders}
                         | ({f.tag.model_dir(workdir) for f in change.files} if master else set()))
        for chunk in _chunks(folders, ARGS_PER_COMMAND):
            _checked(transport.run(["mkdir", "-p", "--", *chunk]), name, "creating model folders")
            commands += 1
        files = list(change.files) if master else []
        if files:
            token = uuid.uuid4().hex[:12]
            ops, uploads = [], {}
            for f in files:
                folder = f.tag.model_dir(workdir)
                final = posixpath.join(folder, f.name)
                upload = posixpath.join(folder, f".{f.name}.upload-{token}")
                uploads[upload] = Path(f.local).read_bytes()
                if f.backup:
                    ops.append(("backup", final, posixpath.join(folder, f.backup)))
                ops.append(("replace", upload, final))
            failed = transport.write_files(uploads)  # every file in one upload
            commands += 1
            if failed:
                raise TreeError(f"[{name}] uploading model files failed: {next(iter(failed.values()))}")
            commands += _run_ops(transport, name, ops, "putting model files in place")
    except TreeError:
        raise
    except (TransportError, OSError) as exc:
        raise _tree_error(exc, name) from exc
    finally:
        if own:
            transport.close()
    return TreeResult(name, len(folders), len(moves), len(files), commands)
