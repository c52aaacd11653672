"""The upgrade path: a catalogue written by the previous release (schema 0005, with ingested sources, labels, grades,
a grading queue, a model and its predictions) upgrades to this release's head and downgrades back to 0005 without
losing or changing a row, on SQLite, PostgreSQL with q3c and PostgreSQL without it."""

from __future__ import annotations

import numpy as np
from catalog_testdata import brute_force_pairs
from sqlalchemy import inspect, text

from lensdb.catalog.crossmatch import cone_search
from lensdb.catalog.db import current_revision, downgrade, head_revision, make_engine, upgrade
from lensdb.core.sky import sky_pixel

N = 300
PREVIOUS = "0005"


def _previous_release_catalogue(conn, rng) -> tuple[np.ndarray, np.ndarray]:
    """Rows as release 0005 wrote them (plain SQL: this release's models have more columns)."""
    ra = np.concatenate([rng.uniform(0, 360, N - 60), rng.uniform(359.99, 360, 20) % 360, rng.uniform(0, 0.01, 20),
                         rng.uniform(0, 360, 20)])
    dec = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, N - 60))), rng.uniform(-1, 1, 40),
                          rng.choice([-1, 1], 20) * rng.uniform(89.99, 90, 20)])
    conn.execute(text("INSERT INTO survey_roots (name, path, updated_at) VALUES ('survey', '/data/survey', "
                      "CURRENT_TIMESTAMP)"))
    conn.execute(text("INSERT INTO shards (name, path, fingerprint, n_rows, cutout, image_dtype, ingested_at, root) "
                      "VALUES ('shard-0.h5', 'shard-0.h5', 'abc', :n, 152, 'float32', CURRENT_TIMESTAMP, 'survey')"),
                 {"n": N})
    shard = conn.execute(text("SELECT id FROM shards")).scalar_one()
    conn.execute(text(
        'INSERT INTO sources (object_id, release, brickid, objid, survey, ra, dec, mag_g, mag_r, mag_z, ebv, '
        'psfsize_g, psfsize_r, psfsize_z, psfdepth_g, psfdepth_r, psfdepth_z, source_type, z_phot_mean, shard_id, '
        '"row") VALUES (:o, 9010, 7, :i, :s, :ra, :dec, 21.5, 20.5, :z, 0.02, 1.3, 1.2, 1.1, 2000, 800, 150, '
        "'SER', 0.4, :shard, :i)"),
        [{"o": (9010 << 40) | (7 << 20) | i, "i": i, "s": "north" if i % 3 == 0 else "south", "ra": float(ra[i]),
          "dec": float(dec[i]), "z": 19.0 + i / N, "shard": shard} for i in range(N)])
    ids = np.array([(9010 << 40) | (7 << 20) | i for i in range(N)], np.int64)
    conn.execute(text("INSERT INTO label_sets (name, description, source, author, created_at) VALUES "
                      "('known', 'paper lenses', 'training_lenses.tsv sha256:0', 'ann', CURRENT_TIMESTAMP), "
                      "('grades', 'graders', 'grading', 'lensdb', CURRENT_TIMESTAMP)"))
    known, grades = (conn.execute(text("SELECT id FROM label_sets WHERE name = :n"), {"n": n}).scalar_one()
                     for n in ("known", "grades"))
    conn.execute(text('INSERT INTO labels (label_set_id, object_id, "class", grade, name, separation_arcsec, '
                      "provenance, author, created_at) VALUES (:s, :o, :c, :g, :n, 0.5, 'f:1', 'ann', "
                      "CURRENT_TIMESTAMP)"),
                 [{"s": known, "o": int(ids[i]), "c": "lens" if i % 2 else "near_lens", "g": "A" if i % 4 == 1
                   else None, "n": f"L{i}"} for i in range(0, 40)])
    conn.execute(text("INSERT INTO models (name, kind, version, created_at) VALUES ('probe-v1', 'probe', '1', "
                      "CURRENT_TIMESTAMP)"))
    model = conn.execute(text("SELECT id FROM models")).scalar_one()
    conn.execute(text('INSERT INTO predictions (model_id, object_id, score, "rank") VALUES (:m, :o, :s, :r)'),
                 [{"m": model, "o": int(ids[i]), "s": 1.0 - i / N, "r": i + 1} for i in range(N)])
    conn.execute(text("INSERT INTO grading_queues (label_set_id, name, kind, n_items, created_at) VALUES "
                      "(:s, 'q1', 'probe', 3, CURRENT_TIMESTAMP)"), {"s": grades})
    queue = conn.execute(text("SELECT id FROM grading_queues")).scalar_one()
    conn.execute(text("INSERT INTO queue_items (queue_id, position, object_id) VALUES (:q, :p, :o)"),
                 [{"q": queue, "p": p, "o": int(ids[100 + p])} for p in range(3)])
    conn.execute(text("INSERT INTO grades (label_set_id, object_id, grader, grade, created_at, updated_at) VALUES "
                      "(:s, :o, :g, :v, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                 [{"s": grades, "o": int(ids[100 + k % 3]), "g": f"grader{k}", "v": "ABN"[k % 3]}
                  for k in range(6)])
    return ra, dec


def _snapshot(url: str, tables: dict[str, list[str]]) -> dict[str, list[tuple]]:
    """Every row of ``tables`` (only the named columns), sorted: what must survive the round trip."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table, columns in tables.items():
                cols = ", ".join(f'"{c}"' for c in columns)
                rows = conn.execute(text(f'SELECT {cols} FROM "{table}"')).all()
                out[table] = sorted((tuple(str(v) for v in r) for r in rows))
            return out
    finally:
        engine.dispose()


def test_previous_release_catalogue_upgrades_and_downgrades_without_losing_a_row(any_db_url):
    url = any_db_url
    upgrade(url, PREVIOUS)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            ra, dec = _previous_release_catalogue(conn, np.random.default_rng(26))
        insp = inspect(engine)
        tables = {t: [c["name"] for c in insp.get_columns(t)] for t in insp.get_table_names()
                  if t != "alembic_version"}
    finally:
        engine.dispose()
    before = _snapshot(url, tables)
    assert {t for t, rows in before.items() if rows} >= {"sources", "shards", "survey_roots", "label_sets",
                                                         "labels", "models", "predictions", "grades",
                                                         "grading_queues", "queue_items"}
    assert len(before["sources"]) == N and len(before["predictions"]) == N

    upgrade(url)
    assert current_revision(url) == head_revision()
    assert _snapshot(url, tables) == before
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            pix = conn.execute(text("SELECT sky_pixel FROM sources ORDER BY \"row\"")).scalars().all()
            consensus = conn.execute(text("SELECT count(*) FROM grade_consensus")).scalar()
        assert pix == sky_pixel(ra, dec).tolist()
        assert consensus == 3
        # The upgraded catalogue answers cone searches through its index, poles and RA 0/360 included.
        for ra0, dec0, radius in ((0.0, 0.0, 3600.0), (0.0, 90.0, 36.0), (180.0, -90.0, 36.0), (123.0, 45.0, 1e5)):
            got = cone_search(engine, ra0, dec0, radius)
            want = sorted(int(j) for _, j, _ in brute_force_pairs([ra0], [dec0], ra, dec, radius))
            assert sorted(int(o) & ((1 << 20) - 1) for o in got.object_id) == want
    finally:
        engine.dispose()

    downgrade(url, PREVIOUS)
    assert current_revision(url) == PREVIOUS
    assert _snapshot(url, tables) == before
    upgrade(url)  # and up again: nothing the downgrade left behind blocks it
    assert _snapshot(url, tables) == before
