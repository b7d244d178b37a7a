"""Job scripts: golden renders for the CPU and GPU variants, refusal of unsafe input when options and
settings are built, and templates rendered in the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mpflow.clusters.settings import RESOURCE_KEYS, ClusterSettings, validation_message
from mpflow.slurm.jobscript import (
    JobScriptOptions,
    render_job_script,
    stage_job_options,
)

DATA = Path(__file__).resolve().parents[1] / "data"
CLUSTER = ClusterSettings(name="alpha", kind="local", workdir="/scratch/me/mpflow-work", partition="cpu",
                          preamble=["module load gromacs/2022.5"])
OPTIONS = dict(job_dir="/scratch/me/mpflow-work/WT/Conformation1/model_1/prmd", stage="prmd", comment="Conformation1",
               time_limit_min=120, cpus_per_task=4)


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
def test_render_matches_golden_file(variant):
    text = render_job_script(CLUSTER, JobScriptOptions(**OPTIONS, gpu=variant == "gpu"))
    assert text == (DATA / f"jobscript_{variant}.golden.sh").read_text()


def test_gpu_variant_differs_only_by_gres_and_nb_gpu():
    cpu = render_job_script(CLUSTER, JobScriptOptions(**OPTIONS)).splitlines()
    gpu = render_job_script(CLUSTER, JobScriptOptions(**OPTIONS, gpu=True)).splitlines()
    assert sorted(set(gpu) - set(cpu)) == [
        "#SBATCH --gres=gpu:1",
        'gmx mdrun -deffnm prmd "${CPI_ARGS[@]}" -maxh 1.9 -ntomp 4 -nb gpu',
    ]


def test_continuation_and_maxh():
    text = render_job_script(CLUSTER, JobScriptOptions(**OPTIONS, maxh=0.5))
    assert "if [ -f prmd.cpt ]; then CPI_ARGS=(-cpi prmd.cpt); fi" in text
    assert "-maxh 0.5 " in text
    plain = render_job_script(CLUSTER, JobScriptOptions(**OPTIONS, continuation=False))
    assert "CPI_ARGS" not in plain and "gmx mdrun -deffnm prmd -maxh 1.9 -ntomp 4" in plain


def test_cluster_name_in_log_and_exitcode_names():
    text = render_job_script(CLUSTER.model_copy(update={"name": "beta"}), JobScriptOptions(**OPTIONS))
    assert "#SBATCH --output=prmd.beta.%j.out" in text
    assert "trap 'echo \"$? ${SLURM_JOB_ID:-}\" > prmd.beta.exitcode' EXIT" in text


def test_unknown_option_is_refused_with_the_valid_list():
    with pytest.raises(ValidationError) as info:
        JobScriptOptions(**OPTIONS, walltime=5)
    assert "unknown job-script option(s) ['walltime']" in str(info.value)
    assert "time_limit_min" in str(info.value)  # the valid options are listed


@pytest.mark.parametrize(("bad", "field"), [
    ({"mem": "4G\n#SBATCH --uid=0"}, "mem"),
    ({"extra_sbatch": {"qos": "high; rm -rf ~"}}, "extra_sbatch"),
    ({"comment": "Conformation1\nrm -rf ~"}, "comment"),
    ({"comment": "None\n99999|mpf-forged-job|COMPLETED|None|N/A|x"}, "comment"),
    ({"job_dir": "/scratch/me/mpflow-work/a b"}, "job_dir"),
    ({"job_dir": "/scratch/me/mpflow-work/../../etc"}, "job_dir"),
    ({"job_dir": "relative/folder"}, "job_dir"),
    ({"stage": "prmd;reboot"}, "stage"),
])
def test_unsafe_values_are_refused_when_the_options_are_built(bad, field):
    with pytest.raises(ValidationError) as info:
        JobScriptOptions(**{**OPTIONS, **bad})
    assert [e["loc"][0] for e in info.value.errors()] == [field]


@pytest.mark.parametrize(("flag", "owned"), [
    ("chdir", "chdir"), ("output", "output"), ("out", "output"), ("o", "output"), ("uid", "uid"),
    ("wrap", "wrap"), ("wr", "wrap"), ("job-name", "job-name"), ("job", "job-name"), ("comment", "comment"),
    ("error", "error"), ("array", "array"), ("test-only", "test-only"),
])
def test_extra_sbatch_cannot_override_what_mpflow_owns(flag, owned):
    with pytest.raises(ValidationError, match=f"--{flag} would set --{owned}, which mpflow sets itself"):
        JobScriptOptions(**OPTIONS, extra_sbatch={flag: "x"})


def test_extra_sbatch_points_typed_flags_to_their_option_and_accepts_the_rest():
    with pytest.raises(ValidationError, match="--time would set --time; use the option time_limit_min"):
        JobScriptOptions(**OPTIONS, extra_sbatch={"time": "10"})
    opts = JobScriptOptions(**OPTIONS, extra_sbatch={"qos": "high", "hold": "", "mem-per-cpu": "2G",
                                                     "partition": "gpu", "exclude": "n[1-3]"})
    header = render_job_script(CLUSTER, opts).splitlines()
    assert "#SBATCH --hold" in header and "#SBATCH --partition=gpu" in header and "#SBATCH --qos=high" in header


def test_a_template_cannot_reach_python_internals(tmp_path):
    """A template saved in a cluster block is data: the sandbox refuses the classic escape."""
    marker = tmp_path / "pwned"
    evil = "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}\n{{ header }}\n"
    cluster = CLUSTER.model_copy(update={"cpu_template": evil})
    with pytest.raises(ValueError, match="cluster alpha: cpu_template, line 1: the sandbox refuses it: access to "
                                         "attribute '__init__'"):
        render_job_script(cluster, JobScriptOptions(**OPTIONS))
    assert not marker.exists()
    mutate = CLUSTER.model_copy(update={"cpu_template": "{{ preamble.append('rm -rf ~') }}{{ header }}"})
    with pytest.raises(ValueError, match="sandbox refuses"):
        render_job_script(mutate, JobScriptOptions(**OPTIONS))
    assert CLUSTER.preamble == ["module load gromacs/2022.5"]


def test_template_errors_name_the_setting():
    with pytest.raises(ValidationError, match="gpu_template: Jinja2 syntax error on line 2"):
        ClusterSettings(name="beta", user="me", workdir="/w", gpu_template="#!/bin/bash\n{% if %}\n")
    undefined = CLUSTER.model_copy(update={"cpu_template": "{{ header }}\n{{ no_such_slot }}\n"})
    with pytest.raises(ValueError, match="alpha: cpu_template, line 2: 'no_such_slot' is undefined"):
        render_job_script(undefined, JobScriptOptions(**OPTIONS))


def test_cluster_template_overrides_the_default():
    custom = CLUSTER.model_copy(update={"cpu_template": "#!/bin/bash\n{{ header }}\necho {{ stage | q }} on {{ cluster }}\n"})
    text = render_job_script(custom, JobScriptOptions(**OPTIONS))
    assert text.endswith("echo prmd on alpha\n")
    assert text.splitlines()[1] == "#SBATCH --chdir=/scratch/me/mpflow-work/WT/Conformation1/model_1/prmd"


def test_resources_per_stage_and_cluster():
    gpu_cluster = CLUSTER.model_copy(update={
        "name": "beta", "prefer": "gpu",
        "stage_resources": {"urmd": {"time_limit_min": 2880, "cpus_per_task": 16},
                            "emmd": {"gpu": False, "time_limit_min": 30}}})
    urmd = stage_job_options(gpu_cluster, stage="urmd", job_dir="/w/m/urmd")
    assert (urmd.gpu, urmd.time_limit_min, urmd.cpus_per_task) == (True, 2880, 16)
    emmd = stage_job_options(gpu_cluster, stage="emmd", job_dir="/w/m/emmd", time_limit_min=10)
    assert (emmd.gpu, emmd.time_limit_min) == (False, 10)  # explicit overrides win
    prmd = stage_job_options(CLUSTER, stage="prmd", job_dir="/w/m/prmd")
    assert (prmd.gpu, prmd.time_limit_min) == (False, 60)  # mpflow's defaults


def test_stage_resources_refuse_unknown_keys_and_match_job_options():
    assert set(RESOURCE_KEYS) <= set(JobScriptOptions.model_fields)
    with pytest.raises(ValidationError, match="unknown key"):
        CLUSTER.model_copy(update={}).model_validate({**CLUSTER.model_dump(), "stage_resources": {"urmd": {"walltime": 5}}})


@pytest.mark.parametrize(("resources", "message"), [
    ({"extra_sbatch": {"output": "x.log"}}, "stage_resources['urmd'].extra_sbatch: --output would set --output, "
                                            "which mpflow sets itself"),
    ({"extra_sbatch": {"job": "x"}}, "stage_resources['urmd'].extra_sbatch: --job would set --job-name"),
    ({"extra_sbatch": {"t": "10"}}, "stage_resources['urmd'].extra_sbatch: --t would set --test-only"),
    ({"extra_sbatch": {"cpus": "4"}}, "stage_resources['urmd'].extra_sbatch: --cpus would set --cpus-per-task; use "
                                      "the option cpus_per_task instead"),
    ({"cpus_per_task": "many"}, "stage_resources['urmd'].cpus_per_task: Input should be a valid integer"),
    ({"mem": "4G\n#SBATCH --uid=0"}, "stage_resources['urmd'].mem: String should match pattern"),
])
def test_stage_resources_are_checked_where_the_settings_are_built(resources, message):
    """Issue 24, item 12: a flag mpflow owns is refused when the cluster's settings are built (a block,
    the dev clusters' file), naming the flag and the stage, not at submission as a counted attempt."""
    with pytest.raises(ValidationError) as info:
        ClusterSettings(name="beta", user="me", workdir="/w", stage_resources={"urmd": resources})
    assert message in validation_message(info.value)


