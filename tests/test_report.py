"""`kdsurvey report`: the self-contained index.html, and --source (survey-only or reproduced-only reports
whose captions and counts match the rows they show)."""

from __future__ import annotations

import base64
import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from kdsurvey import analysis, benchmarks, catalogue, plots, record, report
from kdsurvey.cli import main
from kdsurvey.paths import ENV_VAR


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """`kdsurvey report --source S --out DIR` for each source, run once for the module."""
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(ENV_VAR, raising=False)
        for source in ("all", "reported", "reproduced"):
            folder = tmp_path_factory.mktemp(f"report-{source}") / "report"
            assert main(["report", "--out", str(folder), "--source", source]) == 0
            out[source] = folder
    return out


class Page(HTMLParser):
    """Every start tag with its attributes, the text of every table cell by table, and the sections' ids."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.styles: list[str] = []
        self._section, self._cell, self._row, self._in_style = None, None, None, False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "section":
            self._section = attrs.get("id")
        elif tag == "tr" and self._section:
            self._row = []
            self.tables.setdefault(self._section, []).append(self._row)
        elif tag in ("td", "th"):
            self._cell = []
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "section":
            self._section = None
        self._in_style = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_style:
            self.styles.append(data)


def read_csv(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


@pytest.mark.parametrize("source", ["all", "reported", "reproduced"])
def test_index_html_holds_every_table_and_figure(reports, source):
    folder = reports[source]
    page = Page((folder / "index.html").read_text(encoding="utf-8"))
    tables = sorted(p.stem for p in (folder / "tables").glob("*.csv"))
    assert sorted(k.removeprefix("table-") for k in page.tables if k.startswith("table-")) == tables
    for name in tables:
        rows = read_csv(folder / "tables" / f"{name}.csv")
        html_rows = page.tables[f"table-{name}"]
        header, body = html_rows[0], html_rows[1:]
        groups = len({r["Distillation"] for r in rows}) if name in ("table1", "table2") else 0
        assert len(body) == len(rows) + groups, name  # the survey tables' offline / online group rows
        if "Row" in header:
            assert [r[header.index("Row")] for r in body] == [r["Row"] for r in rows]
    images = [attrs for tag, attrs in page.tags if tag == "img"]
    figures = sorted(p.stem for p in (folder / "figures").glob("*.png"))
    assert len(images) == len(figures) == 2
    embedded = [base64.b64decode(a["src"].removeprefix("data:image/png;base64,")) for a in images]
    assert embedded == [(folder / "figures" / f"{name}.png").read_bytes() for name in ("tradeoff", "alpha_sensitivity")]


def test_index_html_is_self_contained_and_its_links_resolve(reports):
    folder = reports["all"]
    page = Page((folder / "index.html").read_text(encoding="utf-8"))
    assert not [tag for tag, _ in page.tags if tag in ("script", "link", "iframe", "object", "embed", "base")]
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            value = value or ""
            if tag == "a" and name == "href":
                if not value.startswith(("http://", "https://")):
                    assert (folder / value).is_file(), value  # every link to the report's files resolves
            elif name in ("src", "href", "srcset", "poster", "data", "action"):
                assert value.startswith("data:image/png;base64,"), (tag, name, value[:60])
            else:
                assert "http" not in value and "url(" not in value, (tag, name, value)
    style = "".join(page.styles)
    assert "url(" not in style and "@import" not in style
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert "https://doi.org/10.7717/peerj-cs.474" in links
    expected = {"index.md", "references.bib", "macros.tex"} | {
        p.relative_to(folder).as_posix()
        for p in folder.glob("*/*")
        if p.suffix in (".md", ".tex", ".csv", ".png", ".pdf")
    }
    assert expected <= set(links)


def test_survey_only_report_gives_notebook_two_figures(reports):
    """With --source reported the stability and crossing counts are the survey's own (notebook 02)."""
    folder = reports["reported"]
    stability = {r["Kendall tau"]: r for r in read_csv(folder / "tables" / "stability.csv")}
    assert round(float(stability["α=0"]["α=1"]), 3) == -0.096
    index = (folder / "index.md").read_text(encoding="utf-8")
    assert "17 surveyed results with a metric; 75 pairs that swap order for alpha inside (0, 1)." in index
    assert "## Rank stability across alpha (Kendall's tau), surveyed results" in index
    assert not [r for r in read_csv(folder / "tables" / "metric.csv") if r["Source"] != "reported"]
    assert not (folder / "tables" / "reproduced.csv").exists()
    assert "- Results: 27 reported (14 from Table 1, 13 from Table 2); 17 have both a size and an accuracy" in index


