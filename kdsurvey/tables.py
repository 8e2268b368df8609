"""The survey's Tables 1 and 2 regenerated from the catalogue, and the comparison tables.

Each builder returns a `kdsurvey.render.Table`: `.frame` is the DataFrame, and
`.to_markdown()`, `.to_latex()`, `.to_csv()` give the printable forms.
"""

from __future__ import annotations

import pandas as pd

from kdsurvey import analysis, benchmarks, catalogue, record, references, reproduced
from kdsurvey.errors import UsageError
from kdsurvey.latex import escape_cell
from kdsurvey.render import Layout, Table, escape_latex

#: The paper's column headings, in order.
SURVEY_HEADERS = (
    "Reference",
    "Targeted architecture",
    "Utilized data",
    "Reduction in accuracy compared to teacher",
    "Improvement in accuracy compared to baseline",
    "Reduction in size",
)
SURVEY_CAPTIONS = {
    1: "Summary of knowledge distillation approaches that utilize soft labels of teacher to train student model.",
    2: "Summary of knowledge distillation approaches that distills knowledge from parts other than or in "
    "addition to the soft labels of the teacher models to be used for training the student models.",
}
SURVEY_FOOTNOTE = (
    "In case of several students, results of student with largest size reduction are reported. In case of "
    "several datasets, dataset associated with the lowest accuracy reduction is recorded. Baseline models have "
    "the same size as the corresponding student models, but they were trained without the teacher models."
)
GROUP_TITLES = {"offline": "Offline distillation", "online": "Online distillation"}
STRATEGY_ORDER = tuple(GROUP_TITLES)
TABLE_NAMES = ("1", "2", "metric", "methods", "stability", "pareto", "reproduced", "benchmark")


def _inputs(frame, bib):
    return (catalogue.results() if frame is None else frame), (references.load() if bib is None else bib)


def _paper_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Offline block before online block, file order inside each (a stable sort)."""
    key = frame["strategy"].map({s: i for i, s in enumerate(STRATEGY_ORDER)})
    return frame.assign(_key=key).sort_values("_key", kind="stable").drop(columns="_key")


def data_text(frame: pd.DataFrame) -> pd.Series:
    """The data set, marked "(mIoU)" where the accuracy columns measure mean IoU, not accuracy."""
    return frame["dataset"].where(frame["metric_kind"] != "mIoU", frame["dataset"] + " (mIoU)")


def rows_shown(frame: pd.DataFrame) -> str:
    """'surveyed', 'reproduced' or 'surveyed and reproduced': which results a table holds, for its caption."""
    kinds = set(frame["source"])
    if kinds == {"reproduced"}:
        return "reproduced"
    return "surveyed and reproduced" if "reproduced" in kinds else "surveyed"


def reference_text(frame: pd.DataFrame, bib) -> pd.Series:
    """'Author et al. (Year)' per row, 'unidentified' where the row has no reference."""
    return frame["reference"].map(lambda k: bib.author_year(k) if k else "unidentified")


def survey_table(table: int, frame: pd.DataFrame | None = None, bib=None, attribution: bool = True) -> Table:
    """Table 1 or 2 as the paper prints it: its rows, order, grouping and printed text.

    The Reference column, lost from the source copy, is restored from the catalogue; with
    `attribution=True` a last column says how sure each restored reference is.
    """
    if table not in catalogue.SURVEY_TABLES:
        raise UsageError(f"the survey has Tables 1 and 2, not {table!r}")
    frame, bib = _inputs(frame, bib)
    rows = _paper_order(frame[frame["table"] == table])
    printed = ("architecture_printed", "dataset_printed", "accuracy_reduction_printed",
               "baseline_improvement_printed", "size_reduction_printed")  # fmt: skip
    out = pd.DataFrame(
        {"Distillation": rows["strategy"].map(GROUP_TITLES), SURVEY_HEADERS[0]: reference_text(rows, bib)}
        | {header: rows[column] for header, column in zip(SURVEY_HEADERS[1:], printed)}
    )
    if attribution:
        out["Attribution"] = rows["attribution"]
    cited = rows["reference"].map(lambda k: rf"{_latex_author_year(bib, k)}~\cite{{{k}}}" if k else "unidentified")
    return Table(
        name=f"table{table}",
        frame=out.reset_index(drop=True),
        caption=f"{SURVEY_CAPTIONS[table]} {SURVEY_FOOTNOTE}",
        reference_keys=rows["reference"].reset_index(drop=True) if attribution else None,  # the paper's columns only
        group_column="Distillation",
        latex_cells={"Reference": cited.reset_index(drop=True)},
        layout=_survey_layout(table),
    )


def _survey_layout(table: int) -> Layout:
    """Page-wide; the paper's long headings shortened and spelled out under the table."""
    return Layout(
        wide=True,
        size="footnotesize",
        tabcolsep=3,
        wrap=dict(zip(SURVEY_HEADERS[:5], (1.4, 0.9, 1.1, 0.8, 0.8))),
        short=dict(zip(SURVEY_HEADERS[1:], ("Architecture", "Data", r"Acc.\ red.", "Impr.", "Size red."))),
        note=rf"Regenerated from Table~{table} of the survey~\cite{{{references.SURVEY_KEY}}}.",
    )


