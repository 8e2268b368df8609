"""The one model registry every family module registers its builders into.

A builder takes ``(num_classes, in_channels)`` and returns an ``nn.Module`` carrying the
attributes described in `kdsurvey.distill.models`.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from kdsurvey.distill.registry import Registry

Builder = Callable[[int, int], nn.Module]

MODELS: Registry[Builder] = Registry("model")


def register_builder(name: str, doc: str, build: Callable[[int, int], nn.Module]) -> None:
    """Register `build(num_classes, in_channels)` under `name`, as a function named and documented for it."""

    def builder(num_classes: int, in_channels: int = 3) -> nn.Module:
        return build(num_classes, in_channels)

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = doc
    MODELS.register(name)(builder)
