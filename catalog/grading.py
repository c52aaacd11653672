"""The grading store: each grader's grades, the queues graders inspect, where each grader stopped, and the
active-learning rounds (tables ``grades``, ``grading_queues``, ``queue_items``, ``queue_cursors``,
``grading_rounds``; views ``grade_consensus`` and ``grader_calibration``).

A grading set is a ``label_sets`` row whose source is ``lensdb grade`` (names ``grades`` or ``grades-<campaign>``).
Every grader has at most one grade per object in a set; re-grading replaces only the grader's own. The set's
``labels`` are the *consensus* of its grades (mean points A = 3, B = 2, not = 0; A at >= 2.5, B at >= 1.5 by
default), rewritten for the graded objects in the same transaction as every grade write, so that everything that
reads labels (probe training, the API, ``lensdb labels``) sees the consensus. Grades of blind calibration items
(known lenses and known non-lenses shown among the candidates) measure the grader and never enter the consensus.

Writes to one set are serialised (a row lock on the set on PostgreSQL; SQLite has one writer), so two graders
grading the same object at the same moment both keep their grade and the consensus counts both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, Engine, Integer, delete, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from lensdb.catalog.labels import GRADE_SOURCE, check_grading_name
from lensdb.catalog.models import (
    CONSENSUS_A,
    CONSENSUS_B,
    GRADE_POINTS,
    Grade,
    GradingQueue,
    GradingRound,
    Label,
    LabelSet,
    QueueCursor,
    QueueItem,
    Source,
    utcnow,
)
from lensdb.catalog.queries import ID_CHUNK, connection, label_set_named, missing_ids
from lensdb.core.errors import Conflict, InvalidInput, NotFound


@dataclass(frozen=True)
class Thresholds:
    """Consensus thresholds on the mean points of an object's grades (A = 3, B = 2, not a lens = 0)."""

    a: float = CONSENSUS_A
    b: float = CONSENSUS_B

    def __post_init__(self) -> None:
        if not 0.0 < self.b <= self.a <= 3.0:
            raise InvalidInput(f"consensus thresholds need 0 < B <= A <= 3; got A {self.a}, B {self.b}")

    def verdict(self, mean_points: float) -> str:
        return "A" if mean_points >= self.a else "B" if mean_points >= self.b else "N"


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class GradeWrite:
    """One grader's grade of one object (``grade`` A, B or N); ``calibration`` the truth of a blind item."""

    object_id: int
    grade: str
    calibration: str | None = None
    queue_id: int | None = None
    model_id: int | None = None
    note: str | None = None
    flag: str | None = None
    arc_x: float | None = None
    arc_y: float | None = None


def grading_set(conn: Connection, name: str, author: str | None, *, create: bool = True) -> int:
    """Id of the grading set ``name`` (created when missing and ``create``), locked for this transaction's writes.

    Raises:
        InvalidInput: ``name`` is not a grading set's name. Conflict: the set is a lens list or a hand-made set.
        NotFound: no such set and not ``create``.
    """
    check_grading_name(name)
    row = label_set_named(conn, name)
    if row is not None and row.source != GRADE_SOURCE:
        raise Conflict(f"label set '{name}' is a lens list, not a grading set; grade into another set")
    if row is None:
        if not create:
            raise NotFound(f"no grading set '{name}'")
        set_id = conn.execute(insert(LabelSet).values(
            name=name, source=GRADE_SOURCE, author=author,
            description="visual grades of candidates (A, B, not a lens) by one or more graders; labels are "
                        "their consensus").returning(LabelSet.id)).scalar_one()
    else:
        set_id = row.id
    if conn.dialect.name == "postgresql":  # one writer per set: the consensus of an object counts every grade
        conn.execute(select(LabelSet.id).where(LabelSet.id == set_id).with_for_update())
    return set_id


def _upsert(conn: Connection):
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(Grade)