#: LaTeX forms mark reproduced rows instead of giving them a Source column.
REPRODUCED_MARK_NOTE = r"$^\dagger$ reproduced by kdsurvey; the other rows are reported in the survey."


def _marked_rows(row_ids: pd.Series, reproduced_rows) -> pd.Series:
    """Row ids as LaTeX, a dagger on the reproduced ones (see REPRODUCED_MARK_NOTE)."""
    return pd.Series([escape_cell(r) + (r"$^\dagger$" if mark else "") for r, mark in zip(row_ids, reproduced_rows)])


def _cite_only(keys: pd.Series) -> pd.Series:
    r"""`\cite{key}` per row ("unidentified" without a key): narrow reference cells for wide LaTeX tables."""
    return pd.Series([rf"\cite{{{k}}}" if k else "unidentified" for k in keys])


def _cited(texts: pd.Series, keys: pd.Series) -> pd.Series:
    r"""`text \cite{key}` per row (the text alone without a key): a name and its citation in one cell (a
    line may break before the citation in a narrow column)."""
    return pd.Series([escape_latex(t) + (rf" \cite{{{k}}}" if k else "") for t, k in zip(texts, keys)])


def _ratio_layout(rows: pd.DataFrame) -> Layout:
    """A column-wide table of size and accuracy ratios: wrapped setting, short headers, reproduced rows marked."""
    return Layout(
        size="footnotesize",
        tabcolsep=3,
        wrap={"Row": 0.8, "Architecture": 1, "Data": 1},  # reproduced row ids are long (R-multi_teacher)
        short={"Size ratio": "Size", "Accuracy ratio": "Acc."},
        hide=("Source",),
        note=REPRODUCED_MARK_NOTE if (rows["source"] == "reproduced").any() else "",
    )


def _latex_author_year(bib, key: str) -> str:
    return escape_latex(bib.author_year(key))


