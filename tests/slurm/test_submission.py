"""Submission requests are checked when built; a batch refuses duplicates before anything is sent, and a
job that cannot be rendered or written gets its own error (on a local transport: no sbatch is reached)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from transport_wrappers import Counting

from mpflow.slurm.client import SlurmClient
from mpflow.slurm.jobscript import JobScriptOptions
from mpflow.slurm.submission import SubmitRequest, submit_batch

FORGED_TAG = "None\n99999|mpf-forged-job|COMPLETED|None|N/A|x"


def options(job_dir: str, **kw) -> JobScriptOptions:
    return JobScriptOptions(job_dir=job_dir, stage="emmd", mdrun=False, **kw)


@pytest.mark.parametrize(("fields", "where"), [
    ({"key": "m1\nm2"}, "key"),
    ({"key": ""}, "key"),
    ({"token": "Has Spaces"}, "token"),
    ({"token": "ab"}, "token"),
    ({"options": {"job_dir": "/w/m1", "stage": "emmd", "comment": FORGED_TAG}}, "options"),
    ({"options": {"job_dir": "/w/m 1", "stage": "emmd"}}, "options"),
    ({"options": {"job_dir": "/w/m1", "stage": "emmd", "extra_sbatch": {"chdir": "/etc"}}}, "options"),
])
def test_requests_are_checked_when_built(fields, where):
    base = {"key": "m1", "token": "abc-123", "options": options("/w/m1")}
    with pytest.raises(ValidationError) as info:
        SubmitRequest(**{**base, **fields})
    assert info.value.errors()[0]["loc"][0] == where


def test_the_jobs_comment_is_its_options_comment_and_nothing_else_is_accepted():
    req = SubmitRequest(key="m1", token="abc-123", options=options("/w/m1", comment="WT:None:m1:emmd"))
    assert req.options.comment == "WT:None:m1:emmd"
    with pytest.raises(ValidationError, match="tag"):
        SubmitRequest(key="m1", token="abc-123", tag="Conformation1", options=options("/w/m1"))


def test_duplicates_are_refused_before_anything_is_sent(local_pair):
    here, _ = local_pair
    counting = Counting(here)
    wd = here.settings.workdir
    a = SubmitRequest(key="m1", token="abc-123", options=options(f"{wd}/m1"))
    for dup in (a.model_copy(update={"token": "abc-456"}),  # same key
                a.model_copy(update={"key": "m2"}),  # same token
                SubmitRequest(key="m3", token="abc-789", options=options(f"{wd}/m1"))):  # same folder and stage
        with pytest.raises(ValueError, match="duplicate .* nothing was submitted"):
            submit_batch(SlurmClient(counting), [a, dup])
    assert sum(counting.calls.values()) == 0


def test_jobs_that_cannot_be_rendered_or_placed_fail_alone(local_pair):
    here, _ = local_pair
    cluster = here.settings.model_copy(update={"cpu_template": "{{ header }}\n{{ no_such_slot }}\n"})
    counting = Counting(type(here)(cluster))
    wd = cluster.workdir
    outcomes = submit_batch(SlurmClient(counting), [
        SubmitRequest(key="outside", token="abc-001", options=options("/tmp/elsewhere")),
        SubmitRequest(key="template", token="abc-002", options=options(f"{wd}/m2")),
    ])
    assert {k: (o.job_id, o.error) for k, o in outcomes.items()} == {
        "outside": (None, f"[here] path '/tmp/elsewhere/emmd.here.sbatch' is outside the cluster's workdir {wd}; "
                          "mpflow reads and writes files only inside it"),
        "template": (None, "cluster here: cpu_template, line 2: 'no_such_slot' is undefined"),
    }
    assert dict(counting.calls) == {}  # nothing was left to upload or submit
