"""The Slurm layer on the real dev clusters: render → submit → observe → cancel, in batches.

alpha is reached locally (subprocesses, accounting), beta over SSH (no accounting: its states come
from squeue, scontrol and the job's files).
"""

from __future__ import annotations

import posixpath
import time

import pytest
from cluster_helpers import new_token, wait_until

from mpflow.jobscript import JobScriptOptions
from mpflow.slurm import JobState, SlurmCommandError
from mpflow.slurm_client import JobRef, SlurmClient
from mpflow.submission import SubmitRequest, submit_batch
from mpflow.transport import open_transport

TERMINAL = {JobState.D, JobState.F}


def _request(folder: str, stage: str, commands: list[str], **opts) -> SubmitRequest:
    return SubmitRequest(key=posixpath.basename(folder), token=new_token("s"), tag="Conformation1",
                         options=JobScriptOptions(job_dir=folder, stage=stage, commands=commands, mdrun=False,
                                                  time_limit_min=5, **opts))


def _observe_until_terminal(client: SlurmClient, refs: list[JobRef], timeout: float = 150):
    def all_done():
        result = client.observe(refs)
        return result if all(o.state in TERMINAL for o in result.observations.values()) else None

    return wait_until(f"jobs on {client.cluster} to finish", all_done, timeout=timeout, interval=1.0)


@pytest.fixture(params=["master", "slave"])
def client(request):
    settings = request.getfixturevalue(request.param)
    with open_transport(settings) as transport:
        yield SlurmClient(transport)


def test_rendered_scripts_pass_sbatch_test_only(client):
    base = posixpath.join(client.transport.settings.workdir, "tests", new_token("testonly"))
    req = _request(posixpath.join(base, "m1"), "emmd", [], cpus_per_task=1)
    req = SubmitRequest(req.key, req.token, req.tag, req.options.model_copy(update={"mdrun": True}))
    [outcome] = submit_batch(client, [req], test_only=True)
    assert outcome.error is None and outcome.job_id is None
    # The GPU variant asks for --gres=gpu:1, which the GPU-less dev clusters refuse: Slurm saw the flag.
    gpu = SubmitRequest(req.key, new_token("g"), req.tag, req.options.model_copy(update={"gpu": True}))
    [refused] = submit_batch(client, [gpu], test_only=True)
    assert refused.error is not None and "gres" in refused.error.lower()


def test_batch_submit_and_observe_done_failed_and_not_submitted(client):
    wd = client.transport.settings.workdir
    base = posixpath.join(wd, "tests", new_token("batch"))
    ok = _request(posixpath.join(base, "ok"), "emmd",
                  ["gmx -quiet solvate -cs spc216 -box 1.5 1.5 1.5 -o emmd.gro", "touch emmd.log"])
    bad = _request(posixpath.join(base, "bad"), "emmd", ["touch emmd.log", "exit 3"])
    outcomes = submit_batch(client, [ok, bad])
    assert [o.error for o in outcomes] == [None, None]
    refs = [JobRef(o.key, r.options.job_dir, "emmd", job_id=o.job_id) for o, r in zip(outcomes, [ok, bad])]
    refs.append(JobRef("never", posixpath.join(base, "never"), "emmd"))
    result = _observe_until_terminal(client, refs[:2])
    final = client.observe(refs).observations
    assert (final["ok"].state, final["ok"].reason) == (JobState.D, None)
    assert final["ok"].files.has_gro and final["ok"].files.exit_code == 0
    assert (final["bad"].state, final["bad"].reason) == (JobState.F, "exit code 3")
    assert final["bad"].files.exit_code == 3
    assert (final["never"].state, final["never"].job_id) == (JobState.NS, None)
    assert result.accounting is (client.transport.settings.kind == "local")
    # one squeue, one sacct where accounting exists (beta answers once that it has none), one probe;
    # scontrol only for ids neither squeue nor sacct knows
    assert result.commands <= 2 + 1 + len(refs)


def test_lost_job_id_is_recovered_from_the_token(client):
    base = posixpath.join(client.transport.settings.workdir, "tests", new_token("token"))
    req = _request(posixpath.join(base, "m"), "emmd", [], extra_sbatch={"hold": ""})
    [outcome] = submit_batch(client, [req])
    try:
        ref = JobRef("m", req.options.job_dir, "emmd", job_id=None, token=req.token)
        obs = client.observe([ref]).observations["m"]
        assert (obs.state, obs.job_id) == (JobState.PD, outcome.job_id)
    finally:
        client.cancel([outcome.job_id])


def test_cancel_a_pending_job(client):
    base = posixpath.join(client.transport.settings.workdir, "tests", new_token("cancel"))
    req = _request(posixpath.join(base, "m"), "emmd", ["sleep 60"], extra_sbatch={"hold": ""})
    [outcome] = submit_batch(client, [req])
    ref = JobRef("m", req.options.job_dir, "emmd", job_id=outcome.job_id)
    assert client.observe([ref]).observations["m"].state is JobState.PD
    assert client.cancel([outcome.job_id]) == []
    obs = wait_until("cancelled job to be reported", lambda: (
        o if (o := client.observe([ref]).observations["m"]).state is JobState.F else None), timeout=60)
    assert obs.reason == "CANCELLED"


def test_cancel_of_an_unknown_id_is_not_an_error(client):
    assert client.cancel(["999999"]) in ([], ["999999"])


@pytest.mark.slow
def test_job_over_its_time_limit_fails_with_reason_timeout(master, slave):
    """--time=1 minute; Slurm kills the job at its next time-limit check (about 1-1.5 min)."""
    clients, refs = {}, {}
    with open_transport(master) as tm, open_transport(slave) as ts:
        for t in (tm, ts):
            c = SlurmClient(t)
            folder = posixpath.join(t.settings.workdir, "tests", new_token("timeout"), "m")
            req = _request(folder, "urmd", ["touch urmd.log", "sleep 600"])
            req = SubmitRequest(req.key, req.token, req.tag, req.options.model_copy(update={"time_limit_min": 1}))
            [o] = submit_batch(c, [req])
            assert o.error is None
            clients[t.settings.name], refs[t.settings.name] = c, JobRef("m", folder, "urmd", job_id=o.job_id)
        started = time.monotonic()
        for name, c in clients.items():
            obs = _observe_until_terminal(c, [refs[name]], timeout=240).observations["m"]
            assert (obs.state, obs.reason) == (JobState.F, "TIMEOUT"), (name, obs)
            assert obs.slurm.slurm_state == "TIMEOUT"
        assert time.monotonic() - started < 240


def test_sbatch_refusal_is_reported_per_job_not_for_the_batch(client):
    base = posixpath.join(client.transport.settings.workdir, "tests", new_token("refuse"))
    good = _request(posixpath.join(base, "good"), "emmd", ["true"])
    bad = _request(posixpath.join(base, "bad"), "emmd", ["true"], extra_sbatch={"partition": "nosuchpartition"})
    outcomes = submit_batch(client, [bad, good])
    assert outcomes[0].job_id is None and "partition" in outcomes[0].error.lower()
    assert outcomes[1].error is None and outcomes[1].job_id.isdigit()
    with pytest.raises(SlurmCommandError):
        client.submit("/nonexistent/script.sh", token=new_token("x"))
