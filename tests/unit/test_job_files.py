"""How a job folder's files and the scheduler's answer combine into one state."""

from __future__ import annotations

import pytest

from mpflow.job_files import FileEvidence, parse_probe, probe_argv, resolve_state, state_from_files
from mpflow.slurm import JobState, SlurmStatus


def ev(gro=False, log=False, code=None):
    return FileEvidence("/w/m/emmd", "emmd", gro, log, code)


def st(state, slurm_state, reason=None):
    return SlurmStatus("7", "mpf-x", state, slurm_state, reason)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (ev(), (JobState.NS, None)),
        (ev(gro=True, log=True, code=0), (JobState.D, None)),
        (ev(gro=True), (JobState.D, None)),
        (ev(log=True, code=3), (JobState.F, "exit code 3")),
        (ev(gro=True, code=137), (JobState.F, "exit code 137")),
        (ev(code=0), (JobState.F, "exit code 0 but no emmd.gro")),
        (ev(log=True), (JobState.F, "emmd.log without emmd.gro and no job")),
    ],
)
def test_state_from_files(files, expected):
    assert state_from_files(files) == expected


@pytest.mark.parametrize(
    ("status", "files", "expected"),
    [
        (st(JobState.PD, "PENDING", "Priority"), ev(), (JobState.PD, "Priority")),
        (st(JobState.R, "RUNNING"), ev(log=True), (JobState.R, None)),
        (st(JobState.D, "COMPLETED"), ev(gro=True, code=0), (JobState.D, None)),
        (st(JobState.D, "COMPLETED"), ev(code=0), (JobState.F, "exit code 0 but no emmd.gro")),
        (st(JobState.D, "COMPLETED"), ev(), (JobState.F, "COMPLETED but no emmd.gro")),
        (st(JobState.F, "TIMEOUT", "TIMEOUT"), ev(log=True, code=143), (JobState.F, "TIMEOUT")),
        (st(JobState.F, "FAILED", "FAILED"), ev(code=2), (JobState.F, "exit code 2")),
        (st(JobState.F, "NODE_FAIL", "NODE_FAIL"), ev(), (JobState.F, "NODE_FAIL")),
        (None, ev(gro=True, code=0), (JobState.D, None)),
        (None, ev(), (JobState.NS, None)),
        (None, None, (JobState.NS, None)),
    ],
)
def test_resolve_state(status, files, expected):
    assert resolve_state(status, files) == expected


def test_probe_argv_passes_folders_as_arguments_and_refuses_newlines():
    argv = probe_argv("beta", [("/w/a b;$(reboot)", "emmd")])
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["mpflow-probe", "beta", "/w/a b;$(reboot)", "emmd"]
    with pytest.raises(ValueError):
        probe_argv("beta", [("/w/a\nb", "emmd")])


def test_parse_probe():
    out = "1\t1\t0\temmd\t/w/m1/emmd\n0\t0\t-\tprmd\t/w/m 2/prmd\n"
    found = parse_probe(0, out, "")
    assert found[("/w/m1/emmd", "emmd")] == FileEvidence("/w/m1/emmd", "emmd", True, True, 0)
    assert found[("/w/m 2/prmd", "prmd")] == FileEvidence("/w/m 2/prmd", "prmd", False, False, None)
