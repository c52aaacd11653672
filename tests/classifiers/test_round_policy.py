"""Active-learning rounds that never lose: a round never replaces a better model, grades weigh how sure they are,
and the next queue's slots go to the rankings that found lenses (services/round_policy.py)."""

import numpy as np
import pytest
from clf_helpers import add_labels, add_sources, lens_vectors
from sqlalchemy import insert

from lensdb.catalog import grading as store
from lensdb.classifiers.features import ArrayFeatures
from lensdb.core.config import load_settings
from lensdb.services import Services, round_policy
from lensdb.services.config import ServiceConfig


def _services(engine, tmp_path):
    return Services.open(load_settings(env={}, data_dir=str(tmp_path), database_url=str(engine.url)),
                         ServiceConfig(encoder_version="v"))


def _world(engine, n=1500, n_lens=60, dim=16):
    ids = add_sources(engine, n)
    mask = np.zeros(n, bool)
    mask[:n_lens] = True
    add_labels(engine, "known", lenses=ids[:n_lens // 2])  # half the lenses known, half hidden
    return ids, mask, ArrayFeatures(ids, lens_vectors(n, mask, dim, strength=3.0), "v")


def test_a_round_never_replaces_a_better_model(sqlite_engine, tmp_path):
    """Constructed case: after round 1, a careless grader calls 150 plain non-lenses lenses (and the round is told
    to trust every grade). The new round's recipe ranks the held-out known lenses worse, so its model is kept out:
    the next queue is ranked by round 1's model, and the round says why."""
    engine = sqlite_engine
    ids, mask, source = _world(engine)
    with _services(engine, tmp_path) as services:
        g = services.grading
        g.config = g.config.__class__(label_set="grades-t", calibration_share=0.0, queue_size=200,
                                      round_score_n=1500, round_ratio=20, round_certainty=False)
        kw = {"features": source, "size": 200, "survey": None, "mag_z_max": None}
        r1 = g.run_round(grader="t", label_set="grades-t", **kw)
        assert r1["accepted"] is True and r1["ranked_by_model_id"] == r1["candidate_model_id"]
        assert r1["decision"].startswith("accepted: first round")
        wrong = [store.GradeWrite(int(o), "A") for o in ids[~mask][100:250]]  # non-lenses called lenses
        store.write_grades(engine, "grades-t", "careless", wrong)
        r2 = g.run_round(grader="t", label_set="grades-t", **kw)
        assert r2["accepted"] is False, r2["decision"]
        assert r2["cv_ap_new"] < r2["cv_ap_current"]
        assert r2["ranked_by_model_id"] == r1["ranked_by_model_id"] != r2["candidate_model_id"]
        assert "rejected" in r2["decision"]
        assert g.queue(r2["queue"]).model_id == r1["ranked_by_model_id"]
        # Correct grades of hidden lenses do not make the recipe worse here: that round is accepted.
        store.write_grades(engine, "grades-t", "careless", [store.GradeWrite(int(o), "N") for o in ids[~mask][100:250]])
        store.write_grades(engine, "grades-t", "careful", [store.GradeWrite(int(o), "A") for o in ids[30:45]])
        r3 = g.run_round(grader="t", label_set="grades-t", **kw)
        assert r3["cv_ap_current"] is not None and r3["graded_used"] == 150 + 15
        with engine.connect() as conn:
            stored = store.rounds(conn, store.set_id_of(conn, "grades-t"))[-1].params
        assert len(stored["graded_used"]) == 165 and stored["accepted"] == r3["accepted"]


def test_grades_weigh_the_probability_that_their_consensus_is_right(sqlite_engine):
    engine = sqlite_engine
    ids = add_sources(engine, 200)
    # 100 objects inspected: 10 called lenses, 90 not.
    store.write_grades(engine, "grades-w", "ann", [store.GradeWrite(int(o), "A" if i < 10 else "N")
                                                   for i, o in enumerate(ids[:100])])
    perfect = round_policy.grade_certainty(engine, "grades-w", hit_rate=1.0, false_alarm=0.0)
    assert len(perfect) == 100 and min(perfect.values()) == pytest.approx(1.0, abs=1e-4)
    sure = round_policy.grade_certainty(engine, "grades-w", hit_rate=0.95, false_alarm=0.05)
    # q = 0.10 = 0.95 pi + 0.05 (1 - pi): pi = 0.0556; a lens call is right with 0.95 pi / (0.95 pi + 0.05 (1 - pi)).
    pi = (0.10 - 0.05) / 0.90
    assert sure[int(ids[0])] == pytest.approx(0.95 * pi / (0.95 * pi + 0.05 * (1 - pi)), rel=1e-4)
    assert sure[int(ids[50])] > 0.99  # a "not a lens" is almost surely right at this base rate
    # A second grader who agrees makes the call surer.
    store.write_grades(engine, "grades-w", "bob", [store.GradeWrite(int(ids[0]), "B")])
    assert round_policy.grade_certainty(engine, "grades-w", hit_rate=0.95,
                                        false_alarm=0.05)[int(ids[0])] > sure[int(ids[0])]
    assert round_policy.grade_certainty(engine, "grades-none", hit_rate=0.95, false_alarm=0.05) == {}


def test_the_bandit_gives_the_slots_to_the_ranking_that_found_lenses(sqlite_engine):
    """A queue whose 'similar' items were lenses and whose 'probe' items were not: the next order's first page
    is mostly the similarity ranking's; with no history it is the probe's ranking."""
    from lensdb.catalog.models import Prediction
    from lensdb.classifiers.registry import save_model

    engine = sqlite_engine
    n = 400
    ids = add_sources(engine, n)
    rng = np.random.default_rng(3)
    vec = rng.standard_normal((n, 8)).astype(np.float32)
    add_labels(engine, "known", lenses=ids[:5])
    source = ArrayFeatures(ids, vec, "v")
    model = save_model(engine, kind="probe", name="p", encoder_version="v", params={}, metrics={}, training_set={},
                       weights=np.ones(8, np.float32), bias=0.0)
    with engine.begin() as conn:
        conn.execute(insert(Prediction), [{"model_id": model.id, "object_id": int(o), "score": 1 - r / 1000,
                                           "rank": r + 1} for r, o in enumerate(ids[5:])])
    leave = ids[:5]
    order, arms, info = round_policy.bandit_order(engine, source, set_name="grades-b", model_id=model.id,
                                                  previous_model_id=None, leave_out=leave, size=100, explore=0.0,
                                                  seed=0)
    assert set(arms.values()) == {"probe"} and list(order) == list(ids[5:105])  # no history: the probe's ranking
    assert list(order[:100]) == sorted(set(order[:100].tolist()), key=order.tolist().index)  # no repeats
    history = {str(int(o)): ("similar" if i < 40 else "probe") for i, o in enumerate(ids[100:180])}
    store.create_queue(engine, "grades-b", name="q", kind="round", object_ids=ids[100:180].tolist(),
                       params={"arms": history})
    store.write_grades(engine, "grades-b", "ann", [store.GradeWrite(int(o), "A" if i < 30 else "N")
                                                   for i, o in enumerate(ids[100:180])])
    leave = np.concatenate([ids[:5], ids[100:180]])
    order, arms, info = round_policy.bandit_order(engine, source, set_name="grades-b", model_id=model.id,
                                                  previous_model_id=None, leave_out=leave, size=100, explore=0.1,
                                                  seed=0)
    assert info["yields"]["similar"] == [30, 10] and info["yields"]["probe"] == [0, 40]
    first = [arms[str(o)] for o in order[:50]]
    assert first.count("similar") + first.count("fused") > 35
    assert not set(order.tolist()) & set(leave.tolist())
