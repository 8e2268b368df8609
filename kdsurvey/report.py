"""The main job: every table, figure and reference of the catalogue into one folder, with an index.

    DIR/index.md               the report: tables inline, figures, provenance
    DIR/tables/NAME.{md,tex,csv}
    DIR/figures/NAME.{png,pdf}
    DIR/references.bib          every reference the tables cite, the survey first
    DIR/macros.tex              one LaTeX macro per quotable figure (kdsurvey.macros)

The folder is built beside DIR and swapped in only when complete (kdsurvey.outputs).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from kdsurvey import __version__, catalogue, macros, plots, record, references, tables
from kdsurvey.outputs import check_target, staged_folder
from kdsurvey.paths import data_dir

TABLE_ORDER = ("table1", "table2", "reproduced", "metric", "pareto", "stability", "methods")
TABLE_TITLES = {
    "table1": "Table 1: approaches that distil the teacher's soft labels",
    "table2": "Table 2: approaches that distil other parts of the teacher",
    "metric": "Distillation metric of every result, reported and reproduced",
    "pareto": "Pareto front: size vs accuracy",
    "stability": "Rank stability across alpha (Kendall's tau)",
    "methods": "Methods named in the source documents",
    "reproduced": "Reproduced techniques: teacher, baseline and student over seeds",
}
FIGURE_TITLES = {
    "tradeoff": "Size reduction vs accuracy reduction, with iso-metric lines",
    "alpha_sensitivity": "Metric and rank as alpha varies",
}


def build(alpha: float = 0.5, data: str | Path | None = None) -> dict:
    """Every table, figure and the bibliography, in memory.

    Returns {'tables': {name: Table}, 'figures': {name: Figure}, 'bibtex': str, 'frame': the
    catalogue, 'inputs': [(data file, sha256)]}.
    """
    root = Path(data) if data is not None else data_dir()
    frame = catalogue.results(root)
    bib = references.load_folder(root)
    method_rows = catalogue.methods(root)
    built = {
        "table1": tables.survey_table(1, frame, bib),
        "table2": tables.survey_table(2, frame, bib),
        "metric": tables.metric_table(frame, bib, alpha=alpha),
        "pareto": tables.pareto_table(frame, bib),
        "stability": tables.stability_table(frame),
        "methods": tables.methods_table(method_rows, bib),
        "reproduced": tables.reproduced_table(record.load(root), bib, alpha),
    }
    figures = plots.all_figures(frame, alpha)
    return {
        "tables": built,
        "figures": figures,
        "bibtex": bib.bibtex(catalogue.table_keys("all", root)),
        "macros": macros.build(alpha, root),
        "frame": frame,
        "inputs": _inputs(root),
    }


def write(out: str | Path, alpha: float = 0.5, data: str | Path | None = None) -> Path:
    """Build the report and write it to `out` as a whole (see module docstring). Returns `out`."""
    out = check_target(out)  # refuse a bad folder before doing the work
    content = build(alpha, data)
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
        (folder / "index.md").write_text(_index(content, alpha), encoding="utf-8")
    return out


def _inputs(root: Path) -> list[tuple[str, str]]:
    """(relative path, sha256) of every data file the report is computed from."""
    files = [root / "survey" / "table1.csv", root / "survey" / "table2.csv", root / "methods.csv",
             root / references.BIB_FILE]  # fmt: skip
    folder = root / record.FOLDER
    files += sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [(p.relative_to(root).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest()) for p in files]


def _index(content: dict, alpha: float) -> str:
    frame = content["frame"]
    scored = int((frame["size_reduction_pct"].notna() & frame["accuracy_reduction_pct"].notna()).sum())
    surveyed = frame[frame["source"] == "reported"]
    counts = surveyed["attribution"].value_counts()
    by_table = surveyed["table"].value_counts().sort_index().items()
    lines = [
        "# kdsurvey report",
        "",
        "The survey's summary tables regenerated from the kdsurvey catalogue, the distillation metric of "
        "every result, and comparison figures. Survey: Alkhulaifi, Alsahli & Ahmad (2021), *Knowledge "
        "distillation in deep learning and its applications*, PeerJ Computer Science 7:e474, "
        "doi:10.7717/peerj-cs.474 (`alkhulaifi2021knowledge` in [references.bib](references.bib)).",
        "",
        f"- Results: {len(surveyed)} reported ({', '.join(f'{n} from Table {t}' for t, n in by_table)}) and "
        f"{len(frame) - len(surveyed)} reproduced by kdsurvey runs; "
        f"{scored} have both a size and an accuracy reduction and so a metric.",
        "- References restored: "
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("confirmed", "attributed", "unidentified"))
        + ".",
        f"- Metric ranked at alpha = {alpha:g}: D = alpha * (student size / teacher size) + (1 - alpha) * "
        "(1 - student accuracy / teacher accuracy); lower is better.",
        "",
        "Every table is also in `tables/` as Markdown, LaTeX (booktabs; cite keys from references.bib) and CSV; "
        "every figure in `figures/` as PNG and PDF. [macros.tex](macros.tex) defines one LaTeX macro per figure a "
        "paper may quote (each result's metric at this alpha, each reproduced mean and interval), each with a "
        "comment naming its source row: `\\input{macros}` and write `\\kdsMetricTabOneRowFour` instead of a number.",
        "",
    ]
    for name in TABLE_ORDER:
        table = content["tables"][name]
        lines += [f"## {TABLE_TITLES[name]}", "", f"*{table.caption}*", "", table.to_markdown(),
                  f"Files: [md](tables/{name}.md) · [tex](tables/{name}.tex) · [csv](tables/{name}.csv)", ""]  # fmt: skip
        if name == "pareto":
            for fig in FIGURE_TITLES:
                lines += [f"## Figure: {FIGURE_TITLES[fig]}", "", f"![{FIGURE_TITLES[fig]}](figures/{fig}.png)", "",
                          f"Files: [png](figures/{fig}.png) · [pdf](figures/{fig}.pdf)", ""]  # fmt: skip
    lines += ["## Provenance", "", f"kdsurvey {__version__}. Computed from these data files:", "",
              "| file | sha256 |", "|---|---|"]  # fmt: skip
    lines += [f"| `{path}` | `{digest}` |" for path, digest in content["inputs"]]
    return "\n".join(lines) + "\n"
