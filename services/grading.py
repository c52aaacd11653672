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
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from lensdb.catalog import grading as store
from lensdb.catalog import queries
from lensdb.catalog.labels import GRADE_SOURCE, check_grading_name
from lensdb.core.config import ConfigError, Settings, load_section
from lensdb.core.errors import InvalidInput
from lensdb.services import validate
from lensdb.services.backends import Backends
from lensdb.services.errors import as_domain
from lensdb.services.types import SimilarQuery, optional_mag

log = logging.getLogger(__name__)

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
        round_ranking: ``fused`` (the default): the retrained probe's top ``round_score_n`` re-ordered by
            reciprocal-rank fusion of the probe's rank and each object's rank by its highest cosine similarity to
            a lens (known or graded A/B), so that objects like the lenses just found come up next, as a grader
            would search "more like this one"; ``probe``: the probe's ranking alone.
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
    round_ranking: str = "fused"

    def __post_init__(self) -> None:
        check_grading_name(self.label_set)
        if not 0.0 <= self.calibration_share < 1.0 or not 0.0 <= self.calibration_lens_fraction <= 1.0:
            raise ConfigError("[grading] calibration_share must lie in [0, 1) and calibration_lens_fraction in [0, 1]")
        for name in ("page_rows", "page_cols", "queue_size", "similar_k", "round_score_n", "round_ratio",
                     "round_val_ratio", "round_epochs"):
            if getattr(self, name) < 1:
                raise ConfigError(f"[grading] {name} must be >= 1; got {getattr(self, name)}")
        store.Thresholds(self.consensus_a, self.consensus_b)
        if self.round_ranking not in ("fused", "probe"):
            raise ConfigError(f"[grading] round_ranking must be fused or probe; got {self.round_ranking!r}")

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
    """One stamp of a page: the object, its ranking (``None`` for unranked queues and calibration items, which look
    like any other item), and the grader's own grade of it."""

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


