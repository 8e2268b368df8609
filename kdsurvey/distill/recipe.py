"""A training recipe: optimiser, schedule and length, validated, hashable and written into every record.

Defaults follow RepDistiller's CIFAR-100 recipe (SGD, momentum 0.9, weight decay 5e-4, batch 64,
lr 0.05, x0.1 at 150/180/210 of 240 epochs); the milestones are stored as fractions of the run so a
short run keeps the same shape.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from kdsurvey.errors import UsageError

SCHEDULES = ("step", "cosine", "constant")


@dataclass(frozen=True)
class Recipe:
    epochs: int = 240
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    schedule: str = "step"
    milestones: tuple[float, ...] = (0.625, 0.75, 0.875)
    gamma: float = 0.1
    eval_batch_size: int = 1000
    augment: bool = True  # the data set's training augmentation (crop, flip); false trains on the images as they are

    def __post_init__(self):
        object.__setattr__(self, "milestones", tuple(float(m) for m in self.milestones))
        problems = []
        for name in ("epochs", "batch_size", "eval_batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        for name in ("lr", "momentum", "weight_decay", "gamma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                problems.append(f"{name} must be a finite number >= 0, got {value!r}")
        if self.lr == 0:
            problems.append("lr must be > 0")
        if not isinstance(self.nesterov, bool) or not isinstance(self.augment, bool):
            problems.append(f"nesterov and augment must be true or false, got {self.nesterov!r}, {self.augment!r}")
        if self.schedule not in SCHEDULES:
            problems.append(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if any(not 0 < m < 1 for m in self.milestones) or list(self.milestones) != sorted(self.milestones):
            problems.append(f"milestones must be increasing fractions of the run in (0, 1), got {self.milestones}")
        if problems:
            raise UsageError("bad recipe: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict, **overrides) -> Recipe:
        known = {f.name for f in fields(cls)}
        merged = {**values, **{k: v for k, v in overrides.items() if v is not None}}
        unknown = sorted(set(merged) - known)
        if unknown:
            raise UsageError(f"unknown recipe field(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**merged)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["milestones"] = list(self.milestones)
        return out

    def lr_at(self, epoch: int) -> float:
        """Learning rate for a 0-based epoch."""
        if self.schedule == "constant":
            return self.lr
        if self.schedule == "cosine":
            return 0.5 * self.lr * (1 + math.cos(math.pi * epoch / self.epochs))
        passed = sum(epoch >= round(m * self.epochs) for m in self.milestones)
        return self.lr * self.gamma**passed