def metric_table(
    frame: pd.DataFrame | None = None, bib=None, alpha: float = 0.5, alphas=analysis.DEFAULT_ALPHAS
) -> Table:
    """The distillation metric of every row at several alphas, ranked at `alpha` (1 = best).

    Rows without a size or an accuracy reduction stay in the table, after the ranked rows,
    with "–" for the metric and no rank.
    """
    frame, bib = _inputs(frame, bib)
    alphas = tuple(dict.fromkeys(tuple(alphas) + (alpha,)))
    scored = analysis.with_metric(frame, alphas)
    ranks = analysis.rank(frame, alpha)
    scored = scored.assign(_rank=ranks, _order=range(len(scored)))
    scored = scored.sort_values(["_rank", "_order"], na_position="last", kind="stable")
    out = pd.DataFrame(
        {
            "Row": scored["row_id"],
            "Source": scored["source"],
            "Distillation": scored["strategy"],
            "Architecture": scored["architecture"],
            "Data": data_text(scored),
            "Reference": reference_text(scored, bib),
            "Size ratio": scored["size_ratio"],
            "Accuracy ratio": scored["accuracy_ratio"],
        }
    )
    headers = {}
    for a in sorted(alphas):
        column = f"D(α={a:g})"
        out[column] = scored[analysis.metric_column(a)]
        headers[column] = rf"$D_{{{a:g}}}$"
    rank_column = f"Rank (α={alpha:g})"
    out[rank_column] = scored["_rank"].map(lambda r: "–" if pd.isna(r) else str(int(r)))
    headers[rank_column] = rf"Rank ($\alpha={alpha:g}$)"
    reproduced_rows = (scored["source"] == "reproduced").to_numpy()
    return Table(
        name="metric",
        frame=out.reset_index(drop=True),
        caption=(
            "Distillation metric D = alpha * (student size / teacher size) + (1 - alpha) * "
            f"(1 - student accuracy / teacher accuracy) for every {rows_shown(frame)} result, computed from its "
            "size and accuracy reductions"
            + (" (for reproduced rows: parameter counts and mean test accuracies)" if reproduced_rows.any() else "")
            + "; lower is better, negative when the student beats its "
            f"teacher. Ranked at alpha = {alpha:g}; rows without both reductions have no metric."
        ),
        reference_keys=scored["reference"].reset_index(drop=True),
        latex_headers=headers,
        latex_cells={
            "Row": _marked_rows(out["Row"], reproduced_rows),
            "Reference": _cite_only(scored["reference"]),
        },
        layout=Layout(
            wide=True,
            size="scriptsize",
            tabcolsep=2,
            wrap={"Row": 1, "Architecture": 1, "Data": 1},
            short={"Distillation": "Str.", "Size ratio": "Size", "Accuracy ratio": "Acc.", rank_column: "Rank"},
            hide=("Source",),
            note=r"$D_a$: the metric at $\alpha = a$." + (f" {REPRODUCED_MARK_NOTE}" if reproduced_rows.any() else ""),
            rows_per_float=20,  # 41 rows: three floats, each fits a page
        ),
    )


def methods_table(methods: pd.DataFrame | None = None, bib=None) -> Table:
    """The KD methods named in the source documents, classified by the taxonomy."""
    methods = catalogue.methods() if methods is None else methods
    bib = references.load() if bib is None else bib
    out = pd.DataFrame(
        {
            "Method": methods["name"],
            "Knowledge": methods["knowledge_type"].str.replace(";", ", "),
            "Strategy": methods["strategy"],
            "Topology": methods["topology"],
            "Domain": methods["domain"],
            "Reference": methods["reference"].map(bib.author_year),
        }
    )
    return Table(
        name="methods",
        frame=out,
        caption="Knowledge-distillation methods named in the source documents, by knowledge type, "
        "distillation strategy and teacher-student topology.",
        reference_keys=methods["reference"],
        latex_cells={"Reference": _cite_only(methods["reference"])},
        layout=Layout(wide=True, size="footnotesize", wrap={"Method": 1.6, "Knowledge": 1}, rows_per_float=25),
    )


def stability_table(frame: pd.DataFrame | None = None, alphas=(0.0, 0.25, 0.5, 0.75, 1.0)) -> Table:
    """Kendall's tau between the metric's rankings at pairs of alphas."""
    frame = catalogue.results() if frame is None else frame
    tau = analysis.rank_stability(frame, alphas)
    scored = int((frame["size_reduction_pct"].notna() & frame["accuracy_reduction_pct"].notna()).sum())
    labels = [f"α={a:g}" for a in alphas]
    out = pd.DataFrame(tau.to_numpy(), columns=labels)
    out.insert(0, "Kendall tau", labels)
    return Table(
        name="stability",
        frame=out,
        caption="Rank stability of the distillation metric: Kendall's tau between the rankings at two alphas, "
        f"over the {scored} {rows_shown(frame)} results with a metric.",
        decimals=3,
        csv_digits=4,
        latex_headers={"Kendall tau": r"Kendall $\tau$"} | {lab: rf"$\alpha={a:g}$" for lab, a in zip(labels, alphas)},
        latex_cells={"Kendall tau": pd.Series([rf"$\alpha={a:g}$" for a in alphas])},
        layout=Layout(size="small", tabcolsep=3),
    )


