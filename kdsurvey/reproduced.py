"""Reproduced results (data/reproduced/*.json) as catalogue rows, told apart by source="reproduced".

Each record (written by `kdsurvey reproduce`; its schema is `kdsurvey.record`) becomes one row with
the same columns as a surveyed result, computed the way the survey defines them, so the metric,
tables, plots and report treat both alike:

- accuracy reduction = mean over seeds of 100 * (1 - student / teacher), negative when the student
  beats its teacher (the survey prints that as "(increase)");
- improvement over the baseline = mean over seeds of 100 * (student / baseline - 1), relative, like
  the survey's percentages;
- size reduction = 100 * (1 - student parameters / teacher parameters).

No torch here: records are plain JSON.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from kdsurvey import record, stats
from kdsurvey.columns import FLOAT_COLUMNS, SURVEY_COLUMNS


def _signed(value: float, negative_word: str) -> str:
    if math.isnan(value):
        return "–"
    text = f"{abs(value):.3f}%"
    return f"{text} ({negative_word})" if value < 0 else text


def rows(records: list[dict]) -> pd.DataFrame:
    """One catalogue row per record (columns of `catalogue.load()` plus per-seed summaries)."""
    out, used = [], {}
    for rec in records:
        acc = {k: np.asarray(v, dtype=float) for k, v in rec["accuracy"].items()}
        reduction = float(np.mean(100 * (1 - acc["student"] / acc["teacher"])))
        improvement = float(np.mean(100 * (acc["student"] / acc["baseline"] - 1)))
        size = 100 * (1 - rec["student"]["parameters"] / rec["teacher"]["parameters"])
        row_id = f"R-{rec['method']}"
        used[row_id] = used.get(row_id, 0) + 1
        if used[row_id] > 1:
            row_id += f"-{used[row_id]}"
        pair = f"{rec['teacher']['arch']} → {rec['student']['arch']}"
        row = dict.fromkeys(SURVEY_COLUMNS, "")
        row.update(
            row_id=row_id, table=0, strategy=rec["strategy"], architecture_printed=pair, architecture=pair,
            dataset_printed=rec["dataset"], dataset=rec["dataset"], dataset_truncated=False,
            accuracy_reduction_printed=_signed(reduction, "increase"), accuracy_reduction_pct=reduction,
            baseline_improvement_printed=_signed(improvement, "decrease"), baseline_improvement_pct=improvement,
            baseline_improvement_low_pct=math.nan, baseline_improvement_high_pct=math.nan,
            size_reduction_printed=f"{size:.3f}%", size_reduction_pct=size, metric_kind="accuracy",
            reference=rec.get("reference") or "", attribution="reproduced",
            evidence=(
                f"kdsurvey run {rec['run_id']} ({run_label(rec)}): {len(rec['seeds'])} seeds, {rec['epochs']} epochs on "
                f"{rec['device']}, torch {rec['torch']}, commit {rec.get('git_commit') or 'unknown'}"
            ),
        )  # fmt: skip
        row.update(method=rec["method"], title=rec["title"], knowledge=rec["knowledge"], seeds=len(rec["seeds"]),
                   run=run_label(rec))  # fmt: skip
        for role in ("teacher", "baseline", "student"):
            row[f"{role}_accuracy_mean"] = float(acc[role].mean())
        out.append(row)
    columns = list(SURVEY_COLUMNS) + ["method", "title", "knowledge", "seeds", "run"]
    columns += [f"{r}_accuracy_mean" for r in ("teacher", "baseline", "student")]
    frame = pd.DataFrame(out, columns=columns)
    frame = frame.astype({c: "float64" for c in FLOAT_COLUMNS} | {"table": "int64", "dataset_truncated": "bool"})
    frame.insert(0, "source", "reproduced")
    return frame


def run_label(rec: dict) -> str:
    """Where a record came from and which configuration it ran: "shipped" for the data folder's records,
    else "FOLDER, config HASH", which tells two runs of one technique apart."""
    origin = rec.get(record.ORIGIN, "data")
    return "shipped" if origin == "data" else f"{origin}, config {rec['config_hash'][:8]}"


def load(data: str | Path | None = None, runs=()) -> pd.DataFrame:
    """The reproduced rows of a data folder (by default the packaged one) and of the `runs` folders."""
    return rows(record.load(data, runs))


def summary(records: list[dict], level: float = 0.95) -> pd.DataFrame:
    """Per record: teacher / baseline / student mean and interval over seeds, and Welch's test of
    student vs baseline (difference in accuracy points, its interval and p)."""
    out = []
    for rec in records:
        acc = rec["accuracy"]
        row = {"method": rec["method"], "title": rec["title"], "strategy": rec["strategy"], "n": len(rec["seeds"])}
        for role in ("teacher", "baseline", "student"):
            s = stats.summarize(acc[role], level)
            row |= {f"{role}_mean": s.mean, f"{role}_std": s.std, f"{role}_low": s.low, f"{role}_high": s.high}
        if len(rec["seeds"]) >= 2:
            c = stats.welch(acc["student"], acc["baseline"], level)
            row |= {"gain": c.difference, "gain_low": c.low, "gain_high": c.high, "p_value": c.p_value}
        else:
            row |= {"gain": float(np.mean(acc["student"]) - np.mean(acc["baseline"]))}
            row |= dict.fromkeys(("gain_low", "gain_high", "p_value"), math.nan)
        out.append(row)
    columns = ["method", "title", "strategy", "n"]
    columns += [f"{r}_{k}" for r in ("teacher", "baseline", "student") for k in ("mean", "std", "low", "high")]
    return pd.DataFrame(out, columns=columns + ["gain", "gain_low", "gain_high", "p_value"])
