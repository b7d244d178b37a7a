"""Direction normalisation: ring order from geometry, ring offsets, merging of symmetric copies."""

from __future__ import annotations

import numpy as np
import pytest
from mpflow.analysis.interactions import InteractionAnalysis, interaction_keys
from mpflow.analysis.structure.helix_builder import (
    GPA_TM_SEQUENCE,
    Oligomer,
    build_oligomer,
    to_universe,
)
from mpflow.analysis.structure.ring_order import OFFSET_NONE, offset_table, ring_order


def _table(model, **kw):
    return InteractionAnalysis(to_universe(model), **kw).run().results.table


def test_ring_order_is_angular_and_follows_the_axis_direction():
    angles = np.radians([0, 72, 144, 216, 288])
    labels = ["C", "A", "E", "B", "D"]  # letters scrambled against the angular order
    cents = np.stack([10 * np.cos(angles), 10 * np.sin(angles), np.zeros(5)], axis=1)
    up = np.tile([0.0, 0.0, 1.0], (5, 1))
    assert ring_order(labels, cents, up) == ["A", "E", "B", "D", "C"]
    # helices running the other way: the axis flips, so does the order
    assert ring_order(labels, cents, -up) == ["A", "C", "D", "B", "E"]
    # any orientation of the assembly in space gives the same order
    rot = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    assert ring_order(labels, cents @ rot.T + 5.0, up @ rot.T) == ["A", "E", "B", "D", "C"]


def test_offset_table_ring_and_dimer():
    t = offset_table(["A", "E", "B", "D", "C"], ["A", "B", "C", "D", "E"])
    # A's neighbours are E (+1) and C (-1); B and D are not adjacent to A
    assert t[0].tolist() == [0, OFFSET_NONE, -1, OFFSET_NONE, 1]
    assert t[4, 0] == -1 and t[2, 0] == 1
    dimer = offset_table(["A", "B"], ["A", "B"])
    assert dimer.tolist() == [[0, 1], [1, 0]]  # both directions are the +1 neighbour


def test_symmetric_c8_ring_copies_have_equal_counts_and_merge(c8_ring):
    table = _table(c8_ring)
    assert len(table) > 0
    assert set(table["type"].astype(str)) >= {"vdw", "hydrophobic", "kih"}
    assert table["offset"].notna().all() and set(table["offset"]) <= {-1, 1}
    keys = interaction_keys(table)
    per_copy = table.groupby([keys, table["chain_a"].astype(str), table["chain_b"].astype(str)]).size()
    # every key is seen on all 8 chain pairs, the same number of times on each
    for key, counts in per_copy.groupby(level=0):
        assert len(counts) == 8, key
        assert counts.nunique() == 1, key
    # after normalisation the chain-pair copies collapse: one key per residue pair and type
    assert keys.nunique() * 8 == len(table)
    # +1 rows go from each chain to the next one in ring order (A->B, ..., H->A)
    order = list("ABCDEFGH")
    plus = table[table["offset"] == 1]
    nxt = {a: order[(k + 1) % 8] for k, a in enumerate(order)}
    assert (plus["chain_b"].astype(str) == plus["chain_a"].astype(str).map(nxt)).all()


def test_scrambled_chain_letters_keep_the_angular_offsets(c8_ring):
    letters = list("CHAFBGDE")  # chain at angular position k gets letters[k]
    relabel = dict(zip("ABCDEFGH", letters))
    scrambled = Oligomer(
        c8_ring.names, c8_ring.resnames, c8_ring.resids,
        np.array([relabel[c] for c in c8_ring.chains], dtype=object), c8_ring.elements,
        c8_ring.positions)
    ana = InteractionAnalysis(to_universe(scrambled)).run()
    start = letters.index("A")
    assert ana.results.ring_order == letters[start:] + letters[:start]
    table = ana.results.table
    pos = {c: k for k, c in enumerate(letters)}
    step = (table["chain_b"].astype(str).map(pos) - table["chain_a"].astype(str).map(pos)) % 8
    expected = np.where(step == 1, 1, np.where(step == 7, -1, 99))
    assert (table["offset"].to_numpy() == expected).all()
    # the normalised keys are exactly those of the alphabetically labelled ring
    reference = interaction_keys(_table(c8_ring)).value_counts().sort_index()
    assert interaction_keys(table).value_counts().sort_index().equals(reference)


def test_dimer_offsets_are_plus_one_both_ways_and_copies_merge():
    table = _table(build_oligomer(GPA_TM_SEQUENCE, 2, 5.0, tilt_deg=-20.0))
    assert len(table) > 0
    assert (table["offset"] == 1).all()
    keys = interaction_keys(table)
    # C2: each key is seen from A->B and B->A, except a residue facing its own copy (one contact)
    copies = table.groupby(keys)["chain_a"].nunique()
    same_residue = table.groupby(keys).apply(lambda g: (g["resid_a"] == g["resid_b"]).all())
    assert (copies == np.where(same_residue, 1, 2)).all()
    assert same_residue.any() and (~same_residue).any()


@pytest.mark.parametrize("n", [3, 5])
def test_small_rings_label_neighbours(n):
    model = build_oligomer(GPA_TM_SEQUENCE, n, 4.8 / np.sin(np.pi / n) / 2 * 2, tilt_deg=-10.0)
    table = _table(model)
    assert len(table) > 0
    assert table["offset"].notna().all()
    assert (interaction_keys(table).value_counts() == n).all()


def test_offsets_of_a_selected_chain_pair_come_from_the_whole_ring(c8_ring):
    table = _table(c8_ring, sel_a="chainID A", sel_b="chainID B or chainID H or chainID E")
    sym = table[table["type"].isin(["vdw", "hydrophobic"])]
    # disjoint selections: symmetric types keep side a in sel-a (directional ones: the donor)
    assert set(sym["chain_a"].astype(str)) == {"A"}
    by_partner = sym.groupby(sym["chain_b"].astype(str))["offset"].unique()
    assert list(by_partner["B"]) == [1] and list(by_partner["H"]) == [-1]
    assert "E" not in by_partner  # across the pore: no contact
    # the same contacts as in the whole-ring table, seen from chain A
    whole = _table(c8_ring)
    ab = whole[(whole["chain_a"] == "A") & (whole["chain_b"] == "B")
               & whole["type"].isin(["vdw", "hydrophobic"])]
    assert len(ab) == (sym["chain_b"] == "B").sum()
