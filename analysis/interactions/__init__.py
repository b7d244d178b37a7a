"""Interchain interactions: from a trajectory to one long table, one row per interaction and frame.

This package owns the interaction engine and is its public import path
(``from mpflow.analysis.interactions import compute_interactions``).  Its modules, bottom to top
(each imports only those below it; ``lint-imports`` checks the order):

- :mod:`~mpflow.analysis.interactions.profiles`: the criteria profiles (``mpflow``, ``prolif``);
- :mod:`~mpflow.analysis.interactions.chemistry`: per-atom chemistry under each profile (donors,
  acceptors, charges, hydrophobic atoms, aromatic rings, radii), built once per topology;
- :mod:`~mpflow.analysis.interactions.frame_geometry`: one frame's neighbour searches, its frame
  context and the hits a type detects in it;
- :mod:`~mpflow.analysis.interactions.topology`: everything derived once per topology and
  selections (:class:`InteractionTables`), the group tables among it;
- :mod:`~mpflow.analysis.interactions.base`: the type framework (the base class, parameter checks,
  the registry builder);
- :mod:`~mpflow.analysis.interactions.types`: the types, one class each, and their registry
  :data:`INTERACTION_TYPES`;
- :mod:`~mpflow.analysis.interactions.table`: the table's schema, metadata, keys and file I/O;
- :mod:`~mpflow.analysis.interactions.engine`: the runner (MDAnalysis template, chunks, processes);
- :mod:`~mpflow.analysis.interactions.prolif_reference`: agreement with ProLIF itself (tests and
  benchmark).

Chains and their ring order, bonds and periodic boxes are :mod:`mpflow.analysis.structure`'s.
"""

from mpflow.analysis.interactions.base import Interaction
from mpflow.analysis.interactions.engine import (
    BrokenMolecules,
    FrameRunner,
    InteractionAnalysis,
    MoleculesMadeWhole,
    OutsideProlifCoverage,
    available_cpus,
    compute_interactions,
    interactions_for_frames,
    plan_workers,
    select_frames,
)
from mpflow.analysis.interactions.frame_geometry import Hits
from mpflow.analysis.interactions.profiles import CRITERIA, Criteria
from mpflow.analysis.interactions.table import (
    INTERACTION_SCHEMA,
    METADATA_KEY,
    TYPE_DTYPE,
    apply_schema,
    check_writable,
    empty_table,
    interaction_keys,
    read_table,
    sorted_categorical,
    table_metadata,
    write_table,
)
from mpflow.analysis.interactions.topology import InteractionTables, NothingToCompute, SelectionProblem
from mpflow.analysis.interactions.types import INTERACTION_TYPES, make_interactions

__all__ = [
    "CRITERIA", "INTERACTION_SCHEMA", "INTERACTION_TYPES", "METADATA_KEY", "TYPE_DTYPE",
    "BrokenMolecules", "Criteria", "FrameRunner", "Hits", "Interaction", "InteractionAnalysis",
    "InteractionTables", "MoleculesMadeWhole", "NothingToCompute", "OutsideProlifCoverage",
    "SelectionProblem",
    "apply_schema", "available_cpus", "check_writable", "compute_interactions", "empty_table",
    "interaction_keys", "interactions_for_frames", "make_interactions", "plan_workers",
    "read_table", "select_frames", "sorted_categorical", "table_metadata", "write_table",
]
