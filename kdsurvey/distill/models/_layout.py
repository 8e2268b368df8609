"""Attach the layout attributes (stages, embedding, classifier, forward sequence) that distillers rely on.

Keeping them as plain attributes, not a base class, lets torchvision models carry them too.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def describe(
    model: nn.Module,
    *,
    sequence: tuple[str, ...],
    stage_names: tuple[str, ...],
    embedding_name: str,
    classifier_name: str,
) -> nn.Module:
    """Set the attributes on `model` and check every path exists, so a typo fails at build time.

    `sequence` lists the module paths whose composition, with a flatten before the last one, is
    exactly `model.forward`; `split` cuts it after the second-to-last stage.
    """
    paths = dict(model.named_modules())
    for path in (*sequence, *stage_names, embedding_name, classifier_name):
        if path not in paths:
            raise RuntimeError(f"{type(model).__name__} has no module {path!r}")
    if len(stage_names) < 3:
        raise RuntimeError("a model needs at least 3 stages")
    if stage_names[-2] not in sequence:
        raise RuntimeError("the second-to-last stage must be a step of the forward sequence")
    if not isinstance(paths[classifier_name], nn.Linear):
        raise RuntimeError(f"{classifier_name!r} is not an nn.Linear")
    model.sequence = tuple(sequence)
    model.stage_names = tuple(stage_names)
    model.embedding_name = embedding_name
    model.classifier_name = classifier_name
    return model


class GlobalAvgPool(nn.Module):
    """Average over all spatial positions and flatten to (N, C): any input size works, 28 or 32 pixels."""

    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
