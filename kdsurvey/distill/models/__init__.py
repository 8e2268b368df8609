"""Classifiers for distillation experiments, built by name: `build("resnet32x4", num_classes=100)`.

Every model built here keeps a plain ``forward(x) -> logits`` and carries its layout as attributes,
so distillers read features with forward hooks (`capture`) instead of model-specific code:

- ``stage_names``: module paths whose outputs are the feature maps ending each stage, shallow to deep;
- ``embedding_name``: the module whose output is the pooled vector fed to the classifier;
- ``classifier_name``: the final ``nn.Linear``;
- ``sequence``: the module paths whose composition (with a flatten before the last) is ``forward``,
  which is what lets `split` cut any of them into a trunk and a head.

Families: CIFAR ResNets and wide ResNets of the CRD benchmark (exact parameter counts), small
CPU-friendly CNNs for the default Fashion-MNIST suite, and torchvision's ImageNet models.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from kdsurvey.distill.models import cifar_resnet, mlp, small_cnn, vision, wide_resnet  # noqa: F401  (they register)
from kdsurvey.distill.models._registry import MODELS
from kdsurvey.distill.models.hooks import capture
from kdsurvey.errors import UsageError

__all__ = ["MODELS", "build", "capture", "names", "parameter_count", "split"]


def build(name: str, num_classes: int, in_channels: int = 3) -> nn.Module:
    """A freshly initialised model; seed torch first for reproducible weights."""
    builder = MODELS.get(name)
    if not _is_int(num_classes) or num_classes < 2:
        raise UsageError(f"num_classes must be an integer of at least 2, not {num_classes!r}")
    if not _is_int(in_channels) or in_channels < 1:
        raise UsageError(f"in_channels must be a positive integer, not {in_channels!r}")
    return builder(operator.index(num_classes), operator.index(in_channels))


def names() -> list[str]:
    """Every registered model name, sorted."""
    return MODELS.names()


def parameter_count(model: nn.Module) -> int:
    """Trainable parameters; BatchNorm running statistics are buffers, so they are not counted."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def split(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(trunk, head) with ``head(trunk(x)) == model(x)``, sharing the model's own modules (no copies).

    The head is the last stage, the pooling and the classifier: ONE (Lan et al., 2018) deep-copies it
    into several branches over one shared trunk.
    """
    sequence = getattr(model, "sequence", None)
    stages = getattr(model, "stage_names", None)
    if not sequence or not stages:
        raise UsageError(f"split needs a model built by kdsurvey.distill.models.build, not {type(model).__name__}")
    cut = sequence.index(stages[-2]) + 1
    *pooled, classifier = sequence[cut:]
    head = _named(model, pooled)
    head["flatten"] = nn.Flatten(1)  # a no-op on already flat embeddings; torchvision ResNets need it
    head.update(_named(model, [classifier]))
    return nn.Sequential(_named(model, sequence[:cut])), nn.Sequential(head)


def _named(model: nn.Module, paths: Sequence[str]) -> OrderedDict[str, nn.Module]:
    """The modules at `paths`, themselves (not copies), keyed by path with dots made underscores."""
    return OrderedDict((path.replace(".", "_"), model.get_submodule(path)) for path in paths)


def _is_int(value: object) -> bool:
    """True for Python and NumPy integers, false for bools, floats and strings."""
    if isinstance(value, bool):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True
