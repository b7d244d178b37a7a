"""GROMACS .gro coordinate files: read and write them as parallel arrays.

This module owns the .gro format (fixed columns, nm, a rectangular or triclinic box line).  It is
small and exact on purpose: the membrane builder reads and writes ~30k-atom systems several times
per model and must keep atom and residue names byte for byte (pdb2gmx and genion read them back).
Only the first three box numbers (a rectangular box) are kept in :attr:`Structure.box_nm`; a
triclinic box is refused where it matters (the builder), not here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class GroFormatError(ValueError):
    """A .gro file that cannot be read (names the file and the line)."""


@dataclass
class Structure:
    """Atoms of a .gro file (parallel arrays; positions in nm)."""

    title: str
    resids: np.ndarray      # int
    resnames: np.ndarray    # object (str)
    names: np.ndarray       # object (str)
    positions: np.ndarray   # (n, 3) float, nm
    box_nm: np.ndarray      # (3,) float, nm

    @property
    def n_atoms(self) -> int:
        return len(self.names)

    def take(self, index: np.ndarray) -> "Structure":
        """A new Structure with the atoms at ``index`` (boolean mask or integer indices)."""
        return Structure(self.title, self.resids[index], self.resnames[index], self.names[index],
                         self.positions[index], self.box_nm.copy())

    @staticmethod
    def concatenate(parts: list["Structure"], title: str, box_nm: np.ndarray) -> "Structure":
        return Structure(title,
                         np.concatenate([p.resids for p in parts]),
                         np.concatenate([p.resnames for p in parts]),
                         np.concatenate([p.names for p in parts]),
                         np.concatenate([p.positions for p in parts]),
                         np.asarray(box_nm, dtype=float))

    def residue_starts(self) -> np.ndarray:
        """Index of the first atom of each residue (a residue = a run of equal (resid, resname))."""
        if self.n_atoms == 0:
            return np.zeros(0, dtype=np.int64)
        change = (self.resids[1:] != self.resids[:-1]) | (self.resnames[1:] != self.resnames[:-1])
        return np.concatenate([[0], np.flatnonzero(change) + 1])


def read_gro(path: str | Path) -> Structure:
    """Read a .gro file; :class:`GroFormatError` names the file and what is wrong."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise GroFormatError(f"{path}: cannot read ({exc.strerror})") from exc
    try:
        n = int(lines[1].strip())
    except (IndexError, ValueError):
        raise GroFormatError(f"{path}: line 2 must hold the atom count") from None
    if len(lines) < n + 3:
        raise GroFormatError(f"{path}: {n} atoms announced but only {max(len(lines) - 3, 0)} "
                             "atom lines and no box line")
    body = lines[2:2 + n]
    try:
        resids = np.fromiter((int(ln[0:5]) for ln in body), dtype=np.int64, count=n)
        resnames = np.array([ln[5:10].strip() for ln in body], dtype=object)
        names = np.array([ln[10:15].strip() for ln in body], dtype=object)
        pos = np.array([(float(ln[20:28]), float(ln[28:36]), float(ln[36:44])) for ln in body],
                       dtype=float).reshape(n, 3)
        box = np.array([float(v) for v in lines[2 + n].split()[:3]], dtype=float)
    except (ValueError, IndexError):
        raise GroFormatError(f"{path}: malformed atom or box line") from None
    if box.shape != (3,):
        raise GroFormatError(f"{path}: box line must hold at least three numbers")
    return Structure(lines[0], resids, resnames, names, pos, box)


def format_gro(structure: Structure) -> str:
    """The .gro text of ``structure`` (residue and atom numbers wrap at 100000 as GROMACS does)."""
    out = [structure.title or "mpflow", f"{structure.n_atoms:5d}"]
    for i in range(structure.n_atoms):
        x, y, z = structure.positions[i]
        out.append(f"{int(structure.resids[i]) % 100000:5d}{structure.resnames[i]:<5s}"
                   f"{structure.names[i]:>5s}{(i + 1) % 100000:5d}{x:8.3f}{y:8.3f}{z:8.3f}")
    bx, by, bz = structure.box_nm
    out.append(f"{bx:10.5f}{by:10.5f}{bz:10.5f}")
    return "\n".join(out) + "\n"


def write_gro(structure: Structure, path: str | Path) -> Path:
    """Write ``structure`` to ``path`` through a temporary name (a failure leaves the old file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(format_gro(structure))
    os.replace(tmp, path)
    return path

