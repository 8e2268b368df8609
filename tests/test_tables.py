"""The comparison tables (metric, Pareto, stability, methods) and the renderer."""

from __future__ import annotations

import copy
import csv
import io
import re

import numpy as np
import pandas as pd
import pytest

from kdsurvey import catalogue, record, references, tables
from kdsurvey.errors import UsageError
from kdsurvey.metric import from_reductions


def test_metric_table_ranks_scored_rows_first():
    frame = tables.metric_table(catalogue.load(), alpha=0.5).frame  # the survey's rows only
    ranks = frame["Rank (α=0.5)"].tolist()
    assert ranks[:17] == [str(i) for i in range(1, 18)]
    assert ranks[17:] == ["–"] * 10
    assert frame.loc[0, "Row"] == "T1-11"
    assert frame["D(α=0.5)"].iloc[:17].is_monotonic_increasing


def test_metric_table_values_are_the_metric_of_each_row():
    cat = catalogue.results().set_index("row_id")  # reported and reproduced rows
    frame = tables.metric_table(alpha=0.3).frame.set_index("Row")
    assert set(frame.index) == set(cat.index)
    assert list(frame.columns).count("D(α=0.3)") == 1  # the ranking alpha is added to the defaults
    for alpha in (0.25, 0.3, 0.5, 0.75):
        expected = from_reductions(
            cat.loc[frame.index, "size_reduction_pct"], cat.loc[frame.index, "accuracy_reduction_pct"], alpha
        )
        assert np.allclose(frame[f"D(α={alpha:g})"], expected, equal_nan=True)


def test_metric_table_markdown_shows_dash_and_four_decimals():
    text = tables.metric_table().to_markdown()
    assert "| 0.1157 " in text  # T2-06 at alpha 0.5, worked in test_metric
    assert "nan" not in text.lower()


def test_metric_csv_keeps_full_precision_numbers():
    back = pd.read_csv(io.StringIO(tables.metric_table().to_csv()))
    row = back.set_index("Row").loc["T2-06"]
    assert row["D(α=0.5)"] == pytest.approx(0.5 * 0.2934 - 0.5 * 0.06191, abs=1e-12)
    assert pd.isna(back.set_index("Row").loc["T1-01", "D(α=0.5)"])


def test_metric_latex_uses_math_headers():
    latex = tables.metric_table().to_latex()
    assert r"$D_{0.5}$" in latex and r"$D_a$: the metric at $\alpha = a$" in latex and "α" not in latex


def test_methods_table_lists_every_method_with_a_reference():
    methods = catalogue.methods()
    frame = tables.methods_table().frame
    assert len(frame) == len(methods) >= 60
    assert frame["Reference"].str.match(r".+ \(\d{4}[a-z]?\)$").all()  # a, b, ... tell namesakes apart
    latex = tables.methods_table().to_latex()
    assert all(rf"\cite{{{k}}}" in latex for k in methods["reference"])


def test_named_methods_are_catalogued_with_their_classification():
    m = catalogue.methods().set_index("method_id")
    expected = {
        "hinton_kd": ("response", "offline"), "fitnets": ("feature", "offline"),
        "attention_transfer": ("feature", "offline"), "fsp": ("relation", "offline"),
        "rkd": ("relation", "offline"), "dml": ("response", "online"), "one": ("response", "online"),
        "okddip": ("response", "online"), "kdcl": ("response", "online"), "cs_kd": ("response", "self"),
        "takd": ("response", "offline"), "born_again": ("response", "offline"),
    }  # fmt: skip
    for method_id, (knowledge, strategy) in expected.items():
        assert (m.loc[method_id, "knowledge_type"], m.loc[method_id, "strategy"]) == (knowledge, strategy)
    for method_id in ("pkt", "jacobian_matching", "svd_kd", "darkrank", "cckd", "graph_kd", "byot", "ddgsd",
                      "multi_teacher", "distilbert", "mobilebert", "minilm"):  # fmt: skip
        assert method_id in m.index
    assert m.loc["multi_teacher", "topology"] == "many-to-one"
    assert m.loc["byot", "strategy"] == "self"


def test_stability_and_pareto_tables_render_in_every_format():
    for table in (tables.stability_table(), tables.pareto_table()):
        for fmt in ("markdown", "latex", "csv"):
            assert table.render(fmt).strip()
    assert tables.pareto_table().frame["Row"].tolist() == ["T1-11", "T2-06"]


def test_unknown_names_raise_usage_errors():
    with pytest.raises(UsageError, match="unknown table 'x'"):
        tables.get("x")
    with pytest.raises(UsageError, match="Tables 1 and 2"):
        tables.survey_table(3)
    with pytest.raises(UsageError, match="unknown format 'html'"):
        tables.metric_table().render("html")


