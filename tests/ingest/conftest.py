"""Fixtures for the ingest tests: a migrated catalogue on each backend."""

from __future__ import annotations

import pytest

from lensdb.catalog.db import make_engine, upgrade


@pytest.fixture
def catalog_url(db_url):
    """A database (SQLite, then PostgreSQL) at the newest schema."""
    upgrade(db_url)
    return db_url


@pytest.fixture
def catalog_engine(catalog_url):
    engine = make_engine(catalog_url)
    yield engine
    engine.dispose()

