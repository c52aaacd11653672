"""Schema migrations: up to head and down to base on both backends; the result equals catalog.models."""

import importlib.util
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from catalog_testdata import insert_sources
from sqlalchemy import inspect, text

from lensdb.catalog.db import current_revision, downgrade, head_revision, make_engine, upgrade
from lensdb.catalog.models import Base
from lensdb.cli import main
from lensdb.core.errors import LensDBError

VERSIONS = Path(__file__).resolve().parents[2] / "catalog" / "migrations" / "versions"
Q3C_INDEX = "ix_sources_q3c_ang2ipix"


#: The revisions, oldest first (file names start with the revision id).
REVISIONS = sorted(p.name.split("_")[0] for p in (Path(__file__).resolve().parents[2] / "catalog" / "migrations"
                                                  / "versions").glob("0*.py"))

def _schema_diff(url: str) -> list:
    """Alembic's differences between the migrated database and the models (the q3c index is SQL-only)."""
    def include(obj, name, type_, reflected, compare_to):
        return not (type_ == "index" and name == Q3C_INDEX)

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"include_object": include, "compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def _insert_old_source(conn, object_id: int, ra: float, dec: float, shard: str) -> None:
    """A sources row as a release before 0006 wrote it (no sky_pixel), in shard ``shard``."""
    conn.execute(text(
        'INSERT INTO sources (object_id, release, brickid, objid, survey, ra, dec, ebv, psfsize_g, psfsize_r, '
        'psfsize_z, psfdepth_g, psfdepth_r, psfdepth_z, source_type, shard_id, "row") VALUES (:o, 9010, 1, :o, '
        "'south', :r, :d, 0, 1, 1, 1, 1, 1, 1, 'SER', (SELECT id FROM shards WHERE name = :s), :o)"),
        {"o": object_id, "r": ra, "d": dec, "s": shard})


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _q3c_state(url: str) -> tuple[bool, str | None]:
    """(q3c extension installed, definition of the q3c index on sources or None)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ext = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'q3c'")).first() is not None
            idx = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"),
                               {"n": Q3C_INDEX}).scalar()
        return ext, idx
    finally:
        engine.dispose()


def test_upgrade_matches_models_and_downgrade_removes_everything(db_url):
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == head_revision() == REVISIONS[-1]
    assert _schema_diff(db_url) == []
    assert {t.name for t in Base.metadata.sorted_tables} <= _tables(db_url)
    downgrade(db_url, "base")
    assert current_revision(db_url) is None
    assert _tables(db_url) <= {"alembic_version"}
    # And back up again: the downgrade left nothing that blocks a fresh upgrade.
    upgrade(db_url)
    assert _schema_diff(db_url) == []


def test_each_revision_steps_up_and_down(db_url):
    assert REVISIONS[:9] == ["0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008", "0009"]
    for rev in REVISIONS:
        upgrade(db_url, rev)
        assert current_revision(db_url) == rev
    for rev in reversed(REVISIONS[:-1]):
        downgrade(db_url, rev)
        assert current_revision(db_url) == rev
    upgrade(db_url)
    assert _schema_diff(db_url) == []


def test_q3c_index_on_postgresql(pg_url):
    upgrade(pg_url)
    installed, indexdef = _q3c_state(pg_url)
    assert installed
    assert indexdef is not None and "q3c_ang2ipix(ra, dec)" in indexdef.replace('"', "")
    downgrade(pg_url, "0001")
    installed, indexdef = _q3c_state(pg_url)
    assert indexdef is None
    assert installed  # the extension stays: other objects may use it
    upgrade(pg_url)
    assert _q3c_state(pg_url)[1] is not None


def test_postgresql_without_q3c_migrates_with_one_line_of_notice(pg_noq3c_url, caplog):
    """A stock PostgreSQL (no q3c offered): every revision applies, 0002 says once that it skipped q3c."""
    import logging

    with caplog.at_level(logging.WARNING, logger="lensdb.catalog.migrations"):
        upgrade(pg_noq3c_url)
    assert current_revision(pg_noq3c_url) == head_revision()
    notices = [r.getMessage() for r in caplog.records if "q3c" in r.getMessage()]
    assert len(notices) == 1 and "sky_pixel" in notices[0] and "apt-get install postgresql-" in notices[0]
    assert "CREATE INDEX ix_sources_q3c_ang2ipix ON sources (q3c_ang2ipix(ra, dec))" in notices[0]
    assert _q3c_state(pg_noq3c_url) == (False, None)
    assert _schema_diff(pg_noq3c_url) == []
    downgrade(pg_noq3c_url, "0001")
    downgrade(pg_noq3c_url, "base")
    upgrade(pg_noq3c_url)
    assert _schema_diff(pg_noq3c_url) == []


def test_cli_upgrade_without_q3c_exits_0(pg_noq3c_url, capsys):
    assert main(["--database-url", pg_noq3c_url, "db", "upgrade"]) == 0
    out = capsys.readouterr()
    assert f"revision {REVISIONS[-1]}" in out.out
    # one notice (counted as distinct lines: earlier tests in this process may have added logging handlers)
    assert len({line for line in out.err.splitlines() if "q3c is not installed" in line}) == 1


def test_0006_fills_sky_pixel_of_existing_rows(db_url):
    from lensdb.core.sky import sky_pixel

    upgrade(db_url, "0005")
    engine = make_engine(db_url)
    try:
        ra, dec = [0.0, 359.99, 180.0, 12.5], [90.0, -89.9, 0.0, -30.0]
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO shards (name, path, fingerprint, n_rows, cutout, image_dtype, "
                              "ingested_at) VALUES ('s', '/x/s.h5', 'f', 4, 152, 'float32', CURRENT_TIMESTAMP)"))
            for i, (r, d) in enumerate(zip(ra, dec, strict=True)):
                _insert_old_source(conn, i + 1, r, d, "s")
        upgrade(db_url, "0006")
        with engine.connect() as conn:
            got = conn.execute(text("SELECT sky_pixel FROM sources ORDER BY object_id")).scalars().all()
        assert got == sky_pixel(ra, dec).tolist()
        downgrade(db_url, "0005")
        with engine.connect() as conn:
            assert "sky_pixel" not in {c["name"] for c in inspect(conn).get_columns("sources")}
            assert conn.execute(text("SELECT count(*) FROM sources")).scalar() == 4
    finally:
        engine.dispose()


def test_missing_extension_names_the_debian_package(pg_url):
    spec = importlib.util.spec_from_file_location("migration_0002", VERSIONS / "0002_q3c_positions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            module.require_extension(conn, "q3c")  # present: no error
            major = int(conn.execute(text("SHOW server_version_num")).scalar()) // 10000
            with pytest.raises(LensDBError, match=f"postgresql-{major}-no_such_ext") as exc:
                module.require_extension(conn, "no_such_ext")
    finally:
        engine.dispose()
    assert "apt-get install" in str(exc.value) and "lensdb db upgrade" in str(exc.value)


def test_cli_current_upgrade_downgrade(db_url, capsys):
    assert main(["--database-url", db_url, "db", "current"]) == 0
    out = capsys.readouterr().out
    assert "none (empty database)" in out and f"head: {REVISIONS[-1]}" in out and "lensdb db upgrade" in out

    assert main(["--database-url", db_url, "db", "upgrade", "0001"]) == 0
    assert "revision 0001" in capsys.readouterr().out
    assert main(["--database-url", db_url, "db", "upgrade"]) == 0
    assert f"revision {REVISIONS[-1]}" in capsys.readouterr().out
    assert main(["--database-url", db_url, "db", "current"]) == 0
    assert f"current: {REVISIONS[-1]}" in (out := capsys.readouterr().out) and "up to date" in out

    assert main(["--database-url", db_url, "db", "downgrade", "base"]) == 0
    assert "base (no tables)" in capsys.readouterr().out
    assert current_revision(db_url) is None


def test_cli_reports_unreachable_database(capsys):
    url = "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere"
    assert main(["--database-url", url, "db", "upgrade"]) == 3  # unavailable: worth a retry, unlike bad input
    assert "cannot reach database" in capsys.readouterr().err


def test_0005_records_existing_shards_under_survey_roots_and_back(db_url, tmp_path):
    upgrade(db_url, "0004")
    engine = make_engine(db_url)
    folder = tmp_path / "old place" / "survey"
    try:
        with engine.begin() as conn:
            for path in (folder / "a.h5", folder / "b.h5", tmp_path / "other" / "c.h5"):
                conn.execute(text("INSERT INTO shards (name, path, fingerprint, n_rows, cutout, image_dtype, "
                                  "ingested_at) VALUES (:n, :p, 'f', 1, 152, 'float32', CURRENT_TIMESTAMP)"),
                             {"n": path.name, "p": str(path)})
        # an ingested object of shard a.h5: the migration rebuilds shards (SQLite's batch mode) under it
        with engine.begin() as conn:
            _insert_old_source(conn, 1, 10.0, 1.0, "a.h5")
        upgrade(db_url)
        from lensdb.catalog import queries

        rows = {s.name: s for s in queries.shards(engine)}
        assert {n: (s.root, s.stored_path) for n, s in rows.items()} == {
            "a.h5": ("survey", "a.h5"), "b.h5": ("survey", "b.h5"), "c.h5": ("other", "c.h5")}
        assert rows["a.h5"].path == str(folder / "a.h5")
        assert {(r.name, r.path, r.n_shards) for r in queries.survey_roots(engine)} == {
            ("survey", str(folder), 2), ("other", str(tmp_path / "other"), 1)}
        downgrade(db_url, "0004")
        with engine.connect() as conn:
            paths = dict(conn.execute(text("SELECT name, path FROM shards")).all())
        assert paths == {"a.h5": str(folder / "a.h5"), "b.h5": str(folder / "b.h5"),
                         "c.h5": str(tmp_path / "other" / "c.h5")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT s.name FROM sources AS o JOIN shards AS s ON s.id = o.shard_id")
                                ).scalars().all() == ["a.h5"]
    finally:
        engine.dispose()


def test_q3c_offered_but_not_creatable_by_a_plain_owner_is_skipped(caplog):
    """Managed services and the Bitnami chart give LensDB a database owner, not a superuser; q3c is not a trusted
    extension, so that user may not create it: the migration says so once and every revision applies."""
    import logging

    from pg_cluster import PrivatePostgres
    from sqlalchemy import create_engine

    pg = PrivatePostgres().start()  # this one offers q3c
    try:
        admin = create_engine(pg.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE ROLE owner LOGIN"))
            conn.execute(text("CREATE DATABASE owned OWNER owner"))
            assert conn.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'q3c'")).first()
        admin.dispose()
        url = f"postgresql+psycopg2://owner@127.0.0.1:{pg.port}/owned"
        with caplog.at_level(logging.WARNING, logger="lensdb.catalog.migrations"):
            upgrade(url)
        assert current_revision(url) == head_revision()
        notices = [r.getMessage() for r in caplog.records if "q3c" in r.getMessage()]
        assert len(notices) == 1 and "may not create it" in notices[0] and "CREATE INDEX" in notices[0]
        assert _q3c_state(url) == (False, None)
        assert _schema_diff(url) == []
        # Later a superuser creates the extension: LensDB turns to q3c once its index exists too.
        from lensdb.catalog.crossmatch import cone_search

        engine = make_engine(url)
        admin = create_engine(pg.url("owned"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text("CREATE EXTENSION q3c"))
            assert cone_search(engine, 10.0, 10.0, 5.0).method == "healpix"  # no q3c index: not used
            with admin.connect() as conn:
                conn.execute(text("CREATE INDEX ix_sources_q3c_ang2ipix ON sources (q3c_ang2ipix(ra, dec))"))
            assert cone_search(engine, 10.0, 10.0, 5.0).method == "q3c"
        finally:
            engine.dispose()
            admin.dispose()
    finally:
        pg.remove()


def test_0009_allows_unusual_queues_keeps_the_items_and_refuses_to_drop_them(db_url):
    upgrade(db_url, "0008")
    engine = make_engine(db_url)
    try:
        insert_sources(engine, [10.0], [1.0])
        with engine.begin() as conn:
            oid = conn.execute(text("SELECT object_id FROM sources")).scalar()
            conn.execute(text("INSERT INTO label_sets (name, source, created_at) VALUES ('grades', 'grading', "
                              "CURRENT_TIMESTAMP)"))
            set_id = conn.execute(text("SELECT id FROM label_sets WHERE name = 'grades'")).scalar()
            conn.execute(text("INSERT INTO grading_queues (label_set_id, name, kind, n_items, created_at) VALUES "
                              "(:s, 'old', 'random', 1, CURRENT_TIMESTAMP)"), {"s": set_id})
            qid = conn.execute(text("SELECT id FROM grading_queues")).scalar()
            conn.execute(text("INSERT INTO queue_items (queue_id, position, object_id) VALUES (:q, 0, :o)"),
                         {"q": qid, "o": oid})
        unusual = text("INSERT INTO grading_queues (label_set_id, name, kind, n_items, created_at) VALUES "
                       "(:s, 'odd', 'unusual', 0, CURRENT_TIMESTAMP)")
        with pytest.raises(Exception, match="(?i)check"), engine.begin() as conn:
            conn.execute(unusual, {"s": set_id})  # 0008 does not know the kind
        engine.dispose()
        upgrade(db_url, "0009")
        with engine.begin() as conn:
            conn.execute(unusual, {"s": set_id})
            # the rebuilt table kept the earlier queue and its item (SQLite's batch mode copies it)
            assert conn.execute(text("SELECT object_id FROM queue_items WHERE queue_id = :q"), {"q": qid}
                                ).scalars().all() == [oid]
        engine.dispose()
        with pytest.raises(Exception, match="kind 'unusual' exist"):
            downgrade(db_url, "0008")
        assert current_revision(db_url) == "0009"
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM grading_queues WHERE kind = 'unusual'"))
        engine.dispose()
        downgrade(db_url, "0008")
        assert current_revision(db_url) == "0008"
    finally:
        engine.dispose()
