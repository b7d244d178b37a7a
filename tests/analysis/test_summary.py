"""The analysis on real files: built helix dimers with XTC trajectories, and a real MD trajectory."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from analysis_data import helix_manifest, write_trajectory
from browser import chromium_path, open_page
from mpflow.analysis.frame_pass import PassOptions, analyse_chunk, analyse_part
from mpflow.analysis.frames import (
    ChunkPart,
    FrameSource,
    parse_frame_specs,
    plan_chunks,
    read_manifest,
    wanted_frames,
    write_manifest,
)
from mpflow.analysis.outputs.notebook import execute_notebook
from mpflow.analysis.outputs.report import DECIMALS, MAX_ROWS, report_tables
from mpflow.analysis.statistics.occurrence import StatsOptions
from mpflow.analysis.store import TableStore
from mpflow.analysis.summary import summarise

SPECS = {"prmd": "last:4", "urmd": "all"}
STATS = StatsOptions(test="welch", n_bootstrap=200)


def run_store(sources, store_root: Path, chunk_frames: int, specs=SPECS):
    specs_ = parse_frame_specs(specs)
    wanted = [(s, wanted_frames(s, specs_)) for s in sources]
    store = TableStore(store_root)
    store.clean_incomplete()
    chunks = plan_chunks(wanted, store.done_frames(), chunk_frames)
    for c in chunks:
        analyse_chunk(c, str(store_root), PassOptions())
    selected = pd.DataFrame([(s.model_id, s.stage, int(f)) for s, fr in wanted for f in fr],
                            columns=["model_id", "stage", "frame"])
    return chunks, selected


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("helix")
    sources = helix_manifest(root, models=3, frames={"emmd": 2, "prmd": 6, "urmd": 8})
    chunks, selected = run_store(sources, root / "store", chunk_frames=40)
    result = summarise(root / "store", root / "out", selected=selected, stats=STATS)
    return root, sources, chunks, selected, result


def test_geometry_and_interactions_share_one_frame_key(project):
    root, sources, chunks, selected, result = project
    store = TableStore(root / "store")
    frames = store.frames()
    key = ["model_id", "stage", "frame"]
    fk = set(map(tuple, frames[key].astype({"stage": str}).itertuples(index=False)))
    geo = store.read("geometry")
    inter = store.read("interactions")
    assert set(map(tuple, geo[key].astype({"stage": str}).itertuples(index=False))) == fk
    assert set(map(tuple, inter[key].astype({"stage": str}).itertuples(index=False))) <= fk
    assert fk == set(map(tuple, selected.itertuples(index=False)))
    assert len(frames) == 12 * (1 + 1 + 4 + 8)
    # tags: docked ConformationN, trajectory frames ConformationN:XXMD:Protein_n
    row = frames[(frames.stage.astype(str) == "prmd") & (frames.model_id == 1)].sort_values("frame").iloc[-1]
    assert row["tag"] == f"{row['group']}:PRMD:Protein_5"
    assert set(frames.loc[frames.stage.astype(str) == "docked", "tag"]) == {"Conformation1", "Conformation2"}
    # the two conformations were built with opposite crossing angles, and geometry says so
    g = geo.merge(frames[key + ["conformation"]], on=key)
    mean = g.groupby("conformation")["crossing_angle_deg"].mean()
    assert mean["Conformation1"] < -30 and mean["Conformation2"] > 10


def test_chunk_size_does_not_change_the_results(project, tmp_path):
    root, sources, chunks, selected, result = project
    subset = [s for s in sources if s.mutant == "GpA-WT"]
    _, sel = run_store(subset, tmp_path / "store", chunk_frames=3)
    small = summarise(tmp_path / "store", tmp_path / "out", selected=sel, stats=STATS, report=False,
                      notebook=False)
    big_sel = selected[selected.model_id.isin({s.model_id for s in subset})]
    big = summarise(root / "store", tmp_path / "out2", selected=big_sel, stats=STATS, report=False,
                    notebook=False)
    a = pd.read_parquet(small.tables["probabilities"])
    b = pd.read_parquet(big.tables["probabilities"])
    pd.testing.assert_frame_equal(a, b)
    ia = TableStore(tmp_path / "store").read("interactions").astype({"stage": str})
    assert len(ia) == len(TableStore(root / "store").read("interactions").astype({"stage": str})
                          .pipe(lambda d: d[d.model_id.isin({s.model_id for s in subset})]))


def test_rerun_computes_only_new_frames(project, tmp_path):
    root, sources, *_ = project
    src = [s for s in sources if s.model_id == 1 and s.stage == "urmd"][0]
    work = tmp_path / "m1"
    work.mkdir()
    pdb = shutil.copy(src.topology, work / "m1.pdb")
    xtc = write_trajectory(Path(pdb), work / "m1.xtc", 6, 0.3, seed=1)
    s = FrameSource(model_id=1, mutant="GpA-WT", group="Conformation1", name="m1", stage="urmd",
                    topology=Path(pdb), trajectory=xtc)
    first, _ = run_store([s], tmp_path / "store", chunk_frames=4)
    assert [c.n_frames for c in first] == [4, 2]
    again, _ = run_store([s], tmp_path / "store", chunk_frames=4)
    assert again == []
    for p in work.glob(".m1.xtc*"):  # MDAnalysis' offsets cache of the old file
        p.unlink()
    write_trajectory(Path(pdb), xtc, 9, 0.3, seed=1)  # the run went on: 3 more frames
    more, sel = run_store([s], tmp_path / "store", chunk_frames=4)
    assert [p.frames for c in more for p in c.parts] == [(6, 7, 8)]
    assert TableStore(tmp_path / "store").done_frames() == {(1, "urmd", f) for f in range(9)}


def test_an_unfinished_part_is_removed_before_planning(project, tmp_path):
    root, sources, *_ = project
    s = [x for x in sources if x.stage == "docked"][0]
    store = TableStore(tmp_path / "store")
    tables = analyse_part(ChunkPart(s, (0,)), PassOptions(geometry=False))
    for kind in ("interactions", "geometry"):  # the task died before its frames file
        p = store.part_path(kind, "docked", s.model_id, "f000000000-000000000-n1")
        p.parent.mkdir(parents=True, exist_ok=True)
        tables[kind].to_parquet(p)
    assert store.done_frames() == set()
    removed = store.clean_incomplete()
    assert len(removed) == 2 and store.files("interactions") == []


class _Tables(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._id = None
        self._cell = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._id = dict(attrs).get("id")
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self.tables[self._id].append([])
        elif tag in ("td", "th") and self._id:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._id and self._cell is not None:
            self.tables[self._id][-1].append(self._cell)
            self._cell = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _html_tables(path: Path) -> dict[str, pd.DataFrame]:
    p = _Tables()
    p.feed(path.read_text())
    return {k: pd.DataFrame(rows[1:], columns=rows[0]) for k, rows in p.tables.items()}


def test_report_tables_match_the_parquet_data(project):
    root, sources, chunks, selected, result = project
    out = root / "out"
    shown = _html_tables(out / "report.html")
    probs = pd.read_parquet(out / "tables" / "probabilities.parquet")
    sig = pd.read_parquet(out / "tables" / "signatures.parquet")
    summary = json.loads((out / "summary.json").read_text())
    assert len(sig) > 0, "the fixture should produce signatures (Welch, 3 models per group)"
    # signatures: every row, every column
    s = shown["signatures"]
    assert len(s) == len(sig) and list(s.columns) == list(sig.columns)
    assert s["key"].tolist() == sig["key"].tolist()
    assert s["delta_max_abs"].tolist() == [f"{v:.{DECIMALS}f}" for v in sig["delta_max_abs"]]
    assert s["signature"].tolist() == [str(bool(v)) for v in sig["signature"]]
    # probabilities of the signature keys, against probabilities.parquet
    sp = shown["signature-probabilities"]
    expected = probs[probs.key.isin(sig.key)].set_index(["key", "mutant", "conformation", "stage"])
    assert len(sp) == min(len(expected), MAX_ROWS) and len(sp) > 0
    for r in sp.itertuples():
        e = expected.loc[(r.key, r.mutant, r.conformation, r.stage)]
        assert r.probability == f"{e['probability']:.{DECIMALS}f}"
        assert int(r.n_frames) == e["n_frames"] and int(r.n_models) == e["n_models"]
    # frames per group and the summary
    groups = shown["groups"]
    n = probs.drop_duplicates(["mutant", "conformation", "stage"]).set_index(["mutant", "conformation", "stage"])
    for r in groups.itertuples():
        assert int(r.n_frames) == n.loc[(r.mutant, r.conformation, r.stage), "n_frames"]
    assert int(groups["n_frames"].astype(int).sum()) == summary["frames"] == len(selected)
    summ = dict(zip(shown["summary"]["item"], shown["summary"]["value"]))
    assert int(summ["kept_keys"]) == summary["kept_keys"] and int(summ["signatures"]) == summary["signatures"]
    assert set(shown) == {t.replace("_", "-") for t in report_tables(out)}


@pytest.mark.skipif(chromium_path() is None, reason="chromium missing: run scripts/test-deps")
def test_report_opens_in_a_real_browser_with_every_figure_drawn(project):
    root, *_ = project
    page = open_page(root / "out" / "report.html")
    assert page.errors == []
    alts = [i["alt"] for i in page.images]
    assert alts == ["heatmap docked", "heatmap emmd", "heatmap prmd", "heatmap urmd", "PCA variance",
                    "PCA scores", "geometry"]
    for img in page.images:
        assert img["complete"] and img["width"] > 100 and img["height"] > 100 and not img["external"], img
    assert "signatures" in page.table_ids
    assert not re.search(r"(src|href)=\"https?://", (root / "out" / "report.html").read_text())


def test_notebook_runs_top_to_bottom_and_reproduces_the_report(project):
    root, *_ = project
    out = root / "out"
    nb = execute_notebook(out / "analysis.ipynb", timeout_s=300)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    numbers = json.loads(re.search(r"NUMBERS (\{.*\})", text).group(1))
    drawn = json.loads(re.search(r"FIGURES (\[.*\])", text).group(1))
    summary = json.loads((out / "summary.json").read_text())
    probs = pd.read_parquet(out / "tables" / "probabilities.parquet")
    assert numbers["max_abs_diff"] < 1e-12
    assert numbers["rows_compared"] == numbers["rows_in_report_table"] == len(probs)
    assert numbers["probability_sum"] == pytest.approx(float(np.nansum(probs["probability"])))
    assert numbers["signatures"] == summary["signatures"] and numbers["kept_keys"] == summary["kept_keys"]
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == len(drawn) == 7


def test_real_md_trajectory_yiip_dimer():
    from MDAnalysisTests.datafiles import GRO_MEMPROT, XTC_MEMPROT

    src = FrameSource(model_id=7, mutant="YiiP", group=None, name="yiip", stage="urmd",
                      topology=Path(GRO_MEMPROT), trajectory=Path(XTC_MEMPROT))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tables = analyse_part(ChunkPart(src, (0, 2, 4)), PassOptions(types=("hbond", "saltbridge")))
    fr = tables["frames"]
    assert fr["frame"].tolist() == [0, 2, 4]
    assert fr["tag"].tolist() == ["None:URMD:Protein_0", "None:URMD:Protein_2", "None:URMD:Protein_4"]
    assert (fr["time_ps"].diff().dropna() > 0).all()
    assert tables["geometry"]["frame"].tolist() == [0, 2, 4]
    occ = tables["occurrences"]
    assert set(occ["frame"]) <= {0, 2, 4} and len(occ) > 0
    assert set(occ["key"].astype(str)) == set(tables["keys"]["key"])
    assert (occ["count"] >= 1).all()


def test_manifest_round_trip_and_one_line_errors(project, tmp_path):
    root, sources, *_ = project
    path = write_manifest(sources[:3], tmp_path / "m.csv")
    assert read_manifest(path) == sources[:3]
    bad = tmp_path / "bad.csv"
    bad.write_text(path.read_text().replace(",docked,", ",minimise,", 1))
    with pytest.raises(ValueError, match=r"bad.csv, row 1: stage"):
        read_manifest(bad)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps([{**sources[0].model_dump(mode="json"), "topology": "nope.pdb"}]))
    with pytest.raises(ValueError, match=r"file not found: .*nope.pdb"):
        read_manifest(missing)
