"""The main job: every table, figure and reference of the catalogue into one folder, with an index.

    DIR/index.md               the report: tables inline, figures, provenance
    DIR/index.html             the same as one self-contained page (figures embedded), readable offline
    DIR/tables/NAME.{md,tex,csv}
    DIR/figures/NAME.{png,pdf}
    DIR/references.bib          every reference the tables cite, the survey first
    DIR/macros.tex              one LaTeX macro per quotable figure (kdsurvey.macros)

The folder is built beside DIR and swapped in only when complete (kdsurvey.outputs).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kdsurvey import (
    __version__,
    analysis,
    benchmarks,
    catalogue,
    macros,
    plots,
    record,
    references,
    report_html,
    tables,
)
from kdsurvey.outputs import check_target, staged_folder
from kdsurvey.paths import data_dir

SURVEY_DOI = "https://doi.org/10.7717/peerj-cs.474"

TABLE_ORDER = ("table1", "table2", "reproduced", "benchmark", "metric", "pareto", "stability", "methods")
SOURCE_TABLES = {"reported": ("table1", "table2"), "reproduced": ("reproduced",)}  # tables of one kind of row
FIGURE_TITLES = {
    "tradeoff": "Size reduction vs accuracy reduction, with iso-metric lines",
    "alpha_sensitivity": "Metric and rank as alpha varies",
}
ROWS = {"reported": "surveyed results", "reproduced": "reproduced results", "all": "surveyed and reproduced results"}


def table_title(name: str, source: str) -> str:
    """A table's heading in the report, naming the rows it holds."""
    rows = ROWS[source]
    return {
        "table1": "Table 1: approaches that distil the teacher's soft labels",
        "table2": "Table 2: approaches that distil other parts of the teacher",
        "metric": f"Distillation metric of the {rows}",
        "pareto": f"Pareto front of the {rows}: size vs accuracy",
        "stability": f"Rank stability across alpha (Kendall's tau), {rows}",
        "methods": "Methods named in the source documents",
        "reproduced": "Reproduced techniques: teacher, baseline and student over seeds",
        "benchmark": tables.BENCHMARK_ROWS[source],
    }[name]


def build(alpha: float = 0.5, data: str | Path | None = None, source: str = "all", runs=()) -> dict:
    """Every table, figure and the bibliography, in memory.

    `source` keeps the reported or the reproduced rows only (default: all): the metric, Pareto and
    stability tables and the figures are computed on those rows, and the tables of the other kind
    (the survey's Tables 1 and 2, or the reproduced techniques) are left out. `runs` adds the records
    under those folders (a user's runs) to the data folder's, each labelled with its run.
    Returns {'tables': {name: Table}, 'figures': {name: Figure}, 'bibtex': str, 'macros': str, 'frame':
    the rows shown, 'source': source, 'inputs': [(data file, sha256)]}.
    """
    root = Path(data) if data is not None else data_dir()
    frame = catalogue.results(root, source, runs)
    records = record.load(root, runs)
    bib = references.load_folder(root)
    makers = {
        "table1": lambda: tables.survey_table(1, frame, bib),
        "table2": lambda: tables.survey_table(2, frame, bib),
        "reproduced": lambda: tables.reproduced_table(records, bib, alpha),
        "benchmark": lambda: _benchmark_table(root, records, bib, alpha, source),
        "metric": lambda: tables.metric_table(frame, bib, alpha=alpha),
        "pareto": lambda: tables.pareto_table(frame, bib),
        "stability": lambda: tables.stability_table(frame),
        "methods": lambda: tables.methods_table(catalogue.methods(root), bib),
    }
    left_out = {name for kind, names in SOURCE_TABLES.items() if source not in (kind, "all") for name in names}
    built = {name: makers[name]() for name in TABLE_ORDER if name not in left_out}
    return {
        "tables": {name: table for name, table in built.items() if table is not None},
        "figures": plots.all_figures(frame, alpha),
        "bibtex": bib.bibtex(catalogue.table_keys("all", root)),
        "macros": macros.build(alpha, root, runs),
        "frame": frame,
        "source": source,
        "inputs": _inputs(root, records),
    }


