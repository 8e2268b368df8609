"""The metric over the catalogue: values at several alphas, rankings, rank stability, Pareto front.

Functions take the catalogue DataFrame (`kdsurvey.catalogue.load()`) and return DataFrames;
rows without both a size and an accuracy reduction get NaN and no rank, never a 0.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from kdsurvey.metric import check_alpha, from_reductions

DEFAULT_ALPHAS = (0.25, 0.5, 0.75)


def metric_column(alpha: float) -> str:
    """Column name of the metric at one alpha, e.g. 'D@0.5'."""
    return f"D@{float(alpha):g}"


def with_metric(frame: pd.DataFrame, alphas=DEFAULT_ALPHAS) -> pd.DataFrame:
    """A copy with size_ratio, accuracy_ratio and one metric column per alpha."""
    out = frame.copy()
    out["size_ratio"] = 1 - out["size_reduction_pct"] / 100
    out["accuracy_ratio"] = 1 - out["accuracy_reduction_pct"] / 100
    for alpha in alphas:
        out[metric_column(alpha)] = from_reductions(
            out["size_reduction_pct"].to_numpy(), out["accuracy_reduction_pct"].to_numpy(), alpha
        )
    return out


def rank(frame: pd.DataFrame, alpha: float = 0.5) -> pd.Series:
    """Rank by the metric at `alpha` (1 = best, ties share the best rank); NaN where no metric."""
    values = pd.Series(
        from_reductions(frame["size_reduction_pct"].to_numpy(), frame["accuracy_reduction_pct"].to_numpy(), alpha),
        index=frame.index,
    )
    return values.rank(method="min", na_option="keep").astype("Float64").rename(f"rank@{float(alpha):g}")


def alpha_sweep(frame: pd.DataFrame, alphas=None) -> pd.DataFrame:
    """Long table (row_id, alpha, metric, rank) over a grid of alphas, rows with a metric only."""
    alphas = np.linspace(0, 1, 21) if alphas is None else np.asarray(alphas, dtype=float).ravel()
    check_alpha(alphas)
    scored = frame[frame["size_reduction_pct"].notna() & frame["accuracy_reduction_pct"].notna()]
    metric = from_reductions(
        scored["size_reduction_pct"].to_numpy()[None, :], scored["accuracy_reduction_pct"].to_numpy()[None, :],
        alphas[:, None],
    )  # fmt: skip
    ranks = pd.DataFrame(metric).rank(axis=1, method="min").to_numpy()
    return pd.DataFrame(
        {
            "row_id": np.tile(scored["row_id"].to_numpy(), len(alphas)),
            "alpha": np.repeat(alphas, len(scored)),
            "metric": metric.ravel(),
            "rank": ranks.ravel(),
        }
    )


def rank_stability(frame: pd.DataFrame, alphas=DEFAULT_ALPHAS) -> pd.DataFrame:
    """Kendall's tau (scipy, tau-b) between the rankings at each pair of alphas."""
    from scipy import stats  # imported here: scipy.stats costs half a second to import

    check_alpha(alphas)
    scored = frame[frame["size_reduction_pct"].notna() & frame["accuracy_reduction_pct"].notna()]
    metrics = {
        a: from_reductions(scored["size_reduction_pct"].to_numpy(), scored["accuracy_reduction_pct"].to_numpy(), a)
        for a in alphas
    }
    names = [metric_column(a) for a in alphas]
    tau = pd.DataFrame(np.eye(len(alphas)), index=names, columns=names)
    for (i, a), (j, b) in itertools.combinations(enumerate(alphas), 2):
        value = stats.kendalltau(metrics[a], metrics[b]).statistic if len(scored) > 1 else np.nan
        tau.iloc[i, j] = tau.iloc[j, i] = value
    return tau


def rank_crossings(frame: pd.DataFrame) -> pd.DataFrame:
    """Where two rows' metric lines cross for alpha strictly inside (0, 1).

    D_i(alpha) = alpha * s_i + (1 - alpha) * a_i is linear in alpha (s = size ratio,
    a = signed accuracy reduction as a fraction), so each pair crosses at most once:
    alpha* = (a_j - a_i) / ((s_i - a_i) - (s_j - a_j)). Returns row_a, row_b, alpha, metric.
    """
    scored = with_metric(frame, ())
    scored = scored[scored["size_ratio"].notna() & scored["accuracy_ratio"].notna()]
    s = scored["size_ratio"].to_numpy()
    a = scored["accuracy_reduction_pct"].to_numpy() / 100
    ids = scored["row_id"].to_numpy()
    rows = []
    for i, j in itertools.combinations(range(len(ids)), 2):
        slope_gap = (s[i] - a[i]) - (s[j] - a[j])
        if slope_gap == 0:
            continue
        alpha = (a[j] - a[i]) / slope_gap
        if 0 < alpha < 1:
            rows.append((ids[i], ids[j], alpha, alpha * s[i] + (1 - alpha) * a[i]))
    out = pd.DataFrame(rows, columns=["row_a", "row_b", "alpha", "metric"])
    return out.sort_values(["alpha", "row_a", "row_b"], ignore_index=True)


def pareto_front(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows not dominated in (smaller size ratio, larger accuracy ratio), by rising size ratio.

    A row is dominated when another row is at least as small and at least as accurate, and
    strictly better in one of the two.
    """
    scored = with_metric(frame, ())
    scored = scored[scored["size_ratio"].notna() & scored["accuracy_ratio"].notna()]
    ordered = scored.sort_values(["size_ratio", "accuracy_ratio"], ascending=[True, False], kind="stable")
    keep, best, best_size = [], -np.inf, np.nan
    for index, size, acc in zip(ordered.index, ordered["size_ratio"], ordered["accuracy_ratio"]):
        if acc > best or (acc == best and size == best_size):  # exact twins dominate neither
            keep.append(index)
            best, best_size = acc, size
    return ordered.loc[keep].reset_index(drop=True)
