"""GROMACS per site: the mdrun command rendered with each job's tasks and threads, and whether one
GROMACS release's mdrun reads another's .tpr files."""

from __future__ import annotations

import pytest

from mpflow.clusters.settings import ClusterSettings
from mpflow.slurm.jobscript import render_job_script, stage_job_options
from mpflow.slurm.mdrun import (
    gromacs_binary,
    mdrun_command_problem,
    mdrun_words,
    parse_gromacs_version,
    release_series,
    tpr_readable,
    unreadable_clusters,
)

WORDS = [
    ("gmx mdrun", 1, 4, ["gmx", "mdrun"]),
    ("gmx mdrun", 2, 4, ["gmx", "mdrun", "-ntmpi", "2"]),
    ("gmx_mpi mdrun", 1, 2, ["gmx_mpi", "mdrun"]),
    ("srun gmx_mpi mdrun", 4, 8, ["srun", "--ntasks=4", "--cpus-per-task=8", "gmx_mpi", "mdrun"]),
    ("srun --mpi=pmix gmx_mpi mdrun", 1, 2, ["srun", "--ntasks=1", "--cpus-per-task=2", "--mpi=pmix", "gmx_mpi", "mdrun"]),
    ("srun --ntasks=2 gmx_mpi mdrun", 4, 1, ["srun", "--cpus-per-task=1", "--ntasks=2", "gmx_mpi", "mdrun"]),
    ("mpirun gmx_mpi mdrun", 4, 2, ["mpirun", "-np", "4", "gmx_mpi", "mdrun"]),
    ("mpirun -np 8 gmx_mpi mdrun", 4, 2, ["mpirun", "-np", "8", "gmx_mpi", "mdrun"]),
    ("/opt/gromacs/bin/mdrun_mpi", 1, 1, ["/opt/gromacs/bin/mdrun_mpi"]),
]


@pytest.mark.parametrize("command, ntasks, cpus, expected", WORDS, ids=[f"{w[0]}-{w[1]}" for w in WORDS])
def test_mdrun_words(command, ntasks, cpus, expected):
    assert mdrun_command_problem(command) is None
    assert mdrun_words(command, ntasks=ntasks, cpus_per_task=cpus) == expected


@pytest.mark.parametrize("command", ["", "gmx", "srun gmx_mpi", "gmx mdrun; rm -rf /", "gmx $(x) mdrun", "'gmx mdrun"])
def test_bad_mdrun_commands_are_refused_where_the_settings_are_built(command):
    assert mdrun_command_problem(command) is not None
    with pytest.raises(ValueError, match="mdrun_command"):
        ClusterSettings(name="c", kind="local", workdir="/tmp/w", mdrun_command=command)


def test_the_job_script_runs_the_clusters_own_mdrun_command(tmp_path):
    settings = ClusterSettings(name="beta", kind="local", workdir=str(tmp_path), mdrun_command="srun gmx_mpi mdrun",
                               preamble=["module load gromacs/2022-mpi"])
    script = render_job_script(settings, stage_job_options(settings, stage="emmd", job_dir=str(tmp_path / "m"),
                                                           ntasks=2, cpus_per_task=3))
    line = next(ln for ln in script.splitlines() if "mdrun" in ln and not ln.startswith("#"))
    assert line.startswith("srun --ntasks=2 --cpus-per-task=3 gmx_mpi mdrun -deffnm emmd")
    assert "-ntomp 3" in line
    assert script.index("module load gromacs/2022-mpi") < script.index(line)
    plain = ClusterSettings(name="alpha", kind="local", workdir=str(tmp_path))
    default = render_job_script(plain, stage_job_options(plain, stage="emmd", job_dir=str(tmp_path / "m")))
    assert "\ngmx mdrun -deffnm emmd" in default


def test_the_gromacs_program_of_a_command():
    assert gromacs_binary("srun gmx_mpi mdrun") == ("gmx_mpi", "--version")
    assert gromacs_binary("gmx mdrun") == ("gmx", "--version")
    assert gromacs_binary("mdrun_mpi") == ("mdrun_mpi", "-version")


# The version line of `gmx --version` as releases print it (2022.5: Debian's, captured here; 2018 and
# 2023 the same layout; 5.1 and 4.6 put "VERSION" before the number)
VERSIONS = [
    ("                 :-) GROMACS - gmx, 2022.5-Debian_2022.5_2 (-:\n\nExecutable:   /usr/bin/gmx\n"
     "GROMACS version:    2022.5-Debian_2022.5_2\nPrecision:          mixed\n", "2022.5-Debian_2022.5_2", (2022,)),
    ("GROMACS version:    2018.8\nPrecision:          single\n", "2018.8", (2018,)),
    ("GROMACS version:    2023.1\nGIT SHA1 hash:      abc\n", "2023.1", (2023,)),
    ("GROMACS version:    2024-beta\n", "2024-beta", (2024,)),
    ("GROMACS version:    VERSION 5.1.4\nPrecision:          single\n", "5.1.4", (5, 1)),
    ("Gromacs version:    VERSION 4.6.7\n", "4.6.7", (4, 6)),
]


@pytest.mark.parametrize("output, version, series", VERSIONS, ids=[v[1] for v in VERSIONS])
def test_gromacs_versions(output, version, series):
    assert parse_gromacs_version(output) == version
    assert release_series(version) == series


def test_no_version_in_the_output():
    assert parse_gromacs_version("bash: gmx_mpi: command not found\n") is None


@pytest.mark.parametrize("grompp, mdrun, readable", [
    ("2022.5", "2022.1", True), ("2022.1", "2022.5", True), ("2021.4", "2022.5", True),
    ("2023.1", "2022.5", False), ("2022.5", "2018.8", False), ("5.1.4", "2018.8", True), ("5.1.4", "5.0.7", False),
])
def test_tpr_readable(grompp, mdrun, readable):
    assert tpr_readable(grompp, mdrun) is readable


def test_clusters_that_cannot_read_the_masters_tpr_files():
    out = unreadable_clusters("2023.1", {"alpha": "2023.1", "beta": "2022.5", "gamma": None})
    assert list(out) == ["beta"]
    assert out["beta"] == "its mdrun (GROMACS 2022.5) cannot read .tpr files of the master's grompp (GROMACS 2023.1)"
    assert unreadable_clusters(None, {"beta": "4.6.7"}) == {}
