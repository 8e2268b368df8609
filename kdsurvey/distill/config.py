"""Experiment configs: a YAML file (reproductions/*.yaml) and command-line overrides -> Experiment.

A config holds the fields of `experiment.Experiment`; `recipe` and `teacher_recipe` hold fields of
`Recipe`, and the shorthand `epochs` sets the student recipe's length. Unknown keys, duplicate keys and
values of the wrong type are errors naming the file and the key, so a typo never silently falls back to
a default. Numbers written like `1e-3` (which YAML 1.1 reads as text) are accepted where numbers go.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

from kdsurvey.distill.experiment import DEFAULT_RECIPE, Experiment
from kdsurvey.distill.recipe import Recipe
from kdsurvey.errors import DataNotFoundError, KdSurveyError, UsageError

EXPERIMENT_KEYS = ({f.name for f in fields(Experiment)} | {"epochs"}) - {"tuning"}  # tuning: set by a sweep
_RECIPE_FLOATS = {"lr", "momentum", "weight_decay", "gamma"}
_MOVED = {"assistant": "takd", "extra_teachers": "multi_teacher"}  # once experiment keys, now method options


def _loader():
    """yaml's SafeLoader, but a key given twice in one mapping is an error instead of 'the last one wins'."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (line {key_node.start_mark.line + 1})", key_node.start_mark
                )
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return StrictLoader


def load(path: str | Path) -> dict:
    """Read one YAML config into a dict; a missing, unreadable or malformed file names itself."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"config file {path} does not exist")
    try:
        values = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader())  # noqa: S506  a SafeLoader subclass
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problem = " ".join(str(exc).split())
        raise UsageError(f"config file {path} is not valid YAML: {problem}") from None
    if not isinstance(values, dict):
        raise UsageError(f"config file {path} must hold a mapping of settings, got {type(values).__name__}")
    bad = [k for k in values if not isinstance(k, str)]
    if bad:
        raise UsageError(f"config file {path}: keys must be names, got {bad[0]!r}")
    return values


def _number(value):
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def recipe(values: Any, where: str, base: Recipe | None = None, **overrides) -> Recipe:
    """A Recipe from a mapping of its fields over `base`; every field checked by Recipe itself."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise UsageError(f"{where} must be a mapping of recipe fields, got {values!r}")
    values = {k: _number(v) if k in _RECIPE_FLOATS else v for k, v in values.items()}
    milestones = values.get("milestones")
    if milestones is not None:
        if not isinstance(milestones, list) or not all(isinstance(_number(m), (int, float)) for m in milestones):
            raise UsageError(f"{where}: milestones must be a list of fractions of the run, got {milestones!r}")
        values["milestones"] = tuple(_number(m) for m in milestones)
    for key in ("schedule",):
        if key in values and not isinstance(values[key], str):
            raise UsageError(f"{where}: {key} must be text, got {values[key]!r}")
    start = base.as_dict() if base is not None else {}
    try:
        return Recipe.from_dict({**start, **values}, **overrides)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None


def experiment(values: dict, where: str = "config", **overrides) -> Experiment:
    """An Experiment from config values, with non-None `overrides` (command-line flags) on top.

    Override keys: the Experiment's fields, plus epochs, batch_size and lr for the student recipe.
    Every error names `where` (the file, or the sweep entry) and the key.
    """
    values = dict(values)
    unknown = sorted(set(values) - EXPERIMENT_KEYS)
    if unknown:
        moved = [f"{k} is now an option of {_MOVED[k]} (options: {{{k}: ...}})" for k in unknown if k in _MOVED]
        hint = f"; {'; '.join(moved)}" if moved else f" (known: {', '.join(sorted(EXPERIMENT_KEYS))})"
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}{hint}")
    try:
        return _experiment(values, overrides)
    except KdSurveyError as exc:
        raise type(exc)(f"{where}: {exc}") from None


def _experiment(values: dict, overrides: dict) -> Experiment:
    recipe_overrides = {k: overrides.pop(k, None) for k in ("epochs", "batch_size", "lr")}
    if values.get("epochs") is not None and recipe_overrides["epochs"] is None:
        recipe_overrides["epochs"] = values["epochs"]
    values.pop("epochs", None)
    student_recipe = recipe(values.pop("recipe", None), "recipe", DEFAULT_RECIPE, **recipe_overrides)
    teacher_recipe = values.pop("teacher_recipe", None)
    if teacher_recipe is not None:
        teacher_recipe = recipe(teacher_recipe, "teacher_recipe", student_recipe)
    merged = {**values, **{k: v for k, v in overrides.items() if v is not None}}
    if "method" not in merged:
        raise UsageError("no method given: name one (kdsurvey reproduce METHOD) or set 'method' in the config")
    options = merged.pop("options", None)
    if options is not None and not isinstance(options, dict):
        raise UsageError(f"options must be a mapping of method options, got {options!r}")
    return Experiment(recipe=student_recipe, teacher_recipe=teacher_recipe, options=options or {}, **merged)
