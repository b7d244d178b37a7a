"""Polite to every site, on the dev clusters (real Slurm, real SSH, real GROMACS): the query budget
between ticks, a copy that can never start (beta's ``short`` partition below the stage's time limit),
a site's submission limit (a QOS of alpha's with MaxSubmitJobsPerUser) while the other cluster runs, and
GROMACS called through a site's wrapper name (beta's ``srun gmx_mpi mdrun``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from cluster_helpers import wait_until
from manager_helpers import make_bench

from mpflow.clusters.check import check_clusters
from mpflow.clusters.devcluster import dev_cluster_info
from mpflow.clusters.transport import open_transport
from mpflow.manager.status import cannot_start_lines, stage_statuses
from mpflow.slurm.client import SlurmClient
from mpflow.slurm.jobscript import JobScriptOptions, render_job_script
from mpflow.slurm.submission import SubmitRequest, submit_batch
from mpflow.states import FailureKind, JobState
from mpflow.store.sites import site_records

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters

SHORT = "short"  # beta's partition with MaxTime=1 (minutes), as scripts/devcluster up makes it
LIMIT_QOS, LIMIT = "mpflow-limit", 2  # alpha's QOS with MaxSubmitJobsPerUser=2 (scripts/devcluster up)

STAGE = '''[stages.probe]
kind = "script"
commands = ["sleep {seconds}", "echo ok > probe.gro"]
time_limit_min = {minutes}
retry_budget = 2
'''


def _scontrol(cluster, *args) -> subprocess.CompletedProcess:
    conf = dev_cluster_info(cluster.name)["slurm_conf"]
    return subprocess.run(["scontrol", *args], env={**os.environ, "SLURM_CONF": conf}, capture_output=True,
                          text=True, timeout=30)


@pytest.fixture
def short_partition(slave):
    """beta's short partition; made live (scontrol create) if the cluster was started without it."""
    if _scontrol(slave, "show", "partition", SHORT).returncode != 0:
        node = dev_cluster_info(slave.name)["node"]
        made = _scontrol(slave, "create", f"PartitionName={SHORT}", f"Nodes={node}", "Default=NO", "MaxTime=1",
                         "State=UP")
        assert made.returncode == 0, made.stderr
    return SHORT


@pytest.fixture
def bench(tmp_path):
    benches = []

    def make(clusters, stages_toml, manager_toml="backoff_s = [0]"):
        b = make_bench(tmp_path, clusters, stages_toml, manager_toml)
        benches.append(b)
        return b

    yield make
    for b in benches:
        b.cleanup()


def test_between_observations_a_tick_decides_and_submits_on_what_it_knows(bench, master, slave):
    polite = [c.model_copy(update={"min_observe_interval_s": 600}) for c in (master, slave)]
    b = bench(polite, STAGE.format(seconds=30, minutes=5))
    [m1] = b.add_models("m1")
    first = b.tick()  # prepared and submitted (nothing to observe yet)
    assert first.submitted == {master.name: 1, slave.name: 1}
    observed = b.tick()  # its jobs are observed once...
    assert set(observed.scheduler_commands) == {master.name, slave.name}
    b.add_models("m2")
    later = b.tick()
    # ...and not again for 600 s, yet the new model-stage is submitted at once on what the database knows
    assert later.scheduler_commands == {} and set(later.deferred) == {master.name, slave.name}
    assert later.submitted == {master.name: 1, slave.name: 1}
    with b.Session() as s:
        sites = site_records(s)
    assert sites[master.name].user_jobs >= 2 and sites[master.name].observed is not None


