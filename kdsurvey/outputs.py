"""Write an output folder all at once: build it beside the target, then swap it in.

A failure half-way leaves the target as it was. A folder is only replaced when it is empty or
was written by kdsurvey (it holds the marker file), so a mistyped --out cannot wipe user files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

from kdsurvey.errors import OutputError

MARKER = ".kdsurvey-output"


def check_target(target: str | Path) -> Path:
    """Refuse a target that is a file, or a non-empty folder kdsurvey did not write."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} exists and is not a folder")
    here = Path.cwd().resolve()
    if target.resolve() == here or target.resolve() in here.parents:
        raise OutputError(f"output folder {target} is the current folder or holds it, and is replaced as a whole; "
                          "run from another folder or name another --out")  # fmt: skip
    if target.is_dir() and any(target.iterdir()) and not (target / MARKER).exists():
        raise OutputError(f"{target} is not empty and was not written by kdsurvey; choose another folder or empty it")
    return target


def writable_folder(folder: str | Path, what: str = "output folder") -> Path:
    """A folder that can be created or written into (runs add files to it; nothing is replaced)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {folder} exists and is not a folder")
    existing = folder.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {folder} cannot be written ({existing} is not a writable folder)")
    return folder


@contextmanager
def staged_folder(target: str | Path):
    """Yield a fresh staging folder; on success it replaces `target`, on error it is removed."""
    target = check_target(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))
    except OSError as exc:
        raise OutputError(f"cannot create {target}: {exc.strerror or exc}") from exc
    try:
        yield staging
        (staging / MARKER).write_text("written by kdsurvey; the folder is replaced as a whole on the next run\n")
        if target.exists():
            old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            target.rename(old)
            try:
                staging.rename(target)
            except BaseException:
                old.rename(target)  # put the previous output back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
