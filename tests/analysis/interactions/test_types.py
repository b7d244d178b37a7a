"""Hand-built geometries per interaction type: present just inside the cut-off, absent just outside,
angles honoured, nothing within one chain unless asked.  One parametrised table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from analysis_helpers import mini_universe
from mpflow.analysis.interactions import INTERACTION_SCHEMA, InteractionAnalysis
from mpflow.analysis.interactions.profiles import CRITERIA
from mpflow.analysis.interactions.types import INTERACTION_TYPES, make_interactions

HEX = [(1.39 * math.cos(math.radians(60 * k)), 1.39 * math.sin(math.radians(60 * k)), 0.0)
       for k in range(6)]
RING_NAMES = ("CG", "CD1", "CE1", "CZ", "CE2", "CD2")


def _rot_x(p, deg):
    a = math.radians(deg)
    x, y, z = p
    return (x, y * math.cos(a) - z * math.sin(a), y * math.sin(a) + z * math.cos(a))


def phe(chain, resid, centre=(0, 0, 0), tilt_deg=0.0):
    """A PHE ring (six named atoms), plane tilted about x, centred at ``centre``."""
    rows = []
    for nm, p in zip(RING_NAMES, HEX):
        q = _rot_x(p, tilt_deg)
        rows.append((chain, resid, "PHE", nm, tuple(c + o for c, o in zip(q, centre))))
    return rows


def hbond(d, angle=180.0, hydrogen=True, chains=("A", "B"), resids=(1, 1)):
    """SER OG(-HG) donor at 0, GLY O acceptor; D–A distance ``d``, D–H···A angle ``angle``."""
    h = 0.97
    alpha = math.radians(180.0 - angle)
    r = -h * math.cos(alpha) + math.sqrt(h * h * math.cos(alpha) ** 2 - h * h + d * d)
    acc = (h + r * math.cos(alpha), r * math.sin(alpha), 0.0)
    rows = [(chains[0], resids[0], "SER", "CB", (-1.43, 0.0, 0.0)),
            (chains[0], resids[0], "SER", "OG", (0.0, 0.0, 0.0))]
    if hydrogen:
        rows.append((chains[0], resids[0], "SER", "HG", (h, 0.0, 0.0)))
    rows.append((chains[1], resids[1], "GLY", "O", acc))
    return rows


def saltbridge(d, chains=("A", "B"), resids=(1, 1)):
    return [(chains[0], resids[0], "LYS", "NZ", (0.0, 0.0, 0.0)),
            (chains[1], resids[1], "ASP", "OD1", (d, 0.0, 0.0)),
            (chains[1], resids[1], "ASP", "OD2", (d + 0.6, 1.1, 0.0))]


def pair(res1, name1, res2, name2, d, chains=("A", "B"), resids=(1, 1)):
    return [(chains[0], resids[0], res1, name1, (0.0, 0.0, 0.0)),
            (chains[1], resids[1], res2, name2, (d, 0.0, 0.0))]


def stack(d, tilt=0.0, lateral_deg=0.0):
    """Two PHE rings; the second tilted by ``tilt`` and displaced ``lateral_deg`` off the normal."""
    a = math.radians(lateral_deg)
    return phe("A", 1) + phe("B", 1, centre=(d * math.sin(a), 0.0, d * math.cos(a)), tilt_deg=tilt)


def t_stack(y, z=5.0, tilt=60.0):
    """Ring B centred at (0, y, z), tilted about x.  Its plane meets ring A's plane (z = 0) on the
    line y' = y - z cot(tilt): ProLIF's intersect test passes when |y'| <= 1.5 A."""
    return phe("A", 1) + phe("B", 1, centre=(0.0, y, z), tilt_deg=tilt)


def cation_pi(d, angle=0.0, chains=("A", "B"), resids=(1, 1)):
    a = math.radians(angle)
    return phe(chains[1], resids[1]) + [
        (chains[0], resids[0], "LYS", "NZ", (d * math.sin(a), 0.0, d * math.cos(a)))]


def kih(rho=6.9, rho_last=None):
    """Knob ALA A1 (CB at 0); hole ALA B1, B4, B5, B8 side chains at ``rho`` (B8 at ``rho_last``)."""
    rho_last = rho if rho_last is None else rho_last
    rows = [("A", 1, "ALA", "CA", (0.0, 0.0, -1.5)), ("A", 1, "ALA", "CB", (0.0, 0.0, 0.0))]
    where = {1: (rho, 0, 0), 4: (0, rho, 0), 5: (-rho, 0, 0), 8: (0, -rho_last, 0)}
    for r in range(1, 9):
        cb = where.get(r, (30.0 + 4 * r, 30.0, 0.0))
        ca = tuple(c * 1.2 if r in where else c + 1.5 for c in cb)
        rows += [("B", r, "ALA", "CA", ca), ("B", r, "ALA", "CB", cb)]
    return rows


