"""Fixtures of the classifier tests: a migrated database per backend, one torch thread (the machine is shared)."""

from __future__ import annotations

import pytest
import torch

from lensdb.catalog.db import make_engine, upgrade


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def engine(db_url):
    """An engine on a freshly migrated SQLite file or PostgreSQL database (both, via ``db_url``)."""
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(sqlite_url):
    """SQLite only: for tests about the algorithms, where the backend does not matter."""
    upgrade(sqlite_url)
    eng = make_engine(sqlite_url)
    yield eng
    eng.dispose()
