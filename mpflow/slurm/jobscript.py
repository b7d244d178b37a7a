"""Job scripts: one typed options model and one function that renders a Slurm batch script.

The header (``#SBATCH`` lines) is built here from the options, flags sorted and every value checked
when the options are built (``mpflow.validation``), so nothing a user typed can break out of a
directive, and ``extra_sbatch`` cannot override what mpflow owns (the job name, ``--chdir``,
``--output``...). The body comes from a Jinja2 template: mpflow's own (``templates/jobscript.sh.j2``)
or the cluster's ``cpu_template``/``gpu_template``, rendered in Jinja2's sandbox (a template saved in
a cluster block is data, not code: it cannot reach Python's internals). Slots: header, preamble (module loads), commands, and the
mdrun line (the cluster's ``mdrun_command``: ``gmx mdrun``, ``srun gmx_mpi mdrun``..., with the job's tasks) (GPU variant adds ``-nb gpu`` and ``--gres``; continuation adds ``-cpi`` when a
checkpoint exists, with ``-maxh`` under the time limit). The script writes an exit-code file on
any exit (its exit code and job id) and carries the cluster name in every log name, since job ids
collide across clusters.
"""

from __future__ import annotations

import shlex
from importlib import resources

from pydantic import ConfigDict, Field, field_validator, model_validator

from mpflow.clusters.settings import ClusterSettings, StageResources
from mpflow.slurm.job_files import INPUT_REFUSED_EXIT  # noqa: F401  (the job-script exit codes, together)
from mpflow.slurm.mdrun import mdrun_line
from mpflow.templating import TemplateFailure, from_text, render, sandbox
from mpflow.validation import SBATCH_VALUE, check, check_cluster_path, check_tag

#: exit code of a job that finds its inputs missing or different from the master's (EX_DATAERR);
#: the manager re-sends the inputs instead of counting a failed attempt
INPUTS_MISSING_EXIT = 65

