"""Published results (data/benchmarks/) as validated DataFrames, and their join with reproduced records.

`load()` gives one row per published figure (a teacher, a student trained alone, or a distilled student),
with the accuracy in percent whatever the paper printed (MNIST test errors become 100 * (1 - errors / test
examples)) and the parameter counts of both networks from `architectures.csv`, so the survey's metric applies
to every row without torch. `compare()` puts each published row beside the reproduced records of the same
data set, teacher, student and method. Every load validates both files and raises one CatalogueError that
names the file, line and column of each problem.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kdsurvey import metric, references, stats
from kdsurvey.csvfile import Problems, read_records
from kdsurvey.errors import CatalogueError
from kdsurvey.paths import data_dir

FOLDER = "benchmarks"
RESULT_COLUMNS = (
    "row_id", "reference", "source_table", "convention", "convention_source", "dataset", "teacher_arch",
    "student_arch", "method", "metric", "value", "printed", "confirmed_at", "notes",
)  # fmt: skip
ARCH_COLUMNS = ("arch", "dataset", "classes", "parameters", "registered", "definition", "source")

#: The networks trained alone; every other row is a student distilled by one of METHODS.
ROLES = ("teacher", "baseline")
#: The techniques kdsurvey reproduces (kdsurvey.distill.methods, without plain cross-entropy).
METHODS = (
    "hinton_kd", "fitnets", "attention_transfer", "similarity_preserving", "rkd", "pkt", "takd",
    "multi_teacher", "dml", "one", "kdcl", "byot", "cs_kd",
)  # fmt: skip
METRICS = ("top1_pct", "test_errors")
EPOCHS = ("last epoch", "best epoch", "epoch not stated")
_RUNS = re.compile(r"^(?:single run|runs not stated|(?:mean|median) of (?P<n>\d+) runs)$")
_ROW_ID = re.compile(r"^[A-Z][A-Z0-9]*-\d{2,}$")
_ARCH = re.compile(r"^[a-z][a-z0-9_]*$")
_PRINTED = {
    "top1_pct": re.compile(r"^(?P<number>\d+(?:\.\d+)?)%?$"),
    "test_errors": re.compile(r"^(?P<number>\d+) (?:test )?errors$"),
}
_PRINTED_FORM = {"top1_pct": "a percentage such as '73.33'", "test_errors": "'<n> test errors' or '<n> errors'"}


@dataclass(frozen=True)
class Dataset:
    classes: int
    test_examples: int


#: The data sets a published row may name (kdsurvey's names), with their class and test-set sizes.
DATASETS = {
    "mnist": Dataset(10, 10_000),
    "fashion-mnist": Dataset(10, 10_000),
    "cifar10": Dataset(10, 10_000),
    "cifar100": Dataset(100, 10_000),
}


def folder(data: str | Path | None = None) -> Path:
    return (Path(data) if data is not None else data_dir()) / FOLDER


def architectures(data: str | Path | None = None) -> pd.DataFrame:
    """Every architecture a published row names, with its parameter count for its data set's classes."""
    path = folder(data) / "architectures.csv"
    found = Problems(path)
    rows = _arch_rows(path, found)
    found.raise_if_any()
    return _arch_frame(rows)


def load(data: str | Path | None = None) -> pd.DataFrame:
    """Every published result, validated, in file order, with `accuracy_pct` and both parameter counts."""
    root = Path(data) if data is not None else data_dir()
    bib = references.load_folder(root)
    arch_path, result_path = folder(root) / "architectures.csv", folder(root) / "results.csv"
    arch_found, found = Problems(arch_path), Problems(result_path)
    arch = _arch_frame(_arch_rows(arch_path, arch_found))
    sizes = {(a, d): p for a, d, p in zip(arch["arch"], arch["dataset"], arch["parameters"])}
    records = read_records(result_path, RESULT_COLUMNS)
    if not records:
        found.add(None, None, "has no data rows")
    seen_ids, seen_keys = {}, {}
    rows = [_result_row(rec, line, found, bib, sizes, seen_ids, seen_keys) for line, rec in records]
    if arch_found.items or found.items:
        raise CatalogueError(arch_found.items + found.items)
    frame = pd.DataFrame(rows, columns=[*RESULT_COLUMNS, "accuracy_pct", "teacher_parameters", "student_parameters"])
    return frame.astype({"value": "float64", "accuracy_pct": "float64"})


def accuracy_pct(metric_name: str, value: float, dataset: str) -> float:
    """A published figure as top-1 accuracy in percent (test errors out of the data set's test examples)."""
    if metric_name == "test_errors":
        return 100 * (1 - value / DATASETS[dataset].test_examples)
    return float(value)


# -- architectures.csv ------------------------------------------------------------------------


