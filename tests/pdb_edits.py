"""Edited copies of PDB files, shared by the models and analysis tests."""

from __future__ import annotations

from pathlib import Path


def edit_pdb(source: Path, target: Path, keep=lambda line: True, change=lambda line: line) -> Path:
    """A copy of ``source`` without the ATOM lines where ``keep`` is False, others passed through ``change``."""
    out = []
    for line in source.read_text().splitlines():
        if line.startswith("ATOM"):
            if not keep(line):
                continue
            line = change(line)
        out.append(line)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("\n".join(out) + "\n")
    return target
