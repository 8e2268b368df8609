"""From an experiment spec to a result record: plan the stages, train or reuse each, collect accuracies.

A *stage* is one trained network: (method, architecture, its teachers' stages, data set, recipe,
seed, options). Its key hashes all of that, teachers included, so a trained teacher or baseline is
stored once under `OUT/stages/` and reused by every method and later run that needs the same one,
and a stage that was interrupted resumes from its checkpoint. The baseline student of a seed starts
from the same initial weights as every distilled student of that seed: same seed, same architecture.

Under torchrun every rank walks the same plan. Rank 0 alone reads and writes `OUT` and tells the other
ranks what it found (`engine.from_rank0`), so no rank reads a stage before it is complete, all ranks
agree on train-or-load, and `OUT` need only be on rank 0's disk. Files are written to a temporary name
and renamed, so jobs sharing `OUT` may train the same stage at once: both do the work, neither
corrupts the other's files, and the last rename of each file wins (same configuration either way).

A Runner trains with one `Speed`; the switches of it that change numbers are stamped into every stage
it obtains (only those that differ from the device's default, so default keys stay as they were). With
`Speed(teacher_cache=True)`, methods that need only teacher outputs share them through `OUT/cache/`.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from kdsurvey.atomic import write_atomic
from kdsurvey.distill import data as datamod
from kdsurvey.distill import methods as methodreg
from kdsurvey.distill import models
from kdsurvey.distill.engine import Fit, fit, from_rank0, resolve_device, world
from kdsurvey.distill.recipe import Recipe
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.teacher_cache import TeacherCache
from kdsurvey.errors import UsageError


@dataclass(frozen=True)
class Stage:
    method: str
    arch: str
    dataset: str
    recipe: Recipe
    seed: int
    teachers: tuple[Stage, ...] = ()
    options: tuple[tuple[str, Any], ...] = ()
    data_seed: int | None = None  # seeds batch order and augmentation instead of `seed` when set
    speed: tuple[tuple[str, Any], ...] = ()  # numeric speed switches that differ from the default

    def describe(self) -> dict:
        described = {
            "method": self.method,
            "arch": self.arch,
            "dataset": self.dataset,
            "recipe": self.recipe.as_dict(),
            "seed": self.seed,
            "teachers": [t.describe() for t in self.teachers],
            "options": dict(self.options),
        }
        if self.data_seed is not None:  # only when set, so that keys without it stay as they were
            described["data_seed"] = self.data_seed
        if self.speed:
            described["speed"] = dict(self.speed)
        return described

    @property
    def key(self) -> str:
        return canonical_hash(self.describe())[:16]

    @property
    def label(self) -> str:
        return f"{self.arch}-{self.method}-seed{self.seed}-{self.key}"


def stamp(stage: Stage, speed: Speed, device: torch.device) -> Stage:
    """`stage` and its teachers as trained with `speed` on `device`: the numeric switches in the key."""
    teachers = tuple(stamp(t, speed, device) for t in stage.teachers)
    return replace(stage, teachers=teachers, speed=speed.numerics(device))


def canonical_hash(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class Experiment:
    """What `kdsurvey reproduce` runs: one method on one teacher/student pair, over several seeds."""

    method: str
    teacher: str = "cnn_large"
    student: str = "cnn_small"
    assistant: str = "cnn_medium"
    extra_teachers: tuple[str, ...] = ("cnn_medium",)
    dataset: str = "fashion-mnist-subset"
    seeds: tuple[int, ...] = (0, 1, 2)
    recipe: Recipe = field(default_factory=lambda: Recipe(epochs=10, batch_size=128, lr=0.05))
    teacher_recipe: Recipe | None = None
    teacher_seed: int | None = None  # one teacher for every seed (RepDistiller's practice) instead of one per seed
    options: dict[str, Any] = field(default_factory=dict)
    data_seed: int | None = None  # one data stream for every seed (seeds vary the initialisation only)

    def __post_init__(self):
        self.seeds = tuple(self.seeds)
        self.extra_teachers = tuple(self.extra_teachers)
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UsageError(f"seeds must be distinct and at least one, got {list(self.seeds)}")
        if any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in self.seeds):
            raise UsageError(f"seeds must be non-negative integers, got {list(self.seeds)}")
        for name in ("teacher_seed", "data_seed"):
            t = getattr(self, name)
            if t is not None and (isinstance(t, bool) or not isinstance(t, int) or t < 0):
                raise UsageError(f"{name} must be a non-negative integer or absent, got {t!r}")
        if methodreg.get(self.method).name == "ce":  # unknown method -> UnknownNameError
            raise UsageError("'ce' trains the teacher and the baseline of every experiment; name a distillation method")
        for arch in (self.teacher, self.student, self.assistant, *self.extra_teachers):
            if arch not in models.names():
                models.build(arch, 10)  # raises UnknownNameError with did-you-mean
        datamod.DATASETS.get(self.dataset.partition(":")[0])  # unknown data set -> UnknownNameError

    def describe(self) -> dict:
        described = {
            "method": self.method,
            "teacher": self.teacher,
            "student": self.student,
            "assistant": self.assistant,
            "extra_teachers": list(self.extra_teachers),
            "dataset": self.dataset,
            "seeds": list(self.seeds),
            "recipe": self.recipe.as_dict(),
            "teacher_recipe": (self.teacher_recipe or self.recipe).as_dict(),
            "teacher_seed": self.teacher_seed,
            "options": self.options,
        }
        if self.data_seed is not None:  # only when set: records without it keep their config hash
            described["data_seed"] = self.data_seed
        return described

    # -- the plan ---------------------------------------------------------------------------

    def _trained_alone(self, arch: str, seed: int) -> Stage:
        """A teacher trained by itself, for this student seed (or for every seed: teacher_seed)."""
        recipe = self.teacher_recipe or self.recipe
        return Stage("ce", arch, self.dataset, recipe, seed if self.teacher_seed is None else self.teacher_seed)

    def teacher_stage(self, seed: int) -> Stage:
        return self._trained_alone(self.teacher, seed)

    def baseline_stage(self, seed: int) -> Stage:
        return Stage("ce", self.student, self.dataset, self.recipe, seed, data_seed=self.data_seed)

    def student_stage(self, seed: int) -> Stage:
        cls = methodreg.get(self.method)
        options = tuple(sorted(self.options.items()))
        if cls.name == "takd":  # teacher -> assistant (Hinton KD) -> student
            teacher = self.teacher_stage(seed)
            assistant = Stage("hinton_kd", self.assistant, self.dataset, self.recipe, teacher.seed, (teacher,))
            teachers = (assistant,)
        elif cls.name == "multi_teacher":
            teachers = (self.teacher_stage(seed),) + tuple(self._trained_alone(a, seed) for a in self.extra_teachers)
        elif cls.teachers_needed:
            teachers = (self.teacher_stage(seed),)
        else:
            teachers = ()
        return Stage(cls.name, self.student, self.dataset, self.recipe, seed, teachers, options, self.data_seed)


class Store:
    """Trained stages on disk: final weights + result JSON, and the checkpoint of an unfinished one."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def weights(self, stage: Stage) -> Path:
        return self.root / "stages" / f"{stage.label}.pt"

    def result(self, stage: Stage) -> Path:
        return self.root / "stages" / f"{stage.label}.json"

    def checkpoint(self, stage: Stage) -> Path:
        return self.root / "checkpoints" / f"{stage.label}.ckpt"

    def stored(self, stage: Stage) -> bool:
        """Whether `stage` is completely stored: its weights and its result."""
        return self.weights(stage).exists() and self.result(stage).exists()

    def read(self, stage: Stage) -> tuple[dict, dict] | None:
        """(state dict, result) of a stored stage; None when it is not (completely) stored."""
        if not self.stored(stage):
            return None
        state = torch.load(self.weights(stage), map_location="cpu", weights_only=True)
        return state, json.loads(self.result(stage).read_text(encoding="utf-8"))


