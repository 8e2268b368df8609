"""constraints.txt pins the versions the notebooks' stored outputs were made with, and CI installs with it.

A new pandas, matplotlib or nbval release can change a stored output; with every package that shapes
an output pinned, an unchanged checkout keeps passing. README says how to test against the newest
releases instead (the same command without `-c constraints.txt`).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: Packages whose versions show in the notebooks' outputs (tables, figures' reprs, nbval's comparison, runs).
SHAPE_OUTPUTS = ("pandas", "matplotlib", "numpy", "tabulate", "nbval", "torch")


def pins() -> dict[str, str]:
    """{canonical name: version} of constraints.txt; every line is a comment or NAME==VERSION."""
    out = {}
    for number, line in enumerate((ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", line)
        assert match, f"constraints.txt line {number} is not NAME==VERSION: {line!r}"
        name = canonicalize_name(match[1])
        assert name not in out, f"constraints.txt pins {name} twice"
        out[name] = match[2]
    return out


def extra_requirements(extra: str = "test") -> list[Requirement]:
    """The test extra's requirements, the package's own extras it names expanded (kdsurvey[torch,...])."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    found, todo = [], [Requirement(r) for r in extras[extra]]
    while todo:
        requirement = todo.pop()
        if canonicalize_name(requirement.name) == "kdsurvey":
            todo += [Requirement(r) for name in requirement.extras for r in extras[name]]
        else:
            found.append(requirement)
    return found


def install_requirements() -> list[Requirement]:
    return [Requirement(r) for r in PYPROJECT["project"]["dependencies"]] + extra_requirements()


def test_packages_that_shape_notebook_outputs_are_pinned_exactly():
    pinned = pins()
    for name in SHAPE_OUTPUTS:
        assert name in pinned, f"constraints.txt does not pin {name}"


def test_every_requirement_of_the_test_install_is_pinned_inside_its_range():
    """`pip install -c constraints.txt '.[test]'` resolves every direct requirement to its pin."""
    pinned = pins()
    for requirement in install_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"constraints.txt does not pin {requirement.name} (a requirement of '.[test]')"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside pyproject's {requirement}"
        )


def test_kdsurvey_itself_is_not_pinned():
    assert "kdsurvey" not in pins()


def test_ci_runs_the_readme_test_command_with_the_constraints():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = re.search(r"```sh\n(.*?)```", readme, re.S)[1].splitlines()
    test_command = commands[1]
    assert "-c constraints.txt" in test_command and test_command.endswith(".venv/bin/pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
    newest = test_command.replace(" -c constraints.txt", "")
    assert newest in readme, "README gives the same command without the constraints (newest releases)"
