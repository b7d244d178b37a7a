"""The Prefect artifacts of the manager and pipeline flows: what a user sees of a project in the UI.

- ``manager-tick`` (markdown, every tick): what the tick did, model-stages per state and cluster, the
  running jobs with their steps, simulated time, ns/day and expected end, each cluster's speed,
  what dual submission bought, and the forecast;
- ``mpflow-<project>-progress`` (a progress bar): model-stages done of all (of the run's mutants);
  the manager flow makes one per tick, the pipeline flow one per run, updated every tick;
- ``mpflow-<project>-stages`` (a table): model-stages per mutant × stage × state, made again when
  the counts change.

The progress and table artifacts link the project's latest analysis report (its file and the
``analysis-report`` artifact the analysis flow leaves).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from mpflow.manager.pipeline import Progress
from mpflow.manager.status import (
    clock_text,
    count_jobs_by_stage_state_cluster,
    progress_text,
    project_summary,
    stage_statuses,
)
from mpflow.manager.tick import TickReport
from mpflow.project.file import Project
from mpflow.states import StageState
from mpflow.store.schema import utcnow

RUNNING_ROWS = 50
REPORT_ARTIFACT = "analysis-report"  # the key the analysis flow gives its report's link


def artifact_key(project: Project, what: str) -> str:
    """``mpflow-<project>-<what>`` in the characters a Prefect artifact key may hold."""
    slug = re.sub(r"[^a-z0-9-]+", "-", project.config.project.name.lower()).strip("-") or "project"
    return f"mpflow-{slug}-{what}"


def report_markdown(project: Project) -> str:
    """Where the project's latest analysis report is (or how to make one)."""
    report = project.root / "analysis" / "report.html"
    if not report.is_file():
        return "No analysis report yet: `mpflow analyse` (or the analysis deployment) writes one."
    when = datetime.fromtimestamp(report.stat().st_mtime, UTC).astimezone()
    return (f"Latest analysis report: [{report}]({report.as_uri()}) (written {when:%Y-%m-%d %H:%M}); "
            f"in the UI: the [{REPORT_ARTIFACT}](/artifacts/key/{REPORT_ARTIFACT}) artifact.")


def progress_numbers(prog: Progress) -> tuple[int, int, int]:
    """(model-stages done, all of them, active ones) over the run's mutants."""
    counts = Counter()
    for per_stage in prog.counts.values():
        for c in per_stage.values():
            counts.update(c)
    return counts[StageState.DONE], sum(counts.values()), counts[StageState.ACTIVE]


def progress_description(project: Project, prog: Progress, forecast: str) -> str:
    done, total, active = progress_numbers(prog)
    return (f"**{done} of {total} model-stages done**, {active} active · {forecast}\n\n{report_markdown(project)}")


def stage_table(prog: Progress) -> list[dict]:
    """One row per mutant × stage × state: how many model-stages."""
    rows = []
    for mutant, per_stage in sorted(prog.counts.items()):
        for stage in prog.stage_order:
            for state, n in sorted(per_stage.get(stage, Counter()).items()):
                if n:
                    rows.append({"mutant": mutant, "stage": stage, "state": str(state), "model-stages": n})
    return rows


class ProgressArtifacts:
    """The progress and table artifacts of one flow run: :meth:`publish` after every tick creates them
    the first time, then updates the progress bar and makes the table again when the counts changed."""

    def __init__(self, project: Project):
        self.project = project
        self.progress_id: UUID | None = None
        self.last_rows: list[dict] | None = None

    def publish(self, prog: Progress, forecast: str) -> None:
        done, total, _ = progress_numbers(prog)
        percent = 100.0 * done / total if total else 100.0
        description = progress_description(self.project, prog, forecast)
        if self.progress_id is None:
            self.progress_id = create_progress_artifact(percent, key=artifact_key(self.project, "progress"),
                                                        description=description)
        else:
            update_progress_artifact(self.progress_id, percent, description=description)
        rows = stage_table(prog)
        if rows != self.last_rows:
            create_table_artifact(rows, key=artifact_key(self.project, "stages"),
                                  description=f"Model-stages per mutant, stage and state. {report_markdown(self.project)}")
            self.last_rows = rows


def tick_markdown(report: TickReport, project: Project, Session, mutants: list[str] | None = None) -> str:
    """The ``manager-tick`` artifact: see this module's docstring."""
    now = utcnow()
    with Session() as s:
        counts = count_jobs_by_stage_state_cluster(s)
        statuses = stage_statuses(s, stage_order=project.config.stage_order())
        summary = project_summary(s, project, now=now)
    lines = [f"**{report.summary()}**", "", "| stage | state | cluster | jobs |", "|---|---|---|---|"]
    lines += [f"| {st} | {state} | {c} | {n} |" for st, state, c, n in counts]
    running = [r for r in statuses if r.running and (not mutants or r.mutant in mutants)]
    if running:
        lines += ["", f"Running jobs ({len(running)}), from their logs:", "",
                  "| model | stage | cluster | progress |", "|---|---|---|---|"]
        lines += [f"| {r.tag} | {r.stage} | {r.progress_cluster or '-'} | "
                  f"{progress_text(r.progress, now) if r.progress else 'no log read yet'} |"
                  for r in running[:RUNNING_ROWS]]
        if len(running) > RUNNING_ROWS:
            lines.append(f"\n... and {len(running) - RUNNING_ROWS} more (`mpflow status --json`)")
    dual = summary["clusters"]

    def med(d):
        return "-" if not d["n"] else f"{d['median_s']} s (n={d['n']})"

    def rate(d):
        return "-" if d["win_rate"] is None else f"{d['win_rate']:.0%}"

    lines += ["", "What dual submission bought (`mpflow status --summary`):", "",
              "| cluster | won | win rate | median queue wait | losers cancelled | their median wait "
              "| core-hours lost | winner start → loser cancel |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {c} | {d['won']} | {rate(d)} | {med(d['queue_wait'])} | {d['cancelled_losers']} | "
              f"{med(d['loser_wait_at_cancel'])} | {d['core_hours_lost']} | {med(d['winner_start_to_loser_cancel'])} |"
              for c, d in dual.items()]
    speed = [r for d in dual.values() for r in d["speed"]]
    if speed:
        lines += ["", "Speed of finished runs (GROMACS's ns/day):", "",
                  "| cluster | stage | atoms | ns/day (median) | low-high | runs |", "|---|---|---|---|---|---|"]
        for r in speed:
            size = f"~{r['atoms']:,}" if r["atoms"] else "?"
            lines.append(f"| {r['cluster']} | {r['stage']} | {size} | {r['ns_per_day_median']:g} | "
                         f"{r['ns_per_day_low']:g}-{r['ns_per_day_high']:g} | {r['runs']} |")
    lines += [f"- {line}" for line in summary["faster"]]
    lines += ["", f"**Forecast**: {summary['forecast']['sentence']}"]
    actions = Counter(t.kind for t in report.transitions)
    if actions:
        lines += ["", "| transition | count |", "|---|---|"] + [f"| {k} | {n} |" for k, n in sorted(actions.items())]
    if report.unreachable:
        lines += ["", "Unreachable this tick:"] + [f"- {c}: {why}" for c, why in report.unreachable.items()]
    lines += ["", f"_{clock_text(now, now)}_ · {report_markdown(project)}"]
    return "\n".join(lines)


def publish_tick(report: TickReport, project: Project, Session) -> None:
    create_markdown_artifact(key="manager-tick", markdown=tick_markdown(report, project, Session),
                             description="Model-stages per state and cluster, running jobs, and what this tick did")
