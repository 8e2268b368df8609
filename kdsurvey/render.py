"""A table ready to print: one DataFrame, rendered as Markdown, LaTeX (booktabs; see kdsurvey.latex) or CSV.

Text cells are kept as printed; numbers are formatted here, NaN shows as the paper's "–".
Optional group rows (the survey's "Offline distillation" / "Online distillation") come from
one column of the frame and are drawn as spanning rows, as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from kdsurvey.errors import UsageError
from kdsurvey.latex import Layout, escape_latex, render
from kdsurvey.printed import NOT_REPORTED

__all__ = ["FORMATS", "Layout", "Table", "escape_latex", "escape_markdown"]

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
    #: how the LaTeX form sits in a paper: float, wrapping columns, short headers (kdsurvey.latex)
    layout: Layout = field(default_factory=Layout)
    #: BibTeX key of each row's reference (same index as frame), written to the CSV as `reference_key`
    reference_keys: pd.Series | None = None
    #: significant digits of numbers in the CSV: enough for every printed digit, none of the float noise
    csv_digits: int = 10

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
        text = self._text().map(escape_markdown).rename(columns=escape_markdown)
        if self.group_column is None:
            return text.to_markdown(index=False, disable_numparse=True) + "\n"
        group_column = escape_markdown(self.group_column)
        body = text.drop(columns=[group_column])
        rows = []
        for group, part in text.groupby(group_column, sort=False):
            rows.append(pd.DataFrame([[group] + [""] * (body.shape[1] - 1)], columns=body.columns))
            rows.append(part.drop(columns=[group_column]))
        return pd.concat(rows, ignore_index=True).to_markdown(index=False, disable_numparse=True) + "\n"

    def to_csv(self) -> str:
        """The frame as CSV: numbers rounded to `csv_digits` significant digits (0.0056, not
        0.005600000000000049), the reference's BibTeX key beside its author-year text."""
        out = self.frame.copy()
        for column in out.columns:
            if pd.api.types.is_float_dtype(out[column]):
                out[column] = [_significant(v, self.csv_digits) for v in out[column]]
        if self.reference_keys is not None:
            at = out.columns.get_loc("Reference") + 1 if "Reference" in out.columns else len(out.columns)
            out.insert(at, "reference_key", self.reference_keys.reindex(out.index).fillna("").to_numpy())
        return out.to_csv(index=False, lineterminator="\n")

    def to_latex(self) -> str:
        return render(self)


def _significant(value: float, digits: int) -> float:
    """`value` rounded to `digits` significant digits (NaN stays NaN, written as an empty cell)."""
    return value if not math.isfinite(value) or value == 0 else float(f"{value:.{digits}g}")


def escape_markdown(text: str) -> str:
    """A cell as Markdown table text: a `|` would end the cell, so it is escaped."""
    return text.replace("|", "\\|")
