"""Which build of mpflow this is: a digest of the package's own files, the same on the orchestrator and
in a cluster-side virtual environment that holds a copy of them.

Every mpflow release carries the same version string while it is developed, so "the same mpflow" is
decided by this digest: the sha256 of the relative path and bytes of every file of the core package
(``mpflow/``, without the Prefect layer's packages installed beneath it) and of the science
(``mpflow.analysis``), in sorted order. Standard library only: the cluster side computes it too.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import lru_cache
from pathlib import Path

#: packages installed under ``mpflow`` that the cluster side neither needs nor carries
PREFECT_LAYER = ("blocks", "tasks", "flows", "deployments", "commands")
SKIPPED_PARTS = ("__pycache__",)


def _files(root: Path, prefix: str, skip_top: tuple[str, ...]) -> dict[str, Path]:
    out = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if not path.is_file() or path.suffix == ".pyc" or any(p in SKIPPED_PARTS for p in rel.parts):
            continue
        if rel.parts[0] in skip_top:
            continue
        out[f"{prefix}/{rel.as_posix()}"] = path
    return out


def package_files() -> dict[str, Path]:
    """The files a cluster-side mpflow carries, by their path in it (``mpflow/...``, ``mpflow/analysis/...``)."""
    core = Path(__file__).resolve().parent
    files = _files(core, "mpflow", PREFECT_LAYER + ("analysis", "cli.py"))
    analysis = core / "analysis"
    if not analysis.is_dir():  # an editable install maps analysis/ from its own folder
        spec = importlib.util.find_spec("mpflow.analysis")
        analysis = Path(next(iter(spec.submodule_search_locations)))
    files.update(_files(analysis, "mpflow/analysis", ()))
    return files


@lru_cache(maxsize=1)
def build_digest() -> str:
    """The digest of this mpflow's files (first 16 hex digits of the sha256)."""
    h = hashlib.sha256()
    for rel, path in sorted(package_files().items()):
        h.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]
