"""``mpflow interactions``: tables with the documented dtypes and metadata, and for every bad input
one clear ``error:`` line, a non-zero exit, and nothing written (issue 14, item 6, case by case)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import warnings
from pathlib import Path

import MDAnalysis as mda
import numpy as np
import pandas as pd
import pytest
from analysis_helpers import write_wrapped
from mpflow.analysis.interactions import (
    INTERACTION_SCHEMA,
    read_table,
    table_metadata,
    write_table,
)
from mpflow.analysis.interactions.types import INTERACTION_TYPES
from mpflow.analysis.structure.helix_builder import (
    WZA_LIKE_SEQUENCE,
    build_oligomer,
    to_universe,
    write_pdb,
)
from typer.testing import CliRunner

from mpflow.cli import app

runner = CliRunner()
A, B = "chainID A", "chainID B"


@pytest.fixture(scope="module")
def ring_pdb(tmp_path_factory):
    path = tmp_path_factory.mktemp("ring") / "c8.pdb"
    return write_pdb(build_oligomer(WZA_LIKE_SEQUENCE, 8, 13.0), path)


@pytest.fixture(scope="module")
def gpcr():
    from prolif.datafiles import TOP, TRAJ

    return str(TOP), str(TRAJ)


def _run(*args):
    return runner.invoke(app, ["interactions", *map(str, args)])


def _one_error(result, code: int) -> str:
    """The single ``error:`` line of a failed run (and no traceback)."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, result.output
    return errors[0]


