r"""LaTeX tables that fit where papers put them.

Every table is a float of a standard `article` (one or two columns, letter or A4): `table` when it
fits a column, `table*` when it needs the page width. Text columns wrap (tabularx X columns, ragged
right), long headers are shortened and explained in a legend line under the table, a column that holds
the same value in every row is stated once in that legend, and a table too long for one page is split
into floats of at most `rows_per_float` rows that keep one table number ("(continued)").

A paper that `\input`s these files needs `\usepackage{booktabs,tabularx}` in its preamble.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from kdsurvey.printed import NOT_REPORTED

if TYPE_CHECKING:
    from kdsurvey.render import Table

#: LaTeX's special characters, and the text symbols that OT1-encoded pdflatex prints as other glyphs.
_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "|": r"\textbar{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
#: Characters pdflatex's default (utf8, OT1) set-up cannot typeset, or sets better in math.
_SYMBOLS = {
    NOT_REPORTED: "--",
    "—": "---",
    "→": r"$\rightarrow$",
    "±": r"$\pm$",
    "×": r"$\times$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "α": r"$\alpha$",
    "τ": r"$\tau$",
}


_NUMBER = re.compile(r"[-+]?\d+(\.\d+)?|" + NOT_REPORTED)


def escape_latex(text: str) -> str:
    """Plain text as LaTeX text: specials escaped, symbols pdflatex lacks in text mode set in math."""
    return "".join(_SPECIALS.get(ch) or _SYMBOLS.get(ch, ch) for ch in str(text))


def escape_cell(text: str) -> str:
    """A cell's text as LaTeX; an underscore may end a line, so `cnn_large` wraps in a narrow column."""
    return escape_latex(text).replace(r"\_", r"\_\allowbreak{}")


@dataclass(frozen=True)
class Layout:
    """How a table's LaTeX form sits in a paper; the Markdown and CSV forms ignore it."""

    #: `table*` (page width) rather than `table` (column width)
    wide: bool = False
    #: font size of the tabular and its legend (a LaTeX size command without the backslash)
    size: str = "small"
    #: inter-column space on each side of a column, in pt (LaTeX's default is 6)
    tabcolsep: float = 4.0
    #: wrapping columns and their relative widths (tabularx X columns); others keep their natural width
    wrap: Mapping[str, float] = field(default_factory=dict)
    #: short headers (LaTeX), explained in the legend by the column's full name
    short: Mapping[str, str] = field(default_factory=dict)
    #: columns stated once in the legend ("All rows: ...") when every row holds the same text
    hoist: tuple[str, ...] = ()
    #: columns left out because another column's LaTeX cell already shows them
    hide: tuple[str, ...] = ()
    #: columns shown once, in a spanning title row over each run of rows that share their values
    group: tuple[str, ...] = ()
    #: more legend text (LaTeX), after the short headers
    note: str = ""
    #: at most this many rows in one float; longer tables continue in the next float
    rows_per_float: int = 45


def render(table: Table) -> str:
    """The table as one or more booktabs floats (see the module docstring)."""
    layout = table.layout
    cells = _latex_cells(table)
    titles = _group_titles(table, cells)
    hoisted = [c for c in layout.hoist if c in cells and len(cells) and cells[c].nunique() == 1]
    left_out = {table.group_column, *layout.group, *layout.hide, *hoisted}
    columns = [c for c in cells.columns if c not in left_out]
    headers = [_header(table, c) for c in columns]
    spec = _column_spec(table, columns)
    legend = _legend(table, columns, hoisted, cells)
    n = len(cells)
    parts = max(1, math.ceil(n / layout.rows_per_float))
    bounds = [round(i * n / parts) for i in range(parts + 1)]
    wrapped = any(c in layout.wrap for c in columns)
    floats = []
    for i in range(parts):
        body = _body(cells, columns, range(bounds[i], bounds[i + 1]), titles, wrapped)
        floats.append(_float(table, i, (spec, wrapped), headers, body, legend))
    return "\n".join(floats)


def _latex_cells(table: Table) -> pd.DataFrame:
    """Every cell as LaTeX: given LaTeX cells as they are, the rest escaped."""
    text = table._text()
    out = pd.DataFrame({c: [escape_cell(v) for v in text[c]] for c in text.columns}, index=text.index)
    for column, given in table.latex_cells.items():
        if len(given) != len(out):
            raise ValueError(f"{table.name}: {len(given)} LaTeX cells for column {column!r} of {len(out)} rows")
        out[column] = [str(v) for v in given]  # in row order
    return out.reset_index(drop=True)


