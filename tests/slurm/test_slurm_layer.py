"""The Slurm layer on the real dev clusters: render → submit → observe → cancel, in batches.

alpha is reached locally (subprocesses, accounting), beta over SSH (no accounting: its states come
from squeue and the job's files). Every test runs on both (the ``site`` fixture) in its own folder.
"""

from __future__ import annotations

import time

import pytest
from cluster_helpers import wait_until
from transport_wrappers import Counting

from mpflow.slurm.client import JobRef, SlurmClient
from mpflow.slurm.commands import SchedulerError
from mpflow.slurm.jobscript import JobScriptOptions
from mpflow.slurm.submission import SubmitRequest, submit_batch
from mpflow.states import TERMINAL, FailureKind, JobState

pytestmark = pytest.mark.devcluster  # needs the dev Slurm clusters


def request(site, key: str, commands: list[str], stage: str = "emmd", **opts) -> SubmitRequest:
    options = JobScriptOptions(job_dir=site.path(key), stage=stage, comment="Conformation1", commands=commands,
                               mdrun=False, **{"time_limit_min": 5, **opts})
    return SubmitRequest(key=key, token=site.token(), options=options)


def held(site, key: str) -> SubmitRequest:
    return request(site, key, ["true"], extra_sbatch={"hold": ""})


def observe_until_terminal(client: SlurmClient, refs: list[JobRef], timeout: float = 150):
    def all_done():
        result = client.observe(refs)
        return result if all(o.state in TERMINAL for o in result.observations.values()) else None

    return wait_until(f"jobs on {client.cluster} to finish", all_done, timeout=timeout, interval=1.0)


def test_rendered_scripts_pass_sbatch_test_only(site):
    req = request(site, "m1", [])
    req = req.model_copy(update={"options": req.options.model_copy(update={"mdrun": True})})
    outcome = submit_batch(site.client, [req], test_only=True)["m1"]
    assert (outcome.error, outcome.job_id) == (None, None)
    # The GPU variant asks for --gres=gpu:1, which the GPU-less dev clusters refuse: Slurm saw the flag.
    gpu = request(site, "m2", [], gpu=True)
    refused = submit_batch(site.client, [gpu], test_only=True)["m2"]
    assert refused.job_id is None and "Invalid generic resource (gres) specification" in refused.error


def test_a_batch_is_one_upload_and_one_command_and_a_refusal_stops_no_other_job(site):
    counting = Counting(site.transport)
    client = SlurmClient(counting)
    good = [held(site, f"m{i}") for i in range(4)]
    bad_partition = request(site, "bad", ["true"], extra_sbatch={"partition": "nosuchpartition"})
    outside = SubmitRequest(key="outside", token=site.token(), options=JobScriptOptions(
        job_dir="/tmp/mpflow-outside", stage="emmd", mdrun=False))
    outcomes = submit_batch(client, [good[0], bad_partition, good[1], outside, good[2], good[3]])
    assert list(outcomes) == ["m0", "bad", "m1", "outside", "m2", "m3"]
    assert dict(counting.calls) == {"write_files": 1, "run": 1}
    assert all(outcomes[r.key].error is None and outcomes[r.key].job_id.isdigit() for r in good)
    assert len({outcomes[r.key].job_id for r in good}) == 4
    bad = outcomes["bad"].error.splitlines()
    assert bad[0] == (f"[{site.name}] sbatch failed: sbatch: error: invalid partition specified: nosuchpartition "
                      "sbatch: error: Batch job submission failed: Invalid partition name specified; check the "
                      "cluster's `partition` (or the job's extra_sbatch partition)")
    assert bad[1].startswith("command: sbatch --parsable --job-name=mpf-") and bad[1].endswith("emmd." + site.name
                                                                                              + ".sbatch")
    assert outcomes["outside"].error.startswith(f"[{site.name}] path '/tmp/mpflow-outside/emmd.{site.name}.sbatch' "
                                                "is outside the cluster's workdir")
    refs = [JobRef(k, site.path(k), "emmd", job_id=outcomes[k].job_id) for k in ("m0", "m1", "m2", "m3")]
    obs = site.client.observe(refs).observations
    assert {k: (o.state, o.pending_reason, o.failure_kind) for k, o in obs.items()} == {
        k: (JobState.PD, "JobHeldUser", None) for k in ("m0", "m1", "m2", "m3")}
    assert site.client.cancel([outcomes[k].job_id for k in ("m0", "m1", "m2", "m3")]) == []