def write_grades(engine: Engine, label_set: str, grader: str, grades: Sequence[GradeWrite], *,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS) -> tuple[int, int]:
    """Store ``grader``'s grades in ``label_set`` (created when missing) and refresh the consensus labels of those
    objects, in one transaction. Returns (written, how many of the grader's own earlier grades were replaced).

    Raises:
        NotFound: an object id not in the catalogue (nothing is written).
        Conflict: the set is not a grading set.
    """
    ids = sorted({g.object_id for g in grades})
    with engine.begin() as conn:
        missing = missing_ids(conn, ids)
        if missing:
            raise NotFound(f"{len(missing)} graded object(s) are not in the catalogue, e.g. {missing[:5]}; "
                           "check the ids (nothing was recorded)")
        set_id = grading_set(conn, label_set, grader)
        before = 0
        for s in range(0, len(ids), ID_CHUNK):
            before += conn.execute(select(func.count()).select_from(Grade).where(
                Grade.label_set_id == set_id, Grade.grader == grader,
                Grade.object_id.in_(ids[s:s + ID_CHUNK]))).scalar_one()
        now = utcnow()
        for g in grades:
            values = {"label_set_id": set_id, "object_id": g.object_id, "grader": grader, "grade": g.grade,
                      "calibration": g.calibration, "queue_id": g.queue_id, "model_id": g.model_id,
                      "note": g.note, "flag": g.flag, "arc_x": g.arc_x, "arc_y": g.arc_y, "created_at": now,
                      "updated_at": now}
            stmt = _upsert(conn).values(**values)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["label_set_id", "object_id", "grader"],
                set_={k: stmt.excluded[k] for k in ("grade", "calibration", "queue_id", "model_id", "note",
                                                     "flag", "arc_x", "arc_y", "updated_at")}))
        refresh_consensus(conn, set_id, ids, thresholds)
    return len(grades), before


