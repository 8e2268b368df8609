"""Re-execute the project's notebooks and store their outputs: the references nbval compares against.

nbval checks each cell's fresh output against the output stored in the .ipynb, so when data or code
change on purpose the stored outputs must be regenerated. `refresh` runs every notebook top to bottom
in a fresh kernel (nbclient, the notebook's folder as working directory, progress bars off) and writes
the notebooks back only when all of them ran: a failing notebook leaves every file as it was.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from kdsurvey.atomic import write_atomic
from kdsurvey.errors import KdSurveyError, UsageError

INSTALL_HINT = "pip install 'kdsurvey[notebooks]'"


class NotebookError(KdSurveyError):
    """A notebook that failed to execute (the message names the notebook and the cell)."""


def find(folder: str | Path) -> list[Path]:
    """The notebooks of `folder` in name order (checkpoints skipped); an error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no notebooks folder at {folder}; run from a kdsurvey checkout or pass --dir")
    found = sorted(p for p in folder.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not found:
        raise UsageError(f"no .ipynb files in {folder}")
    return found


def _require():
    try:
        import nbclient
        import nbformat
    except ImportError as exc:
        raise UsageError(f"refreshing notebooks needs nbclient and ipykernel: {INSTALL_HINT}") from exc
    return nbclient, nbformat


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@contextmanager
def _quiet_env():
    """What the stored outputs must not contain: progress bars (tqdm) and colour codes."""
    saved = {k: os.environ.get(k) for k in ("TQDM_DISABLE", "NO_COLOR")}
    os.environ.update(TQDM_DISABLE="1", NO_COLOR="1")
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def execute(path: Path, timeout: int = 600):
    """Run one notebook in a fresh kernel; returns the executed notebook (not yet written)."""
    nbclient, nbformat = _require()
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        with _quiet_env():
            client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        first = _ANSI.sub("", str(exc)).strip().splitlines()  # IPython colours its tracebacks
        raise NotebookError(f"{path.name} failed: {first[-1] if first else exc}") from exc
    except nbclient.exceptions.CellTimeoutError as exc:
        raise NotebookError(f"{path.name}: a cell ran past {timeout} s") from exc
    return notebook


def refresh(folder: str | Path, timeout: int = 600, log: Callable[[str], None] | None = None) -> list[Path]:
    """Execute every notebook of `folder`; write them all back only when every one succeeded."""
    _, nbformat = _require()
    paths = find(folder)
    executed = []
    for path in paths:
        if log is not None:
            log(f"executing {path}")
        executed.append(execute(path, timeout))
    for path, notebook in zip(paths, executed):
        write_atomic(path, lambda tmp, notebook=notebook: nbformat.write(notebook, tmp))
    return paths
