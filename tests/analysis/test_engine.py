"""The engine on a real trajectory: selection modes agree, chunks and processes give the same table."""

from __future__ import annotations

import pandas as pd
import pytest

from mpflow.analysis.interactions import (
    INTERACTION_SCHEMA,
    EngineOptions,
    compute_interactions,
    interactions_for_frames,
)


def _unordered(table: pd.DataFrame) -> set:
    return {
        (f, t, frozenset({(ca, ra, aa), (cb, rb, ab)}))
        for f, t, ca, ra, aa, cb, rb, ab in zip(
            table["frame"], table["type"].astype(str), table["chain_a"].astype(str),
            table["resid_a"], table["index_a"], table["chain_b"].astype(str), table["resid_b"],
            table["index_b"])
    }


def _sorted(df):
    return df.sort_values(["frame", "type", "index_a", "index_b"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def ab_table(prolif_universe):
    return compute_interactions(prolif_universe, "chainID A", "chainID B", stop=30)


def test_all_types_found_on_the_gpcr(ab_table):
    assert set(ab_table["type"].astype(str)) >= {"hbond", "saltbridge", "hydrophobic", "vdw",
                                                 "pistack_ftf", "pistack_etf", "kih"}
    assert (ab_table["offset"] == 1).all()  # two chains: a dimer
    assert list(ab_table.columns) == list(INTERACTION_SCHEMA)
    # disjoint selections: symmetric types keep the sel-a atom on side a
    sym = ab_table[ab_table["type"].isin(["hydrophobic", "vdw", "pistack_ftf", "pistack_etf"])]
    assert (sym["chain_a"] == "A").all()


@pytest.mark.parametrize(("sel_a", "sel_b"), [("protein", "protein"), ("protein", "chainID B")])
def test_overlapping_selections_find_the_same_interactions(prolif_universe, ab_table, sel_a, sel_b):
    table = compute_interactions(prolif_universe, sel_a, sel_b, stop=30)
    assert _unordered(table) == _unordered(ab_table)


def test_two_processes_equal_one(prolif_universe):
    one = compute_interactions(prolif_universe, "chainID A", "chainID B", start=5, stop=45, step=2)
    two = compute_interactions(prolif_universe, "chainID A", "chainID B", start=5, stop=45, step=2,
                               n_jobs=2)
    assert sorted(one["frame"].unique()) == list(range(5, 45, 2))
    pd.testing.assert_frame_equal(_sorted(one), _sorted(two))


def test_a_chunk_is_a_slice_of_the_whole(prolif_universe, ab_table):
    chunk = interactions_for_frames(prolif_universe, (10, 20, 1),
                                    EngineOptions("chainID A", "chainID B"))
    whole = ab_table[(ab_table["frame"] >= 10) & (ab_table["frame"] < 20)]
    pd.testing.assert_frame_equal(_sorted(chunk), _sorted(whole), check_categorical=False)


def test_bad_selection_is_a_clear_error(prolif_universe):
    with pytest.raises(ValueError, match="matches no atom"):
        compute_interactions(prolif_universe, "chainID Q", "chainID B")


def test_gro_without_chain_ids_is_split_at_peptide_breaks():
    """MDAnalysisTests GRO_MEMPROT/XTC_MEMPROT: YiiP homodimer in a membrane, no chain ids."""
    import warnings

    import MDAnalysis as mda

    datafiles = pytest.importorskip("MDAnalysisTests.datafiles")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(datafiles.GRO_MEMPROT, datafiles.XTC_MEMPROT)
    table = compute_interactions(u, stop=2)
    assert set(table["chain_a"].astype(str)) | set(table["chain_b"].astype(str)) == {"A", "B"}
    assert len(table) > 100 and (table["offset"] == 1).all()
    assert set(table["type"].astype(str)) >= {"hbond", "saltbridge", "hydrophobic", "vdw"}
    assert not table["fallback"].any()  # GRO_MEMPROT has explicit hydrogens
