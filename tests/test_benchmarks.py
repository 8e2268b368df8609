"""Published results (data/benchmarks/): the data, its validation, and the table that joins it to records."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from kdsurvey import benchmarks, tables
from kdsurvey.cli import main
from kdsurvey.errors import CatalogueError, DataNotFoundError
from kdsurvey.paths import ENV_VAR

ROOT = Path(__file__).resolve().parents[1]
PAIRS = [
    ("wrn_40_2", "wrn_16_2"), ("wrn_40_2", "wrn_40_1"), ("resnet56", "resnet20"), ("resnet110", "resnet20"),
    ("resnet110", "resnet32"), ("resnet32x4", "resnet8x4"), ("vgg13", "vgg8"),
]  # fmt: skip
RD_METHODS = [
    "teacher",
    "baseline",
    "hinton_kd",
    "fitnets",
    "attention_transfer",
    "similarity_preserving",
    "rkd",
    "pkt",
]
HINTON = ("mnist", "mlp_1200_1200", "mlp_800_800")


@pytest.fixture(autouse=True)
def _no_data_override(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def published():
    return benchmarks.load()


# -- the shipped data -------------------------------------------------------------------------


def test_the_data_loads_with_every_source_and_pair(published):
    assert published["row_id"].is_unique
    hinton = published[published["reference"] == "hinton2015distilling"]
    assert hinton["method"].tolist() == ["teacher", "baseline", "hinton_kd"]
    assert hinton["value"].tolist() == [67, 146, 74]
    assert hinton["accuracy_pct"].tolist() == pytest.approx([99.33, 98.54, 99.26])
    assert set(zip(hinton["dataset"], hinton["teacher_arch"], hinton["student_arch"])) == {HINTON}
    crd = published[published["reference"] == "tian2020contrastive"]
    assert (crd["dataset"] == "cifar100").all() and (crd["metric"] == "top1_pct").all()
    for teacher, student in PAIRS:
        pair = crd[(crd["teacher_arch"] == teacher) & (crd["student_arch"] == student)]
        assert pair["method"].tolist() == RD_METHODS, (teacher, student)
    assert len(published) == 3 + 8 * len(PAIRS)


def test_figures_confirmed_from_the_repdistiller_readme(published):
    """Spot checks against the README's table 1, one per row kind, typed in again from the README."""
    crd = published.set_index(["teacher_arch", "student_arch", "method"])["value"]
    assert crd[("resnet32x4", "resnet8x4", "teacher")] == 79.42
    assert crd[("resnet32x4", "resnet8x4", "baseline")] == 72.50
    assert crd[("resnet32x4", "resnet8x4", "hinton_kd")] == 73.33
    assert crd[("vgg13", "vgg8", "pkt")] == 72.88
    assert crd[("resnet110", "resnet20", "fitnets")] == 68.99
    assert crd[("wrn_40_2", "wrn_40_1", "rkd")] == 72.22


def test_each_published_value_equals_its_printed_text(published):
    for value, printed in zip(published["value"], published["printed"]):
        numbers = re.findall(r"\d+(?:\.\d+)?", printed)
        assert len(numbers) == 1 and float(numbers[0]) == value, (value, printed)


def test_conventions_say_what_the_sources_say(published):
    by_source = published.groupby("reference")["convention"].unique()
    assert list(by_source["tian2020contrastive"]) == ["last epoch; runs not stated"]
    assert list(by_source["hinton2015distilling"]) == ["epoch not stated; runs not stated"]
    assert published["confirmed_at"].str.len().gt(20).all()


def test_every_named_architecture_has_a_parameter_count(published):
    arch = benchmarks.architectures()
    named = set(zip(published["teacher_arch"], published["dataset"])) | set(
        zip(published["student_arch"], published["dataset"])
    )
    assert named == set(zip(arch["arch"], arch["dataset"]))
    assert (published["teacher_parameters"] > published["student_parameters"]).all()


