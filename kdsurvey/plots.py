"""Figures of the catalogue: one function per figure, each returns a matplotlib Figure.

Nothing is shown or saved unless asked (`save`). Figures are built on `matplotlib.figure.Figure`
directly, so no pyplot state or GUI backend is involved. Labels stay legible with any number of
rows: scatter labels are placed by adjustText, labels at the end of lines are spread into a column
(`_spread`), and the figures grow with the number of rows; a test checks that no two labels overlap.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

from kdsurvey import analysis, catalogue
from kdsurvey.metric import check_alpha

TABLE_COLOURS = {1: "tab:blue", 2: "tab:orange"}
REPRODUCED_COLOUR = "tab:green"
STRATEGY_MARKERS = {"offline": "o", "online": "^", "self": "s"}
STRATEGY_LINES = {"offline": "-", "online": "--", "self": "-."}
STRATEGY_NAMES = {"offline": "offline", "online": "online", "self": "self-distillation"}
ISO_LEVELS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
LABEL_SIZE = 7  # points
ADJUST = dict(expand=(1.2, 1.5), force_text=(0.3, 0.6), force_static=(0.3, 0.6), max_move=20, iter_lim=150)
LEADER = {"arrowstyle": "-", "color": "0.55", "lw": 0.5, "shrinkA": 1, "shrinkB": 3}


def _scored(frame: pd.DataFrame | None) -> pd.DataFrame:
    frame = catalogue.results() if frame is None else frame
    out = analysis.with_metric(frame, ())
    return out[out["size_ratio"].notna() & out["accuracy_ratio"].notna()].reset_index(drop=True)


def _colour(row) -> str:
    return TABLE_COLOURS.get(int(row["table"]), REPRODUCED_COLOUR) if row["source"] == "reported" else REPRODUCED_COLOUR


def _what(data: pd.DataFrame) -> str:
    """'Surveyed', 'Reproduced' or 'Surveyed and reproduced': the rows a figure shows, for its title."""
    kinds = set(data["source"])
    if kinds == {"reproduced"}:
        return "Reproduced"
    return "Surveyed and reproduced" if "reproduced" in kinds else "Surveyed"


def _colour_handles(data: pd.DataFrame, marker: str | None) -> list[Line2D]:
    """Legend entries for the colours in use: Table 1, Table 2, reproduced (hollow in the scatter)."""
    style = {"marker": marker, "ls": ""} if marker else {}
    tables = sorted(set(data.loc[data["source"] == "reported", "table"].astype(int)) & set(TABLE_COLOURS))
    words = {1: "Table 1 (soft labels)", 2: "Table 2 (other knowledge)"}
    handles = [Line2D([], [], color=TABLE_COLOURS[t], label=words[t], **style) for t in tables]
    if (data["source"] != "reported").any():
        hollow = {"mfc": "none"} if marker else {}
        handles.append(Line2D([], [], color=REPRODUCED_COLOUR, label="reproduced", **style, **hollow))
    return handles


def _strategies(data: pd.DataFrame) -> list[str]:
    """The strategies present, known ones first in their usual order, so each gets a legend entry."""
    present = set(data["strategy"])
    return [s for s in STRATEGY_MARKERS if s in present] + sorted(present - set(STRATEGY_MARKERS))


# -- trade-off ---------------------------------------------------------------------------------


def tradeoff(frame: pd.DataFrame | None = None, alpha: float = 0.5, levels=ISO_LEVELS) -> Figure:
    """Size reduction vs accuracy reduction, with iso-metric lines at `alpha` and the Pareto front.

    The size axis runs from 100% on the left, so the best results (small student, little accuracy
    lost) sit bottom left and the worst top right. Marker shape tells offline, online and
    self-distillation apart, colour Table 1 from Table 2, hollow markers are reproduced results.
    """
    alpha = float(check_alpha(alpha))
    data = _scored(frame)
    fig = Figure(figsize=(11, max(7.0, 4.0 + 0.07 * len(data))))
    fig.subplots_adjust(left=0.07, right=0.77, bottom=0.09, top=0.94)  # fixed margins: constrained layout is slow
    ax = fig.add_subplot()
    x = data["size_reduction_pct"].to_numpy()
    y = data["accuracy_reduction_pct"].to_numpy()
    xmin = min(0.0, float(np.nanmin(x, initial=0))) - 2
    ylo = min(-2.0, float(np.nanmin(y, initial=0)) - 2)
    yhi = max(12.0, float(np.nanmax(y, initial=0)) + 2)
    ax.set_xlim(101, xmin)  # inverted: 100% size reduction (the smallest student) on the left
    ax.set_ylim(ylo, yhi)
    iso_labels = _iso_lines(ax, alpha, levels)
    colours = pd.Series([_colour(row) for _, row in data.iterrows()], index=data.index, dtype=object)
    for (strategy, colour, reported), part in data.groupby([data["strategy"], colours, data["source"] == "reported"]):
        ax.scatter(part["size_reduction_pct"], part["accuracy_reduction_pct"], s=55, zorder=3,
                   marker=STRATEGY_MARKERS.get(strategy, "D"), edgecolors=colour,
                   facecolors=colour if reported else "none")  # fmt: skip
    front = analysis.pareto_front(data)
    if len(front):
        ax.plot(front["size_reduction_pct"], front["accuracy_reduction_pct"], color="crimson", lw=1.2,
                drawstyle="steps-post", zorder=2)  # fmt: skip
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("Reduction in size (%)  [1 - student size / teacher size]")
    ax.set_ylabel("Reduction in accuracy (%)  [negative: student beats teacher]")
    ax.set_title(f"{_what(data)} results: size vs accuracy, iso-metric lines at α = {alpha:g}")
    _place_point_labels(ax, data["row_id"].tolist(), x, y, obstacles=iso_labels)
    handles = _colour_handles(data, "o")
    handles += [Line2D([], [], marker=STRATEGY_MARKERS.get(s, "D"), ls="", color="0.3", label=STRATEGY_NAMES.get(s, s))
                for s in _strategies(data)]  # fmt: skip
    if len(front) > 1:  # a front of one result draws no line
        handles.append(Line2D([], [], color="crimson", label="Pareto front"))
    handles.append(Line2D([], [], color="0.6", ls=":", label=f"equal D at α = {alpha:g}"))
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    return fig


def _iso_lines(ax, alpha: float, levels) -> list:
    """Lines of equal D at `alpha`, each labelled just inside the frame where it meets an edge, so that
    no label sits on the tick labels. Returns the label Texts."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    texts = []
    for level in levels:
        if alpha < 1:
            xs = np.linspace(min(x0, x1), max(x0, x1), 400)
            ys = 100 * (level - alpha * (1 - xs / 100)) / (1 - alpha)
        else:
            xs, ys = np.full(2, 100 * (1 - level)), np.array([y0, y1])
        ax.plot(xs, ys, color="0.75", lw=0.8, ls=":", zorder=0, scalex=False, scaley=False)
        spot = _edge_spot(ax, xs, ys)
        if spot is not None:
            (fx, fy), ha, va = spot
            texts.append(ax.text(fx, fy, f"D={level:g}", transform=ax.transAxes, fontsize=LABEL_SIZE, color="0.4",
                                 ha=ha, va=va, zorder=1))  # fmt: skip
    return texts


