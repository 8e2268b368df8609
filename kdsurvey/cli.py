"""The `kdsurvey` command: parse, call the library, print. Bad input is one line on stderr, exit 2."""

from __future__ import annotations

import argparse
import logging
import math
import sys
import warnings
from pathlib import Path

from kdsurvey import __version__
from kdsurvey.errors import DataNotFoundError, KdSurveyError, KdSurveyWarning
from kdsurvey.record import MAX_SEED  # torch-free and light: the one seed limit

# bibtexparser logs each malformed block to stderr; the CLI reports it as its own one-line error.
logging.getLogger("bibtexparser").addHandler(logging.NullHandler())

TABLE_CHOICES = ("1", "2", "metric", "methods", "stability", "pareto", "reproduced", "benchmark", "all")
FORMAT_CHOICES = ("markdown", "latex", "csv")
SOURCE_CHOICES = ("reported", "reproduced", "all")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"alpha must be a number in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"alpha must lie in [0, 1], got {text}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kdsurvey",
        description="The knowledge-distillation survey of Alkhulaifi, Alsahli & Ahmad (2021) as data: "
        "its tables regenerated, its distillation metric, comparison figures and citations.",
    )
    parser.add_argument("--version", action="version", version=f"kdsurvey {__version__}")
    parser.add_argument("--data", metavar="DIR", type=Path,
                        help="a data folder laid out like the packaged one (survey/, methods.csv, references.bib)")  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("tables", help="print a table: the survey's Table 1 or 2, the metric table, ...",
                       description="Print one of the tables (default: Tables 1, 2 and the metric table).")  # fmt: skip
    p.add_argument("--table", choices=TABLE_CHOICES, default="all",
                   help="which table; 'all' prints Tables 1, 2 and the metric table (not with --format csv)")  # fmt: skip
    p.add_argument("--format", choices=FORMAT_CHOICES, default="markdown")
    p.add_argument(
        "--no-attribution",
        action="store_true",
        help="print Tables 1 and 2 with the paper's six columns only, without the Attribution column",
    )
    p.add_argument("--alpha", type=_alpha, default=0.5, help="alpha the metric table is ranked at (default 0.5)")
    p.add_argument("--source", choices=SOURCE_CHOICES, default="all",
                   help="rows of the metric, stability and Pareto tables: reported, reproduced or all (default); "
                   "benchmark: reported drops the reproduced columns, reproduced keeps the rows a record measures")  # fmt: skip

    p = sub.add_parser("metric", help="the distillation metric: every surveyed result ranked, or one value",
                       description="Rank every surveyed result by the distillation metric at ALPHA, or, given the "
                       "four sizes and accuracies, print the metric of one student.")  # fmt: skip
    p.add_argument("--alpha", type=_alpha, default=0.5, help="weight of size in [0, 1] (default 0.5)")
    p.add_argument("--format", choices=FORMAT_CHOICES, default="markdown")
    p.add_argument("--source", choices=SOURCE_CHOICES, default="all", help="rows to rank (default all)")
    for name, what in (("student-size", "student size (any unit)"), ("teacher-size", "teacher size (same unit)"),
                       ("student-acc", "student accuracy (percent or fraction)"),
                       ("teacher-acc", "teacher accuracy (same unit)")):  # fmt: skip
        p.add_argument(f"--{name}", type=_number, metavar="X", help=what)

    p = sub.add_parser("plots", help="write the figures as PNG and PDF to a folder")
    p.add_argument("--out", required=True, type=Path, metavar="DIR")
    p.add_argument("--alpha", type=_alpha, default=0.5, help="alpha of the iso-metric lines (default 0.5)")
    p.add_argument("--source", choices=SOURCE_CHOICES, default="all",
                   help="rows to draw: reported, reproduced or all (default)")  # fmt: skip

    p = sub.add_parser("cite", help="print BibTeX for reference keys, or for every reference of a table",
                       description="Print BibTeX for KEYs, or with --table for every reference a table cites.")  # fmt: skip
    p.add_argument("keys", nargs="*", metavar="KEY")
    p.add_argument(
        "--table", choices=("1", "2", "methods", "all"), help="every reference of Table 1, Table 2, the methods, or all"
    )

    p = sub.add_parser("report", help="the main job: every table, figure and reference into one folder",
                       description="Write every table (md, tex, csv), every figure (png, pdf), references.bib, "
                       "macros.tex, an index.md and the same index as one self-contained index.html to DIR. DIR is "
                       "replaced as a whole, and only when complete.")  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("kdsurvey-report"), metavar="DIR",
                   help="output folder (default ./kdsurvey-report)")  # fmt: skip
    p.add_argument("--alpha", type=_alpha, default=0.5, help="alpha the metric is ranked at (default 0.5)")
    p.add_argument("--source", choices=SOURCE_CHOICES, default="all",
                   help="rows of the metric, Pareto and stability tables and of the figures: reported (the survey "
                   "alone), reproduced or all (default)")  # fmt: skip

    for command in ("tables", "metric", "plots", "cite", "report"):  # `--data DIR` after the command too
        sub.choices[command].add_argument("--data", metavar="DIR", type=Path, default=argparse.SUPPRESS,
                                          help="a data folder laid out like the packaged one")  # fmt: skip
    for command in ("tables", "metric", "plots", "report"):
        sub.choices[command].add_argument("--runs", metavar="DIR", type=Path, action="append", default=[],
                                          help="add the result records under DIR (a `reproduce --out` or `sweep "
                                          "--records` folder, or a folder of them) to the reproduced rows; "
                                          "repeatable")  # fmt: skip

    p = sub.add_parser("notebooks", help="list the notebooks, or re-execute them and store their outputs",
                       description="List notebooks/*.ipynb. With --refresh, run every notebook top to bottom in a "
                       "fresh kernel (nbclient) and store the new outputs, the references `pytest --nbval` "
                       "compares against; the files are written only when every notebook ran. Needs the "
                       "notebooks extra (pip install 'kdsurvey[notebooks]').")  # fmt: skip
    p.add_argument("--refresh", action="store_true", help="re-execute and re-save every notebook")
    p.add_argument("--dir", type=Path, default=Path("notebooks"), metavar="DIR",
                   help="the notebooks folder (default ./notebooks)")  # fmt: skip
    p.add_argument("--timeout", type=int, default=600, metavar="S", help="per-cell time limit (default 600 s)")

    runs = _run_flags()
    p = sub.add_parser("reproduce", parents=[runs], help="re-run a distillation technique (needs the torch extra)",
                       description="Train the teacher, the baseline student and the distilled student over "
                       "several seeds and write a result record (JSON) to OUT. Trained stages are kept under "
                       "OUT/stages and reused; an interrupted run resumes from its last epoch. Values not given "
                       "come from --config, then from the defaults (the embedded Fashion-MNIST subset, "
                       "cnn_large -> cnn_small, 10 epochs, seeds 0,1,2). Everything is checked before anything "
                       "trains.")  # fmt: skip
    p.add_argument("method", nargs="?", help="a method name (see --list)")
    p.add_argument("--list", action="store_true", help="list methods, models and data sets")
    p.add_argument(
        "--config", type=Path, metavar="YAML", help="an experiment config (e.g. reproductions/papers/*.yaml)"
    )
    p.add_argument("--teacher", metavar="ARCH")
    p.add_argument("--student", metavar="ARCH")
    p.add_argument("--dataset", metavar="NAME")
    p.add_argument("--epochs", type=_positive, metavar="N")
    p.add_argument("--batch-size", type=_positive, metavar="N")
    p.add_argument("--lr", type=_positive_number, metavar="X")
    p.add_argument("--seeds", type=_seeds, metavar="LIST", help="comma-separated seeds, e.g. 0,1,2")
    p.add_argument("--teacher-seed", type=_seed, metavar="N",
                   help="train one teacher (with seed N) for every seed instead of one per seed")  # fmt: skip
    p.add_argument("--option", action="append", metavar="KEY=VALUE", help="a method option, e.g. temperature=2")
    p.add_argument("--download", action="store_true", help="download a torchvision data set that is missing")

    p = sub.add_parser("sweep", parents=[runs], help="run many experiments from one file, locally or on SLURM",
                       description="Run every experiment of a sweep file (a grid of methods x pairs, and/or "
                       "included experiment configs). Each stage is trained once, shared stages first; stages "
                       "already under OUT/stages are skipped and interrupted ones resume. Records go to "
                       "--records. Needs the torch extra.")  # fmt: skip
    p.add_argument("sweep", type=Path, metavar="SWEEP.yaml", help="the sweep file (e.g. reproductions/suite.yaml)")
    p.add_argument("--records", type=Path, metavar="DIR", help="where the records go (default: --out)")
    p.add_argument("--only", metavar="METHODS", help="comma-separated methods: run only their experiments")
    p.add_argument("--executor", choices=("local", "slurm"), default="local",
                   help="local: worker processes here; slurm: one job per stage through submitit")  # fmt: skip
    p.add_argument("--jobs", type=_positive, default=1, metavar="N",
                   help="runs at once: local worker processes, or SLURM jobs queued at a time (default 1)")  # fmt: skip
    p.add_argument("--threads", type=_positive, metavar="N", help="torch threads per run (default cores / jobs)")
    p.add_argument("--slurm-partition", metavar="NAME")
    p.add_argument("--slurm-time", type=_positive, metavar="MIN", help="time limit per job in minutes")
    p.add_argument("--slurm-cpus", type=_positive, metavar="N", help="CPUs per job (also its torch threads)")
    p.add_argument("--slurm-gpus", type=_positive, metavar="N", help="GPUs per job")
    p.add_argument("--slurm-mem", type=_positive, metavar="GB", help="memory per job")
    p.add_argument("--slurm-option", action="append", metavar="KEY=VALUE",
                   help="any other sbatch option, e.g. account=abc or qos=low (repeatable)")  # fmt: skip
    return parser