def test_reproduced_only_report_leaves_the_survey_tables_out(reports):
    folder = reports["reproduced"]
    measured = (benchmarks.compare(benchmarks.load(), record.load())["seeds"] > 0).any()
    assert sorted(p.stem for p in (folder / "tables").glob("*.csv")) == [
        *(["benchmark"] if measured else []), "methods", "metric", "pareto", "reproduced", "stability"]  # fmt: skip
    metric = read_csv(folder / "tables" / "metric.csv")
    assert metric and all(r["Source"] == "reproduced" for r in metric)


def test_full_report_counts_every_row_shown(reports):
    folder = reports["all"]
    frame = catalogue.results()
    scored = frame.dropna(subset=["size_reduction_pct", "accuracy_reduction_pct"])
    index = (folder / "index.md").read_text(encoding="utf-8")
    pairs = len(analysis.rank_crossings(frame))
    assert f"{len(scored)} surveyed and reproduced results with a metric; {pairs} pairs that swap order" in index
    assert "## Distillation metric of the surveyed and reproduced results" in index


def test_plots_source_draws_the_rows_chosen(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert main(["plots", "--out", str(tmp_path / "figs"), "--source", "reported"]) == 0
    expected = plots.save(plots.tradeoff(catalogue.results(source="reported")), tmp_path / "direct", formats=("png",))
    assert (tmp_path / "figs" / "tradeoff.png").read_bytes() == expected[0].read_bytes()  # same rows, same bytes
    assert main(["plots", "--out", str(tmp_path / "all")]) == 0
    assert (tmp_path / "all" / "tradeoff.png").read_bytes() != expected[0].read_bytes()


def test_benchmark_table_shows_published_rows_by_source(reports):
    """All: every published row with the reproduced columns; reported: the same rows without them."""
    published = benchmarks.load()
    full = read_csv(reports["all"] / "tables" / "benchmark.csv")
    alone = read_csv(reports["reported"] / "tables" / "benchmark.csv")
    assert [r["Row"] for r in alone] == list(published["row_id"])
    assert {r["Row"] for r in full} == set(published["row_id"])
    assert "Reproduced (%)" in full[0] and "Reproduced (%)" not in alone[0] and "In CI" not in alone[0]
    index = (reports["reported"] / "index.md").read_text(encoding="utf-8")
    assert "## Published results alone, without the reproduced columns" in index
    assert f"({len(published)} published results)" in index
    assert "## Published results beside reproduced ones" in (reports["all"] / "index.md").read_text(encoding="utf-8")


def test_reproduced_only_report_shows_the_published_rows_its_records_measure(suite_data):
    """A record of Hinton 2015's MNIST pair: its three published rows, and no other, in a reproduced report."""
    data_copy = suite_data
    folder = data_copy / record.FOLDER
    rec = json.loads((folder / "hinton_kd--fashion-mnist-subset--cnn_large--cnn_small.json").read_text("utf-8"))
    rec |= {"run_id": "hinton_kd--mnist--mlp_1200_1200--mlp_800_800", "dataset": "mnist", "config_hash": "mnist",
            "teacher": {"arch": "mlp_1200_1200", "parameters": 2_395_210},
            "student": {"arch": "mlp_800_800", "parameters": 1_276_810}}  # fmt: skip
    (folder / "mnist.json").write_text(json.dumps(rec), encoding="utf-8")
    out = report.write(data_copy.parent / "report", data=data_copy, source="reproduced")
    rows = read_csv(out / "tables" / "benchmark.csv")
    assert [r["Row"] for r in rows] == ["HVD15-01", "HVD15-02", "HVD15-03"]
    assert all(r["Seeds"] == str(len(rec["seeds"])) for r in rows)
    index = (out / "index.md").read_text(encoding="utf-8")
    assert "## The published results that reproduced records measure, beside them" in index
    assert "(3 published results, 3 measured by reproduced records)" in index
