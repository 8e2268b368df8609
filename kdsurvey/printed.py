"""Parse the survey's printed figures ("2.369% (increase)", "1-5%", "–") into signed numbers.

The survey prints relative percentages with annotations instead of signs: "(increase)" in the
accuracy-reduction column means the student beat its teacher, "(decrease)" in the improvement
column means the distilled student fell below its baseline, and "(mIOU)" names the measure.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

NOT_REPORTED = "–"  # the en dash the paper prints for "not reported"

_NUMBER = r"(?P<v>\d+(?:\.\d+)?)"
_REDUCTION = re.compile(rf"^{_NUMBER}%(?: \((?P<m>increase|mIOU)\))?\Z")  # \Z: `$` would admit a trailing newline
_IMPROVEMENT = re.compile(rf"^{_NUMBER}%(?: \((?P<m>decrease)\))?\Z")
_RANGE = re.compile(r"^(?P<lo>\d+(?:\.\d+)?)-(?P<hi>\d+(?:\.\d+)?)%\Z")
_PLAIN = re.compile(rf"^{_NUMBER}%\Z")


@dataclass(frozen=True)
class Figure:
    """One printed cell: its signed value (NaN if absent or a range), range bounds, and marker."""

    value: float = math.nan
    low: float = math.nan
    high: float = math.nan
    marker: str = ""


def parse_accuracy_reduction(text: str) -> Figure:
    """'0.782%' -> 0.782; '2.369% (increase)' -> -2.369; '4.868% (mIOU)' -> 4.868, marker mIOU."""
    if text == NOT_REPORTED:
        return Figure()
    m = _REDUCTION.match(text)
    if not m:
        raise ValueError(f"expected 'N%', 'N% (increase)', 'N% (mIOU)' or '{NOT_REPORTED}', got {text!r}")
    v = float(m["v"])
    marker = m["m"] or ""
    return Figure(value=-v if marker == "increase" else v, marker=marker)


def parse_baseline_improvement(text: str) -> Figure:
    """'2.238%' -> 2.238; '5.699% (decrease)' -> -5.699; '1-5%' -> range 1..5 with no single value."""
    if text == NOT_REPORTED:
        return Figure()
    m = _RANGE.match(text)
    if m:
        low, high = float(m["lo"]), float(m["hi"])
        if low > high:
            raise ValueError(f"range {text!r} runs backwards")
        return Figure(low=low, high=high, marker="range")
    m = _IMPROVEMENT.match(text)
    if not m:
        raise ValueError(f"expected 'N%', 'N% (decrease)', 'A-B%' or '{NOT_REPORTED}', got {text!r}")
    v = float(m["v"])
    return Figure(value=-v if m["m"] else v, marker=m["m"] or "")


def parse_size_reduction(text: str) -> Figure:
    """'52.87%' -> 52.87; '–' -> not reported."""
    if text == NOT_REPORTED:
        return Figure()
    m = _PLAIN.match(text)
    if not m:
        raise ValueError(f"expected 'N%' or '{NOT_REPORTED}', got {text!r}")
    return Figure(value=float(m["v"]))
