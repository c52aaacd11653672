"""The SQL examples of catalog/SQL.md (for the README), run verbatim on PostgreSQL on a populated database."""

import re
from pathlib import Path

import numpy as np
import pytest
from catalog_testdata import (
    TRAINING_LENSES,
    brute_force_pairs,
    insert_sources,
    migrated_engine,
    offset,
    read_tsv,
)
from sqlalchemy import insert, select

from lensdb.catalog.crossmatch import cone_search
from lensdb.catalog.labels import import_labels
from lensdb.catalog.models import Label, Model, Prediction
from lensdb.core.sky import separation_arcsec

SQL_MD = Path(__file__).resolve().parents[2] / "catalog" / "SQL.md"


def sql_examples() -> dict[str, str]:
    """The ```sql blocks of SQL.md by the name in their first line (``-- example: NAME``), in file order."""
    blocks = re.findall(r"```sql\n(.*?)```", SQL_MD.read_text(), flags=re.S)
    out = {}
    for block in blocks:
        m = re.match(r"-- example: (\w+)\n", block)
        assert m, f"each SQL block in {SQL_MD.name} must start with '-- example: NAME', not:\n{block}"
        out[m.group(1)] = block
    return out


def test_every_block_is_named_and_checked():
    assert list(sql_examples()) == list(EXPECTED_ORDER)


EXPECTED_ORDER = ("known_lenses_south_bright", "top_new_candidates", "cone_search", "cone_search_portable",
                  "my_targets_table",
                  "crossmatch_my_targets", "random_non_lenses", "graded_lenses_by_consensus", "candidates_view")


@pytest.fixture
def populated(pg_url):
    """300 of the paper's training lenses (some north, some faint), neighbours, a field, a model's scores."""
    rows = read_tsv(TRAINING_LENSES)[:300]
    ra = np.array([float(r["ra"]) for r in rows])
    dec = np.array([float(r["dec"]) for r in rows])
    mag_z = np.array([float(r["mag_z"]) for r in rows])
    mag_z[::7] = 20.5  # some known lenses too faint for the first example
    survey = np.where(np.arange(300) % 5 == 3, "north", "south")
    rng = np.random.default_rng(5)
    engine = migrated_engine(pg_url)
    lens_ids = insert_sources(engine, ra, dec, survey=survey, mag_z=mag_z)
    near_ids = insert_sources(engine, *offset(ra[:30], dec[:30], 10.0, rng.uniform(0, 360, 30)))
    field_ra, field_dec = rng.uniform(0, 360, 3000), np.degrees(np.arcsin(rng.uniform(-1, 0.6, 3000)))
    # Keep the field clear of every listed lens, so that the labels are exactly the ones placed above.
    all_ra, all_dec = (np.array([float(r[k]) for r in read_tsv(TRAINING_LENSES)]) for k in ("ra", "dec"))
    crowded = {j for _, j, _ in brute_force_pairs(all_ra, all_dec, field_ra, field_dec, 60.0)}
    keep = np.array([j not in crowded for j in range(3000)])
    field_ra, field_dec = field_ra[keep], field_dec[keep]
    field_ids = insert_sources(engine, field_ra, field_dec, survey=np.where(field_dec > 32, "north", "south"),
                               mag_z=rng.uniform(17, 22, len(field_ra)))
    report = import_labels(engine, TRAINING_LENSES)
    # Entry 940 lies 2.8" from entry 120 (the same lens listed twice): a duplicate, not a second lens.
    assert (report.lens_labels, report.near_lens, report.duplicates) == (300, 30, 1)
    all_ids = np.concatenate([lens_ids, near_ids, field_ids])
    score = rng.uniform(0, 1, len(all_ids))
    score[: 300] += 0.5  # the model likes known lenses, so the top of its list must be filtered
    rank = np.empty(len(all_ids), np.int64)
    rank[np.argsort(-score)] = np.arange(1, len(all_ids) + 1)
    with engine.begin() as conn:
        model_id = conn.execute(insert(Model).values(name="probe-v1", kind="probe", version="1")
                                .returning(Model.id)).scalar_one()
        conn.execute(insert(Prediction), [
            {"model_id": model_id, "object_id": int(o), "score": float(s), "rank": int(r)}
            for o, s, r in zip(all_ids, score, rank, strict=True)])
    from lensdb.catalog.grading import GradeWrite, write_grades

    g = [int(i) for i in field_ids[field_dec > 32][:4]]  # northern field objects: not in the south-only examples
    write_grades(engine, "grades", "ann", [GradeWrite(g[0], "A"), GradeWrite(g[1], "N"), GradeWrite(g[2], "A"),
                                           GradeWrite(g[3], "A", calibration="lens")])
    write_grades(engine, "grades", "bob", [GradeWrite(g[0], "B"), GradeWrite(g[1], "B")])
    data = {"engine": engine, "lens_ids": lens_ids, "near_ids": near_ids, "survey": survey, "mag_z": mag_z,
            "all_ids": all_ids, "rank": rank, "ra": ra, "dec": dec, "graded": g}
    yield data
    engine.dispose()


def test_sql_examples_run_and_return_what_they_say(populated):
    engine = populated["engine"]
    examples = sql_examples()
    raw = engine.raw_connection()  # the examples are run as a psql user would: plain SQL, one session
    results = {}
    try:
        cur = raw.cursor()
        for name in EXPECTED_ORDER:
            cur.execute(examples[name])
            results[name] = cur.fetchall() if cur.description else None
        raw.rollback()
    finally:
        raw.close()
    lens_ids, near_ids = set(populated["lens_ids"].tolist()), set(populated["near_ids"].tolist())
    with engine.connect() as conn:
        labelled = conn.execute(select(Label.object_id).where(Label.label_class == "lens")).scalars()
        graded_lenses = {populated["graded"][0], populated["graded"][2]}  # consensus A: labels of set 'grades'
        assert set(labelled) == lens_ids | graded_lenses

    bright_south = (populated["survey"] == "south") & (populated["mag_z"] < 20)
    rows = results["known_lenses_south_bright"]
    assert {r[3] for r in rows} == set(populated["lens_ids"][bright_south].tolist())
    assert [r[8] for r in rows] == sorted(r[8] for r in rows)  # ordered by mag_z

    rows = results["top_new_candidates"]
    order = np.argsort(populated["rank"])
    expected = [int(o) for o in populated["all_ids"][order]
                if int(o) not in lens_ids | near_ids | graded_lenses][:100]
    assert [r[2] for r in rows] == expected
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)

    rows = results["cone_search"]
    cone = cone_search(engine, 17.48153, 4.160626, 60.0)
    assert [r[0] for r in rows] == cone.object_id.tolist()
    assert rows[0][0] == populated["lens_ids"][0] and rows[0][5] == "lens"
    assert {r[0] for r in rows if r[5] == "near_lens"} == {int(populated["near_ids"][0])}
    portable = results["cone_search_portable"]
    assert [r[0] for r in portable] == [r[0] for r in rows] and [r[5] for r in portable] == [r[5] for r in rows]
    np.testing.assert_allclose([r[4] for r in portable], [r[4] for r in rows], rtol=1e-6)

    assert results["my_targets_table"] is None
    rows = {r[0]: r for r in results["crossmatch_my_targets"]}
    assert rows["target-1"][1] == populated["lens_ids"][0]
    ra0, dec0 = populated["ra"][0], populated["dec"][0]
    assert rows["target-1"][5] == pytest.approx(separation_arcsec(17.4816, 4.1607, ra0, dec0), rel=1e-6)
    assert rows["target-2"][1] == populated["lens_ids"][1] and rows["target-2"][5] < 1e-6
    assert rows["empty-sky"][1:] == (None,) * 5

    rows = results["random_non_lenses"]
    assert 0 < len(rows) <= 1000
    assert not {r[0] for r in rows} & (lens_ids | near_ids)
    assert all(r[1] < 20 for r in rows)

    # A, A -> 3.0 (one grader); A, B -> 2.5; N, B -> 1.0 is not a lens; the calibration item is left out.
    rows = results["graded_lenses_by_consensus"]
    g = populated["graded"]
    assert [(r[0], r[1], float(r[5]), r[6]) for r in rows] == [(g[2], 1, 3.0, "A"), (g[0], 2, 2.5, "A")]

    assert results["candidates_view"] == results["top_new_candidates"]


def test_readme_shows_only_tested_examples():
    """The README's SQL blocks are copies of tested SQL.md blocks, so the README cannot drift."""
    readme = (SQL_MD.parents[1] / "README.md").read_text()
    shown = re.findall(r"```sql\n(.*?)```", readme, flags=re.S)
    assert len(shown) >= 2, "the README shows SQL for labels/sources joins and a cone search"
    tested = set(sql_examples().values())
    for block in shown:
        assert block in tested, f"README SQL block is not one of catalog/SQL.md's tested examples:\n{block}"


def test_portable_cone_example_runs_without_q3c(pg_noq3c_url):
    """The portable cone search of SQL.md, verbatim, on a PostgreSQL that has no q3c: the rows LensDB finds."""
    engine = migrated_engine(pg_noq3c_url)
    try:
        rng = np.random.default_rng(9)
        ra, dec = offset(17.48153, 4.160626, rng.uniform(0, 90, 200), rng.uniform(0, 360, 200))
        insert_sources(engine, ra, dec)
        raw = engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute(sql_examples()["cone_search_portable"])
            rows = cur.fetchall()
        finally:
            raw.close()
        cone = cone_search(engine, 17.48153, 4.160626, 60.0)
        assert cone.method == "healpix" and len(cone) > 50
        assert [r[0] for r in rows] == cone.object_id.tolist()
    finally:
        engine.dispose()