def _arch_rows(path: Path, found: Problems) -> list[dict]:
    records = read_records(path, ARCH_COLUMNS)
    if not records:
        found.add(None, None, "has no data rows")
    rows, seen = [], {}
    for line, rec in records:
        out = _texts(rec, ARCH_COLUMNS, line, found, optional=())
        key = (out["arch"], out["dataset"])
        if out["arch"] and not _ARCH.match(out["arch"]):
            found.add(line, "arch", f"{out['arch']!r} must be a lowercase name (a-z, 0-9, _), as kdsurvey names models")
        if key in seen:
            found.add(line, "arch", f"{out['arch']!r} on {out['dataset']} is listed twice (first on line {seen[key]})")
        seen.setdefault(key, line)
        dataset = DATASETS.get(out["dataset"])
        if out["dataset"] and dataset is None:
            found.add(line, "dataset", f"{out['dataset']!r} is not one of {', '.join(DATASETS)}")
        out["classes"] = _count(out, "classes", line, found)
        if dataset and out["classes"] and out["classes"] != dataset.classes:
            found.add(line, "classes", f"{out['dataset']} has {dataset.classes} classes, not {out['classes']}")
        out["parameters"] = _count(out, "parameters", line, found)
        if out["registered"] and out["registered"] not in ("yes", "no"):
            found.add(line, "registered", f"{out['registered']!r} is not yes or no")
        rows.append(out)
    return rows


def _arch_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(ARCH_COLUMNS)).astype({"classes": "int64", "parameters": "int64"})


def _count(out: dict, column: str, line: int, found: Problems) -> int:
    """A positive integer cell, or 0 after recording why it is not one."""
    text = out[column]
    if text and not (text.isdigit() and int(text) > 0):
        found.add(line, column, f"{text!r} is not a positive whole number")
        return 0
    return int(text) if text else 0


# -- results.csv ------------------------------------------------------------------------------


def _result_row(rec, line, found, bib, sizes, seen_ids, seen_keys) -> dict:
    out = _texts(rec, RESULT_COLUMNS, line, found, optional=("notes",))
    row_id = out["row_id"]
    if row_id and not _ROW_ID.match(row_id):
        found.add(line, "row_id", f"{row_id!r} is not of the form <SOURCE>-<number>, e.g. CRD20-03")
    if row_id in seen_ids:
        found.add(line, "row_id", f"duplicate row id {row_id!r} (first on line {seen_ids[row_id]})")
    seen_ids.setdefault(row_id, line)
    if out["reference"] and out["reference"] not in bib:
        found.add(line, "reference", f"key {out['reference']!r} is not in {bib.path.name}")
    _check_convention(out["convention"], line, found)
    dataset = out["dataset"]
    if dataset and dataset not in DATASETS:
        found.add(line, "dataset", f"{dataset!r} is not one of {', '.join(DATASETS)}")
    for side in ("teacher", "student"):
        arch = out[f"{side}_arch"]
        out[f"{side}_parameters"] = sizes.get((arch, dataset), 0)
        if arch and dataset in DATASETS and (arch, dataset) not in sizes:
            found.add(line, f"{side}_arch", f"unknown architecture {arch!r} for {dataset}: add it to architectures.csv")
    method = out["method"]
    if method and method not in (*ROLES, *METHODS):
        found.add(line, "method", f"{method!r} is neither teacher, baseline nor a method kdsurvey implements")
    key = (out["reference"], dataset, out["teacher_arch"], out["student_arch"], method)
    if all(key) and key in seen_keys:
        found.add(line, "method", f"the same source, data set, pair and method as line {seen_keys[key]}")
    seen_keys.setdefault(key, line)
    out["value"], out["accuracy_pct"] = _value(out, line, found)
    return out


def _texts(rec, columns, line, found, optional) -> dict:
    out = {}
    for column in columns:
        raw = rec[column]
        if raw != raw.strip():
            found.add(line, column, "has leading or trailing spaces")
        if not raw.strip() and column not in optional:
            found.add(line, column, "must not be empty")
        out[column] = raw.strip()
    return out


def _check_convention(text: str, line: int, found: Problems) -> None:
    parts = text.split("; ")
    if not text:
        return
    if len(parts) != 2 or parts[0] not in EPOCHS or not _RUNS.match(parts[1]):
        found.add(
            line,
            "convention",
            f"{text!r} is not '<epoch>; <runs>' with <epoch> one of {', '.join(EPOCHS)} and <runs> 'single run', "
            "'mean of N runs', 'median of N runs' or 'runs not stated'",
        )
    elif (m := _RUNS.match(parts[1]))["n"] is not None and int(m["n"]) < 2:
        found.add(line, "convention", f"{parts[1]!r}: a mean or median needs at least 2 runs")


