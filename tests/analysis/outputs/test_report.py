"""The report's sentences on what the data can test (the rest of the report is tested end to end in
tests/analysis/test_summary.py, on the tables of a real pass)."""

from __future__ import annotations

import pandas as pd

# the module, not its functions: testability_notes imported here would be collected as a test
from mpflow.analysis.outputs import report


def test_report_sentences_for_enough_and_partly_enough_models():
    def row(family, n1, n2, floor, ok, need):
        return {"family": family, "n_models_1": n1, "n_models_2": n2, "test": "permutation (models relabelled)",
                "p_floor": floor, "can_reach_alpha": ok, "min_models": need}

    summary = {"stats_options": {"alpha": 0.05}}
    tb = pd.DataFrame([row("mutant", 5, 5, 2 / 252, True, 4), row("mutant", 5, 2, 1 / 21, True, 4),
                       row("conformation", 3, 3, 0.1, False, 4), row("conformation", 4, 4, 2 / 70, True, 4)])
    notes = report.testability_notes(tb, summary)
    assert notes == [
        "Mutants: 2 comparison(s) (5 vs 2, 5 vs 5 model(s), permutation (models relabelled) test), each able "
        "to reach alpha = 0.05.",
        "Conformations: 1 of 2 comparisons have enough models to reach alpha = 0.05; the other 1 cannot be "
        "significant. At least 4 models per group are needed for this test to reach alpha = 0.05.",
        "Stages: no model was analysed at two stages: no stage comparison."]
    assert report.empty_notes(tb, summary)["signatures"] == ("none: no key passes the thresholds (|delta| and "
                                                      "q <= alpha) at any stage.")
