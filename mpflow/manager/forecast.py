"""Which cluster computes faster, and when the selected models will be through their last stage:
pure functions on plain records (``mpflow.manager.status`` reads them from the jobs database).

**Speed** (:func:`speed_table`): GROMACS's own ns/day of every finished run part (the performance
block of its log), per cluster, stage and system size (atoms, to two significant figures: models of
one protein in one membrane land in one or two sizes).

**Forecast** (:func:`forecast`): what is left of each model (the stages it has not done, the part of
a running one still to go) is laid out over the compute the project has shown it gets, by a small
simulation:

- an MD stage takes its simulated time over the speed seen for that stage (any MD stage of the
  project if that one has no finished run yet), plus the queue wait winners had; a minimisation
  (EMMD) takes the wall time its finished jobs took;
- stages that run on the master (preparation) run one at a time there, taking the time seen between
  two preparations;
- at most as many MD jobs at once as the project has been seen to run at once (running jobs hold
  their slot first and take the time their own log says is left);
- the low and high ends use the quartiles (the range, below four values) of speeds, times and waits;
  a running job's own time left is stretched by the same relative spread of the speeds.

It says what it could not measure (a stage never run), and a model held or failed for good is not
waited for: it is named beside the estimate.
"""

from __future__ import annotations

import heapq
import statistics
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

Spread = tuple[float, float, float]
"""(low, middle, high) of one quantity."""


def spread(values: Iterable[float]) -> Spread | None:
    """Quartiles and median of ``values`` (their range and median below four values); None if empty."""
    v = sorted(values)
    if not v:
        return None
    if len(v) < 4:
        return (v[0], statistics.median(v), v[-1])
    q1, q2, q3 = statistics.quantiles(v, n=4, method="inclusive")
    return (q1, q2, q3)


def size_bin(atoms: int | None) -> int | None:
    """``atoms`` to two significant figures (29,312 → 29,000; 663 → 660)."""
    if not atoms:
        return None
    digits = len(str(atoms)) - 2
    return round(atoms, -digits) if digits > 0 else atoms


# ------------------------------------------------------------------------------------------------
# Speed per cluster
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FinishedRun:
    """One finished run part: GROMACS's own speed for it."""

    cluster: str
    stage: str
    atoms: int | None
    ns_per_day: float
    wall_s: float | None


@dataclass(frozen=True)
class SpeedRow:
    cluster: str
    stage: str
    atoms: int | None  # the size bin
    runs: int
    ns_per_day: Spread

    def as_dict(self) -> dict:
        lo, mid, hi = self.ns_per_day
        return {"cluster": self.cluster, "stage": self.stage, "atoms": self.atoms, "runs": self.runs,
                "ns_per_day_median": round(mid, 2), "ns_per_day_low": round(lo, 2), "ns_per_day_high": round(hi, 2)}


def speed_table(runs: Sequence[FinishedRun]) -> list[SpeedRow]:
    """ns/day per (cluster, stage, size bin), sorted by stage, size and cluster."""
    groups: dict[tuple[str, str, int | None], list[float]] = {}
    for r in runs:
        groups.setdefault((r.cluster, r.stage, size_bin(r.atoms)), []).append(r.ns_per_day)
    rows = [SpeedRow(c, st, size, len(v), spread(v)) for (c, st, size), v in groups.items()]
    return sorted(rows, key=lambda r: (r.stage, r.atoms or 0, r.cluster))


def faster_lines(rows: Sequence[SpeedRow]) -> list[str]:
    """One line per stage and size measured on more than one cluster: which is fastest, by how much
    against each of the others (fastest to slowest)."""
    by_key: dict[tuple[str, int | None], list[SpeedRow]] = {}
    for r in rows:
        by_key.setdefault((r.stage, r.atoms), []).append(r)
    out = []
    for (stage, atoms), group in by_key.items():
        if len(group) < 2:
            continue
        group = sorted(group, key=lambda r: -r.ns_per_day[1])
        best = group[0]
        size = f" at ~{atoms:,} atoms" if atoms else ""
        out.append(f"{stage}{size}: {best.cluster} is "
                   + "; ".join(_as_fast_as(best, other) for other in group[1:]))
    return out


def _as_fast_as(best: SpeedRow, other: SpeedRow) -> str:
    ratio = best.ns_per_day[1] / other.ns_per_day[1] if other.ns_per_day[1] else float("inf")
    return (f"{ratio:.2f}x as fast as {other.cluster} ({best.ns_per_day[1]:.3g} vs {other.ns_per_day[1]:.3g} "
            f"ns/day, median of {best.runs} and {other.runs} run(s))")


# ------------------------------------------------------------------------------------------------
# When will it be done
# ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StageLeft:
    """One stage a model still has to go through."""

    stage: str
    left: float = 1.0  # the fraction of its work left (a running job's, from its log)
    running_left_s: float | None = None  # a running job's own estimate of its time left
    started: bool = False  # submitted or running already: no queue wait, it holds its slot now


