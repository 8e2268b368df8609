"""Where the embedded data lives: inside the wheel (kdsurvey/data) or in a source checkout (data/)."""

from __future__ import annotations

import os
from pathlib import Path

from kdsurvey.errors import DataNotFoundError

ENV_VAR = "KDSURVEY_DATA"


def data_dir() -> Path:
    """The data folder: $KDSURVEY_DATA if set, else the packaged copy, else the checkout's data/."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = Path(override)
        if not path.is_dir():
            raise DataNotFoundError(f"{ENV_VAR}={override} is not a folder")
        return path
    here = Path(__file__).resolve().parent
    for candidate in (here / "data", here.parent / "data"):
        if (candidate / "survey").is_dir():
            return candidate
    raise DataNotFoundError(
        f"kdsurvey's data folder was not found next to {here}; reinstall the package or set {ENV_VAR}"
    )
