"""Speed switches for training, each on or off, in one validated value that `fit` and the Runner take.

Why one object: every switch has to reach the training loop, the evaluation and the stage key alike.
None means "automatic", which is what the loop did before the switches existed: bf16 autocast,
channels_last and the fused SGD kernel on CUDA only, the data set kept on the device when it fits. On the
CPU every default is off, so CPU results stay bit for bit what they were (fused SGD rounds differently
from the plain loop there: about 2e-8 after 20 steps in a small check, enough to change later digits).

Switches that change the numbers (bf16, channels_last, fused_optimizer, compile) enter a stage's key, but
only when they differ from what the default gives on that device (`numerics`), so existing keys stay.
The teacher cache and the data placement give the same numbers as without them and stay out of the key.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, fields, replace

import torch

from kdsurvey.errors import UsageError

NUMERIC = ("bf16", "channels_last", "fused_optimizer", "compile")


@dataclass(frozen=True)
class Speed:
    """bf16: autocast to bfloat16. channels_last: NHWC models and batches. fused_optimizer: SGD(fused=True).
    compile: torch.compile the student in place (True = inductor, or a backend name such as "eager"); teachers
    stay eager, so teacher outputs, cached or not, are the same with and without it.
    teacher_cache: reuse teacher outputs across students (methods whose forward needs only them).
    data_on_device: keep the images on the device (False: on the host, each batch sent non_blocking).
    """

    bf16: bool | None = None
    channels_last: bool | None = None
    fused_optimizer: bool | None = None
    compile: bool | str = False
    teacher_cache: bool = False
    data_on_device: bool | None = None

    def __post_init__(self) -> None:
        problems = []
        for name in ("bf16", "channels_last", "fused_optimizer", "data_on_device"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                problems.append(f"{name} must be true, false or absent (automatic), got {value!r}")
        if not isinstance(self.teacher_cache, bool):
            problems.append(f"teacher_cache must be true or false, got {self.teacher_cache!r}")
        if isinstance(self.compile, str):
            known = torch.compiler.list_backends(exclude_tags=())
            if self.compile not in known:
                problems.append(f"compile backend {self.compile!r} is unknown (known: {', '.join(known)})")
        elif not isinstance(self.compile, bool):
            problems.append(f"compile must be true, false or a backend name, got {self.compile!r}")
        if problems:
            raise UsageError("bad speed settings: " + "; ".join(problems))

    @classmethod
    def from_dict(cls, values: dict | None) -> Speed:
        """From a config mapping; unknown keys are errors, so a typo never falls back to a default."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown speed setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**values)

    def resolve(self, device: torch.device) -> Speed:
        """The automatic switches made concrete for `device` (data_on_device stays: it needs the data)."""
        cuda = torch.device(device).type == "cuda"
        fused = cuda if self.fused_optimizer is None else self.fused_optimizer
        if fused and torch.device(device).type not in ("cpu", "cuda"):
            raise UsageError(f"fused_optimizer is not available on {device}")
        return replace(
            self,
            bf16=cuda if self.bf16 is None else self.bf16,
            channels_last=cuda if self.channels_last is None else self.channels_last,
            fused_optimizer=fused,
            compile="inductor" if self.compile is True else self.compile,
        )

    def numerics(self, device: torch.device) -> tuple[tuple[str, bool | str], ...]:
        """The switches that change numbers and differ from the default on `device`, for a stage key."""
        mine, default = self.resolve(device), Speed().resolve(device)
        return tuple((n, getattr(mine, n)) for n in NUMERIC if getattr(mine, n) != getattr(default, n))

    def autocast(self, device: torch.device):
        """bf16 autocast when on (call on a resolved Speed), else a no-op context."""
        if self.bf16:
            return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
        return nullcontext()
