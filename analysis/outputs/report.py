"""The HTML report: one self-contained file drawn from the exported tables.

This module owns ``report.html``: it reads ``tables/*.parquet`` and ``summary.json`` written by
:mod:`mpflow.analysis.summary` (never the in-memory objects, so the report shows exactly what the
Parquet files hold) and renders

- a summary and the frames per (mutant, conformation, stage) group,
- what these data can test: per comparison family, whether the numbers of models allow a
  significant result at all (:func:`mpflow.analysis.statistics.occurrence.testability`), said in plain
  sentences (:func:`testability_notes`), so few models give an explanation, not empty tables,
- a probability heatmap per stage, the PCA (variance and the first two components coloured by
  mutant, conformation and stage), the geometry distributions per conformation,
- the signature table, the significant comparisons, the keys found in one stage only, the dropped
  keys by reason, and the probabilities of the signature keys,
- the definitions of every threshold used.

Figures are PNG embedded as ``data:`` URIs; there is no script and no external URL, so the file
opens anywhere.  Every table has an ``id`` (the tests read them back); numbers are printed with
:data:`DECIMALS` decimals.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment
from markupsafe import Markup

from mpflow.analysis.outputs import figures
from mpflow.analysis.outputs.export import DEFAULT_TITLE
from mpflow.analysis.statistics import occurrence

DECIMALS = 4
MAX_ROWS = 300

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em 0; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #eee; } td.s { text-align: left; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.3em 0; }
pre { background: #f6f6f6; padding: 0.8em; font-size: 12px; white-space: pre-wrap; }
.note { color: #666; font-size: 12px; }
.finding { max-width: 60em; }
</style></head><body>
<h1>{{ title }}</h1>
<h2 id="summary">Summary</h2>
{{ tables.summary }}
<h2>Frames per group</h2>
{{ tables.groups }}
<h2 id="what-can-be-tested">What these data can test</h2>
{% for line in testability_notes %}<p class="finding">{{ line }}</p>{% endfor %}
{{ tables.testability }}
<h2>Occurrence probability per stage</h2>
<p class="note">count / (chain pairs × frames), pooled over the models of each group; keys ordered by
their spread between groups (at most {{ max_keys }} shown per stage; all in tables/probabilities.parquet).</p>
{% for fig in heatmaps %}<figure><img alt="{{ fig.alt }}" src="{{ fig.src }}"></figure>{% endfor %}
{% if not heatmaps %}<p class="note">No key is left after the filter (see Dropped keys): no heatmap to draw.</p>{% endif %}
<h2>PCA of the frames' interaction vectors</h2>
{% for fig in pca %}<figure><img alt="{{ fig.alt }}" src="{{ fig.src }}"></figure>{% endfor %}
<h2>Geometry per conformation</h2>
{% for fig in geometry %}<figure><img alt="{{ fig.alt }}" src="{{ fig.src }}"></figure>{% endfor %}
<h2>Signatures</h2>
<p class="note">Significant (mutants) or discriminating (conformations) at the stages listed, and
robust across stages on both sides when <em>signature</em> is True.</p>
{{ tables.signatures }}
<h2>Significant comparisons</h2>
<p class="note">q ≤ alpha (Benjamini–Hochberg within each family); at most {{ max_rows }} rows, all in tables/comparisons.parquet.</p>
{{ tables.comparisons }}
<h2>Keys found in one stage only</h2>
{{ tables.one_stage }}
<h2>Dropped keys</h2>
{{ tables.dropped_reasons }}
{{ tables.dropped }}
<h2>Probabilities of the signature keys</h2>
{{ tables.signature_probabilities }}
<h2>Definitions</h2>
{{ tables.options }}
<pre>{{ definitions }}</pre>
</body></html>
"""


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return ""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.{DECIMALS}f}"
    return str(v)


def html_table(df: pd.DataFrame, table_id: str, max_rows: int = MAX_ROWS, empty_note: str = "none") -> str:
    """A plain HTML table with ``id``; floats with :data:`DECIMALS` decimals, text left-aligned;
    an empty table is followed by ``empty_note`` (why it is empty)."""
    shown = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for rec in shown.itertuples(index=False):
        cells = []
        for v in rec:
            cls = ' class="s"' if isinstance(v, str) else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (f'<p class="note">{len(df) - max_rows} more rows not shown.</p>' if len(df) > max_rows else "")
    if df.empty:
        return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody></tbody></table>' \
               f'<p class="note">{html.escape(empty_note)}</p>'
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f"</table>{more}")


