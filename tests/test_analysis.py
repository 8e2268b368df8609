"""Metric over the catalogue: ranking, alpha sweep, rank stability, crossings, Pareto front."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kdsurvey import analysis, catalogue
from kdsurvey.metric import MetricError, from_reductions


@pytest.fixture(scope="module")
def frame():
    return catalogue.load()


def rows(*points):
    """A minimal catalogue frame from (row_id, size_reduction_pct, accuracy_reduction_pct)."""
    return pd.DataFrame(
        [
            {"row_id": r, "size_reduction_pct": s, "accuracy_reduction_pct": a, "source": "reported"}
            for r, s, a in points
        ]
    )


def test_with_metric_adds_ratios_and_one_column_per_alpha(frame):
    out = analysis.with_metric(frame, (0.25, 0.5))
    assert {"size_ratio", "accuracy_ratio", "D@0.25", "D@0.5"} <= set(out.columns)
    assert out["D@0.5"].notna().sum() == 17  # rows with both reductions
    t206 = out.set_index("row_id").loc["T2-06"]
    assert t206["size_ratio"] == pytest.approx(0.2934)
    assert t206["accuracy_ratio"] == pytest.approx(1.06191)
    assert t206["D@0.5"] == pytest.approx(0.5 * 0.2934 - 0.5 * 0.06191)
    assert "D@0.5" not in frame.columns  # the input is not modified


def test_rank_is_ascending_with_shared_ties_and_no_rank_without_metric():
    r = analysis.rank(rows(("a", 50, 1), ("b", 90, 1), ("c", 50, 1), ("d", np.nan, 1)), alpha=0.5)
    assert r.tolist()[:3] == [2, 1, 2]
    assert pd.isna(r.iloc[3])


def test_rank_of_catalogue_is_a_permutation_of_the_scored_rows(frame):
    r = analysis.rank(frame, 0.5).dropna()
    assert sorted(r.astype(int)) == list(range(1, 18))


def test_alpha_sweep_at_alpha_one_orders_by_size(frame):
    sweep = analysis.alpha_sweep(frame, [0.0, 1.0])
    at_one = sweep[sweep["alpha"] == 1.0].sort_values("rank")
    sizes = frame.set_index("row_id").loc[at_one["row_id"], "size_reduction_pct"].to_numpy()
    assert (np.diff(sizes) <= 0).all()  # largest reduction first
    assert len(sweep) == 2 * 17
    with pytest.raises(MetricError):
        analysis.alpha_sweep(frame, [0.5, 1.2])


def test_rank_stability_is_symmetric_with_unit_diagonal_and_matches_scipy(frame):
    tau = analysis.rank_stability(frame, (0.0, 0.5, 1.0))
    assert np.allclose(np.diag(tau), 1)
    assert np.allclose(tau.to_numpy(), tau.to_numpy().T)
    scored = frame.dropna(subset=["size_reduction_pct", "accuracy_reduction_pct"])
    d0 = from_reductions(scored["size_reduction_pct"], scored["accuracy_reduction_pct"], 0.0)
    d1 = from_reductions(scored["size_reduction_pct"], scored["accuracy_reduction_pct"], 1.0)
    assert tau.loc["D@0", "D@1"] == pytest.approx(stats.kendalltau(d0, d1).statistic)


def test_rank_stability_of_a_full_reversal_is_minus_one():
    # the smaller the student, the larger its accuracy drop: ranking by size reverses ranking by accuracy
    tau = analysis.rank_stability(rows(("a", 90, 9), ("b", 60, 5), ("c", 30, 1)), (0.0, 1.0))
    assert tau.loc["D@0", "D@1"] == pytest.approx(-1.0)


def test_rank_crossing_of_two_hand_worked_lines():
    # A: size ratio 0.2, drop 0.1 -> D = 0.1 + 0.1 alpha; B: size ratio 0.6, drop 0 -> D = 0.6 alpha
    crossings = analysis.rank_crossings(rows(("A", 80, 10), ("B", 40, 0)))
    assert len(crossings) == 1
    assert crossings.loc[0, "alpha"] == pytest.approx(0.2)
    assert crossings.loc[0, "metric"] == pytest.approx(0.12)


def test_catalogue_crossings_are_real_swaps(frame):
    crossings = analysis.rank_crossings(frame)
    assert len(crossings) > 0
    by_id = frame.set_index("row_id")
    for _, c in crossings.iterrows():
        d = [from_reductions(by_id.loc[r, "size_reduction_pct"], by_id.loc[r, "accuracy_reduction_pct"], c["alpha"])
             for r in (c["row_a"], c["row_b"])]  # fmt: skip
        assert d[0] == pytest.approx(d[1]) == pytest.approx(c["metric"])
        assert 0 < c["alpha"] < 1


def test_pareto_front_of_hand_made_points():
    front = analysis.pareto_front(rows(("best", 90, 1), ("dominated", 80, 2), ("accurate", 10, -5), ("twin", 90, 1)))
    assert sorted(front["row_id"]) == ["accurate", "best", "twin"]


def test_pareto_front_of_catalogue_dominates_everything_else(frame):
    front = analysis.pareto_front(frame)
    assert front["row_id"].tolist() == ["T1-11", "T2-06"]
    scored = analysis.with_metric(frame, ()).dropna(subset=["size_ratio", "accuracy_ratio"])
    for _, row in scored[~scored["row_id"].isin(front["row_id"])].iterrows():
        assert any(
            (f["size_ratio"] <= row["size_ratio"]) and (f["accuracy_ratio"] >= row["accuracy_ratio"])
            for _, f in front.iterrows()
        )


def test_alpha_sweep_agrees_with_rank_and_metric_at_each_alpha(frame):
    sweep = analysis.alpha_sweep(frame)  # 21 alphas by default
    assert sorted(sweep["alpha"].unique()) == pytest.approx(np.linspace(0, 1, 21))
    scored = frame.dropna(subset=["size_reduction_pct", "accuracy_reduction_pct"])
    for alpha in (0.0, 0.35, 1.0):
        part = sweep[np.isclose(sweep["alpha"], alpha)].set_index("row_id").loc[scored["row_id"]]
        assert part["rank"].tolist() == analysis.rank(scored, alpha).tolist()
        expected = from_reductions(scored["size_reduction_pct"], scored["accuracy_reduction_pct"], alpha)
        assert np.allclose(part["metric"], expected)