@dataclass(frozen=True)
class Durations:
    """What a model-stage takes, measured on this project."""

    wall_s: Mapping[str, Spread]  # per stage: wall time of one model-stage
    wait_s: Spread  # queue wait before a job starts
    slots: int  # MD jobs at once
    master_stages: frozenset[str] = frozenset()  # run one at a time on the master
    running_factor: Spread = (1.0, 1.0, 1.0)  # a running job's own time left, scaled for the low and high ends


@dataclass
class Forecast:
    models: int  # models waited for
    seconds: Spread | None  # from now until the last of them is through (None: cannot be estimated)
    unmeasured: list[str] = field(default_factory=list)  # stages with no measured duration
    excluded: dict[str, int] = field(default_factory=dict)  # models not waited for, by why (held, failed ...)
    basis: str = ""  # what the estimate stands on, one line

    def as_dict(self) -> dict:
        return {"models": self.models, "seconds_low": _r(self.seconds, 0), "seconds": _r(self.seconds, 1),
                "seconds_high": _r(self.seconds, 2), "unmeasured_stages": self.unmeasured,
                "not_waited_for": self.excluded, "basis": self.basis}


def _r(s: Spread | None, i: int) -> float | None:
    return None if s is None else round(s[i], 1)


def duration_text(seconds: float) -> str:
    """``3 h 10 min``, ``8 min``, ``45 s``, ``2 d 4 h``."""
    s = int(round(seconds))
    if s < 90:
        return f"{s} s"
    m = int(round(s / 60))
    if m < 90:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m:02d} min"
    d, h = divmod(h, 24)
    return f"{d} d {h} h"


def simulate(chains: Sequence[Sequence[StageLeft]], d: Durations, which: int) -> float:
    """Seconds until every chain is through, with the ``which`` end (0 low, 1 middle, 2 high) of
    each duration; each chain's stages in order, MD stages in ``d.slots`` slots, master stages one at
    a time. Raises KeyError for a stage without a duration."""
    running = sum(1 for c in chains if c and c[0].started and c[0].stage not in d.master_stages)
    slots = [0.0] * max(1, d.slots, running)
    heapq.heapify(slots)
    master_free = 0.0
    end = 0.0
    # (ready time, started first, order, chain, next stage index)
    queue = [(0.0, 0 if c and c[0].started else 1, i, i, 0) for i, c in enumerate(chains) if c]
    heapq.heapify(queue)
    while queue:
        ready, _, order, ci, k = heapq.heappop(queue)
        step = chains[ci][k]
        if step.running_left_s is not None:
            work = step.running_left_s * d.running_factor[which]
        else:
            work = d.wall_s[step.stage][which] * step.left
        if step.stage in d.master_stages:
            start = max(ready, master_free)
            finish = start + work
            master_free = finish
        else:
            slot_free = heapq.heappop(slots)
            start = max(ready, slot_free)
            finish = start + work + (0.0 if step.started else d.wait_s[which])
            heapq.heappush(slots, finish)
        end = max(end, finish)
        if k + 1 < len(chains[ci]):
            heapq.heappush(queue, (finish, 1, order, ci, k + 1))
    return end


def forecast(chains: Sequence[Sequence[StageLeft]], d: Durations, excluded: Mapping[str, int] | None = None,
             basis: str = "") -> Forecast:
    """When every chain (one per model waited for) is through, low / middle / high."""
    needed = {s.stage for c in chains for s in c if s.running_left_s is None}
    unmeasured = sorted(st for st in needed if st not in d.wall_s)
    out = Forecast(models=len(chains), seconds=None, unmeasured=unmeasured, excluded=dict(excluded or {}),
                   basis=basis)
    if not chains or unmeasured:
        if not chains:
            out.seconds = (0.0, 0.0, 0.0)
        return out
    lo, mid, hi = (simulate(chains, d, i) for i in range(3))
    out.seconds = (min(lo, mid), mid, max(hi, mid))
    return out


def forecast_sentence(f: Forecast, last_stage: str, now_text: str | None = None) -> str:
    """The forecast said plainly, with its uncertainty and what it stands on."""
    excluded = "; ".join(f"{n} {why}" for why, n in f.excluded.items() if n)
    tail = f" ({excluded}: not waited for)" if excluded else ""
    if f.models == 0:
        return f"no selected model is still on its way to {last_stage}{tail}"
    if f.seconds is None:
        return (f"{f.models} model(s) still to go through {last_stage}: no estimate yet — nothing measured for "
                f"{', '.join(f.unmeasured)} (it needs one finished job there){tail}")
    lo, mid, hi = f.seconds
    when = f", around {now_text}" if now_text else ""
    span = "" if hi - lo < 60 else f" (likely between {duration_text(lo)} and {duration_text(hi)})"
    text = f"all {f.models} selected model(s) through {last_stage} in about {duration_text(mid)}{span}{when}{tail}"
    return f"{text}; {f.basis}" if f.basis else text
