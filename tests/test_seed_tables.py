"""The regenerated Tables 1 and 2 carry the source's rows, order, grouping and printed text."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest

from kdsurvey import catalogue, tables

FIXTURES = Path(__file__).parent / "fixtures"
PRINTED = [
    "Targeted architecture",
    "Utilized data",
    "Reduction in accuracy compared to teacher",
    "Improvement in accuracy compared to baseline",
    "Reduction in size",
]


def clean(cell: str) -> str:
    """The two documented repairs of the source copy (data/survey/README.md)."""
    cell = re.sub(r"\s*\($", "", cell.strip())  # in-cell citation cut at its "("
    m = re.match(r"^(?P<p>.+?) (?P=p)(?P<rest>.*)$", cell)  # one cell repeats its phrase
    return m["p"] + m["rest"] if m else cell


def source_tables() -> dict[int, list[tuple[str, list[str]]]]:
    """{table: [(group, [5 printed cells]), ...]} parsed by position from the source copy."""
    out, table, group = {}, 0, None
    for line in (FIXTURES / "survey_tables_source.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("Summary of"):
            table += 1
            out[table] = []
        if not line.startswith("| ") or line.startswith("| Reference"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] in ("Offline distillation", "Online distillation"):
            group = cells[0]
            continue
        assert cells[-1] == "", "every data row ends with the empty cell left by the lost Reference column"
        out[table].append((group, [clean(c) for c in cells[:5]]))
    return out


SOURCE = source_tables()


def test_source_fixture_has_the_papers_row_counts():
    assert [len(SOURCE[1]), len(SOURCE[2])] == [14, 13]


@pytest.mark.parametrize("number", [1, 2])
def test_regenerated_table_matches_source_row_for_row(number):
    frame = tables.survey_table(number).frame
    assert len(frame) == len(SOURCE[number])
    for (group, cells), (_, row) in zip(SOURCE[number], frame.iterrows(), strict=True):
        assert row["Distillation"] == group
        assert [row[c] for c in PRINTED] == cells


def test_catalogue_has_27_rows_in_paper_order():
    frame = catalogue.load()
    assert len(frame) == 27
    assert frame["row_id"].tolist() == [f"T1-{i:02d}" for i in range(1, 15)] + [f"T2-{i:02d}" for i in range(1, 14)]
    assert (frame["source"] == "reported").all()


def test_table2_reference_column_matches_the_surveys_own():
    expected = [
        line for line in (FIXTURES / "survey_table2_references.txt").read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]  # fmt: skip
    shown = tables.survey_table(2).frame["Reference"].tolist()
    # kdsurvey tells apart two works that would read alike ('Li et al. (2019a)' / '(2019b)'); the survey does not
    assert [re.sub(r"\((\d{4})[a-z]\)$", r"(\1)", text) for text in shown] == expected
    assert sorted(t for t in shown if t not in expected) == [
        "Li et al. (2019b)",
        "Liu et al. (2019a)",
        "Wang et al. (2019b)",
    ]


def test_signed_numbers_follow_the_printed_markers():
    frame = catalogue.load().set_index("row_id")
    assert frame.loc["T1-03", "accuracy_reduction_pct"] == -2.369  # "(increase)"
    assert frame.loc["T2-06", "accuracy_reduction_pct"] == -6.191
    assert frame.loc["T2-01", "baseline_improvement_pct"] == -5.699  # "(decrease)"
    assert frame.loc["T2-05", "metric_kind"] == "mIoU"
    t102 = frame.loc["T1-02"]
    assert pd.isna(t102["baseline_improvement_pct"])
    assert (t102["baseline_improvement_low_pct"], t102["baseline_improvement_high_pct"]) == (1.0, 5.0)
    assert frame["dataset_truncated"].sum() == 3
    assert frame.loc[["T1-10", "T1-13", "T1-14"], "dataset_truncated"].all()
    # "–" is missing, never zero
    assert pd.isna(frame.loc["T1-01", "size_reduction_pct"])
    assert (frame[["accuracy_reduction_pct", "size_reduction_pct"]] != 0).all().all()


def test_attribution_counts_and_unidentified_rows_have_no_key():
    frame = catalogue.load()
    assert set(frame["attribution"]) <= {"confirmed", "attributed", "unidentified"}
    assert (frame.loc[frame["attribution"] == "unidentified", "reference"] == "").all()
    assert (frame.loc[frame["attribution"] != "unidentified", "reference"] != "").all()
    # Table 2 is confirmed by the survey's own reference column
    assert (frame.loc[frame["table"] == 2, "attribution"] == "confirmed").all()


@pytest.mark.parametrize("number", [1, 2])
def test_markdown_has_group_rows_in_paper_order(number):
    text = tables.survey_table(number).to_markdown()
    lines = [line for line in text.splitlines() if line.startswith("|")]
    firsts = [line.strip("|").split("|")[0].strip() for line in lines]
    offline, online = firsts.index("Offline distillation"), firsts.index("Online distillation")
    assert offline < online
    n_offline = sum(1 for group, _ in SOURCE[number] if group == "Offline distillation")
    assert online - offline - 1 == n_offline


@pytest.mark.parametrize("number", [1, 2])
def test_latex_is_booktabs_with_cites_and_escapes(number):
    table = tables.survey_table(number)
    latex = table.to_latex()
    for command in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabularx}", r"\caption{", r"\label{"):
        assert command in latex
    assert latex.count(r"\multicolumn") == 2
    keys = [k for k in catalogue.load().query("table == @number")["reference"] if k]
    for key in keys:
        assert rf"\cite{{{key}}}" in latex
    body = latex.split(r"\midrule", 1)[1].split(r"\bottomrule")[0]
    rows = [line for line in body.splitlines() if line.endswith(r"\\") and r"\multicolumn" not in line]
    assert len(rows) == len(SOURCE[number])
    width = table.frame.shape[1] - 1  # the group column becomes spanning rows
    assert all(row.count(" & ") == width - 1 for row in rows)
    assert "%" not in latex.replace(r"\%", "")
    assert latex.count("{") == latex.count("}")


@pytest.mark.parametrize("number", [1, 2])
def test_csv_round_trips(number):
    table = tables.survey_table(number)
    back = pd.read_csv(io.StringIO(table.to_csv()), dtype=str, keep_default_na=False)
    keys = back.pop("reference_key")  # the CSV names each reference by its BibTeX key too
    pd.testing.assert_frame_equal(back, table.frame.astype(str), check_dtype=False)
    rows = catalogue.load().query(f"table == {number}")
    assert sorted(keys) == sorted(rows["reference"])


def test_attribution_column_can_be_left_out():
    assert "Attribution" not in tables.survey_table(1, attribution=False).frame.columns
