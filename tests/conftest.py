"""Shared fixtures: real engines only (SQLite files, a fresh PostgreSQL database per test, Milvus Lite, and the real
Milvus standalone server, started once per session on free loopback ports when a test first asks for it).

PostgreSQL is expected on 127.0.0.1:5432 (user postgres, trust auth; ``.ci/run`` starts it). When it is not reachable
the PostgreSQL-backed tests fail with a message saying so: they are never skipped silently.
"""

from __future__ import annotations

import os
import uuid

import pytest

PG_ADMIN_URL = os.environ.get("LENSDB_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


def _pg_admin_engine():
    from sqlalchemy import create_engine

    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@pytest.fixture(scope="session")
def milvus_standalone(tmp_path_factory):
    """The real Milvus server (PyPI ``milvus``, see tests/milvus_server.py), shared by the session: its URI.

    Tests that share it must use their own collection names (the fixtures give each test its own encoder version).
    Tests that kill a server start their own :class:`milvus_server.MilvusServer`.
    """
    from milvus_server import MilvusServer

    server = MilvusServer(tmp_path_factory.mktemp("milvus-standalone") / "data")
    try:
        server.start()
    except (RuntimeError, FileNotFoundError) as exc:
        pytest.fail(f"the real Milvus server did not start: {exc}")
    yield server.uri
    server.remove()


@pytest.fixture
def pg_url():
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    admin = _pg_admin_engine()
    name = f"lensdb_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - only when the server is missing
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); start it (see .ci/run)")
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    # Engines created by a test must be disposed by it; stragglers are terminated below.
    with admin.connect() as conn:
        conn.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
        ), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    """URL of a new SQLite file in the test's temporary folder."""
    return f"sqlite:///{tmp_path / 'lensdb.sqlite'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """Each test that takes ``db_url`` runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("pg_url")


@pytest.fixture(scope="session")
def pg_without_q3c():
    """A private PostgreSQL cluster (same server version) that offers no q3c extension, as a stock or managed
    PostgreSQL: tests/pg_cluster.py, started once per session on a free loopback port."""
    from pg_cluster import PrivatePostgres

    try:
        pg = PrivatePostgres(without=("q3c",)).start()
    except (RuntimeError, FileNotFoundError) as exc:
        pytest.fail(f"the private PostgreSQL without q3c did not start: {exc}")
    yield pg
    pg.remove()


@pytest.fixture
def pg_noq3c_url(pg_without_q3c):
    """URL of a new, empty database on the PostgreSQL without q3c."""
    return pg_without_q3c.create_database(f"lensdb_test_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["sqlite", "postgresql", "postgresql-no-q3c"])
def any_db_url(request):
    """Each test that takes ``any_db_url`` runs on SQLite, on PostgreSQL with q3c and on PostgreSQL without it."""
    return request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "pg_url",
                                    "postgresql-no-q3c": "pg_noq3c_url"}[request.param])