def _group_titles(table: Table, cells: pd.DataFrame) -> list[str] | None:
    """Per row, the title of its group (the table's group column, then the layout's group columns)."""
    parts = [[escape_latex(v) for v in table.frame[table.group_column]]] if table.group_column else []
    parts += [list(cells[c]) for c in table.layout.group]
    return [r"\quad ".join(row) for row in zip(*parts)] if parts else None


def _header(table: Table, column: str) -> str:
    short = table.layout.short.get(column)
    return short if short is not None else table.latex_headers.get(column, escape_latex(column))


def _column_spec(table: Table, columns: list[str]) -> str:
    """X columns (ragged right, widths in the given ratio) for wrapping text, r for numbers, l otherwise."""
    wrap = {c: w for c, w in table.layout.wrap.items() if c in columns}
    scale = len(wrap) / sum(wrap.values()) if wrap else 0
    specs = []
    for column in columns:
        if column in wrap:
            width = f"{wrap[column] * scale:.3f}".rstrip("0").rstrip(".")
            # \hspace{0pt}: a cell's first word may be hyphenated too, as in a paragraph
            specs.append(rf">{{\raggedright\arraybackslash\hsize={width}\hsize\hspace{{0pt}}}}X")
        else:
            specs.append("r" if _numbers(table, column) else "l")
    return "@{}" + "".join(specs) + "@{}"


def _numbers(table: Table, column: str) -> bool:
    """Whether a column holds numbers (or their printed text, or "–"), to be right-aligned."""
    values = table.frame[column]
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    return len(values) > 0 and all(_NUMBER.fullmatch(str(v)) for v in values)


def _legend(table: Table, columns: list[str], hoisted: list[str], cells: pd.DataFrame) -> str:
    """The line under the table: what each short header stands for, then the columns stated once."""
    layout = table.layout
    parts = [f"{layout.short[c]}: {table.latex_headers.get(c, escape_latex(c))}" for c in columns if c in layout.short]
    text = "; ".join(parts) + ("." if parts else "")
    if hoisted:
        same = "; ".join(f"{_header(table, c)} {cells[c].iloc[0]}" for c in hoisted)
        text += f" All rows: {same}."
    if layout.note:
        text += f" {layout.note}"
    return text.strip()


def _body(cells: pd.DataFrame, columns: list[str], rows: range, titles: list | None, wrapped: bool) -> list[str]:
    """Row lines, with a spanning title row where a group starts (and at the top of a continuation)."""
    span = r">{\raggedright\arraybackslash}p{\linewidth}" if wrapped else "l"
    lines, previous = [], None
    for i in rows:
        if titles is not None and titles[i] != previous:
            if previous is not None:
                lines.append(r"\midrule")
            lines.append(rf"\multicolumn{{{len(columns)}}}{{@{{}}{span}@{{}}}}{{\textit{{{titles[i]}}}}} \\")
            previous = titles[i]
        lines.append(" & ".join(cells.at[i, c] for c in columns) + r" \\")
    return lines


def _float(table: Table, part: int, columns: tuple[str, bool], headers: list[str], body: list[str], legend: str) -> str:
    """One float: caption (a continuation keeps the table's number), tabular(x), legend."""
    layout = table.layout
    spec, wrapped = columns
    env = "table*" if layout.wide else "table"
    caption = escape_latex(table.caption) if not part else "(continued)"
    begin = rf"\begin{{tabularx}}{{\linewidth}}{{{spec}}}" if wrapped else rf"\begin{{tabular}}{{{spec}}}"
    end = r"\end{tabularx}" if wrapped else r"\end{tabular}"
    lines = [
        rf"\begin{{{env}}}",
        r"\centering",
        r"\addtocounter{table}{-1}" if part else None,
        rf"\caption{{{caption}}}",
        rf"\label{{{table.label}}}" if not part else None,
        rf"\{layout.size}",
        rf"\setlength{{\tabcolsep}}{{{layout.tabcolsep:g}pt}}",
        r"\setlength{\abovetopsep}{4pt}",  # booktabs: room between the caption and the top rule
        begin,
        r"\toprule",
        " & ".join(headers) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        end,
        rf"\par\smallskip{{\raggedright {legend}\par}}" if legend else None,
        rf"\end{{{env}}}",
    ]
    return "\n".join(line for line in lines if line is not None) + "\n"
