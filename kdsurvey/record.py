"""The result record of a reproduction: one schema, built, written, read and validated here (no torch).

A record is one JSON file per experiment: the per-seed accuracies of the teacher, the baseline student
and the distilled student, the architectures with their parameter counts, the recipe, the configuration
and its hash, and where and with what it ran. The runner (`kdsurvey.distill.runner`) hands `assemble`
plain values; the analysis side (`kdsurvey.reproduced`) reads records with `load_folder`. Every path in
and out goes through `validate`, so a record that reaches a table has passed the same checks as one
that was just written.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from kdsurvey.atomic import write_atomic
from kdsurvey.errors import CatalogueError, DataNotFoundError
from kdsurvey.paths import data_dir

FORMAT = "kdsurvey-result/1"
FOLDER = "reproduced"  # the records' folder inside a data folder
ORIGIN = "origin"  # added by `load`: where a record was found (not part of the file)
_NOT_RECORDS = {"stages", "checkpoints", "cache", "slurm"}  # what a run folder holds beside its records
ROLES = ("teacher", "baseline", "student")
STRATEGIES = ("offline", "online", "self")
MAX_SEED = 2**32 - 1
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TYPES: dict[str, type | tuple[type, ...]] = {
    "format": str, "run_id": str, "method": str, "title": str, "knowledge": str, "strategy": str,
    "dataset": str, "teacher": dict, "student": dict, "seeds": list, "accuracy": dict, "epochs": int,
    "recipe": dict, "config_hash": str, "device": str, "torch": str, "wall_time_s": (int, float),
}  # fmt: skip
_TEXT = ("run_id", "method", "title", "knowledge", "strategy", "dataset", "config_hash", "device", "torch")


class RecordError(CatalogueError):
    """A record file or value breaks the schema; names the file (and the record) and every problem."""


def run_id(method: str, dataset: str, teacher: str, student: str) -> str:
    """The record's name: what it measured, in the order a reader looks for it."""
    return f"{method}--{dataset}--{teacher}--{student}"


def assemble(
    *, method: dict, dataset: str, teacher: dict, student: dict, seeds: list[int], accuracy: dict[str, list[float]],
    recipe: dict, teacher_recipe: dict, options: dict, config: dict, config_hash: str, stages: dict,
    stage_wall_time_s: float, wall_time_s: float, environment: dict, tuning: dict | None = None,
) -> dict:  # fmt: skip
    """A validated record from plain values.

    `method` holds name, title, knowledge, strategy and reference; `teacher`/`student` hold arch and
    parameters; `environment` holds device, device_name, torch, python, git_commit and whatever else says
    where the numbers came from (threads, CPU, library versions). `tuning` says how the options were chosen
    on a validation split (the grid, each candidate's validation accuracy, the choice), when they were.
    """
    rec = {
        "format": FORMAT,
        "run_id": run_id(method["name"], dataset, teacher["arch"], student["arch"]),
        "method": method["name"],
        "title": method["title"],
        "knowledge": method["knowledge"],
        "strategy": method["strategy"],
        "reference": method.get("reference"),
        "dataset": dataset,
        "teacher": dict(teacher),
        "student": dict(student),
        "seeds": list(seeds),
        "accuracy": {k: list(v) for k, v in accuracy.items()},
        "epochs": recipe["epochs"],
        "recipe": recipe,
        "teacher_recipe": teacher_recipe,
        "options": options,
        "tuning": tuning,
        "config": config,
        "config_hash": config_hash,
        "stages": stages,
        "stage_wall_time_s": round(stage_wall_time_s, 3),
        "wall_time_s": round(wall_time_s, 3),
        **environment,
    }
    validate(rec, "new record")
    return rec


def validate(rec: Any, where: str) -> None:
    """Raise RecordError naming every problem of a record: fields, types, seeds, accuracies, sizes, text."""
    problems: list[str] = []
    if not isinstance(rec, dict):
        raise RecordError([(where, None, None, "is not a JSON object")])
    for key, kind in _TYPES.items():
        if key not in rec:
            problems.append(f"misses the field '{key}'")
        elif not isinstance(rec[key], kind) or isinstance(rec[key], bool):
            problems.append(f"field '{key}' has the wrong type ({type(rec[key]).__name__})")
    if not problems:
        problems += _check_values(rec)
    if problems:
        label = where if "run_id" not in rec or not isinstance(rec.get("run_id"), str) else f"{where} ({rec['run_id']})"
        raise RecordError([(label, None, None, p) for p in problems])