def _dtypes_match(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(INTERACTION_SCHEMA)
    for col, dtype in INTERACTION_SCHEMA.items():
        assert str(df[col].dtype) == str(dtype), col


# --------------------------------------------------------------------------- good runs
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_writes_table_with_documented_dtypes(ring_pdb, tmp_path, suffix):
    out = tmp_path / f"table{suffix}"
    result = _run(ring_pdb, "--types", "vdw,kih,hbond", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("wrote ") and "(criteria mpflow)" in result.output
    table = read_table(out)
    _dtypes_match(table)
    assert set(table["type"].astype(str)) == {"vdw", "kih", "hbond"}
    # the builder's PDB has no hydrogens: H-bonds come from the flagged heavy-atom fallback
    assert table.loc[table["type"] == "hbond", "fallback"].all()
    assert not table.loc[table["type"] != "hbond", "fallback"].any()
    assert len(table) > 0 and table["offset"].notna().all()
    assert table_metadata(table)["criteria"] == "mpflow"
    assert not list(tmp_path.glob(".*"))  # no temporary or probe file left behind
    if suffix == ".parquet":  # Parquet keeps the dtypes without help
        _dtypes_match(pd.read_parquet(out))


def test_trajectory_frames_params_and_criteria(gpcr, tmp_path):
    out = tmp_path / "t.parquet"
    result = _run(*gpcr, "--sel-a", A, "--sel-b", B, "--types", "hbond,hydrophobic",
                  "--frames", "10:40:10", "--param", "hbond.distance_max_A=3.0",
                  "--criteria", "prolif", "--out", out)
    assert result.exit_code == 0, result.output
    assert "(criteria prolif) from 3 frame(s)" in result.output
    table = read_table(out)
    assert sorted(table["frame"].unique()) == [10, 20, 30]
    hb = table[table["type"] == "hbond"]
    assert len(hb) > 0 and (hb["distance_A"] <= 3.0).all()
    meta = table_metadata(table)
    assert meta["criteria"] == "prolif" and meta["parameters"]["hbond"]["distance_max_A"] == 3.0


def test_intra_is_passed_on(gpcr, tmp_path):
    out = tmp_path / "intra.csv"
    same = ["--sel-a", A, "--sel-b", "chainID A and resid 100:140", "--types", "hbond"]
    line = _one_error(_run(*gpcr, *same, "--frames", "0", "--out", out), 1)
    assert line == ("error: no interchain pairs: sel_a and sel_b are both only chain A (chains "
                    "come from the topology: chain ids, segments, molecules or bonds; use --intra "
                    "for pairs within a chain)")
    assert not out.exists()
    result = _run(*gpcr, *same, "--frames", "0", "--intra", "--out", out)
    assert result.exit_code == 0, result.output
    table = read_table(out)
    assert len(table) > 20 and (table["offset"] == 0).all() and table_metadata(table)["intra"]


def test_empty_result_says_why(tmp_path):
    """Two helices 60 A apart: interchain pairs are possible but none is within the cut-offs."""
    pdb = write_pdb(build_oligomer(WZA_LIKE_SEQUENCE, 2, 30.0), tmp_path / "far.pdb")
    out = tmp_path / "far.csv"
    result = _run(pdb, "--types", "hbond,vdw", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"wrote 0 interactions to {out}: no hbond or vdw within the "
                                     "cut-offs between 'protein' and 'protein' in 1 frame(s) "
                                     "(criteria mpflow, chains A, B)")
    assert len(read_table(out)) == 0


def test_help_lists_types_with_parameters_and_sources():
    result = runner.invoke(app, ["interactions", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for name, cls in INTERACTION_TYPES.items():
        assert f"{name}:" in result.output
        for param in cls.parameters():
            assert param in result.output
    assert "--criteria prolif: ProLIF 2.2 Hydrophobic" in text
    assert "mpflow's own atom rule" in text


# --------------------------------------------------------------------------- chains and boxes
def test_gro_chain_crossing_the_box_is_not_split_into_fake_chains(tmp_path):
    """One helix across the faces of its box, as a GRO: one chain (bonds guessed with the box),
    so no "interchain" interaction exists; with --intra it is analysed whole."""
    u = to_universe(build_oligomer(WZA_LIKE_SEQUENCE, 1, 0.0, hydrogens=True))
    u.dimensions = np.array([60.0, 60.0, 60.0, 90.0, 90.0, 90.0], dtype=np.float32)
    gro = write_wrapped(u, slice(0, 1), tmp_path / "one_chain.gro")
    out = tmp_path / "x.csv"
    line = _one_error(_run(gro, "--out", out), 1)
    assert line.startswith("error: no interchain pairs: sel_a and sel_b are both only chain A")
    assert not out.exists()
    result = _run(gro, "--intra", "--types", "hbond", "--out", out)
    assert result.exit_code == 0, result.output
    assert "note: 1 of 1 frame(s) had molecules split across the periodic box; made whole from " \
           "the guessed bonds" in result.output
    table = read_table(out)
    assert set(table["chain_a"].astype(str)) == {"A"} and len(table) == 28


# --------------------------------------------------------------------------- bad options
@pytest.mark.parametrize(("param", "message"), [
    ("hbond.distance_max_A=nan", "--param hbond.distance_max_A=nan: must be a finite number"),
    ("hbond.distance_max_A=inf", "--param hbond.distance_max_A=inf: must be a finite number"),
    ("saltbridge.distance_max_A=-1", "--param saltbridge.distance_max_A=-1.0: must be > 0"),
    ("hydrophobic.distance_max_A=0", "--param hydrophobic.distance_max_A=0.0: must be > 0"),
    ("pistack_etf.plane_angle_min_deg=95",
     "--param pistack_etf.plane_angle_min_deg=95 is above pistack_etf.plane_angle_max_deg=90"),
    ("hbond.cutoff=3", "--param unknown parameter(s) cutoff for hbond; valid: distance_max_A, "
                       "angle_min_deg, angle_max_deg"),
    ("hbond.distance_max_A", "--param 'hbond.distance_max_A': expected TYPE.NAME=VALUE"),
])
def test_bad_parameters_are_refused_naming_them(ring_pdb, tmp_path, param, message):
    out = tmp_path / "x.csv"
    line = _one_error(_run(ring_pdb, "--param", param, "--out", out), 2)
    assert line.startswith(f"error: {message}")
    assert not out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--types", "hbond,pication"], "--types: unknown type(s) pication; valid: "
                                    + ", ".join(INTERACTION_TYPES)),
    (["--criteria", "plip"], "--criteria 'plip': unknown; valid: mpflow, prolif"),
    (["--frames", "a:b"], "--frames 'a:b': START, STOP and STEP must be integers"),
    (["--n-jobs", "0"], "--n-jobs 0: must be a positive number of processes, or -1 for one per CPU"),
    (["--n-jobs", "-3"], "--n-jobs -3: must be a positive number of processes, or -1 for one per "
                         "CPU"),
    (["--n-jobs", "two"], "--n-jobs two: must be a positive number of processes, or -1 for one "
                          "per CPU"),
])
def test_bad_options_are_refused(ring_pdb, tmp_path, args, message):
    out = tmp_path / "x.csv"
    assert _one_error(_run(ring_pdb, *args, "--out", out), 2) == f"error: {message}"
    assert not out.exists()


@pytest.mark.parametrize(("frames", "expected"), [
    ("last:2", [248, 249]), ("windows:2:100", [0, 1, 100, 101, 200, 201]), ("-1", [249]),
    ("240:250:5", [240, 245])])
def test_frames_take_the_analysis_frame_selections(gpcr, tmp_path, frames, expected):
    out = tmp_path / "f.parquet"
    result = _run(*gpcr, "--sel-a", A, "--sel-b", B, "--types", "hydrophobic", "--frames", frames,
                  "--out", out)
    assert result.exit_code == 0, result.output
    assert f"from {len(expected)} frame(s)" in result.output
    assert sorted(read_table(out)["frame"].unique()) == expected


def test_frames_help_names_the_grammar_and_every_frame_is_the_default():
    result = runner.invoke(app, ["interactions", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for part in ("N (one frame; -1 the last)", "START:STOP[:STEP]", "last:N[:STEP]",
                 "windows:SIZE:EVERY", "[default: all]"):
        assert part in result.output


def test_frames_out_of_range(gpcr, tmp_path):
    out = tmp_path / "x.csv"
    line = _one_error(_run(*gpcr, "--frames", "300:400", "--out", out), 1)
    assert line == "error: --frames 300:400: selects no frame of the 250 in the trajectory (0-249)"
    assert not out.exists()


def test_more_workers_than_cpus_is_capped_with_a_warning(gpcr, tmp_path):
    from mpflow.analysis.interactions import available_cpus

    cpus = available_cpus()
    out = tmp_path / "x.parquet"
    result = _run(*gpcr, "--sel-a", A, "--sel-b", B, "--frames", "0:4", "--n-jobs", cpus + 5,
                  "--out", out)
    assert result.exit_code == 0, result.output
    assert (f"warning: --n-jobs {cpus + 5} is more than the {cpus} CPU(s) available; using "
            f"{cpus}") in result.output
    assert sorted(read_table(out)["frame"].unique()) == [0, 1, 2, 3]


@pytest.mark.parametrize(("sel", "option"), [("chain A", "--sel-a"), ("resid 1 to", "--sel-b")])
def test_selection_syntax_error_names_the_option(ring_pdb, tmp_path, sel, option):
    args = ["--sel-a", sel] if option == "--sel-a" else ["--sel-b", sel]
    line = _one_error(_run(ring_pdb, *args, "--out", tmp_path / "x.csv"), 2)
    assert line.startswith(f"error: {option} {sel!r}: not a valid selection: ")


def test_selection_matching_nothing_names_the_option(ring_pdb, tmp_path):
    line = _one_error(_run(ring_pdb, "--sel-b", "resname HOH", "--out", tmp_path / "x.csv"), 2)
    assert line == "error: --sel-b 'resname HOH': matches no atom"


# --------------------------------------------------------------------------- unreadable inputs
@pytest.mark.parametrize(("content", "reason"), [
    (None, "file not found: {path}"),
    ("", "cannot read {path} as a structure: the file is empty"),
    ("this is not a structure\n", "cannot read {path} as a structure: no usable atom records"),
])
def test_missing_empty_or_garbage_topology(tmp_path, content, reason):
    path = tmp_path / "model.pdb"
    if content is not None:
        path.write_text(content)
    out = tmp_path / "x.csv"
    line = _one_error(_run(path, "--out", out), 1)
    assert line.startswith("error: " + reason.format(path=path))
    assert not out.exists()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_garbage_trajectory_names_the_trajectory(ring_pdb, tmp_path):
    import gc

    traj = tmp_path / "junk.xtc"
    traj.write_bytes(b"\x00" * 64)
    line = _one_error(_run(ring_pdb, traj, "--out", tmp_path / "x.csv"), 1)
    assert line.startswith(f"error: cannot read {traj} as a trajectory of {ring_pdb} (")
    gc.collect()  # MDAnalysis' half-opened XTC reader complains when collected; collect it here


# --------------------------------------------------------------------------- the output file
def test_unwritable_destination_is_refused_before_reading_anything(tmp_path):
    """--out below a regular file: refused first (the topology does not even exist)."""
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    line = _one_error(_run(tmp_path / "missing.pdb", "--out", blocker / "x.csv"), 2)
    assert line == f"error: --out {blocker / 'x.csv'}: cannot write there ({blocker} is not a folder)"


@contextlib.contextmanager
def _read_only_folder(path):
    """A folder nobody can write to: permissions for a normal user; for root (who ignores them), a
    read-only bind mount of the folder onto itself."""
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(0o755)
        return
    subprocess.run(["mount", "--bind", str(path), str(path)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def test_read_only_folder_is_refused_before_the_run(ring_pdb, tmp_path):
    with _read_only_folder(tmp_path / "ro") as ro:
        line = _one_error(_run(ring_pdb, "--out", ro / "x.parquet"), 2)
        assert line.startswith(f"error: --out {ro / 'x.parquet'}: cannot write there (")
        assert list(ro.iterdir()) == []


def test_interrupted_write_leaves_the_previous_table(ring_pdb, tmp_path, monkeypatch):
    """Ctrl-C in the middle of writing (a KeyboardInterrupt raised after part of the data went
    out): the previous table is intact and no partial file is left."""
    out = tmp_path / "t.csv"
    assert _run(ring_pdb, "--types", "kih", "--out", out).exit_code == 0
    before = out.read_bytes()

    def half_then_interrupt(self, fh, *a, **k):
        fh.write("frame,time_ps\n0,0.0\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_table(read_table(out), out)
    result = _run(ring_pdb, "--types", "vdw", "--out", out)
    assert result.exit_code != 0
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_full_disk_keeps_the_previous_parquet(gpcr, tmp_path):
    """A real write failure: the CLI run with a 40 kB file-size limit (RLIMIT_FSIZE, what a full
    disk does to a writer: the write fails part way).  The previous, smaller Parquet survives."""
    import resource

    out = tmp_path / "t.parquet"
    small = _run(*gpcr, "--sel-a", A, "--sel-b", B, "--types", "saltbridge", "--frames", "0",
                 "--out", out)
    assert small.exit_code == 0, small.output
    before = out.read_bytes()
    assert len(before) < 40_000

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    proc = subprocess.run(
        [sys.executable, "-m", "mpflow", "interactions", *gpcr, "--sel-a", A, "--sel-b", B,
         "--frames", "0:60", "--out", str(out)],
        capture_output=True, text=True, preexec_fn=limit, timeout=300,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error: ")]
    assert errors == [f"error: cannot write {out}: File too large (nothing written; any previous "
                      "file is unchanged)"], proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert len(read_table(out)) > 0
    assert mda.__version__  # MDAnalysis imported in this process too (keeps the import honest)
    assert Path(out).stat().st_size == len(before)
