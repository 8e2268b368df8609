"""The distillation metric: hand-worked values, properties, and every input error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kdsurvey.metric import MetricError, distillation_metric, from_reductions


def test_hand_worked_value():
    # student a quarter of the teacher's size, 90% vs 100% accuracy:
    # 0.5 * 0.25 + 0.5 * (1 - 0.9) = 0.175
    assert distillation_metric(1, 4, 90, 100, alpha=0.5) == pytest.approx(0.175)
    # resnet32x4 -> resnet8x4 (RepDistiller's CIFAR-100 KD: 73.33 vs 79.42, 1.23M vs 7.43M params)
    d = distillation_metric(1_233_540, 7_433_860, 73.33, 79.42, alpha=0.5)
    assert d == pytest.approx(0.5 * 1_233_540 / 7_433_860 + 0.5 * (1 - 73.33 / 79.42))


def test_default_alpha_is_one_half():
    assert distillation_metric(1, 2, 80, 100) == distillation_metric(1, 2, 80, 100, alpha=0.5)


def test_alpha_endpoints():
    assert distillation_metric(3, 10, 70, 100, alpha=1) == pytest.approx(0.3)  # size alone
    assert distillation_metric(3, 10, 70, 100, alpha=0) == pytest.approx(0.3)  # accuracy drop alone
    assert distillation_metric(1, 10, 95, 100, alpha=1) == pytest.approx(0.1)
    assert distillation_metric(1, 10, 95, 100, alpha=0) == pytest.approx(0.05)


def test_percent_and_fractions_agree():
    assert distillation_metric(1, 4, 90, 100) == pytest.approx(distillation_metric(1, 4, 0.9, 1.0))


def test_size_unit_does_not_matter():
    assert distillation_metric(1.2, 7.4, 73, 79) == pytest.approx(distillation_metric(1.2e6, 7.4e6, 73, 79))


def test_bounds_for_smaller_and_less_accurate_students():
    rng = np.random.default_rng(0)
    teacher_size = rng.uniform(1, 1e6, 500)
    student_size = teacher_size * rng.uniform(1e-3, 1, 500)
    teacher_acc = rng.uniform(10, 100, 500)
    student_acc = teacher_acc * rng.uniform(0.1, 1, 500)
    alpha = rng.uniform(0, 1, 500)
    d = distillation_metric(student_size, teacher_size, student_acc, teacher_acc, alpha)
    assert d.shape == (500,)
    assert (d >= 0).all() and (d <= 1).all()


def test_negative_when_student_beats_teacher_by_more_than_its_size_costs():
    assert distillation_metric(1, 100, 99, 90, alpha=0.5) < 0


def test_monotone_in_size_and_accuracy():
    sizes = np.linspace(0.1, 10, 50)
    d = distillation_metric(sizes, 10, 80, 90, alpha=0.3)
    assert (np.diff(d) > 0).all()  # a bigger student is worse
    accs = np.linspace(10, 95, 50)
    d = distillation_metric(2, 10, accs, 90, alpha=0.3)
    assert (np.diff(d) < 0).all()  # a more accurate student is better
    # at the endpoints one of the two stops mattering
    assert np.ptp(distillation_metric(2, 10, accs, 90, alpha=1.0)) == 0
    assert np.ptp(distillation_metric(sizes, 10, 80, 90, alpha=0.0)) == 0


def test_linear_in_alpha():
    alphas = np.linspace(0, 1, 11)
    d = distillation_metric(2, 10, 80, 90, alphas)
    assert np.allclose(np.diff(d, 2), 0)


def test_broadcasting_and_scalar_types():
    d = distillation_metric([1, 2, 3], 10, [[80], [90]], 100)
    assert d.shape == (2, 3)
    assert isinstance(distillation_metric(1, 2, 3, 4), float)


def test_nan_in_nan_out():
    assert math.isnan(distillation_metric(float("nan"), 10, 80, 90))
    d = from_reductions([50, np.nan, 20], [1.0, 2.0, np.nan])
    assert not math.isnan(d[0]) and math.isnan(d[1]) and math.isnan(d[2])


@pytest.mark.parametrize(
    "args, kwargs, message",
    [
        ((1, 2, 80, 90), {"alpha": 1.5}, "alpha must lie in [0, 1], got 1.5"),
        ((1, 2, 80, 90), {"alpha": -0.1}, "alpha must lie in [0, 1]"),
        ((1, 2, 80, 90), {"alpha": float("nan")}, "alpha must lie in [0, 1]"),
        ((1, 2, 80, 90), {"alpha": [0.2, 2.0]}, "got 2"),
        ((-1, 2, 80, 90), {}, "student_size must be positive, got -1"),
        ((0, 2, 80, 90), {}, "student_size must be positive"),
        ((1, 0, 80, 90), {}, "teacher_size must be positive"),
        ((1, -5, 80, 90), {}, "teacher_size must be positive"),
        ((1, 2, 80, 0), {}, "teacher_acc must be positive"),
        ((1, 2, -1, 90), {}, "student_acc must not be negative"),
        ((1, 2, 180, 90), {}, "accuracies must be percentages (<= 100)"),
        ((1, 2, 0.8, 90), {}, "mix of percent and fractions"),
        ((1, 2, 80, 0.9), {}, "mix of percent and fractions"),
        ((1, 2, "high", 90), {}, "student_acc must be a number"),
        (([1, 2], [1, 2, 3], 80, 90), {}, "do not broadcast"),
    ],
)
def test_input_errors(args, kwargs, message):
    with pytest.raises(MetricError) as info:
        distillation_metric(*args, **kwargs)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_from_reductions_matches_raw_form():
    # a student 29.34% of the teacher's size that beats it by 6.191% (row T2-06)
    assert from_reductions(70.66, -6.191, 0.5) == pytest.approx(0.5 * 0.2934 + 0.5 * -0.06191)
    rng = np.random.default_rng(1)
    ts, ta = rng.uniform(1, 10, 100), rng.uniform(50, 90, 100)
    ss, sa = ts * rng.uniform(0.01, 1, 100), ta * rng.uniform(0.5, 1.1, 100)
    size_red = 100 * (1 - ss / ts)
    acc_red = 100 * (1 - sa / ta)
    assert np.allclose(from_reductions(size_red, acc_red, 0.3), distillation_metric(ss, ts, sa, ta, 0.3))


@pytest.mark.parametrize(
    "size, acc, alpha, message",
    [
        (100, 1, 0.5, "size_reduction_pct must be below 100"),
        (120, 1, 0.5, "size_reduction_pct must be below 100"),
        (50, 101, 0.5, "accuracy_reduction_pct must be at most 100"),
        (50, 1, 2, "alpha must lie in [0, 1]"),
        ([1, 2], [1, 2, 3], 0.5, "do not broadcast"),
    ],
)
def test_from_reductions_errors(size, acc, alpha, message):
    with pytest.raises(MetricError) as info:
        from_reductions(size, acc, alpha)
    assert message in str(info.value)