def test_env_names_are_checked_before_they_reach_a_remote_shell():
    with pytest.raises(ValidationError, match="not valid environment variable names"):
        ClusterSettings(name="beta", user="me", workdir="/w", env={"SLURM_CONF;reboot": "x"})
    assert ClusterSettings(name="beta", user="me", workdir="/w", env={"SLURM_CONF": "/a b/c"}).env


@pytest.mark.parametrize(("change", "field"), [
    ({"workdir": "/scratch/me/my work"}, "workdir"),
    ({"workdir": "/scratch/../etc"}, "workdir"),
    ({"workdir": "/"}, "workdir"),
    ({"workdir": "scratch/me"}, "workdir"),
    ({"partition": "cpu\n#SBATCH --uid=0"}, "partition"),
    ({"account": "proj;reboot"}, "account"),
    ({"user": "me; reboot"}, "user"),
    ({"host": "login$(reboot)"}, "host"),
])
def test_cluster_settings_refuse_unsafe_values_when_built(change, field):
    with pytest.raises(ValidationError) as info:
        ClusterSettings(**{"name": "beta", "user": "me", "workdir": "/scratch/me/mpflow-work", **change})
    assert [e["loc"][0] for e in info.value.errors()] == [field]


def test_a_trailing_slash_of_the_workdir_is_dropped():
    assert ClusterSettings(name="beta", user="me", workdir="/scratch/me/mpflow-work/").workdir == "/scratch/me/mpflow-work"
