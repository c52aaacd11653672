"""The grading store on SQLite and PostgreSQL: one grade per grader per object, consensus labels in step, the views,
calibration rates, agreement, queues with blind calibration items, and the migration of grades held as labels."""

import numpy as np
import pytest
from clf_helpers import add_labels, add_sources
from sqlalchemy import insert, select, text

from lensdb.catalog import grading as store
from lensdb.catalog.db import downgrade, make_engine, upgrade
from lensdb.catalog.labels import GRADE_SOURCE
from lensdb.catalog.models import Grade, Label, LabelSet
from lensdb.classifiers.grades import agreement
from lensdb.core.errors import Conflict, InvalidInput, NotFound


def test_grades_consensus_views_and_calibration(engine):
    ids = [int(i) for i in add_sources(engine, 20)]
    W = store.GradeWrite
    assert store.write_grades(engine, "grades", "ann", [W(ids[0], "A"), W(ids[1], "B"), W(ids[2], "N"),
                                                        W(ids[3], "A", calibration="lens"),
                                                        W(ids[4], "B", calibration="non_lens")]) == (5, 0)
    assert store.write_grades(engine, "grades", "bob", [W(ids[0], "B"), W(ids[1], "N"), W(ids[2], "N"),
                                                        W(ids[3], "N", calibration="lens")]) == (4, 0)
    # bob changes his mind on ids[1]: only his own grade is replaced.
    assert store.write_grades(engine, "grades", "bob", [W(ids[1], "B")]) == (1, 1)
    set_id = store.set_id_of(engine, "grades")
    consensus = {int(r.object_id): (r.n_graders, float(r.mean_points), r.consensus)
                 for r in store.consensus_rows(engine, set_id)}
    assert consensus == {ids[0]: (2, 2.5, "A"), ids[1]: (2, 2.0, "B"), ids[2]: (2, 0.0, "N")}
    with engine.connect() as conn:
        labels = {int(o): (c, g) for o, c, g in conn.execute(select(Label.object_id, Label.label_class, Label.grade)
                                                           .where(Label.label_set_id == set_id))}
    assert labels == {ids[0]: ("lens", "A"), ids[1]: ("lens", "B"), ids[2]: ("non_lens", None)}
    cal = {r.grader: (r.lenses_shown, r.hits, r.hit_rate, r.non_lenses_shown, r.false_alarms, r.false_alarm_rate)
           for r in store.calibration_rows(engine, set_id)}
    assert cal == {"ann": (1, 1, 1.0, 1, 1, 1.0), "bob": (1, 0, 0.0, 0, 0, None)}
    # Undo: ann's grade of ids[0] goes, the consensus follows (bob's B alone).
    assert store.delete_grade(engine, "grades", "ann", ids[0])
    with engine.connect() as conn:
        assert conn.execute(select(Label.grade).where(Label.object_id == ids[0])).scalar_one() == "B"
        # The views join with the catalogue in plain SQL.
        joined = conn.execute(text("SELECT s.ra, c.consensus FROM grade_consensus c JOIN sources s "
                                   "ON s.object_id = c.object_id ORDER BY c.object_id")).all()
    assert len(joined) == 3


def test_bad_writes_change_nothing(engine):
    ids = [int(i) for i in add_sources(engine, 5)]
    add_labels(engine, "known", lenses=ids[:2])
    with pytest.raises(NotFound, match="not in the catalogue"):
        store.write_grades(engine, "grades", "ann", [store.GradeWrite(ids[0], "A"), store.GradeWrite(999, "A")])
    store.write_grades(engine, "grades", "ann", [store.GradeWrite(ids[0], "A")])
    with engine.begin() as conn:  # a list imported under a grading name before such names were reserved
        conn.execute(insert(LabelSet).values(name="grades-legacy", source="old.tsv sha256:0"))
    with pytest.raises(Conflict, match="not a grading set"):
        store.write_grades(engine, "grades-legacy", "ann", [store.GradeWrite(ids[1], "A")])
    with pytest.raises(InvalidInput, match="grading sets are named"):
        store.write_grades(engine, "mine", "ann", [store.GradeWrite(ids[0], "A")])
    with pytest.raises(InvalidInput, match="thresholds"):
        store.Thresholds(1.0, 2.0)
    with engine.connect() as conn:
        assert conn.execute(select(Grade.object_id)).scalars().all() == [ids[0]]


def test_queue_mixes_calibration_items_in_seeded_places(engine):
    ids = [int(i) for i in add_sources(engine, 50)]
    qid = store.create_queue(engine, "grades", name="q", kind="random", object_ids=ids[:20],
                             calibration={ids[40]: "lens", ids[41]: "non_lens"}, created_by="ann", seed=3)
    items = store.queue_items(engine, qid, 0, 100)
    assert [r.position for r in items] == list(range(22))
    assert {int(r.object_id) for r in items if r.calibration} == {ids[40], ids[41]}
    assert [int(r.object_id) for r in items if not r.calibration] == ids[:20]
    store.set_cursor(engine, qid, "ann", 5)
    assert store.cursor(engine, qid, "ann") == 5 and store.cursor(engine, qid, "bob") == 0
    passed = {int(r.object_id) for r in items[:5]}
    assert set(store.seen_ids(engine, store.set_id_of(engine, "grades")).tolist()) == passed


