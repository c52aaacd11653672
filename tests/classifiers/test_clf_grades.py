"""Grades: recorded with author, time and model; re-grading replaces; the next training uses them."""

import numpy as np
import pytest
from clf_helpers import add_labels, add_sources
from sqlalchemy import select

from lensdb.catalog.models import Grade, Label, LabelSet
from lensdb.classifiers.grades import read_grade_file, record_grades
from lensdb.classifiers.registry import save_model
from lensdb.classifiers.sampling import build_sets, load_pools
from lensdb.core.errors import InvalidInput, NotFound


def test_grades_are_recorded_and_feed_the_next_training(engine):
    ids = add_sources(engine, 1000)
    add_labels(engine, "known", lenses=ids[:20])
    model = save_model(engine, kind="probe", name="m1", encoder_version="e", params={}, metrics={}, training_set={},
                       weights=np.ones(4), bias=0.0)
    new_lens, new_b, false_pos = int(ids[500]), int(ids[501]), [int(i) for i in ids[600:610]]
    rep = record_grades(engine, [(new_lens, "A"), (new_b, "b"), *[(o, "not_lens") for o in false_pos]],
                        author="gs", model="m1")
    assert (rep.grade_a, rep.grade_b, rep.not_lens, rep.replaced) == (1, 1, 10, 0)
    with engine.connect() as conn:
        cls = Label.label_class.label("label_class")
        rows = conn.execute(select(Label.object_id, cls, Label.grade, Label.author, Label.model_id, Label.created_at)
                            .order_by(Label.object_id)).all()
        sources = conn.execute(select(LabelSet.source).where(LabelSet.name == "grades")).scalar_one()
    graded = [r for r in rows if r.author == "gs"]
    assert len(graded) == 12 and all(r.model_id == model.id and r.created_at is not None for r in graded)
    assert {(r.object_id, r.label_class, r.grade) for r in graded if r.label_class == "lens"} == {
        (new_lens, "lens", "A"), (new_b, "lens", "B")}
    assert sources == "lensdb grade"

    sets = build_sets(load_pools(engine), ratios=(1, 10), val_ratio=10, seed=0)
    assert {new_lens, new_b} <= set(sets.train_pos.tolist())  # new lenses train, never validate
    assert not {new_lens, new_b} & set(sets.val_pos.tolist())
    assert set(sets.hard_negatives.tolist()) == set(false_pos)
    for ratio in (1, 10):
        tr, y = sets.train(ratio)
        assert set(false_pos) <= set(tr[y == 0].tolist())
    drawn = set(sets.val_neg.tolist()) | set(sets.neg_pool.tolist())
    assert not drawn & ({new_lens, new_b} | set(false_pos))
    without = build_sets(load_pools(engine, use_grades=False), ratios=(1,), val_ratio=10)
    assert len(without.train_pos) == 14 and len(without.hard_negatives) == 0

    # A second grader's B is kept beside the first grader's "not": the consensus (mean 1.0) stays "not a lens".
    other = record_grades(engine, [(false_pos[0], "B")], author="tm")
    assert other.replaced == 0
    assert false_pos[0] in load_pools(engine).hard_negatives
    # A third grader's A lifts the mean to 5/3 (>= 1.5): a B lens by consensus.
    record_grades(engine, [(false_pos[0], "A")], author="third")
    pools = load_pools(engine)
    assert false_pos[0] in pools.graded_lenses and false_pos[0] not in pools.hard_negatives
    # The first grader changes their mind: only their own grade is replaced (mean 8/3: A).
    again = record_grades(engine, [(false_pos[0], "A")], author="gs")
    assert again.replaced == 1
    with engine.connect() as conn:
        grades = conn.execute(select(Grade.grader, Grade.grade).where(Grade.object_id == false_pos[0])).all()
        label = conn.execute(select(Label.grade, Label.author).where(Label.object_id == false_pos[0])).one()
    assert sorted(grades) == [("gs", "A"), ("third", "A"), ("tm", "B")]
    assert label == ("A", "consensus of 3 graders")


def test_sources_near_a_graded_lens_are_not_drawn(engine):
    ids = add_sources(engine, 300)
    add_labels(engine, "known", lenses=ids[:6])
    target = ids[100]  # on the helper's grid: ra 110, dec -60 degrees
    near = add_sources(engine, 3, ra=110.0, dec=-60.0 + np.array([5, 10, 40]) / 3600.0)
    record_grades(engine, [(int(target), "A")], author="x")
    pools = load_pools(engine)
    # Within 25.2 arcsec of the graded lens: the first two; the third (40 arcsec) stays eligible.
    assert not set(near[:2].tolist()) & set(pools.candidates.tolist())
    assert int(near[2]) in set(pools.candidates.tolist())


def test_bad_grades_are_refused(sqlite_engine, tmp_path):
    ids = add_sources(sqlite_engine, 10)
    add_labels(sqlite_engine, "known", lenses=ids[:2])
    with pytest.raises(InvalidInput, match="not A, B or not_lens"):
        record_grades(sqlite_engine, [(int(ids[0]), "maybe")], author="x")
    with pytest.raises(NotFound, match="not in the catalogue"):
        record_grades(sqlite_engine, [(123, "A")], author="x")
    with pytest.raises(NotFound, match="unknown model"):
        record_grades(sqlite_engine, [(int(ids[0]), "A")], author="x", model="nope")
    with pytest.raises(InvalidInput, match="grading sets are named 'grades'"):
        record_grades(sqlite_engine, [(int(ids[0]), "A")], author="x", label_set="known")
    with pytest.raises(InvalidInput, match="twice"):
        record_grades(sqlite_engine, [(int(ids[0]), "A"), (int(ids[0]), "no")], author="x")
    path = tmp_path / "top.tsv"
    path.write_text(f"rank\tobject_id\tgrade\n1\t{ids[3]}\tA\n2\t{ids[4]}\t\n3\t{ids[5]}\tno\n")
    assert read_grade_file(path) == [(int(ids[3]), "A"), (int(ids[5]), "no")]
    path.write_text("rank\tgrade\n1\tA\n")
    with pytest.raises(InvalidInput, match="object_id"):
        read_grade_file(path)
