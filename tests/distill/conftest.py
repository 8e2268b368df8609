"""Shared pieces for the torch-side tests: tiny synthetic data and quick recipes."""

from __future__ import annotations

import pytest
import torch

FAKE = "fake:classes=4,channels=1,size=16,train=96,test=32"


@pytest.fixture(autouse=True)
def _two_threads():
    """Results are compared bit for bit within a test; fix the thread count they run on."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def fake_splits():
    from kdsurvey.distill import data

    return data.load(FAKE)


@pytest.fixture(scope="session")
def sample(fake_splits):
    from kdsurvey.distill import data

    return data.batches(fake_splits.train, fake_splits.info, 8, train=False).prepare(torch.arange(8))