def test_jobs_done_failed_and_not_submitted_are_observed_with_one_scheduler_command(site):
    ok = request(site, "ok", ["gmx -quiet solvate -cs spc216 -box 1.5 1.5 1.5 -o emmd.gro", "touch emmd.log"])
    bad = request(site, "bad", ["touch emmd.log", "exit 3"])
    outcomes = submit_batch(site.client, [ok, bad])
    assert [o.error for o in outcomes.values()] == [None, None]
    refs = [JobRef(k, site.path(k), "emmd", job_id=o.job_id) for k, o in outcomes.items()]
    refs.append(JobRef("never", site.path("never"), "emmd"))
    observe_until_terminal(site.client, refs[:2])
    counting = Counting(site.transport)
    result = SlurmClient(counting).observe(refs)
    final = result.observations
    assert (final["ok"].state, final["ok"].failure_kind, final["ok"].exit_code) == (JobState.D, None, 0)
    assert (final["ok"].files.has_gro, final["ok"].files.exit_code, final["ok"].files.exit_job_id) == (
        True, 0, outcomes["ok"].job_id)
    assert final["ok"].start is not None and final["ok"].end >= final["ok"].start
    assert (final["bad"].state, final["bad"].failure_kind, final["bad"].detail, final["bad"].exit_code) == (
        JobState.F, FailureKind.NONZERO_EXIT, "exit code 3", 3)
    assert (final["never"].state, final["never"].job_id, final["never"].failure_kind) == (JobState.NS, None, None)
    # squeue still holds both finished jobs (MinJobAge), so: one squeue and one file probe, nothing per job
    assert result.commands == 2 == counting.calls["run"] and dict(counting.calls) == {"run": 2}
    assert [argv[0] for argv in counting.commands] == ["squeue", "sh"]


def test_finished_jobs_cost_no_more_commands_than_pending_ones(site):
    reqs = [held(site, f"m{i}") for i in range(6)]
    outcomes = submit_batch(site.client, reqs)
    refs = [JobRef(k, site.path(k), "emmd", job_id=o.job_id) for k, o in outcomes.items()]
    before = site.client.observe(refs)
    site.client.cancel([outcomes[f"m{i}"].job_id for i in range(4)])

    def four_cancelled():
        result = site.client.observe(refs)
        return result if sum(o.state is JobState.F for o in result.observations.values()) == 4 else None

    after = wait_until("the cancelled jobs to show as cancelled", four_cancelled, timeout=30)
    assert {k: (o.state, o.failure_kind) for k, o in after.observations.items()} == {
        **{f"m{i}": (JobState.F, FailureKind.CANCELLED) for i in range(4)},
        **{f"m{i}": (JobState.PD, None) for i in (4, 5)}}
    later = site.client.observe([r for r in refs if not after.observations[r.key].terminal])
    assert before.commands == after.commands == later.commands == 2


