"""Command errors: a complete first line, the command and its output after it, and they survive pickling
(Prefect stores a failed task's exception)."""

from __future__ import annotations

import pickle

import pytest

from mpflow.clusters.transport import ClusterSettingsError, ClusterUnreachable
from mpflow.slurm.commands import SchedulerError, scheduler_error


def test_the_first_line_is_complete_and_the_details_follow():
    err = scheduler_error("sbatch", 1, "", "sbatch: error: invalid partition specified: gpu\n").at(
        "beta", ["sbatch", "--parsable", "/w/a b/job.sh"])
    assert str(err).splitlines() == [
        "[beta] sbatch failed: sbatch: error: invalid partition specified: gpu; check the cluster's `partition` "
        "(or the job's extra_sbatch partition)",
        "command: sbatch --parsable '/w/a b/job.sh'",
        "exit code: 1",
        "stderr: sbatch: error: invalid partition specified: gpu",
    ]


@pytest.mark.parametrize("err", [
    SchedulerError("squeue failed", cluster="beta", argv=["squeue"], returncode=1, stderr="down", hint="wait"),
    ClusterUnreachable("connection lost", cluster="beta", argv=["true"]),
    ClusterSettingsError("key_path /k does not exist", setting="key_path", cluster="beta", hint="fix it"),
])
def test_errors_survive_pickling_with_every_field(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err) and back.__dict__ == err.__dict__
