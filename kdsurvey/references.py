"""The project's BibTeX library (data/references.bib): look up, cite and export entries.

Parsing and writing go through bibtexparser 2; a malformed or duplicated entry is a
CatalogueError naming the file and line, never silently skipped.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import bibtexparser
from bibtexparser.middlewares import SeparateCoAuthors, SplitNameParts

from kdsurvey.csvfile import read_utf8
from kdsurvey.errors import CatalogueError, DataNotFoundError, UnknownReferenceError
from kdsurvey.paths import data_dir

BIB_FILE = "references.bib"
#: The survey this package is built around.
SURVEY_KEY = "alkhulaifi2021knowledge"
REQUIRED_FIELDS = ("author", "title", "year")
_YEAR = re.compile(r"\d{4}")


@dataclass(frozen=True)
class Bibliography:
    """Entries of one .bib file, by key, in file order."""

    path: Path
    raw: dict  # key -> bibtexparser Entry, fields as written (LaTeX)
    people: dict  # key -> Entry with authors split into name parts, for display

    def keys(self) -> list[str]:
        return list(self.raw)

    def __contains__(self, key: str) -> bool:
        return key in self.raw

    def _check(self, keys) -> list[str]:
        keys = [keys] if isinstance(keys, str) else list(keys)
        missing = [k for k in keys if k not in self.raw]
        if missing:
            close = difflib.get_close_matches(missing[0], self.raw, n=3)
            raise UnknownReferenceError(
                f"unknown reference key {missing[0]!r}: not in {self.path}"
                + (f" (nor {len(missing) - 1} more)" if len(missing) > 1 else "")
                + (f"; did you mean {', '.join(close)}?" if close else "")
            )
        return keys

    def bibtex(self, keys=None) -> str:
        """BibTeX text for `keys` (all entries when None), in the order given, without repeats."""
        keys = self.keys() if keys is None else list(dict.fromkeys(self._check(keys)))
        return bibtexparser.write_string(bibtexparser.Library([self.raw[k] for k in keys]))

    def author_year(self, key: str) -> str:
        """Author-year text in the survey's (PeerJ) style: up to three surnames, else 'et al.'.

        'Kurata & Audhkhasi (2018)', 'Lopes, Fenu & Starner (2017)', 'Yim et al. (2017)'. Two works of
        the library that would read the same get a, b, ... after the year, in the order of their keys, as
        bibliography styles do: 'Li et al. (2019a)', 'Li et al. (2019b)'.
        """
        (key,) = self._check(key)
        return self._labels[key]

    @functools.cached_property
    def _labels(self) -> dict[str, str]:
        """Every key's author-year label, made unique across the library (see `author_year`)."""
        plain = {key: self._author_year(key) for key in self.raw}
        labels = {}
        for key in sorted(plain):
            same = sorted(k for k, text in plain.items() if text == plain[key])
            suffix = "abcdefghijklmnopqrstuvwxyz"[same.index(key)] if len(same) > 1 else ""
            labels[key] = plain[key][:-1] + suffix + ")" if suffix else plain[key]
        return labels

    def _author_year(self, key: str) -> str:
        entry = self.people[key]
        lasts = [_plain(" ".join(p.von + p.last)) for p in entry["author"]]
        if len(lasts) == 1:
            who = lasts[0]
        elif len(lasts) <= 3:
            who = ", ".join(lasts[:-1]) + f" & {lasts[-1]}"
        else:
            who = f"{lasts[0]} et al."
        return f"{who} ({_plain(entry['year'])})"

    def field(self, key: str, name: str) -> str:
        """A field (title, year, ...) as plain text, LaTeX decoded; empty when the entry lacks it."""
        (key,) = self._check(key)
        value = self.raw[key].fields_dict.get(name)
        return "" if value is None else _plain(str(value.value))


def load(path: str | Path | None = None) -> Bibliography:
    """Parse and validate the .bib file (default: the packaged data/references.bib)."""
    path = Path(path) if path is not None else data_dir() / BIB_FILE
    if not path.is_file():
        raise DataNotFoundError(f"BibTeX file not found: {path}")
    return _load_cached(str(path), path.stat().st_mtime_ns)


def load_folder(data: str | Path | None = None) -> Bibliography:
    """The library of a data folder (its references.bib); the packaged one when `data` is None."""
    return load(Path(data) / BIB_FILE if data is not None else None)


@functools.lru_cache(maxsize=8)
def _load_cached(path: str, _mtime_ns: int) -> Bibliography:
    text = read_utf8(Path(path))
    raw = bibtexparser.parse_string(text)
    problems = [(path, block.start_line + 1, None, _failure_text(block)) for block in raw.failed_blocks]
    problems += [(path, entry.start_line + 1, None, why) for entry in raw.entries if (why := _entry_problem(entry))]
    if problems:
        raise CatalogueError(problems)
    people = bibtexparser.parse_string(text, append_middleware=[SeparateCoAuthors(), SplitNameParts()])
    return Bibliography(
        path=Path(path),
        raw={e.key: e for e in raw.entries},
        people={e.key: e for e in people.entries},
    )


@functools.lru_cache(maxsize=1024)
def _plain(text: str) -> str:
    """LaTeX to Unicode text ({\\"u} -> u-umlaut, braces dropped); decoding only when needed, as it is slow."""
    if "\\" not in text and "{" not in text:
        return text
    from pylatexenc.latex2text import LatexNodes2Text  # bibtexparser's own dependency

    return LatexNodes2Text().latex_to_text(text)


def _entry_problem(entry) -> str | None:
    """Why an entry cannot be cited or shown as 'Author (Year)': no key, a missing field, a year that is no year."""
    if not entry.key.strip():
        return "entry with an empty key; give it a citation key"
    missing = [f for f in REQUIRED_FIELDS if f not in entry.fields_dict]
    if missing:
        return f"entry {entry.key!r} lacks {', '.join(missing)}"
    year = _plain(str(entry.fields_dict["year"].value)).strip()
    if not _YEAR.fullmatch(year):
        return f"entry {entry.key!r} has year {year!r}; expected a four-digit year"
    return None


def _failure_text(block) -> str:
    kind = type(block).__name__
    if kind == "DuplicateBlockKeyBlock" and not block.key.strip():
        return "entry with an empty key; give it a citation key"
    if kind == "DuplicateBlockKeyBlock":
        return f"duplicate BibTeX key {block.key!r}"
    error = getattr(block, "error", None)
    reason = " ".join(str(getattr(error, "abort_reason", None) or error or "").split())  # its str() is empty
    return f"malformed BibTeX block ({reason})" if reason else "malformed BibTeX block"


def bibtex(keys=None, path: str | Path | None = None) -> str:
    """BibTeX text for the given key(s), or for the whole library."""
    return load(path).bibtex(keys)
