"""The engine on a real trajectory: selection modes agree, chunks and processes give the same table,
bad requests fail with one clear reason, every table records how it was made."""

from __future__ import annotations

import warnings

import MDAnalysis as mda
import pandas as pd
import pytest
from mpflow.analysis.interactions import (
    INTERACTION_SCHEMA,
    METADATA_KEY,
    NothingToCompute,
    SelectionProblem,
    apply_schema,
    available_cpus,
    compute_interactions,
    interactions_for_frames,
    plan_workers,
    read_table,
    table_metadata,
    write_table,
)

A, B = "chainID A", "chainID B"


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
    return compute_interactions(prolif_universe, A, B, stop=30)


def test_all_types_found_on_the_gpcr(ab_table):
    assert set(ab_table["type"].astype(str)) >= {"hbond", "saltbridge", "hydrophobic", "vdw",
                                                 "pistack_ftf", "pistack_etf", "kih"}
    assert (ab_table["offset"] == 1).all()  # two chains: a dimer
    assert list(ab_table.columns) == list(INTERACTION_SCHEMA)
    # disjoint selections: symmetric types keep the sel-a atom on side a
    sym = ab_table[ab_table["type"].isin(["hydrophobic", "vdw", "pistack_ftf", "pistack_etf"])]
    assert (sym["chain_a"] == "A").all()


def test_table_is_built_in_its_schema(ab_table):
    """The engine builds the table in its final dtypes without apply_schema; applying the schema to
    it must change nothing (dtypes, categories and their order, values)."""
    canonical = apply_schema(ab_table)
    assert dict(ab_table.dtypes) == dict(canonical.dtypes)
    for col in ab_table.columns:
        if isinstance(ab_table[col].dtype, pd.CategoricalDtype):
            assert list(ab_table[col].cat.categories) == list(canonical[col].cat.categories), col
    pd.testing.assert_frame_equal(ab_table, canonical)


def test_the_issue_example_hydrophobic_counts(prolif_universe):
    """ProLIF's GPCR, frame 0, chain A vs B: mpflow's own hydrophobic rule finds 53 residue pairs,
    the prolif profile ProLIF's 12 (see test_prolif_agreement for the pair-by-pair check)."""
    counts = {c: (compute_interactions(prolif_universe, A, B, ["hydrophobic"], criteria=c, stop=1)
                  ["type"] == "hydrophobic").sum() for c in ("mpflow", "prolif")}
    assert counts == {"mpflow": 53, "prolif": 12}


@pytest.mark.parametrize(("sel_a", "sel_b"), [("protein", "protein"), ("protein", B)])
def test_overlapping_selections_find_the_same_interactions(prolif_universe, ab_table, sel_a, sel_b):
    table = compute_interactions(prolif_universe, sel_a, sel_b, stop=30)
    assert _unordered(table) == _unordered(ab_table)


@pytest.mark.parametrize("criteria", ["mpflow", "prolif"])
def test_two_processes_equal_one(prolif_universe, criteria):
    one = compute_interactions(prolif_universe, A, B, criteria=criteria, start=5, stop=45, step=2)
    two = compute_interactions(prolif_universe, A, B, criteria=criteria, start=5, stop=45, step=2,
                               n_jobs=2)
    assert sorted(one["frame"].unique()) == list(range(5, 45, 2))
    pd.testing.assert_frame_equal(_sorted(one), _sorted(two))
    assert table_metadata(one) == table_metadata(two)


def test_workers_started_by_a_fork_server_when_threads_run(prolif_universe):
    """With another thread alive (as inside a Prefect task) forking is unsafe: the workers come
    from a fork server and get the tables and a reader pickled.  Same table."""
    import threading

    from mpflow.analysis.interactions import engine

    stop = threading.Event()
    helper = threading.Thread(target=stop.wait, daemon=True)
    helper.start()
    try:
        assert not engine._can_fork()
        two = compute_interactions(prolif_universe, A, B, start=0, stop=12, n_jobs=2)
    finally:
        stop.set()
        helper.join()
    one = compute_interactions(prolif_universe, A, B, start=0, stop=12)
    pd.testing.assert_frame_equal(_sorted(one), _sorted(two))


def test_a_chunk_is_a_slice_of_the_whole(prolif_universe, ab_table):
    chunk = interactions_for_frames(prolif_universe, (10, 20, 1), sel_a=A, sel_b=B)
    whole = ab_table[(ab_table["frame"] >= 10) & (ab_table["frame"] < 20)]
    pd.testing.assert_frame_equal(_sorted(chunk), _sorted(whole), check_categorical=False)