def write(out: str | Path, alpha: float = 0.5, data: str | Path | None = None, source: str = "all", runs=()) -> Path:
    """Build the report and write it to `out` as a whole (see module docstring). Returns `out`."""
    out = check_target(out)  # refuse a bad folder before doing the work
    content = build(alpha, data, source, runs)
    with staged_folder(out) as folder:
        (folder / "tables").mkdir()
        (folder / "figures").mkdir()
        for name, table in content["tables"].items():
            for fmt, suffix in (("markdown", "md"), ("latex", "tex"), ("csv", "csv")):
                (folder / "tables" / f"{name}.{suffix}").write_text(table.render(fmt), encoding="utf-8")
        for name, fig in content["figures"].items():
            plots.save(fig, folder / "figures" / name)
        (folder / "references.bib").write_text(content["bibtex"], encoding="utf-8")
        (folder / "macros.tex").write_text(content["macros"], encoding="utf-8")
        parts = _parts(content, alpha)
        (folder / "index.md").write_text(_markdown(parts), encoding="utf-8")
        pngs = {name: (folder / "figures" / f"{name}.png").read_bytes() for name in content["figures"]}
        (folder / "index.html").write_text(report_html.page(parts, pngs), encoding="utf-8")
    return out


def _benchmark_table(root: Path, records: list[dict], bib, alpha: float, source: str):
    """The published results beside the reproduced ones; None in a reproduced-only report where no
    record measures a published setting (its table would have no row)."""
    published = benchmarks.load(root)
    if source == "reproduced" and not (benchmarks.compare(published, records, alpha)["seeds"] > 0).any():
        return None
    return tables.benchmark_table(published, records, bib, alpha, source)


def _inputs(root: Path, records: list[dict] = ()) -> list[tuple[str, str]]:
    """(path, sha256) of every data file the report is computed from: relative to the data folder, or the
    record files of a user's runs as found."""
    files = [root / "survey" / "table1.csv", root / "survey" / "table2.csv", root / "methods.csv",
             root / references.BIB_FILE]  # fmt: skip
    files += [benchmarks.folder(root) / name for name in ("results.csv", "architectures.csv")]
    folder = root / record.FOLDER
    files += sorted(folder.glob("*.json")) if folder.is_dir() else []
    found = [(p.relative_to(root).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest()) for p in files]
    runs = sorted({Path(r[record.ORIGIN]) / f"{r['run_id']}.json" for r in records if r[record.ORIGIN] != "data"})
    return found + [(p.as_posix(), hashlib.sha256(p.read_bytes()).hexdigest()) for p in runs]


