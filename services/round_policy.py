"""What an active-learning round learns from, whether its model replaces the current one, and what is shown next.

Three rules, each measured with ``bench/bench_loop.py`` (issue #22):

1. **Grades weighted by how sure they are** (:func:`grade_certainty`). At a base rate of a few lenses per hundred
   images, a grader who calls 5 % of non-lenses lenses marks more false lenses than real ones on a late page, and a
   round that trains on them as positives moves its boundary into the noise. Each graded object weighs the
   posterior probability that its consensus is right, from the graders' hit and false-alarm rates (measured on
   the blind calibration items when there are enough, else the configured priors) and the lens rate of what was
   inspected (``q = h pi + f (1 - pi)`` solved for ``pi``): with a perfect grader every grade weighs 1; a lens call
   on a page where most lens calls are false alarms weighs little.
2. **A round never replaces a better model** (:func:`accept`). The current model was refitted on every known
   lens, so it cannot be scored on held-out known lenses; what is compared is the two *training recipes* on the
   same held-out objects: the new round's rows (known + every graded object) against the current model's rows
   (the same, with the objects graded since it was trained given weight 0), each cross-validated on the same
   folds of known lenses and random non-lenses (:func:`lensdb.classifiers.selection.cross_validate`). The new model
   is accepted only when its cross-validated AP is at least the current one's; otherwise the next queue is ranked
   by the current model again.
3. **What to show next is measured, not fixed** (:func:`bandit_order`): Thompson sampling over four rankings: the
   accepted probe, the previous accepted probe, the probe fused with similarity to lenses (reciprocal-rank fusion,
   as ``round_ranking = fused``), and similarity to the lenses (known and found) minus similarity to rejections.
   Each slot of the next queue goes to the ranking whose sampled lens yield is highest (a share ``explore`` of the
   slots to a ranking drawn at random); yields are counted from the consensus of the items each ranking placed on
   earlier pages. Before any page is graded the queue is the accepted probe's ranking; after, the probe's yield
   starts from a flat prior and the others' from a pessimistic one (mean 0.09), so a ranking earns its slots.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from lensdb.catalog import grading as store
from lensdb.catalog import queries
from lensdb.catalog.labels import GRADE_SOURCE

log = logging.getLogger(__name__)

ARMS = ("probe", "previous", "fused", "similar")
#: Beta prior (successes, failures) of each ranking's lens yield before any page was graded.
PRIORS = {"probe": (1.0, 1.0), "previous": (0.5, 5.0), "fused": (0.5, 5.0), "similar": (0.5, 5.0)}
#: Calibration items a grader needs before their measured rates replace the configured priors.
MIN_CALIBRATION = 10


def grade_certainty(engine, set_name: str, *, hit_rate: float, false_alarm: float) -> dict[int, float]:
    """object id -> probability that the consensus of its grades in ``set_name`` is right (see the module)."""
    with engine.connect() as conn:
        row = queries.label_set_named(conn, set_name)
        if row is None or row.source != GRADE_SOURCE:
            return {}
        grades = store.grades_of(conn, row.id, calibration=False)
        calib = {c.grader: c for c in store.calibration_rows(conn, row.id)}
        labels = queries.latest_labels(conn, [row.id])
    if not grades:
        return {}
    rates = {}
    for g in {g.grader for g in grades}:
        c = calib.get(g)
        h = float(c.hit_rate) if c is not None and c.hit_rate is not None and c.lenses_shown >= MIN_CALIBRATION \
            else hit_rate
        f = float(c.false_alarm_rate) if c is not None and c.false_alarm_rate is not None \
            and c.non_lenses_shown >= MIN_CALIBRATION else false_alarm
        rates[g] = (min(max(h, 1e-3), 1 - 1e-6), min(max(f, 1e-6), 1 - 1e-3))
    by_object: dict[int, list[tuple[str, bool]]] = {}
    for g in grades:
        by_object.setdefault(int(g.object_id), []).append((g.grader, g.grade in ("A", "B")))
    calls = np.array([np.mean([said for _, said in v]) for v in by_object.values()])
    h_mean = float(np.mean([r[0] for r in rates.values()]))
    f_mean = float(np.mean([r[1] for r in rates.values()]))
    prior = float(np.clip((calls.mean() - f_mean) / max(h_mean - f_mean, 1e-6), 1e-3, 1 - 1e-3))
    out = {}
    for oid, said in by_object.items():
        l1, l0 = prior, 1.0 - prior
        for grader, lens in said:
            h, f = rates[grader]
            l1 *= h if lens else 1.0 - h
            l0 *= f if lens else 1.0 - f
        p_lens = l1 / (l1 + l0)
        out[oid] = float(p_lens if labels.get(oid) == "lens" else 1.0 - p_lens)
    return out


@dataclass
class Decision:
    """Whether a round's model replaces the current one.

    Attributes:
        accepted: the new model ranks the next queue. model_id: the model that does (new or current).
        candidate_id, incumbent_id: the two models. ap_new, ap_current: cross-validated AP of their recipes on the
        same held-out known lenses and random non-lenses. reason: one line.
    """

    accepted: bool
    model_id: int
    candidate_id: int
    incumbent_id: int | None = None
    ap_new: float | None = None
    ap_current: float | None = None
    reason: str = ""
    graded_used: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"accepted": self.accepted, "ranked_by_model_id": self.model_id, "candidate_model_id": self.candidate_id,
                "incumbent_model_id": self.incumbent_id,
                "cv_ap_new": None if self.ap_new is None else round(self.ap_new, 5),
                "cv_ap_current": None if self.ap_current is None else round(self.ap_current, 5),
                "decision": self.reason, "graded_used": self.graded_used}


def accept(source, run, candidate_id: int, last_params: dict | None, *, memory_gb: float = 8.0,
           threads: int | None = None) -> Decision:
    """Compare a round's training recipe with the current model's (see the module) and decide.

    Args:
        source: the vectors. run: the :class:`lensdb.classifiers.training.ProbeRun` of the new round (validated
            protocol). candidate_id: its stored model. last_params: the previous round's params (None: first round).
    """
    from lensdb.classifiers.features import load_matrix
    from lensdb.classifiers.selection import cross_validate

    sets = run.sets
    graded_now = np.concatenate([getattr(sets, "graded", np.zeros(0, np.int64)),
                                 getattr(sets, "hard_negatives", np.zeros(0, np.int64))])
    used = sorted(int(o) for o in graded_now)
    incumbent = None if not last_params else last_params.get("ranked_by_model_id")
    if run.selection is None or incumbent is None:
        why = "first round" if incumbent is None else "the paper protocol has no cross-validation to compare"
        return Decision(True, candidate_id, candidate_id, incumbent, None, None, f"accepted: {why}", used)
    before = np.asarray(last_params.get("graded_used") or [], np.int64)
    new_rows = np.isin(sets.ids, graded_now) & ~np.isin(sets.ids, before)
    ap_new = run.selection.best_ap
    if not new_rows.any():
        return Decision(True, candidate_id, candidate_id, incumbent, ap_new, ap_new,
                        "accepted: no new graded objects since the current model", used)
    old_weights = np.where(new_rows, 0.0, sets.weights).astype(np.float32)
    x = load_matrix(source, sets.ids, memory_gb=memory_gb)
    try:
        old = cross_validate(x, sets.labels, old_weights, sets.eval_mask, c_grid=run.selection.c_grid,
                             folds=run.selection.folds, seed=sets.seed, threads=threads)
    finally:
        x.close()
    ap_old = old.best_ap
    if ap_new >= ap_old:
        return Decision(True, candidate_id, candidate_id, incumbent, ap_new, ap_old,
                        f"accepted: cross-validated AP {ap_new:.4f} >= current {ap_old:.4f}", used)
    log.info("round model %s rejected: cross-validated AP %.4f < current %.4f", candidate_id, ap_new, ap_old)
    return Decision(False, int(incumbent), candidate_id, incumbent, ap_new, ap_old,
                    f"rejected: cross-validated AP {ap_new:.4f} < current {ap_old:.4f}; the current model ranks",
                    [int(o) for o in before])


def neighbour_scores(engine, source, ids: np.ndarray) -> np.ndarray | None:
    """Each object's highest cosine similarity to a lens (known or consensus A/B) minus its highest similarity to an
    object graded not a lens; None when no lens has a vector."""
    with engine.connect() as conn:
        lenses = queries.labelled_ids(conn, classes=("lens",))
        rejected = queries.labelled_ids(conn, classes=("non_lens",),
                                        set_ids=queries.grading_set_ids(conn, GRADE_SOURCE))
    from lensdb.classifiers.features import fetch_present

    # the labelled objects that have vectors, with their vectors: one read by id, never a list of every stored id
    lenses, lens_vec = fetch_present(source, lenses)
    if ids.size == 0 or lenses.size == 0:
        return None
    rejected, rej_vec = fetch_present(source, np.setdiff1d(rejected, lenses))

    def nearest(block: np.ndarray, ref: np.ndarray) -> np.ndarray:
        best = np.full(len(block), -1.0, np.float32)
        for p in range(0, len(ref), 1024):
            best = np.maximum(best, (block @ ref[p:p + 1024].T).max(axis=1))
        return best

    score = np.empty(ids.size, np.float32)
    for s in range(0, ids.size, 16384):  # the ranking's vectors are read once, for both terms
        block = source.fetch(ids[s:s + 16384])
        score[s:s + len(block)] = nearest(block, lens_vec) - (nearest(block, rej_vec) if rejected.size else 0.0)
    return score


def arm_yields(engine, set_name: str) -> dict[str, tuple[int, int]]:
    """ranking -> (lenses, non-lenses) by consensus among the graded items it placed in the set's earlier queues."""
    out = {a: (0, 0) for a in ARMS}
    with engine.connect() as conn:
        row = queries.label_set_named(conn, set_name)
        if row is None:
            return out
        labels = queries.latest_labels(conn, [row.id])
        qs = store.queues(conn, set_name)
    for q in qs:
        arms = (q.params or {}).get("arms")
        if not isinstance(arms, dict):
            continue
        for oid, arm in arms.items():
            verdict = labels.get(int(oid))
            if verdict is None or arm not in out:
                continue
            s, f = out[arm]
            out[arm] = (s + (verdict == "lens"), f + (verdict != "lens"))
    return out


def bandit_order(engine, source, *, set_name: str, model_id: int | None, previous_model_id: int | None,
                 leave_out: np.ndarray, size: int, explore: float, seed: int,
                 ranking: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, str], dict]:
    """The next queue's order (object ids of ``model_id``'s stored ranking, or of ``ranking`` (ids best first) for a
    model not stored yet; ``leave_out`` removed) and the ranking that placed each item; see the module. Returns
    (ids, {object id: ranking}, the yields and slot counts)."""
    ids = queries.ranking(engine, model_id)[0] if ranking is None else np.asarray(ranking, np.int64)
    ids = ids[~np.isin(ids, leave_out)]
    lists = {"probe": ids}
    if previous_model_id is not None and previous_model_id != model_id:
        prev, _, _ = queries.ranking(engine, previous_model_id)
        lists["previous"] = prev[np.isin(prev, ids)]
    score = neighbour_scores(engine, source, ids)
    if score is not None:
        by_neighbour = np.lexsort((ids, -score))
        lists["similar"] = ids[by_neighbour]
        nrank = np.empty(ids.size, np.int64)
        nrank[by_neighbour] = np.arange(ids.size)
        fused = 1.0 / (60.0 + np.arange(ids.size)) + 1.0 / (60.0 + nrank)
        lists["fused"] = ids[np.lexsort((ids, -fused))]
    yields = arm_yields(engine, set_name)
    if not any(s + f for s, f in yields.values()):
        # Nothing measured yet: the page is the accepted probe's ranking (cross-validation chose it).
        n = min(size, ids.size)
        return ids[:n], {str(int(o)): "probe" for o in ids[:n]}, {
            "yields": {a: list(v) for a, v in yields.items()}, "slots": {"probe": int(n)}}
    rng = np.random.default_rng([seed, int(ids.size), sum(s + f for s, f in yields.values())])
    arms_live = [a for a in ARMS if a in lists]
    cursor = {a: 0 for a in arms_live}
    taken: set[int] = set()
    order: list[int] = []
    placed: list[str] = []
    n = min(size, ids.size)
    while len(order) < n:
        if rng.random() < explore:
            arm = arms_live[rng.integers(len(arms_live))]
        else:
            draws = {a: rng.beta(PRIORS[a][0] + yields[a][0], PRIORS[a][1] + yields[a][1]) for a in arms_live}
            arm = max(draws, key=draws.get)
        lst, c = lists[arm], cursor[arm]
        while c < lst.size and int(lst[c]) in taken:
            c += 1
        cursor[arm] = c
        if c >= lst.size:
            arms_live.remove(arm)
            if not arms_live:
                break
            continue
        taken.add(int(lst[c]))
        order.append(int(lst[c]))
        placed.append(arm)
    counts = {a: placed.count(a) for a in ARMS}
    return np.array(order, np.int64), dict(zip(map(str, order), placed, strict=True)), {"yields": {a: list(v) for a, v in yields.items()}, "slots": counts}
