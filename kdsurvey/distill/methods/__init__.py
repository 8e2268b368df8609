"""The registry of distillation methods, one small file each, named after the method it registers.

A method class binds a pure loss from `kdsurvey.distill.losses` to what it trains, declares its options
(`option_spec`) and the trained teachers it needs (`teacher_roles`). Every module of this package is
imported here, so adding a method is adding its file: nothing else lists it.
"""

from __future__ import annotations

import importlib
import pkgutil

from kdsurvey.distill.methods._registry import METHODS
from kdsurvey.distill.methods.base import Context, Method

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_") and _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


def names() -> list[str]:
    return METHODS.names()


def get(name: str) -> type[Method]:
    return METHODS.get(name)


__all__ = ["Context", "Method", "get", "names"]
