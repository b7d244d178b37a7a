"""How a job folder's files and the scheduler's answer combine into one state, and the probe's argv/output."""

from __future__ import annotations

import subprocess
from dataclasses import astuple

import pytest

from mpflow.slurm.commands import SlurmStatus
from mpflow.slurm.job_files import (
    FileEvidence,
    Verdict,
    parse_probe,
    probe_argv,
    probe_stdin,
    resolve_state,
)
from mpflow.slurm.md_log import STOPPED_AT_MAXH, MdLog
from mpflow.states import FailureKind, JobState

F, D, NS = JobState.F, JobState.D, JobState.NS


def ev(gro=False, log=False, code=None, job="7", stopped=None, reason=None):
    reading = MdLog(nsteps=5000, step=2400, stopped=stopped, finished=True) if stopped else None
    return FileEvidence("/w/m/emmd", "emmd", gro, log or reading is not None, code,
                        job if code is not None else None, log=reading, reason=reason)


def st(state, slurm_state, kind=None, reason=None, exit_code=None):
    return SlurmStatus("7", "mpf-x", state, slurm_state, kind, reason, exit_code)


@pytest.mark.parametrize(
    ("job_id", "status", "files", "expected"),
    [
        # the scheduler still knows the job: live states win, whatever the files say
        ("7", st(JobState.PD, "PENDING", reason="Priority"), ev(), Verdict(JobState.PD)),
        ("7", st(JobState.R, "RUNNING"), ev(log=True, code=3), Verdict(JobState.R)),
        ("7", st(JobState.UNKNOWN, "WEIRD"), ev(), Verdict(JobState.UNKNOWN, None, "unknown Slurm state 'WEIRD'")),
        # finished: the files decide success
        ("7", st(D, "COMPLETED"), ev(gro=True, code=0), Verdict(D, None, None, 0)),
        ("7", st(D, "COMPLETED"), ev(code=0), Verdict(F, FailureKind.MISSING_OUTPUT, "COMPLETED but no emmd.gro", 0)),
        # mdrun ended the run itself at -maxh (exit 0, no .gro): a timeout, continued from the checkpoint
        ("7", st(D, "COMPLETED"), ev(code=0, stopped=STOPPED_AT_MAXH),
         Verdict(F, FailureKind.TIMEOUT, "mdrun stopped at its -maxh limit at step 2400 of 5000", 0)),
        ("7", None, ev(code=0, stopped=STOPPED_AT_MAXH),
         Verdict(F, FailureKind.TIMEOUT, "mdrun stopped at its -maxh limit at step 2400 of 5000", 0)),
        ("7", None, ev(code=0, stopped="TERM signal"),
         Verdict(F, FailureKind.MISSING_OUTPUT, "exit code 0 but no emmd.gro", 0)),
        ("7", st(F, "TIMEOUT", FailureKind.TIMEOUT), ev(log=True, code=143),
         Verdict(F, FailureKind.TIMEOUT, "TIMEOUT", 143)),
        ("7", st(F, "FAILED", FailureKind.NONZERO_EXIT), ev(code=2),
         Verdict(F, FailureKind.NONZERO_EXIT, "exit code 2", 2)),
        ("7", st(F, "FAILED", FailureKind.NONZERO_EXIT, exit_code=3), ev(),
         Verdict(F, FailureKind.NONZERO_EXIT, "exit code 3", 3)),
        # a preparation that refused its input: its reason file's line is the detail (with or without sacct)
        ("7", st(F, "FAILED", FailureKind.NONZERO_EXIT, exit_code=66), ev(code=66, reason="Fatal error: bad atom"),
         Verdict(F, FailureKind.NONZERO_EXIT, "Fatal error: bad atom", 66)),
        ("7", None, ev(code=66, reason="Fatal error: bad atom"),
         Verdict(F, FailureKind.NONZERO_EXIT, "Fatal error: bad atom", 66)),
        ("7", None, ev(code=66), Verdict(F, FailureKind.NONZERO_EXIT, "exit code 66", 66)),
        ("7", st(F, "NODE_FAIL", FailureKind.NODE_FAILURE), ev(), Verdict(F, FailureKind.NODE_FAILURE, "NODE_FAIL")),
        ("7", st(F, "CANCELLED", FailureKind.CANCELLED), ev(), Verdict(F, FailureKind.CANCELLED, "CANCELLED")),
        # forgotten by the scheduler: only this job's own exit-code file counts
        ("7", None, ev(gro=True, log=True, code=0), Verdict(D, None, None, 0)),
        ("7", None, ev(log=True, code=3), Verdict(F, FailureKind.NONZERO_EXIT, "exit code 3", 3)),
        ("7", None, ev(code=0), Verdict(F, FailureKind.MISSING_OUTPUT, "exit code 0 but no emmd.gro", 0)),
        ("8", None, ev(gro=True, code=0, job="7"),
         Verdict(F, FailureKind.LOST, "job 8 is no longer known to Slurm and wrote no exit-code file "
                                         "(cancelled before it started, or killed without a trace)")),
        ("7", None, ev(log=True), Verdict(F, FailureKind.LOST, "job 7 is no longer known to Slurm and wrote no "
                                                                  "exit-code file (cancelled before it started, or "
                                                                  "killed without a trace)")),
        # never submitted (or the token was not found): files of other attempts do not count
        (None, None, ev(gro=True, code=0), Verdict(NS)),
        (None, None, None, Verdict(NS)),
    ],
)
def test_resolve_state(job_id, status, files, expected):
    assert resolve_state(job_id, status, files) == expected


