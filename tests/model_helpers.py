"""Helpers for the models tests: edited copies of PDB files (from pdb_edits), and a snapshot of everything a
models command may change (project file, database rows, files on both clusters)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

from pdb_edits import edit_pdb  # noqa: F401 - re-exported for the models tests

TABLES = ("models", "model_stages", "jobs", "events")


def copy_built(models, folder: Path) -> Path:
    """A new folder holding copies of the built ``models``' files (a set to import)."""
    folder.mkdir(parents=True)
    for m in models:
        shutil.copy(m.path, folder)
    return folder


def at(line: str, chain: str, resid: int, name: str | None = None) -> bool:
    return line[21] == chain and int(line[22:26]) == resid and (name is None or line[12:16].strip() == name)


def gap_keep(chain: str = "B", first: int = 80, last: int = 82):
    return lambda line: not (line[21] == chain and first <= int(line[22:26]) <= last)


def tree(root: Path) -> dict[str, str]:
    """{relative path: sha256 of a file or "dir"} of everything under ``root``."""
    out = {}
    if not root.exists():
        return out
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def db_rows(db: Path) -> dict[str, list[tuple]]:
    with sqlite3.connect(db) as conn:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall() for t in TABLES}


def snapshot(project, clusters) -> dict:
    """The project file's bytes, the database's rows and both clusters' trees."""
    return {"project_file": project.file.read_bytes(), "db": db_rows(project.root / "mpflow.db"),
            "trees": {c.name: tree(Path(c.workdir)) for c in clusters}}
