"""Choosing a method's settings on a validation split, never on the test set.

A sweep file may hold a `tuning` section:

    tuning:
      validation: 2000           # training images held out as the validation split (a fixed draw)
      seeds: [0]                 # seeds each candidate is trained with
      grids:                     # per method: option -> values to try; every combination is one candidate
        hinton_kd: {kd_weight: [0.5, 0.9], temperature: [2, 4]}

Each candidate is the method's experiment on `DATASET:validation=N` (trained on the rest of the training
split, evaluated on the held-out images) with the grid point's options over the experiment's own. The
candidate with the highest mean validation accuracy of the student wins (ties: the first in grid order);
the final experiment runs with those options on the real train/test split and carries, in its record,
the grid, every candidate's validation accuracy and the choice. Methods without a grid run as written.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

from kdsurvey.distill import methods as methodreg
from kdsurvey.distill.data import VALIDATION
from kdsurvey.distill.experiment import Experiment, check_seed
from kdsurvey.errors import UsageError

KEYS = {"validation", "seeds", "grids"}


@dataclass(frozen=True)
class Tuning:
    validation: int
    seeds: tuple[int, ...]
    grids: dict[str, dict[str, list[Any]]]

    def points(self, method: str) -> list[dict[str, Any]]:
        """Every combination of the method's grid, in grid order ([] when it has none)."""
        grid = self.grids.get(method)
        if not grid:
            return []
        names = list(grid)
        return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]

    def describe(self, method: str) -> dict:
        return {"validation": self.validation, "seeds": list(self.seeds), "grid": self.grids[method]}


def from_values(values: Any, methods: set[str], source: str) -> Tuning:
    """Validate a sweep file's `tuning` section against the methods the sweep runs."""
    where = f"{source}: tuning"
    if not isinstance(values, dict):
        raise UsageError(f"{where} must be a mapping with {', '.join(sorted(KEYS))}, got {values!r}")
    unknown = sorted(map(str, set(values) - KEYS))
    if unknown or set(values) != KEYS:
        raise UsageError(f"{where} takes exactly {', '.join(sorted(KEYS))} (got {', '.join(map(str, values))})")
    count = values["validation"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise UsageError(f"{where}: validation must be a positive number of images, got {count!r}")
    seeds = values["seeds"]
    if not isinstance(seeds, list) or not seeds or len(set(map(str, seeds))) != len(seeds):
        raise UsageError(f"{where}: seeds must be a non-empty list of distinct seeds, got {seeds!r}")
    seeds = tuple(check_seed(s, f"{where}: every seed") for s in seeds)
    grids = values["grids"]
    if not isinstance(grids, dict) or not grids:
        raise UsageError(f"{where}: grids must map methods to {{option: [values]}}, got {grids!r}")
    for method, grid in grids.items():
        if method not in methods:
            raise UsageError(f"{where}: grid for {method!r}, which the sweep does not run")
        if not isinstance(grid, dict) or not grid:
            raise UsageError(f"{where}: the grid of {method} must map options to lists of values, got {grid!r}")
        for option, choices in grid.items():
            if not isinstance(choices, list) or not choices:
                raise UsageError(f"{where}: {method}.{option} must list the values to try, got {choices!r}")
    tuning = Tuning(count, seeds, grids)
    for method in grids:
        cls = methodreg.get(method)
        for point in tuning.points(method):
            try:
                cls.resolve_options(point)
            except UsageError as exc:
                raise UsageError(f"{where}: {exc}") from None
    return tuning


def on_validation(dataset: str, count: int) -> str:
    """The data set name whose evaluation split is `count` held-out training images."""
    return f"{dataset}{',' if ':' in dataset else ':'}{VALIDATION}={count}"


def candidates(experiment: Experiment, tuning: Tuning) -> list[Experiment]:
    """The experiment once per grid point, on the validation split and the tuning seeds."""
    dataset = on_validation(experiment.dataset, tuning.validation)
    return [
        replace(experiment, dataset=dataset, seeds=tuning.seeds, options={**experiment.options, **point})
        for point in tuning.points(experiment.method)
    ]


def choose(experiment: Experiment, tuning: Tuning, accuracies: list[list[float]]) -> Experiment:
    """The final experiment: the best candidate's options, and the tuning it came from as metadata.

    `accuracies` holds, per candidate (in `candidates` order), the student's validation accuracy per seed.
    """
    points = tuning.points(experiment.method)
    if len(accuracies) != len(points):
        raise ValueError("one list of accuracies per candidate")
    means = [sum(a) / len(a) for a in accuracies]
    best = max(range(len(points)), key=lambda i: (means[i], -i))
    table = [
        {"options": p, "validation_accuracy": a, "mean": round(m, 4)} for p, a, m in zip(points, accuracies, means)
    ]
    info = tuning.describe(experiment.method) | {"candidates": table, "chosen": points[best]}
    return replace(experiment, options={**experiment.options, **points[best]}, tuning=info)
