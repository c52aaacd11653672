"""Fixtures of the vector-store tests: a Milvus Lite file per test, one Milvus Lite server per session, and the real
Milvus standalone server of the session (tests/conftest.py).

No mocks: every store test runs against the real engines, through a Lite file (in-process server), through
``milvus-lite server`` reached over http on a free loopback port, and through the real Milvus server (segcore,
knowhere, the coordinators), which is what a survey team runs.
"""

from __future__ import annotations

import uuid

import pytest
from lite_server import start_lite_server, stop_process
from vdb_helpers import BACKENDS, DIM, backend_uri, make_columns

from lensdb.core.config import load_settings
from lensdb.vectordb.config import VectorDBConfig


@pytest.fixture(scope="session")
def lite_server(tmp_path_factory):
    """URI of a ``milvus-lite server`` subprocess shared by the session's tests."""
    proc, uri = start_lite_server(tmp_path_factory.mktemp("milvus-server"))
    yield uri
    stop_process(proc)


@pytest.fixture(params=BACKENDS)
def settings(request, tmp_path):
    """Settings pointing at a Lite file in tmp_path, at the session's Lite server, or at the real Milvus server."""
    uri = backend_uri(request.param, tmp_path, request)
    return load_settings(env={}, data_dir=str(tmp_path / "data"), milvus_uri=uri)


@pytest.fixture
def file_settings(tmp_path):
    """Settings with a Lite file only (for tests about files and restarts)."""
    return load_settings(env={}, data_dir=str(tmp_path / "data"), milvus_uri=str(tmp_path / "milvus.db"))


@pytest.fixture
def version():
    """A fresh encoder version per test, so tests never share a collection on the session server."""
    return f"test-enc-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def config():
    """Small-dimension config; FLAT so that results can be compared exactly with brute force."""
    return VectorDBConfig(dim=DIM, index_type="FLAT")


@pytest.fixture
def columns():
    return make_columns
