"""Every validation error the loaders raise, each naming the file, the line and the column.

Each test copies the packaged data folder into tmp_path (the `data_copy` fixture), breaks one
thing with the csv module (or in the .bib text), and checks the error type and its message.
"""

from __future__ import annotations

import csv
import hashlib
import math
from pathlib import Path

import pytest

from kdsurvey import catalogue, printed, references
from kdsurvey.errors import CatalogueError, DataNotFoundError, KdSurveyError
from kdsurvey.paths import ENV_VAR

T1 = Path("survey") / "table1.csv"
T2 = Path("survey") / "table2.csv"
METHODS = Path("methods.csv")
BIB = Path("references.bib")


@pytest.fixture(autouse=True)
def _no_data_override(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


# -- helpers ----------------------------------------------------------------------------------


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def write_rows(path: Path, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def edit(path: Path, key: str, changes: dict[str, str]) -> int:
    """Set cells of the one row whose first column is `key`; return that row's 1-based line."""
    rows = read_rows(path)
    header = rows[0]
    hits = [i for i, row in enumerate(rows) if i and row[0] == key]
    assert len(hits) == 1, f"{key} is not one row of {path}"
    for column, value in changes.items():
        rows[hits[0]][header.index(column)] = value
    write_rows(path, rows)
    return hits[0] + 1  # no cell of the packaged data spans lines, so row i is line i + 1


def cell(path: Path, key: str, column: str) -> str:
    rows = read_rows(path)
    return next(row for row in rows[1:] if row[0] == key)[rows[0].index(column)]


def line_of(path: Path, key: str) -> int:
    return next(i for i, row in enumerate(read_rows(path)) if i and row[0] == key) + 1


def load_error(root: Path, loader=catalogue.load) -> CatalogueError:
    with pytest.raises(CatalogueError) as info:
        loader(root)
    return info.value


def check_only_problem(exc: CatalogueError, path: Path, line, column, *fragments: str) -> None:
    """`exc` holds exactly this one problem, and its message names file, line and column."""
    assert len(exc.problems) == 1, exc.details()
    p_path, p_line, p_column, p_message = exc.problems[0]
    assert (p_path, p_line, p_column) == (str(path), line, column), exc.details()
    for fragment in fragments:
        assert fragment in p_message, exc.details()
    text = str(exc)
    assert text.startswith(str(path)), text
    if line is not None:
        assert f"line {line}" in text
    if column is not None:
        assert f"column '{column}'" in text
    assert "more problem" not in text


def has_problem(exc: CatalogueError, path: Path, line, column, *fragments: str) -> bool:
    return any(
        (p[0], p[1], p[2]) == (str(path), line, column) and all(f in p[3] for f in fragments) for p in exc.problems
    )


def snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every entry under `folder` (folders too), with mtime and content hash for files."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        out[rel] = (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest()) if p.is_file() else (0, "dir")
    return out


# -- the packaged data ------------------------------------------------------------------------


def test_packaged_data_loads_without_error(packaged_data):
    frame = catalogue.load()
    assert len(frame) == 27
    assert frame["table"].value_counts().to_dict() == {1: 14, 2: 13}
    assert frame["row_id"].is_unique
    meth = catalogue.methods()
    assert len(meth) == 66 and meth["method_id"].is_unique
    assert references.SURVEY_KEY in references.load()


def test_copy_helper_round_trips_the_files_byte_for_byte(data_copy, packaged_data):
    """The edit helpers rewrite a file with the csv module: unchanged rows must keep their bytes."""
    for rel in (T1, T2, METHODS):
        write_rows(data_copy / rel, read_rows(data_copy / rel))
        assert (data_copy / rel).read_bytes() == (packaged_data / rel).read_bytes()
    assert len(catalogue.load(data_copy)) == 27


def test_loading_writes_nothing_to_the_data_folder(data_copy, packaged_data):
    from kdsurvey import report

    before, before_packaged = snapshot(data_copy), snapshot(packaged_data)
    catalogue.load(data_copy)
    catalogue.methods(data_copy)
    references.load(data_copy / BIB)
    report.build(data=data_copy)  # tables and figures in memory only
    catalogue.load()
    catalogue.methods()
    assert snapshot(data_copy) == before
    assert snapshot(packaged_data) == before_packaged


def test_kdsurvey_data_selects_another_folder(data_copy, monkeypatch):
    edit(data_copy / T1, "T1-01", {"notes": "edited in the override copy"})
    monkeypatch.setenv(ENV_VAR, str(data_copy))
    frame = catalogue.load()
    assert frame.loc[frame["row_id"] == "T1-01", "notes"].item() == "edited in the override copy"


def test_a_valid_unidentified_row_loads(data_copy):
    edit(data_copy / T1, "T1-01", {"attribution": "unidentified", "reference": ""})
    row = catalogue.load(data_copy).set_index("row_id").loc["T1-01"]
    assert (row["attribution"], row["reference"]) == ("unidentified", "")


def test_loaded_values_follow_the_printed_signs(packaged_data):
    rows = catalogue.load().set_index("row_id")
    assert rows.loc["T1-03", "accuracy_reduction_pct"] == -2.369  # "2.369% (increase)"
    assert rows.loc["T2-01", "baseline_improvement_pct"] == -5.699  # "5.699% (decrease)"
    assert math.isnan(rows.loc["T1-02", "baseline_improvement_pct"])  # "1-5%"
    assert (rows.loc["T1-02", "baseline_improvement_low_pct"], rows.loc["T1-02", "baseline_improvement_high_pct"]) == (
        1,
        5,
    )
    assert rows.loc["T2-05", "metric_kind"] == "mIoU"
    assert math.isnan(rows.loc["T1-01", "size_reduction_pct"])  # "–"


# -- missing files and folders ----------------------------------------------------------------


@pytest.mark.parametrize("rel", [T1, T2])
def test_missing_survey_file(data_copy, rel):
    (data_copy / rel).unlink()
    with pytest.raises(DataNotFoundError) as info:
        catalogue.load(data_copy)
    assert str(data_copy / rel) in str(info.value)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, KdSurveyError)


def test_missing_methods_file(data_copy):
    (data_copy / METHODS).unlink()
    with pytest.raises(DataNotFoundError, match="methods.csv") as info:
        catalogue.methods(data_copy)
    assert str(data_copy / METHODS) in str(info.value)
    catalogue.load(data_copy)  # the survey tables do not need it


@pytest.mark.parametrize("loader", [catalogue.load, catalogue.methods, references.load])
def test_missing_bib_file(data_copy, loader):
    (data_copy / BIB).unlink()
    with pytest.raises(DataNotFoundError) as info:
        loader(data_copy / BIB if loader is references.load else data_copy)
    assert str(data_copy / BIB) in str(info.value)


def test_missing_data_folder(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        catalogue.load(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)


@pytest.mark.parametrize("kind", ["file", "missing"])
def test_kdsurvey_data_not_a_folder(tmp_path, monkeypatch, kind):
    target = tmp_path / "not-a-folder"
    if kind == "file":
        target.write_text("x", encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(target))
    for loader in (catalogue.load, catalogue.methods, references.load):
        with pytest.raises(DataNotFoundError) as info:
            loader()
        assert ENV_VAR in str(info.value) and str(target) in str(info.value)


# -- structure of a CSV file ------------------------------------------------------------------


@pytest.mark.parametrize("rel", [T1, T2, METHODS])
def test_missing_column(data_copy, rel):
    rows = read_rows(data_copy / rel)
    i = rows[0].index("notes")
    write_rows(data_copy / rel, [row[:i] + row[i + 1 :] for row in rows])
    loader = catalogue.methods if rel == METHODS else catalogue.load
    check_only_problem(load_error(data_copy, loader), data_copy / rel, 1, None, "missing column(s) notes")


@pytest.mark.parametrize("rel", [T1, METHODS])
def test_unknown_column(data_copy, rel):
    write_rows(
        data_copy / rel, [row + (["colour"] if i == 0 else ["red"]) for i, row in enumerate(read_rows(data_copy / rel))]
    )
    loader = catalogue.methods if rel == METHODS else catalogue.load
    exc = load_error(data_copy, loader)
    check_only_problem(exc, data_copy / rel, 1, None, "unknown column(s) colour")
    assert "missing" not in str(exc)


def test_renamed_column_reports_missing_and_unknown(data_copy):
    rows = read_rows(data_copy / T2)
    rows[0][rows[0].index("evidence")] = "evidenc"
    write_rows(data_copy / T2, rows)
    check_only_problem(
        load_error(data_copy), data_copy / T2, 1, None, "missing column(s) evidence", "unknown column(s) evidenc"
    )


@pytest.mark.parametrize("delta", [1, -1])
def test_wrong_number_of_cells_on_a_line(data_copy, delta):
    rows = read_rows(data_copy / T1)
    rows[5] = rows[5] + ["extra"] if delta > 0 else rows[5][:-1]
    write_rows(data_copy / T1, rows)
    check_only_problem(load_error(data_copy), data_copy / T1, 6, None, f"expected 21 cells, found {21 + delta}")


def test_wrong_number_of_cells_in_methods(data_copy):
    rows = read_rows(data_copy / METHODS)
    rows[-1] = rows[-1][:5]
    write_rows(data_copy / METHODS, rows)
    exc = load_error(data_copy, catalogue.methods)
    check_only_problem(exc, data_copy / METHODS, len(rows), None, "expected 10 cells, found 5")


@pytest.mark.parametrize("rel", [T2, METHODS])
def test_empty_file(data_copy, rel):
    (data_copy / rel).write_bytes(b"")
    loader = catalogue.methods if rel == METHODS else catalogue.load
    check_only_problem(load_error(data_copy, loader), data_copy / rel, 1, None, "file is empty")


def test_blank_lines_are_skipped(data_copy):
    path = data_copy / T1
    path.write_bytes(path.read_bytes() + b"\n\n")
    assert len(catalogue.load(data_copy)) == 27


@pytest.mark.parametrize("rel, key", [(T1, "T1-05"), (METHODS, "fitnets"), (METHODS, None)])
def test_non_utf8_bytes(data_copy, rel, key):
    """A Latin-1 byte: the problem names the line, and the byte offset is the file's own."""
    path = data_copy / rel
    lines = path.read_bytes().split(b"\n")
    index = [i for i, raw in enumerate(lines) if raw.startswith(key.encode())][0] if key else len(lines) - 2
    lines[index] = lines[index][:-3] + b"\xe9" + lines[index][-3:]  # methods.csv is > 8 KiB: test the tail
    data = b"\n".join(lines)
    path.write_bytes(data)
    exc = load_error(data_copy, catalogue.methods if rel == METHODS else catalogue.load)
    offset = data.index(b"\xe9")
    check_only_problem(exc, path, index + 1, None, "not UTF-8", f"at byte {offset}")


def test_line_of_a_record_after_a_cell_that_spans_lines_is_counted_in_file_lines(data_copy):
    """A quoted line break is refused at the record's first line; the records after it keep their file lines."""
    spanning = edit(data_copy / T1, "T1-04", {"notes": "first line\nsecond line"})
    exc = load_error(data_copy)
    check_only_problem(exc, data_copy / T1, spanning, "notes", "holds a line break")
    later = edit(data_copy / T1, "T1-09", {"notes": "bell\x07"}) + 1  # edit() counts rows, the file has one more line
    exc = load_error(data_copy)
    assert [p[1:3] for p in exc.problems] == [(spanning, "notes"), (later, "notes")], exc.details()
    assert (data_copy / T1).read_text(encoding="utf-8").split("\n")[later - 1].startswith("T1-09,")


@pytest.mark.parametrize("rel, key", [(T1, "T1-07"), (METHODS, "rkd")])
def test_malformed_csv_quoting(data_copy, rel, key):
    path = data_copy / rel
    line = line_of(path, key)
    lines = path.read_text(encoding="utf-8").split("\n")
    first, rest = lines[line - 1].split(",", 1)
    lines[line - 1] = f'"{first}"x,{rest}'  # text after a closing quote
    path.write_text("\n".join(lines), encoding="utf-8")
    exc = load_error(data_copy, catalogue.methods if rel == METHODS else catalogue.load)
    check_only_problem(exc, path, line, None, "malformed CSV")


# -- survey rows: one broken cell each --------------------------------------------------------

# (file, row, {column: new text}, column named by the problem, fragment of the message)
ROW_CASES = {
    "row_id form": (T1, "T1-03", {"row_id": "T1-3"}, "row_id", "'T1-3' is not of the form T<table>-<two digits>"),
    "row_id lowercase": (T2, "T2-03", {"row_id": "t2-03"}, "row_id", "is not of the form"),
    "row_id wrong table": (T1, "T1-03", {"row_id": "T2-99"}, "row_id", "'T2-99' is in the file of Table 1"),
    "row_id wrong table 2": (T2, "T2-04", {"row_id": "T1-99"}, "row_id", "'T1-99' is in the file of Table 2"),
    "table column": (T1, "T1-06", {"table": "2"}, "table", "expected 1 in the file of Table 1, got '2'"),
    "strategy self": (T1, "T1-06", {"strategy": "self"}, "strategy", "'self' is not one of offline, online"),
    "strategy case": (T2, "T2-09", {"strategy": "Online"}, "strategy", "'Online' is not one of offline, online"),
    "empty architecture": (T1, "T1-08", {"architecture": ""}, "architecture", "must not be empty"),
    "empty dataset_printed": (T2, "T2-08", {"dataset_printed": ""}, "dataset_printed", "must not be empty"),
    "leading space": (T1, "T1-08", {"dataset": " MNIST"}, "dataset", "leading or trailing spaces"),
    "trailing space": (
        T2,
        "T2-02",
        {"architecture_printed": "ResNet "},
        "architecture_printed",
        "leading or trailing spaces",
    ),
    "space in reference": (T1, "T1-08", {"reference": "nayak2019zero "}, "reference", "leading or trailing spaces"),
    "truncated yes": (
        T1,
        "T1-08",
        {"dataset_truncated": "yes"},
        "dataset_truncated",
        "'yes' is not one of true, false",
    ),
    "truncated True": (T1, "T1-10", {"dataset_truncated": "True"}, "dataset_truncated", "is not one of true, false"),
    "printed abc": (T1, "T1-01", {"accuracy_reduction_printed": "abc"}, "accuracy_reduction_printed", "got 'abc'"),
    "printed negative": (T1, "T1-01", {"accuracy_reduction_printed": "-1%"}, "accuracy_reduction_printed", "got '-1%'"),
    "printed space": (T1, "T1-01", {"accuracy_reduction_printed": "5 %"}, "accuracy_reduction_printed", "got '5 %'"),
    "printed no percent": (T2, "T2-07", {"size_reduction_printed": "95.86"}, "size_reduction_printed", "got '95.86'"),
    "printed empty": (T2, "T2-07", {"baseline_improvement_printed": ""}, "baseline_improvement_printed", "got ''"),
    "printed hyphen for dash": (T1, "T1-01", {"size_reduction_printed": "-"}, "size_reduction_printed", "got '-'"),
    "printed decrease in reduction": (
        T1,
        "T1-01",
        {"accuracy_reduction_printed": "0.782% (decrease)"},
        "accuracy_reduction_printed",
        "got '0.782% (decrease)'",
    ),  # fmt: skip
    "printed trailing newline": (
        T2,
        "T2-07",
        {"size_reduction_printed": "95.86%\n"},
        "size_reduction_printed",
        "holds a line break",
    ),
    "value mismatch": (
        T1,
        "T1-01",
        {"accuracy_reduction_pct": "0.78"},
        "accuracy_reduction_pct",
        "0.78 does not match the printed '0.782%' (expected 0.782)",
    ),  # fmt: skip
    "increase sign": (
        T1,
        "T1-03",
        {"accuracy_reduction_pct": "2.369"},
        "accuracy_reduction_pct",
        "2.369 does not match the printed '2.369% (increase)' (expected -2.369)",
    ),  # fmt: skip
    "decrease sign": (
        T2,
        "T2-01",
        {"baseline_improvement_pct": "5.699"},
        "baseline_improvement_pct",
        "5.699 does not match the printed '5.699% (decrease)' (expected -5.699)",
    ),  # fmt: skip
    "value where not reported": (
        T1,
        "T1-10",
        {"accuracy_reduction_pct": "0"},
        "accuracy_reduction_pct",
        "(expected empty)",
    ),
    "empty where reported": (
        T1,
        "T1-04",
        {"size_reduction_pct": ""},
        "size_reduction_pct",
        "empty does not match the printed '52.87%' (expected 52.87)",
    ),  # fmt: skip
    "value not a number": (
        T1,
        "T1-04",
        {"size_reduction_pct": "52,87"},
        "size_reduction_pct",
        "'52,87' is not a number",
    ),
    "range low": (
        T1,
        "T1-02",
        {"baseline_improvement_low_pct": "2"},
        "baseline_improvement_low_pct",
        "2 does not match the printed '1-5%' (expected 1)",
    ),  # fmt: skip
    "range high": (
        T1,
        "T1-02",
        {"baseline_improvement_high_pct": "4"},
        "baseline_improvement_high_pct",
        "4 does not match the printed '1-5%' (expected 5)",
    ),  # fmt: skip
    "range with one value": (
        T1,
        "T1-02",
        {"baseline_improvement_pct": "3"},
        "baseline_improvement_pct",
        "(expected empty)",
    ),
    "bounds without range": (
        T2,
        "T2-08",
        {"baseline_improvement_low_pct": "1"},
        "baseline_improvement_low_pct",
        "does not match the printed '2.637%' (expected empty)",
    ),  # fmt: skip
    "accuracy above 100": (
        T1,
        "T1-01",
        {"accuracy_reduction_printed": "150%", "accuracy_reduction_pct": "150"},
        "accuracy_reduction_pct",
        "150 is out of range: must be between -100 and 100",
    ),  # fmt: skip
    "accuracy below -100": (
        T1,
        "T1-03",
        {"accuracy_reduction_printed": "150% (increase)", "accuracy_reduction_pct": "-150"},
        "accuracy_reduction_pct",
        "-150 is out of range",
    ),  # fmt: skip
    "size 100": (
        T1,
        "T1-04",
        {"size_reduction_printed": "100%", "size_reduction_pct": "100"},
        "size_reduction_pct",
        "100 is out of range: must be at least 0 and below 100",
    ),  # fmt: skip
    "size above 100": (
        T2,
        "T2-07",
        {"size_reduction_printed": "120%", "size_reduction_pct": "120"},
        "size_reduction_pct",
        "120 is out of range",
    ),  # fmt: skip
    "improvement -100": (
        T1,
        "T1-01",
        {"baseline_improvement_printed": "100% (decrease)", "baseline_improvement_pct": "-100"},
        "baseline_improvement_pct",
        "-100 is out of range: must be above -100",
    ),  # fmt: skip
    "mIOU marked accuracy": (
        T2,
        "T2-05",
        {"metric_kind": "accuracy"},
        "metric_kind",
        "'accuracy' disagrees with the printed accuracy reduction",
    ),  # fmt: skip
    "accuracy marked mIoU": (T1, "T1-01", {"metric_kind": "mIoU"}, "metric_kind", "'mIoU' disagrees"),
    "metric kind unknown": (T1, "T1-01", {"metric_kind": "miou"}, "metric_kind", "'miou' is not one of accuracy, mIoU"),
    "attribution unknown": (
        T1,
        "T1-05",
        {"attribution": "maybe"},
        "attribution",
        "'maybe' is not one of confirmed, attributed, unidentified",
    ),
    "unidentified with reference": (
        T1,
        "T1-05",
        {"attribution": "unidentified"},
        "reference",
        "an unidentified row must have an empty reference",
    ),  # fmt: skip
    "attributed without reference": (
        T1,
        "T1-05",
        {"reference": ""},
        "reference",
        "a row attributed to a paper needs its BibTeX key",
    ),
    "confirmed without reference": (
        T2,
        "T2-05",
        {"reference": ""},
        "reference",
        "a row confirmed to a paper needs its BibTeX key",
    ),
    "reference not in bib": (
        T2,
        "T2-05",
        {"reference": "nobody2099nothing"},
        "reference",
        "key 'nobody2099nothing' is not in references.bib",
    ),  # fmt: skip
    "empty evidence": (T2, "T2-10", {"evidence": ""}, "evidence", "must not be empty"),
    "blank evidence": (T1, "T1-10", {"evidence": "   "}, "evidence", "must not be empty"),
}


@pytest.mark.parametrize("rel, key, changes, column, fragment", list(ROW_CASES.values()), ids=list(ROW_CASES))
def test_survey_row_problem(data_copy, rel, key, changes, column, fragment):
    line = edit(data_copy / rel, key, changes)
    exc = load_error(data_copy)
    if column == "evidence" and changes[column].strip() != changes[column]:
        assert has_problem(exc, data_copy / rel, line, column, fragment), exc.details()  # spaces too
        return
    check_only_problem(exc, data_copy / rel, line, column, fragment)


def test_duplicate_row_id_names_the_first_line(data_copy):
    line = edit(data_copy / T1, "T1-09", {"row_id": "T1-04"})
    first = line_of(data_copy / T1, "T1-04")
    assert first < line
    exc = load_error(data_copy)
    check_only_problem(exc, data_copy / T1, line, "row_id", f"duplicate row id 'T1-04' (first on line {first})")


def test_negative_size_reduction(data_copy):
    """The printed form cannot be negative, so a negative value both mismatches and is out of range."""
    line = edit(data_copy / T1, "T1-04", {"size_reduction_pct": "-52.87"})
    exc = load_error(data_copy)
    assert has_problem(exc, data_copy / T1, line, "size_reduction_pct", "does not match the printed '52.87%'")
    assert has_problem(exc, data_copy / T1, line, "size_reduction_pct", "-52.87 is out of range: must be at least 0")


def test_backwards_range(data_copy):
    line = edit(data_copy / T1, "T1-02", {"baseline_improvement_printed": "5-1%"})
    exc = load_error(data_copy)
    assert exc.problems == [(str(data_copy / T1), line, "baseline_improvement_printed", "range '5-1%' runs backwards")]
    assert str(exc).startswith(
        f"{data_copy / T1}, line {line}, column 'baseline_improvement_printed': range '5-1%' runs backwards"
    )


def test_several_problems_give_one_error_listing_all(data_copy):
    l1 = edit(data_copy / T1, "T1-06", {"strategy": "self"})
    l2 = edit(data_copy / T1, "T1-12", {"evidence": ""})
    l3 = edit(data_copy / T2, "T2-03", {"attribution": "maybe"})
    exc = load_error(data_copy)
    assert [(p[0], p[1], p[2]) for p in exc.problems] == [
        (str(data_copy / T1), l1, "strategy"),
        (str(data_copy / T1), l2, "evidence"),
        (str(data_copy / T2), l3, "attribution"),
    ]
    text = str(exc)
    assert text.startswith(f"{data_copy / T1}, line {l1}, column 'strategy': 'self' is not one of")
    assert text.endswith("(and 2 more problems)")
    details = exc.details().splitlines()
    assert len(details) == 3
    assert (
        details[2]
        == f"{data_copy / T2}, line {l3}, column 'attribution': 'maybe' is not one of confirmed, attributed, unidentified"
    )


def test_two_problems_say_one_more_problem(data_copy):
    edit(data_copy / T2, "T2-03", {"strategy": "self", "attribution": "maybe"})
    exc = load_error(data_copy)
    assert len(exc.problems) == 2
    assert str(exc).endswith("(and 1 more problem)")


def test_catalogue_error_is_a_value_error(data_copy):
    edit(data_copy / T1, "T1-06", {"strategy": "self"})
    with pytest.raises(ValueError):
        catalogue.load(data_copy)


# -- references.bib ---------------------------------------------------------------------------


def append_bib(root: Path, text: str) -> int:
    """Append `text` (starting with its '@' line) to the .bib; return the 1-based line of that '@'."""
    path = root / BIB
    old = path.read_text(encoding="utf-8")
    if not old.endswith("\n"):
        old += "\n"
    old += "\n"
    path.write_text(old + text, encoding="utf-8")
    return old.count("\n") + 1


def test_bib_duplicate_key(data_copy):
    line = append_bib(
        data_copy, "@misc{fukuda2017efficient,\n  author = {Someone, A.},\n  title = {Again},\n  year = {2017}\n}\n"
    )
    for exc in (
        load_error(data_copy / BIB, references.load),
        load_error(data_copy),
        load_error(data_copy, catalogue.methods),
    ):
        check_only_problem(exc, data_copy / BIB, line, None, "duplicate BibTeX key 'fukuda2017efficient'")


@pytest.mark.parametrize(
    "entry",
    [
        "@article{broken2020entry\n  author = {A, B},\n  title = {T},\n  year = {2020}\n}\n",  # no comma after the key
        "@article{broken2020entry,\n  author {A, B},\n  title = {T},\n  year = {2020}\n}\n",  # no '='
        "@article{broken2020entry,\n  author = {A, B},\n  title = {unclosed,\n  year = {2020}\n\n"
        "@misc{after2020entry,\n  author = {C, D},\n  title = {T},\n  year = {2020}\n}\n",  # unclosed brace
    ],
    ids=["no comma", "no equals", "unclosed brace"],
)
def test_bib_malformed_entry_names_its_line(data_copy, entry):
    line = append_bib(data_copy, entry)
    exc = load_error(data_copy / BIB, references.load)
    check_only_problem(exc, data_copy / BIB, line, None, "malformed BibTeX block")
    assert "()" not in str(exc), "the parser's reason must be shown, not an empty pair of brackets"


@pytest.mark.parametrize("missing", references.REQUIRED_FIELDS)
def test_bib_entry_missing_required_field(data_copy, missing):
    fields = {"author": "Doe, Jane", "title": "A title", "year": "2020"}
    del fields[missing]
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items())
    line = append_bib(data_copy, f"@misc{{lonely2020entry,\n{body}\n}}\n")
    exc = load_error(data_copy / BIB, references.load)
    check_only_problem(exc, data_copy / BIB, line, None, f"entry 'lonely2020entry' lacks {missing}")


def test_bib_problems_are_all_listed(data_copy):
    l1 = append_bib(data_copy, "@misc{first2020entry,\n  title = {T},\n  year = {2020}\n}\n")
    l2 = append_bib(data_copy, "@misc{second2020entry,\n  author = {A, B}\n}\n")
    exc = load_error(data_copy / BIB, references.load)
    assert [(p[1], p[3]) for p in exc.problems] == [
        (l1, "entry 'first2020entry' lacks author"),
        (l2, "entry 'second2020entry' lacks title, year"),
    ]
    assert str(exc).endswith("(and 1 more problem)")


def test_bib_non_utf8(data_copy):
    line = append_bib(
        data_copy, "@misc{latin2020entry,\n  author = {J\u00e9r\u00f4me, A},\n  title = {T},\n  year = {2020}\n}\n"
    )
    path = data_copy / BIB
    path.write_bytes(path.read_bytes().replace("J\u00e9r\u00f4me".encode(), "J\u00e9r\u00f4me".encode("latin-1")))
    for exc in (load_error(path, references.load), load_error(data_copy)):
        check_only_problem(exc, path, line + 1, None, "not UTF-8")


def test_bib_edit_is_seen_on_reload(data_copy):
    """The parsed library is cached; a changed file must be parsed again."""
    assert "later2020entry" not in references.load(data_copy / BIB)
    append_bib(data_copy, "@misc{later2020entry,\n  author = {A, B},\n  title = {T},\n  year = {2020}\n}\n")
    assert "later2020entry" in references.load(data_copy / BIB)


# -- methods.csv ------------------------------------------------------------------------------

METHOD_CASES = {
    "slug hyphen": ("fitnets", {"method_id": "fit-nets"}, "method_id", "'fit-nets' must be a lowercase slug"),
    "slug capital": ("fitnets", {"method_id": "FitNets"}, "method_id", "must be a lowercase slug"),
    "slug digit first": ("fitnets", {"method_id": "1fitnets"}, "method_id", "must be a lowercase slug"),
    "empty name": ("fitnets", {"name": ""}, "name", "must not be empty"),
    "spaces": ("fitnets", {"name": " FitNets"}, "name", "leading or trailing spaces"),
    "knowledge unknown": (
        "fitnets",
        {"knowledge_type": "logits"},
        "knowledge_type",
        "'logits' is not one of response, feature, relation",
    ),
    "knowledge repeated": ("fitnets", {"knowledge_type": "feature;feature"}, "knowledge_type", "repeats a value"),
    "knowledge order": (
        "fitnets",
        {"knowledge_type": "feature;response"},
        "knowledge_type",
        "values must be in the order response;feature;relation",
    ),  # fmt: skip
    "knowledge order 3": (
        "fitnets",
        {"knowledge_type": "relation;feature"},
        "knowledge_type",
        "values must be in the order",
    ),
    "strategy": ("fitnets", {"strategy": "hybrid"}, "strategy", "'hybrid' is not one of offline, online, self"),
    "topology": ("fitnets", {"topology": "many-to-many"}, "topology", "'many-to-many' is not one of one-to-one"),
    "domain": (
        "fitnets",
        {"domain": "robotics"},
        "domain",
        "'robotics' is not one of vision, nlp, speech, video, general",
    ),
    "source unknown": ("fitnets", {"source_documents": "blog"}, "source_documents", "'blog' is not one of survey"),
    "source one unknown": ("fsp", {"source_documents": "review-002;blog"}, "source_documents", "'blog' is not one of"),
    "source repeated": ("fsp", {"source_documents": "survey;survey"}, "source_documents", "repeats a value"),
    "reference missing": (
        "fitnets",
        {"reference": "nobody2099nothing"},
        "reference",
        "key 'nobody2099nothing' is not in references.bib",
    ),
    "year short": ("fitnets", {"year": "15"}, "year", "'15' is not a year"),
    "year letters": ("fitnets", {"year": "20x5"}, "year", "'20x5' is not a year"),
    "year too early": ("fitnets", {"year": "1800"}, "year", "'1800' is not a year"),
    "year float": ("fitnets", {"year": "2015.0"}, "year", "'2015.0' is not a year"),
}


@pytest.mark.parametrize("key, changes, column, fragment", list(METHOD_CASES.values()), ids=list(METHOD_CASES))
def test_method_row_problem(data_copy, key, changes, column, fragment):
    line = edit(data_copy / METHODS, key, changes)
    check_only_problem(load_error(data_copy, catalogue.methods), data_copy / METHODS, line, column, fragment)


def test_method_duplicate_id_names_the_first_line(data_copy):
    line = edit(data_copy / METHODS, "rkd", {"method_id": "fitnets"})
    first = line_of(data_copy / METHODS, "fitnets")
    exc = load_error(data_copy, catalogue.methods)
    check_only_problem(
        exc, data_copy / METHODS, line, "method_id", f"duplicate method id 'fitnets' (first on line {first})"
    )


def test_method_empty_year_is_one_problem(data_copy):
    line = edit(data_copy / METHODS, "fitnets", {"year": ""})
    exc = load_error(data_copy, catalogue.methods)
    check_only_problem(exc, data_copy / METHODS, line, "year", "must not be empty")


def test_method_tokens_in_order_are_accepted(data_copy):
    edit(
        data_copy / METHODS,
        "fitnets",
        {"knowledge_type": "response;feature;relation", "source_documents": "survey;issue"},
    )
    row = catalogue.methods(data_copy).set_index("method_id").loc["fitnets"]
    assert row["knowledge_type"] == "response;feature;relation"
    assert row["year"] == 2015


def test_methods_file_problems_do_not_break_the_survey_tables(data_copy):
    edit(data_copy / METHODS, "fitnets", {"strategy": "hybrid"})
    assert len(catalogue.load(data_copy)) == 27


# -- the printed-figure parsers ---------------------------------------------------------------


def _same(fig: printed.Figure, value, low=math.nan, high=math.nan, marker="") -> bool:
    eq = lambda a, b: (math.isnan(a) and math.isnan(b)) or a == b  # noqa: E731
    return eq(fig.value, value) and eq(fig.low, low) and eq(fig.high, high) and fig.marker == marker


@pytest.mark.parametrize(
    "text, value, marker",
    [
        ("0.782%", 0.782, ""),
        ("12%", 12.0, ""),
        ("0%", 0.0, ""),
        ("100%", 100.0, ""),
        ("2.369% (increase)", -2.369, "increase"),
        ("10.526% (increase)", -10.526, "increase"),
        ("4.868% (mIOU)", 4.868, "mIOU"),
        ("–", math.nan, ""),
    ],
)
def test_parse_accuracy_reduction(text, value, marker):
    assert _same(printed.parse_accuracy_reduction(text), value, marker=marker)


@pytest.mark.parametrize(
    "text, value, low, high, marker",
    [
        ("2.238%", 2.238, math.nan, math.nan, ""),
        ("8.97%", 8.97, math.nan, math.nan, ""),
        ("5.699% (decrease)", -5.699, math.nan, math.nan, "decrease"),
        ("1-5%", math.nan, 1.0, 5.0, "range"),
        ("0.5-2.25%", math.nan, 0.5, 2.25, "range"),
        ("3-3%", math.nan, 3.0, 3.0, "range"),
        ("–", math.nan, math.nan, math.nan, ""),
    ],
)
def test_parse_baseline_improvement(text, value, low, high, marker):
    assert _same(printed.parse_baseline_improvement(text), value, low, high, marker)


@pytest.mark.parametrize("text, value", [("52.87%", 52.87), ("40%", 40.0), ("96.20%", 96.2), ("–", math.nan)])
def test_parse_size_reduction(text, value):
    assert _same(printed.parse_size_reduction(text), value)


BAD_COMMON = ["abc", "", "-1%", "5 %", "5", "5%%", ".5%", "5.%", "-", "—", " 5%", "5% ", "5%\n", "nan%", "inf%", "1e2%"]


@pytest.mark.parametrize(
    "text",
    BAD_COMMON
    + ["5% (decrease)", "5% (Increase)", "5% (miou)", "5%(increase)", "5%  (increase)", "1-5%", "5% (increase) (mIOU)"],
)
def test_parse_accuracy_reduction_rejects(text):
    with pytest.raises(ValueError, match="expected 'N%'"):
        printed.parse_accuracy_reduction(text)


@pytest.mark.parametrize(
    "text", BAD_COMMON + ["5% (increase)", "5% (mIOU)", "1 - 5%", "1-5", "-1-5%", "1-5% (decrease)", "1–5%", "1-5%%"]
)
def test_parse_baseline_improvement_rejects(text):
    with pytest.raises(ValueError, match="expected 'N%'"):
        printed.parse_baseline_improvement(text)


@pytest.mark.parametrize("text", ["5-1%", "2.5-2.25%"])
def test_parse_baseline_improvement_backwards_range(text):
    with pytest.raises(ValueError, match="runs backwards"):
        printed.parse_baseline_improvement(text)


@pytest.mark.parametrize("text", BAD_COMMON + ["52.87% (increase)", "5% (decrease)", "1-5%"])
def test_parse_size_reduction_rejects(text):
    with pytest.raises(ValueError, match="expected 'N%'"):
        printed.parse_size_reduction(text)


def test_not_reported_is_the_en_dash():
    assert printed.NOT_REPORTED == "\u2013"
    assert all(math.isnan(x) for x in (printed.Figure().value, printed.Figure().low, printed.Figure().high))
    with pytest.raises(AttributeError):
        printed.Figure().value = 1.0  # frozen


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN"])
def test_non_finite_number_is_rejected(data_copy, text):
    line = edit(data_copy / T1, "T1-01", {"size_reduction_pct": text})
    exc = load_error(data_copy)
    check_only_problem(exc, data_copy / T1, line, "size_reduction_pct", f"{text!r} is not a number")


def test_spaces_around_a_number_are_rejected(data_copy):
    line = edit(data_copy / T1, "T1-01", {"accuracy_reduction_pct": " 0.782"})
    exc = load_error(data_copy)
    check_only_problem(exc, data_copy / T1, line, "accuracy_reduction_pct", "leading or trailing spaces")


def test_unknown_metric_kind_is_one_problem(data_copy):
    line = edit(data_copy / T2, "T2-05", {"metric_kind": "iou"})
    exc = load_error(data_copy)
    check_only_problem(exc, data_copy / T2, line, "metric_kind", "'iou' is not one of accuracy, mIoU")


@pytest.mark.parametrize("value", ["response;", "response;;feature", ";feature"])
def test_empty_token_is_rejected(data_copy, value):
    line = edit(data_copy / METHODS, "fitnets", {"knowledge_type": value})
    exc = load_error(data_copy, catalogue.methods)
    check_only_problem(exc, data_copy / METHODS, line, "knowledge_type", "empty value")


@pytest.mark.parametrize("relative, loader", [(T1, catalogue.load), (T2, catalogue.load), (METHODS, catalogue.methods)])
def test_header_only_file_is_an_error(data_copy, relative, loader):
    path = data_copy / relative
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    exc = load_error(data_copy, loader)
    assert exc.problems[0][0] == str(path)
    assert "has no data rows" in exc.problems[0][3]


def test_method_year_must_match_its_bibtex_entry(data_copy):
    line = edit(data_copy / METHODS, "fitnets", {"year": "2014"})
    exc = load_error(data_copy, catalogue.methods)
    check_only_problem(exc, data_copy / METHODS, line, "year", "2014 differs from the year of 'romero2015fitnets'")


# -- cells and entries that cannot reach a table: one line from the CLI ----------------------

# (file, row key or None for the .bib, {column: text} or .bib entry, command, column, fragment of the message)
CELL_CASES = {
    "NUL in a survey cell": (T1, "T1-11", {"architecture_printed": "Micro\x00CNN"}, "architecture_printed", "U+0000"),
    "NUL in a methods cell": (METHODS, "fitnets", {"name": "Fit\x00Nets"}, "name", "U+0000"),
    "bell": (T2, "T2-03", {"evidence": "ring\x07"}, "evidence", "U+0007"),
    "escape": (T1, "T1-02", {"notes": "\x1b[31mred"}, "notes", "U+001B"),
    "tab": (METHODS, "rkd", {"notes": "a\tb"}, "notes", "U+0009"),
    "delete": (T2, "T2-05", {"dataset_printed": "PASCAL\x7fVOC"}, "dataset_printed", "U+007F"),
    "C1 control": (T1, "T1-05", {"dataset": "HUB5\x9b"}, "dataset", "U+009B"),
    "quoted newline": (T2, "T2-06", {"architecture_printed": "Wide\nResNet"}, "architecture_printed", "line break"),
    "quoted newline in methods": (METHODS, "dml", {"name": "Deep mutual\nlearning"}, "name", "line break"),
    "line separator": (METHODS, "one", {"notes": "a\u2028b"}, "notes", "line break"),
    "next line": (T2, "T2-11", {"notes": "a\x85b"}, "notes", "line break"),
}


def cli_error(capsys, *argv) -> str:
    """Run the CLI in-process; it must exit 2 with one line on stderr, nothing on stdout; return that line."""
    from kdsurvey.cli import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert (rc, out) == (2, ""), err
    assert "Traceback" not in err
    assert err.startswith("kdsurvey: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    return err.rstrip("\n")


@pytest.mark.parametrize("rel, key, changes, column, fragment", list(CELL_CASES.values()), ids=list(CELL_CASES))
def test_control_character_or_line_break_in_a_cell_is_one_cli_line(
    data_copy, capsys, rel, key, changes, column, fragment
):
    line = edit(data_copy / rel, key, changes)
    command = ("tables", "--table", "methods") if rel == METHODS else ("tables",)
    message = cli_error(capsys, "--data", data_copy, *command)
    assert message.startswith(f"kdsurvey: error: {data_copy / rel}, line {line}, column '{column}': "), message
    assert fragment in message
    assert "\x00" not in message and "\n" not in message  # the character is named, never printed


BIB_CASES = {
    "empty key": ("@misc{,\n  author = {Doe, Jane},\n  title = {T},\n  year = {2020}\n}\n", "entry with an empty key"),
    "blank key": ("@misc{ ,\n  author = {Doe, Jane},\n  title = {T},\n  year = {2020}\n}\n", "entry with an empty key"),
    "year in words": (
        "@misc{words2020,\n  author = {Doe, Jane},\n  title = {T},\n  year = {twenty}\n}\n",
        "entry 'words2020' has year 'twenty'; expected a four-digit year",
    ),
    "year with a letter": (
        "@misc{letter2020,\n  author = {Doe, Jane},\n  title = {T},\n  year = {2020a}\n}\n",
        "entry 'letter2020' has year '2020a'",
    ),
    "empty year": (
        "@misc{empty2020,\n  author = {Doe, Jane},\n  title = {T},\n  year = {}\n}\n",
        "entry 'empty2020' has year ''",
    ),
    "two-digit year": (
        '@misc{short2020,\n  author = {Doe, Jane},\n  title = {T},\n  year = "20"\n}\n',
        "entry 'short2020' has year '20'",
    ),
}


@pytest.mark.parametrize("entry, fragment", list(BIB_CASES.values()), ids=list(BIB_CASES))
def test_bib_entry_that_cannot_be_cited_is_one_cli_line(data_copy, capsys, entry, fragment):
    line = append_bib(data_copy, entry)
    for command in (("tables",), ("cite", "--table", "all")):
        message = cli_error(capsys, "--data", data_copy, *command)
        assert message.startswith(f"kdsurvey: error: {data_copy / BIB}, line {line}: {fragment}"), message
    exc = load_error(data_copy / BIB, references.load)
    check_only_problem(exc, data_copy / BIB, line, None, fragment)


def test_bib_year_with_braces_and_quotes_is_accepted(data_copy):
    append_bib(data_copy, '@misc{quoted2020,\n  author = {Doe, Jane},\n  title = {T},\n  year = "2020"\n}\n')
    append_bib(data_copy, "@misc{bare2021,\n  author = {Doe, Jane},\n  title = {T},\n  year = 2021\n}\n")
    bib = references.load(data_copy / BIB)
    assert (bib.field("quoted2020", "year"), bib.field("bare2021", "year")) == ("2020", "2021")


def test_pipe_and_latex_specials_in_a_cell_are_escaped(data_copy, capsys):
    """Legal text is not refused: `|` is escaped in Markdown, LaTeX's specials in LaTeX."""
    from kdsurvey.cli import main

    edit(data_copy / T1, "T1-11", {"architecture_printed": "Micro | CNN #1 $5 50% A&B x_y {z} ~ ^ \\ <>"})
    assert main(["--data", str(data_copy), "tables", "--table", "1"]) == 0
    markdown = capsys.readouterr().out
    row = next(line for line in markdown.splitlines() if "Micro" in line)
    assert "Micro \\| CNN" in row
    header = markdown.splitlines()[0]
    assert row.replace("\\|", "").count("|") == header.count("|")  # the row still has the header's cells
    assert main(["--data", str(data_copy), "tables", "--table", "1", "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    expected = r"Micro \textbar{} CNN \#1 \$5 50\% A\&B x\_\allowbreak{}y \{z\} \textasciitilde{} \textasciicircum{} "
    assert expected + r"\textbackslash{} \textless{}\textgreater{}" in latex
    assert main(["--data", str(data_copy), "tables", "--table", "1", "--format", "csv"]) == 0
    assert "Micro | CNN #1" in capsys.readouterr().out  # CSV keeps the text as it is