def report_tables(out_dir: str | Path) -> dict[str, pd.DataFrame]:
    """The tables the report shows, derived from tables/*.parquet (also used by the tests)."""
    t = Path(out_dir) / "tables"
    summary = json.loads((Path(out_dir) / "summary.json").read_text())
    probs = pd.read_parquet(t / "probabilities.parquet")
    cmp_ = pd.read_parquet(t / "comparisons.parquet")
    sig = pd.read_parquet(t / "signatures.parquet")
    base = pd.read_parquet(t / "superbase.parquet")
    dropped = pd.read_parquet(t / "dropped_keys.parquet")
    alpha = summary["stats_options"]["alpha"]
    groups = probs.drop_duplicates(["mutant", "conformation", "stage"])[
        ["mutant", "conformation", "stage", "n_models", "n_frames"]].reset_index(drop=True)
    flat = {k: (", ".join(map(str, v)) if isinstance(v, list) else
                ", ".join(f"{a}: {b}" for a, b in v.items()) if isinstance(v, dict) else v)
            for k, v in summary.items() if k not in ("stats_options", "filter_options")}
    opts = {**{f"stats.{k}": v for k, v in summary["stats_options"].items()},
            **{f"filter.{k}": v for k, v in summary["filter_options"].items()}}
    significant = cmp_[cmp_["q_value"] <= alpha].sort_values(["family", "q_value"]).reset_index(drop=True)
    sig_keys = sig["key"].unique().tolist() if len(sig) else []
    sig_probs = probs[probs["key"].isin(sig_keys)][["key", "mutant", "conformation", "stage", "probability",
                                                    "ci_low", "ci_high", "n_models", "n_frames"]]
    return {
        "summary": pd.DataFrame({"item": list(flat), "value": [str(v) for v in flat.values()]}),
        "groups": groups,
        "signatures": sig,
        "comparisons": significant[["family", "mutant_1", "conformation_1", "stage_1", "mutant_2",
                                    "conformation_2", "stage_2", "key", "p_1", "p_2", "delta",
                                    "n_models_1", "n_models_2", "p_value", "q_value", "test"]],
        "one_stage": base[base["only_in_stage"] != ""][["key", "only_in_stage"]].reset_index(drop=True),
        "dropped_reasons": dropped["reason"].value_counts().rename_axis("reason").reset_index(name="keys"),
        "dropped": dropped,
        "signature_probabilities": sig_probs.reset_index(drop=True),
        "options": pd.DataFrame({"option": list(opts), "value": [str(v) for v in opts.values()]}),
        "testability": _families_first(pd.read_parquet(t / "testability.parquet")),
    }


def _families_first(tb: pd.DataFrame) -> pd.DataFrame:
    """Mutant comparisons first, then conformations, then stages (the order of the sentences)."""
    order = {"mutant": 0, "conformation": 1, "stage": 2}
    return tb.sort_values("family", key=lambda f: f.map(order), kind="stable").reset_index(drop=True)


FAMILY_WORDS = {"mutant": ("Mutants", "mutant"), "conformation": ("Conformations", "conformation"),
                "stage": ("Stages", "stage")}
ABSENT = {"mutant": "only one mutant (per conformation and stage) was analysed: no mutant comparison.",
          "conformation": "no mutant has two classified conformations at one stage: no conformation "
                          "comparison.",
          "stage": "no model was analysed at two stages: no stage comparison."}


def _models(n1: pd.Series, n2: pd.Series) -> str:
    pairs = sorted({(int(a), int(b)) for a, b in zip(n1, n2)})
    text = ", ".join(f"{a} vs {b}" for a, b in pairs[:4]) + (", ..." if len(pairs) > 4 else "")
    return f"{text} model(s)"


