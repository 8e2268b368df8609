"""Method options as declared, checked values: every option says its default and what it accepts.

A method lists its options as `{name: Option}`; `resolve` merges what a user gave over the defaults and
checks each value when the experiment is built, so `--option temperature=abc` is one clear error before
any teacher trains, never a traceback a minute into training. Values are normalised (an integer given
for a float option becomes a float) so that equal settings give equal stage keys.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kdsurvey.distill import models
from kdsurvey.errors import UsageError


@dataclass(frozen=True)
class Option:
    default: Any
    check: Callable[[Any], Any]  # the normalised value, or ValueError saying what the option takes


def _float(value) -> float:
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 as text
        try:
            value = float(value)
        except ValueError:
            raise ValueError from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError
    return float(value)


def number(default: float, *, minimum: float = 0.0, above: bool = False, maximum: float | None = None) -> Option:
    """A finite float >= minimum (> minimum when `above`), <= maximum when given."""
    bound = f"{'>' if above else '>='} {minimum:g}" + (f" and <= {maximum:g}" if maximum is not None else "")

    def check(value):
        try:
            value = _float(value)
        except ValueError:
            raise ValueError(f"a finite number {bound}") from None
        if value < minimum or (above and value == minimum) or (maximum is not None and value > maximum):
            raise ValueError(f"a finite number {bound}")
        return value

    return Option(float(default), check)


def weight(default: float) -> Option:
    """A loss weight: a finite number >= 0."""
    return number(default)


def temperature(default: float) -> Option:
    """A softmax temperature: a finite number > 0."""
    return number(default, above=True)


def integer(default: int, *, minimum: int, maximum: int | None = None) -> Option:
    bound = f">= {minimum}" + (f" and <= {maximum}" if maximum is not None else "")

    def check(value):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"an integer {bound}")
        if maximum is not None and value > maximum:
            raise ValueError(f"an integer {bound}")
        return value

    return Option(default, check)


def choice(default: str, choices: tuple[str, ...]) -> Option:
    def check(value):
        if value not in choices:
            raise ValueError(f"one of {', '.join(choices)}")
        return value

    return Option(default, check)


def model(default: str | None = None) -> Option:
    """A registered model name (or None, meaning the experiment's student architecture)."""

    def check(value):
        if value is None and default is None:
            return None
        if not isinstance(value, str) or value not in models.names():
            raise ValueError(f"a model name ({', '.join(models.names())})")
        return value

    return Option(default, check)


def model_list(default: tuple[str, ...]) -> Option:
    """A non-empty list of registered model names (a single name is taken as a list of one)."""

    def check(value):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"a non-empty list of model names ({', '.join(models.names())})")
        for name in value:
            if not isinstance(name, str) or name not in models.names():
                raise ValueError(f"a non-empty list of model names ({', '.join(models.names())}); {name!r} is not one")
        return list(value)

    return Option(list(default), check)


def defaults(spec: dict[str, Option]) -> dict[str, Any]:
    return {name: option.default for name, option in spec.items()}


def resolve(method: str, spec: dict[str, Option], given: Any) -> dict[str, Any]:
    """The method's full options: `given` over the defaults, each value checked and normalised."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise UsageError(f"options of method {method!r} must be a mapping of option: value, got {given!r}")
    unknown = sorted(map(str, set(given) - set(spec)))
    if unknown:
        known = ", ".join(sorted(spec)) or "none"
        raise UsageError(f"method {method!r} has no option {', '.join(unknown)} (its options: {known})")
    out = {}
    for name, option in spec.items():
        value = given.get(name, option.default)
        try:
            out[name] = option.check(value)
        except ValueError as exc:
            raise UsageError(f"method {method!r}: option {name} must be {exc}, got {value!r}") from None
    return out
