"""The run inputs of a tick's GROMACS stages, made where the master's files are: one batch, one command.

A GROMACS stage's ``.tpr`` is made on the master by ``grompp`` from the previous stage's final
coordinates, the topology and the index. The orchestrator renders each stage's ``.mdp`` (its templates
are the project's) and hands the master one **batch** (:func:`grompp_batch`): for each model-stage the
folder and the ``.mdp`` text; on the master each item is

- skipped when its ``.tpr`` was made from exactly these inputs (``<stage>.tpr.inputs`` holds the digest
  of the ``.mdp`` text and of the bytes of the coordinates, topology and index: :func:`inputs_digest`),
  so inputs sent again after a job found them missing are the same file on every cluster;
- else grompp'ed, and ``<stage>.tpr.sha256`` (``sha256sum -c`` format) written beside the ``.tpr``: the
  job checks its copy against it before mdrun.

A master on this machine runs the batch in-process; a remote master runs it as
``python -m mpflow.cluster_side grompp`` over its transport, the whole tick's batch in one command.
Only the standard library and :mod:`mpflow.stages` are imported: this runs on the cluster side too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from mpflow.errors import file_problem
from mpflow.stages.gmx import ShellRunner, subprocess_runner
from mpflow.stages.mdp import StageError, grompp_from_text, stage_paths

#: the file beside ``<stage>.tpr`` naming what it was made from
MADE_FROM_SUFFIX = ".tpr.inputs"


def checksum_name(stage: str) -> str:
    return f"{stage}.tpr.sha256"


def write_checksum(tpr: Path) -> Path:
    """``<stage>.tpr.sha256`` beside the .tpr, in ``sha256sum -c`` format."""
    digest = hashlib.sha256(tpr.read_bytes()).hexdigest()
    path = tpr.with_name(checksum_name(tpr.stem))
    _write_atomically(path, f"{digest}  {tpr.name}\n")
    return path


def inputs_digest(model_dir: Path, stage: str, after: str | None, mdp_text: str) -> str:
    """What the stage's .tpr is made from: its ``.mdp`` text and the bytes of the previous stage's final
    coordinates, the topology and the index. A .tpr made from other inputs is made again."""
    paths = stage_paths(model_dir, stage, after)
    h = hashlib.sha256(mdp_text.encode())
    for name in ("start", "top", "ndx"):
        h.update(b"\0" + (paths[name].read_bytes() if paths[name].is_file() else b"missing"))
    return h.hexdigest()


def batch_item(*, key: str, model_dir: str, stage: str, after: str | None, mdp_text: str) -> dict:
    """One model-stage of a grompp batch (``key``: the caller's name for it in the answer)."""
    return {"key": key, "model_dir": model_dir, "stage": stage, "after": after, "mdp": mdp_text}


def grompp_batch(items: Sequence[Mapping], *, master: str = "", gmx: str = "gmx",
                 runner: ShellRunner = subprocess_runner) -> dict[str, dict]:
    """Make the ``.tpr`` of every item (:func:`batch_item`) that is not already made from its inputs
    (``master``: the master's name, for the lines).

    Returns key → ``{"made": bool}`` (False: it was up to date) or ``{"reason": line}`` (GROMACS' own
    line, or the file that cannot be read or written), one entry per item."""
    out: dict[str, dict] = {}
    for it in items:
        model_dir, stage = Path(it["model_dir"]), it["stage"]
        tpr = model_dir / stage / f"{stage}.tpr"
        made_from = tpr.with_name(f"{stage}{MADE_FROM_SUFFIX}")
        try:
            digest = inputs_digest(model_dir, stage, it.get("after"), it["mdp"])
            if (tpr.is_file() and tpr.with_name(checksum_name(stage)).is_file() and made_from.is_file()
                    and made_from.read_text() == digest):
                out[it["key"]] = {"made": False}
                continue
            grompp_from_text(model_dir, stage, it["mdp"], after=it.get("after"), gmx=gmx, runner=runner)
            write_checksum(tpr)
            _write_atomically(made_from, digest)
            out[it["key"]] = {"made": True}
        except StageError as exc:
            out[it["key"]] = {"reason": exc.reason}
        except OSError as exc:  # the master's folder cannot be read or written (permissions, a full disk)
            out[it["key"]] = {"reason": file_problem(exc, f"{stage} on the master {master}".rstrip())}
    return out


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
