"""catalog.bulk on SQLite and PostgreSQL: values round-trip exactly, NULLs, text escapes, streaming, the caller's
transaction, and errors that name the problem."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from lensdb.catalog.bulk import copy_batches, copy_columns
from lensdb.catalog.db import make_engine

metadata = MetaData()
THINGS = Table(
    "bulk_things", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("score", Double),
    Column("small", Integer),
    Column("flag", Boolean),
    Column("name", String(16)),
    Column("note", Text),
)
STAMPED = Table(
    "bulk_stamped", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True)),
    Column("note", Text),
)


@pytest.fixture
def engine(db_url):
    engine = make_engine(db_url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def _all(engine, table):
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(table).order_by(table.c.id))]


def test_numpy_columns_round_trip_exactly(engine):
    rng = np.random.default_rng(1)
    n = 2500
    score = rng.normal(size=n) * 10.0 ** rng.integers(-300, 300, n)
    score[::7] = np.nan  # NULL
    cols = {
        "id": np.arange(n, dtype=np.int64) * (1 << 40),  # needs 64 bits
        "score": score,
        "small": rng.integers(-(2 ** 31), 2 ** 31 - 1, n, dtype=np.int64),
        "flag": rng.random(n) < 0.5,
        "name": np.array(["south", "north", "", "a b"])[rng.integers(0, 4, n)].astype("S"),
        "note": np.array(["x", "tab\there", "new\nline", "back\\slash", "ünïcode ✓"])[rng.integers(0, 5, n)],
    }
    with engine.begin() as conn:
        assert copy_columns(conn, "bulk_things", cols, batch_rows=1000) == n
    rows = _all(engine, THINGS)
    assert len(rows) == n
    for i, row in enumerate(rows):
        assert row[0] == cols["id"][i]
        assert (row[1] is None) if np.isnan(score[i]) else row[1] == score[i]
        assert row[2] == cols["small"][i] and row[3] == bool(cols["flag"][i])
        assert row[4] == cols["name"][i].decode() and row[5] == cols["note"][i]


def test_python_lists_with_none(engine):
    with engine.begin() as conn:
        copy_columns(conn, "bulk_things", {"id": [1, 2, 3], "score": [0.5, None, 2], "small": [None, 7, None],
                                           "flag": [True, None, False], "name": ["a", None, "c"],
                                           "note": [b"bytes", "str", None]})
    assert _all(engine, THINGS) == [(1, 0.5, None, True, "a", "bytes"), (2, None, 7, None, None, "str"),
                                    (3, 2.0, None, False, "c", None)]


def test_columns_left_out_are_null(engine):
    with engine.begin() as conn:
        copy_columns(conn, "bulk_things", {"id": np.array([5]), "note": np.array(["only"])})
    assert _all(engine, THINGS) == [(5, None, None, None, None, "only")]


def test_datetimes_go_through_the_text_path(engine):
    when = dt.datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=dt.UTC)
    with engine.begin() as conn:
        copy_columns(conn, "bulk_stamped", {"id": [1, 2], "at": [when, None], "note": ["t\tab", None]})
    # Both backends give back what an ORM insert of the same values would.
    with engine.begin() as conn:
        conn.execute(insert(STAMPED), [{"id": 3, "at": when, "note": "t\tab"}])
    rows = _all(engine, STAMPED)
    assert rows[0][1:] == rows[2][1:] and rows[1][1:] == (None, None)


def test_batches_stream_into_one_transaction(engine):
    def batches():
        for k in range(5):
            yield {"id": np.arange(k * 100, k * 100 + 100), "score": np.full(100, float(k))}

    with engine.begin() as conn:
        assert copy_batches(conn, "bulk_things", batches(), batch_rows=30) == 500
        assert copy_batches(conn, "bulk_things", []) == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count(), func.sum(THINGS.c.score))).one() == (500, 1000.0)


def test_rows_follow_the_callers_transaction(engine):
    with engine.begin() as conn:
        copy_columns(conn, "bulk_things", {"id": np.arange(3)})
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            copy_columns(conn, "bulk_things", {"id": np.arange(10, 20)})
            copy_columns(conn, "bulk_things", {"id": np.array([2])})  # duplicate key: the whole block rolls back
    with pytest.raises(RuntimeError):
        with engine.begin() as conn:
            copy_columns(conn, "bulk_things", {"id": np.arange(30, 40)})
            raise RuntimeError("caller fails after the copy")
    assert [r[0] for r in _all(engine, THINGS)] == [0, 1, 2]


def test_error_from_a_batch_generator_aborts_the_copy(engine):
    def batches():
        yield {"id": np.arange(10)}
        raise ValueError("bad batch")

    with pytest.raises(ValueError, match="bad batch"):
        with engine.begin() as conn:
            copy_batches(conn, "bulk_things", batches())
    assert _all(engine, THINGS) == []


def test_bad_input_names_the_problem(engine):
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="differ in length"):
            copy_columns(conn, "bulk_things", {"id": np.arange(3), "score": np.zeros(2)})
        with pytest.raises(ValueError, match="1-d"):
            copy_columns(conn, "bulk_things", {"id": np.zeros((2, 2))})
        with pytest.raises(ValueError, match="at least one column"):
            copy_columns(conn, "bulk_things", {})
    assert _all(engine, THINGS) == []


def test_postgres_rejects_unknown_columns_and_values_out_of_range(pg_url):
    engine = make_engine(pg_url)
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            with pytest.raises(ValueError, match="no column"):
                copy_columns(conn, "bulk_things", {"id": np.arange(2), "nope": np.arange(2)})
            with pytest.raises(ValueError, match="do not fit PostgreSQL int4"):
                copy_columns(conn, "bulk_things", {"id": np.arange(2), "small": np.array([1, 2 ** 40])})
    finally:
        engine.dispose()
