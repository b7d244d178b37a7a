"""Stage .mdp rendering: lengths, parameters and overrides checked before anything runs; the
mdrun command is the job script's."""

from __future__ import annotations

import shlex

import pytest

from mpflow.clusters.settings import ClusterSettings
from mpflow.slurm.jobscript import JobScriptOptions, render_job_script
from mpflow.stages.mdp import (
    MdpError,
    grompp_stage,
    mdrun_argv,
    output_intervals,
    render_mdp,
    stage_paths,
)


def _values(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.split(";")[0]
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def test_emmd_is_steepest_descent_with_emtol():
    v = _values(render_mdp("emmd", 500))
    assert (v["integrator"], v["nsteps"], v["emtol"], v["constraints"]) == \
        ("steep", "500", "1000.0", "none")
    assert (v["vdw-modifier"], v["rvdw-switch"], v["rvdw"], v["coulombtype"]) == \
        ("Force-switch", "1.0", "1.2", "PME")


def test_prmd_restrains_backbone_with_semiisotropic_c_rescale():
    v = _values(render_mdp("prmd", 20))
    assert v["define"] == "-DPOSRES_BB"
    assert (v["pcoupl"], v["pcoupltype"], v["compressibility"], v["refcoord-scaling"]) == \
        ("C-rescale", "semiisotropic", "4.5e-5 4.5e-5", "com")
    assert (v["tc-grps"], v["gen-vel"], v["continuation"]) == \
        ("Protein_Membrane Solvent_Ions", "yes", "no")


def test_urmd_continues_without_restraints():
    v = _values(render_mdp("urmd", 50_000_000))  # 100 ns at 2 fs
    assert (v["define"], v["continuation"], v["gen-vel"], v["nsteps"]) == \
        ("", "yes", "no", "50000000")
    # production writes every 10 ps
    assert (v["nstxout-compressed"], v["nstenergy"], v["nstcalcenergy"]) == ("5000", "5000", "100")


@pytest.mark.parametrize("nsteps, expected", [
    (20, {"nstlog": 2, "nstenergy": 2, "nstcalcenergy": 2, "nstxout_compressed": 2}),
    (5, {"nstlog": 1, "nstenergy": 1, "nstcalcenergy": 1, "nstxout_compressed": 1}),
    (2500, {"nstlog": 200, "nstenergy": 200, "nstcalcenergy": 100, "nstxout_compressed": 200}),
])
def test_output_intervals_short_runs_write_about_ten_frames(nsteps, expected):
    assert output_intervals(nsteps) == expected


@pytest.mark.parametrize("nsteps, message", [
    (0, "prmd: the length must be at least 1 step, got 0"),
    (-5, "prmd: the length must be at least 1 step, got -5"),
    (2.5, "prmd: the length must be a whole number of steps, got 2.5"),
    (True, "prmd: the length must be a whole number of steps, got True"),
    ("100", "prmd: the length must be a whole number of steps, got '100'"),
])
def test_bad_length_is_refused(nsteps, message):
    with pytest.raises(MdpError) as err:
        render_mdp("prmd", nsteps)
    assert str(err.value) == message


@pytest.mark.parametrize("overrides, fragment", [
    ({"tau_pp": 2}, "mdp override 'tau_pp': not a GROMACS 2022 mdp option"),
    ({"nsteps": 10}, "the length is the stage's nsteps parameter"),
    ({"nstlist": "ten"}, "mdp override nstlist='ten': an integer is required"),
    ({"rvdw": "far"}, "mdp override rvdw='far': a number is required"),
    ({"pcoupl": "Parinello"}, "mdp override pcoupl='Parinello': must be one of"),
    ({"define": "-DX\nnsteps = 0"}, "newlines, ';' and '=' are not allowed"),
    ({"tc-grps": ["a", "b"]}, "value must be a number, a string or a bool"),
])
def test_malformed_override_is_refused(overrides, fragment):
    with pytest.raises(MdpError) as err:
        render_mdp("prmd", 20, overrides=overrides)
    assert fragment in str(err.value)


def test_override_replaces_the_line_or_is_appended():
    text = render_mdp("prmd", 20, overrides={"tau_p": 2.0, "nstlist": 10, "pull": False})
    v = _values(text)
    assert (v["tau-p"], v["nstlist"], v["pull"]) == ("2.0", "10", "no")
    assert sum(1 for ln in text.splitlines() if ln.startswith("tau-p")) == 1


@pytest.mark.parametrize("params, fragment", [
    ({"temprature_K": 300.0}, "unknown parameter(s) ['temprature_K']"),
    ({"dt_ps": 0}, "parameter dt_ps=0 must be positive"),
    ({"dt_ps": "0.002"}, "parameter dt_ps='0.002' must be float"),
    ({"define": "-DPOSRES; rm"}, "must be -DNAME words"),
])
def test_bad_template_parameter_is_refused(params, fragment):
    with pytest.raises(MdpError) as err:
        render_mdp("prmd", 20, params=params)
    assert fragment in str(err.value)


def test_project_template_replaces_mpflows(tmp_path):
    (tmp_path / "emmd.mdp.j2").write_text("integrator = cg\nnsteps = {{ nsteps }}\n")
    assert _values(render_mdp("emmd", 7, search_dirs=[tmp_path])) == \
        {"integrator": "cg", "nsteps": "7"}


def test_grompp_stage_checks_the_mdp_before_looking_for_inputs(tmp_path):
    # nothing exists in tmp_path: the length error still comes first, and nothing is written
    with pytest.raises(MdpError):
        grompp_stage(tmp_path, "urmd", 0)
    assert list(tmp_path.iterdir()) == []


def test_stage_paths_follow_the_contract(tmp_path):
    p = stage_paths(tmp_path / "m", "prmd")
    assert (p["tpr"], p["gro"], p["start"], p["top"], p["ndx"]) == (
        tmp_path / "m/prmd/prmd.tpr", tmp_path / "m/prmd/prmd.gro", tmp_path / "m/emmd/emmd.gro",
        tmp_path / "m/prep/topol.top", tmp_path / "m/prep/index.ndx")
    assert stage_paths(tmp_path, "emmd")["start"] == tmp_path / "prep/prep.gro"


def test_mdrun_command_is_the_job_scripts():
    cluster = ClusterSettings(name="alpha", kind="local", workdir="/w", partition="cpu")
    opts = dict(job_dir="/w/GpA-WT/None/m1/prmd", stage="prmd", cpus_per_task=2, maxh=0.5)
    plain = render_job_script(cluster, JobScriptOptions(**opts, continuation=False))
    line = next(ln for ln in plain.splitlines() if ln.startswith("gmx mdrun"))
    assert line == shlex.join(mdrun_argv("prmd", ntomp=2, maxh=0.5))
    cont = render_job_script(cluster, JobScriptOptions(**opts))
    line = next(ln for ln in cont.splitlines() if ln.startswith("gmx mdrun"))
    assert line.replace('"${CPI_ARGS[@]}"', "-cpi prmd.cpt") == \
        shlex.join(mdrun_argv("prmd", ntomp=2, maxh=0.5, continuation=True))
