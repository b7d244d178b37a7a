"""``mpflow interactions``: tables with the documented dtypes, clear one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from mpflow.analysis.helix_builder import WZA_LIKE_SEQUENCE, build_oligomer, write_pdb
from mpflow.analysis.interaction_types import INTERACTION_TYPES
from mpflow.analysis.interactions import INTERACTION_SCHEMA, read_table
from mpflow.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def ring_pdb(tmp_path_factory):
    path = tmp_path_factory.mktemp("ring") / "c8.pdb"
    return write_pdb(build_oligomer(WZA_LIKE_SEQUENCE, 8, 13.0), path)


def _dtypes_match(df: pd.DataFrame) -> None:
    assert list(df.columns) == list(INTERACTION_SCHEMA)
    for col, dtype in INTERACTION_SCHEMA.items():
        assert str(df[col].dtype) == str(dtype), col


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_writes_table_with_documented_dtypes(ring_pdb, tmp_path, suffix):
    out = tmp_path / f"table{suffix}"
    result = runner.invoke(app, ["interactions", str(ring_pdb), "--types", "vdw,kih,hbond",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output
    table = read_table(out)
    _dtypes_match(table)
    assert set(table["type"].astype(str)) == {"vdw", "kih", "hbond"}
    # the builder's PDB has no hydrogens: H-bonds come from the flagged heavy-atom fallback
    assert table.loc[table["type"] == "hbond", "fallback"].all()
    assert not table.loc[table["type"] != "hbond", "fallback"].any()
    assert len(table) > 0 and table["offset"].notna().all()
    if suffix == ".parquet":  # Parquet keeps the dtypes without help
        _dtypes_match(pd.read_parquet(out))


def test_trajectory_frames_and_params(prolif_universe, tmp_path):
    from prolif.datafiles import TOP, TRAJ

    out = tmp_path / "t.parquet"
    result = runner.invoke(app, ["interactions", str(TOP), str(TRAJ), "--sel-a", "chainID A",
                                 "--sel-b", "chainID B", "--types", "hbond,saltbridge",
                                 "--frames", "10:40:10", "--param", "hbond.distance_max_A=3.0",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = read_table(out)
    assert sorted(table["frame"].unique()) == [10, 20, 30]
    hb = table[table["type"] == "hbond"]
    assert len(hb) > 0 and (hb["distance_A"] <= 3.0).all()


def test_bad_types_list_the_valid_names(ring_pdb, tmp_path):
    result = runner.invoke(app, ["interactions", str(ring_pdb), "--types", "hbond,pication",
                                 "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2
    line = [ln for ln in result.output.splitlines() if ln.startswith("error")]
    assert line == [f"error: --types: unknown type(s) pication; valid: {', '.join(INTERACTION_TYPES)}"]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("content", [None, "this is not a structure\n"])
def test_missing_or_unreadable_file_is_one_line(tmp_path, content):
    path = tmp_path / "model.pdb"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, ["interactions", str(path), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and result.output.startswith("error: ")
    assert ("file not found" in result.output) == (content is None)
    assert "Traceback" not in result.output and not (tmp_path / "x.csv").exists()


def test_bad_output_suffix_and_frames(ring_pdb, tmp_path):
    result = runner.invoke(app, ["interactions", str(ring_pdb), "--out", str(tmp_path / "x.txt")])
    assert result.exit_code == 2 and "suffix" in result.output
    result = runner.invoke(app, ["interactions", str(ring_pdb), "--frames", "a:b",
                                 "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "--frames" in result.output


def test_help_lists_types_with_parameters():
    result = runner.invoke(app, ["interactions", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name, cls in INTERACTION_TYPES.items():
        assert f"{name}:" in result.output
        for param in cls.parameters():
            assert param in result.output
