"""The analysis figures, drawn from the exported tables (the report and the notebook share them).

This module owns every plot: each function takes plain tables (as written under ``tables/`` by
:mod:`mpflow.analysis.summary`) and returns a matplotlib ``Figure`` (Agg backend, no display):

- :func:`probability_heatmap`: one stage, keys × (mutant, conformation) groups, colour = occurrence
  probability (the keys that vary most between the groups, at most ``max_keys``);
- :func:`pca_scatter`: frames on the first two principal components, coloured by mutant,
  conformation and stage (three panels); :func:`pca_variance`: explained variance per component;
- :func:`geometry_distributions`: per geometry quantity, box plots per conformation and stage.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mpflow.analysis.frames import STAGES  # noqa: E402

GEOMETRY_COLUMNS = ("tilt_deg", "crossing_angle_deg", "distance_A", "pore_radius_min_A")
_STAGE_ORDER = {s: k for k, s in enumerate(STAGES)}


def heatmap_matrix(probabilities: pd.DataFrame, stage: str, max_keys: int = 60) -> pd.DataFrame:
    """Keys × "mutant / conformation" probabilities at ``stage`` (rows: largest spread first)."""
    sub = probabilities[probabilities["stage"] == stage]
    if sub.empty:
        return pd.DataFrame()
    sub = sub.assign(group=sub["mutant"].astype(str) + " / " + sub["conformation"].astype(str))
    mat = sub.pivot_table(index="key", columns="group", values="probability", aggfunc="first")
    spread = (mat.max(axis=1) - mat.min(axis=1)).fillna(0) + 1e-6 * mat.mean(axis=1).fillna(0)
    order = spread.sort_values(ascending=False, kind="stable").index[:max_keys]
    return mat.loc[order]


def probability_heatmap(probabilities: pd.DataFrame, stage: str, max_keys: int = 60):
    mat = heatmap_matrix(probabilities, stage, max_keys)
    n_rows = max(len(mat), 1)
    fig, ax = plt.subplots(figsize=(2.5 + 1.3 * max(mat.shape[1], 1), 1.5 + 0.22 * n_rows))
    if mat.empty:
        ax.text(0.5, 0.5, f"no data for {stage}", ha="center", va="center")
        ax.set_axis_off()
        return fig
    im = ax.imshow(mat.to_numpy(dtype=float), aspect="auto", vmin=0, vmax=1, cmap="viridis",
                   interpolation="nearest")
    ax.set_yticks(range(len(mat)), mat.index, fontsize=6)
    ax.set_xticks(range(mat.shape[1]), mat.columns, rotation=30, ha="right", fontsize=8)
    ax.set_title(f"Occurrence probability, {stage.upper()}")
    fig.colorbar(im, ax=ax, label="probability", fraction=0.05)
    fig.tight_layout()
    return fig


def pca_scatter(scores: pd.DataFrame, explained: np.ndarray | None = None):
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    if scores.empty or "PC1" not in scores:
        for ax in axes:
            ax.text(0.5, 0.5, "no PCA (too few keys or frames)", ha="center", va="center")
            ax.set_axis_off()
        return fig
    y = scores["PC2"] if "PC2" in scores else pd.Series(np.zeros(len(scores)))
    for ax, col in zip(axes, ("mutant", "conformation", "stage")):
        values = scores[col].astype(str)
        levels = sorted(values.unique(), key=lambda v: (_STAGE_ORDER.get(v, 99), v))
        cmap = plt.get_cmap("tab10")
        for k, level in enumerate(levels):
            m = (values == level).to_numpy()
            ax.scatter(scores["PC1"][m], y[m], s=6, alpha=0.6, color=cmap(k % 10), label=level)
        xl = "PC1" if explained is None or len(explained) < 1 else f"PC1 ({100 * explained[0]:.1f} %)"
        yl = "PC2" if explained is None or len(explained) < 2 else f"PC2 ({100 * explained[1]:.1f} %)"
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.set_title(f"coloured by {col}")
        ax.legend(fontsize=7, markerscale=2, loc="best")
    fig.tight_layout()
    return fig


def pca_variance(explained: np.ndarray, n_components: int):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    x = np.arange(1, len(explained) + 1)
    ax.bar(x, explained, color=["#3b75af" if i <= n_components else "#bbbbbb" for i in x])
    ax.plot(x, np.cumsum(explained), "k.-", label="cumulative")
    ax.set_xlabel("component")
    ax.set_ylabel("explained variance ratio")
    ax.set_title(f"PCA of the binary frame vectors ({n_components} kept)")
    ax.legend()
    fig.tight_layout()
    return fig


def geometry_distributions(geometry: pd.DataFrame, columns=GEOMETRY_COLUMNS):
    cols = [c for c in columns if c in geometry and geometry[c].notna().any()]
    fig, axes = plt.subplots(1, max(len(cols), 1), figsize=(4.5 * max(len(cols), 1), 4), squeeze=False)
    if not cols:
        axes[0, 0].text(0.5, 0.5, "no geometry", ha="center", va="center")
        axes[0, 0].set_axis_off()
        return fig
    groups = geometry.groupby(["conformation", "stage"], sort=False)
    labels = sorted(groups.groups, key=lambda cs: (str(cs[0]), _STAGE_ORDER.get(cs[1], 99)))
    for ax, col in zip(axes[0], cols):
        data = [geometry.loc[groups.groups[lab], col].dropna().to_numpy() for lab in labels]
        keep = [k for k, d in enumerate(data) if len(d)]
        ax.boxplot([data[k] for k in keep], showfliers=False)
        ax.set_xticks(range(1, len(keep) + 1),
                      [f"{labels[k][0]}\n{labels[k][1]}" for k in keep], fontsize=7, rotation=30)
        ax.set_title(col)
    fig.suptitle("Geometry per conformation and stage")
    fig.tight_layout()
    return fig


def stages_in(probabilities: pd.DataFrame) -> list[str]:
    return sorted(probabilities["stage"].astype(str).unique(), key=lambda s: _STAGE_ORDER.get(s, 99))


def to_png(fig, dpi: int = 90) -> bytes:
    """PNG bytes of ``fig`` (then closed): what the report embeds and the notebook displays."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def report_figures(tables: dict[str, pd.DataFrame], max_keys: int = 60) -> list[tuple[str, object]]:
    """(title, Figure) of every report figure, in report order, from the exported tables."""
    probs = tables["probabilities"]
    var = tables["pca_variance"]
    out = [(f"heatmap {s}", probability_heatmap(probs, s, max_keys)) for s in stages_in(probs)]
    out.append(("PCA variance", pca_variance(var["ratio"].to_numpy(), int(var["kept"].sum()))))
    out.append(("PCA scores", pca_scatter(tables["pca_scores"], var["ratio"].to_numpy())))
    if not tables["geometry"].empty:
        out.append(("geometry", geometry_distributions(tables["geometry"])))
    return out
