"""Frame selections, tags and chunk planning (plain functions, no files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpflow.analysis.frames import (
    Chunk,
    FrameSelectionError,
    FrameSource,
    arithmetic_runs,
    frame_tag,
    parse_frame_spec,
    plan_chunks,
)
from typer.testing import CliRunner

from mpflow.cli import app


@pytest.mark.parametrize("spec, n, expected", [
    ("all", 5, [0, 1, 2, 3, 4]),
    ("last:3", 10, [7, 8, 9]),
    ("last:4:2", 10, [6, 8]),
    ("last:50", 3, [0, 1, 2]),
    ("2:8:3", 10, [2, 5]),
    (":3", 10, [0, 1, 2]),
    ("windows:2:5", 12, [0, 1, 5, 6, 10, 11]),
    ("5", 10, [5]),
    ("-1", 10, [9]),
    ("-3", 10, [7]),
    ("::", 4, [0, 1, 2, 3]),
    ("::2", 5, [0, 2, 4]),
    ("ALL", 3, [0, 1, 2]),
    ("12", 10, []),
])
def test_frame_specs(spec, n, expected):
    assert parse_frame_spec(spec).frames(n).tolist() == expected


@pytest.mark.parametrize("bad", ["last", "last:0", "windows:5:2", "1:2:0", "every:3", "a:b"])
def test_bad_frame_specs_are_refused(bad):
    with pytest.raises(ValueError, match="frame selection"):
        parse_frame_spec(bad)


@pytest.mark.parametrize(("bad", "reason"), [
    ("x", "expected all, N, START:STOP[:STEP], last:N[:STEP] or windows:SIZE:EVERY"),
    ("", "expected all, N, START:STOP[:STEP], last:N[:STEP] or windows:SIZE:EVERY"),
    ("1:2:3:4", "expected all, N, START:STOP[:STEP], last:N[:STEP] or windows:SIZE:EVERY"),
    ("a:b", "START, STOP and STEP must be integers"),
    ("0:10:-1", "STEP must be positive"),
    ("last:0", "last:N[:STEP] needs whole numbers N >= 1 and STEP >= 1"),
    ("windows:5:2", "windows:SIZE:EVERY needs 1 <= SIZE <= EVERY"),
])
def test_a_bad_frame_spec_is_one_line_naming_it_and_why(bad, reason):
    with pytest.raises(FrameSelectionError) as caught:
        parse_frame_spec(bad)
    assert (caught.value.text, caught.value.reason) == (bad, reason)
    assert str(caught.value) == f"frame selection {bad!r}: {reason}"


def test_tags():
    assert frame_tag("Conformation2", "docked", 0) == "Conformation2"
    assert frame_tag(None, "docked", 0) == "None"
    assert frame_tag("Conformation1", "urmd", 42) == "Conformation1:URMD:Protein_42"
    assert frame_tag(None, "emmd", 3) == "None:EMMD:Protein_3"


def test_runs():
    assert arithmetic_runs(np.array([0, 1, 2, 5, 10, 15, 16])) == [(0, 3, 1), (5, 16, 5), (16, 17, 1)]


def _src(i, stage):
    return FrameSource(model_id=i, mutant="WT", group=None, name=f"m{i}", stage=stage,
                       topology=Path("/x.pdb"), trajectory=None if stage == "docked" else Path("/x.xtc"))


def test_chunks_pack_docked_models_and_split_trajectories_and_skip_done_frames():
    wanted = [(_src(i, "docked"), np.array([0])) for i in range(1, 6)]
    wanted += [(_src(1, "urmd"), np.arange(10))]
    done = {(1, "urmd", f) for f in range(4)} | {(2, "docked", 0)}
    chunks = plan_chunks(wanted, done, chunk_frames=4)
    assert all(isinstance(c, Chunk) and c.n_frames <= 4 for c in chunks)
    parts = [(p.source.model_id, p.source.stage, p.frames) for c in chunks for p in c.parts]
    assert parts == [(1, "docked", (0,)), (3, "docked", (0,)), (4, "docked", (0,)), (5, "docked", (0,)),
                     (1, "urmd", (4, 5, 6, 7)), (1, "urmd", (8, 9))]
    assert [c.n_frames for c in chunks] == [4, 4, 2]


def test_source_validation():
    with pytest.raises(ValueError, match="ConformationN"):
        FrameSource(model_id=1, mutant="WT", group="Conf1", name="m", stage="urmd", topology=Path("/x"))
    assert FrameSource(model_id=1, mutant="WT", group="None", name="m", stage="urmd",
                       topology=Path("/x")).conformation == "None"


def test_cli_analyse_one_line_errors(tmp_path):
    r = CliRunner().invoke(app, ["analyse", str(tmp_path / "none.csv"), "-o", str(tmp_path / "o")])
    assert r.exit_code == 1 and "manifest" in r.output and "file not found" in r.output
    r = CliRunner().invoke(app, ["analyse", "m.csv", "-o", "o", "--frames", "prmd=last"])
    assert r.exit_code == 2 and r.output.count("error:") == 1
    r = CliRunner().invoke(app, ["analyse", "m.csv", "-o", "o", "--frames", "nvt=all"])
    assert r.exit_code == 2 and "unknown stage 'nvt'" in r.output
