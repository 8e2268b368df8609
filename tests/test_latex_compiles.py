r"""Every LaTeX table kdsurvey writes fits a standard article: `\input` into `\documentclass{article}`,
two-column and one-column, letter and A4 paper, it compiles with pdflatex and bibtex without one
overfull box, float too large for its page, or undefined citation.

Needs pdflatex and bibtex (Debian: texlive-latex-base, texlive-latex-recommended; `.ci/run` installs
them); skipped where they are missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from kdsurvey import references, tables
from kdsurvey.cli import main
from kdsurvey.render import Layout, Table

pytestmark = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("bibtex") is None, reason="pdflatex/bibtex not installed"
)

PAPERS = {
    "twocolumn-letter": "twocolumn,letterpaper",
    "twocolumn-a4": "twocolumn,a4paper",
    "onecolumn-letter": "letterpaper",
    "onecolumn-a4": "a4paper",
}
DOCUMENT = r"""\documentclass[%s]{article}
\usepackage{booktabs,tabularx}
\begin{document}
Tables as a paper inputs them.
%s
\bibliographystyle{plain}
\bibliography{references}
\end{document}
"""
#: What a table that does not fit leaves in the log.
MISFITS = re.compile(
    r"Overfull \\[hv]box.*|.*Float too large.*|.*Citation `[^']*' .*undefined.*|.*undefined references.*"
)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report"
    assert main(["report", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def written(report_dir) -> dict[str, str]:
    """Every distinct LaTeX table: the report's files and what `kdsurvey tables --format latex` prints
    (tables.get, which the command calls), by a name."""
    found = {f"report-{p.stem}": p.read_text(encoding="utf-8") for p in sorted((report_dir / "tables").glob("*.tex"))}
    for name in tables.TABLE_NAMES:
        found[f"tables-{name}"] = tables.get(name).to_latex()
    for name in ("1", "2"):
        found[f"tables-{name}-no-attribution"] = tables.get(name, attribution=False).to_latex()
    for name in ("metric", "pareto", "stability"):
        for source in ("reported", "reproduced"):
            found[f"tables-{name}-{source}"] = tables.get(name, source=source).to_latex()
    found["tables-benchmark-reported"] = tables.get("benchmark", source="reported").to_latex()  # column width
    distinct = {}
    for name, text in found.items():
        if text not in distinct.values():
            distinct[name] = text
    return distinct


def compile_document(folder: Path, body: str, options: str) -> str:
    """pdflatex, bibtex, pdflatex twice (citations resolved, so widths are final); returns the last log."""
    (folder / "references.bib").write_text(references.bibtex(), encoding="utf-8")
    (folder / "paper.tex").write_text(DOCUMENT % (options, body), encoding="utf-8")

    def run(*cmd):
        result = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:]
        return result.stdout

    latex = ("pdflatex", "-interaction=nonstopmode", "-halt-on-error")
    run(*latex, "-draftmode", "paper.tex")
    assert "error" not in run("bibtex", "paper").lower()
    run(*latex, "-draftmode", "paper.tex")
    run(*latex, "paper.tex")
    assert (folder / "paper.pdf").stat().st_size > 10_000
    return (folder / "paper.log").read_text(encoding="utf-8", errors="replace")


@pytest.mark.parametrize("paper", PAPERS)
def test_every_table_fits_a_standard_article(tmp_path, written, paper):
    for name, text in written.items():
        (tmp_path / f"{name}.tex").write_text(text, encoding="utf-8")
    body = "\n".join(rf"\input{{{name}}}" for name in written)
    log = compile_document(tmp_path, body, PAPERS[paper])
    misfits = MISFITS.findall(log)
    # name the table of each misfit: the log names the last file opened before it
    where = [re.findall(r"\(\./([\w-]+)\.tex", log[: log.index(m)])[-1:] for m in misfits]
    assert not misfits, list(zip(misfits, where))


def test_every_cite_of_the_report_is_in_its_bibliography(report_dir):
    keys = set(references.load(report_dir / "references.bib").keys())
    for path in (report_dir / "tables").glob("*.tex"):
        cited = {k.strip() for group in re.findall(r"\\cite\{([^}]*)\}", path.read_text()) for k in group.split(",")}
        assert cited <= keys, (path.name, sorted(cited - keys))


def test_captions_hold_no_table_number(written):
    for name, text in written.items():
        for caption in re.findall(r"\\caption\{([^\n]*)\}", text):
            assert not re.match(r"Table\s*\d", caption), (name, caption)


def test_long_tables_continue_under_one_number(written):
    """A table split over several floats: one label, and each continuation steps the counter back."""
    methods = written["report-methods"]
    floats = methods.count(r"\begin{table*}")
    assert floats >= 2 and methods.count(r"\label{") == 1
    assert methods.count(r"\addtocounter{table}{-1}") == floats - 1


def test_escaped_specials_and_symbols_compile(tmp_path):
    specials = r"# $ % & _ { } ~ ^ \ | < > → ± α τ ≤ ≥ × – —"
    table = Table(
        name="specials",
        frame=pd.DataFrame(
            {"Text": [specials, "cnn_large → cnn_small"], "Value": [1.5, float("nan")], "Same": ["a_b|c", "a_b|c"]}
        ),
        caption=f"Every special character: {specials}",
        layout=Layout(wrap={"Text": 1}, hoist=("Value", "Same")),
    )
    latex = table.to_latex()
    assert r"All rows: Same a\_\allowbreak{}b\textbar{}c." in latex  # the constant column, stated once
    (tmp_path / "t.tex").write_text(latex, encoding="utf-8")
    log = compile_document(tmp_path, rf"\input{{t}} \cite{{{references.SURVEY_KEY}}}", "twocolumn")
    assert not MISFITS.findall(log)
