"""The one method registry; a module registers its class with `@METHODS.register(name)`."""

from __future__ import annotations

from kdsurvey.distill.registry import Registry

METHODS = Registry("method")


def register(cls):
    """Class decorator: register under the class's own `name`."""
    return METHODS.register(cls.name)(cls)
