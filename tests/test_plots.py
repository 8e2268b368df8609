"""The figures: the data behind them, not their pixels."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.markers import MarkerStyle
from matplotlib.text import Text

from kdsurvey import analysis, catalogue, plots
from kdsurvey.metric import MetricError


@pytest.fixture(scope="module")
def frame():
    return catalogue.load()


def scatter_points(ax) -> np.ndarray:
    return np.vstack([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])


def with_synthetic_rows(frame: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """`frame` and n more scored rows, spread over the plane (offline, online and self in turn), to see
    how the figures hold up with more results than the data ship."""
    rng = np.random.default_rng(seed)
    base = frame[frame["source"] == "reported"].dropna(subset=["size_reduction_pct", "accuracy_reduction_pct"])
    rows = base.iloc[np.arange(n) % len(base)].copy()
    rows["row_id"] = [f"S-{i + 1:02d}" for i in range(n)]
    rows["size_reduction_pct"] = rng.uniform(30, 99.5, n).round(2)
    rows["accuracy_reduction_pct"] = rng.uniform(-6, 12, n).round(3)
    rows["strategy"] = [("offline", "online", "self")[i % 3] for i in range(n)]
    return pd.concat([frame, rows], ignore_index=True)


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    """The shipped survey rows (27), survey and reproduced rows (40), and 20 synthetic rows more (60)."""
    everything = catalogue.results()
    assert len(everything) == 41, "the checks below were sized for 27 surveyed and 14 reproduced rows"
    return {"27": catalogue.results(source="reported"), "40": everything, "60": with_synthetic_rows(everything, 20)}


@pytest.fixture(scope="module")
def built(frames):
    """built(name, rows): the figure of `rows` (see `frames`), made once for the module."""
    cache = {}

    def get(name: str, rows: str) -> Figure:
        if (name, rows) not in cache:
            cache[name, rows] = getattr(plots, name)(frames[rows])
        return cache[name, rows]

    return get


def drawn(fig: Figure):
    """Draw `fig` once (Agg) and return its renderer, so that text extents are final."""
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    return renderer


def label_boxes(fig: Figure) -> list[tuple[str, object]]:
    """(text, window extent) of every label drawn in the axes (titles and tick labels excluded);
    an annotation's box is its text alone, without its leader line."""
    renderer = drawn(fig)
    return [(t.get_text(), Text.get_window_extent(t, renderer)) for ax in fig.axes for t in ax.texts if t.get_text()]


def test_tradeoff_plots_every_scored_result_and_the_front(frame):
    fig = plots.tradeoff(frame, alpha=0.5)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    points = scatter_points(ax)
    scored = frame.dropna(subset=["size_reduction_pct", "accuracy_reduction_pct"])
    assert len(points) == len(scored) == 17
    expected = scored[["size_reduction_pct", "accuracy_reduction_pct"]].to_numpy()
    assert sorted(map(tuple, points)) == sorted(map(tuple, expected))
    labels = {t.get_text() for t in ax.texts}
    assert set(scored["row_id"]) <= labels
    front = analysis.pareto_front(frame)
    front_line = [line for line in ax.lines if line.get_color() == "crimson"]
    assert len(front_line) == 1
    assert np.allclose(front_line[0].get_xdata(), front["size_reduction_pct"])
    assert ax.xaxis_inverted()


def test_iso_metric_lines_have_the_stated_metric(frame):
    alpha = 0.3
    ax = plots.tradeoff(frame, alpha=alpha, levels=(0.1, 0.2)).axes[0]
    iso = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(iso) == 2
    for line, level in zip(iso, (0.1, 0.2)):
        x, y = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        d = alpha * (1 - x / 100) + (1 - alpha) * (y / 100)
        assert np.allclose(d, level)


def test_alpha_one_draws_vertical_iso_lines(frame):
    ax = plots.tradeoff(frame, alpha=1.0, levels=(0.1,)).axes[0]
    iso = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert len(iso) == 1 and np.allclose(iso[0].get_xdata(), 90)


def test_alpha_sensitivity_has_a_line_per_result_and_marks_crossings(frame):
    fig = plots.alpha_sensitivity(frame, alphas=np.linspace(0, 1, 11))
    left, right = fig.axes
    assert len(left.lines) - 1 == 17  # one per scored result, plus the zero line
    assert len([line for line in right.lines if line.get_gid() != "tie"]) == 17  # brackets mark ties
    crossings = analysis.rank_crossings(frame)
    dots = scatter_points(left)
    assert len(dots) == len(crossings)
    assert np.allclose(sorted(dots[:, 0]), sorted(crossings["alpha"]))
    assert right.yaxis_inverted()


def test_reproduced_rows_are_told_apart(frame):
    extra = frame.iloc[[3]].assign(source="reproduced", row_id="R-01")
    both = pd.concat([frame, extra], ignore_index=True)
    ax = plots.tradeoff(both).axes[0]
    assert "reproduced" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_plots_reject_bad_alpha(frame):
    with pytest.raises(MetricError):
        plots.tradeoff(frame, alpha=1.2)
    with pytest.raises(MetricError):
        plots.alpha_sensitivity(frame, alphas=[0, 2])