def test_probe_reads_folders_from_stdin_and_never_from_its_script(tmp_path):
    """The real probe script, run by the real sh on real folders."""
    good, bad, odd = tmp_path / "good", tmp_path / "bad", tmp_path / "a b;$(touch pwned)"
    for d in (good, bad, odd):
        d.mkdir()
    (good / "emmd.gro").write_text("x\n")
    (good / "emmd.log").write_text("")
    (good / "emmd.beta.exitcode").write_text("0 41\n")
    (bad / "emmd.log").write_text("")
    (bad / "emmd.beta.exitcode").write_text("3 42\n")
    (bad / "emmd.beta.reason").write_text("Fatal error:\tresidue XYZ not found\nsecond line\n")
    (odd / "emmd.beta.exitcode").write_text("garbage\n")
    folders = [(str(good), "emmd"), (str(bad), "emmd"), (str(odd), "emmd"), (str(tmp_path / "none"), "emmd")]
    argv = probe_argv("beta")
    assert argv[:2] == ["sh", "-c"] and argv[3:] == ["mpflow-probe", "beta"]
    res = subprocess.run(argv, input=probe_stdin(folders), capture_output=True, text=True, cwd=tmp_path)
    found = parse_probe(res.returncode, res.stdout, res.stderr)
    assert {k: v[:6] for k, v in ((k, astuple(v)) for k, v in found.items())} == {
        (str(good), "emmd"): (str(good), "emmd", True, True, 0, "41"),
        (str(bad), "emmd"): (str(bad), "emmd", False, True, 3, "42"),
        (str(odd), "emmd"): (str(odd), "emmd", False, False, None, None),
        (str(tmp_path / "none"), "emmd"): (str(tmp_path / "none"), "emmd", False, False, None, None),
    }
    # an empty log is no GROMACS log; a folder without one has no reading
    assert found[(str(good), "emmd")].log == MdLog() and found[(str(odd), "emmd")].log is None
    # a refusal's reason file: its first line only
    assert found[(str(bad), "emmd")].reason == "Fatal error:\tresidue XYZ not found"
    assert found[(str(good), "emmd")].reason is None
    assert not (tmp_path / "pwned").exists()


def test_probe_refuses_tabs_and_newlines_in_folders():
    with pytest.raises(ValueError, match="tab, newline"):
        probe_stdin([("/w/a\nb", "emmd")])
    with pytest.raises(ValueError, match="tab, newline"):
        probe_stdin([("/w/a\tb", "emmd")])