def _info(row) -> QueueInfo:
    return QueueInfo(int(row.id), row.label_set, row.name, row.kind, int(row.n_items), row.round, row.model_id,
                     row.superseded_by, row.created_by, row.created_at, dict(row.params or {}))


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
                     supersedes=(), round_no: int | None = None, order=None) -> QueueInfo:
        """Freeze a new queue of ``kind``: ``probe`` (``model``'s stored ranking), ``similar`` (neighbours of
        ``object_ids``), ``labels`` (the objects of ``source_set``) or ``random`` (a control sample).

        Raises:
            InvalidInput: a bad kind, size or share; no seeds for a similarity queue; nothing left to inspect.
            NotFound: an unknown model, seed object or label set.
        """
        validate.name("grader", grader)
        set_name = self._set_name(label_set)
        validate.name("name", name, required=False)
        size = validate.count("size", size if size is not None else self.config.queue_size, 1, 100_000)
        share = self.config.calibration_share if calibration_share is None else validate.real(
            "calibration_share", calibration_share, 0.0, 0.5)
        with self.engine.connect() as conn:
            known = self._known(conn)
            row = queries.label_set_named(conn, set_name)
            seen = store.seen_ids(conn, row.id) if row is not None and row.source == GRADE_SOURCE \
                else np.zeros(0, np.int64)
        leave_out = np.union1d(known, seen)
        params: dict = {"size": size, "calibration_share": share, "seed": seed}
        scores = ranks = None
        model_id = None
        if kind in ("probe", "round"):
            from lensdb.classifiers.registry import get_model

            validate.name("model", model)
            m = _guard(lambda: get_model(self.engine, model, ("probe", "finetune")))
            ids, sc, rk = _guard(lambda: queries.ranking(self.engine, m.id))
            if order is not None and ids.size:  # a round's fused order of the stored ranking
                pos = {int(o): i for i, o in enumerate(ids.tolist())}
                take = np.array([pos[int(o)] for o in order if int(o) in pos], np.int64)
                ids, sc, rk = ids[take], sc[take], rk[take]
            if ids.size == 0:
                raise InvalidInput(f"model {m.name!r} has no stored ranking; score the survey first "
                                   f"('lensdb probe score {m.name}')")
            keep = ~np.isin(ids, leave_out)
            ids, scores, ranks = ids[keep][:size], sc[keep][:size].tolist(), rk[keep][:size].tolist()
            model_id, params["model"] = m.id, m.name
        elif kind == "similar":
            seeds = validate.object_ids("object_ids", list(object_ids), self.backends.config.max_ids)
            ids, scores = self._similar(seeds, leave_out, size)
            params["seeds"] = seeds.tolist()
        elif kind == "labels":
            validate.name("source_set", source_set)
            ids = _guard(lambda: queries.labelled_ids(self.engine, (source_set,), ("lens", "non_lens")))[:size]
            params["source_set"] = source_set
        elif kind == "random":
            ids = queries.random_ids(self.engine, size, seed, exclude=known)
        else:
            raise InvalidInput(f"queue kind {kind!r} is not one of probe, similar, labels, random")
        if len(ids) == 0:
            raise InvalidInput(f"nothing left to inspect in this {kind} queue: every object is a known lens or was "
                               "inspected already in this grading set")
        n_cal = int(round(len(ids) * share / (1.0 - share))) if share > 0 else 0
        # Calibration items are known objects: leave out only what this grading set has seen and the queue holds.
        calibration = self._calibration(n_cal, np.union1d(seen, np.asarray(ids, np.int64)), seed)
        params["calibration_items"] = len(calibration)
        title = name or {"probe": f"ranking of {params.get('model')}", "round": f"round {round_no}",
                         "similar": f"similar to {', '.join(map(str, params.get('seeds', [])[:3]))}",
                         "labels": f"label set {source_set}", "random": f"random sample (seed {seed})"}[kind]
        qid = _guard(lambda: store.create_queue(
            self.engine, set_name, name=title[:255], kind=kind, object_ids=[int(i) for i in ids], scores=scores,
            ranks=ranks, calibration=calibration, params=params, model_id=model_id, created_by=grader,
            round_no=round_no, seed=seed, supersedes=supersedes))
        log.info("queue %d (%s) in '%s': %d objects + %d calibration items", qid, title, set_name, len(ids),
                 len(calibration))
        return self.queue(qid)

    def _similar(self, seeds: np.ndarray, leave_out: np.ndarray, size: int) -> tuple[np.ndarray, list[float]]:
        """Neighbours of the seeds merged by their best similarity (seeds and ``leave_out`` left out)."""
        from lensdb.services.search import SearchService

        search = SearchService(self.backends)
        k = min(search.max_k, max(self.config.similar_k, size // max(1, len(seeds)) + len(leave_out)))
        best: dict[int, float] = {}
        for s in seeds.tolist():
            result = search.similar(SimilarQuery(k=k, object_id=int(s)))
            for h in result.hits:
                oid = h.object.object_id
                if oid not in best or h.similarity > best[oid]:
                    best[oid] = h.similarity
        drop = set(np.union1d(leave_out, seeds).tolist())
        ranked = sorted(((sim, oid) for oid, sim in best.items() if oid not in drop), key=lambda t: (-t[0], t[1]))
        ranked = ranked[:size]
        return np.array([o for _, o in ranked], np.int64), [s for s, _ in ranked]

    def queue(self, queue_id: int) -> QueueInfo:
        queue_id = validate.count("queue", queue_id, 1, validate.INT64_MAX)
        return _info(_guard(lambda: store.queue_row(self.engine, queue_id)))

    def queues(self, label_set: str | None = None) -> list[QueueInfo]:
        if label_set is not None:
            validate.name("label_set", label_set)
        return [_info(r) for r in _guard(lambda: store.queues(self.engine, label_set))]

    # ------------------------------------------------------------------ pages
    def page(self, queue_id: int, grader: str, page: int | None = None) -> Page:
        """Page ``page`` (0-based) of a queue for ``grader``; ``None`` = the page where the grader stopped."""
        validate.name("grader", grader)
        info = self.queue(queue_id)
        size = self.config.page_size
        n_pages = max(1, -(-info.n_items // size))
        cur = _guard(lambda: store.cursor(self.engine, info.id, grader))
        if page is None:
            page = min(cur // size, n_pages - 1)
        page = validate.count("page", page, 0, n_pages - 1)
        rows = _guard(lambda: store.queue_items(self.engine, info.id, page * size, size))
        with self.engine.connect() as conn:
            set_id = store.set_id_of(conn, info.label_set)
            mine = {int(g.object_id): g.grade for g in store.grades_of(conn, set_id, grader=grader,
                                                                      ids=[r.object_id for r in rows])}
        items = [PageItem(int(r.position), int(r.object_id), float(r.ra), float(r.dec), r.survey,
                          optional_mag(r.mag_g), optional_mag(r.mag_r), optional_mag(r.mag_z), r.source_type,
                          None if r.score is None else float(r.score), None if r.rank is None else int(r.rank),
                          mine.get(int(r.object_id))) for r in rows]
        return Page(info, page, n_pages, size, cur, items)

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
    def grade(self, queue_id: int, grader: str, object_id: int, grade, *, note: str | None = None) -> GradeResult:
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
        object_id = validate.count("object_id", object_id, 0, validate.INT64_MAX)
        info = self.queue(queue_id)
        item = _guard(lambda: store.queue_item(self.engine, info.id, object_id))
        if item is None:
            raise InvalidInput(f"object {object_id} is not in queue {info.id}; grade it from a queue that shows it")
        replaced = False
        if value is not None:
            write = store.GradeWrite(object_id, value, calibration=item.calibration, queue_id=info.id,
                                     model_id=info.model_id, note=note)
            _, before = _guard(lambda: store.write_grades(self.engine, info.label_set, grader, [write],
                                                          thresholds=self.config.thresholds))
            replaced = before > 0
        cur = _guard(lambda: store.cursor(self.engine, info.id, grader))
        if item.position + 1 > cur:
            cur = item.position + 1
            _guard(lambda: store.set_cursor(self.engine, info.id, grader, cur))
        return GradeResult(object_id, value, replaced, cur, info.superseded_by is not None, info.superseded_by)

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
        }

    # ------------------------------------------------------------------ active learning
    def _fused_order(self, source, model_id: int, rrf_k: float = 60.0) -> np.ndarray:
        """The model's stored ranking re-ordered by reciprocal-rank fusion with a nearest-labelled-neighbour rank:
        each object's highest cosine similarity to a lens (known, or a consensus A/B) minus its highest similarity
        to an object the graders called not a lens, so that objects like the lenses just found come up next and
        objects like the false positives just rejected go down.

        Only the ranked shortlist and the labelled objects are read, by id: no pass over the survey."""
        from lensdb.classifiers.features import fetch_present

        ids, _, _ = queries.ranking(self.engine, model_id)
        with self.engine.connect() as conn:
            lenses = queries.labelled_ids(conn, classes=("lens",))
            rejected = queries.labelled_ids(conn, classes=("non_lens",),
                                            set_ids=queries.grading_set_ids(conn, GRADE_SOURCE))
        # the labelled objects that have vectors, with their vectors: one read by id, never a list of every id
        lenses, lens_vec = fetch_present(source, lenses)
        if ids.size == 0 or lenses.size == 0:
            return ids
        rejected, rej_vec = fetch_present(source, np.setdiff1d(rejected, lenses))

        def nearest(block: np.ndarray, ref: np.ndarray) -> np.ndarray:
            best = np.full(len(block), -1.0, np.float32)
            for p in range(0, len(ref), 1024):
                best = np.maximum(best, (block @ ref[p:p + 1024].T).max(axis=1))
            return best

        score = np.empty(ids.size, np.float32)
        for s in range(0, ids.size, 16384):  # the shortlist's vectors are read once, for both terms
            block = source.fetch(ids[s:s + 16384])
            score[s:s + len(block)] = nearest(block, lens_vec) - (nearest(block, rej_vec) if rejected.size else 0.0)
        by_neighbour = np.empty(ids.size, np.int64)
        by_neighbour[np.lexsort((ids, -score))] = np.arange(ids.size)
        fused = 1.0 / (rrf_k + np.arange(ids.size)) + 1.0 / (rrf_k + by_neighbour)
        return ids[np.lexsort((ids, -fused))]

    def run_round(self, *, grader: str, label_set: str | None = None, encoder_version: str | None = None,
                  features=None, size: int | None = None, seed: int = 0, out_dir=None, **probe_overrides) -> dict:
        """One active-learning round (see the module's docstring). ``features``: a FeatureSource to use instead of
        the vector store of ``encoder_version`` (benchmarks). Returns what the round did."""
        from lensdb.classifiers.config import ProbeConfig
        from lensdb.classifiers.features import StoreFeatures
        from lensdb.classifiers.registry import get_model
        from lensdb.classifiers.scoring import score_probe
        from lensdb.classifiers.training import train_probe

        validate.name("grader", grader)
        name = self._set_name(label_set)
        t0 = time.perf_counter()
        with self.engine.connect() as conn:
            row = queries.label_set_named(conn, name)
            set_id = int(row.id) if row is not None and row.source == GRADE_SOURCE else None
            last = store.last_round(conn, set_id) if set_id is not None else None
            current = [q for q in store.queues(conn, name) if q.superseded_by is None] if set_id else []
        round_no = (last.round if last is not None else 0) + 1
        version = encoder_version or (features.encoder_version if features is not None
                                      else self.backends.default_version())
        cfg = ProbeConfig.from_settings(self.backends.settings, encoder_version=version, use_grades=True,
                                        ratio=self.config.round_ratio, val_ratio=self.config.round_val_ratio,
                                        epochs=self.config.round_epochs)
        try:  # overrides may set a filter to None (no cut), which the config file cannot say
            cfg = dataclasses.replace(cfg, **probe_overrides)
            cfg = dataclasses.replace(cfg, ratios=(cfg.ratio,))
        except TypeError as exc:
            raise InvalidInput(f"round: {exc}") from None
        own = features is None
        source = features if features is not None else _guard(lambda: StoreFeatures.open(self.backends.settings,
                                                                                          version))
        try:
            with tempfile.TemporaryDirectory(prefix="lensdb-round-") as tmp:
                model_name = f"{name}-round{round_no}-{int(time.time())}"
                run = _guard(lambda: train_probe(self.engine, source, cfg, out_dir=out_dir or tmp, name=model_name,
                                                     plots=False))
                t_train = time.perf_counter() - t0
                model = get_model(self.engine, run.model.id)
                n_vectors = source.count()
                report = _guard(lambda: score_probe(self.engine, source, model, mode="search",
                                                    n=min(self.config.round_score_n, source.count()), out_dir=None))
                order = self._fused_order(source, model.id) if self.config.round_ranking == "fused" else None
        finally:
            if own:
                source.close()
        t_score = time.perf_counter() - t0 - t_train
        previous = current[0].id if current else None  # the newest open queue
        info = self.create_queue("round", grader=grader, label_set=name, model=model.name, size=size, seed=seed,
                                 supersedes=[q.id for q in current], round_no=round_no, order=order)
        seconds = time.perf_counter() - t0
        set_id = store.set_id_of(self.engine, name)
        params = {"ranking": self.config.round_ranking, "training_set": run.sets.describe(cfg.ratio),
                  "val_tp": run.metrics.get("val_tp"),
                  "top_n": run.metrics.get("top_n"), "ranked_over": n_vectors, "kept": report.written,
                  "train_s": round(t_train, 3),
                  "score_s": round(t_score, 3), "encoder_version": version}
        _guard(lambda: store.record_round(self.engine, set_id, round_no, model_id=model.id, queue_id=info.id,
                                          previous_queue_id=previous, params=params, seconds=seconds))
        log.info("round %d of '%s': probe %s trained in %.1f s, %d objects ranked in %.1f s, queue %d (%.1f s)",
                 round_no, name, model.name, t_train, n_vectors, t_score, info.id, seconds)
        return {"round": round_no, "model": model.name, "queue": info.id, "previous_queue": previous,
                "seconds": round(seconds, 3), **params}
