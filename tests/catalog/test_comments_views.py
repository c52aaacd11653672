"""COMMENT ON every table and column (PostgreSQL), catalog/SQL.md current, and the candidates view on both backends."""

from __future__ import annotations

from catalog_testdata import insert_sources, migrated_engine
from sqlalchemy import insert, text

from lensdb.catalog import queries
from lensdb.catalog.models import COMMENTS, Base, Grade, LabelSet, Model, Prediction
from lensdb.catalog.views import CANDIDATE_COLUMNS


def test_models_describe_every_table_and_column():
    for table in Base.metadata.sorted_tables:
        assert table.comment, table.name
        for column in table.columns:
            assert column.comment, f"{table.name}.{column.name}"
    assert set(COMMENTS) == set(Base.metadata.tables)


def test_every_table_and_column_commented_on_postgresql(pg_url):
    engine = migrated_engine(pg_url)
    try:
        with engine.connect() as conn:
            base = ("FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE n.nspname = "
                    "current_schema() AND c.relkind = 'r' AND c.relname <> 'alembic_version'")
            missing = conn.execute(text(
                "SELECT c.relname, a.attname " + base.replace("WHERE", "JOIN pg_attribute AS a ON a.attrelid = c.oid "
                                                               "WHERE a.attnum > 0 AND NOT a.attisdropped AND")
                + " AND col_description(c.oid, a.attnum) IS NULL")).all()
            tables = conn.execute(text(f"SELECT c.relname {base} AND obj_description(c.oid, 'pg_class') IS NULL")).all()
            n_tables = conn.execute(text(f"SELECT count(*) {base}")).scalar()
    finally:
        engine.dispose()
    assert missing == [] and tables == [] and n_tables == len(COMMENTS)


def test_candidates_view(db_url):
    engine = migrated_engine(db_url)
    try:
        ids = insert_sources(engine, [10.0, 11.0, 12.0], [1.0, 2.0, 3.0])
        with engine.begin() as conn:
            mid = conn.execute(insert(Model).values(name="p", kind="probe", version="v").returning(Model.id)).scalar()
            conn.execute(insert(Prediction), [{"model_id": mid, "object_id": int(i), "score": s, "rank": r}
                                              for i, s, r in zip(ids, (0.2, 0.9, 0.5), (3, 1, 2), strict=True)])
            # Two graders call the first candidate a lens (A, B: consensus A at 2.5 points); a calibration grade of
            # the second is left out of the consensus.
            gid = conn.execute(insert(LabelSet).values(name="grades", source="lensdb grade").returning(LabelSet.id)
                               ).scalar()
            conn.execute(insert(Grade), [
                {"label_set_id": gid, "object_id": int(ids[1]), "grader": "ann", "grade": "A", "calibration": None},
                {"label_set_id": gid, "object_id": int(ids[1]), "grader": "bob", "grade": "B", "calibration": None},
                {"label_set_id": gid, "object_id": int(ids[2]), "grader": "ann", "grade": "A", "calibration": "lens"},
            ])
        rows = queries.candidate_rows(engine, mid, 3)
    finally:
        engine.dispose()
    assert [r["rank"] for r in rows] == [1, 2, 3] and rows[0]["object_id"] == int(ids[1])
    assert tuple(rows[0]) == CANDIDATE_COLUMNS and rows[0]["model"] == "p" and rows[0]["ra"] == 11.0
    assert rows[0]["known_lens"] == 0
    assert (rows[0]["consensus"], rows[0]["n_graders"]) == ("A", 2)
    assert (rows[1]["consensus"], rows[1]["n_graders"]) == (None, None)  # only a calibration grade


def test_sql_md_schema_is_generated_from_the_models(tmp_path):
    from lensdb.catalog import schema_doc

    assert schema_doc.main(["--check"]) == 0, "run: python -m lensdb.catalog.schema_doc"
    stale = tmp_path / "SQL.md"
    stale.write_text(schema_doc.SQL_MD.read_text().replace("photometric redshift, mean", "stale"))
    assert schema_doc.main(["--check", "--path", str(stale)]) == 1
    assert schema_doc.main(["--path", str(stale)]) == 0
    assert stale.read_text() == schema_doc.SQL_MD.read_text()