def test_a_job_slurm_forgot_is_judged_by_its_own_exit_code_file(site):
    """After MinJobAge neither squeue nor scontrol knows a job; its folder still does. The files are what
    the job script writes (exit code and job id); job 9999999 never existed on the dev clusters."""
    gone, other = "9999999", "9999998"
    site.transport.write_files({site.path("done", "emmd.gro"): b"x\n",
                                site.path("done", f"emmd.{site.name}.exitcode"): f"0 {gone}\n".encode(),
                                site.path("stale", f"emmd.{site.name}.exitcode"): f"0 {other}\n".encode()})
    refs = [JobRef("done", site.path("done"), "emmd", job_id=gone),
            JobRef("stale", site.path("stale"), "emmd", job_id=gone)]
    client = SlurmClient(site.transport)
    first, second = client.observe(refs), client.observe(refs)
    assert (first.observations["done"].state, first.observations["done"].exit_code) == (JobState.D, 0)
    stale = first.observations["stale"]
    assert (stale.state, stale.failure_kind) == (JobState.F, FailureKind.LOST)
    assert stale.detail.startswith(f"job {gone} is no longer known to Slurm and wrote no exit-code file")
    if site.settings.kind == "local":  # accounting: one sacct by id on each poll that misses a job
        assert (first.accounting, first.commands, second.commands) == (True, 3, 3)
    else:  # no accounting: learnt once, then never asked again
        assert (first.accounting, first.commands, second.commands) == (False, 3, 2)


def test_lost_job_id_is_recovered_from_the_token(site):
    req = held(site, "m")
    outcome = submit_batch(site.client, [req])["m"]
    ref = JobRef("m", site.path("m"), "emmd", job_id=None, token=req.token)
    obs = site.client.observe([ref]).observations["m"]
    assert (obs.state, obs.job_id, obs.pending_reason) == (JobState.PD, outcome.job_id, "JobHeldUser")


def test_cancel_a_pending_job(site):
    req = request(site, "m", ["sleep 60"], extra_sbatch={"hold": ""})
    outcome = submit_batch(site.client, [req])["m"]
    ref = JobRef("m", site.path("m"), "emmd", job_id=outcome.job_id)
    assert site.client.observe([ref]).observations["m"].state is JobState.PD
    assert site.client.cancel([outcome.job_id]) == []
    obs = wait_until("cancelled job to be reported", lambda: (
        o if (o := site.client.observe([ref]).observations["m"]).state is JobState.F else None), timeout=60)
    assert (obs.failure_kind, obs.detail, obs.slurm.slurm_state) == (FailureKind.CANCELLED, "CANCELLED", "CANCELLED")


def test_cancel_of_an_unknown_id_is_not_an_error(site):
    assert site.client.cancel(["9999999"]) == []  # Slurm 22.05 ignores unknown ids with exit code 0


def test_a_scheduler_error_carries_the_cluster_the_command_and_a_hint(site):
    with pytest.raises(SchedulerError) as info:
        site.client.submit(site.path("no-such-script.sh"), token=site.token())
    err = info.value
    assert (err.cluster, err.argv[0], err.argv[-1], err.returncode) == (site.name, "sbatch",
                                                                        site.path("no-such-script.sh"), 1)
    assert str(err).splitlines()[0].startswith(f"[{site.name}] sbatch failed: sbatch: error: Unable to open file")
    assert err.hint == "the job script is not on the cluster (was the upload refused?)"


@pytest.mark.slow
def test_job_over_its_time_limit_fails_with_failure_kind_timeout(sites):
    """--time=1 minute; Slurm kills the job at its next time-limit check (about 1-1.5 min)."""
    refs = {}
    for site in sites.values():
        req = request(site, "m", ["touch urmd.log", "sleep 600"], stage="urmd", time_limit_min=1)
        outcome = submit_batch(site.client, [req])["m"]
        assert outcome.error is None
        refs[site.name] = JobRef("m", site.path("m"), "urmd", job_id=outcome.job_id)
    started = time.monotonic()
    for name, site in sites.items():
        obs = observe_until_terminal(site.client, [refs[name]], timeout=240).observations["m"]
        assert (obs.state, obs.failure_kind, obs.slurm.slurm_state) == (JobState.F, FailureKind.TIMEOUT, "TIMEOUT")
    assert time.monotonic() - started < 240
