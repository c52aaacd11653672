"""SQL views of the catalogue, defined once here and created by the migrations.

``candidates``: every prediction joined with its source and model, whether the object is already a known lens (a
``lens`` or ``near_lens`` label in any set), and the graders' consensus on it (``grade_consensus``, revision 0004: the
grading set graded most recently). Later revisions add columns through ``extra_columns`` and ``extra_joins`` and
re-create the view with :func:`create_candidates_view`; a revision that rebuilds ``sources``, ``predictions`` or
``models`` in SQLite's batch mode must drop the view first and create it again after.
"""

from __future__ import annotations

from collections.abc import Sequence

CANDIDATES = "candidates"

#: The view's own columns, in order (a test reads them back on both backends).
CANDIDATE_COLUMNS = ("model_id", "model", "rank", "score", "object_id", "survey", "ra", "dec", "mag_g", "mag_r",
                     "mag_z", "source_type", "known_lens", "consensus", "n_graders")

#: The consensus of the grading set that graded the object most recently (A, B or N; NULL when ungraded).
_LATEST_CONSENSUS = ("(SELECT gc.{col} FROM grade_consensus AS gc WHERE gc.object_id = p.object_id "
                     "ORDER BY gc.last_graded_at DESC, gc.label_set_id DESC LIMIT 1)")


def candidates_sql(extra_columns: Sequence[str] = (), extra_joins: Sequence[str] = ()) -> str:
    """The ``SELECT`` of the ``candidates`` view; ``extra_columns`` are appended to its columns and
    ``extra_joins`` (``LEFT JOIN ... ON ...``) to its joins (aliases: ``p`` predictions, ``m`` models,
    ``s`` sources)."""
    columns = [
        "p.model_id", "m.name AS model", "p.rank", "p.score", "s.object_id", "s.survey", "s.ra", "s.dec",
        "s.mag_g", "s.mag_r", "s.mag_z", "s.source_type",
        "CASE WHEN EXISTS (SELECT 1 FROM labels AS l WHERE l.object_id = p.object_id "
        "AND l.\"class\" IN ('lens', 'near_lens')) THEN 1 ELSE 0 END AS known_lens",
        _LATEST_CONSENSUS.format(col="consensus") + " AS consensus",
        _LATEST_CONSENSUS.format(col="n_graders") + " AS n_graders",
        *extra_columns,
    ]
    joins = ["JOIN models AS m ON m.id = p.model_id", "JOIN sources AS s ON s.object_id = p.object_id",
             *extra_joins]
    return "SELECT " + ",\n       ".join(columns) + "\nFROM predictions AS p\n" + "\n".join(joins)


def create_candidates_view(conn, extra_columns: Sequence[str] = (), extra_joins: Sequence[str] = ()) -> None:
    """(Re-)create the ``candidates`` view on a connection (an Alembic ``op.get_bind()`` in a migration)."""
    drop_candidates_view(conn)
    conn.exec_driver_sql(f"CREATE VIEW {CANDIDATES} AS\n" + candidates_sql(extra_columns, extra_joins))
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            f"COMMENT ON VIEW {CANDIDATES} IS 'Predictions joined with their sources and models: model, rank "
            "(1 = most lens-like), score (0-1), position, magnitudes, known_lens (1 when a lens or near_lens label "
            "exists), consensus (A, B or N of the grading set that graded it last; NULL when ungraded) and "
            "n_graders'")


def drop_candidates_view(conn) -> None:
    conn.exec_driver_sql(f"DROP VIEW IF EXISTS {CANDIDATES}")
