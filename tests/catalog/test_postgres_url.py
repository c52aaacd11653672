"""Plain ``postgresql://`` URLs (the form every PostgreSQL guide writes) use psycopg2 and its COPY path; a driver that
is not installed is one clear error, never a traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from lensdb.catalog import bulk
from lensdb.catalog.db import current_revision, make_engine
from lensdb.catalog.models import Source
from lensdb.cli import main
from lensdb.core.errors import InvalidInput

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
from ingest_shards import write_test_shard  # noqa: E402


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_plain_postgresql_url_ingests_through_copy(pg_url, tmp_path, monkeypatch, capsys):
    plain = _plain(pg_url)
    assert plain.startswith("postgresql://")
    engine = make_engine(plain)
    try:
        assert engine.dialect.driver == "psycopg2"
    finally:
        engine.dispose()
    copies = []
    real = bulk._copy_postgres

    def counting(connection, table, pieces):  # the real COPY, counted
        copies.append(table)
        return real(connection, table, pieces)

    monkeypatch.setattr(bulk, "_copy_postgres", counting)
    assert main(["--database-url", plain, "db", "upgrade"]) == 0
    assert current_revision(plain) is not None
    write_test_shard(tmp_path / "s.h5", 30)
    assert main(["--database-url", plain, "ingest", str(tmp_path / "s.h5"), "--no-progress"]) == 0
    assert "30 rows" in capsys.readouterr().out
    assert copies == ["sources"]
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(Source)).scalar() == 30
    finally:
        engine.dispose()


@pytest.mark.parametrize("driver", ["postgresql+psycopg", "postgresql+asyncpg", "postgresql+pg8000"])
def test_a_driver_not_installed_is_a_clear_error(driver, capsys):
    url = f"{driver}://user@127.0.0.1:5432/db"
    with pytest.raises(InvalidInput, match="is not installed"):
        make_engine(url)
    for cmd in (["db", "current"], ["db", "upgrade"], ["labels", "list"]):
        assert main(["--database-url", url, *cmd]) == 2
        err = capsys.readouterr().err
        assert "is not installed" in err and "postgresql://" in err and "Traceback" not in err
        assert err.count("\n") == 1
