"""A sweep: many experiments from one YAML file, and the plan that trains each stage they need once.

A sweep file names experiments in two ways, which may be combined:

    include: configs/*.yaml          # experiment configs as `kdsurvey reproduce --config` reads them
    methods: [hinton_kd, dml]        # or a mapping: {hinton_kd: {temperature: 2}, dml: null}
    pairs: [[cnn_large, cnn_small], {teacher: resnet32x4, student: resnet8x4}]
    seeds: [0, 1, 2]                 # ...and any other experiment field: dataset, recipe, options, ...

The grid is methods x pairs; every other key is shared by the grid's experiments (per-method options
go on top of the shared `options`). A `tuning` section chooses options on a validation split first
(see `kdsurvey.distill.tuning`). Included configs are taken as written, so shared keys without
`methods` are an error rather than silently ignored. Globs are relative to the sweep file.

The plan lists every stage once (the Store keys stages by what determines them, so a teacher or
baseline used by ten experiments is one task), dependencies before dependants and, among tasks that
could run at the same time, the most shared first; then one record task per experiment. A stage is
finished when the Store holds it; an unfinished one with a checkpoint resumes from it.
"""

from __future__ import annotations

import glob
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from kdsurvey.distill import config
from kdsurvey.distill.experiment import Experiment, Stage
from kdsurvey.distill.store import Store
from kdsurvey.distill.tuning import Tuning, candidates
from kdsurvey.distill.tuning import from_values as tuning_from_values
from kdsurvey.errors import DataNotFoundError, UsageError

GRID_KEYS = {"include", "methods", "pairs", "tuning"}
SHARED_KEYS = config.EXPERIMENT_KEYS - {"method", "teacher", "student"}
PAIR_KEYS = {"teacher", "student"}


@dataclass(frozen=True)
class Sweep:
    """The experiments of a sweep file, validated: known names, valid seeds and options, distinct records."""

    experiments: tuple[Experiment, ...]
    source: str = "sweep"
    tuning: Tuning | None = None  # settings chosen on a validation split first (kdsurvey.distill.tuning)
    records: bool = True  # False: stages only (tuning candidates share record names and write none)

    def __post_init__(self):
        if not self.experiments:
            raise UsageError(f"{self.source}: the sweep holds no experiment")
        if not self.records:
            return
        seen: dict[str, int] = {}
        for i, e in enumerate(self.experiments):
            name = e.run_id
            if name in seen:
                raise UsageError(f"{self.source}: experiments {seen[name] + 1} and {i + 1} would both write "
                                 f"the record {name}.json; make them differ in method, data set or pair")  # fmt: skip
            seen[name] = i

    def only(self, methods: set[str] | None) -> Sweep:
        """The experiments of the named methods (all when None); a method without one is an error."""
        if methods is None:
            return self
        missing = sorted(methods - {e.method for e in self.experiments})
        if missing:
            raise UsageError(f"{self.source}: no experiment for method(s) {', '.join(missing)}")
        tuning = self.tuning
        if tuning is not None:
            grids = {m: g for m, g in tuning.grids.items() if m in methods}
            tuning = replace(tuning, grids=grids) if grids else None
        return Sweep(tuple(e for e in self.experiments if e.method in methods), self.source, tuning, self.records)

    def tuning_stages(self) -> Sweep | None:
        """The candidates of every tuned experiment as one stage-only sweep (None without tuning)."""
        if self.tuning is None:
            return None
        found = [c for e in self.experiments for c in candidates(e, self.tuning)]
        return Sweep(tuple(found), f"{self.source} (tuning)", records=False) if found else None


def load(path: str | Path) -> Sweep:
    """Read and validate a sweep file (see the module docstring)."""
    path = Path(path)
    return from_values(config.load(path), path.parent, str(path))


