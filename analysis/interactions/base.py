"""The interaction-type framework: the base class every type is built on, its checks, the registry.

This module owns what every interaction type is built on, and nothing about any particular type
(those are :mod:`mpflow.analysis.interactions.types`):

- :class:`Interaction`: the base of every type.  A type declares its name, whether it is symmetric,
  the atom roles or group tables (:data:`mpflow.analysis.interactions.topology.GROUP_TABLES`) it
  reads, per-profile defaults and sources (profiles: :mod:`mpflow.analysis.interactions.profiles`),
  and ``detect(frame)`` returning :class:`~mpflow.analysis.interactions.frame_geometry.Hits`;
- :func:`check_parameter` / :func:`check_ranges`: thresholds must be finite, distances > 0
  (tolerances >= 0), angles within 0-180 deg and every ``X_min_deg <= X_max_deg``; a bad value is
  refused with a message naming ``type.parameter``;
- :func:`registry`: the name -> class table of a set of types, checked (names unique, defaults and
  sources for every profile, group tables that exist) and read-only; the types module builds the
  one the engine reads from an explicit list of its classes, so no import changes it;
- :func:`instantiate`: instances of named types from a registry, with per-type overrides
  (ProLIF's registry by name).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from mpflow.analysis.interactions.frame_geometry import FrameContext, Hits
from mpflow.analysis.interactions.profiles import CRITERIA, check_criteria
from mpflow.analysis.interactions.topology import GROUP_TABLES, InteractionTables


# --------------------------------------------------------------------------- parameters
def check_parameter(type_name: str, name: str, value: float) -> float:
    """``value`` as float if it is a valid threshold for ``name`` (by its unit suffix), else ValueError."""
    label = f"{type_name}.{name}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label}={value!r}: not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{label}={value}: must be a finite number")
    if name.endswith("_deg"):
        if not 0.0 <= v <= 180.0:
            raise ValueError(f"{label}={value}: an angle must be within 0-180 degrees")
    elif name.startswith("tolerance"):
        if v < 0.0:
            raise ValueError(f"{label}={value}: must be >= 0")
    elif v <= 0.0:
        raise ValueError(f"{label}={value}: must be > 0")
    return v


def check_ranges(type_name: str, params: dict[str, float]) -> None:
    """Every ``X_min_deg`` must not exceed its ``X_max_deg``."""
    for name, lo in params.items():
        if name.endswith("_min_deg"):
            partner = name[: -len("_min_deg")] + "_max_deg"
            if partner in params and lo > params[partner]:
                raise ValueError(f"{type_name}.{name}={lo:g} is above {type_name}.{partner}="
                                 f"{params[partner]:g}")


# --------------------------------------------------------------------------- the base class
class Interaction:
    """Base of all types.  Subclasses declare the class attributes below and ``detect``.

    An instance holds one profile's parameters as attributes (``self.distance_max_A`` ...) and in
    ``self.params``; it is picklable (it is shipped to worker processes).
    """

    name: ClassVar[str] = ""
    #: True when the two sides play the same role (the engine then orients each row)
    symmetric: ClassVar[bool] = False
    #: "atoms": reads the frame's atom pairs; "groups": reads the frame's group-centroid pairs
    level: ClassVar[str] = "atoms"
    #: atom roles (names in ``AtomProperties.roles``) of side a and side b
    roles: ClassVar[tuple[str, ...]] = ()
    #: name of the shared atom search this type reads (one search per name; its atoms are the
    #: union of the roles of the types reading it)
    search_atoms: ClassVar[str] = "heavy"
    #: group tables (kinds of :data:`~mpflow.analysis.interactions.topology.GROUP_TABLES`) it reads
    groups: ClassVar[tuple[str, ...]] = ()
    #: whether the atom names are part of the normalised key (False: residue-level key)
    key_atoms: ClassVar[bool] = True
    #: whether the prolif profile applies ProLIF's residue vicinity (False for non-ProLIF types)
    vicinity: ClassVar[bool] = True
    #: profile -> parameter -> default value
    defaults: ClassVar[dict[str, dict[str, float]]] = {}
    #: profile -> which tool's criteria the type follows there, and how mpflow differs
    sources: ClassVar[dict[str, str]] = {}

    def __init__(self, criteria: str = "mpflow", **overrides: float):
        self.criteria = check_criteria(criteria)
        params = dict(self.defaults[criteria])
        bad = [k for k in overrides if k not in params]
        if bad:
            raise ValueError(f"unknown parameter(s) {', '.join(bad)} for {self.name}; "
                             f"valid: {', '.join(params)}")
        for k, v in overrides.items():
            params[k] = check_parameter(self.name, k, v)
        check_ranges(self.name, params)
        self.params = params
        for k, v in params.items():
            setattr(self, k, float(v))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v:g}" for k, v in self.params.items())
        return f"{type(self).__name__}(criteria={self.criteria!r}, {args})"

    def prepare(self, tables: InteractionTables) -> None:
        """Topology-time hook (runs once, before any frame): precompute what ``detect`` reads."""

    def search_cutoff_A(self, tables: InteractionTables) -> float:
        """The largest distance this type needs from the shared neighbour search."""
        return float(self.distance_max_A)  # type: ignore[attr-defined]

    def frame_cutoff_A(self, frame: FrameContext) -> float | None:
        """A larger cut-off this type needs from the shared atom search in this frame (None: the
        topology-time :meth:`search_cutoff_A` suffices)."""
        return None

    def detect(self, frame: FrameContext) -> Hits:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def parameters(cls, criteria: str = "mpflow") -> dict[str, float]:
        """Named thresholds and their defaults under ``criteria``."""
        return dict(cls.defaults[check_criteria(criteria)])

    @classmethod
    def describe(cls, criteria: str = "mpflow") -> str:
        params = ", ".join(f"{k}={v:g}" for k, v in cls.parameters(criteria).items())
        return f"{cls.name}: {params}. {cls.sources[criteria]}"


# --------------------------------------------------------------------------- registries
def registry(*classes: type[Interaction]) -> Mapping[str, type[Interaction]]:
    """``{cls.name: cls}`` of ``classes`` in the given order, read-only; ``ValueError`` for a
    missing or repeated name, a profile without defaults or sources, or an unknown group table."""
    table: dict[str, type[Interaction]] = {}
    for cls in classes:
        if not cls.name or cls.name in table:
            raise ValueError(f"interaction name {cls.name!r} missing or already registered")
        missing = [c for c in CRITERIA if c not in cls.defaults or c not in cls.sources]
        if missing:
            raise ValueError(f"interaction {cls.name}: no defaults/sources for criteria {missing}")
        unknown = [g for g in cls.groups if g not in GROUP_TABLES]
        if unknown:
            raise ValueError(f"interaction {cls.name}: group table(s) {unknown} not registered")
        table[cls.name] = cls
    return MappingProxyType(table)


def instantiate(registered: Mapping[str, type[Interaction]], types: list[str] | None = None,
                params: dict[str, dict[str, float]] | None = None,
                criteria: str = "mpflow") -> list[Interaction]:
    """Instances of the named types of ``registered`` (default: all, in registry order) with
    per-type overrides.

    Unknown type or parameter names and invalid values raise ``ValueError`` naming them.
    """
    check_criteria(criteria)
    types = list(registered) if types is None else list(types)
    params = params or {}
    unknown = [t for t in list(types) + list(params) if t not in registered]
    if unknown:
        raise ValueError(f"unknown interaction type(s) {', '.join(sorted(set(unknown)))}; "
                         f"valid: {', '.join(registered)}")
    if not types:
        raise ValueError(f"no interaction type given; valid: {', '.join(registered)}")
    unused = [t for t in params if t not in types]
    if unused:
        raise ValueError(f"parameters given for type(s) not computed: {', '.join(sorted(unused))}")
    return [registered[name](criteria, **params.get(name, {}))
            for name in dict.fromkeys(types)]
