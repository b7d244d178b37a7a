"""``mpflow analyse`` on a project whose models went through real GROMACS stages: without a Prefect
server it runs the plain functions (Prefect is not even imported), with one it runs the flow; the
report of two models per mutant says plainly that nothing can be significant, and opens in Chromium.

The commands run as the user runs them (the console entry point in a subprocess, no PREFECT_* in the
environment, a Prefect home of its own) so nothing of the test process's Prefect settings leaks in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from mpflow.analysis.outputs.report import DECIMALS
from project_analysis_data import make_project

from mpflow.clusters.devcluster import CONNECTION_FILE_ENV

pytestmark = pytest.mark.slow  # the session's real system takes ~1.5 min to build

# Runs the CLI and records, when the process exits, whether Prefect or Dask were ever imported.
CLI = """\
import atexit, json, sys
def _record(path=sys.argv[1]):
    with open(path, "w") as fh:
        json.dump({m: m in sys.modules for m in ("prefect", "distributed")}, fh)
atexit.register(_record)
from mpflow.cli import app
sys.argv = ["mpflow", *sys.argv[2:]]
app()
"""


def run_cli(args: list[str], cwd: Path, connection: Path, **env_overrides) -> tuple[subprocess.CompletedProcess, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MPFLOW_PROJECT"))}
    env.update({"PREFECT_HOME": str(cwd / ".prefect-home"), CONNECTION_FILE_ENV: str(connection)})
    env.update(env_overrides)
    record = cwd / ".imports.json"
    res = subprocess.run([sys.executable, "-c", CLI, str(record), *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=600)
    return res, json.loads(record.read_text())


@pytest.fixture(scope="module")
def analysed(real_system, connection_file, tmp_path_factory):
    """``mpflow analyse --project P`` run once from another folder, with no Prefect server."""
    project, _ = make_project(tmp_path_factory.mktemp("cli") / "gpa")
    cwd = tmp_path_factory.mktemp("elsewhere")
    res, imported = run_cli(["analyse", "--project", str(project.root)], cwd, connection_file)
    return project, cwd, res, imported


def test_without_a_server_the_analysis_runs_without_prefect(analysed):
    project, cwd, res, imported = analysed
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    lines = res.stdout.splitlines()
    assert lines[0] == "16 source(s) of 4 model(s), 96 frame(s) selected, 96 new in 1 chunk(s)"
    assert re.fullmatch(r"chunk 1/1 done: 96 frame\(s\) of 16 part\(s\) in [0-9.]+ s \(96/96 new frames\)", lines[1])
    assert lines[2] == "statistics, report and notebook ..."
    assert re.fullmatch(r"analysed 96 frame\(s\) of 4 model\(s\) \(96 new\): \d+ of \d+ keys kept, 0 signature\(s\)",
                        lines[3])
    assert lines[4] == ("note: too few models for any comparison to be significant (the permutation test needs "
                        "at least 4 models per group); the report says what the numbers can and cannot show")
    assert lines[5:] == [f"report: {project.root / 'analysis' / 'report.html'}"]
    # no ephemeral server: Prefect was never imported, its home holds no database, no log line printed
    assert imported == {"prefect": False, "distributed": False}
    assert not (cwd / ".prefect-home").exists()
    assert not re.search(r"prefect|\| INFO|\| WARNING", res.stdout, re.IGNORECASE)
    out = project.root / "analysis"
    assert {p.name for p in out.iterdir()} >= {"report.html", "analysis.ipynb", "summary.json", "tables", "csv", "store"}


class _Report(HTMLParser):
    """The report's text paragraphs with class ``finding``, its tables by id, and each table's note."""

    def __init__(self):
        super().__init__()
        self.findings: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.notes: dict[str, str] = {}
        self._in, self._table, self._row, self._cell, self._last_table = None, None, None, None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "p" and a.get("class") in ("finding", "note"):
            self._in, self._text = a["class"], ""
        elif tag == "table":
            self._table = a.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag == "p" and self._in:
            if self._in == "finding":
                self.findings.append(self._text)
            elif self._last_table and self._last_table not in self.notes:
                self.notes[self._last_table] = self._text
            self._in = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._last_table, self._table = self._table, None

    def handle_data(self, data):
        if self._in:
            self._text += data
        if self._cell is not None:
            self._cell += data


def test_the_report_says_that_two_models_per_mutant_cannot_show_a_significant_difference(analysed):
    project, *_ = analysed
    out = project.root / "analysis"
    page = _Report()
    page.feed((out / "report.html").read_text())
    assert page.findings[0] == (
        "Mutants: 4 comparison(s) with 2 vs 2 model(s) and the permutation (models relabelled) test; its "
        "smallest possible p-value is 0.333, above alpha = 0.05, so no mutant difference can be significant "
        "here. At least 4 models per group are needed for this test to reach alpha = 0.05.")
    assert page.findings[1] == ("Conformations: no mutant has two classified conformations at one stage: "
                                "no conformation comparison.")
    assert page.findings[2].startswith("Stages: 12 comparison(s) with 2 vs 2 model(s) and the sign-flip")
    assert "smallest possible p-value is 0.5," in page.findings[2]
    assert page.findings[2].endswith("At least 6 models analysed at both stages are needed for this test to "
                                     "reach alpha = 0.05.")
    assert page.findings[3].startswith("With these numbers of models the tables of significant comparisons "
                                       "and signatures are necessarily empty")
    # the testability table is the Parquet table; the empty tables say why they are empty
    tb = pd.read_parquet(out / "tables" / "testability.parquet")
    shown = page.tables["testability"]
    assert len(shown) - 1 == len(tb) == 16
    assert sorted(r[shown[0].index("p_floor")] for r in shown[1:]) == sorted(
        f"{v:.{DECIMALS}f}" for v in tb["p_floor"]) == ["0.3333"] * 4 + ["0.5000"] * 12
    assert page.tables["signatures"][1:] == [] and page.tables["comparisons"][1:] == []
    assert page.notes["signatures"] == ("none: no mutant or conformation comparison can be significant with "
                                        "these numbers of models (see What these data can test).")
    assert page.notes["comparisons"] == ("none: no comparison can reach q <= 0.05 with these numbers of models "
                                         "(see What these data can test).")
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["testable_comparisons"], summary["untestable_comparisons"]) == (0, 16)
    assert summary["min_models_per_group"] == {"mutant": 4, "conformation": 4, "stage": 6}
    assert summary["stages"] == ["docked", "emmd", "prmd", "urmd"] and summary["frames"] == 96


def _browser():
    """tests/analysis/browser.py (the DevTools client the analysis tests use)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("report_browser", Path(__file__).parents[1] / "analysis" / "browser.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_report_of_a_real_run_opens_in_chromium_with_every_figure_drawn(analysed):
    browser = _browser()
    chromium_path, open_page = browser.chromium_path, browser.open_page
    if chromium_path() is None:
        pytest.skip("chromium missing: run scripts/test-deps")
    project, *_ = analysed
    page = open_page(project.root / "analysis" / "report.html")
    assert page.errors == []
    assert [i["alt"] for i in page.images] == ["heatmap docked", "heatmap emmd", "heatmap prmd", "heatmap urmd",
                                               "PCA variance", "PCA scores", "geometry"]
    for img in page.images:
        assert img["complete"] and img["width"] > 100 and img["height"] > 100 and not img["external"], img
    assert {"testability", "signatures", "groups"} <= set(page.table_ids)


def test_docked_models_only_when_no_md_stage_is_done(real_system, connection_file, tmp_path):
    project, _ = make_project(tmp_path / "p", done={})
    res, imported = run_cli(["analyse", "--workers", "1"], project.root, connection_file)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "note: no emmd/prmd/urmd stage is done yet: analysing the 4 docked model(s) only"
    assert lines[1] == "4 source(s) of 4 model(s), 4 frame(s) selected, 4 new in 1 chunk(s)"
    assert lines[-1] == f"report: {project.root / 'analysis' / 'report.html'}"
    assert imported["prefect"] is False


@pytest.mark.parametrize("args, code, message", [
    (["--stage", "prmd"], 1, "error: nothing to analyse in {root}: no prmd stage done "
                             "(`mpflow status` shows where the models are)"),
    (["--stage", "prep"], 2, "error: --stage: stage 'prep' is not analysed (stages: docked, emmd, prmd, urmd)"),
    (["--mutant", "G83A"], 2, "error: --mutant: no mutant 'G83A' in the project (mutants: GpA-WT, G83I)"),
    (["--test", "anova"], 2, "error: --test 'anova': expected permutation or welch"),
])
def test_expected_conditions_are_one_line(args, code, message, real_system, dev_master, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from mpflow.cli import app

    project, _ = make_project(tmp_path / "p", done={})
    monkeypatch.chdir(project.root)
    res = CliRunner().invoke(app, ["analyse", *args])
    assert (res.exit_code, res.output.strip().splitlines()) == (code, [message.format(root=project.root)])


def test_a_manifest_outside_a_project_needs_an_output_folder(tmp_path, monkeypatch):
    from mpflow.analysis.frames import FrameSource, write_manifest
    from typer.testing import CliRunner

    from mpflow.cli import app

    pdb = tmp_path / "m.pdb"
    pdb.write_text("END\n")
    write_manifest([FrameSource(model_id=1, mutant="A", name="m", stage="docked", topology=pdb)],
                   tmp_path / "m.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MPFLOW_PROJECT", raising=False)
    res = CliRunner().invoke(app, ["analyse", "m.csv"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        f"error: -o/--out: give an output folder (no project here: no mpflow.toml in {tmp_path}: create a "
        f"project with `mpflow init {tmp_path}`)"]


def test_with_a_server_the_analysis_is_a_flow_run(prefect_api, real_system, connection_file, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    project, _ = make_project(tmp_path / "served")
    res, imported = run_cli(["analyse", "--stage", "docked", "--stage", "emmd", "--executor", "threads"],
                            project.root, connection_file, PREFECT_API_URL=prefect_api)
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines()[0] == f"running the analysis flow on the Prefect server at {prefect_api}"
    assert res.stdout.splitlines()[-1] == f"report: {project.root / 'analysis' / 'report.html'}"
    assert imported["prefect"] is True
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=["project served: all mutants, docked, emmd"])))
    assert [r.state.type.value for r in runs] == ["COMPLETED"]
    assert runs[0].parameters["project"] == str(project.root)


def test_the_flow_analyses_the_project_by_default(prefect_api, real_system, dev_master, tmp_path, monkeypatch):
    from mpflow.analysis.run import AnalysisSettings
    from mpflow.flows.analysis import analysis_flow

    project, _ = make_project(tmp_path / "flowed", done={"emmd": [1, 2, 3, 4], "prmd": [1, 3]})
    monkeypatch.setenv("MPFLOW_PROJECT", str(project.root))  # the deployment's default, as a worker has it
    result = analysis_flow(stages=["docked", "emmd", "prmd"], executor="threads",
                           settings=AnalysisSettings(n_bootstrap=50))
    out = project.root / "analysis"
    assert (result["out_dir"], result["report"]) == (str(out), str(out / "report.html"))
    # 4 docked + 4 EMMD final structures + PRMD of models 1 and 3 (11 frames each)
    assert (result["frames"], result["models"], result["new_frames"], result["chunks"]) == (30, 4, 30, 1)
    assert result["stages"] == ["docked", "emmd", "prmd"] and (out / "analysis.ipynb").is_file()
    frames = pd.read_parquet(out / "tables" / "decomposition_frames.parquet")
    assert frames.groupby("stage", observed=True)["model_id"].unique().map(sorted).to_dict() == {
        "docked": [1, 2, 3, 4], "emmd": [1, 2, 3, 4], "prmd": [1, 3]}


def test_the_analysis_deployment_opens_on_the_project_and_its_analysis_folder(tmp_path):
    from mpflow.deployments.deploy import (
        build_deployment,
        deployment_parameters,
        form_problems,
    )
    from mpflow.deployments.registry import DEPLOYMENTS

    from mpflow.project.file import init_project

    project = init_project(tmp_path / "gpa", name="gpa", dev=True)
    [entry] = [e for e in DEPLOYMENTS if e.flow == "mpflow.flows.analysis:analysis_flow"]
    d = build_deployment(entry, project)
    assert (d.full_name, d.schedules, d.concurrency_limit) == ("analysis/gpa", [], None)
    assert d.parameters == {"project": str(project.root), "out_dir": str(project.root / "analysis")}
    flow_ = entry.load_flow()
    assert form_problems(flow_, deployment_parameters(entry, flow_, project)) == []


def test_analyse_project_is_the_plain_analysis_the_demo_ends_with(real_system, dev_master, tmp_path):
    from mpflow.commands.analyse import analyse_project
    from mpflow.models.sources import NothingToAnalyse

    project, Session = make_project(tmp_path / "demo", done={"emmd": [1, 2, 3, 4]})
    lines: list[str] = []
    report = analyse_project(project, Session, echo=lines.append, executor="threads")
    assert report == project.root / "analysis" / "report.html" and report.is_file()
    assert lines[0] == "8 source(s) of 4 model(s), 8 frame(s) selected, 8 new in 1 chunk(s)"
    assert lines[-1].startswith("note: too few models for any comparison to be significant")
    empty, Session2 = make_project(tmp_path / "empty", done={}, status={k: "waiting" for k in range(1, 5)})
    with pytest.raises(NothingToAnalyse, match=r"^nothing to analyse in .*empty: no model with status ok and "
                                               r"no emmd/prmd/urmd stage done"):
        analyse_project(empty, Session2)