class JobScriptOptions(StageResources):
    """What one job needs: the resources a cluster may set per stage (``StageResources``) and the rest.
    Unknown options are refused with the list of valid ones."""

    model_config = ConfigDict(extra="forbid")

    job_dir: str = Field(description="Absolute folder the job runs in (the model's stage folder).")
    stage: str = Field(description="Stage name, e.g. emmd; also the GROMACS -deffnm.", pattern=r"^[A-Za-z0-9_-]+$")
    comment: str = Field("None", description="The job's Slurm --comment (the manager gives mutant:group:name:stage), "
                         "also in the script's first comment line; squeue shows it.")
    commands: list[str] = Field(default_factory=list,
                                description="Shell lines run before mdrun (mpflow writes them, quoted).")
    mdrun: bool = Field(True, description="End with `gmx mdrun -deffnm <stage>` (continuation, -maxh, GPU flags).")
    mdrun_args: list[str] = Field(default_factory=list, description="More mdrun arguments, each quoted.")
    continuation: bool = Field(True, description="Continue from a checkpoint (-cpi) when one exists.")

    @model_validator(mode="before")
    @classmethod
    def _known_options_only(cls, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                raise ValueError(f"unknown job-script option(s) {unknown}; valid: {sorted(cls.model_fields)}")
        return data

    @field_validator("job_dir")
    @classmethod
    def _safe_job_dir(cls, value: str) -> str:
        return check_cluster_path(value, "job_dir")

    @field_validator("comment")
    @classmethod
    def _safe_comment(cls, value: str) -> str:
        return check_tag(value)

    @property
    def maxh_effective(self) -> float:
        return self.maxh if self.maxh is not None else round(self.time_limit_min * 0.95 / 60, 3)


def stage_job_options(settings: ClusterSettings, *, stage: str, job_dir: str, comment: str = "None",
                      **overrides) -> JobScriptOptions:
    """Options for one stage's job on one cluster: mpflow's defaults, then the cluster's
    ``prefer`` (GPU or CPU) and ``stage_resources[stage]``, then ``overrides``."""
    resources = {"gpu": settings.prefer == "gpu", **settings.stage_resources.get(stage, {})}
    return JobScriptOptions(**{"stage": stage, "job_dir": job_dir, "comment": comment, **resources, **overrides})


def log_name(stage: str, cluster: str) -> str:
    """Slurm output name: stage and cluster are in it because job ids collide across clusters."""
    return f"{stage}.{cluster}.%j.out"


def exitcode_name(stage: str, cluster: str) -> str:
    return f"{stage}.{cluster}.exitcode"


def reason_name(stage: str, cluster: str) -> str:
    """The file a job that refuses its input writes its one-line reason to (read by the tick's probe)."""
    return f"{stage}.{cluster}.reason"


def sbatch_header(settings: ClusterSettings, opts: JobScriptOptions) -> list[str]:
    flags: dict[str, str | None] = {
        "chdir": opts.job_dir,
        "cpus-per-task": str(opts.cpus_per_task),
        "nodes": str(opts.nodes),
        "ntasks": str(opts.ntasks),
        "output": log_name(opts.stage, settings.name),
        "time": str(opts.time_limit_min),
    }
    if opts.mem:
        flags["mem"] = opts.mem
    if settings.partition:
        flags["partition"] = settings.partition
    if settings.account:
        flags["account"] = settings.account
    if opts.gpu:
        flags["gres"] = f"gpu:{opts.gpus}"
    flags.update(opts.extra_sbatch)
    lines = []
    for key in sorted(flags):
        value = flags[key]
        if value:  # checked when the options and settings were built; checked again as the last line of defence
            check(value, SBATCH_VALUE, f"--{key}", "only A-Z, a-z, 0-9 and _.,:=/@%+-[] in an #SBATCH line")
        lines.append(f"#SBATCH --{key}={value}" if value else f"#SBATCH --{key}")
    return lines


def resources_key(settings: ClusterSettings, opts: JobScriptOptions) -> str:
    """What a job asks of its cluster, as one line (its ``#SBATCH`` flags but the folder and log name,
    which differ per model): ``--cpus-per-task=1 --nodes=1 --ntasks=1 --partition=short --time=5``. A copy
    that could not start with these is not sent again with the same."""
    flags = [ln.removeprefix("#SBATCH ") for ln in sbatch_header(settings, opts)]
    return " ".join(f for f in flags if not f.startswith(("--chdir=", "--output=")))


def _environment():
    return sandbox(filters={"q": lambda v: shlex.quote(str(v))})


def default_template() -> str:
    return resources.files("mpflow").joinpath("templates/jobscript.sh.j2").read_text()


def render_job_script(settings: ClusterSettings, opts: JobScriptOptions) -> str:
    """The whole batch script for ``opts`` on cluster ``settings``. A template that is unsafe or does not
    render raises ``ValueError`` naming the cluster, the setting it came from, the line and the reason."""
    custom = settings.gpu_template if opts.gpu else settings.cpu_template
    setting = ("gpu_template" if opts.gpu else "cpu_template") if custom else "mpflow's default template"
    try:
        template = from_text(_environment(), custom or default_template(), setting)
        return render(template, dict(
            header="\n".join(sbatch_header(settings, opts)),
            cluster=settings.name,
            stage=opts.stage,
            deffnm=opts.stage,
            comment=opts.comment,
            job_dir=opts.job_dir,
            exitcode_file=exitcode_name(opts.stage, settings.name),
            preamble=settings.preamble,
            commands=opts.commands,
            gpu=opts.gpu,
            mdrun=opts.mdrun,
            # the cluster's own way to start mdrun (gmx mdrun, srun gmx_mpi mdrun...) with this job's tasks
            mdrun_command=mdrun_line(settings.mdrun_command, ntasks=opts.ntasks, cpus_per_task=opts.cpus_per_task),
            mdrun_args=opts.mdrun_args,
            cpus_per_task=opts.cpus_per_task,
            continuation=opts.continuation,
            maxh=opts.maxh_effective,
            options=opts,
        ))
    except TemplateFailure as exc:
        raise ValueError(f"cluster {settings.name}: {exc}") from None
