"""Experiment configs: a YAML file (reproductions/configs/*.yaml) and command-line overrides -> Experiment.

A config holds the fields of `runner.Experiment`; `recipe` and `teacher_recipe` hold fields of
`Recipe`, and the shorthand `epochs` sets the student recipe's length. Unknown keys are errors, so a
typo never silently falls back to a default. Numbers written like `1e-3` (which YAML 1.1 reads as
text) are accepted.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from kdsurvey.distill.recipe import Recipe
from kdsurvey.distill.runner import Experiment
from kdsurvey.errors import DataNotFoundError, UsageError

_RECIPE_FLOATS = {"lr", "momentum", "weight_decay", "gamma"}


def load(path: str | Path) -> dict:
    """Read one YAML config into a dict; a missing or malformed file names itself."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"config file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise UsageError(f"config file {path} is not valid YAML: {exc}") from exc
    if not isinstance(values, dict):
        raise UsageError(f"config file {path} must hold a mapping of settings")
    return values


def _recipe(values, where: str, base: Recipe | None = None, **overrides) -> Recipe:
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise UsageError(f"{where} must be a mapping of recipe fields")
    values = {k: _number(v) if k in _RECIPE_FLOATS else v for k, v in values.items()}
    if "milestones" in values and isinstance(values["milestones"], list):
        values["milestones"] = tuple(_number(v) for v in values["milestones"])
    start = base.as_dict() if base is not None else {}
    try:
        return Recipe.from_dict({**start, **values}, **overrides)
    except TypeError as exc:
        raise UsageError(f"{where}: {exc}") from exc


def _number(value):
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def experiment(values: dict, **overrides) -> Experiment:
    """An Experiment from config values, with non-None `overrides` (command-line flags) on top.

    Override keys: the Experiment's fields, plus epochs, batch_size and lr for the student recipe.
    """
    values = dict(values)
    known = {f.name for f in fields(Experiment)} | {"epochs"}
    unknown = sorted(set(values) - known)
    if unknown:
        raise UsageError(f"unknown config key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    recipe_overrides = {k: overrides.pop(k, None) for k in ("epochs", "batch_size", "lr")}
    if values.get("epochs") is not None and recipe_overrides["epochs"] is None:
        recipe_overrides["epochs"] = values["epochs"]
    values.pop("epochs", None)
    default = Experiment.__dataclass_fields__["recipe"].default_factory()
    recipe = _recipe(values.pop("recipe", None), "recipe", default, **recipe_overrides)
    teacher_recipe = values.pop("teacher_recipe", None)
    if teacher_recipe is not None:
        teacher_recipe = _recipe(teacher_recipe, "teacher_recipe", recipe)
    merged = {**values, **{k: v for k, v in overrides.items() if v is not None}}
    if "method" not in merged:
        raise UsageError("no method given: name one (kdsurvey reproduce METHOD) or set 'method' in the config")
    options = merged.pop("options", None) or {}
    if not isinstance(options, dict):
        raise UsageError("options must be a mapping of method options")
    return Experiment(recipe=recipe, teacher_recipe=teacher_recipe, options=options, **merged)
