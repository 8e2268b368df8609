"""The `kdsurvey` command end to end, in-process through `kdsurvey.cli.main` (one subprocess test
proves `python -m kdsurvey` works).

Bad input must give exit code 2 and exactly one line on stderr, never a traceback; output folders
are written whole or not at all.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import bibtexparser
import pytest

import kdsurvey
from kdsurvey import benchmarks, catalogue, references, tables
from kdsurvey.cli import main
from kdsurvey.outputs import MARKER
from kdsurvey.paths import ENV_VAR

SUBCOMMANDS = ("tables", "metric", "plots", "cite", "report")
TABLES = ("1", "2", "metric", "methods", "stability", "pareto")
REPORT_TABLES = {"table1": "1", "table2": "2", "metric": "metric", "pareto": "pareto", "stability": "stability",
                 "methods": "methods", "reproduced": "reproduced", "benchmark": "benchmark"}  # fmt: skip
FORMATS = {"markdown": "md", "latex": "tex", "csv": "csv"}
FIGURES = ("tradeoff", "alpha_sensitivity")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _no_data_override(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def run(capsys, *argv) -> tuple[int, str, str]:
    """main(argv) in-process: (exit code, stdout, stderr). argparse exits by SystemExit."""
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return rc, out, err


def check_usage_error(rc: int, out: str, err: str) -> str:
    """Exit code 2, nothing on stdout, one line on stderr starting with 'kdsurvey'; returns that line."""
    assert rc == 2, (rc, err)
    assert out == ""
    assert "Traceback" not in err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("kdsurvey"), err
    return err.rstrip("\n")


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (dot files too) with its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bib_keys(text: str) -> list[str]:
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks, [b.raw for b in library.failed_blocks]
    return [entry.key for entry in library.entries]


def break_csv_quoting(path: Path, key: str) -> int:
    """Put text after a closing quote on the line of `key`; return that line."""
    lines = path.read_text(encoding="utf-8").split("\n")
    i = next(i for i, line in enumerate(lines) if line.startswith(key + ","))
    lines[i] = f'"{key}"x' + lines[i][len(key) :]
    path.write_text("\n".join(lines), encoding="utf-8")
    return i + 1


# -- help and version -------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["-h"]] + [[c, "--help"] for c in SUBCOMMANDS], ids=lambda a: " ".join(a))
def test_help_exits_0(capsys, argv):
    rc, out, err = run(capsys, *argv)
    assert rc == 0 and err == ""
    assert out.startswith("usage: kdsurvey")
    if argv[0] in SUBCOMMANDS:
        assert out.startswith(f"usage: kdsurvey {argv[0]}")
    else:
        assert all(c in out for c in SUBCOMMANDS)


def test_version(capsys):
    rc, out, err = run(capsys, "--version")
    assert (rc, out, err) == (0, f"kdsurvey {kdsurvey.__version__}\n", "")


# -- tables -----------------------------------------------------------------------------------


def test_tables_default_is_tables_1_2_and_metric(capsys):
    rc, out, err = run(capsys, "tables")
    assert rc == 0 and err == ""
    parts = [run(capsys, "tables", "--table", t)[1] for t in ("1", "2", "metric")]
    assert out == "\n".join(parts)
    assert out.count("| Targeted architecture") == 2  # the two survey tables
    assert "Fukuda et al. (2017)" in out and "Lopes, Fenu & Starner (2017)" in out
    assert "D(α=0.5)" in out and "Rank (α=0.5)" in out


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("table", TABLES + ("all",))
def test_every_table_in_every_format(capsys, table, fmt):
    rc, out, err = run(capsys, "tables", "--table", table, "--format", fmt)
    if table == "all" and fmt == "csv":
        assert "--format csv prints one table" in check_usage_error(rc, out, err)
        return
    assert rc == 0 and err == "" and out.strip()
    if fmt == "markdown":
        assert out.splitlines()[1].startswith("|:")
    elif fmt == "latex":
        assert out.count(r"\label{") == (3 if table == "all" else 1)  # one label per table, however many floats
        assert out.count(r"\begin{table") == out.count(r"\end{table")
        assert r"\toprule" in out and r"\bottomrule" in out
    else:
        rows = list(csv.reader(io.StringIO(out)))
        assert len({len(r) for r in rows}) == 1
        records = len(catalogue.results(source="reproduced"))
        expected = {"1": 14, "2": 13, "metric": 27 + records, "methods": 66, "stability": 5, "reproduced": records}
        if table in expected:
            assert len(rows) == expected[table] + 1


def test_tables_alpha_ranks_the_metric_table(capsys):
    rc, out, _ = run(capsys, "tables", "--table", "metric", "--alpha", "0.25", "--format", "csv")
    assert rc == 0
    assert "Rank (α=0.25)" in out.splitlines()[0]


# -- metric -----------------------------------------------------------------------------------


def test_metric_ranks_at_alpha(capsys):
    rc, out, err = run(capsys, "metric", "--alpha", "0.25", "--format", "csv", "--source", "reported")
    assert rc == 0 and err == ""
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 27
    frame = catalogue.load().set_index("row_id")
    ranked = [r for r in rows if r["Rank (α=0.25)"] != "–"]
    assert [int(r["Rank (α=0.25)"]) for r in ranked] == list(range(1, len(ranked) + 1))
    assert all(r["D(α=0.25)"] == "" for r in rows[len(ranked) :])  # unscored rows come last
    for r in ranked:  # the survey's columns by hand: 0.25 * size ratio + 0.75 * accuracy reduction
        row = frame.loc[r["Row"]]
        hand = 0.25 * (1 - row["size_reduction_pct"] / 100) + 0.75 * row["accuracy_reduction_pct"] / 100
        assert float(r["D(α=0.25)"]) == pytest.approx(hand, abs=1e-12)
    values = [float(r["D(α=0.25)"]) for r in ranked]
    assert values == sorted(values)
    assert len(ranked) == int((frame["size_reduction_pct"].notna() & frame["accuracy_reduction_pct"].notna()).sum())


def test_metric_markdown_header_names_alpha(capsys):
    rc, out, _ = run(capsys, "metric", "--alpha", "0.25")
    assert rc == 0 and "Rank (α=0.25)" in out.splitlines()[0]


@pytest.mark.parametrize(
    "alpha, expected",
    [("0.5", "D(alpha=0.5) = 0.175000\n"), ("0", "D(alpha=0) = 0.100000\n"), ("1", "D(alpha=1) = 0.250000\n")],
)
def test_metric_of_one_student(capsys, alpha, expected):
    # size ratio 1/4 = 0.25, accuracy term 1 - 90/100 = 0.1; at alpha 0.5: 0.125 + 0.05 = 0.175
    args = ("metric", "--student-size", "1", "--teacher-size", "4", "--student-acc", "90", "--teacher-acc", "100")
    rc, out, err = run(capsys, *args, "--alpha", alpha)
    assert (rc, out, err) == (0, expected, "")


def test_metric_of_one_student_in_fractions(capsys):
    rc, out, _ = run(capsys, "metric", "--student-size", "2", "--teacher-size", "8",
                     "--student-acc", "0.9", "--teacher-acc", "1")  # fmt: skip
    assert (rc, out) == (0, "D(alpha=0.5) = 0.175000\n")


# -- bad input: exit 2, one line, no traceback ------------------------------------------------

RAW = ("--student-size", "1", "--teacher-size", "4", "--student-acc", "90", "--teacher-acc", "100")
BAD = {
    "alpha 1.5": (["metric", "--alpha", "1.5"], "alpha must lie in [0, 1]"),
    "alpha -0.1": (["metric", "--alpha", "-0.1"], "alpha must lie in [0, 1]"),
    "alpha abc": (["metric", "--alpha", "abc"], "'abc'"),
    "alpha nan": (["metric", "--alpha", "nan"], "alpha must lie in [0, 1]"),
    "tables alpha": (["tables", "--alpha", "2"], "alpha must lie in [0, 1]"),
    "report alpha": (["report", "--alpha", "-1", "--out", "unused"], "alpha must lie in [0, 1]"),
    "plots alpha": (["plots", "--alpha", "1.5", "--out", "unused"], "alpha must lie in [0, 1]"),
    "unknown table": (["tables", "--table", "3"], "invalid choice: '3'"),
    "unknown format": (["tables", "--format", "html"], "invalid choice: 'html'"),
    "metric unknown format": (["metric", "--format", "json"], "invalid choice: 'json'"),
    "unknown subcommand": (["frobnicate"], "invalid choice: 'frobnicate'"),
    "no subcommand": ([], "required: COMMAND"),
    "unknown option": (["tables", "--colour"], "unrecognized arguments: --colour"),
    "plots without out": (["plots"], "required: --out"),
    "one raw number": (["metric", "--student-size", "1"], "give all four"),
    "three raw numbers": (["metric", *RAW[:6]], "give all four"),
    "raw number not a number": (["metric", *RAW[:7], "lots"], "expected a finite number, got 'lots'"),
    "raw number nan": (["metric", *RAW[:7], "nan"], "expected a finite number, got 'nan'"),
    "negative size": (["metric", "--student-size", "-1", *RAW[2:]], "student_size must be positive, got -1"),
    "zero teacher size": (["metric", *RAW[:2], "--teacher-size", "0", *RAW[4:]], "teacher_size must be positive"),
    "mixed units": (
        ["metric", *RAW[:4], "--student-acc", "0.9", "--teacher-acc", "95"],
        "mix of percent and fractions",
    ),
    "accuracy over 100": (["metric", *RAW[:6], "--teacher-acc", "101"], "accuracies must be percentages"),
    "unknown cite key": (["cite", "hinton2015distiling"], "did you mean hinton2015distilling"),
    "unknown cite key among good": (
        ["cite", "fukuda2017efficient", "nobody2099"],
        "unknown reference key 'nobody2099'",
    ),
    "cite keys and table": (["cite", "hinton2015distilling", "--table", "1"], "not both"),
    "cite nothing": (["cite"], "give one or more reference keys"),
    "cite unknown table": (["cite", "--table", "metric"], "invalid choice: 'metric'"),
    "csv of all": (["tables", "--format", "csv"], "--format csv prints one table"),
}


@pytest.mark.parametrize("argv, fragment", list(BAD.values()), ids=list(BAD))
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, fragment):
    monkeypatch.chdir(tmp_path)  # "unused" --out folders would land here; none may be created
    line = check_usage_error(*run(capsys, *argv))
    assert fragment in line
    assert list(tmp_path.iterdir()) == []


def test_kdsurvey_data_not_a_folder(capsys, tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "file"))
    line = check_usage_error(*run(capsys, "tables", "--table", "1"))
    assert f"{ENV_VAR}={tmp_path / 'file'} is not a folder" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["tables"],
        ["tables", "--table", "pareto"],
        ["metric"],
        ["cite", "--table", "2"],
        ["plots", "--out", "OUT"],
        ["report", "--out", "OUT"],
    ],  # fmt: skip
    ids=lambda a: " ".join(a),
)
def test_data_with_malformed_csv_names_the_file(capsys, data_copy, tmp_path, argv):
    path = data_copy / "survey" / "table2.csv"
    line = break_csv_quoting(path, "T2-04")
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    message = check_usage_error(*run(capsys, "--data", data_copy, *argv))
    assert message.startswith(f"kdsurvey: error: {path}, line {line}: malformed CSV")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [["tables", "--table", "methods"], ["cite", "--table", "methods"]], ids=" ".join)
def test_data_with_bad_methods_row_names_file_line_column(capsys, data_copy, argv):
    path = data_copy / "methods.csv"
    text = path.read_text(encoding="utf-8").replace("\nfitnets,FitNets (hint learning),feature,offline,",
                                                    "\nfitnets,FitNets (hint learning),feature,hybrid,")  # fmt: skip
    path.write_text(text, encoding="utf-8")
    message = check_usage_error(*run(capsys, "--data", data_copy, *argv))
    assert message.startswith(f"kdsurvey: error: {path}, line 3, column 'strategy': 'hybrid' is not one of")


def test_data_with_malformed_bib_is_one_line(capsys, data_copy):
    """bibtexparser logs malformed blocks; with no logging configured that must not reach stderr."""
    bib = data_copy / "references.bib"
    text = bib.read_text(encoding="utf-8")
    line = text.count("\n") + 2
    bib.write_text(text + "\n@article{broken2020entry\n  author = {A, B},\n  title = {T},\n  year = {2020}\n}\n",
                   encoding="utf-8")  # fmt: skip
    pytest_handlers = logging.root.handlers[:]
    logging.root.handlers.clear()  # as in a plain `kdsurvey` run, where logging's last resort writes to stderr
    try:
        result = run(capsys, "--data", data_copy, "cite", "fukuda2017efficient")
    finally:
        logging.root.handlers[:] = pytest_handlers
    message = check_usage_error(*result)
    assert message.startswith(f"kdsurvey: error: {bib}, line {line}: malformed BibTeX block (Expected comma")


@pytest.mark.parametrize("where", ["before", "after"])
def test_data_missing_folder_is_named_as_such(capsys, tmp_path, where):
    argv = (
        ["--data", tmp_path / "nowhere", "tables"] if where == "before" else ["tables", "--data", tmp_path / "nowhere"]
    )
    message = check_usage_error(*run(capsys, *argv))
    assert message == f"kdsurvey: error: data folder {tmp_path / 'nowhere'} does not exist"


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_data_after_the_command_is_the_same_as_before_it(capsys, renamed_data, tmp_path, command):
    argv = {"tables": ["--table", "1"], "metric": [], "plots": ["--out", tmp_path / "figs"],
            "cite": ["fukuda2017efficient"], "report": ["--out", tmp_path / "report"]}[command]  # fmt: skip
    after = run(capsys, command, *argv, "--data", renamed_data)
    assert after[0] == 0, after
    if command in ("plots", "report"):
        return  # their output is a folder, checked elsewhere; here: the option is accepted after the command
    assert after == run(capsys, "--data", renamed_data, command, *argv)
    assert after != run(capsys, command, *argv)


def test_a_student_larger_than_its_teacher_is_one_warning_line(capsys, data_copy):
    record = data_copy / "reproduced" / "dml--fashion-mnist-subset--cnn_large--cnn_small.json"
    rec = json.loads(record.read_text(encoding="utf-8"))
    rec["teacher"], rec["student"] = rec["student"], rec["teacher"]
    record.write_text(json.dumps(rec), encoding="utf-8")
    rc, out, err = run(capsys, "--data", data_copy, "tables", "--table", "metric", "--format", "csv")
    assert rc == 0 and "R-dml" in out
    assert (
        err == "kdsurvey: warning: R-dml: the student is larger than its teacher (cnn_small → cnn_large, "
        "size reduction -1999.4%)\n"
    )


@pytest.fixture
def renamed_data(data_copy) -> Path:
    """A data copy whose bib and methods differ visibly from the packaged ones."""
    bib = data_copy / "references.bib"
    text = bib.read_text(encoding="utf-8")
    assert text.count("{Fukuda, Takashi") == 1
    bib.write_text(text.replace("{Fukuda, Takashi", "{Fukudazz, Takashi"), encoding="utf-8")
    methods = data_copy / "methods.csv"
    methods.write_text(methods.read_text(encoding="utf-8").replace("FitNets (hint learning)", "FitNetszz"),
                       encoding="utf-8")  # fmt: skip
    return data_copy


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["tables", "--table", "1"], "Fukudazz et al. (2017)"),
        (["tables", "--table", "metric"], "Fukudazz et al. (2017)"),
        (["metric"], "Fukudazz et al. (2017)"),
        (["metric", "--format", "csv"], "Fukudazz et al. (2017)"),  # the LaTeX form cites by key
        (["tables", "--table", "1", "--format", "latex"], "Fukudazz et al. (2017)"),
        (["tables", "--table", "methods"], "FitNetszz"),
        (["cite", "fukuda2017efficient"], "Fukudazz, Takashi"),
        (["cite", "--table", "1"], "Fukudazz, Takashi"),
    ],
    ids=lambda a: " ".join(a) if isinstance(a, list) else None,
)
def test_data_option_is_used_by_every_command(capsys, renamed_data, argv, expected):
    rc, out, err = run(capsys, "--data", renamed_data, *argv)
    assert rc == 0 and err == ""
    assert expected in out
    rc, packaged, _ = run(capsys, *argv)
    assert rc == 0 and expected not in packaged


# -- cite -------------------------------------------------------------------------------------


def test_cite_one_key_is_valid_bibtex(capsys):
    rc, out, err = run(capsys, "cite", "hinton2015distilling")
    assert rc == 0 and err == ""
    library = bibtexparser.parse_string(out)
    assert not library.failed_blocks
    assert [e.key for e in library.entries] == ["hinton2015distilling"]
    fields = library.entries[0].fields_dict
    assert fields["title"].value == "Distilling the Knowledge in a Neural Network" and fields["year"].value == "2015"


def test_cite_keys_in_order_without_repeats(capsys):
    rc, out, _ = run(capsys, "cite", "lopes2017data", "hinton2015distilling", "lopes2017data")
    assert rc == 0
    assert bib_keys(out) == ["lopes2017data", "hinton2015distilling"]


def _expected_cite_keys(table: str) -> set[str]:
    frame, methods = catalogue.load(), catalogue.methods()
    keys = {references.SURVEY_KEY}
    if table in ("1", "2"):
        keys |= set(frame.loc[frame["table"] == int(table), "reference"]) - {""}
    if table in ("methods", "all"):
        keys |= set(methods["reference"])
    if table == "all":
        keys |= set(frame["reference"]) - {""}
        keys |= set(benchmarks.load()["reference"])  # the report's benchmark table cites them
    return keys


@pytest.mark.parametrize("table", ["1", "2", "methods", "all"])
def test_cite_table_gives_every_reference_of_its_rows(capsys, table):
    rc, out, err = run(capsys, "cite", "--table", table)
    assert rc == 0 and err == ""
    keys = bib_keys(out)
    assert len(keys) == len(set(keys))
    assert set(keys) == _expected_cite_keys(table)
    assert keys[0] == references.SURVEY_KEY
    assert out.startswith(f"@article{{{references.SURVEY_KEY},")


# -- output folders ---------------------------------------------------------------------------


def test_plots_writes_png_and_pdf(capsys, tmp_path):
    out = tmp_path / "figs"
    rc, stdout, err = run(capsys, "plots", "--out", out, "--alpha", "0.25")
    assert rc == 0 and err == ""
    files = tree(out)
    assert set(files) == {f"{n}.{s}" for n in FIGURES for s in ("png", "pdf")} | {MARKER}
    for name in FIGURES:
        assert files[f"{name}.png"].startswith(PNG_MAGIC) and len(files[f"{name}.png"]) > 10_000
        assert files[f"{name}.pdf"].startswith(b"%PDF") and len(files[f"{name}.pdf"]) > 5_000
    assert sorted(stdout.splitlines()) == sorted(str(out / f"{n}.{s}") for n in FIGURES for s in ("png", "pdf"))
    assert [p.name for p in tmp_path.iterdir()] == ["figs"]


@pytest.fixture
def user_folder(tmp_path) -> Path:
    """A non-empty folder kdsurvey did not write."""
    folder = tmp_path / "thesis"
    (folder / "chapters").mkdir(parents=True)
    (folder / "main.tex").write_text("\\documentclass{article}\n", encoding="utf-8")
    (folder / "chapters" / "one.tex").write_text("One.\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("command", ["plots", "report"])
def test_out_refuses_a_folder_not_written_by_kdsurvey(capsys, user_folder, command):
    before = tree(user_folder)
    message = check_usage_error(*run(capsys, command, "--out", user_folder))
    assert str(user_folder) in message and "not written by kdsurvey" in message
    assert tree(user_folder) == before
    assert [p.name for p in user_folder.parent.iterdir()] == ["thesis"]  # no staging folder left beside it


@pytest.mark.parametrize("command", ["plots", "report"])
def test_out_refuses_a_regular_file(capsys, tmp_path, command):
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n", encoding="utf-8")
    message = check_usage_error(*run(capsys, command, "--out", target))
    assert f"{target} exists and is not a folder" in message
    assert target.read_text(encoding="utf-8") == "keep me\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_plots_into_an_empty_folder(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    rc, _, err = run(capsys, "plots", "--out", tmp_path / "empty")
    assert rc == 0 and err == ""
    assert (tmp_path / "empty" / "tradeoff.png").read_bytes().startswith(PNG_MAGIC)


# -- report -----------------------------------------------------------------------------------

REPORT_FILES = (
    {"index.md", "index.html", "references.bib", "macros.tex", MARKER}
    | {f"tables/{t}.{s}" for t in REPORT_TABLES for s in FORMATS.values()}
    | {f"figures/{f}.{s}" for f in FIGURES for s in ("png", "pdf")}
)


@pytest.fixture(scope="module")
def built_report(tmp_path_factory) -> tuple[Path, str, dict[str, bytes]]:
    """`kdsurvey report --out DIR`, run once for the module: (DIR, stdout, every file's bytes)."""
    out = tmp_path_factory.mktemp("report") / "kdsurvey-report"
    stdout = io.StringIO()
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(stdout):
        mp.delenv(ENV_VAR, raising=False)
        rc = main(["report", "--out", str(out)])
    assert rc == 0
    return out, stdout.getvalue(), tree(out)


def test_report_writes_every_file(built_report):
    out, stdout, files = built_report
    assert stdout == f"report written to {out}/index.md\n"
    assert set(files) == REPORT_FILES
    assert all(files.values()), [name for name, data in files.items() if not data]
    for name in FIGURES:
        assert files[f"figures/{name}.png"].startswith(PNG_MAGIC)
        assert files[f"figures/{name}.pdf"].startswith(b"%PDF")
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no staging or old folder left


@pytest.mark.parametrize("name", REPORT_TABLES)
def test_report_tables_match_the_tables_command(capsys, built_report, name):
    _, _, files = built_report
    for fmt, suffix in FORMATS.items():
        rc, out, _ = run(capsys, "tables", "--table", REPORT_TABLES[name], "--format", fmt)
        assert rc == 0
        assert files[f"tables/{name}.{suffix}"].decode("utf-8") == out


def test_report_references_are_cite_table_all(capsys, built_report):
    _, _, files = built_report
    text = files["references.bib"].decode("utf-8")
    assert bib_keys(text)[0] == references.SURVEY_KEY
    assert set(bib_keys(text)) == _expected_cite_keys("all")
    assert text == run(capsys, "cite", "--table", "all")[1]


def test_report_index_links_every_file_and_hashes_the_inputs(built_report, packaged_data):
    _, _, files = built_report
    index = files["index.md"].decode("utf-8")
    assert index.startswith("# kdsurvey report\n")
    reproduced = len(list((packaged_data / "reproduced").glob("*.json")))
    assert f"- Results: 27 reported (14 from Table 1, 13 from Table 2) and {reproduced} reproduced" in index
    for name in REPORT_FILES - {"index.md", MARKER}:
        assert f"({name})" in index, name
    records = [p.relative_to(packaged_data).as_posix() for p in (packaged_data / "reproduced").glob("*.json")]
    inputs = ("survey/table1.csv", "survey/table2.csv", "methods.csv", "references.bib", "benchmarks/results.csv",
              "benchmarks/architectures.csv")  # fmt: skip
    for rel in (*inputs, *records):
        digest = hashlib.sha256((packaged_data / rel).read_bytes()).hexdigest()
        assert f"| `{rel}` | `{digest}` |" in index


def test_report_twice_replaces_the_folder(capsys, built_report, tmp_path):
    """A second run into a folder kdsurvey wrote replaces it whole: stale files go, bytes are reproducible."""
    first, _, files = built_report
    out = tmp_path / "kdsurvey-report"
    shutil.copytree(first, out)
    (out / "stale.md").write_text("from an older run\n", encoding="utf-8")
    rc, stdout, err = run(capsys, "report", "--out", out)
    assert (rc, err) == (0, "")
    assert tree(out) == files  # same file set and the same bytes as the first run
    assert [p.name for p in tmp_path.iterdir()] == ["kdsurvey-report"]


def test_report_failing_mid_way_leaves_the_old_folder(capsys, built_report, tmp_path, monkeypatch):
    first, _, files = built_report
    out = tmp_path / "kdsurvey-report"
    shutil.copytree(first, out)
    (out / "index.md").write_text("previous report\n", encoding="utf-8")
    before = tree(out)
    saved = []

    def failing_save(fig, stem, formats=("png", "pdf")):
        saved.append(Path(stem))
        raise OSError(28, "No space left on device (simulated)")

    monkeypatch.setattr("kdsurvey.plots.save", failing_save)
    message = check_usage_error(*run(capsys, "report", "--out", out))
    assert "No space left on device (simulated)" in message
    assert saved and saved[0].parent.parent != out  # it was writing elsewhere, not into DIR
    assert tree(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["kdsurvey-report"]  # no '.kdsurvey-report.staging-*' left


def test_report_failing_into_a_new_folder_creates_nothing(capsys, tmp_path, monkeypatch):
    def failing_save(fig, stem, formats=("png", "pdf")):
        raise OSError("simulated failure")

    monkeypatch.setattr("kdsurvey.plots.save", failing_save)
    check_usage_error(*run(capsys, "report", "--out", tmp_path / "new"))
    assert list(tmp_path.iterdir()) == []


# -- the module entry point -------------------------------------------------------------------


def test_python_dash_m_kdsurvey(capsys, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR} | {"PYTHONIOENCODING": "utf-8"}
    proc = subprocess.run(
        [sys.executable, "-m", "kdsurvey", "tables", "--table", "1"],
        cwd=tmp_path, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert proc.stderr == b""
    rc, expected, _ = run(capsys, "tables", "--table", "1")
    assert rc == 0 and proc.stdout.decode("utf-8") == expected


def test_tables_without_attribution_prints_the_papers_six_columns(capsys):
    rc, stdout, _ = run(capsys, "tables", "--table", "1", "--no-attribution", "--format", "csv")
    assert rc == 0
    assert stdout.splitlines()[0].split(",")[1:] == list(tables.SURVEY_HEADERS)


def test_reproduce_without_torch_says_how_to_install(tmp_path):
    """On a machine without the torch extra, `reproduce` is one clear line, not a traceback."""
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from kdsurvey import cli\n"
        "sys.exit(cli.main(['reproduce', '--list']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert (
        done.stderr == "kdsurvey: error: reproductions need PyTorch; install it with: pip install 'kdsurvey[torch]'\n"
    )


def test_metric_source_selects_rows(capsys):
    rows = {}
    for source in ("reported", "reproduced", "all"):
        rc, out, err = run(capsys, "metric", "--format", "csv", "--source", source)
        assert rc == 0 and err == ""
        rows[source] = {r["Row"] for r in csv.DictReader(io.StringIO(out))}
    assert rows["reported"] | rows["reproduced"] == rows["all"] and not rows["reported"] & rows["reproduced"]
    assert all(r.startswith("R-") for r in rows["reproduced"]) and len(rows["reported"]) == 27
