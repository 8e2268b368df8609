"""The surveyed results and the named methods, loaded from data/ into validated DataFrames.

`load()` gives one row per result of the survey's Tables 1 and 2 (27 rows, paper order);
`methods()` gives the KD methods the source documents name, classified by the taxonomy.
Every load validates types, ranges, sign conventions, unique ids and reference keys, and a
malformed file raises one CatalogueError naming the file, line and column.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import pandas as pd

from kdsurvey import benchmarks, printed, references, reproduced, taxonomy
from kdsurvey.columns import FLOAT_COLUMNS, SURVEY_COLUMNS
from kdsurvey.csvfile import Problems, read_records
from kdsurvey.errors import CatalogueError, KdSurveyWarning, UsageError
from kdsurvey.paths import data_dir

SURVEY_TABLES = (1, 2)
METHOD_COLUMNS = (
    "method_id", "name", "knowledge_type", "strategy", "topology",
    "reference", "year", "domain", "source_documents", "notes",
)  # fmt: skip

_ROW_ID = re.compile(r"^T(?P<table>\d+)-(?P<n>\d{2})$")
_METHOD_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_TOLERANCE = 1e-9


def survey_path(table: int, root: Path | None = None) -> Path:
    return (root or data_dir()) / "survey" / f"table{table}.csv"


def load(data: str | Path | None = None) -> pd.DataFrame:
    """Every result of the survey's two tables, validated, in the paper's order.

    `data` is a data folder laid out like the packaged one (survey/table1.csv,
    survey/table2.csv, references.bib); by default the packaged data.
    """
    root = Path(data) if data is not None else data_dir()
    bib = references.load_folder(root)
    rows, problems, seen = [], [], {}
    for table in SURVEY_TABLES:
        path = survey_path(table, root)
        found = Problems(path)
        records = read_records(path, SURVEY_COLUMNS)
        if not records:
            found.add(None, None, f"has no data rows; Table {table} of the survey has rows")
        for line, record in records:
            rows.append(_survey_row(record, table, line, found, bib, seen))
        problems += found.items
    if problems:
        raise CatalogueError(problems)
    frame = pd.DataFrame(rows, columns=list(SURVEY_COLUMNS))
    frame = frame.astype({c: "float64" for c in FLOAT_COLUMNS} | {"table": "int64", "dataset_truncated": "bool"})
    frame.insert(0, "source", "reported")
    return frame.reset_index(drop=True)


def results(data: str | Path | None = None, source: str = "all", runs=()) -> pd.DataFrame:
    """The one table of results: the survey's rows (source="reported") followed by the reproduced ones
    (source="reproduced", from data/reproduced/*.json and the records under each `runs` folder).
    `source` keeps one kind only."""
    if source not in (*taxonomy.SOURCES, "all"):
        raise UsageError(f"unknown source {source!r}; choose reported, reproduced or all")
    parts = []
    if source in ("reported", "all"):
        parts.append(load(data))
    if source in ("reproduced", "all"):
        parts.append(reproduced.load(data, runs))
        _warn_larger_students(parts[-1])
    if len(parts) == 1:
        return parts[0]
    extra = [c for c in parts[1].columns if c not in parts[0].columns]
    return pd.concat([parts[0].reindex(columns=list(parts[0].columns) + extra), parts[1]], ignore_index=True)


def _warn_larger_students(rows: pd.DataFrame) -> None:
    """A student larger than its teacher is allowed (its size reduction is negative and the metric counts it
    against it) but is most likely a mix-up of the two, so it is said once per row."""
    larger = rows.loc[rows["size_reduction_pct"] < 0, ["row_id", "architecture", "size_reduction_pct"]]
    for row_id, pair, size in larger.itertuples(index=False):
        warnings.warn(f"{row_id}: the student is larger than its teacher ({pair}, size reduction {size:.1f}%)",
                      KdSurveyWarning, stacklevel=3)  # fmt: skip


def methods(data: str | Path | None = None) -> pd.DataFrame:
    """The KD methods named in the source documents, with knowledge type, strategy and topology."""
    root = Path(data) if data is not None else data_dir()
    bib = references.load_folder(root)
    path = root / "methods.csv"
    found = Problems(path)
    rows, seen = [], {}
    records = read_records(path, METHOD_COLUMNS)
    if not records:
        found.add(None, None, "has no data rows")
    for line, record in records:
        rows.append(_method_row(record, line, found, bib, seen))
    found.raise_if_any()
    return pd.DataFrame(rows, columns=list(METHOD_COLUMNS)).astype({"year": "int64"})


# -- one survey row ---------------------------------------------------------------------------


def _survey_row(record, table, line, problems, bib, seen) -> dict:
    out = {}

    def text(column, required=True):
        value = record[column]
        if value != value.strip():
            problems.add(line, column, "has leading or trailing spaces")
        if required and not value.strip():
            problems.add(line, column, "must not be empty")
        out[column] = value.strip()
        return out[column]

    def choice(column, allowed):
        value = text(column)
        if value and value not in allowed:
            problems.add(line, column, f"{value!r} is not one of {', '.join(allowed)}")
        return value

    row_id = text("row_id")
    m = _ROW_ID.match(row_id)
    if not m:
        problems.add(line, "row_id", f"{row_id!r} is not of the form T<table>-<two digits>, e.g. T1-04")
    elif int(m["table"]) != table:
        problems.add(line, "row_id", f"{row_id!r} is in the file of Table {table}")
    if row_id in seen:
        problems.add(line, "row_id", f"duplicate row id {row_id!r} (first on line {seen[row_id]})")
    seen.setdefault(row_id, line)

    table_text = text("table")
    if table_text != str(table):
        problems.add(line, "table", f"expected {table} in the file of Table {table}, got {table_text!r}")
    out["table"] = table
    choice("strategy", taxonomy.SURVEY_STRATEGIES)
    for column in ("architecture_printed", "architecture", "dataset_printed", "dataset"):
        text(column)
    truncated = choice("dataset_truncated", ("true", "false"))
    out["dataset_truncated"] = truncated == "true"

    _figure(record, out, line, problems, "accuracy_reduction", printed.parse_accuracy_reduction)
    imp = _figure(record, out, line, problems, "baseline_improvement", printed.parse_baseline_improvement)
    _figure(record, out, line, problems, "size_reduction", printed.parse_size_reduction)
    _check_range(out, line, problems, "accuracy_reduction_pct", -100, 100, "between -100 and 100")
    _check_range(out, line, problems, "size_reduction_pct", 0, 100 - 1e-12, "at least 0 and below 100")
    for column in ("baseline_improvement_pct", "baseline_improvement_low_pct", "baseline_improvement_high_pct"):
        _check_range(out, line, problems, column, -100 + 1e-12, math.inf, "above -100")
    for column in ("low", "high"):
        name = f"baseline_improvement_{column}_pct"
        if imp is None:  # the printed cell is already reported; do not pile on
            out[name] = math.nan
        else:
            _compare(
                out, line, problems, name, record, getattr(imp, column), printed_column="baseline_improvement_printed"
            )

    kind = choice("metric_kind", tuple(taxonomy.METRIC_KINDS))
    marker = out["accuracy_reduction_printed"].endswith("(mIOU)")
    if kind in taxonomy.METRIC_KINDS and marker != (kind == "mIoU"):
        problems.add(line, "metric_kind", f"{kind!r} disagrees with the printed accuracy reduction")

    attribution = choice("attribution", tuple(taxonomy.ATTRIBUTIONS))
    reference = text("reference", required=False)
    if attribution == "unidentified" and reference:
        problems.add(line, "reference", "an unidentified row must have an empty reference")
    if attribution in ("confirmed", "attributed") and not reference:
        problems.add(line, "reference", f"a row {attribution} to a paper needs its BibTeX key")
    if reference and reference not in bib:
        problems.add(line, "reference", f"key {reference!r} is not in {bib.path.name}")
    text("evidence")
    text("notes", required=False)
    return out


def _figure(record, out, line, problems, stem, parse) -> printed.Figure | None:
    """Parse '<stem>_printed' and check that '<stem>_pct' holds the same signed number.

    Returns None when the printed text does not parse (that problem is recorded once).
    """
    text = record[f"{stem}_printed"]
    out[f"{stem}_printed"] = text
    try:
        fig = parse(text)
    except ValueError as exc:
        problems.add(line, f"{stem}_printed", str(exc))
        out[f"{stem}_pct"] = math.nan
        return None
    _compare(out, line, problems, f"{stem}_pct", record, fig.value, printed_column=f"{stem}_printed")
    return fig


def _compare(out, line, problems, column, record, expected, printed_column=None) -> None:
    raw = record[column]
    if raw != raw.strip():
        problems.add(line, column, "has leading or trailing spaces")
    raw = raw.strip()
    try:
        value = float(raw) if raw else math.nan
    except ValueError:
        value = math.inf  # reported just below
    if not math.isfinite(value) and raw:
        problems.add(line, column, f"{raw!r} is not a number (leave the cell empty when nothing is reported)")
        out[column] = math.nan
        return
    out[column] = value
    expected = expected.value if isinstance(expected, printed.Figure) else expected
    same = (math.isnan(value) and math.isnan(expected)) or abs(value - expected) <= _TOLERANCE
    if not same:
        source = record.get(printed_column, "")
        want = "empty" if math.isnan(expected) else f"{expected:g}"
        problems.add(line, column, f"{raw or 'empty'} does not match the printed {source!r} (expected {want})")


def _check_range(out, line, problems, column, low, high, words) -> None:
    value = out.get(column, math.nan)
    if not math.isnan(value) and not (low <= value <= high):
        problems.add(line, column, f"{value:g} is out of range: must be {words}")


# -- one method row ---------------------------------------------------------------------------


def _method_row(record, line, problems, bib, seen) -> dict:
    out = {k: record[k].strip() for k in METHOD_COLUMNS}
    for column in METHOD_COLUMNS:
        if record[column] != record[column].strip():
            problems.add(line, column, "has leading or trailing spaces")
        if column != "notes" and not out[column]:
            problems.add(line, column, "must not be empty")
    mid = out["method_id"]
    if mid and not _METHOD_ID.match(mid):
        problems.add(line, "method_id", f"{mid!r} must be a lowercase slug (a-z, 0-9, _)")
    if mid in seen:
        problems.add(line, "method_id", f"duplicate method id {mid!r} (first on line {seen[mid]})")
    seen.setdefault(mid, line)
    _check_tokens(out, line, problems, "knowledge_type", tuple(taxonomy.KNOWLEDGE_TYPES), ordered=True)
    _check_tokens(out, line, problems, "source_documents", tuple(taxonomy.SOURCE_DOCUMENTS))
    for column, allowed in (
        ("strategy", tuple(taxonomy.STRATEGIES)),
        ("topology", tuple(taxonomy.TOPOLOGIES)),
        ("domain", taxonomy.DOMAINS),
    ):
        if out[column] and out[column] not in allowed:
            problems.add(line, column, f"{out[column]!r} is not one of {', '.join(allowed)}")
    if out["reference"] and out["reference"] not in bib:
        problems.add(line, "reference", f"key {out['reference']!r} is not in {bib.path.name}")
    year = out["year"]
    valid_year = year.isdigit() and 1950 <= int(year) <= 2100
    if valid_year and out["reference"] in bib and bib.field(out["reference"], "year") != year:
        problems.add(line, "year", f"{year} differs from the year of {out['reference']!r} in {bib.path.name}")
    if year and not valid_year:
        problems.add(line, "year", f"{year!r} is not a year")
        out["year"] = 0
    elif not year:
        out["year"] = 0
    else:
        out["year"] = int(year)
    return out


def _check_tokens(out, line, problems, column, allowed, ordered=False) -> None:
    tokens = out[column].split(";") if out[column] else []
    unknown = [t for t in tokens if t not in allowed]
    if "" in tokens:
        problems.add(line, column, "has an empty value between or after ';'")
    elif unknown:
        problems.add(line, column, f"{unknown[0]!r} is not one of {', '.join(allowed)}")
    elif len(set(tokens)) != len(tokens):
        problems.add(line, column, "repeats a value")
    elif ordered and tokens != sorted(tokens, key=allowed.index):
        problems.add(line, column, f"values must be in the order {';'.join(allowed)}")


CITE_TABLES = ("1", "2", "methods", "all")


def table_keys(table: str | int, data: str | Path | None = None) -> list[str]:
    """Keys a table cites, the survey first, in row order, without repeats.

    `table` is 1, 2, "methods" (the named methods) or "all" (both survey tables, the methods and the
    published results of data/benchmarks/, which the report's benchmark table cites).
    """
    table = str(table)
    if table not in CITE_TABLES:
        raise UsageError(f"unknown table {table!r}; choose one of {', '.join(CITE_TABLES)}")
    keys = [references.SURVEY_KEY]
    if table in ("1", "2", "all"):
        frame = load(data)
        rows = frame if table == "all" else frame[frame["table"] == int(table)]
        keys += [k for k in rows["reference"] if k]
    if table in ("methods", "all"):
        keys += list(methods(data)["reference"])
    if table == "all":
        keys += list(benchmarks.load(data)["reference"])
    return list(dict.fromkeys(keys))


def for_table(table: str | int, data: str | Path | None = None) -> str:
    """BibTeX for every reference a table cites (see `table_keys`)."""
    return references.load_folder(data).bibtex(table_keys(table, data))