def test_a_copy_that_can_never_start_is_cancelled_with_its_reason_and_not_sent_again(bench, master, slave,
                                                                                      short_partition):
    short = slave.model_copy(update={"partition": short_partition})
    # alpha's copy may not start for 40 s (sbatch --begin): else, on an idle alpha, it can start and win
    # before beta's controller has given its copy the reason, and beta's is cancelled as the loser
    later = master.model_copy(update={"stage_resources": {"probe": {"extra_sbatch": {"begin": "now+40"}}}})
    b = bench([later, short], STAGE.format(seconds=20, minutes=5))  # 5 min > short's 1 min
    [mid] = b.add_models("m1")
    b.tick_until("beta's copy cancelled as unable to start",
                 lambda: any(j.cluster == slave.name and j.failure_kind == FailureKind.CANNOT_START for j in b.jobs()),
                 timeout=120)
    b.tick_until("the stage done on alpha", lambda: b.stage_state(mid, "probe") == "done", timeout=180)
    beta_jobs = [j for j in b.jobs() if j.cluster == slave.name]
    assert len(beta_jobs) == 1  # never resubmitted there with the same resources
    assert beta_jobs[0].reason == "PartitionTimeLimit — the stage's time limit exceeds the partition's"
    assert beta_jobs[0].counted is False and beta_jobs[0].state == JobState.F


def test_a_stage_whose_every_copy_cannot_start_is_held_with_the_reason(bench, slave, short_partition):
    short = slave.model_copy(update={"partition": short_partition})
    b = bench([short], STAGE.format(seconds=5, minutes=5))
    [mid] = b.add_models("m1")
    b.tick_until("held", lambda: b.stage_state(mid, "probe") == "held", timeout=120)
    with b.Session() as s:
        rows = stage_statuses(s)
    [row] = rows
    assert row.reason == "cancelled on beta: PartitionTimeLimit — the stage's time limit exceeds the partition's"
    assert cannot_start_lines(rows) == [f"probe: cancelled on {slave.name} (1 model-stage): PartitionTimeLimit — "
                                        "the stage's time limit exceeds the partition's"]
    for _ in range(2):  # held: nothing more is sent
        b.tick()
    assert len(b.jobs()) == 1


def _qos_enforced(master) -> bool:
    cfg = _scontrol(master, "show", "config").stdout
    return "limits" in next((ln for ln in cfg.splitlines() if ln.startswith("AccountingStorageEnforce")), "")


def test_a_sites_submission_limit_is_back_pressure_while_the_other_cluster_runs(bench, master, slave):
    assert _qos_enforced(master), ("alpha's slurmctld does not enforce QOS limits (AccountingStorageEnforce=limits "
                                   "is read only when slurmctld starts): run scripts/devcluster up")
    limited = master.model_copy(update={"stage_resources": {"probe": {"extra_sbatch": {"qos": LIMIT_QOS}}}})
    b = bench([limited, slave], STAGE.format(seconds=40, minutes=5))
    ids = b.add_models(*[f"m{i}" for i in range(LIMIT + 2)])
    first = b.tick()
    jobs = b.jobs()
    alpha = [j for j in jobs if j.cluster == master.name]
    refused = [j for j in alpha if j.failure_kind == FailureKind.LIMITED]
    # QOSMaxSubmitJobsPerUser=2: two copies queued on alpha, the next refused once and the rest not sent
    # (the batch stops at the refusal); beta takes all four
    assert sum(1 for j in alpha if j.state in (JobState.PD, JobState.R)) == LIMIT, jobs
    assert len(refused) == 2 and all(not j.counted for j in refused)
    assert "QOSMaxSubmitJobPerUserLimit" in refused[0].reason
    assert first.submitted.get(slave.name) == len(ids)
    with b.Session() as s:
        site = site_records(s)[master.name]
    assert site.limit_reason == "QOSMaxSubmitJobPerUserLimit" and site.limit_jobs is not None
    second = b.tick()  # no room on alpha: nothing sent there, nothing refused again
    assert master.name not in second.limited and master.name not in second.submitted
    b.tick_until("every model done", lambda: all(b.stage_state(m, "probe") == "done" for m in ids), timeout=300)
    assert all(not j.counted for j in b.jobs())


