"""A table ready to print: one DataFrame, rendered as Markdown, LaTeX (booktabs) or CSV.

Text cells are kept as printed; numbers are formatted here, NaN shows as the paper's "–".
Optional group rows (the survey's "Offline distillation" / "Online distillation") come from
one column of the frame and are drawn as spanning rows, as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from kdsurvey.errors import UsageError
from kdsurvey.printed import NOT_REPORTED

FORMATS = ("markdown", "latex", "csv")


@dataclass
class Table:
    name: str
    frame: pd.DataFrame
    caption: str
    group_column: str | None = None
    decimals: int = 4
    #: per-column LaTeX cells that are already LaTeX (not escaped), same index as frame
    latex_cells: dict[str, pd.Series] = field(default_factory=dict)
    #: header text for LaTeX where it differs from the frame's column name
    latex_headers: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"tab:kdsurvey-{self.name}"

    def render(self, fmt: str) -> str:
        if fmt not in FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return {"markdown": self.to_markdown, "latex": self.to_latex, "csv": self.to_csv}[fmt]()

    def _text(self) -> pd.DataFrame:
        """Every cell as display text: floats to fixed decimals, missing to the en dash."""
        out = self.frame.copy()
        for column in out.columns:
            out[column] = [self._cell(v) for v in out[column]]
        return out

    def _cell(self, value) -> str:
        if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
            return NOT_REPORTED
        if isinstance(value, float):
            return f"{value:.{self.decimals}f}"
        return str(value)

    def to_markdown(self) -> str:
        text = self._text()
        if self.group_column is None:
            return text.to_markdown(index=False, disable_numparse=True) + "\n"
        body = text.drop(columns=[self.group_column])
        rows = []
        for group, part in text.groupby(self.group_column, sort=False):
            rows.append(pd.DataFrame([[group] + [""] * (body.shape[1] - 1)], columns=body.columns))
            rows.append(part.drop(columns=[self.group_column]))
        return pd.concat(rows, ignore_index=True).to_markdown(index=False, disable_numparse=True) + "\n"

    def to_csv(self) -> str:
        return self.frame.to_csv(index=False, lineterminator="\n")

    def to_latex(self) -> str:
        text = self._text()
        groups = text[self.group_column].tolist() if self.group_column else None
        body = text.drop(columns=[self.group_column]) if self.group_column else text
        for column, cells in self.latex_cells.items():
            body[column] = cells.loc[body.index].astype(str)
        body = body.replace(NOT_REPORTED, "--")
        headers = {c: self.latex_headers.get(c, escape_latex(c)) for c in body.columns}
        body = body.rename(columns=headers)
        styler = body.style.hide(axis="index").format(escape="latex")
        if self.latex_cells:
            styler = styler.format(escape=None, subset=[headers[c] for c in self.latex_cells])
        latex = styler.to_latex(
            hrules=True,
            caption=escape_latex(self.caption),
            label=self.label,
            position_float="centering",
            column_format="l" * body.shape[1],
        )
        return _insert_group_rows(latex, groups, body.shape[1]) if groups else latex


_LATEX_SPECIALS = {
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
}


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters in captions and headers (cells go through Styler)."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(text)).replace(NOT_REPORTED, "--")


def _insert_group_rows(latex: str, groups: list[str], width: int) -> str:
    """Put a spanning row before the first row of each group, and a rule between groups."""
    lines = latex.splitlines()
    start = lines.index(r"\midrule") + 1
    out, previous = lines[:start], None
    for i, group in enumerate(groups):
        if group != previous:
            if previous is not None:
                out.append(r"\midrule")
            out.append(rf"\multicolumn{{{width}}}{{l}}{{\textit{{{escape_latex(group)}}}}} \\")
            previous = group
        out.append(lines[start + i])
    out.extend(lines[start + len(groups) :])
    return "\n".join(out) + "\n"