def test_agreement_statistics():
    rows = [(1, "a", "A"), (1, "b", "A"), (2, "a", "N"), (2, "b", "N"), (3, "a", "A"), (3, "b", "B"),
            (4, "a", "N")]
    agree = agreement(rows)
    assert agree.n_objects == 3 and agree.observed == pytest.approx(2 / 3)
    assert agree.lens_agreement == pytest.approx(1.0)
    n, share, kappa = agree.pairs[("a", "b")]
    assert n == 3 and share == pytest.approx(2 / 3) and kappa == pytest.approx(0.5)
    # Perfect agreement gives kappa 1; no object graded twice gives no kappa.
    assert agreement([(1, "a", "A"), (1, "b", "A"), (2, "a", "N"), (2, "b", "N")]).fleiss_kappa == pytest.approx(1)
    assert agreement([(1, "a", "A")]).fleiss_kappa is None


def test_migration_turns_grade_labels_into_grades(db_url):
    upgrade(db_url, "0003")
    engine = make_engine(db_url)
    ids = [1001, 1002, 1003, 1004]
    with engine.begin() as conn:  # rows as revision 0003 wrote them (plain SQL: today's models have more columns)
        conn.execute(text("INSERT INTO shards (name, path, fingerprint, n_rows, cutout, image_dtype, ingested_at) "
                          "VALUES ('old-shard', '/dev/null', :f, 4, 64, 'float32', CURRENT_TIMESTAMP)"), {"f": "0" * 64})
        for i, oid in enumerate(ids):
            conn.execute(text(
                'INSERT INTO sources (object_id, release, brickid, objid, survey, ra, dec, ebv, psfsize_g, '
                'psfsize_r, psfsize_z, psfdepth_g, psfdepth_r, psfdepth_z, source_type, shard_id, "row") VALUES '
                "(:o, 9010, 1, :o, 'south', :r, -30, 0, 1, 1, 1, 1, 1, 1, 'SER', "
                "(SELECT id FROM shards WHERE name = 'old-shard'), :i)"), {"o": oid, "r": 10.0 + i, "i": i})
    with engine.begin() as conn:
        sid = conn.execute(insert(LabelSet).values(name="grades", source=GRADE_SOURCE).returning(LabelSet.id)
                           ).scalar_one()
        conn.execute(insert(Label), [
            {"label_set_id": sid, "object_id": ids[0], "class": "lens", "grade": "A", "author": "old"},
            {"label_set_id": sid, "object_id": ids[1], "class": "non_lens", "grade": None, "author": None}])
    upgrade(db_url)
    with engine.connect() as conn:
        rows = conn.execute(select(Grade.object_id, Grade.grader, Grade.grade).order_by(Grade.object_id)).all()
    assert [tuple(r) for r in rows] == [(ids[0], "old", "A"), (ids[1], "unknown", "N")]
    downgrade(db_url, "0003")
    with engine.connect() as conn:
        assert conn.execute(select(Label.object_id).order_by(Label.object_id)).scalars().all() == ids[:2]
    engine.dispose()
    assert np.all(np.array(ids) > 0)


def test_a_rounds_fused_order_lifts_look_alikes_of_lenses_and_sinks_those_of_rejected(sqlite_engine, tmp_path):
    """Reciprocal-rank fusion of the probe's ranking with the nearest labelled neighbour: an object close to a
    (found) lens rises, one close to an object the graders rejected sinks."""
    from lensdb.catalog.models import Prediction
    from lensdb.classifiers.features import ArrayFeatures
    from lensdb.classifiers.registry import save_model
    from lensdb.core.config import load_settings
    from lensdb.services import Services
    from lensdb.services.config import ServiceConfig

    engine = sqlite_engine
    ids = add_sources(engine, 40)
    rng = np.random.default_rng(1)
    vec = rng.standard_normal((40, 8)).astype(np.float32)
    vec[30] = vec[0] + 0.01 * rng.standard_normal(8)   # 30 looks like the known lens 0
    vec[31] = vec[1] + 0.01 * rng.standard_normal(8)   # 31 looks like 1, which the graders rejected
    add_labels(engine, "known", lenses=[ids[0]])
    store.write_grades(engine, "grades", "ann", [store.GradeWrite(int(ids[1]), "N")])
    model = save_model(engine, kind="probe", name="p", encoder_version="v", params={}, metrics={},
                       training_set={}, weights=np.zeros(8, np.float32), bias=0.0)
    order = list(range(2, 40))  # the probe ranks 2..39 in order: 30 and 31 near the bottom, side by side
    with engine.begin() as conn:
        conn.execute(insert(Prediction), [{"model_id": model.id, "object_id": int(ids[i]), "score": 1.0 - r / 100,
                                           "rank": r + 1} for r, i in enumerate(order)])
    url = str(engine.url)
    with Services.open(load_settings(env={}, data_dir=str(tmp_path), database_url=url),
                       ServiceConfig(encoder_version="v")) as services:
        fused = services.grading._fused_order(ArrayFeatures(ids, vec, "v"), model.id).tolist()
    assert sorted(fused) == sorted(int(ids[i]) for i in order)
    assert fused.index(int(ids[30])) < order.index(30) - 5  # lifted
    assert fused.index(int(ids[31])) > fused.index(int(ids[30]))  # the look-alike of a rejected object sinks
    assert fused.index(int(ids[31])) >= order.index(31)  # not lifted: its nearest labelled neighbour was rejected
