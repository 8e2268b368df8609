"""Every LaTeX table kdsurvey writes compiles with pdflatex, and every \\cite resolves in references.bib.

Needs pdflatex and bibtex (Debian: texlive-latex-base, texlive-latex-recommended; `.ci/run` installs
them); skipped where they are missing.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from kdsurvey import references, tables

pytestmark = pytest.mark.skipif(
    shutil.which("pdflatex") is None or shutil.which("bibtex") is None, reason="pdflatex/bibtex not installed"
)

DOCUMENT = r"""\documentclass{article}
\usepackage{booktabs}
\usepackage[margin=1cm,landscape,a3paper]{geometry}
\begin{document}
%s
\bibliographystyle{plain}
\bibliography{references}
\end{document}
"""


def test_all_tables_compile_and_cite_known_keys(tmp_path):
    names = ("1", "2", "metric", "pareto", "stability", "methods")
    for name in names:
        (tmp_path / f"t{name}.tex").write_text(tables.get(name).to_latex(), encoding="utf-8")
    (tmp_path / "references.bib").write_text(references.bibtex(), encoding="utf-8")
    (tmp_path / "doc.tex").write_text(DOCUMENT % "\n".join(rf"\input{{t{n}}}" for n in names), encoding="utf-8")

    def run(*cmd):
        result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stdout[-3000:]
        return result.stdout

    latex = ("pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex")
    run(*latex)
    bib_log = run("bibtex", "doc")
    assert "error" not in bib_log.lower()
    run(*latex)
    run(*latex)
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert re.search(r"Citation `[^']*' .*undefined", log) is None
    assert "There were undefined references" not in log
    assert (tmp_path / "doc.pdf").stat().st_size > 10_000
