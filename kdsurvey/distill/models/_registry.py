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
