"""The GROMACS log parser on real logs of the dev clusters' GROMACS 2022 (running, finished, stopped
by a signal, killed, stopped by -maxh, continued, a minimisation) and on logs in GROMACS 2018's and
2024's formats (``tests/data/mdlog/README.md`` says where each comes from); and the probe's key lines
of each log, read by the real probe script, parse to the same reading as the whole log."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from mpflow.slurm.job_files import parse_probe, probe_argv, probe_stdin
from mpflow.slurm.md_log import MdLog, parse_md_log

LOGS = Path(__file__).resolve().parents[1] / "data" / "mdlog"
V22 = "2022.5-Debian_2022.5_2"


def _log(name: str) -> MdLog:
    return parse_md_log((LOGS / f"{name}.log").read_text().splitlines())


MD22 = dict(version=V22, integrator="md", dt_ps=0.002, init_step=0, atoms=663)

EXPECTED = {
    "gromacs-2022-finished": MdLog(**MD22, nsteps=5000, started=datetime(2026, 12, 2, 3, 28, 7), step=5000,
                                   time_ps=10.0, ns_per_day=21.955, wall_s=39.361, finished=True),
    "gromacs-2022-running": MdLog(**MD22, nsteps=2000000, started=datetime(2026, 12, 2, 3, 28, 9), step=1500,
                                  time_ps=3.0),
    "gromacs-2022-terminated": MdLog(**MD22, nsteps=2000000, started=datetime(2026, 12, 2, 3, 28, 12), step=1160,
                                     time_ps=2.32, ns_per_day=13.028, wall_s=15.4, finished=True,
                                     stopped="TERM signal"),
    "gromacs-2022-sigkill": MdLog(**MD22, nsteps=2000000, started=datetime(2026, 12, 2, 3, 30, 13), step=2000,
                                  time_ps=4.0),
    "gromacs-2022-maxh": MdLog(**MD22, nsteps=2000000, started=datetime(2026, 12, 2, 3, 28, 16), step=51760,
                               time_ps=103.52, ns_per_day=156.412, wall_s=57.184, finished=True,
                               stopped="time limit (-maxh)"),
    # the second part's start, speed and end; the first part's -maxh stop is over
    "gromacs-2022-resumed": MdLog(**MD22, nsteps=40000, started=datetime(2026, 12, 2, 3, 30, 38), resumed=True,
                                  step=40000, time_ps=80.0, ns_per_day=130.319, wall_s=19.732, finished=True),
    "gromacs-2022-em": MdLog(version=V22, integrator="steep", nsteps=500, dt_ps=0.002,
                             started=datetime(2026, 12, 2, 3, 28, 7), step=73, time_ps=73.0, finished=True,
                             minimised="converged to Fmax < 100 in 74 steps"),
    "gromacs-2018-finished": MdLog(version="2018.4", integrator="md", nsteps=50000, dt_ps=0.002, atoms=31207,
                                   started=datetime(2018, 1, 15, 11, 55, 10), step=50000, time_ps=100.0,
                                   ns_per_day=56.397, wall_s=153.2, finished=True),
    "gromacs-2024-running": MdLog(version="2024.2", integrator="md", nsteps=50000000, dt_ps=0.002, atoms=98765,
                                  started=datetime(2024, 3, 12, 9, 14, 7), step=2350000, time_ps=4700.0),
    "gromacs-2024-finished": MdLog(version="2024.2", integrator="md", nsteps=50000000, dt_ps=0.002, atoms=98765,
                                   started=datetime(2024, 3, 12, 9, 14, 7), step=50000000, time_ps=100000.0,
                                   ns_per_day=42.746, wall_s=202124.0, finished=True),
}


def test_every_fixture_is_in_the_table():
    assert sorted(p.stem for p in LOGS.glob("*.log")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_whole_log(name):
    assert _log(name) == EXPECTED[name]


def test_the_speed_gromacs_reports_is_its_steps_over_its_wall_time():
    for name in ("gromacs-2022-finished", "gromacs-2018-finished", "gromacs-2024-finished"):
        log = _log(name)
        steps = log.step - log.init_step
        assert steps * log.dt_ps / 1000 / (log.wall_s / 86400) == pytest.approx(log.ns_per_day, rel=2e-3)


def test_a_log_being_written_and_one_that_is_no_gromacs_log():
    text = (LOGS / "gromacs-2022-finished.log").read_text()
    header_only = text[: text.index("Started mdrun")]
    assert parse_md_log(header_only.splitlines()) == MdLog(version=V22, integrator="md", nsteps=5000,
                                                           dt_ps=0.002, atoms=663)
    half_block = text[: text.index("           Step           Time") + 40]  # a header without its values yet
    assert parse_md_log(half_block.splitlines()).step is None
    other = parse_md_log(["+ cd /work/x", "step 1 of my own script", "Performance: great"])
    assert other == MdLog() and not other.is_gromacs


def test_the_probe_keeps_a_few_lines_of_each_log_and_they_read_the_same(tmp_path):
    """The real probe script (sh, stat, head, tail, awk) on copies of every fixture, with and
    without the header; its output stays small whatever a log's length."""
    folders = []
    for name in sorted(EXPECTED):
        folder = tmp_path / f"{name} job"  # a space in the folder, as the probe must take
        folder.mkdir()
        shutil.copy(LOGS / f"{name}.log", folder / "urmd.log")
        folders.append((str(folder), "urmd"))
    res = subprocess.run(probe_argv("alpha"), input=probe_stdin([(f, s, True) for f, s in folders]),
                         capture_output=True, text=True)
    found = parse_probe(res.returncode, res.stdout, res.stderr)
    for (folder, stage), name in zip(folders, sorted(EXPECTED)):
        ev = found[(folder, stage)]
        assert ev.log.started.tzinfo is not None  # the cluster's time zone, from the probe
        assert replace(ev.log, started=ev.log.started.replace(tzinfo=None)) == EXPECTED[name], name
        assert ev.log_mtime == pytest.approx((Path(folder) / "urmd.log").stat().st_mtime, abs=1.0)
        assert ev.probed_at is not None and ev.probed_at >= ev.log_mtime
    assert _largest_output_per_log(res.stdout) < 1800  # read once per job
    # tail only (the header is known): the last step, speed and end are still read
    res = subprocess.run(probe_argv("alpha"), input=probe_stdin([(f, s, False) for f, s in folders]),
                         capture_output=True, text=True)
    found = parse_probe(res.returncode, res.stdout, res.stderr)
    for (folder, stage), name in zip(folders, sorted(EXPECTED)):
        got, want = found[(folder, stage)].log, EXPECTED[name]
        assert (got.step, got.time_ps, got.ns_per_day, got.finished, got.stopped) == \
            (want.step, want.time_ps, want.ns_per_day, want.finished, want.stopped), name
    assert _largest_output_per_log(res.stdout) < 800  # every tick


def _largest_output_per_log(stdout: str) -> int:
    """Bytes of the probe's key lines (``L``) of the log that gave the most."""
    sizes: dict[str, int] = {}
    path = ""
    for line in stdout.splitlines():
        if line.startswith("p\t"):
            path = line[2:]
        elif line.startswith("L\t"):
            sizes[path] = sizes.get(path, 0) + len(line) + 1
    return max(sizes.values())
