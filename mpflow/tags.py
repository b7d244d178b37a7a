"""Model tags and the folder tree they name, identical on every cluster.

A model is tagged (mutant, group, name): group is ``None`` for unclassified models or
``ConformationN`` (a frame of a stage's trajectory is tagged ``ConformationN:XXMD:Protein_n`` by the
analysis, ``mpflow.analysis.frames.frame_tag``). On every cluster a model's files live under
``<workdir>/<mutant>/<group>/<name>/<stage>/``, its structure is ``model.pdb`` in its folder. Every part is
checked against a safe pattern where it enters, so a tag can go into a path, a Slurm ``--comment`` or a
job name without quoting surprises (no ``/``, whitespace, newline or shell metacharacter).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
GROUP = re.compile(r"^(None|Conformation[1-9][0-9]{0,3})$")
STAGE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
NO_GROUP = "None"
"""The group of a model that no conformation claims (unclassified, an outlier, or waiting)."""
MODEL_FILE = "model.pdb"
#: the model's structure as the preparation's first step reads it, in the preparation's folder
MODEL_INPUT = "protein.pdb"
"""A model's structure in its folder on the master (``<workdir>/<mutant>/<group>/<name>/model.pdb``)."""


class TagError(ValueError):
    pass


def check_part(kind: str, value: str) -> str:
    if not isinstance(value, str) or not PART.fullmatch(value) or value in (".", ".."):
        raise TagError(f"{kind} {value!r} is not a safe name: letters, digits, '_', '.', '-' (first a letter or digit)")
    return value


def check_group(value: str) -> str:
    if not GROUP.fullmatch(value or ""):
        raise TagError(f"group {value!r} must be None or ConformationN")
    return value


def check_stage(value: str) -> str:
    if not STAGE.fullmatch(value or ""):
        raise TagError(f"stage {value!r} must match {STAGE.pattern}")
    return value


@dataclass(frozen=True)
class ModelTag:
    """(mutant, group, name), each part checked."""

    mutant: str
    group: str
    name: str

    def __post_init__(self):
        check_part("mutant", self.mutant)
        check_group(self.group)
        check_part("model name", self.name)

    @property
    def relpath(self) -> str:
        return posixpath.join(self.mutant, self.group, self.name)

    def model_dir(self, workdir: str) -> str:
        return posixpath.join(workdir, self.relpath)

    def stage_dir(self, workdir: str, stage: str) -> str:
        return posixpath.join(workdir, self.relpath, check_stage(stage))

    def comment(self, stage: str) -> str:
        """What goes in a job's Slurm ``--comment``: ``mutant/group/name/stage``."""
        return f"{self.relpath}/{check_stage(stage)}"

    def __str__(self) -> str:
        return f"{self.mutant}:{self.group}:{self.name}"
