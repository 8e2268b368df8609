"""Figures of the catalogue: one function per figure, each returns a matplotlib Figure.

Nothing is shown or saved unless asked (`save`). Figures are built on `matplotlib.figure.Figure`
directly, so no pyplot state or GUI backend is involved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from kdsurvey import analysis, catalogue
from kdsurvey.metric import check_alpha

TABLE_COLOURS = {1: "tab:blue", 2: "tab:orange"}
STRATEGY_MARKERS = {"offline": "o", "online": "^"}
STRATEGY_LINES = {"offline": "-", "online": "--"}
ISO_LEVELS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)


def _scored(frame: pd.DataFrame | None) -> pd.DataFrame:
    frame = catalogue.results() if frame is None else frame
    out = analysis.with_metric(frame, ())
    return out[out["size_ratio"].notna() & out["accuracy_ratio"].notna()]


def _colour(row) -> str:
    return TABLE_COLOURS.get(int(row["table"]), "tab:green") if row["source"] == "reported" else "tab:green"


def tradeoff(frame: pd.DataFrame | None = None, alpha: float = 0.5, levels=ISO_LEVELS) -> Figure:
    """Size reduction vs accuracy reduction, with iso-metric lines at `alpha` and the Pareto front.

    Up and to the left is worse; the best results sit bottom right (small student, little
    accuracy lost). Marker shape tells offline from online, colour Table 1 from Table 2,
    hollow markers are reproduced results.
    """
    alpha = float(check_alpha(alpha))
    data = _scored(frame)
    fig = Figure(figsize=(8, 6))
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.93)  # fixed margins: constrained layout is slow
    ax = fig.add_subplot()
    x = data["size_reduction_pct"].to_numpy()
    y = data["accuracy_reduction_pct"].to_numpy()
    xmin = min(0.0, float(np.nanmin(x, initial=0))) - 2
    xs = np.linspace(xmin, 100, 200)
    ylo = min(-2.0, float(np.nanmin(y, initial=0)) - 2)
    yhi = max(12.0, float(np.nanmax(y, initial=0)) + 2)
    for level in levels:
        if alpha < 1:
            ys = 100 * (level - alpha * (1 - xs / 100)) / (1 - alpha)
            ax.plot(xs, ys, color="0.75", lw=0.8, ls=":", zorder=0)
            inside = (ys > ylo) & (ys < yhi - 0.04 * (yhi - ylo))
            if inside.any():
                i = np.flatnonzero(inside)[-1]
                ax.annotate(f"D={level:g}", (xs[i], ys[i]), fontsize=7, color="0.45", ha="right", va="bottom")
        else:
            ax.axvline(100 * (1 - level), color="0.75", lw=0.8, ls=":", zorder=0)
    for _, row in data.iterrows():
        reported = row["source"] == "reported"
        colour = _colour(row)
        ax.scatter(
            row["size_reduction_pct"], row["accuracy_reduction_pct"],
            marker=STRATEGY_MARKERS.get(row["strategy"], "s"), s=55,
            facecolors=colour if reported else "none", edgecolors=colour, zorder=3,
        )  # fmt: skip
        if reported:
            ax.annotate(row["row_id"], (row["size_reduction_pct"], row["accuracy_reduction_pct"]),
                        xytext=(4, 3), textcoords="offset points", fontsize=7)  # fmt: skip
    _label_column(ax, data[data["source"] != "reported"], gap=0.03 * (yhi - ylo))
    front = analysis.pareto_front(data)
    if len(front):
        ax.plot(front["size_reduction_pct"], front["accuracy_reduction_pct"], color="crimson", lw=1.2,
                drawstyle="steps-post", zorder=2)  # fmt: skip
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlim(xmin, 101)
    ax.set_ylim(ylo, yhi)
    ax.invert_xaxis()
    ax.set_xlabel("Reduction in size (%)  [1 - student size / teacher size]")
    ax.set_ylabel("Reduction in accuracy (%)  [negative: student beats teacher]")
    what = "Surveyed and reproduced results" if (data["source"] != "reported").any() else "Surveyed results"
    ax.set_title(f"{what}: size vs accuracy, iso-metric lines at α = {alpha:g}")
    handles = [
        Line2D([], [], marker="o", ls="", color=TABLE_COLOURS[1], label="Table 1 (soft labels)"),
        Line2D([], [], marker="o", ls="", color=TABLE_COLOURS[2], label="Table 2 (other knowledge)"),
        Line2D([], [], marker=STRATEGY_MARKERS["offline"], ls="", color="0.3", label="offline"),
        Line2D([], [], marker=STRATEGY_MARKERS["online"], ls="", color="0.3", label="online"),
        Line2D([], [], color="crimson", label="Pareto front"),
        Line2D([], [], color="0.6", ls=":", label="iso-metric D"),
    ]
    if (data["source"] != "reported").any():
        handles.insert(2, Line2D([], [], marker="o", ls="", mfc="none", color="tab:green", label="reproduced"))
    ax.legend(handles=handles, fontsize=8, loc="lower right")
    return fig


def _label_column(ax, rows: pd.DataFrame, gap: float) -> None:
    """Labels of reproduced results, which share one size reduction and so pile up: stacked in a column
    beside the points, at least `gap` apart, each joined to its point by a thin line."""
    rows = rows.sort_values("accuracy_reduction_pct", kind="stable")
    placed: list[float] = []
    for y in rows["accuracy_reduction_pct"]:
        placed.append(y if not placed else max(y, placed[-1] + gap))
    shift = max(0.0, placed[-1] - rows["accuracy_reduction_pct"].max()) / 2 if placed else 0.0
    for (_, row), y in zip(rows.iterrows(), placed):
        x = row["size_reduction_pct"]
        ax.annotate(row["row_id"], (x, row["accuracy_reduction_pct"]), xytext=(x - 14, y - shift), fontsize=7,
                    va="center", arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5})  # fmt: skip


def alpha_sensitivity(frame: pd.DataFrame | None = None, alphas=None) -> Figure:
    """The metric of each result as alpha goes from 0 to 1 (left) and its rank (right).

    Dots on the left mark rank crossings: where two results swap places.
    """
    alphas = np.linspace(0, 1, 101) if alphas is None else np.asarray(alphas, dtype=float)
    check_alpha(alphas)
    data = _scored(frame)
    sweep = analysis.alpha_sweep(data, alphas)
    fig = Figure(figsize=(12, 5.5))
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.1, top=0.93, wspace=0.18)
    left, right = fig.subplots(1, 2)
    for _, row in data.iterrows():
        part = sweep[sweep["row_id"] == row["row_id"]]
        style = dict(color=_colour(row), ls=STRATEGY_LINES.get(row["strategy"], "-"), lw=1.1)
        left.plot(part["alpha"], part["metric"], **style)
        right.plot(part["alpha"], part["rank"], **style)
        right.annotate(row["row_id"], (part["alpha"].iloc[-1], part["rank"].iloc[-1]),
                       xytext=(3, 0), textcoords="offset points", fontsize=7, va="center")  # fmt: skip
        left.annotate(row["row_id"], (part["alpha"].iloc[-1], part["metric"].iloc[-1]),
                      xytext=(3, 0), textcoords="offset points", fontsize=7, va="center")  # fmt: skip
    crossings = analysis.rank_crossings(data)
    left.scatter(crossings["alpha"], crossings["metric"], s=9, color="black", zorder=3)
    left.axhline(0, color="0.5", lw=0.6)
    left.set_xlabel("α (weight of size)")
    left.set_ylabel("distillation metric D (lower is better)")
    left.set_title("Metric vs α")
    handles = [
        Line2D([], [], color=TABLE_COLOURS[1], label="Table 1 (soft labels)"),
        Line2D([], [], color=TABLE_COLOURS[2], label="Table 2 (other knowledge)"),
        Line2D([], [], color="0.3", ls=STRATEGY_LINES["offline"], label="offline"),
        Line2D([], [], color="0.3", ls=STRATEGY_LINES["online"], label="online"),
        Line2D([], [], marker="o", ms=3, ls="", color="black", label=f"rank crossings ({len(crossings)})"),
    ]
    if (data["source"] != "reported").any():
        handles.insert(2, Line2D([], [], color="tab:green", label="reproduced"))
    left.legend(handles=handles, fontsize=8, loc="upper left")
    right.invert_yaxis()
    right.set_xlabel("α (weight of size)")
    right.set_ylabel("rank (1 = best)")
    right.set_title("Rank vs α")
    for ax in (left, right):
        ax.set_xlim(0, 1.08)
    return fig


FIGURES = ("tradeoff", "alpha_sensitivity")


def all_figures(frame: pd.DataFrame | None = None, alpha: float = 0.5) -> dict[str, Figure]:
    """Every figure by name; `alpha` sets the iso-metric lines of the trade-off figure."""
    frame = catalogue.results() if frame is None else frame
    return {"tradeoff": tradeoff(frame, alpha=alpha), "alpha_sensitivity": alpha_sensitivity(frame)}


def write(out: str | Path, alpha: float = 0.5, data: str | Path | None = None) -> list[Path]:
    """Every figure as PNG and PDF into folder `out`, replaced whole (kdsurvey.outputs)."""
    from kdsurvey.outputs import check_target, staged_folder

    out = check_target(out)
    figures = all_figures(catalogue.results(data), alpha)
    with staged_folder(out) as folder:
        names = [p.name for name, fig in figures.items() for p in save(fig, folder / name)]
    return [out / name for name in names]


def save(fig: Figure, stem: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Write `fig` as stem.png, stem.pdf, ... with fixed metadata, so reruns give the same bytes."""
    stem = Path(stem)
    paths = []
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "ModDate": None, "Producer": None},
                "svg": {"Date": None}}  # fmt: skip
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, format=fmt, dpi=150, metadata=metadata.get(fmt))
        paths.append(path)
    return paths