def test_arithmetic_parameter_counts():
    """The counts kdsurvey cannot build, recomputed layer by layer from their definitions."""
    counts = benchmarks.architectures().set_index("arch")["parameters"]

    def mlp(*widths):
        return sum(a * b + b for a, b in zip(widths, widths[1:]))

    def vgg_bn(stages, classes=100):  # 3x3 conv with bias, BatchNorm scale and shift, then linear 512 -> classes
        convs, c_in, total = [c for stage in stages for c in stage], 3, 0
        for c in convs:
            total, c_in = total + 9 * c_in * c + c + 2 * c, c
        return total + 512 * classes + classes

    assert counts["mlp_1200_1200"] == mlp(784, 1200, 1200, 10) == 2_395_210
    assert counts["mlp_800_800"] == mlp(784, 800, 800, 10) == 1_276_810
    assert counts["vgg8"] == vgg_bn([[64], [128], [256], [512], [512]])
    assert counts["vgg13"] == vgg_bn([[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]])


def test_registered_parameter_counts_are_kdsurveys_own():
    pytest.importorskip("torch")
    from kdsurvey.distill import models

    arch = benchmarks.architectures()
    registered = arch[arch["registered"] == "yes"]
    assert len(registered) == 11
    for row in registered.itertuples():
        channels = 1 if row.dataset in ("mnist", "fashion-mnist") else 3
        assert models.parameter_count(models.build(row.arch, row.classes, channels)) == row.parameters, row.arch
    assert not set(arch.loc[arch["registered"] == "no", "arch"]) & set(models.names())


def test_method_names_are_the_reproduced_techniques():
    pytest.importorskip("torch")
    from kdsurvey.distill import methods

    assert set(benchmarks.METHODS) == set(methods.names()) - {"ce"}


def test_published_metric_uses_the_sources_teacher(published):
    d = benchmarks.published_metric(published, alpha=0.5)
    row = published.index[published["row_id"] == "HVD15-03"][0]
    expected = 0.5 * 1_276_810 / 2_395_210 + 0.5 * (1 - 99.26 / 99.33)
    assert d[row] == pytest.approx(expected, rel=1e-12)
    assert d[published["method"] == "teacher"].isna().all()
    assert d[published["method"] != "teacher"].notna().all()


def test_readme_documents_every_column():
    readme = (ROOT / "data" / "benchmarks" / "README.md").read_text(encoding="utf-8")
    for column in (*benchmarks.RESULT_COLUMNS, *benchmarks.ARCH_COLUMNS):
        assert f"| `{column}` |" in readme, column


# -- bad rows: one clear error each -----------------------------------------------------------


