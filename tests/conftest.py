"""Shared fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kdsurvey.paths import ENV_VAR, data_dir


@pytest.fixture
def packaged_data(monkeypatch) -> Path:
    """The packaged data folder (KDSURVEY_DATA unset, so never a caller's override)."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    return data_dir()


@pytest.fixture
def data_copy(tmp_path, packaged_data) -> Path:
    """A private copy of the packaged data folder, tmp_path/"data", free to break."""
    return Path(shutil.copytree(packaged_data, tmp_path / "data"))


@pytest.fixture
def suite_data(data_copy) -> Path:
    """The data copy with only the default suite's records: the paper-protocol records (Hinton 2015's MNIST)
    removed, for tests that add synthetic records of those settings and work out what they expect by hand."""
    for path in (data_copy / "reproduced").glob("*--mnist--*.json"):
        path.unlink()
    return data_copy
