"""The shape every method shares: a module holding what it trains, frozen teachers beside it.

A method is thin. It binds a pure loss from `kdsurvey.distill.losses` to the extra modules it needs
(a regressor, branch heads, peers) and says which models the run should evaluate. Its forward takes a
batch and returns the student's logits and a dict of named, already-weighted loss terms; the engine
sums them. Teachers are kept outside the module tree on purpose: they are frozen, so they are not in
`parameters()`, not in the checkpoint and never wrapped by DistributedDataParallel.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdsurvey.distill import options as opt
from kdsurvey.distill.roles import TEACHER, Role
from kdsurvey.errors import UsageError


@dataclass
class Context:
    """What a method may need besides the batch: the training set, to draw extra samples (CS-KD)."""

    labels: Tensor | None = None  # training labels, on the device
    prepare: Callable[[Tensor], Tensor] | None = None  # dataset indices -> augmented, normalised batch
    teacher_outputs: Tensor | None = None  # (teachers, dataset size, classes) this epoch, from a teacher cache


class Method(nn.Module):
    """Base class. Subclasses set the class variables and implement `forward`."""

    name: ClassVar[str]
    title: ClassVar[str]
    knowledge: ClassVar[str]  # "response" | "feature" | "relation" | "none"
    strategy: ClassVar[str]  # "offline" | "online" | "self" | "none"
    reference: ClassVar[str | None] = None  # BibTeX key of the paper
    teacher_outputs_only: ClassVar[bool] = False  # uses its teachers only via teacher_logits(x, index): cacheable
    option_spec: ClassVar[dict[str, opt.Option]] = {}  # name -> default and accepted values

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return opt.defaults(cls.option_spec)

    @classmethod
    def resolve_options(cls, given: dict | None) -> dict[str, Any]:
        """Every option of the method, `given` over the defaults, checked (UsageError naming the option)."""
        return opt.resolve(cls.name, cls.option_spec, given)

    @classmethod
    def teacher_roles(cls, options: dict[str, Any]) -> tuple[Role, ...]:
        """The trained teachers this method distils from (resolved `options` in hand), as roles the
        experiment turns into stages. Offline methods learn from the experiment's teacher; online and
        self-distillation train without one. Methods with another arrangement override this."""
        return (TEACHER,) if cls.strategy == "offline" else ()

    def __init__(
        self,
        student: nn.Module,
        teachers: Sequence[nn.Module] = (),
        sample: Tensor | None = None,
        make_model: Callable[[str], nn.Module] | None = None,
        **options,
    ):
        super().__init__()
        self.options = self.resolve_options(options)
        needed = len(self.teacher_roles(self.options))
        if len(teachers) != needed:
            raise UsageError(f"method {self.name!r} needs {needed} teacher(s), got {len(teachers)}")
        self.student = student
        self._teachers = [freeze(t) for t in teachers]
        self.context = Context()
        self.sample = sample  # a batch of inputs, to size connectors by probing feature shapes
        self.make_model = make_model  # architecture name -> fresh model (peers of online methods)

    @property
    def teachers(self) -> list[nn.Module]:
        return self._teachers

    def to(self, *args, **kwargs):  # teachers follow the method to its device and dtype
        for teacher in self._teachers:
            teacher.to(*args, **kwargs)
        return super().to(*args, **kwargs)

    def evaluated(self) -> dict[str, nn.Module]:
        """The models whose test accuracy the run reports; "student" is the one the tables use."""
        return {"student": self.student}

    def forward(self, x: Tensor, y: Tensor, index: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        raise NotImplementedError

    @torch.no_grad()
    def teacher_logits(self, x: Tensor, index: Tensor | None = None) -> list[Tensor]:
        """The frozen teachers' logits. Methods call this before the student's forward: the other way
        round, the teacher's large temporaries are freed on top of the student's saved activations and
        the allocator returns that memory to the OS every step (6-10% slower on the CPU, measured in
        benchmarks/RESULTS.md); the values are the same either way. Given the batch's dataset `index`
        while the engine holds a teacher cache for this epoch, the rows come from it (same values)."""
        table = self.context.teacher_outputs
        if table is not None and index is not None:
            return list(table[:, index.to(table.device)])
        return [teacher(x) for teacher in self._teachers]


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and no gradients: a teacher's BatchNorm statistics must not move while it teaches."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    return F.cross_entropy(logits.float(), y)


@torch.no_grad()
def probe_shapes(model: nn.Module, names: Sequence[str], sample: Tensor) -> dict[str, torch.Size]:
    """Output shapes of named modules for a sample batch, found with hooks (for sizing connectors)."""
    from kdsurvey.distill.models import capture

    was_training = model.training
    model.eval()
    with capture(model, names) as features:
        model(sample[:2])
    model.train(was_training)
    return {name: features[name].shape for name in names}
