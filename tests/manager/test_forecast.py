"""Which cluster is faster and when the models will be through, without any cluster: speed tables of
finished runs, and the forecast's simulation against layouts whose answer is worked out by hand."""

from __future__ import annotations

import pytest

from mpflow.manager.forecast import (
    Durations,
    FinishedRun,
    StageLeft,
    duration_text,
    faster_lines,
    forecast,
    forecast_sentence,
    simulate,
    size_bin,
    speed_table,
    spread,
)


def test_spread_is_the_range_below_four_values_and_the_quartiles_above():
    assert spread([]) is None
    assert spread([5.0]) == (5.0, 5.0, 5.0)
    assert spread([3.0, 1.0, 2.0]) == (1.0, 2.0, 3.0)
    assert spread([1.0, 2.0, 3.0, 4.0, 5.0]) == (2.0, 3.0, 4.0)


@pytest.mark.parametrize(("atoms", "bin_"), [(29312, 29000), (30488, 30000), (663, 660), (98765, 99000),
                                             (None, None), (42, 42)])
def test_size_bins(atoms, bin_):
    assert size_bin(atoms) == bin_


def test_speed_per_cluster_stage_and_size_and_which_is_faster():
    runs = [FinishedRun("alpha", "urmd", 29312, 150.0, 60.0), FinishedRun("alpha", "urmd", 29100, 170.0, 55.0),
            FinishedRun("beta", "urmd", 29050, 80.0, 110.0), FinishedRun("beta", "prmd", 29050, 90.0, 10.0)]
    rows = speed_table(runs)
    assert [(r.cluster, r.stage, r.atoms, r.runs, r.ns_per_day) for r in rows] == [
        ("beta", "prmd", 29000, 1, (90.0, 90.0, 90.0)),
        ("alpha", "urmd", 29000, 2, (150.0, 160.0, 170.0)),
        ("beta", "urmd", 29000, 1, (80.0, 80.0, 80.0)),
    ]
    assert faster_lines(rows) == ["urmd at ~29,000 atoms: alpha is 2.00x as fast as beta (160 vs 80 ns/day, "
                                  "median of 2 and 1 run(s))"]
    # three clusters: the fastest against each of the others, fastest to slowest
    gamma = speed_table(runs + [FinishedRun("gamma", "urmd", 29200, 40.0, 30.0)])
    assert faster_lines(gamma) == ["urmd at ~29,000 atoms: alpha is 2.00x as fast as beta (160 vs 80 ns/day, "
                                   "median of 2 and 1 run(s)); 4.00x as fast as gamma (160 vs 40 ns/day, "
                                   "median of 2 and 1 run(s))"]
    assert rows[1].as_dict() == {"cluster": "alpha", "stage": "urmd", "atoms": 29000, "runs": 2,
                                 "ns_per_day_median": 160.0, "ns_per_day_low": 150.0, "ns_per_day_high": 170.0}


D = Durations(wall_s={"prep": (10.0, 20.0, 30.0), "emmd": (5.0, 5.0, 5.0), "urmd": (100.0, 200.0, 400.0)},
              wait_s=(0.0, 10.0, 20.0), slots=2, master_stages=frozenset({"prep"}))


@pytest.mark.parametrize(("chains", "slots", "expected"), [
    # one model, every stage ahead: prep 20 on the master, then emmd 10+5, urmd 10+200
    ([[StageLeft("prep"), StageLeft("emmd"), StageLeft("urmd")]], 2, 245.0),
    # two models share the master for preparation (0-20, 20-40), MD in two slots: the second ends at 40+15+210
    ([[StageLeft("prep"), StageLeft("emmd"), StageLeft("urmd")]] * 2, 2, 265.0),
    # the same two with one slot: the first model's urmd (ready at 35) takes it before the second's emmd
    # (ready at 40): 35-245, then 245-260 and 260-470
    ([[StageLeft("prep"), StageLeft("emmd"), StageLeft("urmd")]] * 2, 1, 470.0),
    # a running job with 30 s left by its own log, then nothing: 30 s
    ([[StageLeft("urmd", left=0.2, running_left_s=30.0, started=True)]], 1, 30.0),
    # a running job without its own estimate: a quarter of urmd's 200 s, no queue wait
    ([[StageLeft("urmd", left=0.25, started=True)]], 1, 50.0),
    # three running jobs but one slot measured: each holds its own slot
    ([[StageLeft("urmd", left=0.1, running_left_s=10.0, started=True)]] * 3, 1, 10.0),
])
def test_the_simulation_against_layouts_worked_out_by_hand(chains, slots, expected):
    d = Durations(D.wall_s, D.wait_s, slots, D.master_stages)
    assert simulate(chains, d, 1) == pytest.approx(expected)


def test_a_running_jobs_own_time_left_is_stretched_by_the_spread_of_speeds():
    d = Durations(D.wall_s, D.wait_s, 1, D.master_stages, running_factor=(0.5, 1.0, 2.0))
    f = forecast([[StageLeft("urmd", left=0.5, running_left_s=60.0, started=True)]], d)
    assert f.seconds == (30.0, 60.0, 120.0)


def test_the_forecast_spans_low_to_high_and_says_what_it_could_not_measure():
    chains = [[StageLeft("emmd"), StageLeft("urmd")]]
    f = forecast(chains, D, {"held": 1}, "from 3 finished MD run(s)")
    assert f.seconds == (105.0, 225.0, 445.0)  # waits and times: 0+5+0+100, 10+5+10+200, 20+5+20+400
    text = forecast_sentence(f, "urmd", "14:32")
    assert text == ("all 1 selected model(s) through urmd in about 4 min (likely between 2 min and 7 min), around "
                    "14:32 (1 held: not waited for); from 3 finished MD run(s)")
    blind = forecast([[StageLeft("prmd"), StageLeft("urmd")]], D)
    assert blind.seconds is None and blind.unmeasured == ["prmd"]
    assert "no estimate yet" in forecast_sentence(blind, "urmd") and "prmd" in forecast_sentence(blind, "urmd")
    assert forecast([], D).seconds == (0.0, 0.0, 0.0)
    assert forecast_sentence(forecast([], D), "urmd") == "no selected model is still on its way to urmd"


@pytest.mark.parametrize(("seconds", "text"), [(45, "45 s"), (89, "89 s"), (600, "10 min"), (5400, "1 h 30 min"),
                                               (11400, "3 h 10 min"), (200000, "2 d 7 h"), (105, "2 min")])
def test_durations_read_plainly(seconds, text):
    assert duration_text(seconds) == text
