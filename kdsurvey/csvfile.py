"""Read a data CSV strictly: exact header, same number of cells on every line, every cell one line of
printable text (no control character, no quoted newline), line numbers kept.

Validation code collects problems as (file, line, column, message) and raises one CatalogueError.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from kdsurvey.errors import CatalogueError, DataNotFoundError

#: Control characters (C0, DEL, C1) and Unicode line/paragraph separators: never part of a printed cell.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LINE_BREAKS = "\n\r\x85\u2028\u2029"


class Problems:
    """Collects problems for one file, so a load reports them all at once."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.items: list[tuple[str, int | None, str | None, str]] = []

    def add(self, line: int | None, column: str | None, message: str) -> None:
        self.items.append((self.path, line, column, message))

    def raise_if_any(self) -> None:
        if self.items:
            raise CatalogueError(self.items)


def read_utf8(path: Path) -> str:
    """The whole file as text; non-UTF-8 bytes are a CatalogueError with the file's line and byte."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")  # the whole file at once, so the byte offset is the file's own
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CatalogueError([(str(path), line, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None


def bad_characters(text: str) -> str | None:
    """Why a cell's text cannot reach a table (a line break, a control character), or None.

    A table cell is one line of printable text; a NUL or a quoted newline would break Markdown and
    LaTeX rows downstream, so the loader refuses it where the file and line are still known.
    """
    match = _CONTROL.search(text)
    if match is None:
        return None
    char = match.group()
    if char in _LINE_BREAKS:
        return "holds a line break (a quoted newline); a cell must be one line"
    return f"holds the control character U+{ord(char):04X} at character {match.start() + 1}; remove it"


def read_records(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """[(line number, {column: text})] for every data line; raises on any structural problem."""
    if not path.is_file():
        raise DataNotFoundError(f"data file not found: {path}")
    problems = Problems(path)
    text = read_utf8(path)
    try:
        with io.StringIO(text, newline="") as fh:
            reader = csv.reader(fh, strict=True)
            header = next(reader, None)
            if header is None:
                problems.add(1, None, "file is empty; expected a header line")
                problems.raise_if_any()
            missing = [c for c in columns if c not in header]
            extra = [c for c in header if c not in columns]
            if missing or extra:
                parts = []
                if missing:
                    parts.append("missing column(s) " + ", ".join(missing))
                if extra:
                    parts.append("unknown column(s) " + ", ".join(extra))
                problems.add(1, None, "; ".join(parts))
                problems.raise_if_any()
            records = []
            start = reader.line_num + 1
            for cells in reader:
                line, start = start, reader.line_num + 1  # a record's first line, also when a cell spans lines
                if not any(c.strip() for c in cells):
                    continue  # blank line
                if len(cells) != len(header):
                    problems.add(line, None, f"expected {len(header)} cells, found {len(cells)}")
                    continue
                for column, text in zip(header, cells):
                    if (found := bad_characters(text)) is not None:
                        problems.add(line, column, found)
                records.append((line, dict(zip(header, cells))))
    except csv.Error as exc:
        problems.add(reader.line_num, None, f"malformed CSV ({exc})")
    problems.raise_if_any()
    return records