def test_miou_rows_are_marked_where_results_are_compared():
    metric = tables.metric_table().frame.set_index("Row")
    assert metric.loc["T2-05", "Data"] == "PASCAL VOC (mIoU)"
    assert not metric.drop(index="T2-05")["Data"].str.contains("mIoU").any()


# -- what the CSV holds, and captions that match the rows -------------------------------------


def csv_cells(table) -> list[str]:
    return [cell for line in table.to_csv().splitlines()[1:] for cell in next(csv.reader([line]))]


@pytest.mark.parametrize("name", ["1", "2", "metric", "pareto", "stability", "methods", "reproduced"])
def test_csv_numbers_carry_no_float_noise(name):
    table = tables.get(name)
    numbers = [cell for cell in csv_cells(table) if re.fullmatch(r"-?\d+\.\d+(e-?\d+)?", cell)]
    digits = [len(re.sub(r"e.*|[-.]", "", cell).lstrip("0")) for cell in numbers]
    assert not digits or max(digits) <= table.csv_digits, [c for c, d in zip(numbers, digits) if d > table.csv_digits]


def test_csv_rounding_keeps_every_printed_digit():
    back = pd.read_csv(io.StringIO(tables.metric_table().to_csv())).set_index("Row")
    assert back.loc["T1-11", "Size ratio"] == 0.0056  # 1 - 99.44 / 100, written without its float noise
    assert back.loc["T1-11", "Accuracy ratio"] == 0.99393  # 1 - 0.607 / 100
    assert back.loc["T2-03", "D(α=0.25)"] == 0.0311675  # seven significant digits, all of them meant
    gains = pd.read_csv(io.StringIO(tables.reproduced_table().to_csv())).set_index("Row")["Gain (points)"]
    assert gains["R-hinton_kd-2"] == 0.2867  # accuracy points to 4 digits, not 0.28666666666667595


@pytest.mark.parametrize("name", ["1", "2", "metric", "pareto", "methods", "reproduced"])
def test_csv_names_each_reference_by_its_bibtex_key(name):
    back = pd.read_csv(io.StringIO(tables.get(name).to_csv()), dtype=str, keep_default_na=False)
    columns = list(back.columns)
    assert columns[columns.index("Reference") + 1] == "reference_key"
    bib = references.load()
    for text, key in zip(back["Reference"], back["reference_key"]):
        assert (text, key) == ("unidentified", "") if not key else text == bib.author_year(key)


def test_namesakes_get_a_b_suffixes_in_every_form():
    metric = tables.metric_table(catalogue.results(source="reported"))
    shown = dict(zip(metric.frame["Row"], metric.frame["Reference"]))
    assert shown["T2-07"] == "Li et al. (2019b)"  # li2019layer; li2019delta (a method) is Li et al. (2019a)
    assert "Li et al. (2019b)" in metric.to_markdown() and "Li et al. (2019b)" in metric.to_csv()
    assert "Li et al. (2019a)" in tables.methods_table().to_markdown()


@pytest.mark.parametrize(
    "source, words", [("reported", "surveyed"), ("reproduced", "reproduced"), ("all", "surveyed and reproduced")]
)
def test_captions_name_the_rows_the_tables_hold(source, words):
    frame = catalogue.results(source=source)
    scored = int(frame.dropna(subset=["size_reduction_pct", "accuracy_reduction_pct"]).shape[0])
    assert f"for every {words} result," in tables.metric_table(frame).caption
    assert f"Pareto front of the {words} results" in tables.pareto_table(frame).caption
    assert f"over the {scored} {words} results with a metric" in tables.stability_table(frame).caption
    if source == "reported":
        assert "reproduced" not in tables.metric_table(frame).caption


def test_survey_only_stability_is_notebook_twos():
    frame = tables.get("stability", source="reported").frame.set_index("Kendall tau")
    assert round(frame.loc["α=0", "α=1"], 3) == -0.096


def test_a_shared_teacher_shows_its_mean_without_an_interval():
    records = record.load()
    table = tables.reproduced_table(records)
    assert set(table.frame["Teacher (%)"]) == {"89.50", "98.84"}  # one teacher (teacher_seed) taught every seed
    assert "one network, trained once, that taught every seed" in table.caption
    separate = copy.deepcopy(records[:1])
    for seed, stage in separate[0]["stages"].items():
        stage["teacher"] = f"teacher-of-seed-{seed}"  # as when every seed trains its own teacher
    separate[0]["accuracy"]["teacher"] = [88.5, 89.0, 89.5, 89.0, 89.0]
    other = tables.reproduced_table(separate)
    assert other.frame.loc[0, "Teacher (%)"] == "89.00 ± 0.44"
    assert "trained once" not in other.caption