# (type, geometry rows, expected present)
CASES = [
    ("hbond", hbond(3.45), True),
    ("hbond", hbond(3.55), False),
    ("hbond", hbond(3.0, angle=135.0), True),
    ("hbond", hbond(3.0, angle=125.0), False),
    ("hbond", hbond(3.45, hydrogen=False), True),
    ("hbond", hbond(3.55, hydrogen=False), False),
    ("saltbridge", saltbridge(4.45), True),
    ("saltbridge", saltbridge(4.55), False),
    ("hydrophobic", pair("LEU", "CD1", "LEU", "CD1", 4.45), True),
    ("hydrophobic", pair("LEU", "CD1", "LEU", "CD1", 4.55), False),
    ("hydrophobic", pair("SER", "OG", "LEU", "CD1", 3.5), False),
    ("vdw", pair("ALA", "CB", "ALA", "CB", 3.85), True),
    ("vdw", pair("ALA", "CB", "ALA", "CB", 3.95), False),
    ("vdw", pair("GLY", "N", "GLY", "O", 3.52), True),
    ("vdw", pair("GLY", "N", "GLY", "O", 3.62), False),
    ("pistack_ftf", stack(5.4), True),
    ("pistack_ftf", stack(5.6), False),
    ("pistack_ftf", stack(4.0, tilt=30.0), True),
    ("pistack_ftf", stack(4.0, tilt=40.0), False),
    ("pistack_ftf", stack(4.5, lateral_deg=30.0), True),
    ("pistack_ftf", stack(4.5, lateral_deg=36.0), False),
    ("pistack_etf", stack(6.4, tilt=90.0), True),
    ("pistack_etf", stack(6.6, tilt=90.0), False),
    ("pistack_etf", t_stack(2.0), True),                  # line at y' = -0.89 A
    ("pistack_etf", t_stack(0.0), False),                 # y' = -2.89 A: fails the intersect test
    ("pistack_etf", t_stack(2.0, tilt=45.0), False),      # planes 45 deg apart
    ("cationpi", cation_pi(4.4), True),
    ("cationpi", cation_pi(4.6), False),
    ("cationpi", cation_pi(4.0, angle=25.0), True),
    ("cationpi", cation_pi(4.0, angle=35.0), False),
    ("kih", kih(6.9), True),
    ("kih", kih(6.9, rho_last=7.1), False),
]


def _run(rows, types, **kw):
    u = mini_universe(rows)
    return InteractionAnalysis(u, types=types, **kw).run().results.table


@pytest.mark.parametrize(("itype", "rows", "expected"), CASES,
                         ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(CASES)])
def test_geometry_table(itype, rows, expected):
    table = _run(rows, [itype])
    assert (len(table) > 0) == expected
    if expected:
        assert len(table) == 1
        row = table.iloc[0]
        assert row["type"] == itype
        assert row["chain_a"] != row["chain_b"]
        assert row["offset"] == 1  # two chains: a dimer, both directions +1


def test_every_type_has_a_case():
    assert {t for t, _, e in CASES if e} == set(INTERACTION_TYPES)


def test_row_contents_hbond_explicit_and_fallback():
    row = _run(hbond(3.0, angle=150.0), ["hbond"]).iloc[0]
    assert (row["atoms_a"], row["hydrogen"], row["atoms_b"]) == ("OG", "HG", "O")
    assert row["distance_A"] == pytest.approx(3.0, abs=1e-3)
    assert row["angle_deg"] == pytest.approx(150.0, abs=0.05)
    assert not row["fallback"]
    row = _run(hbond(3.0, hydrogen=False), ["hbond"]).iloc[0]
    assert bool(row["fallback"]) is True
    assert np.isnan(row["angle_deg"])


def test_directional_rows_put_the_role_on_side_a():
    row = _run(saltbridge(4.0), ["saltbridge"]).iloc[0]
    assert (row["resname_a"], row["atoms_a"], row["resname_b"], row["atoms_b"]) == (
        "LYS", "NZ", "ASP", "OD1,OD2")
    row = _run(cation_pi(4.0), ["cationpi"]).iloc[0]
    assert (row["resname_a"], row["resname_b"]) == ("LYS", "PHE")
    assert row["angle_deg"] == pytest.approx(0.0, abs=0.1)
    row = _run(kih(6.9), ["kih"]).iloc[0]
    assert (row["chain_a"], row["resid_a"], row["chain_b"], row["atoms_b"]) == ("A", 1, "B", "1,4,5,8")
    assert row["distance_A"] == pytest.approx(6.9, abs=1e-3)


