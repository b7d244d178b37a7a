"""Job scripts: golden renders for the CPU and GPU variants, and refusal of unsafe input."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mpflow.clusters import RESOURCE_KEYS, ClusterSettings
from mpflow.jobscript import JobScriptOptions, render_job_script, stage_job_options

DATA = Path(__file__).resolve().parents[1] / "data"
CLUSTER = ClusterSettings(name="alpha", kind="local", workdir="/scratch/me/mpflow-work", partition="cpu",
                          preamble=["module load gromacs/2022.5"])
OPTIONS = dict(job_dir="/scratch/me/mpflow-work/WT/Conformation1/model_1/prmd", stage="prmd", tag="Conformation1",
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
    assert "trap 'echo $? > prmd.beta.exitcode' EXIT" in text


def test_unknown_option_is_refused_with_the_valid_list():
    with pytest.raises(ValidationError) as info:
        JobScriptOptions(**OPTIONS, walltime=5)
    assert "unknown job-script option(s) ['walltime']" in str(info.value)
    assert "time_limit_min" in str(info.value)  # the valid options are listed


@pytest.mark.parametrize("bad", [{"mem": "4G\n#SBATCH --uid=0"}, {"extra_sbatch": {"qos": "high; rm -rf ~"}},
                                 {"tag": "Conformation1\nrm -rf ~"}])
def test_unsafe_values_never_reach_an_sbatch_line(bad):
    with pytest.raises((ValueError, ValidationError)):
        render_job_script(CLUSTER, JobScriptOptions(**{**OPTIONS, **bad}))


def test_folder_with_spaces_is_quoted_in_the_body():
    opts = JobScriptOptions(**{**OPTIONS, "job_dir": "/scratch/me/mpflow-work/a b"}, mdrun=False,
                            commands=["true"])
    with pytest.raises(ValueError, match="chdir"):  # a space cannot go in an #SBATCH line
        render_job_script(CLUSTER, opts)


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


def test_env_names_are_checked_before_they_reach_a_remote_shell():
    with pytest.raises(ValidationError, match="not valid environment variable names"):
        ClusterSettings(name="beta", user="me", workdir="/w", env={"SLURM_CONF;reboot": "x"})
    assert ClusterSettings(name="beta", user="me", workdir="/w", env={"SLURM_CONF": "/a b/c"}).env
