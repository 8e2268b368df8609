"""Promises of the package itself: light import, version, data shipped in the wheel, documented columns."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import kdsurvey
from kdsurvey import catalogue

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _imported_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return set(out.stdout.split())


def test_import_kdsurvey_is_light_and_never_imports_torch():
    modules = _imported_after("import kdsurvey")
    assert not {"torch", "pandas", "matplotlib", "scipy"} & modules


def test_analysis_side_never_imports_torch():
    modules = _imported_after(
        "import kdsurvey.catalogue, kdsurvey.metric, kdsurvey.analysis, kdsurvey.tables, kdsurvey.plots, "
        "kdsurvey.report, kdsurvey.references, kdsurvey.cli\nkdsurvey.tables.metric_table()"
    )
    assert "torch" not in modules and "torchvision" not in modules


def test_lazy_submodules_and_unknown_attribute():
    assert kdsurvey.metric.distillation_metric(1, 2, 3, 4) > 0
    try:
        kdsurvey.nonexistent  # noqa: B018
    except AttributeError as exc:
        assert "nonexistent" in str(exc)
    else:
        raise AssertionError("unknown attributes must raise AttributeError")


def test_version_matches_pyproject():
    assert kdsurvey.__version__ == PYPROJECT["project"]["version"]


def test_torch_is_an_extra_with_the_ranges_that_resolve_here():
    assert not any(d.startswith(("torch", "torchvision")) for d in PYPROJECT["project"]["dependencies"])
    extra = PYPROJECT["project"]["optional-dependencies"]["torch"]
    assert "torch>=2.13,<2.15" in extra and "torchvision>=0.28,<0.30" in extra


def test_every_data_file_ships_in_the_wheel():
    """Each folder under data/ must be a listed package whose package-data patterns match its files."""
    setuptools = PYPROJECT["tool"]["setuptools"]
    packages = set(setuptools["packages"])
    patterns = setuptools["package-data"]
    for path in (ROOT / "data").rglob("*"):
        if not path.is_file():
            continue
        folder = path.parent.relative_to(ROOT / "data")
        package = ".".join(("kdsurvey", "data", *folder.parts))
        assert package in packages, f"{package} (for {path}) is not in [tool.setuptools] packages"
        assert any(path.match(p) for p in patterns.get(package, [])), f"{path.name} matches no package-data pattern"


def test_data_readmes_document_every_column():
    survey_readme = (ROOT / "data" / "survey" / "README.md").read_text(encoding="utf-8")
    for column in catalogue.SURVEY_COLUMNS:
        assert f"| `{column}` |" in survey_readme, column
    data_readme = (ROOT / "data" / "README.md").read_text(encoding="utf-8")
    for column in catalogue.METHOD_COLUMNS:
        assert f"| `{column}` |" in data_readme, column


def test_readmes_state_the_catalogues_attribution_counts():
    frame = catalogue.load()
    table1 = frame[frame["table"] == 1]["attribution"].value_counts()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{table1['confirmed']} rows `confirmed` by the cited paper's own numbers" in readme
    assert f"{table1['attributed']} `attributed`" in readme
    confirmed_ids = ", ".join(frame[(frame["table"] == 1) & (frame["attribution"] == "confirmed")]["row_id"])
    assert f"({confirmed_ids})" in (ROOT / "data" / "survey" / "README.md").read_text(encoding="utf-8")


def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    import re

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)  # the examples save a figure in the working folder
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "tradeoff.png").exists()
    assert "@misc{hinton2015distilling" in capsys.readouterr().out