@pytest.mark.parametrize(("itype", "rows"), [
    ("hbond", hbond(3.0, chains=("A", "A"), resids=(1, 10))),
    ("saltbridge", saltbridge(4.0, chains=("A", "A"), resids=(1, 10))),
    ("hydrophobic", pair("LEU", "CD1", "LEU", "CD1", 4.0, chains=("A", "A"), resids=(1, 10))),
    ("vdw", pair("ALA", "CB", "ALA", "CB", 3.5, chains=("A", "A"), resids=(1, 10))),
    ("cationpi", cation_pi(4.0, chains=("A", "A"), resids=(1, 10))),
])
def test_nothing_within_one_chain_unless_asked(itype, rows):
    # a second, far-away chain makes the chain labels meaningful
    rows = rows + [("Z", 1, "GLY", "CA", (50.0, 50.0, 50.0))]
    assert len(_run(rows, [itype])) == 0
    table = _run(rows, [itype], intra=True)
    assert len(table) == 1
    assert table["offset"].iloc[0] == 0
    assert len(_run(rows, [itype], intra=True, min_residue_separation=9)) == 1
    assert len(_run(rows, [itype], intra=True, min_residue_separation=10)) == 0


def test_parameters_override_per_type():
    rows = hbond(3.3)
    assert len(_run(rows, ["hbond"])) == 1
    assert len(_run(rows, ["hbond"], params={"hbond": {"distance_max_A": 3.2}})) == 0
    with pytest.raises(ValueError, match="valid: distance_max_A"):
        make_interactions(["hbond"], {"hbond": {"cutoff": 3.0}})
    with pytest.raises(ValueError, match="valid: hbond, saltbridge"):
        make_interactions(["hbond", "nope"])
    with pytest.raises(ValueError, match="parameters given for type.s. not computed: vdw"):
        make_interactions(["hbond"], {"vdw": {"tolerance_A": 1.0}})


def test_schema_of_empty_and_full_tables():
    for rows in (pair("ALA", "CB", "ALA", "CB", 9.0), pair("ALA", "CB", "ALA", "CB", 3.5)):
        table = _run(rows, None)
        assert list(table.columns) == list(INTERACTION_SCHEMA)
        for col, dtype in INTERACTION_SCHEMA.items():
            assert str(table[col].dtype) == str(dtype), col
    assert list(table["type"].cat.categories) == list(INTERACTION_TYPES)


@pytest.mark.parametrize(("value", "why"), [
    (float("nan"), "finite"), (float("inf"), "finite"), (-1.0, "> 0"), (0.0, "> 0")])
def test_bad_distances_are_refused_naming_the_parameter(value, why):
    with pytest.raises(ValueError, match=rf"^hbond\.distance_max_A={value}: .*{why}"):
        make_interactions(["hbond"], {"hbond": {"distance_max_A": value}})


def test_bad_angles_are_refused():
    with pytest.raises(ValueError, match=r"hbond\.angle_min_deg=170 is above hbond\.angle_max_deg=160"):
        make_interactions(["hbond"], {"hbond": {"angle_min_deg": 170, "angle_max_deg": 160}})
    with pytest.raises(ValueError, match=r"pistack_etf\.plane_angle_min_deg=95 is above"):
        make_interactions(["pistack_etf"], {"pistack_etf": {"plane_angle_min_deg": 95}})
    with pytest.raises(ValueError, match=r"cationpi\.angle_max_deg=200: .*0-180"):
        make_interactions(["cationpi"], {"cationpi": {"angle_max_deg": 200}})
    # a tolerance may be zero (ProLIF's own vdW default), not negative
    assert make_interactions(["vdw"], {"vdw": {"tolerance_A": 0.0}})[0].tolerance_A == 0.0
    with pytest.raises(ValueError, match=r"vdw\.tolerance_A=-0.1: must be >= 0"):
        make_interactions(["vdw"], {"vdw": {"tolerance_A": -0.1}})


def test_every_type_states_its_source_under_each_profile():
    for name, cls in INTERACTION_TYPES.items():
        for crit in CRITERIA:
            assert cls.sources[crit].strip(), (name, crit)
            assert cls.describe(crit).startswith(f"{name}: ")
    # the prolif profile differs from mpflow's where ProLIF's own defaults differ
    assert INTERACTION_TYPES["vdw"].parameters("prolif") == {"tolerance_A": 0.0}
    assert INTERACTION_TYPES["vdw"].parameters("mpflow") == {"tolerance_A": 0.5}


def test_prolif_profile_needs_explicit_hydrogens():
    """ProLIF perceives charges, donors and carbon classes from hydrogens: without them the prolif
    profile refuses instead of guessing (mpflow's profile has its heavy-atom fallback)."""
    rows = pair("LEU", "CD1", "LEU", "CD1", 4.0)
    assert len(_run(rows, ["hydrophobic"])) == 1
    with pytest.raises(ValueError, match="criteria 'prolif' needs explicit hydrogens"):
        InteractionAnalysis(mini_universe(rows), types=["hydrophobic"], criteria="prolif")
