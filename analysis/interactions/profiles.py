"""The criteria profiles of the interaction engine: whose definitions a run follows.

This module owns the names of the profiles and what belongs to a profile rather than to any one
interaction type:

- ``"mpflow"`` (the default): mpflow's own documented definitions;
- ``"prolif"``: ProLIF 2.2's ``Fingerprint`` reproduced on the types both share, including its
  residue vicinity (:data:`PROLIF_VICINITY_A`).

A profile chooses each type's default parameters and attribution (declared by the type,
:mod:`mpflow.analysis.interactions.types`) and the per-atom chemistry
(:mod:`mpflow.analysis.interactions.chemistry`).
"""

from __future__ import annotations

from typing import Literal, get_args

#: a criteria profile's name (settings models and the CLI check a value against it)
Criteria = Literal["mpflow", "prolif"]
#: criteria profiles; the first is the default
CRITERIA: tuple[str, ...] = get_args(Criteria)
#: ProLIF's Fingerprint ``vicinity_cutoff``: residue pairs farther apart are never considered
PROLIF_VICINITY_A = 6.0


def check_criteria(criteria: str) -> str:
    """``criteria`` when it names a profile, else ``ValueError`` listing the valid ones."""
    if criteria not in CRITERIA:
        raise ValueError(f"criteria {criteria!r} unknown; valid: {', '.join(CRITERIA)}")
    return criteria
