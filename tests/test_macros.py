"""macros.tex: valid, unique macro names; values equal to the catalogue's; it compiles with pdflatex."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from kdsurvey import analysis, catalogue, macros, report, record, reproduced


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
            assert re.search(r"\} % (T\d-\d\d|R-[a-z_]+)[: ]", line) or "alpha of every metric" in line, line


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
    records = record.load()
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
    assert values[r"\kdsReproHintonKdStudentMean"] == "83.88"  # the README's headline figure


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
def test_macros_compile_and_expand_to_their_values(tmp_path, text):
    values = macros.parse(text)
    (tmp_path / "macros.tex").write_text(text, encoding="utf-8")
    shows = "\n".join(rf"\typeout{{KDS {name[1:]}=[{name}]}}" for name in values)
    doc = "\\documentclass{article}\n\\input{macros}\n\\begin{document}\n%s\nD = \\kdsMetricTabOneRowFour.\n\\end{document}\n"
    (tmp_path / "doc.tex").write_text(doc % shows, encoding="utf-8")
    result = subprocess.run(
        ("pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"),
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    expanded = dict(re.findall(r"^KDS (\w+)=\[([^\]]*)\]$", result.stdout, flags=re.M))
    assert {"\\" + k: v for k, v in expanded.items()} == values
