"""The survey's distillation metric (Alkhulaifi, Alsahli & Ahmad 2021), in numpy only.

    D = alpha * (student_size / teacher_size) + (1 - alpha) * (1 - student_acc / teacher_acc)

Lower is better; 0 is the ideal (a vanishingly small student that keeps the teacher's accuracy),
and D is negative when the student beats its teacher by more than its size costs.
"""

from __future__ import annotations

import numpy as np

from kdsurvey.errors import KdSurveyError


class MetricError(KdSurveyError, ValueError):
    """Inputs the metric cannot be computed from."""


def _as_array(name: str, value) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"{name} must be a number or an array of numbers, got {value!r}") from exc
    return arr


def check_alpha(alpha) -> np.ndarray:
    """alpha as an array, or MetricError when any value lies outside [0, 1] or is NaN."""
    arr = _as_array("alpha", alpha)
    if np.isnan(arr).any() or (arr < 0).any() or (arr > 1).any():
        bad = arr[np.isnan(arr) | (arr < 0) | (arr > 1)].ravel()[0]
        raise MetricError(f"alpha must lie in [0, 1], got {bad:g}")
    return arr


def _broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    try:
        return list(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
        raise MetricError(f"input shapes do not broadcast together: {shapes}") from None


def _result(value: np.ndarray):
    return float(value) if value.ndim == 0 else value


def _require(condition: np.ndarray, message: str, values: np.ndarray) -> None:
    """Raise with the first offending value when `condition` fails anywhere (NaN passes)."""
    bad = ~condition & ~np.isnan(values)
    if bad.any():
        raise MetricError(f"{message}, got {values[bad].ravel()[0]:g}")


def distillation_metric(student_size, teacher_size, student_acc, teacher_acc, alpha=0.5):
    """The metric from raw sizes (any one unit) and accuracies (both percent or both fractions).

    Scalars give a float, array-likes an array (numpy broadcasting). NaN in gives NaN out.
    Raises MetricError (a ValueError) for alpha outside [0, 1], non-positive sizes, a
    non-positive teacher accuracy, a negative student accuracy, accuracies that look like a mix
    of percent and fractions (one at most 1 and the other above 1, at least tenfold apart), and
    shapes that do not broadcast.
    """
    a = check_alpha(alpha)
    ss, ts, sa, ta = (
        _as_array(n, v)
        for n, v in (
            ("student_size", student_size),
            ("teacher_size", teacher_size),
            ("student_acc", student_acc),
            ("teacher_acc", teacher_acc),
        )
    )
    ss, ts, sa, ta, a = _broadcast(student_size=ss, teacher_size=ts, student_acc=sa, teacher_acc=ta, alpha=a)
    _require(ss > 0, "student_size must be positive", ss)
    _require(ts > 0, "teacher_size must be positive", ts)
    _require(ta > 0, "teacher_acc must be positive", ta)
    _require(sa >= 0, "student_acc must not be negative", sa)
    _require((sa <= 100) & (ta <= 100), "accuracies must be percentages (<= 100) or fractions", np.maximum(sa, ta))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(sa, ta) / np.minimum(sa, ta)
    mixed = ((sa > 1) != (ta > 1)) & (ratio >= 10)
    if mixed.any():
        i = np.flatnonzero(mixed.ravel())[0]
        raise MetricError(
            "student_acc and teacher_acc look like a mix of percent and fractions "
            f"({sa.ravel()[i]:g} vs {ta.ravel()[i]:g}); give both in the same unit"
        )
    return _result(a * (ss / ts) + (1 - a) * (1 - sa / ta))


def from_reductions(size_reduction_pct, accuracy_reduction_pct, alpha=0.5):
    """The metric from the survey's columns: size ratio = 1 - size reduction, and the
    accuracy term 1 - student_acc/teacher_acc is the (signed) accuracy reduction itself.

    NaN in, NaN out: a row without a size (or accuracy) reduction gets no metric.
    """
    a = check_alpha(alpha)
    sr = _as_array("size_reduction_pct", size_reduction_pct)
    ar = _as_array("accuracy_reduction_pct", accuracy_reduction_pct)
    sr, ar, a = _broadcast(size_reduction_pct=sr, accuracy_reduction_pct=ar, alpha=a)
    _require(sr < 100, "size_reduction_pct must be below 100 (the student needs a positive size)", sr)
    _require(ar <= 100, "accuracy_reduction_pct must be at most 100 (accuracy cannot be negative)", ar)
    return _result(a * (1 - sr / 100) + (1 - a) * (ar / 100))
