"""The report's index as one self-contained HTML page: tables as HTML tables (pandas Styler), figures
embedded as base64 PNG, links to the report's other files, a little inline CSS, no script and nothing
fetched from the network, so the file can be mailed or opened offline.

`page` takes the parts `kdsurvey.report` builds for index.md, so both say the same thing.
"""

from __future__ import annotations

import base64
import html
import re

import pandas as pd

from kdsurvey import __version__

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1200px; margin: 2em auto;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2 { line-height: 1.2; }
h2 { margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: .2em; }
.caption { font-style: italic; color: #444; }
.scroll { overflow-x: auto; }
table.kds { border-collapse: collapse; font-size: 0.85em; margin: .5em 0; }
table.kds th, table.kds td { border-bottom: 1px solid #e3e3e3; padding: .25em .6em; text-align: left;
                             vertical-align: top; }
table.kds th { border-bottom: 2px solid #999; }
table.kds td.group { font-style: italic; font-weight: bold; background: #f4f4f4; }
img { max-width: 100%; height: auto; }
code { background: #f4f4f4; padding: 0 .2em; }
.files { font-size: 0.9em; }
"""

_MARKS = re.compile(r"`([^`]+)`|\*(?=\S)([^*]+?)(?<=\S)\*|\[([^\]]+)\]\(([^)\s]+)\)")  # as Markdown reads them


def inline(text: str) -> str:
    """The index's plain text with its three marks (`code`, *emphasis*, [text](target)) as HTML."""
    out, last = [], 0
    for m in _MARKS.finditer(text):
        out.append(html.escape(text[last : m.start()]))
        code, emphasis, label, target = m.groups()
        if code is not None:
            out.append(f"<code>{html.escape(code)}</code>")
        elif emphasis is not None:
            out.append(f"<em>{html.escape(emphasis)}</em>")
        else:
            out.append(f'<a href="{html.escape(target)}">{html.escape(label)}</a>')
        last = m.end()
    return "".join(out) + html.escape(text[last:])


def table_html(table, table_id: str) -> str:
    """A `kdsurvey.render.Table` as an HTML table of its display text (the Markdown's cells); the
    survey's offline / online blocks start with a group row, as in the paper."""
    text = table._text()
    classes = pd.DataFrame("", index=text.index, columns=text.columns)
    if table.group_column:
        text, classes = _with_group_rows(text.pop(table.group_column), text)
    styler = text.style.hide(axis="index").format(escape="html").format_index(escape="html", axis=1)
    styler = styler.set_td_classes(classes).set_uuid(table_id)
    return styler.to_html(table_attributes='class="kds"', exclude_styles=True)


def _with_group_rows(groups: pd.Series, text: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`text` with a row naming each group before its first row, and the cell classes that mark them."""
    rows, marks = [], []
    for group, part in text.groupby(groups, sort=False):
        rows += [[str(group)] + [""] * (text.shape[1] - 1), *part.to_numpy().tolist()]
        marks += [True] + [False] * len(part)
    out = pd.DataFrame(rows, columns=text.columns)
    classes = pd.DataFrame([["group"] * text.shape[1] if m else [""] * text.shape[1] for m in marks],
                           columns=text.columns)  # fmt: skip
    return out, classes


def provenance_html(files: list[tuple[str, str]]) -> str:
    frame = pd.DataFrame(files, columns=["file", "sha256"])
    return frame.to_html(index=False, classes="kds", border=0, escape=True)


def page(parts: dict, pngs: dict[str, bytes]) -> str:
    """The whole page. `parts` as built by `kdsurvey.report`; `pngs` maps a figure name to its PNG bytes."""
    body = ["<h1>kdsurvey report</h1>"]
    for block in parts["intro"]:
        if isinstance(block, list):
            body.append("<ul>" + "".join(f"<li>{inline(b)}</li>" for b in block) + "</ul>")
        else:
            body.append(f"<p>{inline(block)}</p>")
    for section in parts["sections"]:
        body.append(f'<section id="{section["id"]}">')
        body.append(f"<h2>{html.escape(section['title'])}</h2>")
        if section["caption"]:
            body.append(f'<p class="caption">{html.escape(section["caption"])}</p>')
        if "table" in section:
            body.append(f'<div class="scroll">{table_html(section["table"], section["id"])}</div>')
        if "figure" in section:
            data = base64.b64encode(pngs[section["figure"]]).decode("ascii")
            alt = html.escape(section["title"], quote=True)
            body.append(f'<p><img src="data:image/png;base64,{data}" alt="{alt}"></p>')
        if "provenance" in section:
            body.append(f"<p>{html.escape(section['text'])}</p>{provenance_html(section['provenance'])}")
        if section["files"]:
            links = " · ".join(f'<a href="{html.escape(path)}">{label}</a>' for label, path in section["files"])
            body.append(f'<p class="files">Files: {links}</p>')
        body.append("</section>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="generator" content="kdsurvey {__version__}">\n'
        "<title>kdsurvey report</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )
