"""The skill model (Space Warps' SWAP, ``services/swap.py``) on simulated graders of known skills: it recovers
their skills from blind calibration items, beats the plain mean's accuracy on the truth, and the SQL views
``grader_skill`` / ``swap_evidence`` give the same numbers as the Python model, on SQLite and PostgreSQL."""

import math

import numpy as np
from clf_helpers import add_sources

from lensdb.catalog import grading as store
from lensdb.services import swap

#: (hit rate, false-alarm rate) of three simulated graders, as in the issue.
GRADERS = {"good": (0.9, 0.01), "fair": (0.7, 0.05), "poor": (0.5, 0.10)}


def _campaign(engine, n_cal: int, n_obj: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    ids = [int(i) for i in add_sources(engine, n_cal + n_obj, seed=seed)]
    cal_truth = {o: ("lens" if k % 2 else "non_lens") for k, o in enumerate(ids[:n_cal])}
    truth = {o: bool(rng.random() < 0.3) for o in ids[n_cal:]}
    for name, (hit, fa) in GRADERS.items():
        writes = []
        for o, t in cal_truth.items():
            says = rng.random() < (hit if t == "lens" else fa)
            writes.append(store.GradeWrite(o, "A" if says else "N", calibration=t))
        for o, t in truth.items():
            says = rng.random() < (hit if t else fa)
            writes.append(store.GradeWrite(o, ("A" if rng.random() < 0.6 else "B") if says else "N"))
        store.write_grades(engine, "grades-sim", name, writes)
    return truth


def test_skills_recovered_and_better_than_the_plain_mean(sqlite_engine):
    truth = _campaign(sqlite_engine, n_cal=400, n_obj=1500)
    set_id = store.set_id_of(sqlite_engine, "grades-sim")
    cal = store.calibration_rows(sqlite_engine, set_id)
    skills = {c.grader: swap.skill(c.grader, c.lenses_shown, c.hits, c.non_lenses_shown, c.false_alarms)
              for c in cal}
    for name, (hit, fa) in GRADERS.items():
        assert abs(skills[name].p_lens - hit) < 0.07, (name, skills[name])
        assert abs((1 - skills[name].p_non) - fa) < 0.04, (name, skills[name])
    grades = store.grades_of(sqlite_engine, set_id, calibration=False)
    states = swap.posteriors(((g.object_id, g.grader, g.grade) for g in grades), skills, 0.3, 0.01, 0.99)
    consensus = {int(r.object_id): r.consensus for r in store.consensus_rows(sqlite_engine, set_id)}
    acc_mean = np.mean([(consensus[o] in ("A", "B")) == t for o, t in truth.items()])
    acc_swap = np.mean([(states[o].probability >= 0.5) == t for o, t in truth.items()])
    assert acc_swap > acc_mean, (acc_swap, acc_mean)
    # Retirement: most non-lenses, called "not" by all three, settle as not; settled objects are nearly all right.
    settled = {o: s.status for o, s in states.items() if s.status != "open"}
    assert sum(v == "not" for v in settled.values()) > 0.5 * sum(not t for t in truth.values())
    assert np.mean([(v == "lens") == truth[o] for o, v in settled.items()]) > 0.97


def test_one_grade_at_a_time_matches_bayes():
    s = swap.skill("x", 8, 7, 10, 1)  # p_lens 0.8, p_non 0.833
    p0 = 0.05
    p = p0 * s.p_lens / (p0 * s.p_lens + (1 - p0) * (1 - s.p_non))  # says lens
    p = p * (1 - s.p_lens) / (p * (1 - s.p_lens) + (1 - p) * s.p_non)  # then says not
    got = swap.posteriors([(1, "x", "A"), (1, "x", "N")], {"x": s}, p0, 1e-3, 0.99)[1]
    assert math.isclose(got.probability, p, rel_tol=1e-12) and got.n_grades == 2 and got.status == "open"
    # A grader without calibration carries no weight.
    assert math.isclose(swap.posteriors([(2, "new", "A")], {}, p0, 1e-3, 0.99)[2].probability, p0)


def test_sql_views_agree_with_the_model(engine):
    _campaign(engine, n_cal=40, n_obj=60, seed=3)
    set_id = store.set_id_of(engine, "grades-sim")
    cal = store.calibration_rows(engine, set_id)
    skills = {c.grader: swap.skill(c.grader, c.lenses_shown, c.hits, c.non_lenses_shown, c.false_alarms)
              for c in cal}
    view = {r.grader: (float(r.p_lens), float(r.p_non)) for r in store.skill_rows(engine, set_id)}
    assert set(view) == set(GRADERS)
    for name, (pl, pn) in view.items():
        assert math.isclose(pl, skills[name].p_lens, rel_tol=1e-9) and math.isclose(pn, skills[name].p_non,
                                                                                      rel_tol=1e-9)
    grades = store.grades_of(engine, set_id, calibration=False)
    states = swap.posteriors(((g.object_id, g.grader, g.grade) for g in grades), skills, 0.05, 1e-3, 0.99)
    for r in store.swap_evidence_rows(engine, set_id):
        p = swap.probability(swap.logit(0.05) + float(r.log_likelihood_ratio))
        assert math.isclose(p, states[int(r.object_id)].probability, rel_tol=1e-9, abs_tol=1e-12)
        assert int(r.n_grades) == states[int(r.object_id)].n_grades
