"""macros.tex: valid, unique macro names; values equal to the catalogue's; it compiles with pdflatex."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess

import pytest

from kdsurvey import analysis, benchmarks, catalogue, macros, record, report, reproduced


@pytest.fixture(scope="module")
def text():
    return macros.build(0.5)


def test_names_are_valid_unique_control_words(text):
    names = re.findall(r"\\newcommand\{([^}]*)\}", text)
    assert len(names) == len(set(names)) > 100
    assert all(macros.NAME.match(n) for n in names), [n for n in names if not macros.NAME.match(n)]
    assert text.isascii()


def test_every_definition_has_a_comment_naming_its_row(text):
    for line in text.splitlines():
        if line.startswith(r"\newcommand"):
            row = re.search(
                r"\} % (T\d-\d\d|R-[a-z_]+(-\d+)?|[A-Z][A-Z0-9]*-\d\d+)[: ]", line
            )  # survey, repro, benchmark
            assert row or "alpha of every metric" in line, line


@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.8])
def test_metric_values_match_the_catalogue(alpha):
    values = macros.parse(macros.build(alpha))
    assert values[r"\kdsAlpha"] == f"{alpha:g}"
    frame = analysis.with_metric(catalogue.results(), (alpha,))
    column = analysis.metric_column(alpha)
    checked = 0
    for row in frame.to_dict("records"):
        name = rf"\kdsMetric{macros.row_stem(row['row_id'])}"
        if row[column] != row[column]:  # NaN: no metric, no macro
            assert name not in values
            continue
        assert float(values[name]) == pytest.approx(row[column], abs=5e-5)
        checked += 1
    assert checked == int(frame[column].notna().sum()) >= 20


def test_reproduced_values_match_the_records(text):
    values = macros.parse(text)
    records = [r for r in record.load() if r["dataset"] == "fashion-mnist-subset"]  # the suite: one row a method
    summary = reproduced.summary(records).set_index("method")
    assert len(records) == 13
    for rec in records:
        s, stem = summary.loc[rec["method"]], "\\kdsRepro" + macros.camel(rec["method"])
        assert float(values[stem + "StudentMean"]) == pytest.approx(s["student_mean"], abs=0.005)
        assert float(values[stem + "StudentLow"]) == pytest.approx(s["student_low"], abs=0.005)
        assert float(values[stem + "StudentHigh"]) == pytest.approx(s["student_high"], abs=0.005)
        assert float(values[stem + "BaselineMean"]) == pytest.approx(s["baseline_mean"], abs=0.005)
        assert float(values[stem + "Gain"]) == pytest.approx(s["gain"], abs=0.005)
        assert float(values[stem + "PValue"]) == pytest.approx(s["p_value"], abs=0.0005)
        assert stem + "TeacherLow" not in values  # one teacher for every seed: no interval pretended
    assert values[r"\kdsReproHintonKdStudentMean"] == "83.69"  # the README's headline figure


def test_names_are_spelled_out():
    assert macros.row_stem("T1-04") == "TabOneRowFour"
    assert macros.row_stem("T2-13") == "TabTwoRowThirteen"
    assert macros.row_stem("R-hinton_kd") == "ReproHintonKd"
    assert macros.row_stem("R-cs_kd-2") == "ReproCsKdTwo"
    assert [macros.spell(n) for n in (0, 20, 42, 100, 999)] == [
        "Zero", "Twenty", "FortyTwo", "OneHundred", "NineHundredNinetyNine"]  # fmt: skip
    with pytest.raises(ValueError, match="cannot spell 1000"):
        macros.spell(1000)
    with pytest.raises(macros.KdSurveyError, match="row id 'X-1' has no macro name"):
        macros.row_stem("X-1")
    assert macros.camel("mlp_1200_1200") == "MlpOneThousandTwoHundredOneThousandTwoHundred"
    row = {"row_id": "CRD20-03", "dataset": "cifar100", "method": "hinton_kd", "teacher_arch": "wrn_40_2",
           "student_arch": "wrn_16_2"}  # fmt: skip
    assert macros.bench_stem(row) == "BenchCRDTwentyCifarOneHundredHintonKdWrnFortyTwoWrnSixteenTwo"


def test_a_name_clash_is_an_error_not_a_silent_overwrite(data_copy):
    folder = data_copy / record.FOLDER
    rec = json.loads((folder / "cs_kd--fashion-mnist-subset--cnn_large--cnn_small.json").read_text(encoding="utf-8"))
    rec["method"], rec["run_id"] = "cs_kd2", "cs_kd2--x"  # R-cs_kd2 -> CsKdTwo, as R-cs_kd-2 would be
    (folder / "zz.json").write_text(json.dumps(rec), encoding="utf-8")
    rec["method"], rec["run_id"] = "cs_kd", "cs_kd--y"  # a second cs_kd record: R-cs_kd-2
    (folder / "zzz.json").write_text(json.dumps(rec), encoding="utf-8")
    with pytest.raises(macros.KdSurveyError, match=r"\\kdsMetricReproCsKdTwo would be defined twice"):
        macros.build(0.5, data_copy)


def test_report_writes_macros(tmp_path):
    out = report.write(tmp_path / "r", alpha=0.25)
    written = (out / "macros.tex").read_text(encoding="utf-8")
    assert written == macros.build(0.25)
    assert "macros.tex" in (out / "index.md").read_text(encoding="utf-8")


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("data", ["packaged", "with MNIST records"])
def test_macros_compile_and_expand_to_their_values(tmp_path, text, data, request):
    if data != "packaged":  # adds the reproduced macros of published rows (signed differences)
        text = macros.build(0.5, request.getfixturevalue("mnist_data"))
    values = macros.parse(text)
    (tmp_path / "macros.tex").write_text(text, encoding="utf-8")
    shows = "\n".join(rf"\typeout{{KDS {name[1:]}=[{name}]}}" for name in values)
    doc = "\\documentclass{article}\n\\input{macros}\n\\begin{document}\n%s\nD = \\kdsMetricTabOneRowFour.\n\\end{document}\n"
    (tmp_path / "doc.tex").write_text(doc % shows, encoding="utf-8")
    result = subprocess.run(
        ("pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"),
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env=os.environ | {"max_print_line": "100000"},  # TeX wraps its output at 79 columns; long names exceed it
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    expanded = dict(re.findall(r"^KDS (\w+)=\[([^\]]*)\]$", result.stdout, flags=re.M))
    assert {"\\" + k: v for k, v in expanded.items()} == values


# -- published results (data/benchmarks) and the reproduced records of their settings ----------

HVD15_03 = {"row_id": "HVD15-03", "dataset": "mnist", "method": "hinton_kd", "teacher_arch": "mlp_1200_1200",
            "student_arch": "mlp_800_800"}  # fmt: skip


def test_every_published_row_has_its_value_accuracy_and_metric(text):
    values = macros.parse(text)
    published = benchmarks.load()
    d = benchmarks.published_metric(published, 0.5)
    for index, row in published.iterrows():
        stem = "\\kds" + macros.bench_stem(row)
        assert values[stem + "Published"] == row["printed"].split()[0]  # '74 test errors' -> 74; '75.61' -> 75.61
        assert float(values[stem + "Published"]) == row["value"]
        assert float(values[stem + "Acc"]) == pytest.approx(row["accuracy_pct"], abs=0.005)
        if row["method"] == "teacher":
            assert stem + "Metric" not in values
        else:
            assert float(values[stem + "Metric"]) == pytest.approx(d[index], abs=5e-5)
        measured = [name for name in values if name.startswith(stem + "Repro")]
        assert bool(measured) == (row["reference"] == "hinton2015distilling")  # the shipped MNIST record only
    assert values["\\kds" + macros.bench_stem(HVD15_03) + "Acc"] == "99.26"  # 74 test errors out of 10,000


def _mnist_record(data, name: str, student: list[float], config_hash: str) -> None:
    """A copy of the shipped Hinton KD record moved to Hinton 2015's MNIST pair, with other accuracies."""
    folder = data / record.FOLDER
    shipped = folder / "hinton_kd--fashion-mnist-subset--cnn_large--cnn_small.json"
    rec = json.loads(shipped.read_text(encoding="utf-8"))
    seeds = list(range(len(student)))
    rec |= {"run_id": f"hinton_kd--mnist--mlp_1200_1200--mlp_800_800--{name}", "dataset": "mnist", "seeds": seeds,
            "config_hash": config_hash,
            "teacher": {"arch": "mlp_1200_1200", "parameters": 2_395_210},
            "student": {"arch": "mlp_800_800", "parameters": 1_276_810},
            "accuracy": {"teacher": [99.2] * len(seeds), "baseline": [98.4 + s / 10 for s in seeds],
                         "student": student}}  # fmt: skip
    (folder / f"{name}.json").write_text(json.dumps(rec), encoding="utf-8")