def _edge_spot(ax, xs, ys, inset: float = 0.01):
    """Where a line leaves the frame, in axes fraction, preferring the top, then the bottom, then the
    right edge: (position, ha, va) to anchor its label inside the frame; None if it never shows."""
    points = ax.transAxes.inverted().transform(ax.transData.transform(np.column_stack([xs, ys])))
    inside = (points[:, 0] >= 0) & (points[:, 0] <= 1) & (points[:, 1] >= 0) & (points[:, 1] <= 1)
    if not inside.any():
        return None
    seen = points[inside]
    top, bottom = seen[np.argmax(seen[:, 1])], seen[np.argmin(seen[:, 1])]
    right = seen[np.argmax(seen[:, 0])]
    clamp = lambda v: float(np.clip(v, 0.04, 0.96))  # noqa: E731 - keep a label's half width inside
    if top[1] > 0.98:
        return (clamp(top[0]), 1 - inset), "center", "top"
    if bottom[1] < 0.02:
        return (clamp(bottom[0]), inset), "center", "bottom"
    return (1 - inset, float(np.clip(right[1], 0.03, 0.97))), "right", "center"


def _place_point_labels(ax, labels: list[str], x, y, obstacles=()) -> None:
    """One label per point, moved by adjustText off the markers, the iso-metric labels and each other;
    a thin leader joins a label that had to move to its point. Labels of points stacked at one spot
    (runs of one teacher and student pair) start spread in a column beside the stack."""
    from adjustText import adjust_text  # imported here: it imports pyplot, which `import kdsurvey` avoids

    if not labels:
        return
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    starts = _start_positions(ax, x, y)
    texts = [ax.text(sx, sy, label, fontsize=LABEL_SIZE, zorder=4) for label, (sx, sy) in zip(labels, starts)]
    avoid = np.vstack([np.column_stack([x, y]), _midlines(ax, obstacles)])
    for _ in range(6):  # adjustText stops at its iteration limit; go on from there while labels overlap
        adjust_text(texts, x=avoid[:, 0], y=avoid[:, 1], target_x=x, target_y=y, avoid_self=False, ax=ax, **ADJUST)
        _keep_inside(ax, texts)
        if not _overlapping(texts, ax.figure._get_renderer()):
            break
    _separate(ax, texts)
    _leaders(ax, texts, x, y)