def pareto_table(frame: pd.DataFrame | None = None, bib=None) -> Table:
    """The rows on the Pareto front of size ratio (smaller is better) vs accuracy ratio (larger)."""
    frame, bib = _inputs(frame, bib)
    front = analysis.pareto_front(frame)
    out = pd.DataFrame(
        {
            "Row": front["row_id"],
            "Source": front["source"],
            "Architecture": front["architecture"],
            "Data": data_text(front),
            "Reference": reference_text(front, bib),
            "Size ratio": front["size_ratio"],
            "Accuracy ratio": front["accuracy_ratio"],
        }
    )
    return Table(
        name="pareto",
        frame=out,
        caption=f"Pareto front of the {rows_shown(frame)} results: no other result is both smaller "
        "(student/teacher size) and more accurate (student/teacher accuracy).",
        reference_keys=front["reference"],
        latex_cells={
            "Row": _marked_rows(out["Row"], (front["source"] == "reproduced").to_numpy()),
            "Reference": _cite_only(front["reference"]),
        },
        layout=_ratio_layout(front),
    )


def reproduced_table(records: list[dict] | None = None, bib=None, alpha: float = 0.5) -> Table:
    """Teacher, baseline and distilled student per reproduced technique, over seeds.

    Accuracies are means over seeds with the half-width of their 95% t-interval; the gain is the
    student's mean minus the baseline's in points, with Welch's interval and p-value; D is the
    distillation metric of the mean student against the mean teacher at `alpha`.
    """
    records = record.load() if records is None else records
    bib = references.load() if bib is None else bib
    summary = reproduced.summary(records)
    rows = reproduced.rows(records)
    scored = analysis.with_metric(rows, (alpha,))

    def mean_ci(role, no_interval=()):
        return [
            f"{m:.2f}" if h != h or alone else f"{m:.2f} ± {h:.2f}"
            for m, h, alone in zip(
                summary[f"{role}_mean"],
                (summary[f"{role}_high"] - summary[f"{role}_low"]) / 2,
                no_interval or [False] * len(summary),
            )
        ]

    one_teacher = [_one_teacher(rec) for rec in records]

    out = pd.DataFrame(
        {
            "Row": rows["row_id"],
            "Technique": summary["title"],
            "Strategy": summary["strategy"],
            "Knowledge": rows["knowledge"],
            "Pair": rows["architecture"],
            "Data": rows["dataset"],
            "Seeds": summary["n"],
            "Teacher (%)": mean_ci("teacher", one_teacher),
            "Baseline (%)": mean_ci("baseline"),
            "Student (%)": mean_ci("student"),
            "Gain (points)": summary["gain"],
            "Gain 95% CI": [
                "–" if lo != lo else f"[{lo:+.2f}, {hi:+.2f}]"
                for lo, hi in zip(summary["gain_low"], summary["gain_high"])
            ],
            "p (Welch)": summary["p_value"],
            f"D(α={alpha:g})": scored[analysis.metric_column(alpha)],
            "Reference": reference_text(rows, bib),
        }
    )
    if (rows["run"] != "shipped").any():  # a user's runs beside the shipped ones: say which run each row is
        out.insert(1, "Run", rows["run"])
    # rows of one setting together (row ids keep the catalogue's order); the LaTeX form titles each setting
    order = sorted(range(len(out)), key=lambda i: (out["Data"].iloc[i], out["Pair"].iloc[i]))
    out, keys = out.iloc[order].reset_index(drop=True), rows["reference"].iloc[order].reset_index(drop=True)
    cited = _cited(summary["title"], rows["reference"]).iloc[order].reset_index(drop=True)
    setting = [  # LaTeX: the pair's cell also says its teacher and seeds, which then need no columns of their own
        rf"{escape_latex(p)}, teacher {escape_latex(t)}\,\%, {n} seed{'s' * (n != 1)}"
        for p, t, n in zip(out["Pair"], out["Teacher (%)"], out["Seeds"])
    ]
    return Table(
        name="reproduced",
        frame=out,
        caption=(
            "Reproduced techniques (kdsurvey runs on the data named): test accuracy of the teacher, the baseline "
            "student trained alone and the distilled student, as mean ± half-width of the 95% t-interval over "
            "seeds; gain = student - baseline in points with Welch's 95% interval and p-value; D is the "
            f"distillation metric at alpha = {alpha:g}."
            + (
                " A teacher without an interval is one network, trained once, that taught every seed."
                if any(one_teacher)
                else ""
            )
        ),
        decimals=3,
        csv_digits=4,
        reference_keys=keys,
        latex_headers={"p (Welch)": r"$p$ (Welch)", f"D(α={alpha:g})": rf"$D_{{\alpha={alpha:g}}}$"},
        latex_cells={"Technique": cited, "Pair": pd.Series(setting)},
        layout=Layout(
            wide=True,
            size="scriptsize",
            tabcolsep=2.5,
            wrap={"Technique": 1},
            short={
                "Strategy": "Str.",
                "Knowledge": "Kn.",
                "Gain (points)": "Gain",
                "Gain 95% CI": r"95\% CI",
                "p (Welch)": "$p$",
            },
            hoist=("Pair", "Data", "Seeds", "Teacher (%)", "Baseline (%)"),
            group=("Data", "Pair"),  # when settings differ between rows: a title row over each run of them
            hide=("Row", "Reference", "Knowledge", "Seeds", "Teacher (%)"),  # knowledge: the method table; the
            # seeds and the teacher: in the pair's cell
        ),
    )


