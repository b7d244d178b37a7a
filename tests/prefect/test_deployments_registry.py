"""The deployment registry: every flow deployed (or listed as a subflow), every UI form usable as it opens,
and what one entry becomes for a project (names, schedule, limit, defaults) — built without a server."""

from __future__ import annotations

import importlib
import pkgutil

import mpflow.flows
import pytest
from mpflow.deployments.deploy import (
    build_deployment,
    deployment_parameters,
    form_problems,
    work_pool_name,
)
from mpflow.deployments.registry import DEPLOYMENTS, NOT_DEPLOYED, FlowDeployment
from prefect import Flow, flow
from pydantic import BaseModel, Field

from mpflow.project.file import init_project


def _flows_in_package() -> dict[str, Flow]:
    found = {}
    for info in pkgutil.iter_modules(mpflow.flows.__path__, prefix="mpflow.flows."):
        module = importlib.import_module(info.name)
        for attribute, value in vars(module).items():
            if isinstance(value, Flow) and value.__module__ == module.__name__:
                found[f"{module.__name__}:{attribute}"] = value
    return found


@pytest.fixture
def project(tmp_path):
    return init_project(tmp_path / "gpa", name="gpa", dev=True)


def test_every_flow_in_mpflow_flows_has_a_registry_entry_or_is_a_listed_subflow():
    registered = {entry.flow for entry in DEPLOYMENTS}
    missing = sorted(set(_flows_in_package()) - registered - NOT_DEPLOYED)
    assert missing == [], f"add one FlowDeployment per flow to mpflow/deployments/registry.py: {missing}"
    assert len(registered) == len(DEPLOYMENTS), "a flow is in the registry twice"


def test_the_manager_is_deployed():
    assert "mpflow.flows.manager:manager_flow" in {entry.flow for entry in DEPLOYMENTS}


@pytest.mark.parametrize("entry", DEPLOYMENTS, ids=lambda e: e.flow)
def test_every_parameter_of_a_deployed_flow_has_a_default_and_a_description(entry, project):
    flow_ = entry.load_flow()
    assert form_problems(flow_, deployment_parameters(entry, flow_, project)) == []


def test_form_problems_names_a_parameter_without_default_and_one_without_description():
    @flow(name="toy")
    def toy(manifest: str, chunk_frames: int = 100):
        """A toy.

        Args:
            manifest: Frames to read.
        """

    assert form_problems(toy, {}) == [
        "toy: parameter 'manifest' has no default (give one in the registry entry)",
        "toy: parameter 'chunk_frames' has no description (add it to the flow's Args:)",
    ]
    assert form_problems(toy, {"manifest": "frames.json"}) == [
        "toy: parameter 'chunk_frames' has no description (add it to the flow's Args:)"]


class Knobs(BaseModel):
    """A toy model parameter (at module level: the flow's annotations are resolved here)."""

    alpha: float = Field(0.05, description="False-discovery rate.")
    seed: int = 0


def test_form_problems_names_a_field_of_a_model_parameter_without_description():
    @flow(name="toy")
    def toy(knobs: Knobs = Knobs()):
        """A toy.

        Args:
            knobs: What to compute.
        """

    assert form_problems(toy, {}) == [
        "toy: field Knobs.seed has no description (give it Field(description=...))"]


def test_the_analysis_settings_are_one_model_parameter_with_the_science_defaults():
    from mpflow.analysis.run import AnalysisSettings
    from mpflow.analysis.statistics.occurrence import StatsOptions
    from mpflow.flows.analysis import analysis_flow

    schema = analysis_flow.parameters.model_dump()
    settings = schema["properties"]["settings"]
    assert settings["default"] == AnalysisSettings().model_dump(mode="json")
    assert settings["default"]["alpha"] == StatsOptions.alpha
    fields = schema["definitions"]["AnalysisSettings"]["properties"]
    assert set(fields) == set(AnalysisSettings.model_fields) and "alpha" not in schema["properties"]


def test_the_manager_entry_becomes_a_15_s_schedule_with_one_run_at_a_time(project):
    [entry] = [e for e in DEPLOYMENTS if e.flow == "mpflow.flows.manager:manager_flow"]
    d = build_deployment(entry, project)
    assert (d.flow_name, d.name, d.full_name) == ("manager", "gpa", "manager/gpa")
    assert d.entrypoint == "mpflow.flows.manager.manager_flow"  # a module path: no file path of this checkout
    assert d.work_pool_name == work_pool_name(project) == "mpflow-gpa"
    assert d.parameters == {"project": str(project.root)}
    assert [s.schedule.interval.total_seconds() for s in d.schedules] == [15.0]
    assert (d.concurrency_limit, d.concurrency_options.collision_strategy.value) == (1, "CANCEL_NEW")
    assert d.job_variables == {"working_dir": str(project.root), "env": {"MPFLOW_PROJECT": str(project.root)}}
    assert set(d.tags) == {"mpflow", "gpa", "manager"}
    assert d._parameter_openapi_schema.properties["project"]["description"].startswith("Project folder")


def test_the_manager_interval_comes_from_the_project_file(project):
    project.update_file(lambda doc: doc["manager"].__setitem__("interval_s", 30))
    [entry] = [e for e in DEPLOYMENTS if e.one_at_a_time]
    assert [s.schedule.interval.total_seconds() for s in build_deployment(entry, project).schedules] == [30.0]


def test_an_on_demand_entry_has_no_schedule_nor_limit_and_its_own_defaults(project):
    entry = FlowDeployment("mpflow.flows.manager:manager_flow", "on demand", parameters=lambda p: {"project": "x"})
    d = build_deployment(entry, project)
    assert (d.schedules, d.concurrency_limit, d.parameters) == ([], None, {"project": "x"})


def test_the_models_form_opens_on_the_first_mutant_and_its_built_models(project):
    from mpflow.project.mutants import example_mutant

    [entry] = [e for e in DEPLOYMENTS if e.flow == "mpflow.flows.models:models_flow"]
    assert build_deployment(entry, project).parameters == {"project": str(project.root), "mutant": "", "paths": []}
    project.add_mutant(example_mutant("GpA-WT"))
    d = build_deployment(entry, project)
    assert (d.full_name, d.schedules, d.concurrency_limit) == ("models/gpa", [], None)
    assert d.parameters == {"project": str(project.root), "mutant": "GpA-WT",
                            "paths": [str(project.root / "built" / "GpA-WT")]}