def _separate(ax, texts, rounds: int = 200) -> None:
    """Push apart labels that adjustText left overlapping: the higher of an overlapping pair moves up just
    clear of the other (down when that would leave the frame). Deterministic, and a no-op when none overlap."""
    renderer = ax.figure._get_renderer()
    frame = ax.patch.get_window_extent(renderer)
    for _ in range(rounds):
        boxes = [t.get_window_extent(renderer) for t in texts]
        pair = next(((i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes)) if boxes[i].overlaps(boxes[j])),
                    None)  # fmt: skip
        if pair is None:
            return
        low, high = sorted(pair, key=lambda k: (boxes[k].y0, k))
        up = boxes[low].y1 - boxes[high].y0 + 1
        down = boxes[high].y1 - boxes[low].y0 + 1  # or move the lower one down clear of the higher
        move, shift = (high, up) if boxes[high].y1 + up < frame.y1 else (low, -down)
        at = ax.transData.transform(texts[move].get_position()) + (0, shift)
        texts[move].set_position(ax.transData.inverted().transform(at))


def _keep_inside(ax, texts) -> None:
    """Move any label that sticks out of the frame back inside it (adjustText may leave one a little out)."""
    renderer = ax.figure._get_renderer()
    frame = ax.patch.get_window_extent(renderer)
    for text in texts:
        box = text.get_window_extent(renderer)
        dx = max(0.0, frame.x0 + 1 - box.x0) - max(0.0, box.x1 - frame.x1 + 1)
        dy = max(0.0, frame.y0 + 1 - box.y0) - max(0.0, box.y1 - frame.y1 + 1)
        if dx or dy:
            at = ax.transData.transform(text.get_position()) + (dx, dy)
            text.set_position(ax.transData.inverted().transform(at))


def _overlapping(texts, renderer) -> bool:
    boxes = [t.get_window_extent(renderer) for t in texts]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def _leaders(ax, texts, x, y) -> None:
    """A thin line from each label that sits away from its point, from the nearest edge of the label to
    just short of the point, fixed in data coordinates (so every save draws the same line)."""
    points = ax.transData.transform(np.column_stack([x, y]))
    renderer = ax.figure._get_renderer()
    for text, point in zip(texts, points):
        box = text.get_window_extent(renderer)
        edge = np.clip(point, [box.x0 - 1, box.y0 - 1], [box.x1 + 1, box.y1 + 1])
        length = float(np.hypot(*(point - edge)))
        if length > 6:  # pixels: a label right beside its point needs no line
            end = point + (edge - point) * 4 / length  # stop short of the marker's centre
            (x0, y0), (x1, y1) = ax.transData.inverted().transform([edge, end])
            ax.plot([x0, x1], [y0, y1], color=LEADER["color"], lw=LEADER["lw"], zorder=2.5, gid="leader",
                    scalex=False, scaley=False)  # fmt: skip


