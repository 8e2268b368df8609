"""The figures: the data behind them, not their pixels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from kdsurvey import analysis, catalogue, plots
from kdsurvey.metric import MetricError


@pytest.fixture(scope="module")
def frame():
    return catalogue.load()


def scatter_points(ax) -> np.ndarray:
    return np.vstack([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])


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
    assert len(right.lines) == 17
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