#: The benchmark table's columns that come from reproduced records (left out with source="reported").
BENCHMARK_REPRODUCED_COLUMNS = ("Runs", "Seeds", "Reproduced (%)", "95% CI", "Difference (points)", "In CI")
BENCHMARK_ROWS = {
    "all": "Published results beside reproduced ones",
    "reported": "Published results alone, without the reproduced columns",
    "reproduced": "The published results that reproduced records measure, beside them",
}


def benchmark_table(
    published=None, records: list[dict] | None = None, bib=None, alpha: float = 0.5, source: str = "all"
) -> Table:
    """Each published result (data/benchmarks/) beside the reproduced records of the same setting.

    Published figures are shown as printed and as top-1 accuracy in percent (MNIST test errors out of
    10,000); reproduced accuracies as mean and 95% t-interval over seeds; the difference is reproduced
    minus published, in points. D is the survey's metric of the published row against its source's
    teacher at `alpha`. Every row is a published (reported) figure, so `source="reported"` keeps every
    row without the reproduced columns, and `source="reproduced"` keeps the rows some record measures
    (an error when none does: an empty table says nothing).
    """
    if source not in BENCHMARK_ROWS:
        raise UsageError(f"unknown source {source!r}; choose reported, reproduced or all")
    published = benchmarks.load() if published is None else published
    records = record.load() if records is None else records
    bib = references.load() if bib is None else bib
    rows = benchmarks.compare(published, records, alpha)
    if source == "reproduced":
        rows = rows[rows["seeds"] > 0].reset_index(drop=True)
        if rows.empty:
            raise UsageError(
                "no reproduced record measures a published setting (same data set, teacher, student and method); "
                "run one, e.g. `kdsurvey reproduce --config reproductions/papers/hinton2015_mnist.yaml --data-dir DIR`"
            )
    interval = [
        "–" if lo != lo else f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(rows["reproduced_low"], rows["reproduced_high"])
    ]

    def points(values, sign=""):
        return ["–" if v != v else f"{v:{sign}.2f}" for v in values]

    d_column = f"D(α={alpha:g})"
    out = pd.DataFrame(
        {
            "Row": rows["row_id"],
            "Source": rows["reference"].map(bib.author_year),
            "Data": rows["dataset"],
            "Pair": rows["teacher_arch"] + " → " + rows["student_arch"],
            "Method": rows["method"],
            "Convention": rows["convention"],
            "Published": rows["printed"],
            "Published (%)": points(rows["published_pct"]),
            d_column: rows["published_d"],
            "Runs": rows["runs"].replace("", "–"),
            "Seeds": rows["seeds"].map(lambda n: str(n) if n else "–"),
            "Reproduced (%)": points(rows["reproduced_mean"]),
            "95% CI": interval,
            "Difference (points)": points(rows["difference"], "+"),
            "In CI": rows["inside"].map({True: "yes", False: "no"}).fillna("–"),
        }
    )
    if source == "reported":
        out = out.drop(columns=list(BENCHMARK_REPRODUCED_COLUMNS))
    cited = rows["reference"].map(lambda k: rf"{_latex_author_year(bib, k)}~\cite{{{k}}}")
    return Table(
        name="benchmark",
        frame=out,
        caption=_benchmark_caption(rows, alpha, source),
        latex_headers={d_column: rf"$D_{{\alpha={alpha:g}}}$"},
        latex_cells={"Source": cited},
        layout=Layout(
            wide=source != "reported",  # five columns fit a column
            size="scriptsize",
            tabcolsep=2,
            wrap={"Method": 1.5, "Published": 1, "95% CI": 0.8, "Runs": 1.3},
            short={
                "Published (%)": r"Publ.\ (\%)",
                "Reproduced (%)": r"Repr.\ (\%)",
                "Difference (points)": "Diff.",
                "In CI": "In",
            },
            group=("Source", "Data", "Pair", "Convention"),
            rows_per_float=20,
        ),
    )