def _start_positions(ax, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Where labels start, in data coordinates: beside their point, except that points stacked at
    (nearly) one x start their labels spread one line apart, so adjustText need not untangle a pile."""
    points = ax.transData.transform(np.column_stack([x, y]))
    height = LABEL_SIZE * ax.figure.dpi / 72
    starts = points + [0.8 * height, 0.0]
    order = np.argsort(points[:, 0], kind="stable")
    breaks = np.flatnonzero(np.diff(points[order, 0]) > 0.2 * height) + 1
    for stack in np.split(order, breaks):
        if len(stack) >= 3:
            starts[stack, 1] = _spread(points[stack, 1], 1.3 * height)  # display y: the first row on top
    return ax.transData.inverted().transform(starts)


def _midlines(ax, texts) -> np.ndarray:
    """Points (data coordinates) along the middle of each text's box, closer than a label is long, so
    that adjustText keeps labels off it. (adjustText's `objects` assumes an x axis that is not inverted.)"""
    step = 0.5 * LABEL_SIZE * ax.figure.dpi / 72
    rows = [np.empty((0, 2))]
    renderer = ax.figure._get_renderer()
    for text in texts:
        box = text.get_window_extent(renderer)
        xs = np.linspace(box.x0, box.x1, max(2, int(np.ceil(box.width / step)) + 1))
        rows.append(np.column_stack([xs, np.full(len(xs), (box.y0 + box.y1) / 2)]))
    return ax.transData.inverted().transform(np.vstack(rows))


# -- alpha sensitivity -------------------------------------------------------------------------


def alpha_sensitivity(frame: pd.DataFrame | None = None, alphas=None) -> Figure:
    """The metric of each result as alpha goes from 0 to 1 (left) and its rank (right).

    Dots on the left mark the pairs that swap order: where two results' lines cross inside (0, 1).
    On the right, results that tie (equal D, as all students of one size do at alpha = 1) are drawn
    side by side in accuracy order and bracketed, so their lines stay apart. The figure grows with
    the number of rows so that the labels at the line ends keep one line of text each.
    """
    alphas = np.linspace(0, 1, 101) if alphas is None else np.asarray(alphas, dtype=float)
    check_alpha(alphas)
    data = _scored(frame)
    height = max(5.5, 1.3 + 0.145 * len(data))
    fig = Figure(figsize=(13, height))
    bottom, top = 0.55 / height, 1 - 0.4 / height
    left = fig.add_axes((0.055, bottom, 0.345, top - bottom))
    right = fig.add_axes((0.56, bottom, 0.315, top - bottom))
    sweep = analysis.alpha_sweep(data, alphas)
    positions = _positions(sweep, data)
    last = float(alphas.max())
    for _, row in data.iterrows():
        part = sweep[sweep["row_id"] == row["row_id"]]
        style = dict(color=_colour(row), ls=STRATEGY_LINES.get(row["strategy"], ":"), lw=1.1)
        left.plot(part["alpha"], part["metric"], **style)
        right.plot(part["alpha"], positions.loc[part.index], **style)
    crossings = analysis.rank_crossings(data)
    left.scatter(crossings["alpha"], crossings["metric"], s=9, color="black", zorder=3)
    left.axhline(0, color="0.5", lw=0.6)
    for ax in (left, right):
        ax.set_xlim(float(alphas.min()), last)
        ax.set_xlabel("α (weight of size)")
    right.set_ylim(len(data) + 0.7, 0.3)  # rank 1 at the top
    left.set_ylabel("distillation metric D (lower is better)")
    left.set_title("Metric vs α")
    right.set_ylabel("rank (1 = best); ties drawn side by side and bracketed")
    right.set_title("Rank vs α")
    ends = sweep[sweep["alpha"] == last].assign(pos=positions).sort_values("pos")  # tied rows in drawing order
    _end_labels(left, ends["row_id"].tolist(), ends["metric"].to_numpy(), last)
    _end_labels(right, ends["row_id"].tolist(), ends["pos"].to_numpy(), last)
    _tie_brackets(right, sweep, positions)
    handles = _colour_handles(data, None)
    handles += [Line2D([], [], color="0.3", ls=STRATEGY_LINES.get(s, ":"), label=STRATEGY_NAMES.get(s, s))
                for s in _strategies(data)]  # fmt: skip
    handles.append(Line2D([], [], marker="o", ms=3, ls="", color="black",
                          label=f"pairs that swap order ({len(crossings)})"))  # fmt: skip
    left.legend(handles=handles, fontsize=8, loc="upper left")
    return fig


def _positions(sweep: pd.DataFrame, data: pd.DataFrame) -> pd.Series:
    """Rank at each alpha with ties broken for drawing: equal D is ordered by accuracy reduction, then
    size, then row order, which is the order just inside (0, 1) of rows that tie at alpha = 0 or 1."""
    order = pd.Series(range(len(data)), index=data["row_id"])
    keyed = sweep.assign(
        _acc=sweep["row_id"].map(data.set_index("row_id")["accuracy_reduction_pct"]),
        _size=sweep["row_id"].map(data.set_index("row_id")["size_ratio"]),
        _order=sweep["row_id"].map(order),
    )
    ranked = keyed.sort_values(["alpha", "metric", "_acc", "_size", "_order"], kind="stable")
    return ranked.groupby("alpha").cumcount().add(1).reindex(sweep.index).astype(float)


def _tie_brackets(ax, sweep: pd.DataFrame, positions: pd.Series) -> None:
    """A bracket beside each group of rows with equal D at either end of the alpha range."""
    for alpha, x, sign in ((sweep["alpha"].max(), 1.006, 1), (sweep["alpha"].min(), -0.006, -1)):
        at = sweep[sweep["alpha"] == alpha].assign(pos=positions)
        for _, group in at.groupby(at["metric"].round(12)):
            if len(group) < 2:
                continue
            lo, hi = group["pos"].min() - 0.3, group["pos"].max() + 0.3
            transform = blended_transform_factory(ax.transAxes, ax.transData)
            tick = 0.006 * sign
            ax.plot([x - tick, x, x, x - tick], [lo, lo, hi, hi], color="black", lw=0.8, transform=transform,
                    clip_on=False, gid="tie")  # fmt: skip


def _end_labels(ax, labels: list[str], values, at: float) -> None:
    """Labels at the right end of the lines, in a column just outside the frame, spread so that no two
    overlap (ties keep the order given); a leader joins a label that had to move to its line's end."""
    if not len(labels):
        return
    ends = ax.transData.transform(np.column_stack([np.full(len(values), at), np.asarray(values, dtype=float)]))
    gap = LABEL_SIZE * 1.3 * ax.figure.dpi / 72  # pixels between label centres
    frame = ax.patch.get_window_extent()
    ys = _spread(ends[:, 1], gap, low=frame.y0 + gap / 2, high=frame.y1 - gap / 2)
    inverse = ax.transData.inverted().transform
    for label, (ex, ey), ty in zip(labels, ends, ys):
        moved = abs(ty - ey) > 0.25 * gap
        y_text = inverse((ex, ty))[1]
        ax.annotate(label, xy=(at, inverse((ex, ey))[1]), xytext=(1.03, y_text), textcoords=("axes fraction", "data"),
                    fontsize=LABEL_SIZE, va="center", ha="left", annotation_clip=False,
                    arrowprops=LEADER if moved else None)  # fmt: skip


def _spread(targets, gap: float, low: float = -np.inf, high: float = np.inf) -> np.ndarray:
    """Positions as close as possible (least squares) to `targets`, at least `gap` apart, in the same
    order (of tied targets, the first given ends highest), then pushed inside [low, high] where the
    column fits.

    With p_i = q_i + i * gap (targets sorted), the constraint p_i - p_(i-1) >= gap is q non-decreasing:
    an isotonic regression of targets - i * gap, solved exactly by pooling adjacent violators.
    """
    targets = np.asarray(targets, dtype=float)
    n = len(targets)
    index = np.arange(n)
    order = np.lexsort((-index, targets))
    shifted = targets[order] - gap * index
    blocks: list[list[float]] = []  # [sum, count] per pooled block
    for value in shifted:
        blocks.append([value, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    placed = np.concatenate([np.full(int(count), total / count) for total, count in blocks]) + gap * index
    placed = np.maximum(placed, low + gap * index)  # off the bottom, keeping the gaps
    placed = np.minimum(placed, high - gap * (n - 1 - index))  # off the top
    out = np.empty_like(targets)
    out[order] = placed
    return out


# -- all figures -------------------------------------------------------------------------------

FIGURES = ("tradeoff", "alpha_sensitivity")


def all_figures(frame: pd.DataFrame | None = None, alpha: float = 0.5) -> dict[str, Figure]:
    """Every figure by name; `alpha` sets the iso-metric lines of the trade-off figure."""
    frame = catalogue.results() if frame is None else frame
    return {"tradeoff": tradeoff(frame, alpha=alpha), "alpha_sensitivity": alpha_sensitivity(frame)}


def write(
    out: str | Path, alpha: float = 0.5, data: str | Path | None = None, source: str = "all", runs=()
) -> list[Path]:
    """Every figure as PNG and PDF into folder `out`, replaced whole (kdsurvey.outputs).

    `source` keeps the reported or the reproduced rows only (default: all)."""
    from kdsurvey.outputs import check_target, staged_folder

    out = check_target(out)
    figures = all_figures(catalogue.results(data, source, runs), alpha)
    with staged_folder(out) as folder:
        names = [p.name for name, fig in figures.items() for p in save(fig, folder / name)]
    return [out / name for name in names]


def save(fig: Figure, stem: str | Path, formats=("png", "pdf")) -> list[Path]:
    """Write `fig` as stem.png, stem.pdf, ... with fixed metadata, so reruns give the same bytes."""
    stem = Path(stem)
    paths = []
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        fig.savefig(path, format=fmt, dpi=150, metadata=METADATA.get(fmt))
        paths.append(path)
    return paths


#: Metadata that would change between runs (dates, versions), blanked so reruns give the same bytes.
METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "ModDate": None, "Producer": None},
            "svg": {"Date": None}}  # fmt: skip
