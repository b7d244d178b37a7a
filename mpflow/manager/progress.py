"""How far each MD job is, from what its GROMACS log said at each tick: pure functions, no I/O.

The tick's probe of job folders already reads every job's log (``mpflow.slurm.job_files``: the key
lines of its head once, of its tail every tick); :func:`read_progress` turns one reading, and the
job's previous progress, into a :class:`JobProgress`: steps done of ``nsteps``, simulated time,
speed and the time left. The speed is, in this order of trust:

- ``gromacs``: GROMACS's own ns/day, once the run part has ended (its performance block);
- ``since start``: steps since the run started over the time since its ``Started mdrun`` line (a job
  that does not continue an earlier part from its checkpoint);
- ``between ticks``: steps between the first and the latest reading of this job over the time
  between the log's two writes (on the cluster's clock, so the orchestrator's clock never enters).

The time left is the steps left at that speed, less the time since the log was last written; the
expected end is the reading's time (the orchestrator's clock) plus it. A minimisation (EMMD) has
steps but neither simulated time nor a speed.

:func:`progress_changes` is the tick's part: for each observed job that has run, its new progress.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Mapping, Sequence

from mpflow.slurm.client import Observation
from mpflow.slurm.job_files import FileEvidence
from mpflow.slurm.md_log import MINIMISERS
from mpflow.states import JobState
from mpflow.store.records import JobChange, JobRecord

SPEED_GROMACS = "gromacs"
SPEED_SINCE_START = "since start"
SPEED_BETWEEN_TICKS = "between ticks"
MIN_SPAN_S = 1.0
"""A speed between two readings needs the log written at least this far apart (mtimes are seconds)."""


@dataclass(frozen=True)
class JobProgress:
    """How far one job's run is, as the tick last read its log (stored in ``jobs.progress``)."""

    read_at: datetime  # when the tick read it (the orchestrator's clock, UTC)
    step: int | None = None
    nsteps: int | None = None  # -1: no limit
    dt_ps: float | None = None
    time_ps: float | None = None
    atoms: int | None = None
    integrator: str | None = None
    version: str | None = None
    ns_per_day: float | None = None
    speed_from: str | None = None  # SPEED_GROMACS, SPEED_SINCE_START or SPEED_BETWEEN_TICKS
    ended: bool = False  # the run part ended (GROMACS wrote its performance block)
    stopped: str | None = None  # why it ended before nsteps ("time limit (-maxh)", "TERM signal")
    minimised: str | None = None  # a minimisation's closing line
    wall_s: float | None = None  # the ended part's wall time
    started_at: float | None = None  # when the run part started (seconds since the epoch)
    first_step: int | None = None  # the first reading of this job: where the speed between ticks starts
    first_at: float | None = None
    written_at: float | None = None  # when the log was last written (seconds since the epoch, cluster clock)
    left_s: float | None = None  # seconds left at ``read_at``

    # -- derived -----------------------------------------------------------------------------------
    @property
    def minimisation(self) -> bool:
        return self.integrator in MINIMISERS

    @property
    def fraction(self) -> float | None:
        if self.step is None or not self.nsteps or self.nsteps < 0:
            return None
        return max(0.0, min(1.0, self.step / self.nsteps))

    @property
    def total_ps(self) -> float | None:
        if self.minimisation or self.dt_ps is None or self.nsteps is None or self.nsteps < 0:
            return None
        return self.nsteps * self.dt_ps

    @property
    def eta(self) -> datetime | None:
        return None if self.left_s is None else self.read_at + timedelta(seconds=self.left_s)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["read_at"] = self.read_at.isoformat()
        return d

    @classmethod
    def from_dict(cls, data: Mapping) -> "JobProgress":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["read_at"] = datetime.fromisoformat(values["read_at"])
        return cls(**values)

    def summary(self) -> dict:
        """What ``mpflow status --json`` and the artifacts show of it."""
        return {"step": self.step, "nsteps": self.nsteps, "fraction": _round(self.fraction, 4),
                "time_ps": self.time_ps, "total_ps": _round(self.total_ps, 3), "atoms": self.atoms,
                "ns_per_day": _round(self.ns_per_day, 3), "speed_from": self.speed_from,
                "left_s": _round(self.left_s, 1), "eta": self.eta.isoformat(timespec="seconds") if self.eta else None,
                "ended": self.ended, "stopped": self.stopped, "minimised": self.minimised,
                "read_at": self.read_at.isoformat(timespec="seconds"), "gromacs": self.version}


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def ns_per_day(steps: int, dt_ps: float, seconds: float) -> float:
    """Simulated nanoseconds per day of ``steps`` of ``dt_ps`` in ``seconds`` of wall time."""
    return steps * dt_ps / 1000.0 / (seconds / 86400.0)


