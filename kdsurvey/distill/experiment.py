"""What a run is, as data: an Experiment (one method, one pair, several seeds) and the Stages it needs.

A *stage* is one trained network: (method, architecture, its teachers' stages, data set, recipe, seed,
options). Its key hashes all of that, teachers included, under a key-format version, so a trained
teacher or baseline is stored once and reused by every experiment that needs the same one. Which
teachers a student stage has is the method's to say (`Method.teacher_roles`): this module turns roles
into stages and never looks at a method's name.

An Experiment is validated completely when it is made (names, types, ranges, the method's options,
the data set's options), so a bad request fails before the first stage trains.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from kdsurvey.distill import data as datamod
from kdsurvey.distill import methods as methodreg
from kdsurvey.distill import models
from kdsurvey.distill.recipe import Recipe
from kdsurvey.distill.roles import TEACHER, Role
from kdsurvey.distill.speed import Speed
from kdsurvey.errors import UnknownNameError, UsageError
from kdsurvey.record import MAX_SEED, run_id

KEY_FORMAT = 2  # bump when what a key covers changes; old stages are then simply not found
DEFAULT_RECIPE = Recipe(epochs=10, batch_size=128, lr=0.05)


def canonical_hash(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _frozen(value):
    return tuple(_frozen(v) for v in value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class Stage:
    method: str
    arch: str
    dataset: str
    recipe: Recipe
    seed: int
    teachers: tuple[Stage, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()  # the method's full options, sorted by name
    data_seed: int | None = None  # seeds batch order and augmentation instead of `seed` when set
    speed: tuple[tuple[str, Any], ...] = ()  # numeric speed switches that differ from the device's default

    def describe(self) -> dict:
        return {
            "key_format": KEY_FORMAT,
            "method": self.method,
            "arch": self.arch,
            "dataset": self.dataset,
            "recipe": self.recipe.as_dict(),
            "seed": self.seed,
            "teachers": [t.describe() for t in self.teachers],
            "options": self.option_values,
            "data_seed": self.data_seed,
            "speed": dict(self.speed),
        }

    @property
    def key(self) -> str:
        return canonical_hash(self.describe())[:16]

    @property
    def label(self) -> str:
        return f"{self.arch}-{self.method}-seed{self.seed}-{self.key}"

    def with_teachers(self):
        """Every stage this one needs, teachers first (depth-first), then this one."""
        for teacher in self.teachers:
            yield from teacher.with_teachers()
        yield self

    @property
    def option_values(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.options}


def stamp(stage: Stage, speed: Speed, device: torch.device) -> Stage:
    """`stage` and its teachers as trained with `speed` on `device`: the numeric switches in the key."""
    teachers = tuple(stamp(t, speed, device) for t in stage.teachers)
    return replace(stage, teachers=teachers, speed=speed.numerics(device))


def check_seed(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise UsageError(f"{name} must be an integer in [0, {MAX_SEED}], got {value!r}")
    return value


def _check_name(value, name: str) -> str:
    if not isinstance(value, str):
        raise UsageError(f"{name} must be a name (text), got {value!r}")
    return value


@dataclass(frozen=True)
class Experiment:
    """What `kdsurvey reproduce` runs: one method on one teacher/student pair, over several seeds."""

    method: str
    teacher: str = "cnn_large"
    student: str = "cnn_small"
    dataset: str = "fashion-mnist-subset"
    seeds: tuple[int, ...] = (0, 1, 2)
    recipe: Recipe = DEFAULT_RECIPE
    teacher_recipe: Recipe | None = None
    teacher_seed: int | None = None  # one teacher for every seed (RepDistiller's practice) instead of one per seed
    options: dict[str, Any] = field(default_factory=dict)  # the method's options, completed with its defaults
    data_seed: int | None = None  # one data stream for every seed (seeds vary the initialisation only)
    tuning: dict | None = None  # how `options` were chosen on a validation split (kdsurvey.distill.tuning)

    def __post_init__(self):
        method = methodreg.get(_check_name(self.method, "method"))  # unknown -> UnknownNameError with did-you-mean
        if method.name == "ce":
            raise UsageError("'ce' trains the teacher and the baseline of every experiment; name a distillation method")
        for role in ("teacher", "student"):
            arch = _check_name(getattr(self, role), role)
            if arch not in models.names():
                raise UnknownNameError(f"{role}: {models.MODELS.unknown_message(arch)}")
        datamod.check(_check_name(self.dataset, "dataset"))
        seeds = self.seeds
        if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (list, tuple)) or not seeds:
            raise UsageError(f"seeds must be a non-empty list of integers, got {seeds!r}")
        seeds = tuple(check_seed(s, "every seed") for s in seeds)
        if len(set(seeds)) != len(seeds):
            raise UsageError(f"seeds must be distinct, got {list(seeds)}")
        object.__setattr__(self, "seeds", seeds)
        for name in ("teacher_seed", "data_seed"):
            if getattr(self, name) is not None:
                check_seed(getattr(self, name), name)
        for name in ("recipe", "teacher_recipe"):
            value = getattr(self, name)
            if not isinstance(value, Recipe) and not (value is None and name == "teacher_recipe"):
                raise UsageError(f"{name} must be a Recipe, got {value!r}")
        object.__setattr__(self, "options", method.resolve_options(self.options))
        if self.tuning is not None and not isinstance(self.tuning, dict):
            raise UsageError(f"tuning must be a mapping (how the options were chosen), got {self.tuning!r}")
        for role in self._roles():
            self.stage(role, seeds[0])  # every teacher's architecture known before anything trains

    @property
    def method_class(self):
        return methodreg.get(self.method)

    def describe(self) -> dict:
        return {
            "method": self.method,
            "teacher": self.teacher,
            "student": self.student,
            "dataset": self.dataset,
            "seeds": list(self.seeds),
            "recipe": self.recipe.as_dict(),
            "teacher_recipe": (self.teacher_recipe or self.recipe).as_dict(),
            "teacher_seed": self.teacher_seed,
            "options": self.options,
            "data_seed": self.data_seed,
            "tuning": self.tuning,
        }

    @property
    def run_id(self) -> str:
        """The name of the record this experiment writes."""
        return run_id(self.method, self.dataset, self.teacher, self.student)

    @property
    def config_hash(self) -> str:
        return canonical_hash(self.describe())[:16]

    # -- the plan ---------------------------------------------------------------------------

    def _roles(self) -> tuple[Role, ...]:
        return self.method_class.teacher_roles(self.options)

    def stage(self, role: Role, seed: int) -> Stage:
        """The stage that fills `role` for student seed `seed`: trained alone, or distilled from its own roles."""
        arch = role.arch or self.teacher
        if arch not in models.names():
            raise UnknownNameError(f"a teacher of {self.method}: {models.MODELS.unknown_message(arch)}")
        at = seed if self.teacher_seed is None else self.teacher_seed
        if role.method == "ce":
            return Stage("ce", arch, self.dataset, self.teacher_recipe or self.recipe, at)
        cls = methodreg.get(role.method)
        teachers = tuple(self.stage(r, seed) for r in role.teachers)
        return Stage(cls.name, arch, self.dataset, self.recipe, at, teachers, _options(cls.resolve_options({})))

    def teacher_stage(self, seed: int) -> Stage:
        return self.stage(TEACHER, seed)

    def baseline_stage(self, seed: int) -> Stage:
        return Stage("ce", self.student, self.dataset, self.recipe, seed, data_seed=self.data_seed)

    def student_stage(self, seed: int) -> Stage:
        teachers = tuple(self.stage(role, seed) for role in self._roles())
        options = _options(self.options)
        return Stage(self.method, self.student, self.dataset, self.recipe, seed, teachers, options, self.data_seed)

    def stages(self, seed: int) -> dict[str, Stage]:
        """The three stages a seed reports: the teacher, the baseline student and the distilled student."""
        return {"teacher": self.teacher_stage(seed), "baseline": self.baseline_stage(seed),
                "student": self.student_stage(seed)}  # fmt: skip


def _options(values: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, _frozen(v)) for k, v in values.items()))