def _parts(content: dict, alpha: float) -> dict:
    """What the index says, once, for both its Markdown and its HTML form.

    Text uses three inline marks only: *emphasis*, `code` and [link](target).
    Returns {'intro': [paragraph or list of bullets], 'sections': [dict], 'provenance': [(file, sha256)]}.
    """
    frame, source = content["frame"], content["source"]
    scored = frame["size_reduction_pct"].notna() & frame["accuracy_reduction_pct"].notna()
    surveyed = frame[frame["source"] == "reported"]
    counts = surveyed["attribution"].value_counts()
    by_table = ", ".join(f"{n} from Table {t}" for t, n in surveyed["table"].value_counts().sort_index().items())
    kinds = []
    if source in ("reported", "all"):
        kinds.append(f"{len(surveyed)} reported ({by_table})")
    if source in ("reproduced", "all"):
        kinds.append(f"{len(frame) - len(surveyed)} reproduced by kdsurvey runs")
    bullets = [
        f"Results: {' and '.join(kinds)}; {int(scored.sum())} have both a size and an accuracy reduction and so a "
        "metric." + ("" if source == "all" else f" Only the {source} rows are shown (`--source {source}`)."),
        f"Metric ranked at alpha = {alpha:g}: D = alpha * (student size / teacher size) + (1 - alpha) * "
        "(1 - student accuracy / teacher accuracy); lower is better.",
    ]
    if source != "reproduced":
        restored = ", ".join(f"{counts.get(k, 0)} {k}" for k in ("confirmed", "attributed", "unidentified"))
        bullets.insert(1, f"References restored: {restored}.")
    intro = [
        "The survey's summary tables regenerated from the kdsurvey catalogue, the distillation metric of "
        "every result, and comparison figures. Survey: Alkhulaifi, Alsahli & Ahmad (2021), *Knowledge "
        "distillation in deep learning and its applications*, PeerJ Computer Science 7:e474, "
        f"[doi:10.7717/peerj-cs.474]({SURVEY_DOI}) (`{references.SURVEY_KEY}` in [references.bib](references.bib)).",
        bullets,
        "Every table is also in `tables/` as Markdown, LaTeX (`\\usepackage{booktabs,tabularx}`; cite keys from "
        "references.bib) and CSV; "
        "every figure in `figures/` as PNG and PDF. [macros.tex](macros.tex) defines one LaTeX macro per figure a "
        "paper may quote (each result's metric at this alpha, each reproduced mean and interval, each published "
        "benchmark figure with its reproduced mean, interval and difference), each with a "
        "comment naming its source row: `\\input{macros}` and write `\\kdsMetricTabOneRowFour` instead of a number. "
        "This page is also [index.md](index.md) (Markdown) and [index.html](index.html) (one file, readable offline).",
    ]
    sections = []
    for name, table in content["tables"].items():
        files = [(s, f"tables/{name}.{s}") for s in ("md", "tex", "csv")]
        sections.append({"id": f"table-{name}", "title": table_title(name, source), "caption": table.caption,
                         "table": table, "files": files})  # fmt: skip
        if name == "pareto":
            sections += _figure_sections(content["frame"])
    sections.append({"id": "provenance", "title": "Provenance", "caption": "", "provenance": content["inputs"],
                     "files": [], "text": f"kdsurvey {__version__}. Computed from these data files:"})  # fmt: skip
    return {"intro": intro, "sections": sections}


def _figure_sections(frame) -> list[dict]:
    """The two figures, with captions that count the rows drawn."""
    scored = frame[frame["size_reduction_pct"].notna() & frame["accuracy_reduction_pct"].notna()]
    rows = ROWS[_source_of(frame)]
    captions = {
        "tradeoff": f"{len(scored)} {rows} with a metric; lines of equal D at the report's alpha and the Pareto front "
        f"({len(analysis.pareto_front(scored))} results).",
        "alpha_sensitivity": f"{len(scored)} {rows} with a metric; {len(analysis.rank_crossings(scored))} pairs that "
        "swap order for alpha inside (0, 1).",
    }
    return [{"id": f"figure-{name}", "title": f"Figure: {title}", "caption": captions[name], "figure": name,
             "files": [(s, f"figures/{name}.{s}") for s in ("png", "pdf")]}
            for name, title in FIGURE_TITLES.items()]  # fmt: skip


def _source_of(frame) -> str:
    kinds = set(frame["source"])
    return "all" if len(kinds) != 1 else kinds.pop()


def _markdown(parts: dict) -> str:
    lines = ["# kdsurvey report", ""]
    for block in parts["intro"]:
        lines += ([f"- {b}" for b in block] if isinstance(block, list) else [block]) + [""]
    for section in parts["sections"]:
        lines += [f"## {section['title']}", ""]
        if section["caption"]:
            lines += [f"*{section['caption']}*", ""]
        if "table" in section:
            lines.append(section["table"].to_markdown())
        if "figure" in section:
            lines += [f"![{section['title']}](figures/{section['figure']}.png)", ""]
        if "provenance" in section:
            lines += [section["text"], "", "| file | sha256 |", "|---|---|"]
            lines += [f"| `{path}` | `{digest}` |" for path, digest in section["provenance"]]
        if section["files"]:
            lines += ["Files: " + " · ".join(f"[{label}]({path})" for label, path in section["files"]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