def delete_grade(engine: Engine, label_set: str, grader: str, object_id: int, *,
                 thresholds: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """Remove ``grader``'s own grade of ``object_id`` (undo); True when there was one."""
    with engine.begin() as conn:
        set_id = grading_set(conn, label_set, grader, create=False)
        n = conn.execute(delete(Grade).where(Grade.label_set_id == set_id, Grade.grader == grader,
                                             Grade.object_id == int(object_id))).rowcount
        refresh_consensus(conn, set_id, [int(object_id)], thresholds)
    return bool(n)


def refresh_consensus(conn: Connection, set_id: int, ids: Sequence[int], thresholds: Thresholds) -> None:
    """Rewrite the labels of ``ids`` in grading set ``set_id`` as the consensus of their (non-calibration) grades."""
    g = Grade.__table__.c
    for s in range(0, len(ids), ID_CHUNK):
        chunk = [int(i) for i in ids[s:s + ID_CHUNK]]
        conn.execute(delete(Label).where(Label.label_set_id == set_id, Label.object_id.in_(chunk)))
        rows = conn.execute(select(g.object_id, g.grader, g.grade, g.model_id, g.updated_at).where(
            g.label_set_id == set_id, g.object_id.in_(chunk), g.calibration.is_(None))
            .order_by(g.object_id, g.updated_at, g.id)).all()
        by_object: dict[int, list] = {}
        for r in rows:
            by_object.setdefault(int(r.object_id), []).append(r)
        labels = []
        for oid, rs in by_object.items():
            points = [GRADE_POINTS[r.grade] for r in rs]
            mean = float(np.mean(points))
            verdict = thresholds.verdict(mean)
            counts = {k: sum(r.grade == k for r in rs) for k in ("A", "B", "N")}
            graders = sorted({r.grader for r in rs})
            labels.append({
                "label_set_id": set_id, "object_id": oid, "class": "non_lens" if verdict == "N" else "lens",
                "grade": None if verdict == "N" else verdict,
                "author": graders[0] if len(graders) == 1 else f"consensus of {len(graders)} graders",
                "model_id": next((r.model_id for r in reversed(rs) if r.model_id is not None), None),
                "provenance": (f"consensus of {len(rs)} grade(s): {counts['A']} A, {counts['B']} B, {counts['N']} "
                               f"not a lens; mean {mean:.2f} (A >= {thresholds.a:g}, B >= {thresholds.b:g})"),
                "created_at": max(r.updated_at for r in rs)})
        if labels:
            conn.execute(insert(Label), labels)


def grades_of(bind, label_set_id: int, *, grader: str | None = None, ids=None, calibration: bool | None = None):
    """Rows of ``grades`` in a set (of one grader, of some objects; calibration items only / never / both)."""
    g = Grade.__table__.c
    cond = [g.label_set_id == label_set_id]
    if grader is not None:
        cond.append(g.grader == grader)
    if calibration is True:
        cond.append(g.calibration.is_not(None))
    elif calibration is False:
        cond.append(g.calibration.is_(None))
    with connection(bind) as conn:
        if ids is None:
            return conn.execute(select(Grade.__table__).where(*cond).order_by(g.id)).all()
        out = []
        ids = [int(i) for i in ids]
        for s in range(0, len(ids), ID_CHUNK):
            out += conn.execute(select(Grade.__table__).where(*cond, g.object_id.in_(ids[s:s + ID_CHUNK]))).all()
        return out


def consensus_rows(bind, label_set_id: int) -> list:
    """Rows of the ``grade_consensus`` view for one set, by object id."""
    with connection(bind) as conn:
        return conn.execute(text("SELECT * FROM grade_consensus WHERE label_set_id = :s ORDER BY object_id"),
                            {"s": label_set_id}).all()


def calibration_rows(bind, label_set_id: int) -> list:
    """Rows of the ``grader_calibration`` view for one set, by grader."""
    with connection(bind) as conn:
        return conn.execute(text("SELECT * FROM grader_calibration WHERE label_set_id = :s ORDER BY grader"),
                            {"s": label_set_id}).all()


def grader_counts(bind, label_set_id: int) -> list:
    """(grader, n grades, n A, n B, n N, last graded) per grader of a set."""
    g = Grade.__table__.c
    with connection(bind) as conn:
        return conn.execute(select(
            g.grader, func.count(), *(func.sum((g.grade == v).cast(Integer)) for v in ("A", "B", "N")),
            func.max(g.updated_at))
            .where(g.label_set_id == label_set_id).group_by(g.grader).order_by(g.grader)).all()



def graded_ids(bind, label_set_id: int) -> np.ndarray:
    """Sorted ids of the objects anyone graded in the set (calibration items included)."""
    with connection(bind) as conn:
        rows = conn.execute(select(Grade.object_id).where(Grade.label_set_id == label_set_id).distinct()).all()
    return np.unique(np.array([r[0] for r in rows], np.int64))


# ---------------------------------------------------------------------------------------------------- queues
def build_queue_items(object_ids: Sequence[int], *, scores: Sequence[float] | None = None,
                ranks: Sequence[int] | None = None, calibration: dict[int, str] | None = None,
                seed: int = 0) -> list[dict]:
    """The rows of a queue (without its id): ``object_ids`` in order, with calibration items (object id -> truth)
    mixed in at seeded random places."""
    calibration = dict(calibration or {})
    main = [int(o) for o in object_ids if int(o) not in calibration]
    n_total = len(main) + len(calibration)
    rng = np.random.default_rng(seed)
    cal_slots = set(rng.choice(n_total, size=len(calibration), replace=False).tolist()) if calibration else set()
    cal_ids = list(calibration)
    rng.shuffle(cal_ids)
    score_of = dict(zip([int(o) for o in object_ids], scores, strict=True)) if scores is not None else {}
    rank_of = dict(zip([int(o) for o in object_ids], ranks, strict=True)) if ranks is not None else {}
    items, it_main, it_cal = [], iter(main), iter(cal_ids)
    for pos in range(n_total):
        if pos in cal_slots:
            oid = next(it_cal)
            items.append({"position": pos, "object_id": oid, "calibration": calibration[oid], "score": None,
                          "rank": None})
        else:
            oid = next(it_main)
            sc = score_of.get(oid)
            items.append({"position": pos, "object_id": oid, "calibration": None,
                          "score": None if sc is None else float(sc),
                          "rank": None if rank_of.get(oid) is None else int(rank_of[oid])})
    return items


def insert_queue(conn: Connection, label_set: str, items: list[dict], *, name: str, kind: str,
                 params: dict | None = None, model_id: int | None = None, created_by: str | None = None,
                 round_no: int | None = None, supersedes: Sequence[int] = ()) -> int:
    """Insert a queue and its ``items`` (:func:`build_queue_items`) in the caller's transaction; marks the queues
    ``supersedes`` as replaced by it. Returns its id."""
    missing = missing_ids(conn, [it["object_id"] for it in items])
    if missing:
        raise NotFound(f"{len(missing)} object(s) of the queue are not in the catalogue, e.g. {missing[:5]}")
    set_id = grading_set(conn, label_set, created_by)
    qid = conn.execute(insert(GradingQueue).values(
        label_set_id=set_id, name=name, kind=kind, params=params or {}, model_id=model_id, round=round_no,
        n_items=len(items), created_by=created_by, created_at=utcnow()).returning(GradingQueue.id)).scalar_one()
    for s in range(0, len(items), ID_CHUNK):
        conn.execute(insert(QueueItem), [{**it, "queue_id": qid} for it in items[s:s + ID_CHUNK]])
    if supersedes:
        conn.execute(update(GradingQueue).where(GradingQueue.id.in_([int(q) for q in supersedes]))
                     .values(superseded_by=qid))
    return qid


def create_queue(engine: Engine, label_set: str, *, name: str, kind: str, object_ids: Sequence[int],
                 scores: Sequence[float] | None = None, ranks: Sequence[int] | None = None,
                 calibration: dict[int, str] | None = None, params: dict | None = None, model_id: int | None = None,
                 created_by: str | None = None, round_no: int | None = None, seed: int = 0,
                 supersedes: Sequence[int] = ()) -> int:
    """Freeze a queue: ``object_ids`` in order, with calibration items (object id -> truth) mixed in at seeded
    random places. Marks the queues ``supersedes`` as replaced by the new one. Returns the new queue's id."""
    items = build_queue_items(object_ids, scores=scores, ranks=ranks, calibration=calibration, seed=seed)
    with engine.begin() as conn:
        return insert_queue(conn, label_set, items, name=name, kind=kind, params=params, model_id=model_id,
                            created_by=created_by, round_no=round_no, supersedes=supersedes)


@dataclass(frozen=True)
class CommittedRound:
    round: int
    model_id: int
    queue_id: int
    previous_queue_id: int | None
    superseded: list[int]


NEW_MODEL = "<the round's own model>"  # a placeholder in a round's params for the id its model gets at commit


def commit_round(engine: Engine, label_set: str, round_no: int, *, model: dict, ranked_ids: np.ndarray,
                 ranked_scores: np.ndarray, items: list[dict], queue_name: str, queue_params: dict,
                 created_by: str | None, params: dict, seconds: float,
                 queue_model_id: int | None = None) -> CommittedRound:
    """Write one active-learning round as one unit, in one transaction: its model row (``model``: the column
    values), the model's predictions (``ranked_ids`` best first with their scores), the next queue (``items``:
    :func:`build_queue_items`), the supersession of every open queue of the set, and the ``grading_rounds`` row. Either
    all of it is committed or none (a failure or a killed process leaves nothing behind). ``queue_model_id``: the
    stored model whose ranking the queue shows when it is not the round's own (a round whose model was not
    accepted); values of ``params`` equal to :data:`NEW_MODEL` become the id of the round's own model.

    Raises:
        Conflict: round ``round_no`` of the set was committed meanwhile (another process ran a round at the same
            time), or the model name is taken; nothing is written.
    """
    from lensdb.catalog.bulk import copy_batches
    from lensdb.catalog.models import Model, Prediction

    try:
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":  # take the write lock first: a deferred reader could not upgrade
                conn.execute(update(LabelSet).where(LabelSet.id == -1).values(name=LabelSet.name))
            set_id = grading_set(conn, label_set, created_by)  # locks the set's row on PostgreSQL
            if conn.execute(select(GradingRound.id).where(GradingRound.label_set_id == set_id,
                                                          GradingRound.round == round_no)).first():
                raise Conflict(f"round {round_no} of grading set '{label_set}' was committed by another process "
                               "while this one ran; nothing of this one was written: reload and start the next "
                               "round")
            taken = conn.execute(select(Model.id).where(Model.name == model["name"])).first()
            if taken:
                raise Conflict(f"a model called {model['name']!r} exists already; nothing of this round was written")
            model_id = int(conn.execute(insert(Model).values(**model).returning(Model.id)).scalar_one())
            n = int(len(ranked_ids))
            copy_batches(conn, Prediction.__tablename__, [{
                "model_id": np.full(n, model_id, np.int64), "object_id": np.asarray(ranked_ids, np.int64),
                "score": np.asarray(ranked_scores, np.float64), "rank": np.arange(1, n + 1, dtype=np.int64)}])
            q = GradingQueue.__table__.c
            open_queues = [int(r[0]) for r in conn.execute(
                select(q.id).where(q.label_set_id == set_id, q.superseded_by.is_(None)).order_by(q.id.desc()))]
            params = {k: (model_id if v == NEW_MODEL else v) for k, v in params.items()}
            queue_id = insert_queue(conn, label_set, items, name=queue_name, kind="round", params=queue_params,
                                    model_id=queue_model_id or model_id, created_by=created_by, round_no=round_no,
                                    supersedes=open_queues)
            conn.execute(insert(GradingRound).values(
                label_set_id=set_id, round=round_no, model_id=model_id, queue_id=queue_id,
                previous_queue_id=open_queues[0] if open_queues else None, params=params, seconds=seconds,
                created_at=utcnow()))
    except IntegrityError as exc:  # the unique (set, round) or model name taken by a concurrent commit
        raise Conflict(f"round {round_no} of grading set '{label_set}' could not be committed: another round or "
                       "model of the same name was committed meanwhile; nothing of this one was written: reload "
                       "and start the next round") from exc
    return CommittedRound(round_no, model_id, queue_id, open_queues[0] if open_queues else None, open_queues)


def queue_row(bind, queue_id: int):
    """The queue's row joined with its set's name (``label_set``); NotFound when there is none."""
    q = GradingQueue.__table__.c
    with connection(bind) as conn:
        row = conn.execute(select(GradingQueue.__table__, LabelSet.name.label("label_set"))
                           .join(LabelSet, LabelSet.id == q.label_set_id).where(q.id == int(queue_id))).first()
    if row is None:
        raise NotFound(f"no grading queue {queue_id}")
    return row


def queues(bind, label_set: str | None = None) -> list:
    """Every queue (of one grading set), newest first, with its set's name."""
    q = GradingQueue.__table__.c
    query = select(GradingQueue.__table__, LabelSet.name.label("label_set")).join(
        LabelSet, LabelSet.id == q.label_set_id)
    if label_set is not None:
        query = query.where(LabelSet.name == label_set)
    with connection(bind) as conn:
        return conn.execute(query.order_by(q.id.desc())).all()


def queue_items(bind, queue_id: int, start: int, limit: int) -> list:
    """Items at positions [start, start + limit) with their catalogue columns, by position."""
    i, s = QueueItem.__table__.c, Source.__table__.c
    with connection(bind) as conn:
        return conn.execute(select(i.position, i.object_id, i.calibration, i.score, i.rank, s.ra, s.dec, s.survey,
                                   s.mag_g, s.mag_r, s.mag_z, s.source_type)
                            .join(Source, Source.object_id == i.object_id)
                            .where(i.queue_id == int(queue_id), i.position >= start, i.position < start + limit)
                            .order_by(i.position)).all()


def queue_item(bind, queue_id: int, object_id: int):
    """The item of ``object_id`` in a queue, or None."""
    i = QueueItem.__table__.c
    with connection(bind) as conn:
        return conn.execute(select(QueueItem.__table__).where(i.queue_id == int(queue_id),
                                                              i.object_id == int(object_id))).first()


def queue_object_ids(bind, queue_id: int, before: int | None = None) -> np.ndarray:
    """Ids of a queue's objects (at positions below ``before`` when given)."""
    i = QueueItem.__table__.c
    query = select(i.object_id).where(i.queue_id == int(queue_id))
    if before is not None:
        query = query.where(i.position < before)
    with connection(bind) as conn:
        return np.array([r[0] for r in conn.execute(query)], np.int64)


def cursor(bind, queue_id: int, grader: str) -> int:
    """The next position ``grader`` is to see in the queue (0 when they have not started)."""
    c = QueueCursor.__table__.c
    with connection(bind) as conn:
        pos = conn.execute(select(c.position).where(c.queue_id == int(queue_id), c.grader == grader)).scalar()
    return int(pos or 0)


def set_cursor(engine: Engine, queue_id: int, grader: str, position: int) -> None:
    """Record where ``grader`` is in the queue."""
    with engine.begin() as conn:
        ins = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(QueueCursor)
        stmt = ins.values(queue_id=int(queue_id), grader=grader, position=int(position), updated_at=utcnow())
        conn.execute(stmt.on_conflict_do_update(index_elements=["queue_id", "grader"],
                                                set_={"position": stmt.excluded.position,
                                                      "updated_at": stmt.excluded.updated_at}))


def seen_ids(bind, label_set_id: int) -> np.ndarray:
    """Objects already inspected in a set: graded by anyone, or passed (skipped) by a grader in one of its queues."""
    c, i, q = QueueCursor.__table__.c, QueueItem.__table__.c, GradingQueue.__table__.c
    with connection(bind) as conn:
        passed = conn.execute(select(i.object_id).join(QueueCursor, c.queue_id == i.queue_id)
                              .join(GradingQueue, GradingQueue.id == i.queue_id)
                              .where(q.label_set_id == label_set_id, i.position < c.position).distinct()).all()
    return np.union1d(graded_ids(bind, label_set_id), np.array([r[0] for r in passed], np.int64))


# ---------------------------------------------------------------------------------------------------- rounds
def last_round(bind, label_set_id: int):
    """The newest ``grading_rounds`` row of a set, or None."""
    r = GradingRound.__table__.c
    with connection(bind) as conn:
        return conn.execute(select(GradingRound.__table__).where(r.label_set_id == label_set_id)
                            .order_by(r.round.desc()).limit(1)).first()


def record_round(engine: Engine, label_set_id: int, round_no: int, *, model_id: int | None, queue_id: int | None,
                 previous_queue_id: int | None, params: dict, seconds: float) -> int:
    """Store one active-learning round; Conflict when the set already has a round of that number."""
    with engine.begin() as conn:
        if conn.execute(select(GradingRound.id).where(GradingRound.label_set_id == label_set_id,
                                                      GradingRound.round == round_no)).first():
            raise Conflict(f"round {round_no} of this grading set exists already (another round ran at the same "
                           "time?); reload and start the next round")
        return conn.execute(insert(GradingRound).values(
            label_set_id=label_set_id, round=round_no, model_id=model_id, queue_id=queue_id,
            previous_queue_id=previous_queue_id, params=params, seconds=seconds, created_at=utcnow())
            .returning(GradingRound.id)).scalar_one()


def round_of_job(bind, job_id: int):
    """The round whose model job ``job_id`` trained (round, queue_id, model_id), or None."""
    from lensdb.catalog.models import Model

    r = GradingRound.__table__.c
    with connection(bind) as conn:
        return conn.execute(select(r.round, r.queue_id, r.model_id).join(Model, Model.id == r.model_id)
                            .where(Model.job_id == int(job_id))).first()


def rounds(bind, label_set_id: int) -> list:
    """Every round of a set, oldest first."""
    r = GradingRound.__table__.c
    with connection(bind) as conn:
        return conn.execute(select(GradingRound.__table__).where(r.label_set_id == label_set_id)
                            .order_by(r.round)).all()


def set_id_of(bind, label_set: str) -> int:
    """Id of the grading set ``label_set``; NotFound when there is none."""
    row = label_set_named(bind, label_set)
    if row is None or row.source != GRADE_SOURCE:
        raise NotFound(f"no grading set '{label_set}'")
    return int(row.id)


def skill_rows(bind, label_set_id: int) -> list:
    """Rows of the ``grader_skill`` view (the SWAP skills of each grader with calibration grades) for one set."""
    with connection(bind) as conn:
        return conn.execute(text("SELECT * FROM grader_skill WHERE label_set_id = :s ORDER BY grader"),
                            {"s": label_set_id}).all()


def swap_evidence_rows(bind, label_set_id: int) -> list:
    """Rows of the ``swap_evidence`` view (each graded object's summed log-likelihood ratio) for one set."""
    with connection(bind) as conn:
        return conn.execute(text("SELECT * FROM swap_evidence WHERE label_set_id = :s ORDER BY object_id"),
                            {"s": label_set_id}).all()


def flagged_rows(bind, label_set_id: int, limit: int = 500) -> list:
    """Grades of one set that carry a flag or a note, newest first: (object_id, grader, grade, flag, note,
    updated_at)."""
    with connection(bind) as conn:
        return conn.execute(select(Grade.object_id, Grade.grader, Grade.grade, Grade.flag, Grade.note,
                                   Grade.updated_at)
                            .where(Grade.label_set_id == label_set_id,
                                   (Grade.flag.is_not(None)) | (Grade.note.is_not(None)))
                            .order_by(Grade.updated_at.desc(), Grade.id.desc()).limit(limit)).all()


def flagged_examples(bind, flag: str, limit: int = 24) -> list[int]:
    """Objects any grader flagged ``flag`` in any grading set (most recent first), for the field guide."""
    with connection(bind) as conn:
        rows = conn.execute(select(Grade.object_id, func.max(Grade.updated_at).label("t"))
                            .where(Grade.flag == flag).group_by(Grade.object_id)
                            .order_by(text("t DESC")).limit(limit)).all()
    return [int(r.object_id) for r in rows]


def list_sets(bind) -> list:
    """(id, name) of the label sets that are not grading sets (lens lists and hand-made sets), by name."""
    with connection(bind) as conn:
        return conn.execute(select(LabelSet.id, LabelSet.name)
                            .where((LabelSet.source.is_(None)) | (LabelSet.source != GRADE_SOURCE))
                            .order_by(LabelSet.name)).all()
