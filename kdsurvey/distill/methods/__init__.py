"""The registry of distillation methods, one small file each; `names()` lists them.

A method class binds a pure loss from `kdsurvey.distill.losses` to what it trains. `plan` (in
`kdsurvey.distill.runner`) decides which trained teachers each method receives.
"""

from __future__ import annotations

from kdsurvey.distill.methods._registry import METHODS
from kdsurvey.distill.methods.base import Context, Method

# Importing the method modules registers them.
from kdsurvey.distill.methods import (  # noqa: E402, F401  isort: skip
    ce,
    kd,
    fitnet,
    attention,
    similarity,
    rkd,
    pkt,
    takd,
    multi_teacher,
    dml,
    one,
    kdcl,
    byot,
    cskd,
)


def names() -> list[str]:
    return METHODS.names()


def get(name: str) -> type[Method]:
    return METHODS.get(name)


__all__ = ["Context", "Method", "get", "names"]
