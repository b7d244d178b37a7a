"""What one models command did for one mutant: the record the CLI prints and the flow returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from mpflow.models.tree import TreeResult
from mpflow.tags import NO_GROUP


@dataclass
class ModelsReport:
    """What one models command did for one mutant."""

    mutant: str
    imported: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    moved: list[str] = field(default_factory=list)
    criterion: str = ""
    n_groups: int = 0
    clusters: list[TreeResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.imported or self.replaced or self.completed or self.moved)

    def group_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for g in self.groups.values():
            counts[g] = counts.get(g, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (kv[0] == NO_GROUP, kv[0])))

    def as_dict(self) -> dict:
        return {"mutant": self.mutant, "imported": self.imported, "replaced": self.replaced,
                "completed": self.completed, "unchanged": self.unchanged, "waiting": self.waiting,
                "failed": self.failed, "groups": self.group_counts(), "moved": self.moved,
                "criterion": self.criterion, "n_groups": self.n_groups,
                "clusters": [r.cluster for r in self.clusters], "notes": self.notes}

    def lines(self, *, groups: bool | None = None) -> list[str]:
        """Human-readable summary; ``groups``: show the groups (default: when something changed)."""
        m = self.mutant
        out = []
        parts = [f"{len(v)} {k}" for k, v in (("imported", self.imported), ("replaced", self.replaced),
                                               ("completed", self.completed), ("unchanged", self.unchanged)) if v]
        if parts:
            out.append(f"{m}: " + ", ".join(parts))
        for name, reason in self.waiting.items():
            out.append(f"{m}/{name}: waiting: {reason} (run `mpflow complete --mutant {m}`)")
        for name, reason in self.failed.items():
            out.append(f"{m}/{name}: not completed: {reason}")
        if self.groups and (self.changed if groups is None else groups):
            counts = ", ".join(f"{g} ({n})" for g, n in self.group_counts().items())
            out.append(f"{m}: groups {counts} [{self.criterion}]"
                       + (f"; moved {len(self.moved)} model folder(s)" if self.moved else ""))
        if self.clusters:
            out.append(f"{m}: model folders in place on " + ", ".join(r.cluster for r in self.clusters))
        out += [f"{m}: note: {note}" for note in self.notes]
        return out