def _benchmark_caption(rows: pd.DataFrame, alpha: float, source: str) -> str:
    """What the benchmark table shows, counting the published rows and the ones a record measures."""
    measured = rows.loc[rows["seeds"] > 0, "row_id"].nunique()
    counts = f"{rows['row_id'].nunique()} published results, {measured} measured by reproduced records"
    published = (
        "each published figure as printed and as top-1 accuracy (MNIST test errors out of 10,000), with its "
        f"reporting convention; D is the distillation metric at alpha = {alpha:g} of the published row against "
        "its source's teacher"
    )
    if source == "reported":
        return f"{BENCHMARK_ROWS[source]} ({rows['row_id'].nunique()} published results): {published}."
    return (
        f"{BENCHMARK_ROWS[source]} ({counts}): {published}; the reproduced mean over seeds of the same data set, "
        "teacher, student and method with its 95% t-interval; the difference (reproduced - published) in points."
    )


def _one_teacher(rec: dict) -> bool:
    """Whether one teacher network served every seed of a record (so its accuracy has no spread to show)."""
    stages = rec.get("stages") or {}
    teachers = {str(stage.get("teacher")) for stage in stages.values() if isinstance(stage, dict)}
    if teachers:
        return len(teachers) == 1 and len(rec["seeds"]) > 1
    return (rec.get("config") or {}).get("teacher_seed") is not None


def get(name: str, alpha: float = 0.5, data=None, attribution: bool = True, source: str = "all", runs=()) -> Table:
    """A table by name (one of TABLE_NAMES), from a data folder.

    `data` is a folder laid out like the packaged data (default: the packaged data);
    `attribution=False` leaves the Attribution column out of Tables 1 and 2; `source` limits the
    metric, stability and Pareto tables to reported or reproduced rows (benchmark: see benchmark_table).
    """
    name = str(name)
    if name not in TABLE_NAMES:
        raise UsageError(f"unknown table {name!r}; choose one of {', '.join(TABLE_NAMES)}")
    bib = references.load_folder(data)
    if name == "methods":
        return methods_table(catalogue.methods(data), bib)
    if name == "benchmark":
        return benchmark_table(benchmarks.load(data), record.load(data, runs), bib, alpha, source)
    if name == "reproduced":
        return reproduced_table(record.load(data, runs), bib, alpha)
    frame = catalogue.results(data, source, runs)
    if name in ("1", "2"):
        return survey_table(int(name), frame, bib, attribution=attribution)
    if name == "metric":
        return metric_table(frame, bib, alpha=alpha)
    if name == "stability":
        return stability_table(frame)
    return pareto_table(frame, bib)
