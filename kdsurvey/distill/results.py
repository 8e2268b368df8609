"""Result records: one JSON file per experiment, everything needed to trust and redo the numbers.

A record holds the per-seed accuracies of the teacher, the baseline student and the distilled
student, the architectures with their parameter counts, the recipe, the configuration and its
hash, and where and with what it ran (device, torch version, git commit, wall time). The analysis
side (`kdsurvey.reproduced`) turns records into catalogue rows without importing torch.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import torch

from kdsurvey.atomic import write_atomic
from kdsurvey.distill import methods as methodreg
from kdsurvey.distill.runner import Experiment, canonical_hash
from kdsurvey.reproduced import RECORD_FORMAT, check_record


def record(experiment: Experiment, per_seed: list[dict], runner, wall_time_s: float) -> dict:
    """The result record of a finished experiment (see module docstring)."""
    cls = methodreg.get(experiment.method)
    config = experiment.describe()
    first = per_seed[0]
    accuracy = {"teacher": [], "baseline": [], "student": []}
    for seed in per_seed:
        accuracy["teacher"].append(seed["teacher"]["accuracy"]["student"])
        accuracy["baseline"].append(seed["baseline"]["accuracy"]["student"])
        for name, value in seed["student"]["accuracy"].items():
            accuracy.setdefault(name if name == "student" else f"student/{name}", []).append(value)
    effective = {**cls.defaults, **experiment.options}
    device = runner.device
    out = {
        "format": RECORD_FORMAT,
        "run_id": run_id(experiment),
        "method": cls.name,
        "title": cls.title,
        "knowledge": cls.knowledge,
        "strategy": cls.strategy,
        "reference": cls.reference,
        "dataset": experiment.dataset,
        "teacher": {"arch": experiment.teacher, "parameters": first["teacher"]["parameters"]},
        "student": {"arch": experiment.student, "parameters": first["student"]["parameters"]},
        "seeds": list(experiment.seeds),
        "accuracy": accuracy,
        "epochs": experiment.recipe.epochs,
        "recipe": experiment.recipe.as_dict(),
        "teacher_recipe": (experiment.teacher_recipe or experiment.recipe).as_dict(),
        "options": effective,
        "config": config,
        "config_hash": canonical_hash(config)[:16],
        "stages": {str(s["seed"]): {k: s[k]["key"] for k in ("teacher", "baseline", "student")} for s in per_seed},
        "stage_wall_time_s": round(
            sum(s[k]["wall_time_s"] for s in per_seed for k in ("teacher", "baseline", "student")), 3
        ),
        "wall_time_s": round(wall_time_s, 3),
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "git_commit": git_commit(),
    }
    check_record(out, "new record")
    return out


def run_id(experiment: Experiment) -> str:
    return f"{experiment.method}--{experiment.dataset}--{experiment.teacher}--{experiment.student}"


def write(rec: dict, folder: Path) -> Path:
    """Write `rec` to folder/<run_id>.json atomically; returns the path."""
    check_record(rec, "record to write")
    path = Path(folder) / f"{rec['run_id']}.json"
    text = json.dumps(rec, indent=1, sort_keys=False) + "\n"
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def git_commit() -> str | None:
    """The checkout's commit (with '+dirty' when it has local changes), or None outside a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")