def _edit(path: Path, row_id: str | None, column: str, value: str) -> int:
    """Set one cell (row_id None: the first data row) and return the line it is on."""
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header = rows[0]
    index = 1 if row_id is None else next(i for i, r in enumerate(rows) if r[0] == row_id)
    rows[index][header.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")
    return index + 1


BAD_RESULTS = [
    ("unknown-method", "CRD20-03", "method", "crd", "'crd' is neither teacher, baseline nor a method"),
    ("unknown-arch", "CRD20-03", "student_arch", "resnet18", "unknown architecture 'resnet18' for cifar100"),
    ("arch-of-other-dataset", "HVD15-01", "teacher_arch", "resnet20", "unknown architecture 'resnet20' for mnist"),
    ("accuracy-above-100", "CRD20-03", "value", "101", "out of range"),
    ("accuracy-zero", "CRD20-03", "value", "0", "out of range"),
    ("too-many-errors", "HVD15-01", "value", "10001", "not a count of test errors between 0 and 10000"),
    ("fractional-errors", "HVD15-01", "value", "67.5", "not a count of test errors"),
    ("value-not-printed", "CRD20-03", "value", "74.29", "does not match the printed '74.92'"),
    ("printed-malformed", "HVD15-01", "printed", "67", "is not '<n> test errors' or '<n> errors'"),
    ("value-not-a-number", "CRD20-03", "value", "n/a", "'n/a' is not a number"),
    (
        "missing-bibtex-key",
        "CRD20-03",
        "reference",
        "tian2099nothing",
        "key 'tian2099nothing' is not in references.bib",
    ),
    ("unknown-dataset", "CRD20-03", "dataset", "imagenet", "'imagenet' is not one of"),
    ("unknown-metric", "CRD20-03", "metric", "top5_pct", "'top5_pct' is not one of top1_pct, test_errors"),
    ("bad-convention", "CRD20-03", "convention", "last epoch", "is not '<epoch>; <runs>'"),
    ("mean-of-one-run", "CRD20-03", "convention", "best epoch; mean of 1 runs", "needs at least 2 runs"),
    ("bad-row-id", "CRD20-03", "row_id", "crd-3", "is not of the form <SOURCE>-<number>"),
    ("duplicate-row-id", "CRD20-04", "row_id", "CRD20-03", "duplicate row id 'CRD20-03' (first on line 7)"),
    ("duplicate-setting", "CRD20-04", "method", "hinton_kd", "the same source, data set, pair and method as line 7"),
    ("empty-confirmation", "CRD20-03", "confirmed_at", "", "must not be empty"),
    ("padded-cell", "CRD20-03", "printed", " 74.92", "has leading or trailing spaces"),
]


@pytest.mark.parametrize(("row_id", "column", "value", "message"), [b[1:] for b in BAD_RESULTS],
                         ids=[b[0] for b in BAD_RESULTS])  # fmt: skip
def test_a_bad_result_row_is_one_error_naming_file_line_and_column(data_copy, row_id, column, value, message):
    path = data_copy / "benchmarks" / "results.csv"
    line = _edit(path, row_id, column, value)
    with pytest.raises(CatalogueError) as info:
        benchmarks.load(data_copy)
    assert len(info.value.problems) == 1, info.value.details()
    assert str(info.value).startswith(f"{path}, line {line}, column '{column}': ")
    assert message in str(info.value)


BAD_ARCHS = [
    ("wrong-classes", "resnet20", "classes", "10", "cifar100 has 100 classes, not 10"),
    ("parameters-not-a-count", "resnet20", "parameters", "2.7e5", "'2.7e5' is not a positive whole number"),
    ("zero-parameters", "vgg8", "parameters", "0", "'0' is not a positive whole number"),
    ("registered-not-yes-no", "vgg8", "registered", "maybe", "'maybe' is not yes or no"),
    ("arch-not-a-name", "vgg8", "arch", "VGG-8", "must be a lowercase name"),
]


@pytest.mark.parametrize(("arch", "column", "value", "message"), [b[1:] for b in BAD_ARCHS],
                         ids=[b[0] for b in BAD_ARCHS])  # fmt: skip
def test_a_bad_architecture_row_is_named(data_copy, arch, column, value, message):
    path = data_copy / "benchmarks" / "architectures.csv"
    line = _edit(path, arch, column, value)
    with pytest.raises(CatalogueError) as info:
        benchmarks.architectures(data_copy)
    assert len(info.value.problems) == 1, info.value.details()
    assert str(info.value).startswith(f"{path}, line {line}, column '{column}': ")
    assert message in str(info.value)


def test_results_refer_to_architectures_that_exist(data_copy):
    """Renaming an architecture breaks every result that names it: each such line is reported."""
    _edit(data_copy / "benchmarks" / "architectures.csv", "vgg8", "arch", "vgg8_bn")
    with pytest.raises(CatalogueError) as info:
        benchmarks.load(data_copy)
    lines = [p for p in info.value.problems if p[2] == "student_arch"]
    assert len(lines) == len(RD_METHODS) and all("unknown architecture 'vgg8'" in p[3] for p in lines)


def test_a_missing_benchmark_file_is_named(data_copy):
    (data_copy / "benchmarks" / "results.csv").unlink()
    with pytest.raises(DataNotFoundError, match="results.csv"):
        benchmarks.load(data_copy)


def test_cli_reports_a_bad_row_in_one_line_before_printing(data_copy, capsys):
    _edit(data_copy / "benchmarks" / "results.csv", "CRD20-03", "method", "crd")
    assert main(["--data", str(data_copy), "tables", "--table", "benchmark"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("kdsurvey: error: ") and "column 'method'" in err


# -- published beside reproduced --------------------------------------------------------------


def _record(method: str, teacher: list[float], baseline: list[float], student: list[float]) -> dict:
    run_id = f"{method}--mnist--mlp_1200_1200--mlp_800_800"
    return {
        "format": "kdsurvey-result/1", "run_id": run_id, "method": method, "title": method, "knowledge": "response",
        "strategy": "offline", "reference": "hinton2015distilling", "dataset": "mnist",
        "teacher": {"arch": "mlp_1200_1200", "parameters": 2_395_210},
        "student": {"arch": "mlp_800_800", "parameters": 1_276_810},
        "seeds": [0, 1, 2], "accuracy": {"teacher": teacher, "baseline": baseline, "student": student},
        "epochs": 3, "recipe": {"epochs": 3}, "config_hash": f"{method}-test", "device": "cpu", "torch": "test",
        "wall_time_s": 1.0,
    }  # fmt: skip


@pytest.fixture
def with_records(suite_data) -> Path:
    """The default suite's records plus two synthetic MNIST records that share one teacher."""
    data_copy = suite_data
    teacher = [99.30, 99.35, 99.32]
    records = {
        "hinton_kd": _record("hinton_kd", teacher, [98.70, 98.80, 98.75], [99.20, 99.25, 99.30]),
        "fitnets": _record("fitnets", teacher, [98.70, 98.80, 98.75], [99.00, 99.10, 99.05]),
    }
    for name, rec in records.items():
        (data_copy / "reproduced" / f"{name}-mnist.json").write_text(json.dumps(rec), encoding="utf-8")
    return data_copy


def _interval(values):
    a = np.asarray(values)
    half = scipy_stats.t.ppf(0.975, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size)
    return a.mean(), a.mean() - half, a.mean() + half


def test_compare_joins_records_to_their_published_rows(with_records):
    from kdsurvey import record

    rows = benchmarks.compare(benchmarks.load(with_records), record.load(with_records))
    hinton = rows[rows["reference"] == "hinton2015distilling"].set_index("method")
    assert list(hinton.index) == ["teacher", "baseline", "hinton_kd"]  # one shared teacher, one baseline: no repeats

    mean, low, high = _interval([99.20, 99.25, 99.30])
    student = hinton.loc["hinton_kd"]
    assert student["runs"] == "hinton_kd--mnist--mlp_1200_1200--mlp_800_800"
    assert (student["seeds"], student["reproduced_mean"]) == (3, pytest.approx(mean))
    assert (student["reproduced_low"], student["reproduced_high"]) == (pytest.approx(low), pytest.approx(high))
    assert student["difference"] == pytest.approx(99.25 - 99.26)
    assert student["inside"] is True

    mean, low, high = _interval([98.70, 98.80, 98.75])
    baseline = hinton.loc["baseline"]
    assert baseline["difference"] == pytest.approx(98.75 - 98.54)
    assert low > 98.54 and baseline["inside"] is False
    assert hinton.loc["teacher"]["runs"].split(", ") == [
        "fitnets--mnist--mlp_1200_1200--mlp_800_800", "hinton_kd--mnist--mlp_1200_1200--mlp_800_800",
    ]  # fmt: skip
    assert hinton.loc["teacher"]["inside"] is True  # 99.33 in [99.26, 99.39]

    crd = rows[rows["reference"] == "tian2020contrastive"]
    assert (crd["seeds"] == 0).all() and crd["inside"].isna().all() and crd["difference"].isna().all()


def test_a_single_seed_has_no_interval(suite_data):
    data_copy = suite_data
    from kdsurvey import record

    rec = _record("hinton_kd", [99.3], [98.6], [99.2]) | {"seeds": [0]}
    (data_copy / "reproduced" / "one-seed.json").write_text(json.dumps(rec), encoding="utf-8")
    rows = benchmarks.compare(benchmarks.load(data_copy), record.load(data_copy))
    line = rows[rows["row_id"] == "HVD15-03"].iloc[0]
    assert line["seeds"] == 1 and math.isnan(line["reproduced_low"]) and line["inside"] is None
    assert line["difference"] == pytest.approx(99.2 - 99.26)


def test_one_teacher_for_every_seed_has_no_interval(suite_data):
    data_copy = suite_data
    """A teacher trained once that taught every seed holds one value three times: no zero-width interval."""
    from kdsurvey import record

    rec = _record("hinton_kd", [99.1] * 3, [98.5, 98.6, 98.7], [99.0, 99.1, 99.2])
    (data_copy / "reproduced" / "shared-teacher.json").write_text(json.dumps(rec), encoding="utf-8")
    rows = benchmarks.compare(benchmarks.load(data_copy), record.load(data_copy)).set_index("row_id")
    teacher = rows.loc["HVD15-01"]
    assert teacher["seeds"] == 3 and teacher["reproduced_mean"] == pytest.approx(99.1)
    assert math.isnan(teacher["reproduced_low"]) and math.isnan(teacher["reproduced_high"])
    assert teacher["inside"] is None and teacher["difference"] == pytest.approx(99.1 - 99.33)
    assert rows.loc["HVD15-03", "inside"] is not None  # the students' seeds differ: an interval


def test_benchmark_table_prints_published_beside_reproduced(with_records):
    table = tables.get("benchmark", data=with_records)
    markdown = table.render("markdown")
    line = next(x for x in markdown.splitlines() if x.startswith("| HVD15-03"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    header = [c.strip() for c in markdown.splitlines()[0].strip("|").split("|")]
    cell = dict(zip(header, cells))
    assert cell["Published"] == "74 test errors" and cell["Published (%)"] == "99.26"
    assert cell["D(α=0.5)"] == f"{0.5 * 1_276_810 / 2_395_210 + 0.5 * (1 - 99.26 / 99.33):.4f}"
    assert (cell["Seeds"], cell["Reproduced (%)"], cell["95% CI"]) == ("3", "99.25", "[99.13, 99.37]")
    assert (cell["Difference (points)"], cell["In CI"]) == ("-0.01", "yes")
    baseline = next(x for x in markdown.splitlines() if x.startswith("| HVD15-02"))
    assert "| +0.21 " in baseline and "| no " in baseline
    latex = table.render("latex")
    assert r"\cite{hinton2015distilling}" in latex and r"$D_{\alpha=0.5}$" in latex


def test_cli_prints_the_benchmark_table_in_every_format(capsys):
    published = benchmarks.load()
    for fmt in ("markdown", "latex", "csv"):
        assert main(["tables", "--table", "benchmark", "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert all(row_id in out for row_id in published["row_id"]), fmt
    assert main(["tables", "--table", "benchmark", "--format", "csv", "--alpha", "0.25"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) >= len(published)
    assert "D(α=0.25)" in rows[0]


def test_benchmark_table_by_source(with_records, tmp_path, capsys):
    """reported: every published row, no reproduced column; reproduced: only the rows a record measures."""
    alone = tables.get("benchmark", data=with_records, source="reported").frame
    assert len(alone) == len(benchmarks.load()) and "Reproduced (%)" not in alone.columns
    measured = tables.get("benchmark", data=with_records, source="reproduced")
    assert list(measured.frame["Row"]) == ["HVD15-01", "HVD15-02", "HVD15-03"]
    assert measured.caption.startswith("The published results that reproduced records measure, beside them (3 ")
    bare = shutil.copytree(with_records, tmp_path / "bare")
    shutil.rmtree(bare / "reproduced")  # no record at all: nothing measured
    assert main(["tables", "--table", "benchmark", "--source", "reproduced", "--data", str(bare)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("kdsurvey: error: no reproduced record measures a published setting")
