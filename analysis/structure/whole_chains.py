"""Whole, assembled protein chains in periodic MD frames (what ``gmx trjconv -pbc mol`` would give).

This module owns one MDAnalysis on-the-fly transformation, :class:`AssembleChains`.  ``mdrun``
writes trajectories with every atom put back into the unit cell, so a chain that crosses a face of
the box comes out split in two, and the chains of an oligomer may sit in different periodic
images.  The interaction engine needs whole residues (ring and charge-group centres) and the
geometry needs whole, neighbouring helices, so every frame of an MD stage is repaired as it is
read:

1. **whole chains**: along each chain, in topology order, every atom is moved to the periodic
   image nearest to the atom before it (consecutive atoms of a protein are a few ångström apart,
   far less than half a box);
2. **assembled oligomer**: each chain after the first is moved by whole box vectors so that its
   centre is the image nearest to the centre of the chains placed before it.

Only the selected atoms (the protein) move; lipids, water and ions are left as they are.  No bonds
are needed, so it works with a GRO topology as well as a TPR.  A frame without a box (a docked PDB)
is left alone.
"""

from __future__ import annotations

import numpy as np
from MDAnalysis.lib.distances import minimize_vectors


def _valid_box(dimensions) -> bool:
    return dimensions is not None and bool(np.all(np.asarray(dimensions[:3]) > 0))


class AssembleChains:
    """MDAnalysis transformation: the chains of ``atoms`` whole and in one periodic image.

    ``labels``: one chain label per atom of ``atoms`` (e.g.
    :func:`mpflow.analysis.structure.ring_order.chain_labels`).  Add it with
    ``universe.trajectory.add_transformations(AssembleChains(atoms, labels))``.
    """

    def __init__(self, atoms, labels):
        labels = np.asarray(labels, dtype=object)
        if len(labels) != atoms.n_atoms:
            raise ValueError(f"{len(labels)} chain labels for {atoms.n_atoms} atoms")
        indices = atoms.indices
        order = list(dict.fromkeys(labels.tolist()))
        # atoms of each chain in topology order: the walk of step 1 follows the covalent chain
        self.chains = [np.sort(indices[labels == c]) for c in order]
        self.parallelizable = True

    def __call__(self, ts):
        if not _valid_box(ts.dimensions):
            return ts
        box = ts.dimensions.astype(np.float32)
        x = ts.positions
        placed_sum = np.zeros(3)
        placed_n = 0
        for ix in self.chains:
            xyz = x[ix].astype(np.float64)
            if len(ix) > 1:
                steps = minimize_vectors(np.ascontiguousarray(np.diff(xyz, axis=0), dtype=np.float32), box)
                xyz[1:] = xyz[0] + np.cumsum(steps.astype(np.float64), axis=0)
            centre = xyz.mean(axis=0)
            if placed_n:
                reference = placed_sum / placed_n
                wanted = reference + minimize_vectors(
                    np.ascontiguousarray((centre - reference)[None], dtype=np.float32), box)[0]
                xyz += wanted - centre
                centre = wanted
            placed_sum += centre
            placed_n += 1
            x[ix] = xyz
        ts.positions = x
        return ts