@dataclass
class Runner:
    """Obtains stages (trained now, or loaded when already stored) on one device."""

    store: Store
    device: torch.device
    data_dir: Path | None = None
    download: bool = False
    progress: bool = False
    log: Any = None  # callable(str) for one line per stage, or None
    speed: Speed = field(default_factory=Speed)
    _splits: dict = field(default_factory=dict)
    _cache: TeacherCache | None = None  # made on first use, shared by every stage this runner trains

    def splits(self, name: str):
        if name not in self._splits:
            rank, size = world()
            first = not self.download or rank == 0  # with --download, rank 0 fetches alone, then the others read
            if first:
                self._splits[name] = datamod.load(name, data_dir=self.data_dir, download=self.download)
            if self.download and size > 1:
                dist.barrier()
            if not first:
                self._splits[name] = datamod.load(name, data_dir=self.data_dir, download=self.download)
        return self._splits[name]

    def build(self, arch: str, dataset: str):
        info = self.splits(dataset).info
        return models.build(arch, info.num_classes, info.in_channels)

    def stamp(self, stage: Stage) -> Stage:
        return stamp(stage, self.speed, self.device)

    def teacher_cache(self) -> TeacherCache:
        if self._cache is None:
            self._cache = TeacherCache(self.store.root / "cache")
        return self._cache

    def obtain(self, stage: Stage) -> tuple[torch.nn.Module, dict]:
        """The trained network of `stage` (frozen, on the device) and its stored result."""
        stage = self.stamp(stage)
        weights, result = self.store.weights(stage), self.store.result(stage)
        stored = from_rank0(lambda: self.store.read(stage))
        if stored is not None:
            model = self.build(stage.arch, stage.dataset)
            model.load_state_dict(stored[0])
            return model.to(self.device), stored[1]
        teachers = [self.obtain(t)[0] for t in stage.teachers]
        splits = self.splits(stage.dataset)
        torch.manual_seed(stage.seed)
        student = self.build(stage.arch, stage.dataset)
        sample = datamod.batches(splits.train, splits.info, 8, train=False).prepare(
            torch.arange(min(8, len(splits.train)))
        )
        cls = methodreg.get(stage.method)
        method = cls(
            student,
            teachers,
            sample=sample,
            make_model=lambda arch=None: self.build(arch or stage.arch, stage.dataset),
            **dict(stage.options),
        )
        self._say(f"training {stage.label} on {self.device}")
        cache = self.teacher_cache() if self.speed.teacher_cache and cls.teacher_outputs_only else None
        outcome: Fit = fit(
            method, splits, stage.recipe, seed=stage.seed, device=self.device,
            checkpoint=self.store.checkpoint(stage), fingerprint=stage.key, progress=self.progress,
            speed=self.speed, teacher_cache=cache, data_seed=stage.data_seed,
        )  # fmt: skip
        record = {
            "stage": stage.describe(),
            "key": stage.key,
            "accuracy": outcome.accuracy,
            "parameters": models.parameter_count(student),
            "history": outcome.history,
            "wall_time_s": round(outcome.wall_time_s, 3),
            "resumed_from_epoch": outcome.resumed_from_epoch,
            "device": str(self.device),
        }
        if world()[0] == 0:
            write_atomic(weights, lambda tmp: torch.save(student.state_dict(), tmp))
            write_atomic(result, lambda tmp: tmp.write_text(json.dumps(record, indent=1), encoding="utf-8"))
            self.store.checkpoint(stage).unlink(missing_ok=True)
        student.eval()
        return student, record

    def _say(self, line: str) -> None:
        if self.log is not None and world()[0] == 0:
            self.log(line)


def run(
    experiment: Experiment, out: Path, *, device: str = "auto", data_dir=None, download=False, progress=False, log=None,
    speed: Speed | None = None,
) -> dict:  # fmt: skip
    """Run every seed of `experiment` and return its result record (see `kdsurvey.distill.results`)."""
    from kdsurvey.distill import results

    runner = Runner(Store(Path(out)), resolve_device(device), data_dir, download, progress, log, speed or Speed())
    began = time.perf_counter()
    per_seed = []
    for seed in experiment.seeds:
        _, teacher = runner.obtain(experiment.teacher_stage(seed))
        _, baseline = runner.obtain(experiment.baseline_stage(seed))
        _, student = runner.obtain(experiment.student_stage(seed))
        per_seed.append({"seed": seed, "teacher": teacher, "baseline": baseline, "student": student})
    return results.record(experiment, per_seed, runner, time.perf_counter() - began)
