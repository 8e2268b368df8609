"""The notebooks are products: executed and stored, compared strictly by nbval, refreshable in one command.

The notebooks themselves run under nbval as part of the suite (pyproject's addopts); these tests check
that the comparison is real (a changed number fails), that the stored files are complete, and the
`kdsurvey notebooks --refresh` command.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

from kdsurvey import notebooks
from kdsurvey.cli import main

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks"
NAMES = ["01_survey_tables.ipynb", "02_distillation_metric.ipynb", "03_reproductions.ipynb", "04_benchmarks.ipynb"]


def test_ci_runs_the_notebooks_in_strict_mode():
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert "notebooks" in options["testpaths"]
    assert "--nbval " in options["addopts"] + " " and "--nbval-lax" not in options["addopts"]
    assert "--nbval-sanitize-with notebooks/nbval_sanitize.cfg" in options["addopts"]


@pytest.mark.parametrize("name", NAMES)
def test_stored_notebooks_are_executed_top_to_bottom(name):
    book = nbformat.read(FOLDER / name, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "run `kdsurvey notebooks --refresh`"
    for cell in code:
        assert not any(o.get("output_type") == "error" for o in cell.outputs)
        assert not any(o.get("name") == "stderr" for o in cell.outputs), cell.source[:80]
        assert not cell.source.rstrip().endswith(";"), "a trailing semicolon shows an extra output under nbval"
    ignored = [c for c in code if "NBVAL_IGNORE_OUTPUT" in c.source]
    assert len(ignored) == (1 if name.startswith("03") else 0)  # only the live training cell varies
    assert all("NBVAL_SKIP" not in c.source for c in code)


def test_figures_are_stored_as_images():
    book = nbformat.read(FOLDER / "02_distillation_metric.ipynb", as_version=4)
    images = [o for c in book.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2


def _nbval(path: Path, *extra: str) -> subprocess.CompletedProcess:
    """pytest --nbval on one notebook, in its own folder, with the project's sanitize file."""
    (path.parent / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--nbval", "--nbval-current-env",
           "--nbval-sanitize-with", str(FOLDER / "nbval_sanitize.cfg"), *extra, path.name]  # fmt: skip
    return subprocess.run(cmd, cwd=path.parent, capture_output=True, text=True, timeout=300)


def _tiny(path: Path, source: str, output: str | None = None) -> Path:
    cell = nbformat.v4.new_code_cell(source)
    if output is not None:
        cell.execution_count = 1
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# tiny"), cell])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, path)
    return path


def test_a_changed_number_fails_nbval_and_the_right_one_passes(tmp_path):
    source = "from kdsurvey import metric\nprint(f'{metric.distillation_metric(1.2, 11.2, 91.0, 93.5, alpha=0.5):.4f}')"
    good = _nbval(_tiny(tmp_path / "good.ipynb", source, "0.0669\n"))
    assert good.returncode == 0, good.stdout[-2000:]
    bad = _nbval(_tiny(tmp_path / "bad.ipynb", source, "0.0670\n"))
    assert bad.returncode == 1 and "0.0670" in bad.stdout


def test_refresh_writes_outputs_of_every_notebook(tmp_path, capsys):
    _tiny(tmp_path / "a.ipynb", "print(6 * 7)")
    _tiny(tmp_path / "b.ipynb", "import os\nprint(os.environ.get('TQDM_DISABLE'))")
    assert main(["notebooks", "--refresh", "--dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("refreshed") == 2
    outputs = [nbformat.read(tmp_path / n, as_version=4).cells[1].outputs[0]["text"] for n in ("a.ipynb", "b.ipynb")]
    assert outputs == ["42\n", "1\n"]  # progress bars are off while refreshing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ipynb", "b.ipynb"]  # no temporary files left


def test_a_failing_notebook_leaves_every_file_as_it_was(tmp_path, capsys):
    _tiny(tmp_path / "a.ipynb", "print(1)")
    _tiny(tmp_path / "b.ipynb", "raise ValueError('broken on purpose')")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["notebooks", "--refresh", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "b.ipynb failed" in err and "broken on purpose" in err
    error = [line for line in err.splitlines() if line.startswith("kdsurvey: error:")]
    assert len(error) == 1 and "\x1b" not in error[0], err  # one plain line, whatever colours the kernel used
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_listing_and_missing_folders(tmp_path, capsys):
    assert main(["notebooks", "--dir", str(FOLDER)]) == 0
    assert [Path(line).name for line in capsys.readouterr().out.split()] == NAMES
    assert main(["notebooks", "--dir", str(tmp_path / "nowhere")]) == 2
    assert "no notebooks folder at" in capsys.readouterr().err
    assert main(["notebooks", "--dir", str(tmp_path)]) == 2
    assert "no .ipynb files in" in capsys.readouterr().err


def test_refresh_without_nbclient_names_the_extra(monkeypatch, tmp_path):
    _tiny(tmp_path / "a.ipynb", "print(1)")
    monkeypatch.setitem(sys.modules, "nbclient", None)
    with pytest.raises(notebooks.UsageError, match=r"pip install 'kdsurvey\[notebooks\]'"):
        notebooks.refresh(tmp_path)


def test_sanitize_file_replaces_only_what_varies():
    import configparser
    import re

    rules = configparser.ConfigParser()
    rules.read(FOLDER / "nbval_sanitize.cfg", encoding="utf-8")

    def sanitize(text: str) -> str:
        for section in rules.sections():
            text = re.sub(rules[section]["regex"], rules[section]["replace"], text)
        return text

    assert sanitize("<Figure size 800x600 with 1 Axes> at 0x7f3a9c") == "<Figure> at 0xADDR"
    assert sanitize("1200x550 pixels") == "1200x550 pixels"
    assert sanitize("took 6.9 s in /tmp/tmpab12/stages") == "took N s in TMPPATH"
    kept = "D = 0.0669, 83.88 ± 1.00, T1-04 0.1813%, 3 seeds, tau -0.096, rank 12"
    assert sanitize(kept) == kept  # every number that matters is compared as printed
