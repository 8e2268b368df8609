"""Seeds -> mean, interval and Welch's test, against values worked out independently."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from kdsurvey import stats
from kdsurvey.errors import UsageError


def test_summary_of_three_values_by_hand():
    s = stats.summarize([1.0, 2.0, 3.0])
    # mean 2, sample std 1, t(0.975, 2) = 4.302653, half width 4.302653 / sqrt(3)
    assert (s.n, s.mean, s.std) == (3, 2.0, 1.0)
    assert s.half_width == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert (s.low + s.high) / 2 == pytest.approx(2.0)


def test_one_value_has_no_interval():
    s = stats.summarize([71.5])
    assert s.mean == 71.5 and math.isnan(s.std) and math.isnan(s.low) and math.isnan(s.high)


def test_welch_matches_scipy():
    a, b = [85.1, 85.6, 84.9, 85.3], [84.2, 84.8, 84.0]
    c = stats.welch(a, b)
    ref = scipy_stats.ttest_ind(a, b, equal_var=False)
    assert c.t == pytest.approx(ref.statistic) and c.p_value == pytest.approx(ref.pvalue)
    assert c.difference == pytest.approx(sum(a) / 4 - sum(b) / 3)
    assert c.low < c.difference < c.high


def test_welch_interval_excludes_zero_exactly_when_p_below_five_percent():
    for a, b in (([1, 2, 3], [2, 3, 4]), ([10, 10.5, 11], [1, 1.5, 2]), ([5, 6, 7.5], [4, 5.1, 6])):
        c = stats.welch(a, b)
        assert (c.low > 0 or c.high < 0) == (c.p_value < 0.05)


def test_zero_spread_gives_nan_p():
    c = stats.welch([1, 1], [1, 1])
    assert c.difference == 0 and math.isnan(c.p_value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: stats.summarize([]), "no values"),
        (lambda: stats.summarize([1, float("nan")]), "finite"),
        (lambda: stats.summarize([1, 2], level=1.5), "confidence level"),
        (lambda: stats.welch([1], [1, 2]), "at least two"),
    ],
)
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(UsageError, match=message):
        call()


def test_identical_values_have_exactly_zero_spread():
    """98.84 three times averages to 98.83999999999999 in floats; the summary says 98.84 and std 0 exactly."""
    s = stats.summarize([98.84, 98.84, 98.84])
    assert (s.mean, s.std, s.low, s.high) == (98.84, 0.0, 98.84, 98.84)