def _run_flags() -> argparse.ArgumentParser:
    """The flags `reproduce` and `sweep` share, declared once."""
    p = _Parser(add_help=False)
    p.add_argument("--out", type=Path, default=Path("kdsurvey-runs"), metavar="DIR",
                   help="the stage store, and where records go (default ./kdsurvey-runs)")  # fmt: skip
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N]")
    p.add_argument("--data-dir", type=Path, metavar="DIR", help="folder holding torchvision data sets")
    p.add_argument("--quiet", action="store_true", help="no progress bars or stage lines on stderr")
    p.add_argument("--dry-run", action="store_true", help="print the plan (every stage, stored or not) and stop")
    p.add_argument("--retrain", action="store_true",
                   help="retrain stages whose stored files are unreadable (corrupted, truncated, foreign) "
                   "instead of stopping")  # fmt: skip
    p.add_argument("--replace", action="store_true",
                   help="overwrite a record of another configuration (by default that is refused)")  # fmt: skip
    p.add_argument("--speed", action="append", metavar="KEY=VALUE",
                   help="a speed switch (repeatable): teacher_cache, bf16, channels_last, fused_optimizer, "
                   "data_on_device = true|false|auto, compile = true|false|BACKEND (default: automatic)")  # fmt: skip
    return p


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1 or value > 10**9:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_number(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is an integer in [0, {MAX_SEED}], got {text!r}")
    return value


def _seeds(text: str) -> tuple[int, ...]:
    parts = [s.strip() for s in text.split(",")]
    if not text.strip() or "" in parts:
        raise argparse.ArgumentTypeError(f"takes comma-separated integers, e.g. 0,1,2; got {text!r}")
    seeds = tuple(_seed(s) for s in parts)
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds must be distinct, got {text!r}")
    return seeds


def _key_values(pairs: list[str] | None, flag: str) -> dict[str, str]:
    """{KEY: VALUE text} of a repeatable KEY=VALUE flag; a pair without '=' or KEY, or a KEY twice, is an error."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise KdSurveyError(f"{flag} takes KEY=VALUE, got {pair!r}")
        if key in out:
            raise KdSurveyError(f"{flag} {key} is given twice")
        out[key] = value
    return out


def _option_values(pairs: list[str] | None) -> dict:
    """--option values, read as YAML scalars (numbers, booleans, text, lists)."""
    import yaml

    out = {}
    for key, text in _key_values(pairs, "--option").items():
        try:
            out[key] = yaml.safe_load(text)
        except yaml.YAMLError:
            raise KdSurveyError(
                f"--option {key}: {text!r} is not a value (a number, true/false, text or a list)"
            ) from None
    return out


def _speed(pairs: list[str] | None):
    """--speed KEY=VALUE flags as a Speed: true/on, false/off, auto (automatic), or a compile backend name."""
    from kdsurvey.distill.speed import Speed

    words = {"true": True, "on": True, "false": False, "off": False, "auto": None}
    values = {}
    for key, text in _key_values(pairs, "--speed").items():
        word = text.strip().lower()
        values[key.strip()] = words[word] if word in words else text.strip()
    return Speed.from_dict(values)


def _reproduce(args) -> str:
    from kdsurvey.distill import config, reproduce, sweep  # needs torch: a clear error without it
    from kdsurvey.distill.store import Store

    if args.list:
        return reproduce.listing()
    options = _option_values(args.option)
    values = config.load(args.config) if args.config else {}
    if options:
        given = values.get("options") or {}
        values["options"] = {**given, **options} if isinstance(given, dict) else given
    where = str(args.config) if args.config else "command line"
    experiment = config.experiment(
        values, where, method=args.method, teacher=args.teacher, student=args.student, dataset=args.dataset,
        seeds=args.seeds, teacher_seed=args.teacher_seed, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
    )  # fmt: skip
    speed = _speed(args.speed)
    if args.dry_run:
        return sweep.listing(sweep.plan(sweep.Sweep((experiment,), where)), Store(args.out), args.out, recipes=True)
    rec, path = reproduce.reproduce(
        experiment, args.out, device=args.device, data_dir=args.data_dir, download=args.download,
        progress=not args.quiet, log=None if args.quiet else _stderr, speed=speed, retrain=args.retrain,
        replace=args.replace,
    )  # fmt: skip
    return "" if path is None else reproduce.summary_text(rec) + f"record written to {path}\n"


def _sweep(args) -> str:
    from kdsurvey.distill import sweep, sweeprun  # needs torch: the same clear error as reproduce
    from kdsurvey.distill.store import Store

    given = [k for k, v in vars(args).items() if k.startswith("slurm_") and v is not None]
    if given and args.executor != "slurm":
        raise KdSurveyError(f"--{given[0].replace('_', '-')} needs --executor slurm")
    only = {m.strip() for m in args.only.split(",")} if args.only is not None else None
    if only is not None and "" in only:
        raise KdSurveyError(f"--only takes comma-separated method names, got {args.only!r}")
    spec = sweep.load(args.sweep).only(only)
    records = args.records or args.out
    speed = _speed(args.speed)
    sweeprun.check_workers(args.jobs, args.threads, args.executor)
    if args.dry_run:
        phases = [p for p in (spec.tuning_stages(), spec) if p is not None]
        text = "".join(sweep.listing(sweeprun.planned(p, speed, args.device, args.executor), Store(args.out), records)
                       for p in phases)  # fmt: skip
        if len(phases) == 2:
            text += (
                "then each tuned method runs with the options its candidates chose (listed above with its defaults)\n"
            )
        return text
    slurm = {"partition": args.slurm_partition, "time_min": args.slurm_time, "cpus": args.slurm_cpus,
             "gpus": args.slurm_gpus, "mem_gb": args.slurm_mem,
             "options": _key_values(args.slurm_option, "--slurm-option")}  # fmt: skip
    summary = sweeprun.run(spec, args.out, records, jobs=args.jobs, threads=args.threads, device=args.device,
                           data_dir=args.data_dir, executor=args.executor, slurm=slurm,
                           log=None if args.quiet else _stderr, speed=speed, retrain=args.retrain,
                           replace=args.replace)  # fmt: skip
    return summary.text()


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _check_data_folder(data: Path | None) -> None:
    """A --data folder that is not there is named as such, before any of its files is looked for."""
    if data is not None and not data.is_dir():
        raise DataNotFoundError(f"data folder {data} {'is not a folder' if data.exists() else 'does not exist'}")


def _run(args) -> str:
    """Do the command; return what to print on stdout."""
    # Imports are per command and after parsing, so --help and `tables` stay fast.
    _check_data_folder(getattr(args, "data", None))
    if args.command == "tables":
        from kdsurvey import tables

        if args.table == "all" and args.format == "csv":
            raise KdSurveyError("--format csv prints one table; choose it with --table")
        names = ("1", "2", "metric") if args.table == "all" else (args.table,)
        rendered = (
            tables.get(n, args.alpha, args.data, not args.no_attribution, args.source, args.runs).render(args.format)
            for n in names
        )
        return "\n".join(rendered)
    if args.command == "metric":
        from kdsurvey import metric, tables

        raw = (args.student_size, args.teacher_size, args.student_acc, args.teacher_acc)
        if all(v is None for v in raw):
            return tables.get("metric", args.alpha, args.data, source=args.source, runs=args.runs).render(args.format)
        if any(v is None for v in raw):
            raise KdSurveyError("give all four of --student-size, --teacher-size, --student-acc, --teacher-acc")
        return f"D(alpha={args.alpha:g}) = {metric.distillation_metric(*raw, alpha=args.alpha):.6f}\n"
    if args.command == "plots":
        from kdsurvey import plots

        return "".join(f"{path}\n" for path in plots.write(args.out, args.alpha, args.data, args.source, args.runs))
    if args.command == "cite":
        from kdsurvey import catalogue, references

        if args.table and args.keys:
            raise KdSurveyError("give reference keys or --table, not both")
        if args.table:
            return catalogue.for_table(args.table, args.data)
        if not args.keys:
            raise KdSurveyError("give one or more reference keys, or --table 1|2|methods|all")
        return references.load_folder(args.data).bibtex(args.keys)
    if args.command == "report":
        from kdsurvey import report

        written = report.write(args.out, args.alpha, args.data, args.source, args.runs)
        return f"report written to {written}/index.md\n"
    if args.command == "notebooks":
        from kdsurvey import notebooks

        if not args.refresh:
            return "".join(f"{path}\n" for path in notebooks.find(args.dir))
        done = notebooks.refresh(args.dir, args.timeout, log=lambda line: print(line, file=sys.stderr))
        return "".join(f"refreshed {path}\n" for path in done)
    if args.command == "reproduce":
        return _reproduce(args)
    if args.command == "sweep":
        return _sweep(args)
    raise AssertionError(args.command)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    prefix = "kdsurvey: warning" if issubclass(category, KdSurveyWarning) else f"kdsurvey: {category.__name__}"
    print(f"{prefix}: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # a usage error (already printed as one line) or --help / --version
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with warnings.catch_warnings():  # a KdSurveyWarning is one line on stderr; the filters are restored after
            warnings.simplefilter("always", KdSurveyWarning)
            warnings.showwarning = _show_warning
            text = _run(args)
    except KdSurveyError as exc:
        print(f"kdsurvey: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"kdsurvey: error: {exc}", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. `kdsurvey tables | head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