def _value(out, line, found) -> tuple[float, float]:
    """(value, accuracy %), NaN after recording a problem; the value must equal the printed text."""
    name, text, dataset = out["metric"], out["value"], out["dataset"]
    if name and name not in METRICS:
        found.add(line, "metric", f"{name!r} is not one of {', '.join(METRICS)}")
        return math.nan, math.nan
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if text and not math.isfinite(value):
        found.add(line, "value", f"{text!r} is not a number")
        return math.nan, math.nan
    if not (text and name):
        return math.nan, math.nan
    if name == "top1_pct" and not 0 < value <= 100:
        found.add(line, "value", f"{text} is out of range: a top-1 accuracy lies in (0, 100]")
        return math.nan, math.nan
    if name == "test_errors":
        limit = DATASETS[dataset].test_examples if dataset in DATASETS else math.inf
        if value != int(value) or not 0 <= value <= limit:
            found.add(line, "value", f"{text} is not a count of test errors between 0 and {limit}")
            return math.nan, math.nan
    match = _PRINTED[name].match(out["printed"])
    if out["printed"] and match is None:
        found.add(line, "printed", f"{out['printed']!r} is not {_PRINTED_FORM[name]}")
    elif match is not None and float(match["number"]) != value:
        found.add(line, "value", f"{text} does not match the printed {out['printed']!r}")
    if dataset not in DATASETS:
        return value, math.nan
    return value, accuracy_pct(name, value, dataset)


# -- published beside reproduced --------------------------------------------------------------

COMPARISON_COLUMNS = (
    "row_id", "reference", "dataset", "teacher_arch", "student_arch", "method", "convention", "metric", "printed",
    "published_pct", "published_d", "runs", "seeds", "reproduced_mean", "reproduced_low", "reproduced_high",
    "difference", "inside",
)  # fmt: skip


def role(method: str) -> str:
    """Which accuracy of a record a published row is compared with: teacher, baseline or student."""
    return method if method in ROLES else "student"


def published_metric(published: pd.DataFrame, alpha: float = 0.5) -> pd.Series:
    """The survey's D for every baseline or distilled row whose source also prints the teacher of its pair.

    Teacher rows, and rows whose source has no teacher row for the pair, get NaN.
    """
    keys = ["reference", "dataset", "teacher_arch", "student_arch"]
    teachers = published[published["method"] == "teacher"].set_index(keys)["accuracy_pct"]
    teacher_acc = np.array([teachers.get(tuple(k), math.nan) for k in published[keys].itertuples(index=False)])
    teacher_acc[(published["method"] == "teacher").to_numpy()] = math.nan
    d = metric.distillation_metric(
        published["student_parameters"].to_numpy(float), published["teacher_parameters"].to_numpy(float),
        published["accuracy_pct"].to_numpy(float), teacher_acc, alpha,
    )  # fmt: skip
    return pd.Series(np.atleast_1d(d), index=published.index, dtype="float64")


def compare(published: pd.DataFrame, records: list[dict], alpha: float = 0.5, level: float = 0.95) -> pd.DataFrame:
    """One line per published row and distinct reproduced measurement of it (or one line with none).

    A record matches a row when data set, teacher and student architectures agree and, for a distilled
    row, the method too; teacher and baseline rows take the record's teacher and baseline accuracies.
    Records that hold the same per-seed values (one teacher shared by several techniques) are one
    measurement, listed with all their run ids. `difference` = reproduced mean - published, in points;
    `inside` says whether the published value lies in the reproduced `level` interval (None with one seed,
    and None when every seed holds the same value, as a teacher that taught every seed does: no interval).
    """
    d = published_metric(published, alpha)
    lines = []
    for index, row in published.iterrows():
        base = {c: row[c] for c in COMPARISON_COLUMNS if c in row.index}
        base |= {"published_pct": row["accuracy_pct"], "published_d": d[index]}
        groups = _measurements(row, records)
        if not groups:
            lines.append(base | {"runs": "", "seeds": 0, "inside": None})
        for values, runs in groups:
            lines.append(base | _reproduced(values, runs, row["accuracy_pct"], level))
    return pd.DataFrame(lines, columns=list(COMPARISON_COLUMNS))


def _measurements(row, records: list[dict]) -> list[tuple[list[float], list[str]]]:
    """[(per-seed accuracies, run ids)] of the records that measured this row, one entry per distinct list."""
    which = role(row["method"])
    groups: dict[tuple[float, ...], list[str]] = {}
    for rec in records:
        same_pair = (rec["dataset"], rec["teacher"]["arch"], rec["student"]["arch"]) == (
            row["dataset"], row["teacher_arch"], row["student_arch"],
        )  # fmt: skip
        if same_pair and (which != "student" or rec["method"] == row["method"]):
            groups.setdefault(tuple(rec["accuracy"][which]), []).append(rec["run_id"])
    return [(list(values), runs) for values, runs in groups.items()]


def _reproduced(values: list[float], runs: list[str], published_pct: float, level: float) -> dict:
    s = stats.summarize(values, level)
    low, high = (math.nan, math.nan) if len(set(values)) == 1 else (s.low, s.high)  # one network: no interval
    inside = None if math.isnan(low) else bool(low <= published_pct <= high)
    return {
        "runs": ", ".join(runs), "seeds": s.n, "reproduced_mean": s.mean, "reproduced_low": low,
        "reproduced_high": high, "difference": s.mean - published_pct, "inside": inside,
    }  # fmt: skip
