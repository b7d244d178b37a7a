"""The interaction-type framework: criteria profiles, parameter checks, the two registries.

This module owns what every interaction type is built on, and nothing about any particular type:

- :data:`CRITERIA`: the criteria profiles.  ``"mpflow"`` (the default) is mpflow's own documented
  set of definitions; ``"prolif"`` reproduces ProLIF 2.2's ``Fingerprint`` on the types both share.
  A profile chooses each type's default parameters and attribution (declared by the type) and the
  per-atom chemistry (:mod:`mpflow.analysis.residue_tables`).
- :class:`Interaction`: the base of every type.  A type declares its name, whether it is symmetric,
  the atom roles or group tables it reads, per-profile defaults and sources, and ``detect(frame)``.
- :class:`Hits`: what ``detect`` returns for one frame (parallel arrays).
- :data:`INTERACTION_TYPES` (name -> class) and :data:`GROUP_TABLES` (group kind -> builder): the
  registries.  A type that needs a new kind of group (centroids of some atoms) registers its builder
  with :func:`register_group` next to the type, so adding a type touches one file
  (:mod:`mpflow.analysis.interaction_types`).
- :func:`check_parameter` / :func:`make_interactions`: thresholds must be finite, distances > 0
  (tolerances >= 0), angles within 0-180 deg and every ``X_min_deg <= X_max_deg``; a bad value is
  refused with a message naming ``type.parameter``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, ClassVar

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from mpflow.analysis.frame_geometry import FrameContext
    from mpflow.analysis.topology_tables import InteractionTables

#: criteria profiles; the first is the default
CRITERIA: tuple[str, ...] = ("mpflow", "prolif")


def check_criteria(criteria: str) -> str:
    if criteria not in CRITERIA:
        raise ValueError(f"criteria {criteria!r} unknown; valid: {', '.join(CRITERIA)}")
    return criteria


@dataclass
class Hits:
    """Detected interactions of one type in one frame (parallel arrays, one entry per row).

    ``a``/``b``: representative atom index per side; ``key_a``/``key_b``: what one row stands for
    (atom, charged group, residue or ring id), used to keep one row per key pair (the closest);
    ``label_a``/``label_b``: codes of the atom-name labels; ``hydrogen``: H atom index or -1.
    """

    a: np.ndarray
    b: np.ndarray
    key_a: np.ndarray
    key_b: np.ndarray
    label_a: np.ndarray
    label_b: np.ndarray
    distance: np.ndarray
    angle: np.ndarray
    hydrogen: np.ndarray
    fallback: bool = False

    @classmethod
    def empty(cls) -> "Hits":
        z = np.zeros(0, dtype=np.int64)
        f = np.zeros(0, dtype=np.float64)
        return cls(z, z, z, z, z, z, f, f, z)

    def __len__(self) -> int:
        return len(self.a)

    def take(self, idx: np.ndarray) -> "Hits":
        return Hits(self.a[idx], self.b[idx], self.key_a[idx], self.key_b[idx], self.label_a[idx],
                    self.label_b[idx], self.distance[idx], self.angle[idx], self.hydrogen[idx],
                    self.fallback)


def nan_array(n: int) -> np.ndarray:
    return np.full(n, np.nan)


def minus_one(n: int) -> np.ndarray:
    return np.full(n, -1, dtype=np.int64)


def fold_deg(cos: np.ndarray) -> np.ndarray:
    """Angle in degrees between two undirected axes, in [0, 90]."""
    return np.degrees(np.arccos(np.clip(np.abs(cos), 0.0, 1.0)))


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


# --------------------------------------------------------------------------- types
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
    #: group tables (kinds in :data:`GROUP_TABLES`) this type reads
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

    def prepare(self, tables: "InteractionTables") -> None:
        """Topology-time hook (runs once, before any frame): precompute what ``detect`` reads."""

    def search_cutoff_A(self, tables: "InteractionTables") -> float:
        """The largest distance this type needs from the shared neighbour search."""
        return float(self.distance_max_A)  # type: ignore[attr-defined]

    def frame_cutoff_A(self, frame: "FrameContext") -> float | None:
        """A larger cut-off this type needs from the shared atom search in this frame (None: the
        topology-time :meth:`search_cutoff_A` suffices)."""
        return None

    def detect(self, frame: "FrameContext") -> Hits:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def parameters(cls, criteria: str = "mpflow") -> dict[str, float]:
        """Named thresholds and their defaults under ``criteria``."""
        return dict(cls.defaults[check_criteria(criteria)])

    @classmethod
    def describe(cls, criteria: str = "mpflow") -> str:
        params = ", ".join(f"{k}={v:g}" for k, v in cls.parameters(criteria).items())
        return f"{cls.name}: {params}. {cls.sources[criteria]}"


INTERACTION_TYPES: dict[str, type[Interaction]] = {}


def register(cls: type[Interaction]) -> type[Interaction]:
    """Class decorator: add a type to :data:`INTERACTION_TYPES` under ``cls.name``."""
    if not cls.name or cls.name in INTERACTION_TYPES:
        raise ValueError(f"interaction name {cls.name!r} missing or already registered")
    missing = [c for c in CRITERIA if c not in cls.defaults or c not in cls.sources]
    if missing:
        raise ValueError(f"interaction {cls.name}: no defaults/sources for criteria {missing}")
    unknown = [g for g in cls.groups if g not in GROUP_TABLES]
    if unknown:
        raise ValueError(f"interaction {cls.name}: group table(s) {unknown} not registered")
    INTERACTION_TYPES[cls.name] = cls
    return cls


def make_interactions(types: list[str] | None = None,
                      params: dict[str, dict[str, float]] | None = None,
                      criteria: str = "mpflow") -> list[Interaction]:
    """Instances of the named types (default: all, in registry order) with per-type overrides.

    Unknown type or parameter names and invalid values raise ``ValueError`` naming them.
    """
    check_criteria(criteria)
    types = list(INTERACTION_TYPES) if types is None else list(types)
    params = params or {}
    unknown = [t for t in list(types) + list(params) if t not in INTERACTION_TYPES]
    if unknown:
        raise ValueError(f"unknown interaction type(s) {', '.join(sorted(set(unknown)))}; "
                         f"valid: {', '.join(INTERACTION_TYPES)}")
    if not types:
        raise ValueError(f"no interaction type given; valid: {', '.join(INTERACTION_TYPES)}")
    unused = [t for t in params if t not in types]
    if unused:
        raise ValueError(f"parameters given for type(s) not computed: {', '.join(sorted(unused))}")
    return [INTERACTION_TYPES[name](criteria, **params.get(name, {}))
            for name in dict.fromkeys(types)]


# --------------------------------------------------------------------------- group tables
@dataclass
class GroupSet:
    """Groups of one kind: atoms per group (a centroid each), what a row stands for, labels.

    ``rep``: representative atom (reported as ``index_a``/``index_b``, gives chain and residue);
    ``key``: the id a row stands for, unique within the kind; ``label``: atom-name label;
    ``extra``: kind-specific per-group arrays (read by the types through ``tables.group_extra``).
    """

    members: list[np.ndarray]
    rep: np.ndarray
    key: np.ndarray
    label: list[str]
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.members)


#: group kind -> builder(tables) -> GroupSet, run once per topology when an enabled type needs it
GROUP_TABLES: dict[str, Callable[["InteractionTables"], GroupSet]] = {}


def register_group(kind: str):
    """Decorator: register the builder of the group table ``kind``."""
    def deco(fn):
        if kind in GROUP_TABLES:
            raise ValueError(f"group table {kind!r} already registered")
        GROUP_TABLES[kind] = fn
        return fn
    return deco