def seconds_for(steps: int, dt_ps: float, rate_ns_per_day: float) -> float:
    """Wall seconds for ``steps`` of ``dt_ps`` at ``rate_ns_per_day``."""
    return steps * dt_ps / 1000.0 / rate_ns_per_day * 86400.0


def read_progress(prev: JobProgress | None, ev: FileEvidence, *, continuation: bool, now: datetime
                  ) -> JobProgress | None:
    """The job's progress after one reading of its log (``ev``, from the tick's probe). ``prev``: the
    progress the last tick stored (its header facts stand in for a tail-only reading);
    ``continuation``: the job continues an earlier part from its checkpoint. None when the log is
    not a GROMACS log."""
    log = ev.log
    if log is None:
        return prev
    if prev is not None and log.step is not None and prev.step is not None and log.step < prev.step:
        prev = None  # the log was replaced (a new run in the same folder): start over
    if not log.is_gromacs and log.step is None:  # no GROMACS log (or not one yet): nothing new
        return prev
    header = dict(nsteps=log.nsteps, dt_ps=log.dt_ps, atoms=log.atoms, integrator=log.integrator,
                  version=log.version)
    if prev is not None:
        header = {k: v if v is not None else getattr(prev, k) for k, v in header.items()}
    step = log.step if log.step is not None else (prev.step if prev else None)
    time_ps = log.time_ps if log.step is not None else (prev.time_ps if prev else None)
    written = ev.log_mtime if ev.log_mtime is not None else ev.probed_at
    started_at = log.started.timestamp() if log.started is not None and log.started.tzinfo is not None else (
        prev.started_at if prev else None)
    first_step, first_at = (prev.first_step, prev.first_at) if prev and prev.first_step is not None else (step, written)
    dt, nsteps = header["dt_ps"], header["nsteps"]
    minimisation = header["integrator"] in MINIMISERS
    ended = log.finished

    rate, source = None, None
    if not minimisation and dt:
        if log.ns_per_day is not None and ended:
            rate, source = log.ns_per_day, SPEED_GROMACS
        elif (not continuation and not log.resumed and started_at is not None and written is not None
              and step is not None and step > log.init_step and written - started_at >= MIN_SPAN_S):
            rate, source = ns_per_day(step - log.init_step, dt, written - started_at), SPEED_SINCE_START
        elif (first_at is not None and written is not None and step is not None and first_step is not None
              and step > first_step and written - first_at >= MIN_SPAN_S):
            rate, source = ns_per_day(step - first_step, dt, written - first_at), SPEED_BETWEEN_TICKS

    left = None
    if ended and (log.stopped is None or (nsteps is not None and step is not None and step >= nsteps)):
        left = 0.0
    elif not ended and rate and nsteps is not None and nsteps >= 0 and step is not None and dt:
        since_write = (ev.probed_at - written) if ev.probed_at is not None and written is not None else 0.0
        left = max(0.0, seconds_for(max(0, nsteps - step), dt, rate) - max(0.0, since_write))
    return JobProgress(read_at=now, step=step, time_ps=time_ps, ns_per_day=rate, speed_from=source,
                       ended=ended, stopped=log.stopped if ended else None,
                       minimised=log.minimised if minimisation else None, wall_s=log.wall_s if ended else None,
                       started_at=started_at, first_step=first_step, first_at=first_at, written_at=written,
                       left_s=left, **header)


def progress_changes(jobs: Sequence[JobRecord], observations: Mapping[str, Mapping[str, Observation]],
                     now: datetime) -> list[JobChange]:
    """The new progress of every observed job that has run (running now, or ended this tick after it
    started): one ``JobChange`` per job whose progress changed."""
    out = []
    for job in jobs:
        obs = observations.get(job.cluster, {}).get(str(job.id))
        if obs is None or obs.files is None or obs.files.log is None:
            continue
        ran = obs.state is JobState.R or (obs.state in (JobState.D, JobState.F)
                                           and (job.started is not None or obs.start is not None))
        if not ran:
            continue
        prev = JobProgress.from_dict(job.progress) if job.progress else None
        new = read_progress(prev, obs.files, continuation=job.continuation, now=now)
        if new is not None and new != prev:
            out.append(JobChange(job.id, progress=new.as_dict()))
    return out


def header_known(job: JobRecord) -> bool:
    """The job's log header (run length, time step, size) is stored: the probe reads only its tail."""
    return bool(job.progress) and job.progress.get("nsteps") is not None
