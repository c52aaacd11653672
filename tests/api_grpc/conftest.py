"""Fixtures of the API tests: a small survey written to the real engines, and a real server on port 0.

Two worlds, each built once per session: SQLite with a Milvus Lite file, and PostgreSQL with the real Milvus
server of the session (tests/conftest.py ``milvus_standalone``; Milvus reached over http, as in production). Every
test that takes ``world``, ``server`` or ``client`` runs against both. (``milvus-lite server``, the same protocol,
is covered by the vector-store tests; a third world would add half the API tests' time for no new path.) Tests
that need another server configuration (auth, TLS, dead backends) start their own server on the same world.
"""

from __future__ import annotations

import os
import uuid

import grpc
import pytest
import torch
from api_world import build_world, make_server

from lensdb.api_grpc.client import LensDBClient

PG_ADMIN_URL = os.environ.get("LENSDB_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The machine is shared: one torch thread per test (cutout queries embed on the CPU)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def pg_session_url():
    """A PostgreSQL database for the session (dropped at the end)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"lensdb_api_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - only when the server is missing
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc}); start it (see .ci/run)")
    yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="session", params=["sqlite+lite-file", "postgresql+milvus"])
def world(request, tmp_path_factory):
    """The test survey in one of the two engine combinations."""
    tmp = tmp_path_factory.mktemp(request.param.replace("+", "-"))
    torch.set_num_threads(1)
    if request.param == "sqlite+lite-file":
        return build_world(tmp, f"sqlite:///{tmp / 'lensdb.sqlite'}", str(tmp / "milvus.db"))
    return build_world(tmp, request.getfixturevalue("pg_session_url"), request.getfixturevalue("milvus_standalone"))



@pytest.fixture(scope="session")
def server(world):
    """A server over the world, plaintext, no token, metrics on a free port."""
    srv = make_server(world, metrics_on_free_port=True).start()
    yield srv
    srv.stop(grace=0)


@pytest.fixture
def client(server):
    with LensDBClient(f"127.0.0.1:{server.port}", timeout=60) as c:
        yield c


@pytest.fixture
def channel(server):
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch
