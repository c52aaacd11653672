"""Positional cross-match and cone search: every path (q3c, the portable sky_pixel index, kdtree) against brute force
and against each other, on SQLite, PostgreSQL with q3c and PostgreSQL without it."""

import numpy as np
import pytest
from catalog_testdata import brute_force_pairs, insert_sources, migrated_engine, offset

from lensdb.catalog.crossmatch import cone_search, crossmatch, q3c_installed
from lensdb.core.errors import InvalidInput
from lensdb.core.sky import separation_arcsec

RADIUS = 25.2


def _sky(seed: int):
    """Sources and query positions for the edge cases: RA wrap, both poles, dense clusters, empty sky."""
    rng = np.random.default_rng(seed)
    centres = [(0.0005, 5.0), (359.9995, -3.0), (180.0, 89.995), (45.0, -89.996), (120.0, 30.0),
               (250.0, -40.0)]
    src_ra, src_dec, pos_ra, pos_dec = [], [], [], []
    for ra0, dec0 in centres:
        r, d = offset(ra0, dec0, rng.uniform(0, 90, 400), rng.uniform(0, 360, 400))
        src_ra.append(r)
        src_dec.append(d)
        r, d = offset(ra0, dec0, rng.uniform(0, 60, 60), rng.uniform(0, 360, 60))
        pos_ra.append(r)
        pos_dec.append(d)
    # A thin all-sky background, and positions where there is nothing to find.
    src_ra.append(rng.uniform(0, 360, 2000))
    src_dec.append(np.degrees(np.arcsin(rng.uniform(-1, 1, 2000))))
    pos_ra.append(rng.uniform(0, 360, 200))
    pos_dec.append(np.degrees(np.arcsin(rng.uniform(-1, 1, 200))))
    return (np.concatenate(src_ra), np.concatenate(src_dec), np.concatenate(pos_ra), np.concatenate(pos_dec))


def _pairs(m):
    return {(int(i), int(o)) for i, o in zip(m.index, m.object_id, strict=True)}


def test_separation_is_exact_at_small_and_large_angles():
    # 1 mas; the tolerance is what float64 degrees can represent.
    assert separation_arcsec(10.0, 20.0, 10.0, 20.0 + 1e-3 / 3600) == pytest.approx(1e-3, rel=1e-6)
    assert separation_arcsec(0.0, 0.0, 180.0, 0.0) == pytest.approx(180 * 3600)
    assert separation_arcsec(359.99999, 0.0, 0.00001, 0.0) == pytest.approx(0.072, rel=1e-6)
    # Across the pole: two points 0.001 deg from it on opposite meridians are 0.002 deg apart.
    assert separation_arcsec(10.0, 89.999, 190.0, 89.999) == pytest.approx(7.2, rel=1e-6)
    ra, dec = offset(123.4, -56.7, 25.2, 33.0)
    assert separation_arcsec(123.4, -56.7, ra, dec) == pytest.approx(25.2, abs=1e-9)


def test_crossmatch_equals_brute_force(any_db_url):
    src_ra, src_dec, pos_ra, pos_dec = _sky(1)
    engine = migrated_engine(any_db_url)
    try:
        ids = insert_sources(engine, src_ra, src_dec)
        ref = brute_force_pairs(pos_ra, pos_dec, src_ra, src_dec, RADIUS)
        expected = {(i, int(ids[j])) for i, j, _ in ref}
        assert len(expected) > 500  # the sky above really has neighbours, including at the wrap and poles
        hp = crossmatch(engine, pos_ra, pos_dec, RADIUS, method="healpix")
        assert hp.method == "healpix" and _pairs(hp) == expected
        # Small chunks: the temporary table of ranges is refilled between joins.
        from lensdb.catalog import crossmatch as xm
        with engine.begin() as conn:
            parts = xm._candidates_healpix(conn, pos_ra, pos_dec, RADIUS, chunk=37)
        assert {(int(i), int(o)) for i, o in zip(parts[0], parts[1], strict=True)} >= expected
        # Small bands force many band boundaries; the defaults exercise the wide-band path.
        for kwargs in ({}, {"band_deg": 0.01, "band_size": 7}):
            m = crossmatch(engine, pos_ra, pos_dec, RADIUS, method="kdtree", **kwargs)
            assert _pairs(m) == expected
        # Sorted by position, then separation; separations are exact.
        assert np.all(np.diff(m.index) >= 0)
        same = m.index[1:] == m.index[:-1]
        assert np.all(np.diff(m.separation_arcsec)[same] >= 0)
        exact = separation_arcsec(pos_ra[m.index], pos_dec[m.index], m.ra, m.dec)
        assert np.allclose(m.separation_arcsec, exact)
        auto = crossmatch(engine, pos_ra, pos_dec, RADIUS)
        assert _pairs(auto) == _pairs(m)
        with engine.connect() as conn:
            assert auto.method == ("q3c" if q3c_installed(conn) else "healpix")
    finally:
        engine.dispose()


def test_q3c_healpix_and_kdtree_paths_agree(pg_url):
    src_ra, src_dec, pos_ra, pos_dec = _sky(2)
    engine = migrated_engine(pg_url)
    try:
        insert_sources(engine, src_ra, src_dec)
        with engine.connect() as conn:
            assert q3c_installed(conn)
        for radius in (RADIUS, 3.0, 90.0):
            q3c = crossmatch(engine, pos_ra, pos_dec, radius, method="q3c")
            kd = crossmatch(engine, pos_ra, pos_dec, radius, method="kdtree")
            hp = crossmatch(engine, pos_ra, pos_dec, radius, method="healpix")
            assert (q3c.method, kd.method, hp.method) == ("q3c", "kdtree", "healpix")
            assert len(q3c) > 0
            for field in ("index", "object_id", "ra", "dec", "separation_arcsec"):
                np.testing.assert_array_equal(getattr(q3c, field), getattr(kd, field))
                np.testing.assert_array_equal(getattr(q3c, field), getattr(hp, field))
        # Both paths share the inclusive boundary: a source exactly 10" away is found with radius 10".
        ra, dec = offset(100.0, 10.0, 10.0, 45.0)
        insert_sources(engine, [ra], [dec])
        for method in ("q3c", "kdtree", "healpix"):
            assert len(crossmatch(engine, [100.0], [10.0], 10.0 + 1e-9, method=method)) == 1
            assert len(cone_search(engine, 100.0, 10.0, 10.0 + 1e-9, method=method)) == 1
            assert len(cone_search(engine, 100.0, 10.0, 10.0 - 1e-6, method=method)) == 0
            assert len(crossmatch(engine, [100.0], [10.0], 10.0 - 1e-6, method=method)) == 0
    finally:
        engine.dispose()


def test_cone_search_equals_brute_force(any_db_url):
    src_ra, src_dec, _, _ = _sky(3)
    engine = migrated_engine(any_db_url)
    try:
        ids = insert_sources(engine, src_ra, src_dec)
        for ra, dec, radius in ((0.0005, 5.0, 60.0), (359.9999, -3.0, 40.0), (180.0, 89.995, 120.0),
                                (45.0, -89.996, 30.0), (10.0, 10.0, 5.0)):
            got = cone_search(engine, ra, dec, radius)
            pairs = brute_force_pairs([ra], [dec], src_ra, src_dec, radius)
            ref = sorted((s, int(ids[j])) for _, j, s in pairs)
            assert [int(o) for o in got.object_id] == [o for _, o in ref]
            np.testing.assert_allclose(got.separation_arcsec, [s for s, _ in ref])
            for method in ("healpix", "kdtree"):
                other = cone_search(engine, ra, dec, radius, method=method)
                assert other.method == method
                np.testing.assert_array_equal(other.object_id, got.object_id)
    finally:
        engine.dispose()


def test_empty_input_and_empty_table(db_url):
    engine = migrated_engine(db_url)
    try:
        assert len(crossmatch(engine, [], [], RADIUS)) == 0
        assert len(crossmatch(engine, [10.0], [20.0], RADIUS)) == 0
        assert len(cone_search(engine, 10.0, 20.0, RADIUS)) == 0
    finally:
        engine.dispose()


def test_bad_arguments_are_clear(sqlite_url):
    engine = migrated_engine(sqlite_url)
    try:
        with pytest.raises(InvalidInput, match=r"RA must lie in \[0, 360\)"):
            crossmatch(engine, [360.0], [0.0], RADIUS)
        with pytest.raises(InvalidInput, match="Dec in"):
            crossmatch(engine, [0.0], [90.5], RADIUS)
        with pytest.raises(InvalidInput, match="one length"):
            crossmatch(engine, [0.0, 1.0], [0.0], RADIUS)
        with pytest.raises(InvalidInput, match="finite"):
            crossmatch(engine, [np.nan], [0.0], RADIUS)
        with pytest.raises(InvalidInput, match="positive"):
            cone_search(engine, 0.0, 0.0, 0.0)
        with pytest.raises(InvalidInput, match="not one of"):
            crossmatch(engine, [0.0], [0.0], RADIUS, method="brute")
        with pytest.raises(InvalidInput, match="q3c extension.*healpix"):
            crossmatch(engine, [0.0], [0.0], RADIUS, method="q3c")
    finally:
        engine.dispose()


def test_same_rows_with_q3c_without_q3c_and_on_sqlite(sqlite_url, pg_url, pg_noq3c_url):
    """The one sky in three catalogues: cross-match, cone search (RA 0/360 and both poles included) and the
    listing filter's cone give the same rows whichever index answers (q3c; sky_pixel on PostgreSQL; SQLite)."""
    from lensdb.catalog import queries
    from lensdb.core.filters import Cone, ObjectFilter

    src_ra, src_dec, pos_ra, pos_dec = _sky(4)
    answers = {}
    for name, url in (("sqlite", sqlite_url), ("pg-q3c", pg_url), ("pg-no-q3c", pg_noq3c_url)):
        engine = migrated_engine(url)
        try:
            ids = insert_sources(engine, src_ra, src_dec)
            with engine.connect() as conn:
                assert q3c_installed(conn) == (name == "pg-q3c")
            m = crossmatch(engine, pos_ra, pos_dec, RADIUS)
            assert m.method == ("q3c" if name == "pg-q3c" else "healpix")
            cones = []
            for ra, dec, radius in ((0.0001, 5.0, 90.0), (359.9999, -3.0, 60.0), (180.0, 89.999, 200.0),
                                    (0.0, 90.0, 30.0), (45.0, -89.996, 40.0), (120.0, 30.0, 3.0)):
                c = cone_search(engine, ra, dec, radius)
                listed = queries.ids_matching(engine, ObjectFilter(cone=Cone(ra, dec, radius / 3600.0)))
                np.testing.assert_array_equal(np.sort(c.object_id), listed)
                cones.append([(int(o), round(float(s), 9)) for o, s in zip(c.object_id, c.separation_arcsec,
                                                                           strict=True)])
            answers[name] = ([int(i) for i in ids], _pairs(m), cones)
        finally:
            engine.dispose()
    assert answers["sqlite"] == answers["pg-q3c"] == answers["pg-no-q3c"]
    ids, pairs, cones = answers["sqlite"]
    assert len(pairs) > 500 and all(cones[:5])  # every edge cone found sources