def test_save_writes_each_format_and_is_reproducible(frame, tmp_path):
    fig = plots.tradeoff(frame)
    (tmp_path / "a").mkdir()
    first = plots.save(fig, tmp_path / "a" / "fig")
    second = plots.save(fig, tmp_path / "fig")
    assert [p.suffix for p in first] == [".png", ".pdf"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()  # fixed metadata: no timestamps


@pytest.mark.parametrize("rows", ["27", "40", "60"])
@pytest.mark.parametrize("name", ["tradeoff", "alpha_sensitivity"])
def test_no_two_labels_overlap(frames, built, rows, name):
    fig = built(name, rows)
    boxes = label_boxes(fig)
    scored = frames[rows].dropna(subset=["size_reduction_pct", "accuracy_reduction_pct"])
    texts = [text for text, _ in boxes]
    for row_id in scored["row_id"]:
        assert texts.count(row_id) == (1 if name == "tradeoff" else 2), row_id  # both panels label every line
    clashes = [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2) if box_a.overlaps(box_b)]
    assert clashes == []


@pytest.mark.parametrize("rows", ["27", "40", "60"])
def test_tradeoff_labels_stay_inside_the_frame(built, rows):
    fig = built("tradeoff", rows)
    frame_box = fig.axes[0].get_window_extent(drawn(fig))
    for text, box in label_boxes(fig):
        assert frame_box.x0 - 1 <= box.x0 and box.x1 <= frame_box.x1 + 1, text
        assert frame_box.y0 - 1 <= box.y0 and box.y1 <= frame_box.y1 + 1, text


def marker_path(marker: str) -> np.ndarray:
    style = MarkerStyle(marker)
    return style.get_path().transformed(style.get_transform()).vertices


@pytest.mark.parametrize("rows", ["27", "40", "60"])
def test_every_marker_shape_has_a_legend_entry(frames, built, rows):
    ax = built("tradeoff", rows).axes[0]
    handles = ax.get_legend().legend_handles
    shapes = {h.get_marker() for h in handles if h.get_marker() not in (None, "None", "")}
    used = [c.get_paths()[0].vertices for c in ax.collections if isinstance(c, PathCollection)]
    for vertices in used:
        assert any(np.allclose(vertices, marker_path(m)) for m in shapes if len(marker_path(m)) == len(vertices))
    strategies = set(frames[rows]["strategy"])
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {plots.STRATEGY_NAMES[s] for s in strategies} <= labels
    assert ("self-distillation" in labels) == ("self" in strategies)  # squares explained only when drawn


def test_every_line_style_has_a_legend_entry(built):
    left, right = built("alpha_sensitivity", "60").axes
    legend = {h.get_linestyle() for h in left.get_legend().legend_handles}
    drawn_styles = {line.get_linestyle() for ax in (left, right) for line in ax.lines if line.get_gid() != "tie"}
    drawn_styles -= {left.lines[-1].get_linestyle()}  # the zero line
    assert drawn_styles <= legend


def test_iso_metric_labels_sit_inside_the_frame_off_the_tick_labels(frame):
    fig = plots.tradeoff(frame, alpha=0.5)
    ax = fig.axes[0]
    renderer = drawn(fig)
    frame_box = ax.get_window_extent(renderer)
    iso = [t for t in ax.texts if t.get_text().startswith("D=")]
    assert {t.get_text() for t in iso} == {f"D={level:g}" for level in plots.ISO_LEVELS}
    ticks = [t.get_window_extent(renderer) for t in ax.get_xticklabels() + ax.get_yticklabels() if t.get_text()]
    for text in iso:
        box = text.get_window_extent(renderer)
        assert frame_box.x0 <= box.x0 and box.x1 <= frame_box.x1 and frame_box.y0 <= box.y0 and box.y1 <= frame_box.y1
        assert not any(box.overlaps(tick) for tick in ticks), text.get_text()


def test_rows_that_tie_at_alpha_one_keep_apart_and_are_bracketed(frames, built):
    data = frames["40"]
    fig = built("alpha_sensitivity", "40")
    right = fig.axes[1]
    lines = [line for line in right.lines if line.get_gid() != "tie"]
    ends = [line.get_ydata()[-1] for line in lines]
    assert sorted(ends) == list(range(1, len(lines) + 1))  # one position per row, no vertical bar
    scored = analysis.with_metric(data, (1.0,)).dropna(subset=["D@1"])
    tied_groups = (scored.groupby(scored["D@1"].round(12)).size() > 1).sum()
    assert tied_groups >= 2  # the 13 reproduced runs of the suite's pair, and T1-12 with T2-06
    brackets = [line for line in right.lines if line.get_gid() == "tie"]
    assert len(brackets) == tied_groups


def test_crossings_are_counted_on_the_rows_shown(frames, built):
    counts = {}
    for rows in ("27", "40"):
        left = built("alpha_sensitivity", rows).axes[0]
        [text] = [t.get_text() for t in left.get_legend().get_texts() if "swap order" in t.get_text()]
        counts[rows] = text
    assert counts["27"] == "pairs that swap order (75)"  # notebook 02's count, on the survey's rows
    assert counts["40"] == f"pairs that swap order ({len(analysis.rank_crossings(frames['40']))})"


def test_spread_keeps_order_and_gap_and_moves_no_more_than_needed():
    targets = np.array([5.0, 0.0, 0.2, 0.1, 10.0, 0.1])
    out = plots._spread(targets, 1.0)
    order = np.lexsort((-np.arange(len(targets)), targets))
    assert np.all(np.diff(out[order]) >= 1.0 - 1e-12)
    assert out[4] == 10.0 and out[0] == 5.0  # far from the others: untouched
    assert np.isclose(out[[1, 2, 3, 5]].mean(), targets[[1, 2, 3, 5]].mean())  # a pooled block keeps its mean
    assert out[3] > out[5]  # of two equal targets the first given ends highest (display y grows upwards)
    bounded = plots._spread(np.zeros(3), 1.0, low=0.0, high=10.0)
    assert sorted(bounded) == [0.0, 1.0, 2.0]
