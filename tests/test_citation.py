"""CITATION.cff is valid CFF 1.2.0 in substance and agrees with the package and the README."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

import kdsurvey
from kdsurvey import references

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_required_fields_and_version(cff):
    assert cff["cff-version"] == "1.2.0"
    assert cff["message"] and cff["title"].startswith("kdsurvey")
    assert cff["authors"] and all("name" in a or "family-names" in a for a in cff["authors"])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert cff["version"] == kdsurvey.__version__ == project["version"]
    assert cff["license"] == "MIT" and (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_survey_reference_matches_the_bib(cff):
    (survey,) = [r for r in cff["references"] if r["type"] == "article"]
    bib = references.load()
    assert survey["doi"] == bib.field("alkhulaifi2021knowledge", "doi")
    assert str(survey["year"]) == bib.field("alkhulaifi2021knowledge", "year")
    assert survey["title"] == bib.field("alkhulaifi2021knowledge", "title")
    assert [a["family-names"] for a in survey["authors"]] == ["Alkhulaifi", "Alsahli", "Ahmad"]


def test_readme_bibtex_matches_the_cff(cff):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```bibtex\n(@software\{kdsurvey,.*?)\n```", readme, flags=re.S)
    assert block, "README's Citing section shows the package's BibTeX"
    assert f"version = {{{cff['version']}}}" in block[1]
    assert cff["title"].replace("&", r"\&") in block[1]