def testability_notes(tb: pd.DataFrame, summary: dict) -> list[str]:
    """Plain sentences: per comparison family, can these model counts give a significant result?"""
    alpha = summary["stats_options"]["alpha"]
    lines = []
    for family in ("mutant", "conformation", "stage"):
        label, word = FAMILY_WORDS[family]
        rows = tb[tb["family"] == family]
        if rows.empty:
            lines.append(f"{label}: {ABSENT[family]}")
            continue
        k, reachable = len(rows), int(rows["can_reach_alpha"].sum())
        need = rows["min_models"].dropna()
        unit = "models analysed at both stages" if family == "stage" else "models per group"
        need_text = (f" At least {int(need.iloc[0])} {unit} are needed for this test to reach "
                     f"alpha = {alpha:g}." if len(need) else "")
        test = rows["test"].iloc[0]
        if reachable == 0:
            floor = rows["p_floor"].min()
            why = (f"its smallest possible p-value is {floor:.3g}, above alpha = {alpha:g}, so no {word} "
                   "difference can be significant here" if np.isfinite(floor) else
                   "it cannot be computed with one model per side")
            lines.append(f"{label}: {k} comparison(s) with {_models(rows['n_models_1'], rows['n_models_2'])} "
                         f"and the {test} test; {why}.{need_text}")
        elif reachable < k:
            lines.append(f"{label}: {reachable} of {k} comparisons have enough models to reach alpha = "
                         f"{alpha:g}; the other {k - reachable} cannot be significant.{need_text}")
        else:
            lines.append(f"{label}: {k} comparison(s) ({_models(rows['n_models_1'], rows['n_models_2'])}, "
                         f"{test} test), each able to reach alpha = {alpha:g}.")
    if tb.empty or not tb["can_reach_alpha"].any():
        lines.append("With these numbers of models the tables of significant comparisons and signatures are "
                     "necessarily empty: the probabilities, heatmaps, PCA and geometry below describe the "
                     "frames analysed, they do not test differences.")
    return lines


def empty_notes(tb: pd.DataFrame, summary: dict) -> dict[str, str]:
    """Why a table of the report may be empty (shown under it when it is)."""
    alpha = summary["stats_options"]["alpha"]
    between = tb[tb["family"].isin(["mutant", "conformation"])]
    if between.empty:
        sig = "none: there is no mutant or conformation comparison in these data."
    elif not between["can_reach_alpha"].any():
        sig = ("none: no mutant or conformation comparison can be significant with these numbers of models "
               "(see What these data can test).")
    else:
        sig = "none: no key passes the thresholds (|delta| and q <= alpha) at any stage."
    if tb.empty:
        cmp_ = "none: nothing is compared in these data."
    elif not tb["can_reach_alpha"].any():
        cmp_ = (f"none: no comparison can reach q <= {alpha:g} with these numbers of models "
                "(see What these data can test).")
    else:
        cmp_ = f"none: no comparison has q <= {alpha:g}."
    return {"signatures": sig, "comparisons": cmp_, "signature_probabilities": sig,
            "testability": "none: nothing is compared in these data."}


def write_report(out_dir: str | Path, *, title: str = DEFAULT_TITLE,
                 max_keys: int = 60) -> Path:
    """Render ``<out_dir>/report.html`` from ``<out_dir>/tables`` (temp name, then rename)."""
    out = Path(out_dir)
    t = out / "tables"
    loaded = {name: pd.read_parquet(t / f"{name}.parquet")
              for name in ("probabilities", "pca_scores", "pca_variance", "geometry")}
    figs = [{"alt": title_, "src": "data:image/png;base64," + base64.b64encode(figures.to_png(fig)).decode()}
            for title_, fig in figures.report_figures(loaded, max_keys)]
    heatmaps = [f for f in figs if f["alt"].startswith("heatmap")]
    pca = [f for f in figs if f["alt"].startswith("PCA")]
    geometry = [f for f in figs if f["alt"] == "geometry"]
    shown = report_tables(out)
    summary = json.loads((out / "summary.json").read_text())
    empty = empty_notes(shown["testability"], summary)
    # Markup: the tables are built by html_table, every value escaped there
    tables = {name: Markup(html_table(df, name.replace("_", "-"), empty_note=empty.get(name, "none")))
              for name, df in shown.items()}
    page = Environment(autoescape=True).from_string(_TEMPLATE).render(
        title=title, tables=tables, heatmaps=heatmaps, pca=pca,
        testability_notes=testability_notes(shown["testability"], summary),
        geometry=geometry, max_keys=max_keys, max_rows=MAX_ROWS,
        definitions=occurrence.__doc__.strip())
    path = out / "report.html"
    tmp = out / ".report.html.tmp"
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
