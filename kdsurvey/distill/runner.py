"""Stages -> trained networks (trained now, loaded when stored, resumed when interrupted) -> a record.

The Runner obtains stages on one device: a stage already in the Store is loaded, an unfinished one
resumes from its checkpoint, the rest train. `run` walks an Experiment's stages seed by seed and hands
the accuracies to `kdsurvey.record`, which owns the record's schema. Before anything trains, `run`
checks every stored file the experiment would read, so a corrupted stage fails at once.

Under torchrun every rank walks the same plan. Rank 0 alone reads and writes `OUT` and tells the other
ranks what it found (`engine.from_rank0`), so no rank reads a stage before it is complete, all ranks
agree on train-or-load, and `OUT` need only be on rank 0's disk. Jobs sharing `OUT` may train the same
stage at once: both do the work, neither corrupts the other's files (atomic renames).

A Runner trains with one `Speed`; the switches of it that change numbers are stamped into every stage
it obtains (only those that differ from the device's default). With `Speed(teacher_cache=True)`,
methods that need only teacher outputs share them through `OUT/cache/`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from kdsurvey import record
from kdsurvey.atomic import write_atomic
from kdsurvey.distill import data as datamod
from kdsurvey.distill import environment, models
from kdsurvey.distill import methods as methodreg
from kdsurvey.distill.engine import Fit, fit, from_rank0, resolve_device, world
from kdsurvey.distill.experiment import Experiment, Stage, stamp
from kdsurvey.distill.speed import Speed
from kdsurvey.distill.store import Store
from kdsurvey.distill.teacher_cache import TeacherCache


@dataclass
class Runner:
    """Obtains stages (trained now, or loaded when already stored) on one device."""

    store: Store
    device: torch.device
    data_dir: Path | None = None
    download: bool = False
    progress: bool = False
    log: Callable[[str], Any] | None = None  # one line per stage, or None
    speed: Speed = field(default_factory=Speed)
    retrain: bool = False  # unreadable stored files are deleted and their stages trained again
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
            **stage.option_values,
        )
        self._say(f"training {stage.label} on {self.device}")
        cache = self.teacher_cache() if self.speed.teacher_cache and cls.teacher_outputs_only else None
        outcome: Fit = fit(
            method, splits, stage.recipe, seed=stage.seed, device=self.device,
            checkpoint=self.store.checkpoint(stage), fingerprint=stage.key, progress=self.progress,
            speed=self.speed, teacher_cache=cache, data_seed=stage.data_seed,
        )  # fmt: skip
        values = {
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
            write_atomic(result, lambda tmp: tmp.write_text(json.dumps(values, indent=1), encoding="utf-8"))
            self.store.checkpoint(stage).unlink(missing_ok=True)
        student.eval()
        return student, values

    def verify(self, experiment: Experiment) -> None:
        """Every stored file the experiment would read is usable (or, with `retrain`, deleted)."""
        if world()[0] != 0:
            return
        for seed in experiment.seeds:
            for top in experiment.stages(seed).values():
                for stage in self.stamp(top).with_teachers():
                    self.store.verify(stage, self.retrain)

    def _say(self, line: str) -> None:
        if self.log is not None and world()[0] == 0:
            self.log(line)


def run(
    experiment: Experiment, out: str | Path, *, device: str = "auto", data_dir=None, download: bool = False,
    progress: bool = False, log=None, speed: Speed | None = None, retrain: bool = False,
) -> dict:  # fmt: skip
    """Run every seed of `experiment` and return its result record (see `kdsurvey.record`)."""
    runner = Runner(Store(out), resolve_device(device), data_dir, download, progress, log, speed or Speed(), retrain)
    runner.verify(experiment)
    began = time.perf_counter()
    per_seed = []
    for seed in experiment.seeds:
        per_seed.append({role: runner.obtain(stage)[1] for role, stage in experiment.stages(seed).items()})
    return assemble(experiment, per_seed, runner.device, time.perf_counter() - began)


def assemble(experiment: Experiment, per_seed: list[dict], device: torch.device, wall_time_s: float) -> dict:
    """The record of a finished experiment from its stages' results, one dict {role: result} per seed."""
    cls = experiment.method_class
    accuracy: dict[str, list[float]] = {"teacher": [], "baseline": [], "student": []}
    for results in per_seed:
        accuracy["teacher"].append(results["teacher"]["accuracy"]["student"])
        accuracy["baseline"].append(results["baseline"]["accuracy"]["student"])
        for name, value in results["student"]["accuracy"].items():
            accuracy.setdefault(name if name == "student" else f"student/{name}", []).append(value)
    first = per_seed[0]
    config = experiment.describe()
    return record.assemble(
        method={"name": cls.name, "title": cls.title, "knowledge": cls.knowledge, "strategy": cls.strategy,
                "reference": cls.reference},
        dataset=experiment.dataset,
        teacher={"arch": experiment.teacher, "parameters": first["teacher"]["parameters"]},
        student={"arch": experiment.student, "parameters": first["student"]["parameters"]},
        seeds=list(experiment.seeds),
        accuracy=accuracy,
        recipe=experiment.recipe.as_dict(),
        teacher_recipe=(experiment.teacher_recipe or experiment.recipe).as_dict(),
        options=experiment.options,
        config=config,
        config_hash=experiment.config_hash,
        stages={str(seed): {role: r["key"] for role, r in results.items()}
                for seed, results in zip(experiment.seeds, per_seed)},
        stage_wall_time_s=sum(r["wall_time_s"] for results in per_seed for r in results.values()),
        wall_time_s=wall_time_s,
        environment=environment.describe(device),
        tuning=experiment.tuning,
    )  # fmt: skip
