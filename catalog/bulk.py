"""Fast bulk insert of column arrays into one table, inside the caller's transaction.

Used by ingest (sources), labels and predictions. :func:`copy_columns` takes a dict of equal-length columns
(numpy arrays or lists); :func:`copy_batches` streams an iterable of such dicts, so that the caller reads the
next batch while the database stores the previous one. Both use the backend's fast path on the *same* DBAPI
connection as the caller's SQLAlchemy :class:`~sqlalchemy.engine.Connection`, so the rows commit or roll back
with the caller's transaction:

- PostgreSQL: one ``COPY ... FROM STDIN`` in the binary format, encoded with vectorised numpy (no per-value
  Python work) and streamed piece by piece, so the server parses one piece while the client prepares the next.
  Column types the binary encoder does not know (timestamps, JSON) switch the statement to the text format.
- SQLite: ``executemany`` on the raw ``sqlite3`` connection, which skips SQLAlchemy's per-row processing.

Missing values: NaN in a float column and ``None`` in a list become SQL NULL. Columns not given get the
table's server default (or NULL), except ``sources.sky_pixel``, computed here from ``ra`` and ``dec``
(:func:`lensdb.core.sky.sky_pixel`) when not given.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import psycopg2
import psycopg2.extensions
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from lensdb.core.sky import sky_pixel

#: Rows encoded (PostgreSQL) or bound (SQLite) at a time. Bounds the client's buffers (about 250 bytes a row
#: for sources) and keeps the COPY stream in pieces the server can work on while the client makes the next.
DEFAULT_BATCH_ROWS = 20_000

Columns = Mapping[str, np.ndarray | Sequence[Any]]
_Pieces = Iterator[dict[str, np.ndarray]]


def copy_columns(connection: Connection, table: str, columns: Columns, *,
                 batch_rows: int = DEFAULT_BATCH_ROWS) -> int:
    """Insert rows given column-wise into ``table`` with the backend's fast path; returns the number of rows.

    Args:
        connection: an SQLAlchemy connection, usually inside ``engine.begin()``; nothing is committed here.
        table: table name, without schema (it is quoted for the backend).
        columns: column name -> values, all of one length: numpy arrays of float, int, bool, bytes (``S``,
            UTF-8) or str (``U``), or lists of Python values (numbers, str, bytes, bool, datetime, None).
        batch_rows: rows encoded or bound at a time.

    Raises:
        ValueError: columns of different lengths, a column the table lacks, values that do not fit a type.
        sqlalchemy.exc.DBAPIError: e.g. IntegrityError for a constraint violation.
        After an error the caller's transaction must roll back (PostgreSQL has aborted it).
    """
    return copy_batches(connection, table, [columns], batch_rows=batch_rows)


def copy_batches(connection: Connection, table: str, batches: Iterable[Columns], *,
                 batch_rows: int = DEFAULT_BATCH_ROWS) -> int:
    """:func:`copy_columns` for a stream of column dicts with the same names, consumed lazily one at a time;
    on PostgreSQL they all go in one COPY statement. Returns the number of rows."""
    pieces = itertools.chain.from_iterable(_pieces(table, cols, batch_rows) for cols in batches)
    dialect = connection.dialect
    if dialect.name not in ("postgresql", "sqlite"):
        raise ValueError(f"bulk inserts support postgresql and sqlite, not {dialect.name}")
    try:
        if dialect.name == "postgresql":
            return _copy_postgres(connection, table, pieces)
        return _insert_sqlite(connection, table, pieces)
    except dialect.loaded_dbapi.Error as exc:
        # The raw DBAPI cursor bypasses SQLAlchemy's error translation: wrap the error as SQLAlchemy would
        # (IntegrityError for a constraint violation), so callers handle one family of exceptions.
        raise DBAPIError.instance(f"bulk insert into {table}", None, exc, dialect.loaded_dbapi.Error,
                                  dialect=dialect) from exc


def _pieces(table: str, columns: Columns, batch_rows: int) -> _Pieces:
    """Check one column dict and cut it into pieces of at most ``batch_rows`` rows."""
    if not columns:
        raise ValueError(f"bulk insert into {table!r} needs at least one column")
    cols = {name: _as_array(name, values) for name, values in columns.items()}
    if table == "sources" and "sky_pixel" not in cols and {"ra", "dec"} <= cols.keys():
        # The portable position index (revision 0006) is derived from ra and dec: every writer gets it right.
        cols["sky_pixel"] = sky_pixel(cols["ra"].astype(np.float64), cols["dec"].astype(np.float64))
    lengths = {name: len(a) for name, a in cols.items()}
    n = next(iter(lengths.values()))
    if any(v != n for v in lengths.values()):
        raise ValueError(f"columns for {table!r} differ in length: {lengths}")
    for start in range(0, n, max(1, batch_rows)):
        yield {name: a[start:start + batch_rows] for name, a in cols.items()}


def _as_array(name: str, values: np.ndarray | Sequence[Any]) -> np.ndarray:
    """A 1-d array. Lists of numbers or bools become typed arrays (float lists with None: NaN); lists of text,
    nullable ints or datetimes stay object arrays, typed per column when encoded."""
    if isinstance(values, np.ndarray):
        arr = values
    else:
        values = list(values)
        kinds = {_value_kind(v) for v in values if v is not None}
        if "f" in kinds and kinds <= {"f", "i"}:
            arr = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        elif kinds in ({"i"}, {"b"}) and None not in values:
            arr = np.array(values, dtype=np.int64 if kinds == {"i"} else bool)
        else:
            arr = np.empty(len(values), dtype=object)
            arr[:] = values
    if arr.ndim != 1:
        raise ValueError(f"column {name!r} must be 1-d, got shape {arr.shape}")
    if arr.dtype.kind not in "fiubSUO":
        raise ValueError(f"column {name!r}: dtype {arr.dtype} is not supported")
    return arr


def _value_kind(value: Any) -> str:
    """'b' bool, 'i' int, 'f' float, 's' text, 'o' anything else (datetimes, ...)."""
    if isinstance(value, bool | np.bool_):
        return "b"
    if isinstance(value, int | np.integer):
        return "i"
    if isinstance(value, float | np.floating):
        return "f"
    return "s" if isinstance(value, str | bytes) else "o"


def _kinds(arr: np.ndarray) -> set[str]:
    """The value kinds in ``arr`` (see :func:`_value_kind`), unsigned counted as int."""
    if arr.dtype.kind == "O":
        return {_value_kind(v) for v in arr.tolist() if v is not None}
    return {"s" if arr.dtype.kind in "SU" else "i" if arr.dtype.kind == "u" else arr.dtype.kind}


# --- PostgreSQL ---------------------------------------------------------------------------------------------

#: Types the binary encoder writes, with the numpy dtype of their big-endian wire format.
_PG_FIXED = {"float8": ">f8", "float4": ">f4", "int8": ">i8", "int4": ">i4", "int2": ">i2", "bool": "u1"}
_PG_TEXT = ("text", "varchar", "bpchar")
_PG_ACCEPTS = {"float8": {"f", "i"}, "float4": {"f", "i"}, "int8": {"i"}, "int4": {"i"}, "int2": {"i"},
               "bool": {"b"}, **{t: {"s"} for t in _PG_TEXT}}
#: Signature, then int32 flags and int32 header-extension length, both 0.
_PG_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_PG_TRAILER = b"\xff\xff"  # a field count of -1 ends the stream


def _copy_postgres(connection: Connection, table: str, pieces: _Pieces) -> int:
    first = next(pieces, None)
    if first is None:
        return 0
    names = list(first)
    types = _pg_column_types(connection, table)
    missing = [c for c in names if c not in types]
    if missing:
        raise ValueError(f"table {table!r} has no column(s) {missing}; it has {sorted(types)}")
    typnames = [types[c] for c in names]

    def binary_ok(piece) -> bool:
        pairs = zip(names, typnames, strict=True)
        return all(_kinds(piece[c]) <= _PG_ACCEPTS.get(t, set()) for c, t in pairs)

    binary = binary_ok(first)  # one format per statement, chosen from the first piece
    dbapi = connection.connection.dbapi_connection
    encoding = psycopg2.extensions.encodings.get(dbapi.encoding, "utf-8")
    rows = 0

    def payloads() -> Iterator[bytes]:
        nonlocal rows
        if binary:
            yield _PG_HEADER
        for piece in itertools.chain([first], pieces):
            if list(piece) != names:
                raise ValueError(f"every batch for {table!r} needs the columns {names}, got {list(piece)}")
            if binary and not binary_ok(piece):
                raise ValueError(f"a batch for {table!r} holds values of other types than the first one")
            arrays = [piece[c] for c in names]
            yield _pg_binary(arrays, typnames, encoding) if binary else _pg_text(arrays).encode(encoding)
            rows += len(arrays[0])
        if binary:
            yield _PG_TRAILER

    quote = connection.dialect.identifier_preparer.quote
    sql = (f"COPY {quote(table)} ({', '.join(quote(c) for c in names)}) "
           f"FROM STDIN WITH (FORMAT {'binary' if binary else 'text'})")
    stream = _Stream(payloads())
    with dbapi.cursor() as cursor:
        try:
            cursor.copy_expert(sql, stream, size=1 << 20)
        except psycopg2.Error:
            if stream.error is not None:  # psycopg2 reports it as a cancelled query: raise the real one
                raise stream.error from None
            raise
    return rows


def _pg_column_types(connection: Connection, table: str) -> dict[str, str]:
    """Column name -> type name (``float8``, ``int4``, ``varchar``, ...), the table found via search_path."""
    quoted = connection.dialect.identifier_preparer.quote(table)
    with connection.connection.dbapi_connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, t.typname FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped", (quoted,))
        return dict(cursor.fetchall())


def _binary_field(arr: np.ndarray, typname: str, encoding: str):
    """One column as (bytes (n, w) uint8, byte length per row or None when always w, NULL mask or None)."""
    n = len(arr)
    null = None
    if arr.dtype.kind == "O":  # Python values with None: a NULL mask, then a typed array with placeholders
        values = arr.tolist()
        null = np.array([v is None for v in values], dtype=bool)
        if typname in _PG_TEXT:
            arr = np.array([v if isinstance(v, bytes) else (v or "").encode(encoding) for v in values],
                           dtype=bytes)
        else:
            arr = np.array([(False if typname == "bool" else 0) if v is None else v for v in values])
    if typname in _PG_FIXED:
        wire = np.dtype(_PG_FIXED[typname])
        if arr.dtype.kind == "f":
            null = np.isnan(arr) if null is None else null | np.isnan(arr)
        if wire.kind == "i" and (int(arr.min()) < np.iinfo(wire).min or int(arr.max()) > np.iinfo(wire).max):
            raise ValueError(f"values in [{arr.min()}, {arr.max()}] do not fit PostgreSQL {typname}")
        data = np.ascontiguousarray(arr.astype(wire)).view(np.uint8).reshape(n, wire.itemsize)
        return data, None, null if null is not None and null.any() else None
    if arr.dtype.kind == "U":
        try:  # ASCII, the usual case (surveys, morphologies), converts in C
            arr = arr.astype("S") if encoding in ("utf_8", "ascii") else np.char.encode(arr, encoding)
        except UnicodeEncodeError:
            arr = np.char.encode(arr, encoding)
    data = np.ascontiguousarray(arr).view(np.uint8).reshape(n, arr.dtype.itemsize)
    # numpy pads bytes values with NULs: a value ends after its last non-NUL byte.
    nonzero = data != 0
    length = np.where(nonzero.any(axis=1), data.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 0)
    return data, length.astype(np.int32), null if null is not None and null.any() else None


def _pg_binary(arrays: list[np.ndarray], typnames: list[str], encoding: str) -> bytes:
    """Rows in PostgreSQL's binary COPY format (no stream header or trailer), built with numpy.

    A row is an int16 field count, then per field an int32 byte length (-1: NULL) and the value's bytes, all
    big-endian. Fields go at fixed offsets in an (n, widest row) byte matrix; a mask of the bytes in use
    (shorter text, NULLs) then compresses it, row-major, into the variable-length rows.
    """
    n = len(arrays[0])
    fields = [_binary_field(a, t, encoding) for a, t in zip(arrays, typnames, strict=True)]
    width = 2 + sum(4 + data.shape[1] for data, _, _ in fields)
    rows = np.empty((n, width), np.uint8)
    keep = None
    rows[:, :2] = np.frombuffer(len(fields).to_bytes(2, "big"), np.uint8)
    offset = 2
    for data, length, null in fields:
        w = data.shape[1]
        if length is None and null is None:
            rows[:, offset:offset + 4] = np.frombuffer(w.to_bytes(4, "big"), np.uint8)
        else:
            length = np.full(n, w, np.int32) if length is None else length
            if null is not None:
                length = np.where(null, -1, length).astype(np.int32)
            rows[:, offset:offset + 4] = length.astype(">i4").view(np.uint8).reshape(n, 4)
            if keep is None:
                keep = np.ones((n, width), bool)
            keep[:, offset + 4:offset + 4 + w] = np.arange(w) < np.maximum(length, 0)[:, None]
        rows[:, offset + 4:offset + 4 + w] = data
        offset += 4 + w
    return (rows.reshape(-1) if keep is None else rows[keep]).tobytes()


class _Stream:
    """The file ``copy_expert`` reads: pulls encoded pieces from an iterator as the server asks for data.

    An exception raised while making a piece aborts the COPY (and the transaction) and is kept in ``error``.
    """

    def __init__(self, pieces: Iterator[bytes]):
        self._pieces = pieces
        self._view = memoryview(b"")
        self._pos = 0
        self.error: BaseException | None = None

    def read(self, size: int = -1) -> bytes:
        while self._pos >= len(self._view):
            try:
                piece = next(self._pieces, None)
            except BaseException as exc:
                self.error = exc
                raise
            if piece is None:
                return b""
            self._view, self._pos = memoryview(piece), 0
        end = len(self._view) if size is None or size < 0 else self._pos + size
        chunk = self._view[self._pos:end]
        self._pos += len(chunk)
        return bytes(chunk)

    readline = read  # part of the file protocol; COPY reads blocks, never lines


_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _pg_text_value(value: Any) -> str:
    """One value in COPY text format; ``\\N`` is NULL."""
    if value is None or (isinstance(value, float) and value != value):
        return "\\N"
    if isinstance(value, bool | np.bool_):
        return "t" if value else "f"
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, float):
        return repr(value)  # shortest text that reads back to the same double
    return str(value).translate(_TEXT_ESCAPES)


def _pg_text(arrays: list[np.ndarray]) -> str:
    """Rows in COPY text format: the slow path, for column types the binary encoder does not handle."""
    lists = [[_pg_text_value(v) for v in a.tolist()] for a in arrays]
    return "".join("\t".join(row) + "\n" for row in zip(*lists, strict=True))


# --- SQLite -------------------------------------------------------------------------------------------------

def _insert_sqlite(connection: Connection, table: str, pieces: _Pieces) -> int:
    quote = connection.dialect.identifier_preparer.quote
    cursor = connection.connection.dbapi_connection.cursor()
    rows = 0
    try:
        for piece in pieces:
            sql = (f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in piece)}) "
                   f"VALUES ({', '.join('?' for _ in piece)})")
            cursor.executemany(sql, zip(*(_sqlite_values(a) for a in piece.values()), strict=True))
            rows += len(next(iter(piece.values())))
    finally:
        cursor.close()
    return rows


def _sqlite_values(arr: np.ndarray) -> list[Any]:
    """Values sqlite3 binds natively: NaN -> None, bytes -> str, datetimes as SQLAlchemy stores them."""
    kind = arr.dtype.kind
    if kind == "f":
        values = arr.tolist()
        for i in np.flatnonzero(np.isnan(arr)).tolist():
            values[i] = None
        return values
    if kind == "S":
        try:  # ASCII converts in C
            return arr.astype("U").tolist()
        except UnicodeDecodeError:
            return np.char.decode(arr, "utf-8").tolist()
    if kind != "O":
        return arr.tolist()
    return [_sqlite_object(v) for v in arr.tolist()]


def _sqlite_object(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, dt.datetime):
        # SQLAlchemy's DateTime keeps naive UTC text in SQLite; write the same so ORM reads agree.
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
