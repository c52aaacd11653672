"""Grading campaigns: queues to inspect, pages of stamps, one grader's grades, consensus, agreement, calibration,
and active-learning rounds. The inspection page (:mod:`lensdb.web`) and ``lensdb grade`` both call this.

A *queue* is a frozen, ordered list of objects (a probe's ranking with known lenses and already-inspected objects
left out, a similarity search from one or several objects, a label set, or a random control sample), with a
configurable share of blind calibration items mixed in: known lenses (``lens`` labels of the lens lists) and known
non-lenses (``non_lens`` labels of hand-made sets, else random sources with no label near them, which at the sky's
rate of about one lens in 10,000 are non-lenses). The page never learns which items are calibration items; their
grades give each grader's hit rate and false-alarm rate (as Space Warps does).

An *active-learning round* retrains the probe on the known lenses plus the consensus A/B lenses as positives and
the consensus non-lenses as hard negatives (with random negatives, the paper's protocol), rescores the survey,
records the model and its predictions, and opens the next queue without anything already inspected; the previous
queue is marked superseded, so its pages say they are stale.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from lensdb.catalog import grading as store
from lensdb.catalog import queries
from lensdb.catalog.labels import GRADE_SOURCE, check_grading_name
from lensdb.core.config import ConfigError, Settings, load_section
from lensdb.core.errors import Conflict, InvalidInput, LensDBError, NotFound
from lensdb.services import round_policy, validate
from lensdb.services.backends import Backends
from lensdb.services.errors import as_domain
from lensdb.services.types import Examples, SimilarQuery, optional_mag

log = logging.getLogger(__name__)

#: The grading set of training queues (graded with feedback; apart from every campaign's set).
TRAINING_SET = "grades-training"
#: Flags a grader may add to a grade (with a note): an artefact, an interesting non-lens, needs discussion.
GRADE_FLAGS = ("artefact", "interesting", "discuss")
#: Keys of a grade as the page and the API send them; ``skip`` moves on without grading.
GRADE_KEYS = {"A": "A", "B": "B", "N": "N", "NOT": "N", "NOT_LENS": "N", "SKIP": None}


@dataclass(frozen=True)
class GradingConfig:
    """The ``[grading]`` section.

    Attributes:
        label_set: default grading set (``grades`` or ``grades-<campaign>``).
        page_rows, page_cols: stamps per page (rows x columns; 5 x 20 by default).
        queue_size: objects in a new queue (before calibration items are added).
        calibration_share: share of a queue's items that are blind calibration items (0 = none).
        calibration_lens_fraction: of those, the share that are known lenses (the rest known non-lenses).
        consensus_a, consensus_b: thresholds on the mean points (A = 3, B = 2, not = 0).
        similar_k: neighbours per seed object of a similarity queue.
        round_score_n: how many of the survey a round ranks (the queue is drawn from them).
        round_ratio: non-lenses per lens of a round's probe training (random sources, as the paper draws them).
        round_val_ratio: non-lenses per lens of a round's validation set (model selection by TP@N; the paper's
            1:10,000 would fetch ~10,000 vectors per held-out lens at every round).
        round_epochs: LBFGS epochs of a round's probe (early stopping on TP@N still applies).
        swap_prior: the skill model's prior probability that an object of a queue is a lens (SWAP).
        swap_retire_below, swap_retire_above: an object whose skill-weighted lens probability falls under / passes
            these is settled (retired): pages mark it and the grid passes over it, so graders' time goes to the
            uncertain ones.
        round_ranking: ``fused`` (the default): the retrained probe's top ``round_score_n`` re-ordered by
            reciprocal-rank fusion of the probe's rank and each object's rank by its highest cosine similarity to
            a lens (known or graded A/B), so that objects like the lenses just found come up next, as a grader
            would search "more like this one"; ``probe``: the probe's ranking alone; ``bandit``: each slot of the
            queue from the ranking (probe, previous probe, fused, similarity) whose lens yield on earlier pages is
            sampled highest (:mod:`lensdb.services.round_policy`).
        round_accept: a round's model replaces the current one only when its training recipe's cross-validated
            AP on the known lenses is at least the current one's (:func:`lensdb.services.round_policy.accept`).
        round_certainty: weigh graded objects by the probability that their consensus is right.
        grader_hit_rate, grader_false_alarm: a grader's rates assumed until the blind calibration items measure
            them (10 of each kind).
        bandit_explore: share of a bandit queue's slots given to a ranking drawn at random.
    """

    label_set: str = "grades"
    page_rows: int = 5
    page_cols: int = 20
    queue_size: int = 1000
    calibration_share: float = 0.05
    calibration_lens_fraction: float = 0.5
    consensus_a: float = 2.5
    consensus_b: float = 1.5
    similar_k: int = 200
    round_score_n: int = 5000
    round_ratio: int = 100
    round_val_ratio: int = 100
    round_epochs: int = 20
    round_ranking: str = "bandit"
    round_accept: bool = True
    round_certainty: bool = True
    grader_hit_rate: float = 0.95
    grader_false_alarm: float = 0.05
    bandit_explore: float = 0.1
    swap_prior: float = 0.05
    swap_retire_below: float = 0.001
    swap_retire_above: float = 0.99

    def __post_init__(self) -> None:
        check_grading_name(self.label_set)
        if not 0.0 <= self.calibration_share < 1.0 or not 0.0 <= self.calibration_lens_fraction <= 1.0:
            raise ConfigError("[grading] calibration_share must lie in [0, 1) and calibration_lens_fraction in [0, 1]")
        for name in ("page_rows", "page_cols", "queue_size", "similar_k", "round_score_n", "round_ratio",
                     "round_val_ratio", "round_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[grading] {name} must be >= 1; got {getattr(self, name)}")
        store.Thresholds(self.consensus_a, self.consensus_b)
        if not 0.0 < self.swap_retire_below < self.swap_prior < self.swap_retire_above < 1.0:
            raise ConfigError("[grading] need 0 < swap_retire_below < swap_prior < swap_retire_above < 1")
        if self.round_ranking not in ("fused", "probe", "bandit"):
            raise ConfigError(f"[grading] round_ranking must be bandit, fused or probe; got {self.round_ranking!r}")
        if not (0.0 < self.grader_hit_rate <= 1.0 and 0.0 <= self.grader_false_alarm < 1.0
                and 0.0 <= self.bandit_explore <= 1.0):
            raise ConfigError("[grading] grader_hit_rate in (0, 1], grader_false_alarm in [0, 1), bandit_explore in "
                              "[0, 1]")

    @property
    def page_size(self) -> int:
        return self.page_rows * self.page_cols

    @property
    def thresholds(self) -> store.Thresholds:
        return store.Thresholds(self.consensus_a, self.consensus_b)

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides) -> GradingConfig:
        return load_section(cls, settings, "grading", **overrides)


@dataclass(frozen=True)
class QueueInfo:
    id: int
    label_set: str
    name: str
    kind: str
    n_items: int
    round: int | None
    model_id: int | None
    superseded_by: int | None
    created_by: str | None
    created_at: object
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PageItem:
    """One stamp of a page: the object, its ranking (``None`` until the grader has graded it, so that calibration
    items, which have none, look like every other item; ``None`` for unranked queues), and the grader's own grade
    of it."""

    position: int
    object_id: int
    ra: float
    dec: float
    survey: str
    mag_g: float | None
    mag_r: float | None
    mag_z: float | None
    source_type: str
    score: float | None
    rank: int | None
    my_grade: str | None
    retired: str | None = None  # "lens" / "not": settled by the skill model (SWAP) before this grader saw it


@dataclass(frozen=True)
class Page:
    queue: QueueInfo
    page: int
    n_pages: int
    page_size: int
    cursor: int
    items: list[PageItem]

    @property
    def stale(self) -> bool:
        return self.queue.superseded_by is not None


@dataclass(frozen=True)
class GradeResult:
    object_id: int
    grade: str | None
    replaced: bool
    cursor: int
    stale: bool
    next_queue: int | None
    feedback: str | None = None  # training queues only: what the object was


def _info(row) -> QueueInfo:
    return QueueInfo(int(row.id), row.label_set, row.name, row.kind, int(row.n_items), row.round, row.model_id,
                     row.superseded_by, row.created_by, row.created_at, dict(row.params or {}))


@dataclass(frozen=True)
class _QueuePlan:
    """A queue before it is written: its set, kind, title, objects (with scores and ranks of a ranking) and
    calibration items (object id -> truth)."""

    label_set: str
    kind: str
    title: str
    ids: list[int]
    scores: list[float] | None
    ranks: list[int] | None
    calibration: dict[int, str]
    params: dict
    model_id: int | None


def _write_queue(engine, plan: _QueuePlan, items: list[dict], grader: str, supersedes=()) -> int:
    qid = store.create_queue(engine, plan.label_set, name=plan.title, kind=plan.kind, object_ids=plan.ids,
                             scores=plan.scores, ranks=plan.ranks, calibration=plan.calibration,
                             params=plan.params, model_id=plan.model_id, created_by=grader,
                             seed=int(plan.params.get("seed", 0)), supersedes=supersedes)
    log.info("queue %d (%s) in '%s': %d objects + %d calibration items", qid, plan.title, plan.label_set,
             len(plan.ids), len(plan.calibration))
    return qid


def _guard(fn):
    try:
        return fn()
    except Exception as exc:
        raise as_domain(exc) from exc


def parse_grade(value) -> str | None:
    """``A``, ``B``, ``N`` (also ``not``, ``not_lens``) or ``skip`` (None); InvalidInput for anything else."""
    key = str(value).strip().upper() if isinstance(value, str) else None
    if key not in GRADE_KEYS:
        raise InvalidInput(f"grade {value!r} is not one of A, B, N (not a lens) or skip")
    return GRADE_KEYS[key]


class GradingService:
    """Queues, pages, grades and rounds of grading campaigns."""

    def __init__(self, backends: Backends, config: GradingConfig | None = None):
        self.backends = backends
        self.config = config or GradingConfig.from_settings(backends.settings)
        self._round_jobs = _RoundJobs()

    @property
    def engine(self):
        return self.backends.engine

    # ------------------------------------------------------------------ queues
    def _set_name(self, label_set: str | None) -> str:
        name = validate.name("label_set", label_set, required=False) or self.config.label_set
        check_grading_name(name)
        return name

    def _known(self, conn) -> np.ndarray:
        """Objects with a lens or near_lens label in a lens list or hand-made set."""
        return queries.labelled_ids(conn, classes=("lens", "near_lens"),
                                    set_ids=queries.list_set_ids(conn, GRADE_SOURCE))

    def _calibration(self, n: int, leave_out: np.ndarray, seed: int) -> dict[int, str]:
        """``n`` blind calibration items: known lenses and known non-lenses (object id -> truth)."""
        if n <= 0:
            return {}
        cfg = self.config
        with self.engine.connect() as conn:
            lists = queries.list_set_ids(conn, GRADE_SOURCE)
            lenses = np.setdiff1d(queries.labelled_ids(conn, classes=("lens",), set_ids=lists), leave_out)
            flagged = queries.labelled_ids(conn, classes=("lens", "near_lens"))
            non = np.setdiff1d(queries.labelled_ids(conn, classes=("non_lens",), set_ids=lists), leave_out)
        rng = np.random.default_rng(seed + 1)
        n_lens = min(int(round(n * cfg.calibration_lens_fraction)), lenses.size)
        out = {int(o): "lens" for o in rng.choice(lenses, n_lens, replace=False)} if n_lens else {}
        n_non = n - n_lens
        picked = rng.choice(non, min(n_non, non.size), replace=False).tolist() if non.size else []
        if len(picked) < n_non:  # random sources with no label: non-lenses at the sky's rate
            exclude = np.union1d(np.union1d(flagged, leave_out), np.array(picked + list(out), np.int64))
            picked += queries.random_ids(self.engine, n_non - len(picked), seed + 2, exclude).tolist()
        out.update({int(o): "non_lens" for o in picked})
        return out

    def create_queue(self, kind: str, *, grader: str, label_set: str | None = None, model: str | None = None,
                     object_ids=(), source_set: str | None = None, size: int | None = None,
                     calibration_share: float | None = None, name: str | None = None, seed: int = 0,
                     supersedes=(), review: str | None = None, min_score: float | None = None, negative_ids=(),
                     method: str | None = None, encoder_version: str | None = None) -> QueueInfo:
        """Freeze a new queue of ``kind``: ``probe`` (``model``'s stored ranking), ``similar`` (neighbours of
        ``object_ids``), ``labels`` (the objects of ``source_set``), ``random`` (a control sample, nothing this
        grading set has seen) or ``review`` (objects this grading set already graded, to grade again: ``review``
        = ``A``, ``B`` or ``AB`` for the consensus lenses, ``disagreement`` for objects the graders split on, most
        split first), or ``unusual`` (the anomaly ranking of the stored vectors, :mod:`lensdb.services.anomaly`;
        ``method`` ``knn`` or ``iforest``). ``min_score`` keeps a ranking's items scored at least that (probe queues).

        A ``similar`` queue with ``negative_ids`` or a ``method`` (``centroid``, ``probe``) is a few-shot query: the
        seeds are positives and the negatives are objects to avoid, searched as one query vector
        (:mod:`lensdb.services.fewshot`); without them each seed is searched and the neighbours merged by their best
        similarity.

        Raises:
            InvalidInput: a bad kind, size or share; no seeds for a similarity queue; nothing left to inspect.
            NotFound: an unknown model, seed object or label set.
        """
        validate.name("grader", grader)
        validate.name("name", name, required=False)
        if kind == "training":
            return self._training_queue(grader, size, seed, name)
        if kind not in ("probe", "similar", "labels", "random", "review", "unusual"):
            raise InvalidInput(f"queue kind {kind!r} is not one of probe, similar, labels, random, review, unusual, "
                               "training")
        plan = self._plan_queue(kind, grader=grader, label_set=label_set, model=model, object_ids=object_ids,
                                source_set=source_set, size=size, calibration_share=calibration_share, name=name,
                                seed=seed, review=review, min_score=min_score, negative_ids=negative_ids,
                                method=method, encoder_version=encoder_version)
        items = store.build_queue_items(plan.ids, scores=plan.scores, ranks=plan.ranks, calibration=plan.calibration,
                                  seed=seed)
        qid = _guard(lambda: _write_queue(self.engine, plan, items, grader, supersedes))
        return self.queue(qid)

    def _plan_queue(self, kind: str, *, grader: str, label_set: str | None = None, model: str | None = None,
                    object_ids=(), source_set: str | None = None, size: int | None = None,
                    calibration_share: float | None = None, name: str | None = None, seed: int = 0,
                    round_no: int | None = None, ranking=None, review: str | None = None,
                    min_score: float | None = None, negative_ids=(), method: str | None = None,
                    encoder_version: str | None = None) -> _QueuePlan:
        """What a queue of ``kind`` would hold (nothing written). A round passes its ``ranking`` (ids, scores,
        ranks; best first) held in memory, as its model is not stored yet."""
        validate.name("grader", grader)
        validate.name("name", name, required=False)
        set_name = self._set_name(label_set)
        size = validate.count("size", size if size is not None else self.config.queue_size, 1, 100_000)
        share = self.config.calibration_share if calibration_share is None else validate.real(
            "calibration_share", calibration_share, 0.0, 0.5)
        seed = validate.count("seed", seed, 0, 2**32 - 3)  # the draws use seed, seed + 1 and seed + 2
        with self.engine.connect() as conn:
            known = self._known(conn)
            row = queries.label_set_named(conn, set_name)
            seen = store.seen_ids(conn, row.id) if row is not None and row.source == GRADE_SOURCE \
                else np.zeros(0, np.int64)
        leave_out = np.union1d(known, seen)
        params: dict = {"size": size, "calibration_share": share, "seed": seed}
        scores = ranks = None
        model_id = None
        if kind == "round":
            ids, sc, rk = ranking
            keep = ~np.isin(ids, leave_out)
            ids, scores, ranks = ids[keep][:size], sc[keep][:size].tolist(), rk[keep][:size].tolist()
            params["model"] = model
        elif kind == "probe":
            from lensdb.classifiers.registry import get_model

            validate.name("model", model)
            m = _guard(lambda: get_model(self.engine, model, ("probe", "finetune")))
            ids, sc, rk = _guard(lambda: queries.ranking(self.engine, m.id))
            if ids.size == 0:
                raise InvalidInput(f"model {m.name!r} has no stored ranking; score the survey first "
                                   f"('lensdb probe score {m.name}')")
            keep = ~np.isin(ids, leave_out)
            if min_score is not None:
                min_score = validate.real("min_score", min_score, 0.0, 1.0)
                keep &= sc >= min_score
                params["min_score"] = min_score
            n_stored = int(ids.size)
            ids, scores, ranks = ids[keep][:size], sc[keep][:size].tolist(), rk[keep][:size].tolist()
            model_id, params["model"] = m.id, m.name
            if len(ids) == 0:
                raise InvalidInput(
                    f"nothing left to inspect in model {m.name!r}'s ranking: all {n_stored} objects it stored "
                    f"{'at score >= ' + str(min_score) + ' ' if min_score is not None else ''}are known lenses or "
                    f"were inspected in '{set_name}'. Run the next round (the statistics page's button, or "
                    f"'lensdb grading round --label-set {set_name}'), store more of its ranking ('lensdb probe score "
                    f"{m.name} --top-n 5000'), or make a similarity queue from the lenses found")
        elif kind == "similar" and (len(negative_ids) or method is not None):
            from lensdb.services import fewshot

            pos, neg = fewshot.check_examples(list(object_ids), list(negative_ids), self.backends.config.max_ids)
            ids, scores = self._few_shot(pos, neg, method or "centroid", leave_out, size)
            params.update(seeds=pos.tolist(), negatives=neg.tolist(), method=method or "centroid")
        elif kind == "unusual":
            from lensdb.services.search import SearchService

            method = method or "knn"
            search = SearchService(self.backends)
            result = search.unusual(min(search.max_k, size), method, exclude_ids=leave_out)
            ids = np.array([h.object.object_id for h in result.hits], np.int64)
            scores = [h.score for h in result.hits]
            params.update(method=method, encoder_version=result.encoder_version)
        elif kind == "similar":
            seeds = validate.object_ids("object_ids", list(object_ids), self.backends.config.max_ids)
            ids, scores = self._similar(seeds, leave_out, size, encoder_version)
            params["seeds"] = seeds.tolist()
        elif kind == "labels":
            validate.name("source_set", source_set)
            ids = _guard(lambda: queries.labelled_ids(self.engine, (source_set,), ("lens", "non_lens")))[:size]
            params["source_set"] = source_set
        elif kind == "random":  # a control sample of what this grading set has not seen
            ids = queries.random_ids(self.engine, size, seed, exclude=leave_out)
        elif kind == "review":
            ids = self._review_ids(set_name, review, size)
            params["review"], params["source_set"] = review, set_name
        else:
            raise InvalidInput(f"queue kind {kind!r} is not one of probe, similar, labels, random, review, unusual")
        if len(ids) == 0 and kind == "review":
            raise InvalidInput(f"no object of '{set_name}' is in the review list {review!r} yet: grade more first")
        if len(ids) == 0:
            raise InvalidInput(f"nothing left to inspect in this {kind} queue: every object is a known lens or was "
                               f"inspected already in '{set_name}'; try another kind of queue or a new grading set")
        n_cal = int(round(len(ids) * share / (1.0 - share))) if share > 0 else 0
        # Calibration items are known objects: leave out only what this grading set has seen and the queue holds.
        calibration = self._calibration(n_cal, np.union1d(seen, np.asarray(ids, np.int64)), seed)
        params["calibration_items"] = len(calibration)
        title = name or {"probe": f"ranking of {params.get('model')}", "round": f"round {round_no}",
                         "similar": f"similar to {', '.join(map(str, params.get('seeds', [])[:3]))}",
                         "labels": f"label set {source_set}", "random": f"random sample (seed {seed})",
                         "review": f"review of {set_name}: {review}",
                         "unusual": f"unusual objects ({params.get('method')})"}[kind]
        if kind == "similar" and "negatives" in params:
            title = name or (f"like {', '.join(map(str, params['seeds'][:3]))}"
                             + (f"{' …' if len(params['seeds']) > 3 else ''}" if params['seeds'] else "")
                             + (f", not like {len(params['negatives'])}" if params["negatives"] else "")
                             + f" ({params['method']})")
        # A review is a label-set queue of the grading set itself (its consensus, or its disagreements).
        stored_kind = "labels" if kind == "review" else kind
        return _QueuePlan(set_name, stored_kind, title[:255], [int(i) for i in ids], scores, ranks, calibration,
                          params, model_id)

    def field_guide(self, per_group: int = 24) -> dict:
        """Examples for graders, from this survey: known lenses (the lens lists), known non-lenses of each
        hand-made set (named after the set: e.g. rings, spirals, mergers), and what graders flagged as artefacts
        and interesting non-lenses. group name -> object ids."""
        with self.engine.connect() as conn:
            lists = queries.list_set_ids(conn, GRADE_SOURCE)
            lenses = queries.labelled_ids(conn, classes=("lens",), set_ids=lists)
            groups: dict[str, list[int]] = {"known lenses": [int(o) for o in lenses[:per_group]]}
            for ls in store.list_sets(conn):
                ids = queries.labelled_ids(conn, classes=("non_lens",), set_ids=[int(ls.id)])
                if ids.size:
                    groups[f"not lenses: {ls.name}"] = [int(o) for o in ids[:per_group]]
            for flag, title in (("artefact", "artefacts (flagged by graders)"),
                                ("interesting", "interesting non-lenses (flagged by graders)")):
                found = store.flagged_examples(conn, flag, per_group)
                if found:
                    groups[title] = found
        return groups

    def _training_queue(self, grader: str, size: int | None, seed: int, name: str | None) -> QueueInfo:
        """A training queue: known lenses and known non-lenses, each graded with instant feedback ("this was a
        known lens"), in the grading set ``grades-training`` of its own, so that training grades never enter a
        campaign's consensus or its blind calibration."""
        size = validate.count("size", size if size is not None else 40, 1, 1000)
        seed = validate.count("seed", seed, 0, 2**32 - 3)
        truth = self._calibration(size, np.zeros(0, np.int64), seed)
        if not any(t == "lens" for t in truth.values()):
            raise InvalidInput("a training queue needs known lenses: import a lens list first ('lensdb labels "
                               "import')")
        qid = _guard(lambda: store.create_queue(
            self.engine, TRAINING_SET, name=(name or f"training for {grader}")[:255], kind="labels", object_ids=[],
            calibration=truth, params={"training": True, "size": size, "seed": seed}, created_by=grader,
            seed=seed))
        return self.queue(qid)

    def _review_ids(self, set_name: str, review: str | None, size: int) -> np.ndarray:
        """Objects of a grading set to grade again: its consensus A / B / A and B, or its disagreements (objects
        graded by two or more graders who did not all agree, the most split first)."""
        if review not in ("A", "B", "AB", "disagreement"):
            raise InvalidInput(f"review must be A, B, AB (consensus lenses) or disagreement; got {review!r}")
        th = self.config.thresholds
        with self.engine.connect() as conn:
            set_id = store.set_id_of(conn, set_name)
            rows = store.consensus_rows(conn, set_id)
        if review == "disagreement":
            split = [(max(r.n_a, r.n_b, r.n_not) / r.n_graders, int(r.object_id)) for r in rows
                     if r.n_graders >= 2 and max(r.n_a, r.n_b, r.n_not) < r.n_graders]
            return np.array([o for _, o in sorted(split)][:size], np.int64)
        want = set(review)
        picked = [(-float(r.mean_points), int(r.object_id)) for r in rows
                  if th.verdict(float(r.mean_points)) in want]
        return np.array([o for _, o in sorted(picked)][:size], np.int64)

    def review_lists(self, label_set: str | None = None, limit: int = 60) -> dict[str, list[dict]]:
        """The consensus A and B objects (best first) and the disagreements (most split first) of a grading set,
        at most ``limit`` of each, with their grade counts: the statistics page lists them."""
        name = self._set_name(label_set)
        th = self.config.thresholds
        with self.engine.connect() as conn:
            rows = store.consensus_rows(conn, store.set_id_of(conn, name))

        def row(r) -> dict:
            return {"object_id": str(r.object_id), "mean_points": round(float(r.mean_points), 3),
                    "graders": int(r.n_graders), "A": int(r.n_a), "B": int(r.n_b), "N": int(r.n_not)}

        out: dict[str, list] = {"A": [], "B": [], "disagreement": []}
        for r in sorted(rows, key=lambda r: (-float(r.mean_points), int(r.object_id))):
            v = th.verdict(float(r.mean_points))
            if v in ("A", "B") and len(out[v]) < limit:
                out[v].append(row(r))
        split = sorted((r for r in rows if r.n_graders >= 2 and max(r.n_a, r.n_b, r.n_not) < r.n_graders),
                       key=lambda r: (max(r.n_a, r.n_b, r.n_not) / r.n_graders, int(r.object_id)))
        out["disagreement"] = [row(r) for r in split[:limit]]
        return out

    def _similar(self, seeds: np.ndarray, leave_out: np.ndarray, size: int,
                 encoder_version: str | None = None) -> tuple[np.ndarray, list[float]]:
        """Neighbours of the seeds merged by their best similarity (seeds and ``leave_out`` left out)."""
        from lensdb.services.search import SearchService

        search = SearchService(self.backends)
        k = min(search.max_k, max(self.config.similar_k, size // max(1, len(seeds)) + len(leave_out)))
        best: dict[int, float] = {}
        for s in seeds.tolist():
            result = search.similar(SimilarQuery(k=k, object_id=int(s), encoder_version=encoder_version))
            for h in result.hits:
                oid = h.object.object_id
                if oid not in best or h.similarity > best[oid]:
                    best[oid] = h.similarity
        drop = set(np.union1d(leave_out, seeds).tolist())
        ranked = sorted(((sim, oid) for oid, sim in best.items() if oid not in drop), key=lambda t: (-t[0], t[1]))
        ranked = ranked[:size]
        return np.array([o for _, o in ranked], np.int64), [s for s, _ in ranked]

    def _few_shot(self, pos: np.ndarray, neg: np.ndarray, method: str, leave_out: np.ndarray,
                  size: int) -> tuple[np.ndarray, list[float]]:
        """The few-shot query's hits, examples and ``leave_out`` left out."""
        from lensdb.services.search import SearchService

        search = SearchService(self.backends)
        k = min(search.max_k, size + len(leave_out))
        result = search.similar(SimilarQuery(k=k, examples=Examples(tuple(pos.tolist()), tuple(neg.tolist()), method)))
        drop = set(leave_out.tolist())
        hits = [(h.object.object_id, h.similarity) for h in result.hits if h.object.object_id not in drop][:size]
        return np.array([o for o, _ in hits], np.int64), [sc for _, sc in hits]

    def queue(self, queue_id: int) -> QueueInfo:
        queue_id = validate.count("queue", queue_id, 1, validate.INT64_MAX)
        return _info(_guard(lambda: store.queue_row(self.engine, queue_id)))

    def queues(self, label_set: str | None = None) -> list[QueueInfo]:
        if label_set is not None:
            validate.name("label_set", label_set)
        return [_info(r) for r in _guard(lambda: store.queues(self.engine, label_set))]

    # ------------------------------------------------------------------ graders' sessions
    def open_session(self, grader: str, client: str | None = None) -> str:
        """Log ``grader`` in: a new session fixed to that name; returns its secret (only its hash is stored)."""
        from lensdb.catalog import sessions

        validate.name("grader", grader)
        return _guard(lambda: sessions.open_session(self.engine, grader, client))

    def session_grader(self, secret: str | None) -> str | None:
        """The grader of a valid session secret, else ``None``."""
        from lensdb.catalog import sessions

        return _guard(lambda: sessions.session_grader(self.engine, secret)) if secret else None

    def close_session(self, secret: str | None) -> bool:
        from lensdb.catalog import sessions

        return bool(secret) and _guard(lambda: sessions.close_session(self.engine, secret))

    def revoke_grader(self, grader: str) -> int:
        """Revoke every session of ``grader`` (they must log in again); returns how many were valid."""
        from lensdb.catalog import sessions

        validate.name("grader", grader)
        return _guard(lambda: sessions.revoke_grader(self.engine, grader))

    def graders(self) -> list:
        """Every grader with a session or a grade (:class:`lensdb.catalog.sessions.GraderInfo`)."""
        from lensdb.catalog import sessions

        return _guard(lambda: sessions.graders(self.engine))

    # ------------------------------------------------------------------ pages
    def page(self, queue_id: int, grader: str, page: int | None = None) -> Page:
        """Page ``page`` (0-based) of a queue for ``grader``; ``None`` = the page where the grader stopped."""
        validate.name("grader", grader)
        info = self.queue(queue_id)
        size = self.config.page_size
        n_pages = self.n_pages(info)
        cur = _guard(lambda: store.cursor(self.engine, info.id, grader))
        if page is None:
            page = min(cur // size, n_pages - 1)
        page = validate.count("page", page, 0, n_pages - 1)
        rows = _guard(lambda: store.queue_items(self.engine, info.id, page * size, size))
        with self.engine.connect() as conn:
            set_id = store.set_id_of(conn, info.label_set)
            mine = {int(g.object_id): g.grade for g in store.grades_of(conn, set_id, grader=grader,
                                                                      ids=[r.object_id for r in rows])}
            others = store.grades_of(conn, set_id, ids=[r.object_id for r in rows], calibration=False)
            calibration = store.calibration_rows(conn, set_id) if others else []
        settled = {oid: st.status for oid, st in self._swap(calibration, others)[0].items() if st.status != "open"}
        items = [PageItem(int(r.position), int(r.object_id), float(r.ra), float(r.dec), r.survey,
                          optional_mag(r.mag_g), optional_mag(r.mag_r), optional_mag(r.mag_z), r.source_type,
                          *self._blind_score(r, mine.get(int(r.object_id))), mine.get(int(r.object_id)),
                          None if int(r.object_id) in mine else settled.get(int(r.object_id)))
                 for r in rows]
        return Page(info, page, n_pages, size, cur, items)

    def n_pages(self, info: QueueInfo) -> int:
        """Pages of a queue (at least 1)."""
        return max(1, -(-info.n_items // self.config.page_size))

    @staticmethod
    def _blind_score(row, mine: str | None) -> tuple[float | None, int | None]:
        """(score, rank) of an item as a grader may see it: none until they have graded it. Calibration items
        have no ranking, so a ranking shown before grading would single them out; graders grade blind of the
        model, as in Space Warps."""
        if mine is None or row.score is None:
            return None, None
        return float(row.score), None if row.rank is None else int(row.rank)

    def progress(self, grader: str, queue_ids) -> dict[int, int]:
        """queue id -> how far ``grader`` got in it (the next position to show)."""
        validate.name("grader", grader)
        return {int(q): _guard(lambda q=q: store.cursor(self.engine, int(q), grader)) for q in queue_ids}

    def item(self, queue_id: int, object_id: int, grader: str | None = None):
        """(the queue's item of ``object_id`` or None, ``grader``'s own grade row of it or None). The item's
        ``calibration`` field is for the server only: never show it."""
        info = self.queue(queue_id)
        object_id = validate.count("object_id", object_id, 0, validate.INT64_MAX)
        item = _guard(lambda: store.queue_item(self.engine, info.id, object_id))
        mine = None
        if grader and item is not None:
            with self.engine.connect() as conn:
                rows = store.grades_of(conn, store.set_id_of(conn, info.label_set), grader=grader, ids=[object_id])
            mine = rows[0] if rows else None
        return item, mine

    # ------------------------------------------------------------------ grades
    def grade(self, queue_id: int, grader: str, object_id: int, grade, *, note: str | None = None,
              flag: str | None = None, arc: tuple[float, float] | None = None) -> GradeResult:
        """Record ``grader``'s grade of an object of a queue (``skip`` records none) and move their cursor past it.

        A grade on a superseded queue is kept (it is a judgement of the object, whatever ranked it) and the result
        says the queue is stale, naming the queue that replaced it.

        Raises:
            InvalidInput: a grade outside A, B, N, skip; an object that is not in the queue.
            NotFound: no such queue.
        """
        validate.name("grader", grader)
        value = parse_grade(grade)
        validate.text("note", note)
        if flag is not None and flag not in GRADE_FLAGS:
            raise InvalidInput(f"flag {flag!r} is not one of {', '.join(GRADE_FLAGS)} (or none)")
        if arc is not None:  # cutout pixels of the north-up stamp; LensDB's cutouts are at most 512 px
            arc = (validate.real("arc_x", arc[0], 0.0, 512.0), validate.real("arc_y", arc[1], 0.0, 512.0))
        object_id = validate.count("object_id", object_id, 0, validate.INT64_MAX)
        info = self.queue(queue_id)
        item = _guard(lambda: store.queue_item(self.engine, info.id, object_id))
        if item is None:
            raise InvalidInput(f"object {object_id} is not in queue {info.id}; grade it from a queue that shows it")
        replaced = False
        if value is not None:
            write = store.GradeWrite(object_id, value, calibration=item.calibration, queue_id=info.id,
                                     model_id=info.model_id, note=note, flag=flag,
                                     arc_x=None if arc is None else arc[0], arc_y=None if arc is None else arc[1])
            _, before = _guard(lambda: store.write_grades(self.engine, info.label_set, grader, [write],
                                                          thresholds=self.config.thresholds))
            replaced = before > 0
        cur = _guard(lambda: store.cursor(self.engine, info.id, grader))
        if item.position + 1 > cur:
            cur = item.position + 1
            _guard(lambda: store.set_cursor(self.engine, info.id, grader, cur))
        feedback = None
        if info.params.get("training") and item.calibration and value is not None:
            said_lens = value in ("A", "B")
            right = said_lens == (item.calibration == "lens")
            feedback = (("right" if right else "not quite") + ": this was "
                        + ("a known lens" if item.calibration == "lens" else "a known non-lens"))
        return GradeResult(object_id, value, replaced, cur, info.superseded_by is not None, info.superseded_by,
                           feedback)

    def undo(self, queue_id: int, grader: str, object_id: int, previous=None) -> GradeResult:
        """Put back ``grader``'s grade of an object as it was before their last action (``previous`` = the grade
        it had, ``None`` = none), and their cursor onto it."""
        validate.name("grader", grader)
        object_id = validate.count("object_id", object_id, 0, validate.INT64_MAX)
        info = self.queue(queue_id)
        item = _guard(lambda: store.queue_item(self.engine, info.id, object_id))
        if item is None:
            raise InvalidInput(f"object {object_id} is not in queue {info.id}")
        value = parse_grade(previous) if previous not in (None, "") else None
        if value is None:
            _guard(lambda: store.delete_grade(self.engine, info.label_set, grader, object_id,
                                              thresholds=self.config.thresholds))
        else:
            write = store.GradeWrite(object_id, value, calibration=item.calibration, queue_id=info.id,
                                     model_id=info.model_id)
            _guard(lambda: store.write_grades(self.engine, info.label_set, grader, [write],
                                              thresholds=self.config.thresholds))
        _guard(lambda: store.set_cursor(self.engine, info.id, grader, int(item.position)))
        return GradeResult(object_id, value, False, int(item.position), info.superseded_by is not None,
                           info.superseded_by)

    # ------------------------------------------------------------------ statistics
    def stats(self, label_set: str | None = None) -> dict:
        """Counts, consensus, agreement and calibration of a grading set (plain values, for a page or JSON)."""
        from lensdb.classifiers.grades import agreement

        name = self._set_name(label_set)
        with self.engine.connect() as conn:
            set_id = store.set_id_of(conn, name)
            consensus = store.consensus_rows(conn, set_id)
            calibration = store.calibration_rows(conn, set_id)
            graders = store.grader_counts(conn, set_id)
            grades = store.grades_of(conn, set_id, calibration=False)
            rounds = store.rounds(conn, set_id)
            flagged = store.flagged_rows(conn, set_id)
        th = self.config.thresholds
        verdicts = [th.verdict(float(r.mean_points)) for r in consensus]
        agree = agreement((g.object_id, g.grader, g.grade) for g in grades)
        return {
            "label_set": name,
            "objects_graded": len(consensus),
            "consensus": {"A": verdicts.count("A"), "B": verdicts.count("B"), "N": verdicts.count("N")},
            "thresholds": {"A": th.a, "B": th.b},
            "graders": [{"grader": g[0], "grades": int(g[1]), "A": int(g[2] or 0), "B": int(g[3] or 0),
                         "N": int(g[4] or 0), "last": str(g[5])} for g in graders],
            "calibration": [{"grader": c.grader, "lenses_shown": int(c.lenses_shown), "hits": int(c.hits),
                             "hit_rate": None if c.hit_rate is None else float(c.hit_rate),
                             "non_lenses_shown": int(c.non_lenses_shown), "false_alarms": int(c.false_alarms),
                             "false_alarm_rate": None if c.false_alarm_rate is None else float(c.false_alarm_rate)}
                            for c in calibration],
            "agreement": {"objects": agree.n_objects, "fleiss_kappa": agree.fleiss_kappa,
                          "observed": agree.observed, "lens_or_not": agree.lens_agreement,
                          "pairs": [{"graders": list(k), "objects": v[0], "agree": v[1], "cohen_kappa": v[2]}
                                    for k, v in agree.pairs.items()]},
            "rounds": [{"round": r.round, "model_id": r.model_id, "queue_id": r.queue_id,
                        "seconds": r.seconds, "params": r.params} for r in rounds],
            "skill": self._skill_summary(calibration, grades),
            "flags": [{"object_id": str(f.object_id), "grader": f.grader, "grade": f.grade, "flag": f.flag,
                       "note": f.note, "when": str(f.updated_at)} for f in flagged],
        }

    def _skill_summary(self, calibration, grades) -> dict:
        states, skills = self._swap(calibration, grades)
        cfg = self.config
        return {"prior": cfg.swap_prior, "retire_below": cfg.swap_retire_below,
                "retire_above": cfg.swap_retire_above,
                "graders": [{"grader": k.grader, "p_lens": k.p_lens, "p_non": k.p_non,
                             "lenses_shown": k.lenses_shown, "non_lenses_shown": k.non_lenses_shown}
                            for k in skills.values()],
                "lens": sum(s.status == "lens" for s in states.values()),
                "not": sum(s.status == "not" for s in states.values()),
                "open": sum(s.status == "open" for s in states.values()),
                "top": [{"object_id": str(s.object_id), "probability": s.probability, "grades": s.n_grades,
                         "status": s.status}
                        for s in sorted(states.values(), key=lambda s: (-s.probability, s.object_id))[:30]]}

    def _swap(self, calibration, grades):
        from lensdb.services import swap

        skills = {c.grader: swap.skill(c.grader, int(c.lenses_shown), int(c.hits), int(c.non_lenses_shown),
                                       int(c.false_alarms)) for c in calibration}
        cfg = self.config
        states = swap.posteriors(((g.object_id, g.grader, g.grade) for g in grades), skills, cfg.swap_prior,
                                 cfg.swap_retire_below, cfg.swap_retire_above)
        return states, skills

    def skill_consensus(self, label_set: str | None = None) -> dict:
        """The skill model of a grading set: graders' skills and each graded object's lens probability and status
        (``lens`` / ``not`` retired, or ``open``), object id -> :class:`lensdb.services.swap.ObjectState`."""
        name = self._set_name(label_set)
        with self.engine.connect() as conn:
            set_id = store.set_id_of(conn, name)
            calibration = store.calibration_rows(conn, set_id)
            grades = store.grades_of(conn, set_id, calibration=False)
        states, skills = self._swap(calibration, grades)
        return {"skills": skills, "objects": states}

    # ------------------------------------------------------------------ active learning
    def _fused_order(self, source, ranking, rrf_k: float = 60.0) -> np.ndarray:
        """A ranking (object ids best first, or the id of a model whose stored ranking to read) re-ordered by
        reciprocal-rank fusion with a nearest-labelled-neighbour rank:
        each object's highest cosine similarity to a lens (known, or a consensus A/B) minus its highest similarity
        to an object the graders called not a lens, so that objects like the lenses just found come up next and
        objects like the false positives just rejected go down.

        Only the ranked shortlist and the labelled objects are read, by id: no pass over the survey."""
        if isinstance(ranking, np.ndarray):
            ids = ranking.astype(np.int64)
        else:
            ids, _, _ = queries.ranking(self.engine, int(ranking))
        score = round_policy.neighbour_scores(self.engine, source, ids)  # reads by id: no pass over the survey
        if score is None:
            return ids
        by_neighbour = np.empty(ids.size, np.int64)
        by_neighbour[np.lexsort((ids, -score))] = np.arange(ids.size)
        fused = 1.0 / (rrf_k + np.arange(ids.size)) + 1.0 / (rrf_k + by_neighbour)
        return ids[np.lexsort((ids, -fused))]

    def _round_order(self, source, ids: np.ndarray, last_params: dict | None, name: str, size: int, seed: int):
        """(the next queue's order of the ranking ``ids``, its extra params) by ``round_ranking``."""
        kind = self.config.round_ranking
        if kind == "fused":
            return self._fused_order(source, ids), {}
        if kind == "probe":
            return ids, {}
        with self.engine.connect() as conn:
            row = queries.label_set_named(conn, name)
            seen = store.seen_ids(conn, row.id) if row is not None and row.source == GRADE_SOURCE \
                else np.zeros(0, np.int64)
            leave_out = np.union1d(self._known(conn), seen)
        previous = None if last_params is None else last_params.get("ranked_by_model_id")
        order, arms, info = round_policy.bandit_order(
            self.engine, source, set_name=name, model_id=None, previous_model_id=previous, leave_out=leave_out,
            size=size, explore=self.config.bandit_explore, seed=seed, ranking=ids)
        rest = ids[~np.isin(ids, order)]  # the queue keeps the rest of the ranking after the bandit's picks
        return np.concatenate([order, rest]), {"arms": arms, "bandit": info}

    def round_request(self, *, grader: str, label_set: str | None = None, encoder_version: str | None = None,
                      features=None, size: int | None = None, seed: int = 0, **probe_overrides) -> RoundRequest:
        """Check everything a round needs before anything is written: the grader, the grading set, the size and
        seed of the next queue, the probe's settings, and that the training pools can be drawn (enough labelled
        lenses pass the source filter). Returns the checked request; writes nothing.

        Raises:
            InvalidInput: a bad name, size, seed or setting; too few lenses to train on.
            Conflict: the set is a lens list, not a grading set.
        """
        from lensdb.classifiers.config import ProbeConfig
        from lensdb.classifiers.sampling import load_pools

        validate.name("grader", grader)
        name = self._set_name(label_set)
        size = validate.count("size", size if size is not None else self.config.queue_size, 1, 100_000)
        seed = validate.count("seed", seed, 0, 2**32 - 1)
        validate.name("encoder_version", encoder_version, required=False)
        with self.engine.connect() as conn:
            row = queries.label_set_named(conn, name)
        if row is not None and row.source != GRADE_SOURCE:
            raise InvalidInput(f"label set '{name}' is a lens list, not a grading set; run the round on a grading "
                               "set ('grades' or 'grades-<campaign>')")
        version = encoder_version or (features.encoder_version if features is not None
                                      else _guard(self.backends.default_version))
        cfg = ProbeConfig.from_settings(self.backends.settings, encoder_version=version, use_grades=True,
                                        ratio=self.config.round_ratio, val_ratio=self.config.round_val_ratio,
                                        epochs=self.config.round_epochs)
        try:  # overrides may set a filter to None (no cut), which the config file cannot say
            cfg = dataclasses.replace(cfg, **probe_overrides)
            cfg = dataclasses.replace(cfg, ratios=(cfg.ratio,))
        except TypeError as exc:
            raise InvalidInput(f"round: {exc}") from None
        # Enough labelled lenses in the catalogue (training reads only the vectors it draws, by id, and draws again
        # among the objects with vectors when some have none: no list of every stored id here).
        _guard(lambda: load_pools(self.engine, **cfg.pool_kwargs()))
        return RoundRequest(grader, name, version, features, size, seed, cfg)

    def running_rounds(self, label_set: str | None = None) -> list:
        """Rounds recorded as running (of one grading set), whose process is alive: job rows."""
        from lensdb.catalog.jobs import mark_stale, running_jobs

        _guard(lambda: mark_stale(self.engine))
        jobs = _guard(lambda: running_jobs(self.engine, ROUND_JOB))
        return [j for j in jobs if label_set is None or (j.params or {}).get("label_set") == label_set]

    def run_round(self, *, grader: str, label_set: str | None = None, encoder_version: str | None = None,
                  features=None, size: int | None = None, seed: int = 0, out_dir=None, progress=None,
                  request: RoundRequest | None = None, on_job=None, **probe_overrides) -> dict:
        """One active-learning round (see the module's docstring), as one unit: everything is checked first
        (:meth:`round_request`), the learning runs without writing, and the model, its predictions, the next
        queue, the supersession of the open queues and the round's row are committed in one transaction at the
        end, or nothing is. The round is recorded as a job (kind ``grading-round``) whose message says its
        progress (``step K of N: ...``), so ``lensdb jobs`` marks a killed round and the page can follow it.

        ``features``: a FeatureSource to use instead of the vector store of ``encoder_version`` (benchmarks).
        ``progress``: called with a dict (step, steps, stage) at each step. ``on_job``: called with the job id once
        it is recorded. Returns what the round did.

        Raises:
            InvalidInput: see :meth:`round_request`; nothing left to inspect.
            Conflict: a round of the set is running already (another process), or one was committed meanwhile.
        """
        from lensdb.catalog.jobs import job_scope, set_message

        req = request or self.round_request(grader=grader, label_set=label_set, encoder_version=encoder_version,
                                            features=features, size=size, seed=seed, **probe_overrides)
        for job in self.running_rounds(req.label_set):
            raise Conflict(f"a round of grading set '{req.label_set}' is running already (job {job.id}, pid "
                           f"{job.pid} on {job.host}: {job.message or 'starting'}); wait for it: its progress is "
                           f"on the statistics page and in 'lensdb jobs'")
        params = {"label_set": req.label_set, "grader": req.grader, "size": req.size, "seed": req.seed,
                  "encoder_version": req.version}
        with job_scope(self.engine, ROUND_JOB, params=params, command=f"grading round of '{req.label_set}'") as job_id:
            def step(k: int, stage: str) -> None:
                _guard(lambda: set_message(self.engine, job_id, f"step {k} of {len(ROUND_STEPS)}: {stage}"))
                if progress is not None:
                    progress({"job": job_id, "step": k, "steps": len(ROUND_STEPS), "stage": stage})

            if on_job is not None:
                on_job(job_id)
            out = self._round(req, job_id, step, out_dir)
            _guard(lambda: set_message(self.engine, job_id, f"round {out['round']} of '{req.label_set}': model "
                                                            f"{out['model']}, queue {out['queue']}"))
        return {"job": job_id, **out}

    def _round(self, req: RoundRequest, job_id: int, step, out_dir) -> dict:
        """The learning steps of a round (nothing written until the last step's one transaction)."""
        from lensdb.classifiers.features import StoreFeatures
        from lensdb.classifiers.registry import get_model, model_values
        from lensdb.classifiers.scoring import rank_by_search
        from lensdb.classifiers.training import train_probe

        t0 = time.perf_counter()
        name, cfg = req.label_set, req.cfg
        with self.engine.connect() as conn:
            row = queries.label_set_named(conn, name)
            last = store.last_round(conn, row.id) if row is not None else None
        round_no = (last.round if last is not None else 0) + 1
        model_name = f"{name}-round{round_no}-job{job_id}"
        own = req.features is None
        source = req.features if not own else _guard(lambda: StoreFeatures.open(self.backends.settings,
                                                                                   req.version))
        try:
            step(1, "training the probe on the known lenses and the grades")
            # One training at a time in this process: train_probe draws its figures with matplotlib, which is not
            # thread-safe (two rounds of different sets at once failed in its text layout).
            certainty = round_policy.grade_certainty(
                self.engine, name, hit_rate=self.config.grader_hit_rate,
                false_alarm=self.config.grader_false_alarm) if self.config.round_certainty else None
            with _TRAINING, tempfile.TemporaryDirectory(prefix="lensdb-round-") as tmp:
                run = _guard(lambda: train_probe(self.engine, source, cfg, out_dir=out_dir or tmp, name=model_name,
                                                 save=False, certainty=certainty, plots=False))
            # Accepted only when its recipe ranks the held-out known lenses at least as well as the current model's
            # (round_policy.accept); the round's own model is stored either way, with its predictions.
            last_params = None
            if last is not None:
                last_params = dict(last.params or {})
                if last_params.get("ranked_by_model_id") is None:
                    last_params["ranked_by_model_id"] = last.model_id
            decision = _guard(lambda: round_policy.accept(
                source, run, store.NEW_MODEL, last_params, memory_gb=cfg.memory_gb,
                threads=cfg.threads)) if self.config.round_accept else \
                round_policy.Decision(True, store.NEW_MODEL, store.NEW_MODEL, reason="accepted: no check configured")
            t_train = time.perf_counter() - t0
            step(2, "ranking the survey with the new probe")
            n_vectors = source.count()
            n = min(self.config.round_score_n, n_vectors)
            ranked = _guard(lambda: rank_by_search(source, run.fit.weights, float(run.fit.bias), n))
            shown = ranked
            if not decision.accepted:  # the current model ranks the next queue
                current = _guard(lambda: get_model(self.engine, int(decision.model_id)))
                shown = _guard(lambda: rank_by_search(source, current.weights, float(current.bias), n))
            step(3, "ordering the next queue")
            order, extra = self._round_order(source, shown.ids, last_params, name, req.size, req.seed)
        finally:
            if own:
                source.close()
        t_score = time.perf_counter() - t0 - t_train
        pos = {int(o): i for i, o in enumerate(shown.ids.tolist())}
        take = np.array([pos[int(o)] for o in order], np.int64)
        ranking = (shown.ids[take], shown.scores[take], shown.ranks[take])
        plan = self._plan_queue("round", grader=req.grader, label_set=name, model=model_name, size=req.size,
                                seed=req.seed, round_no=round_no, ranking=ranking)
        plan.params.update(extra)
        items = store.build_queue_items(plan.ids, scores=plan.scores, ranks=plan.ranks, calibration=plan.calibration,
                                  seed=req.seed)
        step(4, "committing the model, its predictions, the next queue and the round")
        seconds = time.perf_counter() - t0
        params = {"ranking": self.config.round_ranking, "training_set": run.sets.describe(cfg.ratio),
                  "val_tp": run.metrics.get("val_tp"), "top_n": run.metrics.get("top_n"), "ranked_over": n_vectors,
                  "kept": len(ranked), "train_s": round(t_train, 3), "score_s": round(t_score, 3),
                  "encoder_version": req.version, **decision.as_dict(), "cv_ap": run.metrics.get("cv_ap"),
                  "chosen_c": (run.metrics.get("selection") or {}).get("chosen_c"), "bandit": extra.get("bandit")}
        metrics = {**run.metrics, "scoring": {"model": model_name, "mode": "search", "scanned": ranked.scanned,
                                              "written": len(ranked), "top_n": n,
                                              "seconds": round(ranked.seconds, 3)}}
        probe_params = {**{k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()},
                        "objective": "mean BCE + l2/2 |w|^2, LBFGS strong Wolfe",
                        "features": "unit vectors (L2-normalised encoder output)"}
        model = model_values(kind="probe", name=model_name, encoder_version=req.version, params=probe_params,
                             metrics=metrics, training_set=run.sets.describe(cfg.ratio), weights=run.fit.weights,
                             bias=float(run.fit.bias), job_id=job_id)
        done = _guard(lambda: store.commit_round(
            self.engine, name, round_no, model=model, ranked_ids=ranked.ids, ranked_scores=ranked.scores,
            items=items, queue_name=plan.title, queue_params=plan.params, created_by=req.grader, params=params,
            seconds=seconds, queue_model_id=None if decision.accepted else int(decision.model_id)))
        params = {k: (done.model_id if v == store.NEW_MODEL else v) for k, v in params.items()}
        log.info("round %d of '%s': probe %s trained in %.1f s, %d objects ranked in %.1f s, queue %d (%.1f s)",
                 round_no, name, model_name, t_train, n_vectors, t_score, done.queue_id, seconds)
        return {"round": round_no, "model": model_name, "queue": done.queue_id,
                "previous_queue": done.previous_queue_id, "seconds": round(seconds, 3),
                **{k: v for k, v in params.items() if k != "graded_used"},
                "graded_used": len(params["graded_used"])}  # the ids stay in the round's stored params

    def round_progress(self, job_id: int) -> dict:
        """Where round job ``job_id`` stands: status (running, done, failed), step and stage while it runs, the
        round and its queue once done, the error once failed. Works for a round of any process (it reads the job
        row). Raises NotFound for a job that is not a round."""
        from lensdb.catalog.jobs import job_row, mark_stale

        job_id = validate.count("job", job_id, 1, validate.INT64_MAX)
        _guard(lambda: mark_stale(self.engine))
        job = _guard(lambda: job_row(self.engine, job_id))
        if job is None or job.kind != ROUND_JOB:
            raise NotFound(f"no round job {job_id}")
        out = {"job": job_id, "status": job.status, "label_set": (job.params or {}).get("label_set"),
               "steps": len(ROUND_STEPS), "step": 0, "stage": "starting"}
        message = job.message or ""
        m = re.match(r"step (\d+) of \d+: (.*)", message)
        if m:
            out["step"], out["stage"] = int(m.group(1)), m.group(2)
        if job.status == "done":
            with self.engine.connect() as conn:
                r = store.round_of_job(conn, job_id)
            out.update(step=len(ROUND_STEPS), stage="done", round=r.round if r else None,
                       queue=r.queue_id if r else None)
        elif job.status == "failed":
            out["error"] = _job_error(message)
        return out

    def start_round(self, *, grader: str, label_set: str | None = None, size: int | None = None,
                    **probe_overrides) -> dict:
        """Start a round in the background of this process, or join the one running for the same grading set
        (in this process: its job; in another process: Conflict, naming it). Everything is checked before the
        round starts (InvalidInput here, nothing written). Returns :meth:`round_progress` plus ``joined``."""
        return self._round_jobs.start(self, grader=grader, label_set=label_set, size=size, **probe_overrides)


_TRAINING = threading.Lock()

#: The job kind of an active-learning round, and the steps its progress names.
ROUND_JOB = "grading-round"
ROUND_STEPS = ("training the probe", "ranking the survey", "ordering the next queue", "committing the round")


@dataclass(frozen=True)
class RoundRequest:
    """A round's request once checked (:meth:`GradingService.round_request`)."""

    grader: str
    label_set: str
    version: str
    features: object
    size: int
    seed: int
    cfg: object


def _job_error(message: str) -> str:
    """The failure of a job as a caller reads it: the domain error's text without its class name; an
    unexpected failure says only that (the log has the rest)."""
    kind, _, text = message.partition(": ")
    if kind in ("InvalidInput", "NotFound", "Conflict", "BackendUnavailable", "DatabaseUnavailable",
                "SchemaOutOfDate", "ConfigError"):
        return text
    if message.startswith("the process"):
        return message
    return "the round failed unexpectedly; the server's log says what happened"


class _RoundJobs:
    """Rounds running in background threads of this process, one per grading set: a second request for the
    same set joins the running one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, tuple[threading.Thread, int]] = {}

    def start(self, service: GradingService, *, grader: str, label_set: str | None, size: int | None,
              **probe_overrides) -> dict:
        with self._lock:
            name = service._set_name(label_set)
            running = self._running.get(name)
            if running is not None and running[0].is_alive():
                return {**service.round_progress(running[1]), "joined": True}
            req = service.round_request(grader=grader, label_set=name, size=size, **probe_overrides)
            for job in service.running_rounds(name):
                raise Conflict(f"a round of grading set '{name}' is running already in another process (job "
                               f"{job.id}, pid {job.pid} on {job.host}: {job.message or 'starting'}); wait for "
                               "it to finish")
            started = threading.Event()
            box: dict = {}

            def work() -> None:
                try:
                    service.run_round(grader=grader, request=req,
                                      on_job=lambda j: (box.__setitem__("job", j), started.set()))
                except Exception as exc:  # recorded in the job row; the page reads it from there
                    box.setdefault("error", exc)
                    if not isinstance(as_domain(exc), LensDBError | ConfigError):
                        log.exception("round of '%s' failed", name)
                finally:
                    started.set()

            thread = threading.Thread(target=work, name=f"round-{name}", daemon=True)
            thread.start()
            started.wait()
            if "job" not in box:  # failed before its job was recorded (a round started by another process)
                raise box.get("error") or RuntimeError("the round did not start")
            self._running[name] = (thread, box["job"])
            return {**service.round_progress(box["job"]), "joined": False}