def from_values(values: dict, base: str | Path, source: str = "sweep") -> Sweep:
    """A Sweep from the values of a sweep file; `include` globs are relative to `base`."""
    if not isinstance(values, dict):
        raise UsageError(f"{source}: a sweep is a mapping of settings")
    base = Path(base)
    unknown = sorted(set(values) - GRID_KEYS - SHARED_KEYS)
    if unknown:
        known = ", ".join(sorted(GRID_KEYS | SHARED_KEYS))
        raise UsageError(f"{source}: unknown key(s) {', '.join(unknown)} (known: {known})")
    shared = {k: v for k, v in values.items() if k in SHARED_KEYS}
    if "methods" not in values and (shared or "pairs" in values):
        raise UsageError(f"{source}: {', '.join(sorted(set(shared) | ({'pairs'} & set(values))))} "
                         "set(s) the grid, which needs 'methods'; included configs are taken as written")  # fmt: skip
    if "methods" not in values and "include" not in values:
        raise UsageError(f"{source}: name experiments with 'include' (config files) and/or 'methods' (a grid)")
    found = [_from_file(path) for path in _included(values.get("include"), base, source)]
    if "methods" in values:
        found += _grid(values["methods"], values.get("pairs"), shared, source)
    tuning = None
    if "tuning" in values:
        tuning = tuning_from_values(values["tuning"], {e.method for e in found}, source)
    return Sweep(tuple(found), source, tuning)


def _included(patterns, base: Path, source: str) -> list[Path]:
    if patterns is None:
        return []
    if isinstance(patterns, str):
        patterns = [patterns]
    if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
        raise UsageError(f"{source}: include takes a glob or a list of globs, got {patterns!r}")
    paths = []
    for pattern in patterns:
        matched = sorted(glob.glob(str(base / pattern)))
        if not matched:
            raise DataNotFoundError(f"{source}: include {pattern!r} matches no file (relative to {base})")
        paths += [Path(p) for p in matched]
    return paths


def _from_file(path: Path) -> Experiment:
    return config.experiment(config.load(path), str(path))


def _grid(methods, pairs, shared: dict, source: str) -> list[Experiment]:
    if isinstance(methods, list) and len(set(map(str, methods))) == len(methods):
        methods = {m: None for m in methods}
    if not isinstance(methods, dict) or not methods or not all(isinstance(m, str) for m in methods):
        raise UsageError(
            f"{source}: methods takes a list of distinct names or a mapping name -> options, got {methods!r}"
        )
    shared_options = shared.get("options") or {}
    if not isinstance(shared_options, dict):
        raise UsageError(f"{source}: options must be a mapping of method options")
    out = []
    for pair in [None] if pairs is None else _pairs(pairs, source):
        for method, options in methods.items():
            if options is not None and not isinstance(options, dict):
                raise UsageError(f"{source}: options of {method} must be a mapping, got {options!r}")
            values = {**shared, **(pair or {}), "method": method, "options": {**shared_options, **(options or {})}}
            where = f"{source}: {method}" + (f" ({pair['teacher']} -> {pair['student']})" if pair else "")
            out.append(config.experiment(values, where))
    return out


def _pairs(pairs, source: str) -> list[dict]:
    if not isinstance(pairs, list) or not pairs:
        raise UsageError(f"{source}: pairs takes a list of [teacher, student] or {{teacher:, student:}} entries")
    out = []
    for pair in pairs:
        if isinstance(pair, list) and len(pair) == 2 and all(isinstance(a, str) for a in pair):
            pair = {"teacher": pair[0], "student": pair[1]}
        if not isinstance(pair, dict) or not {"teacher", "student"} <= set(pair) or set(pair) - PAIR_KEYS:
            raise UsageError(f"{source}: a pair is [teacher, student] or a mapping with teacher and student; "
                             f"got {pair!r}")  # fmt: skip
        out.append(pair)
    return out


# -- the plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    """One unit of work: train (or resume) a stage, or write an experiment's record from stored stages."""

    name: str  # the stage label, or the record's run id
    needs: tuple[str, ...]  # names of the tasks that must finish first
    stage: Stage | None = None
    experiment: Experiment | None = None
    used_by: int = 1  # experiments that need it; the most shared of the ready tasks go first

    @property
    def kind(self) -> str:
        return "stage" if self.stage is not None else "record"


