"""The modelling pipeline for one project: manager ticks until the models are through their stages
(or through ``until``), with a progress line per round.

Plain functions, used by ``mpflow run`` directly and by the ``prepare`` and ``pipeline`` flows with
Prefect tasks around the I/O. Preparation is a stage the manager submits as Slurm jobs like any other;
only a protocol stage the project runs on this machine (``run = "local"``) is prepared here, in
batches in the background (``mpflow.manager.local_prep``), while the ticks go on. There is no
barrier across models: each model moves to its next stage as soon as its previous one is done.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections import Counter, defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from sqlalchemy import select

from mpflow.errors import file_problem
from mpflow.project.file import Project, ProjectError
from mpflow.manager.local_prep import Interrupted, LocalJob, end_all, run_local
from mpflow.manager.tick import TickScope
from mpflow.stages.prep import place_model_input
from mpflow.stages.protocols import MissingInputError, check_protocol
from mpflow.states import FINAL, EventKind, ModelStatus, StageState
from mpflow.store.leases import acquire_lease, lease_holder, release_lease
from mpflow.store.records import (
    StageChange,
    StageRecord,
    Transition,
    ensure_model_stages,
    ok_model_ids,
    record_events,
    stage_records,
    stage_states,
    update_stages,
)
from mpflow.store.schema import Model, ModelStage
from mpflow.tags import MODEL_FILE, ModelTag

log = logging.getLogger(__name__)



# ------------------------------------------------------------------------------------------------
# Preparation on this machine (protocol stages with run = "local")
# ------------------------------------------------------------------------------------------------

def protocol_stages(project: Project) -> list[str]:
    """The protocol stages this machine prepares (``run = "local"``); the others are Slurm jobs."""
    return [n for n in project.config.stage_order() if project.config.stages[n].kind == "protocol"
            and project.config.stages[n].run == "local"]


LOCAL_PREPARATION_LEASE = "local-preparation"
"""Held by the one ``mpflow run`` that prepares models on this machine (``run = "local"``): a second run at the
same time ticks but prepares nothing, so no model is prepared twice in one folder. A run killed with SIGKILL
lets it go with its process (the lease's holder is dead)."""
LOCAL_PREPARATION_TTL_S = 24 * 3600.0


def preparation_candidates(Session, project: Project, *, mutants: Sequence[str] | None = None,
                           limit: int | None = None) -> list[StageRecord]:
    """Protocol model-stages waiting whose prerequisites are met (model ok, previous stage done)."""
    stages = protocol_stages(project)
    if not stages:
        return []
    with Session.begin() as s:
        ensure_model_stages(s, project.config.stage_order())
        ok = ok_model_ids(s)
        states = stage_states(s)
        waiting = stage_records(s, states=[StageState.WAITING], stages=stages)
    out = []
    for st in waiting:
        if mutants and st.mutant not in mutants:
            continue
        after = project.config.stages[st.stage].after
        if (after is None and st.model_id in ok) or (after is not None and states.get((st.model_id, after)) is StageState.DONE):
            out.append(st)
    return out[:limit] if limit else out


def preparation_workdirs(project: Project, master, items: Iterable[StageRecord]) -> list[tuple[StageRecord, Path]]:
    """Each item's protocol folder on the master, with the model's structure placed as its input. A master
    reached over SSH has no folders here: a :class:`ProjectError` says so (and stops the run)."""
    out = []
    for st in items:
        if master.kind != "local":
            raise ProjectError(f"stage {st.stage}: run = \"local\" prepares models in the master's folders on "
                               f"this machine, and the master {master.name} is reached over SSH: remove "
                               f"`run = \"local\"` from [stages.{st.stage}] (it then runs as a Slurm job on "
                               f"{master.name})")
        model_dir = Path(ModelTag(st.mutant, st.group, st.name).model_dir(master.workdir))
        place_model_input(model_dir, model_dir / MODEL_FILE)
        out.append((st, model_dir / st.stage))
    return out


def record_preparation(Session, items: Sequence[StageRecord], held: dict[int, str | None]) -> list[Transition]:
    """Write each prepared item's state (done, or held with its reason) and the events."""
    changes, transitions = [], []
    for st in items:
        reason = held.get(st.id)
        new = StageState.DONE if reason is None else StageState.HELD
        changes.append(StageChange(st.id, state=new, reason=reason))
        transitions.append(Transition(EventKind.DONE if reason is None else EventKind.HELD, st.model_id, st.stage, None, None,
                                      st.state, new, reason or "prepared on the master"))
    with Session.begin() as s:
        update_stages(s, changes)
        record_events(s, transitions)
    return transitions


def prepare_locally(project: Project, Session, master, items: Sequence[StageRecord],
                    log_line: Callable[[str], None] | None = None) -> list[Transition]:
    """Run each item's protocol on this machine, ``local_workers`` at once, each its own process
    (``mpflow.manager.local_prep``); an interrupt ends them and leaves the items waiting. A master
    reached over SSH has no folders here: a :class:`ProjectError` says so and stops the run."""
    held: dict[int, str | None] = {}
    search = tuple(str(d) for d in [project.root / "templates"] if d.is_dir())
    jobs = []
    for st in items:
        spec = project.config.stages[st.stage]
        check_protocol(spec.protocol, spec.params, search_dirs=search)  # a definition error stops the run
        try:
            [(_, workdir)] = preparation_workdirs(project, master, [st])
            jobs.append(LocalJob(st.id, workdir, st.stage, spec.protocol, dict(spec.params), search))
        except MissingInputError as exc:
            held[st.id] = exc.reason
        except OSError as exc:  # the master's folder cannot be written (permissions, a full or read-only disk)
            held[st.id] = file_problem(exc, f"{st.stage} on the master {master.name}")
    workers = max((project.config.stages[st.stage].local_workers for st in items), default=1)
    try:
        held.update(run_local(jobs, workers,
                              on_done=(lambda job, why: log_line(f"[{job.stage}] {job.folder}: {why or 'prepared'}"))
                              if log_line else None))
    except Interrupted:  # Ctrl-C: the items stay waiting, prepared again by the next run
        return []
    return record_preparation(Session, items, held)


# ------------------------------------------------------------------------------------------------
# Progress
# ------------------------------------------------------------------------------------------------

@dataclass
class Progress:
    """Model-stage counts per mutant, stage and state (only the models the run is about)."""

    counts: dict[str, dict[str, Counter]] = field(default_factory=dict)
    stage_order: list[str] = field(default_factory=list)

    def done(self, until: str | None = None) -> bool:
        """Every model through ``until`` (default: the last stage), or stopped for good before it."""
        if not self.counts:
            return True
        stages = self.stage_order[: self.stage_order.index(until) + 1] if until else self.stage_order
        return all(state in FINAL for per_stage in self.counts.values() for stage in stages
                   for state, n in per_stage.get(stage, Counter()).items() if n)

    def line(self) -> str:
        parts = []
        for mutant, per_stage in sorted(self.counts.items()):
            cells = []
            for stage in self.stage_order:
                c = per_stage.get(stage, Counter())
                total = sum(c.values())
                done = c.get(StageState.DONE, 0)
                extra = [f"{n} {state}" for state, n in sorted(c.items())
                         if state in (StageState.ACTIVE, StageState.HELD, StageState.FAILED,
                                      StageState.FINISHING, StageState.READY) and n]
                cells.append(f"{stage} {done}/{total}" + (f" ({', '.join(extra)})" if extra else ""))
            parts.append(f"{mutant}: " + " · ".join(cells))
        return " | ".join(parts)


def progress(Session, project: Project, mutants: Sequence[str] | None = None) -> Progress:
    order = project.config.stage_order()
    counts: dict[str, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    with Session() as s:
        rows = s.execute(select(Model.mutant, Model.status, ModelStage.model_id, ModelStage.stage, ModelStage.state)
                         .join(Model, Model.id == ModelStage.model_id)).all()
    blocked: set[int] = set()
    for mutant, status, mid, stage, state in rows:
        if state in (StageState.HELD, StageState.FAILED) or status != ModelStatus.OK:
            blocked.add(mid)
    for mutant, status, mid, stage, state in rows:
        if mutants and mutant not in mutants:
            continue
        if mid in blocked and state == StageState.WAITING:
            state = StageState.BLOCKED  # behind a held or failed stage, or a model that is not ok
        counts[mutant][stage][state] += 1
    return Progress({m: dict(v) for m, v in counts.items()}, order)


# ------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------

@dataclass
class PipelineResult:
    progress: Progress
    rounds: int
    seconds: float
    timed_out: bool = False


def run_pipeline(project: Project, Session, *, tick: Callable[[TickScope], object],
                 prepare: Callable[[list], object] | None = None,
                 mutants: Sequence[str] | None = None, until: str | None = None, interval_s: float | None = None,
                 timeout_s: float | None = None, prepare_batch: int | None = None,
                 echo: Callable[[str], None] = print) -> PipelineResult:
    """Tick until every selected model is through ``until`` (default: the last stage).

    ``tick(scope)`` runs one manager tick that starts nothing past ``until`` (``TickScope``): so when
    the run returns, no copy it submitted of a later stage is queued anywhere. ``prepare(items)``
    prepares a batch of the protocol model-stages this machine runs (``run = "local"``; a batch of
    ``prepare_batch``, default the stage's ``local_workers``); it runs in a background thread (with the
    caller's context, so Prefect tasks called there belong to the caller's flow run) while the manager
    keeps ticking. Each round's tick comes before its preparation batch, so the project's folders are
    claimed (``mpflow.project.claim``) before anything is prepared in them.
    Between rounds it waits ``interval_s`` (default: the manager's interval), less the round's time."""
    interval_s = project.config.manager.interval_s if interval_s is None else interval_s
    scope = TickScope(until)
    if prepare_batch is None:
        prepare_batch = max([project.config.stages[n].local_workers for n in protocol_stages(project)], default=1)
    t0 = time.monotonic()
    rounds = 0
    last_line = ""
    running: Future | None = None
    holder = lease_holder()
    said_busy = False
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mpflow-prepare") as pool:
        try:
            while True:
                rounds += 1
                started = time.monotonic()
                if running is not None and running.done():
                    finished, running = running, None
                    release_lease(Session, LOCAL_PREPARATION_LEASE, holder)
                    finished.result()  # a definition error (bad protocol) stops the run here
                tick(scope)  # first: the first tick claims the project's folders before preparation writes there
                if running is None and prepare is not None:
                    batch = preparation_candidates(Session, project, mutants=mutants, limit=prepare_batch)
                    if batch and not acquire_lease(Session, LOCAL_PREPARATION_LEASE, holder, LOCAL_PREPARATION_TTL_S):
                        if not said_busy:
                            echo("another `mpflow run` is preparing this project's models on this machine: this run "
                                 "waits for it")
                            said_busy = True
                        batch = []
                    if batch:
                        echo(f"preparing {', '.join(f'{b.mutant}/{b.name}' for b in batch)} on this machine")
                        running = pool.submit(contextvars.copy_context().run, prepare, batch)
                prog = progress(Session, project, mutants)
                line = prog.line()
                if line != last_line:
                    echo(f"[{time.monotonic() - t0:6.0f} s] {line}")
                    last_line = line
                if running is None and prog.done(until):
                    return PipelineResult(prog, rounds, time.monotonic() - t0)
                if timeout_s is not None and time.monotonic() - t0 > timeout_s:
                    if running is not None:
                        running.result()
                    return PipelineResult(prog, rounds, time.monotonic() - t0, timed_out=True)
                time.sleep(max(0.0, interval_s - (time.monotonic() - started)))
        except KeyboardInterrupt:  # the local preparations end too; their models stay waiting
            end_all()
            raise
        finally:
            if prepare is not None:
                release_lease(Session, LOCAL_PREPARATION_LEASE, holder)