def _check_values(rec: dict) -> list[str]:
    problems = []
    if rec["format"] != FORMAT:
        problems.append(f"format is {rec['format']!r}, expected {FORMAT!r}")
    if rec["strategy"] not in STRATEGIES:
        problems.append(f"strategy {rec['strategy']!r} is not one of {', '.join(STRATEGIES)}")
    for key in _TEXT:
        if not rec[key].strip() or _CONTROL.search(rec[key]):
            problems.append(f"field '{key}' must be non-empty text without control characters, got {rec[key]!r}")
    if rec.get("tuning") is not None and not isinstance(rec["tuning"], dict):
        problems.append(f"field 'tuning' must be a mapping or null, got {type(rec['tuning']).__name__}")
    if rec["epochs"] < 1:
        problems.append(f"epochs must be a positive integer, got {rec['epochs']}")
    if not _finite(rec["wall_time_s"]) or rec["wall_time_s"] < 0:
        problems.append(f"wall_time_s must be a finite number >= 0, got {rec['wall_time_s']!r}")
    for side in ("teacher", "student"):
        count, arch = rec[side].get("parameters"), rec[side].get("arch")
        if not isinstance(count, int) or isinstance(count, bool) or count <= 0:
            problems.append(f"{side}.parameters must be a positive integer, got {count!r}")
        if not isinstance(arch, str) or not arch.strip() or _CONTROL.search(arch):
            problems.append(f"{side}.arch must be non-empty text, got {arch!r}")
    seeds = rec["seeds"]
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in seeds):
        problems.append(f"seeds must be a non-empty list of integers in [0, {MAX_SEED}], got {seeds!r}")
    elif len(set(seeds)) != len(seeds):
        problems.append(f"seeds must be distinct, got {seeds!r}")
    for role in ROLES:
        values = rec["accuracy"].get(role)
        if not isinstance(values, list) or len(values) != len(seeds):
            problems.append(f"accuracy.{role} must list one value per seed ({len(seeds)})")
            continue
        for v in values:
            if not _finite(v) or not 0 < v <= 100:
                problems.append(f"accuracy.{role} holds {v!r}, not a percentage in (0, 100]")
    return problems


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def dumps(rec: dict) -> str:
    return json.dumps(rec, indent=1, allow_nan=False) + "\n"


def write(rec: dict, folder: str | Path) -> Path:
    """Validate `rec` and write it to folder/<run_id>.json atomically (never half a file); returns the path."""
    rec = {k: v for k, v in rec.items() if k != ORIGIN}
    validate(rec, "record to write")
    path = Path(folder) / f"{rec['run_id']}.json"
    text = dumps(rec)
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def check_target(folder: str | Path, name: str, config_hash: str, replace: bool = False) -> None:
    """Refuse, before any work, to overwrite folder/<name>.json when it holds another configuration's record.

    The same configuration is rewritten freely (a rerun reproduces it); another one only with `replace`.
    """
    path = Path(folder) / f"{name}.json"
    if replace or not path.exists():
        return
    try:
        existing = read(path)
    except RecordError as exc:
        raise RecordError([(str(path), None, None, f"exists and is not a valid record ({exc.problems[0][3]}); "
                            "pass --replace to overwrite it")]) from None  # fmt: skip
    if existing["config_hash"] != config_hash:
        raise RecordError([(str(path), None, None, f"holds a run of another configuration (config "
                            f"{existing['config_hash']}, this one {config_hash}); pass --replace to overwrite it, "
                            "or write to another folder")])  # fmt: skip


def read(path: str | Path) -> dict:
    """One record file, parsed and validated; a broken file is one error naming it."""
    path = Path(path)
    try:
        rec = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        raise RecordError(
            [(str(path), line, None, f"is not a valid JSON record ({exc}); delete or regenerate it")]
        ) from None
    validate(rec, str(path))
    return rec


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def load_folder(folder: str | Path) -> list[dict]:
    """Every record of a folder, validated, in file-name order; an absent folder gives [].

    The same experiment twice (equal run id and configuration hash under two file names) is an error:
    it would count one result as two rows.
    """
    folder = Path(folder)
    records, seen = [], {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        rec = read(path)
        key = (rec["run_id"], rec["config_hash"])
        if key in seen:
            raise RecordError([(str(path), None, None, f"repeats the record of {seen[key].name} "
                                f"(run {rec['run_id']}, config {rec['config_hash']}); delete one of them")])  # fmt: skip
        seen[key] = path
        records.append(rec)
    return records


def load(data: str | Path | None = None, runs: tuple[str | Path, ...] | list = ()) -> list[dict]:
    """The records of a data folder (by default the packaged one, DATA/reproduced/*.json), then those found
    under each of `runs` (a user's `reproduce --out` or `sweep --records` folders).

    Each record gets an `origin` key saying where it came from: "data" for the data folder's, else the
    folder that holds it, so that two runs of one technique can be told apart. `write` leaves it out.
    """
    root = Path(data) if data is not None else data_dir()
    records = [rec | {ORIGIN: "data"} for rec in load_folder(root / FOLDER)]
    for folder in runs:
        records += [rec | {ORIGIN: origin} for origin, rec in _found_under(Path(folder))]
    return records


def _found_under(folder: Path) -> list[tuple[str, dict]]:
    """Records in `folder` and in its sub-folders (run folders), skipping what a run stores beside them."""
    if not folder.is_dir():
        raise DataNotFoundError(f"runs folder {folder} does not exist")
    found = []
    for sub in [folder, *sorted(p for p in folder.rglob("*") if p.is_dir() and not set(p.relative_to(folder).parts)
                                & _NOT_RECORDS)]:  # fmt: skip
        found += [(str(sub), rec) for rec in load_folder(sub)]
    if not found:
        raise DataNotFoundError(f"runs folder {folder} holds no result record (*.json written by kdsurvey "
                                "reproduce or sweep)")  # fmt: skip
    return found
