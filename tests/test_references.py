"""The BibTeX library: author-year text in the survey's style, export, table keys."""

from __future__ import annotations

import bibtexparser
import pytest

from kdsurvey import benchmarks, catalogue, references
from kdsurvey.errors import UnknownReferenceError, UsageError

BIB = r"""
@article{one2020a, author = {Solo, Han}, title = {A}, year = {2020}}
@article{two2020b, author = {Kurata, Gakuto and Audhkhasi, Kartik}, title = {B}, year = {2018}}
@article{three2017c, author = {Lopes, Raphael Gontijo and Fenu, Stefano and Starner, Thad}, title = {C}, year = {2017}}
@article{four2019d, author = {Heo, Byeongho and Lee, Minsik and Yun, Sangdoo and Choi, Jin Young}, title = {D}, year = {2019}}
@article{von2008e, author = {van der Maaten, Laurens and Hinton, Geoffrey}, title = {E}, year = {2008}}
@article{accent2021f, author = {M{\"u}ller, J{\"o}rg}, title = {{\"U}ber {KD}}, year = {2021}}
"""


@pytest.fixture
def bib(tmp_path):
    path = tmp_path / "refs.bib"
    path.write_text(BIB, encoding="utf-8")
    return references.load(path)


@pytest.mark.parametrize(
    "key, text",
    [
        ("one2020a", "Solo (2020)"),
        ("two2020b", "Kurata & Audhkhasi (2018)"),
        ("three2017c", "Lopes, Fenu & Starner (2017)"),
        ("four2019d", "Heo et al. (2019)"),
        ("von2008e", "van der Maaten & Hinton (2008)"),
        ("accent2021f", "Müller (2021)"),
    ],
)
def test_author_year_follows_the_surveys_style(bib, key, text):
    assert bib.author_year(key) == text


def test_field_is_latex_decoded(bib):
    assert bib.field("accent2021f", "title") == "Über KD"
    assert bib.field("accent2021f", "doi") == ""


def test_bibtex_keeps_order_drops_repeats_and_round_trips(bib):
    text = bib.bibtex(["four2019d", "one2020a", "four2019d"])
    parsed = bibtexparser.parse_string(text)
    assert [e.key for e in parsed.entries] == ["four2019d", "one2020a"]
    assert not parsed.failed_blocks
    assert r"M{\"u}ller" in bib.bibtex("accent2021f")  # written as stored, LaTeX intact


def test_unknown_key_names_it_and_the_file(bib):
    with pytest.raises(UnknownReferenceError) as info:
        bib.bibtex(["one2020a", "nope2000x"])
    assert "nope2000x" in str(info.value) and "refs.bib" in str(info.value)
    with pytest.raises(KeyError):
        bib.author_year("nope2000x")


def test_table_keys_start_with_the_survey_and_follow_row_order():
    frame = catalogue.load()
    keys = catalogue.table_keys(2)
    assert keys[0] == references.SURVEY_KEY
    assert keys[1:] == [k for k in frame.loc[frame["table"] == 2, "reference"] if k]
    everything = catalogue.table_keys("all")
    assert len(everything) == len(set(everything))
    published = set(benchmarks.load()["reference"])  # the benchmark table's sources (Hinton 2015, CRD)
    parts = set(catalogue.table_keys(1)) | set(keys) | set(catalogue.table_keys("methods"))
    assert parts | published == set(everything)
    with pytest.raises(UsageError):
        catalogue.table_keys(3)


def test_for_table_is_valid_bibtex_for_every_key():
    parsed = bibtexparser.parse_string(catalogue.for_table("all"))
    assert not parsed.failed_blocks
    assert [e.key for e in parsed.entries] == catalogue.table_keys("all")


def test_packaged_library_is_complete_and_clean():
    bib = references.load()
    frame, methods = catalogue.load(), catalogue.methods()
    cited = {k for k in frame["reference"] if k} | set(methods["reference"]) | {references.SURVEY_KEY}
    assert cited <= set(bib.keys())
    survey = bib.field(references.SURVEY_KEY, "doi")
    assert survey == "10.7717/peerj-cs.474"


NAMESAKES = r"""
@article{zhang2019z, author = {Zhang, Linfeng and Song, Jiebo and Gao, Anni and Chen, Jingwei}, title = {Z}, year = {2019}}
@article{solo2019x, author = {Solo, Han}, title = {X}, year = {2019}}
@article{zhang2019b, author = {Zhang, Ying and Xiang, Tao and Hospedales, Timothy and Lu, Huchuan}, title = {B}, year = {2019}}
@article{zhang2018c, author = {Zhang, Ying and Xiang, Tao and Hospedales, Timothy and Lu, Huchuan}, title = {C}, year = {2018}}
"""


@pytest.mark.parametrize("reverse", [False, True])
def test_namesakes_get_a_b_in_key_order_whatever_the_file_order(tmp_path, reverse):
    blocks = NAMESAKES.strip().splitlines()
    path = tmp_path / "refs.bib"
    path.write_text("\n".join(reversed(blocks) if reverse else blocks), encoding="utf-8")
    bib = references.load(path)
    assert bib.author_year("zhang2019b") == "Zhang et al. (2019a)"
    assert bib.author_year("zhang2019z") == "Zhang et al. (2019b)"
    assert bib.author_year("zhang2018c") == "Zhang et al. (2018)"  # another year: nothing to tell apart
    assert bib.author_year("solo2019x") == "Solo (2019)"