@pytest.fixture
def mnist_data(suite_data):
    """The default suite's records with two Hinton KD records on MNIST (3 seeds, then 1 seed): two measurements."""
    data_copy = suite_data
    _mnist_record(data_copy, "three", [99.10, 99.20, 99.15], "aaaa")
    _mnist_record(data_copy, "one", [99.05], "bbbb")
    return data_copy


def test_reproduced_measurements_of_a_published_row(mnist_data):
    values = macros.parse(macros.build(0.5, mnist_data))
    compared = benchmarks.compare(benchmarks.load(mnist_data), record.load(mnist_data))
    lines = compared[(compared["row_id"] == "HVD15-03") & (compared["seeds"] > 0)]
    assert list(lines["seeds"]) == [1, 3]  # file order: one.json is ...Repro, three.json ...ReproTwo
    stem = "\\kds" + macros.bench_stem(HVD15_03)
    three = lines.iloc[1]
    assert float(values[stem + "ReproTwoMean"]) == pytest.approx(three["reproduced_mean"], abs=0.005)
    assert values[stem + "ReproTwoMean"] == "99.15"
    assert float(values[stem + "ReproTwoLow"]) == pytest.approx(three["reproduced_low"], abs=0.005)
    assert float(values[stem + "ReproTwoHigh"]) == pytest.approx(three["reproduced_high"], abs=0.005)
    assert values[stem + "ReproTwoDiff"] == "-0.11"  # 99.15 - 99.26
    assert values[stem + "ReproMean"] == "99.05" and values[stem + "ReproDiff"] == "-0.21"
    assert stem + "ReproLow" not in values  # one seed: no interval pretended
    assert values[stem.replace("HintonKd", "Baseline") + "ReproTwoMean"] == "98.50"
    assert not [name for name in values if name.startswith("\\kdsBenchCRD") and "Repro" in name]


def test_reproduced_benchmark_comments_name_row_source_and_runs(mnist_data):
    text = macros.build(0.5, mnist_data)
    line = next(x for x in text.splitlines() if "HintonKd" in x and "ReproTwoMean" in x)
    assert "% HVD15-03: hinton2015distilling, Section 3, Preliminary experiments on MNIST; mnist" in line
    assert "reproduced over 3 seeds by hinton_kd--mnist--mlp_1200_1200--mlp_800_800--three: mean" in line
