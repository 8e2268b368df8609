"""Seeds -> summary: mean, standard deviation, a t-based 95% interval, and Welch's t-test.

Reproduced results are reported over several seeds; a single number hides how sure it is.
scipy is imported on first use so that `import kdsurvey.stats` stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kdsurvey.errors import UsageError


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (ddof=1) and a two-sided confidence interval over n values."""

    n: int
    mean: float
    std: float
    low: float
    high: float
    level: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


@dataclass(frozen=True)
class Comparison:
    """Welch's t-test of a - b: the difference of means, its interval and the two-sided p-value."""

    difference: float
    low: float
    high: float
    t: float
    dof: float
    p_value: float
    level: float = 0.95


def _values(values: Sequence[float], what: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel()
    if array.size == 0:
        raise UsageError(f"{what}: no values to summarise")
    if not np.isfinite(array).all():
        raise UsageError(f"{what}: values must be finite, got {array.tolist()}")
    return array


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise UsageError(f"confidence level must lie in (0, 1), got {level}")


def summarize(values: Sequence[float], level: float = 0.95) -> Summary:
    """Mean, sample standard deviation and a Student-t interval for the mean.

    With a single seed there is no spread to estimate, so std and the interval are NaN rather than 0.
    """
    _check_level(level)
    array = _values(values, "summarize")
    n = array.size
    mean = float(array.mean())
    if n < 2:
        return Summary(n, mean, math.nan, math.nan, math.nan, level)
    if (array == array[0]).all():  # identical values (one teacher for every seed): exactly no spread,
        return Summary(n, float(array[0]), 0.0, float(array[0]), float(array[0]), level)  # not float noise
    from scipy import stats

    std = float(array.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half, level)


def welch(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Comparison:
    """Welch's unequal-variance t-test of mean(a) - mean(b), with the Welch-Satterthwaite interval.

    Needs at least two values on each side. When both sides have zero spread the test is undefined
    and p is NaN (the difference is still reported).
    """
    _check_level(level)
    x, y = _values(a, "welch (first sample)"), _values(b, "welch (second sample)")
    if x.size < 2 or y.size < 2:
        raise UsageError(f"welch needs at least two values per sample, got {x.size} and {y.size}")
    from scipy import stats

    diff = float(x.mean() - y.mean())
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(vx + vy)
    if se == 0:
        return Comparison(diff, diff, diff, math.nan, math.nan, math.nan, level)
    dof = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    t = diff / se
    p = float(2 * stats.t.sf(abs(t), dof))
    half = float(stats.t.ppf(0.5 + level / 2, dof)) * se
    return Comparison(diff, diff - half, diff + half, float(t), float(dof), p, level)