def _water_tpr(folder: Path) -> Path:
    """A real .tpr of a small box of water (10 steps of steepest descent), made by this machine's grompp."""
    run = lambda *a, **kw: subprocess.run(a, cwd=folder, capture_output=True, text=True, check=True, **kw)  # noqa: E731
    run("gmx", "solvate", "-cs", "spc216", "-box", "2.5", "-o", "water.gro")
    n = sum(1 for ln in (folder / "water.gro").read_text().splitlines()[2:-1] if " OW " in ln)
    (folder / "water.top").write_text('#include "oplsaa.ff/forcefield.itp"\n#include "oplsaa.ff/spce.itp"\n'
                                      f"[ system ]\nwater\n[ molecules ]\nSOL {n}\n")
    (folder / "em.mdp").write_text("integrator = steep\nnsteps = 10\ncutoff-scheme = Verlet\n")
    run("gmx", "grompp", "-f", "em.mdp", "-c", "water.gro", "-p", "water.top", "-o", "wmd.tpr", "-maxwarn", "1")
    return folder / "wmd.tpr"


def _wrapper_settings(slave):
    info = dev_cluster_info(slave.name)
    wrapper_dir = Path(info["slurm_conf"]).parents[1] / "bin"
    return slave.model_copy(update={"mdrun_command": "srun gmx_mpi mdrun",
                                    "preamble": [f"export PATH={wrapper_dir}:$PATH"]})


def test_gromacs_through_a_sites_wrapper_name_runs_mdrun(tmp_path, sites, slave):
    beta = _wrapper_settings(slave)
    site = sites[slave.name]
    tpr = _water_tpr(tmp_path)
    site.transport.write_files({site.path("wmd.tpr"): tpr.read_bytes()})
    options = JobScriptOptions(job_dir=site.folder, stage="wmd", mdrun=True, time_limit_min=5, cpus_per_task=1)
    request = SubmitRequest(key="wmd", token=site.token(), options=options)
    # the script is rendered with beta's own mdrun command, which only the preamble's PATH can find
    assert "srun --ntasks=1 --cpus-per-task=1 gmx_mpi mdrun -deffnm wmd" in render_job_script(beta, options)
    found = site.transport.run(["bash", "-c", "\n".join([*beta.preamble, "command -v gmx_mpi"])]).stdout.strip()
    assert found == beta.preamble[0].split("=", 1)[1].split(":", 1)[0] + "/gmx_mpi"  # the site's wrapper
    with open_transport(beta) as t:
        [outcome] = submit_batch(SlurmClient(t), [request]).values()
    assert outcome.error is None, outcome.error
    wait_until("mdrun through gmx_mpi finished", lambda: site.transport.stat(site.path("wmd.gro")), timeout=180,
               interval=2)
    code = site.transport.run(["cat", site.path(f"wmd.{slave.name}.exitcode")]).stdout.split()[0]
    assert code == "0"


def test_cluster_check_reads_each_clusters_gromacs_and_finds_an_mdrun_too_old(tmp_path, sites, master, slave):
    beta = _wrapper_settings(slave)
    [alpha_report, beta_report] = check_clusters([master, beta])
    assert beta_report.gromacs.mdrun.startswith("2022.5") and alpha_report.gromacs.grompp.startswith("2022.5")
    assert ("tpr", True) == next((w, ok) for w, ok, _ in beta_report.checks if w == "tpr")
    # A site whose mdrun is older than the master's grompp (no older GROMACS exists here: a program that
    # answers --version as GROMACS 2018.8 prints it, on beta's PATH for this test only)
    site = sites[slave.name]
    fake = site.path("old", "gmx_mpi")
    site.transport.write_files({fake: b"#!/bin/sh\necho '                   :-) GROMACS - gmx_mpi, 2018.8 (-:'\n"
                                      b"echo\necho 'GROMACS version:    2018.8'\necho 'Precision:          single'\n"})
    site.transport.chmod(fake, 0o755)
    old = slave.model_copy(update={"mdrun_command": "srun gmx_mpi mdrun",
                                   "preamble": [f"export PATH={site.path('old')}:$PATH"]})
    [_, old_report] = check_clusters([master, old])
    [(ok, detail)] = [(ok, d) for w, ok, d in old_report.checks if w == "tpr"]
    assert not ok and detail.startswith("its mdrun (GROMACS 2018.8) cannot read .tpr files of the master's grompp")