@dataclass(frozen=True)
class Plan:
    tasks: tuple[Task, ...]  # dependencies first; see order()
    sweep: Sweep = field(repr=False)

    @property
    def stages(self) -> list[Task]:
        return [t for t in self.tasks if t.stage is not None]

    @property
    def records(self) -> list[Task]:
        return [t for t in self.tasks if t.experiment is not None]


def plan(sweep: Sweep, stamp: Callable[[Stage], Stage] | None = None) -> Plan:
    """Every stage the sweep needs, once, then the record tasks.

    Stages come by depth (trained alone first, then what they teach), and within a depth the shared ones
    (teachers, and stages several experiments use, such as baselines) first, the most used first.
    `stamp` turns a stage into the one the workers will store (`runner.stamp`: speed switches in its key).
    """
    stamp = stamp or (lambda stage: stage)
    stages: dict[str, Stage] = {}
    users: dict[str, set[int]] = {}
    records = []
    for i, experiment in enumerate(sweep.experiments):
        needs = []
        for seed in experiment.seeds:
            for top in experiment.stages(seed).values():
                top = stamp(top)
                needs.append(top.label)
                for stage in top.with_teachers():
                    stages.setdefault(stage.label, stage)
                    users.setdefault(stage.label, set()).add(i)
        if sweep.records:
            records.append(Task(experiment.run_id, tuple(dict.fromkeys(needs)), experiment=experiment))
    order = {label: i for i, label in enumerate(stages)}  # first seen: a stage's teachers before it
    tasks = [Task(label, tuple(t.label for t in s.teachers), stage=s, used_by=len(users[label]))
             for label, s in stages.items()]  # fmt: skip
    teaching = {t.label for s in stages.values() for t in s.teachers}
    shared = {label for label in stages if label in teaching or len(users[label]) > 1}
    tasks.sort(key=lambda t: (depth(t.stage), t.name not in shared, -t.used_by, order[t.name]))
    return Plan(tuple(tasks + records), sweep)


def depth(stage: Stage) -> int:
    """1 for a stage trained alone, 1 + the deepest teacher's depth otherwise."""
    return 1 + max((depth(t) for t in stage.teachers), default=0)


def status(task: Task, store: Store) -> str:
    """'done' (stored), 'resume' (a checkpoint exists), 'train', or 'write' for a record task."""
    if task.stage is None:
        return "write"
    if store.stored(task.stage):
        return "done"
    return "resume" if store.checkpoint(task.stage).exists() else "train"


def listing(p: Plan, store: Store, records: Path, recipes: bool = False) -> str:
    """What `--dry-run` prints: every task with its status, shared stages first; with `recipes`, each
    experiment's recipe, teacher recipe and method options too."""
    states = [status(t, store) for t in p.stages]
    counts = {s: states.count(s) for s in ("done", "resume", "train")}
    what = f"{len(p.records)} experiment(s)" if p.sweep.records else f"{len(p.sweep.experiments)} candidate(s)"
    lines = [f"{p.sweep.source}: {what}, {len(p.stages)} stage(s) under {store.root} "
             f"({counts['done']} done, {counts['resume']} to resume, {counts['train']} to train)",
             "stages (dependencies first, the most shared first):"]  # fmt: skip
    for task, state in zip(p.stages, states):
        lines.append(f"  {state:7s} {task.name}  (used by {task.used_by} experiment{'s' * (task.used_by > 1)})")
    if p.sweep.records:
        lines.append(f"records (written once their stages are stored) to {records}:")
    lines += [f"  write   {t.name}.json  ({len(t.experiment.seeds)} seed(s))" for t in p.records]
    if recipes:
        for t in p.records:
            e = t.experiment
            lines.append(f"{t.name}: seeds {', '.join(map(str, e.seeds))}; teacher seed {e.teacher_seed}")
            lines.append(f"  recipe          {_recipe_text(e.recipe)}")
            lines.append(f"  teacher recipe  {_recipe_text(e.teacher_recipe or e.recipe)}")
            lines.append(f"  options         {', '.join(f'{k}={v}' for k, v in e.options.items()) or 'none'}")
    return "\n".join(lines) + "\n"


def _recipe_text(recipe) -> str:
    return ", ".join(f"{k}={v}" for k, v in recipe.as_dict().items())
