"""LaTeX macros for every figure a paper may quote, so the paper `\\input`s them and stays in sync.

    \\kdsAlpha                              the alpha the metrics are computed at
    \\kdsMetricTabOneRowTwo                 metric of surveyed row T1-02 at that alpha
    \\kdsReproHintonKdStudentMean           reproduced Hinton KD: student accuracy, mean over seeds
    \\kdsReproHintonKdStudentLow / ...High  and its confidence interval (also Teacher..., Baseline...)
    \\kdsReproHintonKdGain / ...GainLow / ...GainHigh / ...PValue   student minus baseline, Welch
    \\kdsReproHintonKdMetric                metric of the reproduced row at alpha
    \\kdsBenchCRDTwentyCifarOneHundredHintonKdWrnFortyTwoWrnSixteenTwoPublished
                                           published row CRD20-03 as printed (...Acc: top-1 %; ...Metric: D)
    \\kdsBench...ReproMean / ...ReproLow / ...ReproHigh / ...ReproDiff
                                           reproduced records of its setting: mean, 95% interval, mean minus
                                           published (...ReproTwoMean for a second distinct measurement)

A LaTeX control word is letters only, so row numbers are spelled out (T1-02 -> TabOneRowTwo) and
method ids become CamelCase (hinton_kd -> HintonKd). Each macro has a comment naming its source row.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from kdsurvey import analysis, benchmarks, catalogue, record, reproduced
from kdsurvey.errors import KdSurveyError

PREFIX = "kds"
NAME = re.compile(r"^\\kds[A-Za-z]+$")
_ONES = "Zero One Two Three Four Five Six Seven Eight Nine Ten Eleven Twelve Thirteen Fourteen Fifteen " \
        "Sixteen Seventeen Eighteen Nineteen".split()  # fmt: skip
_TENS = "_ _ Twenty Thirty Forty Fifty Sixty Seventy Eighty Ninety".split()


def spell(number: int) -> str:
    """0..999 as CamelCase English words: 14 -> Fourteen, 101 -> OneHundredOne."""
    if not 0 <= number < 1000:
        raise ValueError(f"cannot spell {number} as a macro name (0..999 only)")
    if number < 20:
        return _ONES[number]
    if number < 100:
        tens, ones = divmod(number, 10)
        return _TENS[tens] + (_ONES[ones] if ones else "")
    hundreds, rest = divmod(number, 100)
    return _ONES[hundreds] + "Hundred" + (spell(rest) if rest else "")


def camel(text: str) -> str:
    """A method id as letters only: 'hinton_kd' -> 'HintonKd', 'cs_kd-2' -> 'CsKdTwo'."""
    out = ""
    for part in re.split(r"[^A-Za-z0-9]+", text):
        for piece in re.findall(r"[A-Za-z]+|\d+", part):
            out += _spell_large(int(piece)) if piece.isdigit() else piece[:1].upper() + piece[1:]
    return out


def _spell_large(number: int) -> str:
    """Like `spell`, up to 999,999, for names such as mlp_1200_1200: 1200 -> OneThousandTwoHundred."""
    if number < 1000:
        return spell(number)
    thousands, rest = divmod(number, 1000)
    return spell(thousands) + "Thousand" + (spell(rest) if rest else "")


def bench_stem(row) -> str:
    """A published row's macro stem: Bench, its source (row-id prefix), data set, method, teacher, student.

    CRD20-03 (cifar100, hinton_kd, wrn_40_2 -> wrn_16_2) -> BenchCRDTwentyCifarOneHundredHintonKdWrnFortyTwoWrnSixteenTwo
    """
    parts = (row["row_id"].rsplit("-", 1)[0], row["dataset"], row["method"], row["teacher_arch"], row["student_arch"])
    return "Bench" + "".join(camel(part) for part in parts)


def row_stem(row_id: str) -> str:
    """T1-02 -> TabOneRowTwo; R-hinton_kd -> ReproHintonKd."""
    m = re.fullmatch(r"T(\d+)-(\d+)", row_id)
    if m:
        return f"Tab{spell(int(m[1]))}Row{spell(int(m[2]))}"
    if row_id.startswith("R-"):
        return "Repro" + camel(row_id[2:])
    raise KdSurveyError(f"row id {row_id!r} has no macro name (expected T<table>-<row> or R-<method>)")


def _number(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


def build(alpha: float = 0.5, data: str | Path | None = None, runs=()) -> str:
    """The text of macros.tex for the catalogue (and reproduced records) of `data`."""
    frame = analysis.with_metric(catalogue.results(data, runs=runs), (alpha,))
    column = analysis.metric_column(alpha)
    lines = [
        "% kdsurvey macros: \\input{macros} in a paper; regenerate with `kdsurvey report` when data change.",
        "% D = alpha*(student size/teacher size) + (1-alpha)*(1 - student acc/teacher acc); lower is better.",
        "% Accuracies in percent; intervals are 95% t intervals over seeds; gains are Welch intervals.",
        "",
        rf"\newcommand{{\{PREFIX}Alpha}}{{{alpha:g}}} % alpha of every metric below",
        "",
        "% -- surveyed results (Tables 1 and 2 of Alkhulaifi et al. 2021) and reproduced rows: metric at alpha",
    ]
    seen: dict[str, str] = {}

    def emit(name: str, value: str, comment: str) -> None:
        macro = f"\\{PREFIX}{name}"
        if macro in seen:
            raise KdSurveyError(f"macro {macro} would be defined twice ({seen[macro]} and {comment})")
        seen[macro] = comment
        lines.append(rf"\newcommand{{{macro}}}{{{value}}} % {comment.replace('→', '->')}")

    for row in frame.to_dict("records"):
        where, value = _source(row), row[column]
        if pd.isna(value):
            lines.append(f"% {row['row_id']}: no metric ({where}: size or accuracy reduction not reported)")
            continue
        emit(f"Metric{row_stem(row['row_id'])}", _number(value, 4), f"{row['row_id']}: {where}")
    records = record.load(data, runs)
    if records:
        lines += ["", "% -- reproduced techniques: accuracy (%) mean and 95% interval over seeds, gain over baseline"]
    summary = reproduced.summary(records)
    ids = reproduced.rows(records)["row_id"].tolist()
    for row_id, rec, s in zip(ids, records, summary.to_dict("records")):
        folder = "data/reproduced" if rec.get(record.ORIGIN, "data") == "data" else rec[record.ORIGIN]
        stem, where = row_stem(row_id), f"{row_id}: record {rec['run_id']} in {folder}"
        for role in ("teacher", "baseline", "student"):
            title = role.capitalize()
            emit(f"{stem}{title}Mean", _number(s[f"{role}_mean"], 2), f"{where}, {role} mean")
            if s[f"{role}_std"] == 0:  # one teacher serves every seed: a spread of zero is no interval
                continue
            for bound in ("low", "high"):
                if not math.isnan(s[f"{role}_{bound}"]):
                    emit(f"{stem}{title}{bound.capitalize()}", _number(s[f"{role}_{bound}"], 2),
                         f"{where}, {role} 95% {bound}")  # fmt: skip
        emit(f"{stem}Gain", _number(s["gain"], 2), f"{where}, student - baseline (points)")
        for key, name, decimals in (("gain_low", "GainLow", 2), ("gain_high", "GainHigh", 2), ("p_value", "PValue", 3)):
            if not math.isnan(s[key]):
                emit(f"{stem}{name}", _number(s[key], decimals), f"{where}, Welch {key.replace('_', ' ')}")
    lines += ["", "% -- published results (data/benchmarks): as printed, top-1 %, metric at alpha; where reproduced",
              "%    records measure the same setting, their mean, 95% interval and mean - published (points)"]  # fmt: skip
    published = benchmarks.load(data)
    source_tables = dict(zip(published["row_id"], published["source_table"]))
    _benchmark_macros(benchmarks.compare(published, records, alpha), source_tables, emit, lines)
    return "\n".join(lines).replace("→", "->") + "\n"  # ASCII: safe for any LaTeX engine and encoding


def _benchmark_macros(compared: pd.DataFrame, source_tables: dict, emit, lines: list[str]) -> None:
    """The macros of every published row and of each distinct reproduced measurement of it."""
    for row_id, measured in compared.groupby("row_id", sort=False):
        row = measured.iloc[0]
        stem = bench_stem(row)
        where = f"{row_id}: {row['reference']}, {source_tables[row_id]}; {row['dataset']}, " \
                f"{row['teacher_arch']} -> {row['student_arch']}, {row['method']}"  # fmt: skip
        printed = re.search(r"\d+(?:\.\d+)?", row["printed"])[0]  # the number exactly as printed
        emit(f"{stem}Published", printed, f"{where}, printed {row['printed']!r}")
        emit(f"{stem}Acc", _number(row["published_pct"], 2), f"{where}, top-1 accuracy (%)")
        if math.isnan(row["published_d"]):
            why = "a teacher has none" if row["method"] == "teacher" else "its source prints no teacher for the pair"
            lines.append(f"% {row_id}: no metric ({why})")
        else:
            emit(f"{stem}Metric", _number(row["published_d"], 4), f"{where}, metric at alpha")
        for k, line in enumerate(measured[measured["seeds"] > 0].to_dict("records"), start=1):
            _reproduced_macros(f"{stem}Repro{spell(k) if k > 1 else ''}", where, line, emit)


def _reproduced_macros(stem: str, where: str, line: dict, emit) -> None:
    """Mean, interval (two seeds or more) and difference of one reproduced measurement of a published row."""
    by = f"{where}, reproduced over {line['seeds']} seeds by {line['runs']}"
    emit(f"{stem}Mean", _number(line["reproduced_mean"], 2), f"{by}: mean")
    for bound in ("low", "high"):
        if not math.isnan(line[f"reproduced_{bound}"]):
            emit(f"{stem}{bound.capitalize()}", _number(line[f"reproduced_{bound}"], 2), f"{by}: 95% {bound}")
    emit(f"{stem}Diff", f"{line['difference']:+.2f}", f"{by}: mean - published (points)")


def _source(row: dict) -> str:
    """Where a row comes from, for the comment beside its macro."""
    if row["source"] == "reproduced":
        return f"reproduced, {row['architecture']}, {row['dataset']}"
    ref = f", {row['reference']}" if row["reference"] else ""
    return f"Table {row['table']}, {row['architecture']}, {row['dataset']}{ref}"


def parse(text: str) -> dict[str, str]:
    """{macro: value} of a macros.tex text (what the tests and users read back)."""
    return dict(re.findall(r"^\\newcommand\{(\\[A-Za-z]+)\}\{([^{}]*)\}", text, flags=re.M))