def test_metadata_records_profile_and_parameters(prolif_universe, tmp_path):
    table = compute_interactions(prolif_universe, A, B, ["hbond", "vdw"],
                                 {"hbond": {"distance_max_A": 3.2}}, criteria="prolif", stop=3)
    meta = table.attrs[METADATA_KEY]
    assert meta["criteria"] == "prolif" and meta["types"] == ["hbond", "vdw"]
    assert meta["parameters"] == {"hbond": {"distance_max_A": 3.2, "angle_min_deg": 130.0,
                                            "angle_max_deg": 180.0}, "vdw": {"tolerance_A": 0.0}}
    assert meta["sources"]["vdw"].startswith("ProLIF 2.2 VdWContact")
    assert meta["vicinity_A"] == 6.0 and meta["chains"] == ["A", "B"]
    # the same for every chunk: tables of chunks concatenated with pandas keep it
    other = compute_interactions(prolif_universe, A, B, ["hbond", "vdw"],
                                 {"hbond": {"distance_max_A": 3.2}}, criteria="prolif", start=3,
                                 stop=6)
    assert pd.concat([table, other]).attrs[METADATA_KEY] == meta
    for name in ("t.parquet", "t.csv"):
        back = read_table(write_table(table, tmp_path / name))
        assert table_metadata(back) == meta
        pd.testing.assert_frame_equal(back, table, check_categorical=False)
    # Parquet key-value metadata, readable without mpflow
    import pyarrow.parquet as pq

    kv = pq.read_schema(tmp_path / "t.parquet").metadata
    assert b'"criteria": "prolif"' in kv[METADATA_KEY.encode()]


@pytest.mark.parametrize(("sel_a", "sel_b", "option", "reason"), [
    ("chainID Q", B, "sel_a", "matches no atom"),
    (A, "chain B", "sel_b", "not a valid selection: Unknown selection token: 'chain'"),
])
def test_bad_selection_names_the_option(prolif_universe, sel_a, sel_b, option, reason):
    with pytest.raises(SelectionProblem) as info:
        compute_interactions(prolif_universe, sel_a, sel_b)
    assert info.value.option == option and info.value.reason == reason


def test_nothing_to_compute_is_an_error_not_an_empty_table(prolif_universe):
    with pytest.raises(NothingToCompute, match="no interchain pairs: sel_a and sel_b are both "
                                               "only chain A"):
        compute_interactions(prolif_universe, A, "chainID A and resid 100:120")
    with pytest.raises(NothingToCompute, match=r"frames 300:400: selects no frame of the 250 in "
                                               r"the trajectory \(0-249\)"):
        compute_interactions(prolif_universe, A, B, start=300, stop=400)
    # within one chain, intra=True is a valid request
    table = compute_interactions(prolif_universe, A, A, ["hbond"], intra=True, stop=1)
    assert len(table) > 100 and (table["offset"] == 0).all()


def test_worker_counts(prolif_universe):
    cpus = available_cpus()
    for bad in (0, -2):
        with pytest.raises(ValueError, match=f"n_jobs={bad}: must be a positive number"):
            compute_interactions(prolif_universe, A, B, n_jobs=bad, stop=2)
    assert plan_workers(-1, 100) == (min(cpus, 100), None)
    assert plan_workers(cpus + 6, 100) == (cpus, f"is more than the {cpus} CPU(s) available; "
                                                 f"using {cpus}")
    assert plan_workers(4, 2)[0] == min(2, cpus)  # never more workers than frames
    with pytest.warns(RuntimeWarning, match=f"n_jobs={cpus + 6} is more than the {cpus} CPU"):
        compute_interactions(prolif_universe, A, B, n_jobs=cpus + 6, stop=2)


def test_gro_without_chain_ids_gets_chains_from_guessed_bonds():
    """MDAnalysisTests GRO_MEMPROT/XTC_MEMPROT: YiiP homodimer in a membrane, no chain ids."""
    from MDAnalysisTests.datafiles import GRO_MEMPROT, XTC_MEMPROT

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u = mda.Universe(GRO_MEMPROT, XTC_MEMPROT)
    table = compute_interactions(u, stop=2)
    assert set(table["chain_a"].astype(str)) | set(table["chain_b"].astype(str)) == {"A", "B"}
    assert len(table) > 100 and (table["offset"] == 1).all()
    assert set(table["type"].astype(str)) >= {"hbond", "saltbridge", "hydrophobic", "vdw"}
    assert not table["fallback"].any()  # GRO_MEMPROT has explicit hydrogens
    assert table_metadata(table)["bonds"] == "guessed"
