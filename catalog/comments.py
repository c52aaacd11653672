"""COMMENT ON the tables and columns of the catalogue, from the models (:data:`lensdb.catalog.models.COMMENTS`).

PostgreSQL stores comments (``\\d+ sources`` in psql shows them, and so do SQL clients); SQLite has none, so this does
nothing there. Migrations call :func:`apply_comments` after changing tables: it comments what exists at that
revision, so a later revision that adds a column comments it by calling it again.
"""

from __future__ import annotations

from sqlalchemy import inspect


def _quote(text: str) -> str:
    """A SQL string literal (``%`` doubled: the driver formats the statement as it would one with parameters)."""
    return "'" + text.replace("'", "''").replace("%", "%%") + "'"


def apply_comments(conn) -> int:
    """Write every table and column comment of the models that exist in the database; returns how many."""
    from lensdb.catalog.models import COMMENTS

    if conn.dialect.name != "postgresql":
        return 0
    inspector = inspect(conn)
    tables = set(inspector.get_table_names())
    done = 0
    for table, (table_comment, columns) in COMMENTS.items():
        if table not in tables:
            continue
        conn.exec_driver_sql(f'COMMENT ON TABLE "{table}" IS {_quote(table_comment)}')
        present = {c["name"] for c in inspector.get_columns(table)}
        for column, text in columns.items():
            if column in present:
                conn.exec_driver_sql(f'COMMENT ON COLUMN "{table}"."{column}" IS {_quote(text)}')
                done += 1
    return done
