"""A stage as data: what ``[stages.NAME]`` of ``mpflow.toml`` holds, and the pipeline's four stages.

The manager and the stage flows know a stage only as a :class:`StageSpec` and its kind (protocol,
gromacs, script; see ``mpflow.stages.kinds``); :func:`default_stages` is the original design's
pipeline, written by ``mpflow init`` with tiny step counts a user raises.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from mpflow.stages.mdp import MAX_NSTEPS

#: the longest Slurm time limit a stage may ask for (a year), minutes
MAX_TIME_LIMIT_MIN = 525_600
#: Slurm keeps CPUs per task in 16 bits
MAX_CPUS_PER_TASK = 65_535


class StageSpec(BaseModel):
    """One modelling stage, as data: the manager and the stage flows read only this."""

    # strict: a value of the wrong type is refused, never converted (``nsteps = true`` is not 1 step)
    model_config = ConfigDict(extra="forbid", strict=True)

    kind: Literal["protocol", "gromacs", "script"] = Field(
        description="protocol: steps with declared files run as a job (preparation); gromacs: grompp on the master, mdrun on the "
                    "clusters; script: shell lines run as a job on the clusters.")
    after: str | None = Field(None, description="The stage that must be done first (none: the model itself).")
    clusters: Literal["all", "master"] = Field("all", description="Where jobs run: every cluster (the "
                                               "first to start wins) or the master only.")
    mdp: str | None = Field(None, description="gromacs: .mdp template (emmd, prmd, urmd or a file in the project).")
    nsteps: int | None = Field(None, gt=0, le=MAX_NSTEPS, description="gromacs: number of MD steps.")
    mdp_overrides: dict[str, str | bool | int | float] = Field(default_factory=dict,
                                                        description="gromacs: more .mdp parameters.")
    commands: list[str] = Field(default_factory=list, description="script: shell lines of the job.")
    protocol: str | None = Field(None, description="protocol: protocol name (mpflow's `prep`, or a "
                                 "protocol file in the project's templates/ folder).")
    params: dict[str, str | bool | int | float | list | dict] = Field(default_factory=dict,
                                                        description="protocol: parameters of the protocol.")
    run: Literal["slurm", "local"] = Field("slurm", description="protocol: as a Slurm job on the master (or every "
                                           "cluster with clusters = \"all\"), or on this machine (`local`: a "
                                           "workstation master without Slurm, in a pool of local_workers processes).")
    local_workers: int = Field(2, ge=1, le=64, description="protocol with run = \"local\": preparations at once.")
    retry_budget: int = Field(3, ge=1, le=100, description="Counted failed attempts allowed per cluster.")
    time_limit_min: int = Field(60, ge=1, le=MAX_TIME_LIMIT_MIN, description="Slurm time limit of each job, minutes.")
    cpus_per_task: int = Field(1, ge=1, le=MAX_CPUS_PER_TASK, description="CPUs per job.")

    @model_validator(mode="after")
    def _names_a_template(self) -> "StageSpec":
        if self.kind == "gromacs" and not self.mdp:
            raise ValueError("names no template: set mdp (emmd, prmd, urmd or a .mdp file)")
        if self.kind == "gromacs" and self.nsteps is None:
            raise ValueError("set nsteps (the number of MD steps)")
        if self.kind == "script" and not self.commands:
            raise ValueError("names no template: set commands (the job's shell lines)")
        if self.kind == "protocol" and not self.protocol:
            raise ValueError("names no template: set protocol")
        return self


def default_stages() -> dict[str, StageSpec]:
    """The modelling pipeline of the original design, with tiny step counts a user raises."""
    return {
        "prep": StageSpec(kind="protocol", protocol="prep", clusters="master"),
        "emmd": StageSpec(kind="gromacs", after="prep", mdp="emmd", nsteps=500, time_limit_min=60),
        "prmd": StageSpec(kind="gromacs", after="emmd", mdp="prmd", nsteps=5000, time_limit_min=120),
        "urmd": StageSpec(kind="gromacs", after="prmd", mdp="urmd", nsteps=50000, time_limit_min=2880),
    }
