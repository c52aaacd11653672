"""The catalogue's reads, by name: every question other parts of LensDB ask the relational database.

Callers never write their own ``select()``: they ask here (``sources``, ``labels_of``, ``labelled_ids``,
``image_locations``, ``ids_matching``, ...), so each query exists once, is tested on SQLite and PostgreSQL, and
changes with the schema in one place. Each function takes an engine or an open connection (``bind``); lists of ids
are sent ``ID_CHUNK`` at a time, well below every backend's bound-parameter limit, and answered as dicts keyed by
object id (callers put them back in their own order).

:func:`filter_conditions` compiles the shared :class:`lensdb.core.filters.ObjectFilter` to SQL conditions on
``sources`` (the vector store compiles the same filter to a Milvus expression).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import Connection, Engine, and_, exists, func, not_, or_, select

from lensdb.catalog.models import Label, LabelSet, Model, Prediction, Shard, Source, SurveyRoot
from lensdb.core import sky
from lensdb.core.errors import InvalidInput, NotFound
from lensdb.core.filters import ObjectFilter

#: Ids per ``IN (...)`` clause.
ID_CHUNK = 5000
Bind = Engine | Connection


@contextmanager
def connection(bind: Bind) -> Iterator[Connection]:
    """``bind`` itself when it is a connection (the caller's transaction), else a new one closed afterwards."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as conn:
            yield conn


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    unique = np.unique(np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, dtype=np.int64))
    for start in range(0, unique.size, ID_CHUNK):
        yield unique[start:start + ID_CHUNK].tolist()


def sorted_ids(conn: Connection, stmt) -> np.ndarray:
    """A one-column integer query as a sorted unique int64 array, fetched in partitions (millions of rows)."""
    parts = [np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
             for part in conn.execute(stmt.execution_options(yield_per=200_000)).partitions()]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)


# ---------------------------------------------------------------------------------------------------- sources
def sources(bind: Bind, ids, columns: Sequence[str] | None = None) -> dict:
    """``sources`` rows of ``ids``, keyed by object id (ids not in the catalogue are absent).

    Args:
        columns: the columns wanted (``object_id`` always comes); ``None`` = every column plus ``shard`` (the
            shard's name, ``None`` for a source without one).
    """
    s = Source.__table__.c
    if columns is None:
        query = select(Source.__table__, Shard.name.label("shard")).join(Shard, Shard.id == s.shard_id, isouter=True)
    else:
        unknown = [c for c in columns if c not in s]
        if unknown:
            raise InvalidInput(f"sources has no column(s) {unknown}")
        query = select(s.object_id, *(s[c] for c in columns if c != "object_id"))
    out: dict = {}
    with connection(bind) as conn:
        for chunk in _chunks(ids):
            out.update({int(r.object_id): r for r in conn.execute(query.where(s.object_id.in_(chunk)))})
    return out


def existing_ids(bind: Bind, ids) -> set[int]:
    """The ids among ``ids`` that are in the catalogue."""
    found: set[int] = set()
    with connection(bind) as conn:
        for chunk in _chunks(ids):
            found.update(int(i) for i in conn.execute(select(Source.object_id).where(Source.object_id.in_(chunk)))
                         .scalars())
    return found


def missing_ids(bind: Bind, ids) -> list[int]:
    """The ids among ``ids`` that are not in the catalogue, sorted."""
    found = existing_ids(bind, ids)
    return sorted({int(i) for i in ids} - found)


def positions(bind: Bind, ids) -> dict[int, tuple[float, float]]:
    """object id -> (ra, dec) degrees."""
    return {i: (float(r.ra), float(r.dec)) for i, r in sources(bind, ids, ("ra", "dec")).items()}


def ids_matching(bind: Bind, flt: ObjectFilter | None, *, centre: float | None = None) -> np.ndarray:
    """Sorted ids of the sources passing ``flt`` (every source when ``flt`` is None or empty)."""
    with connection(bind) as conn:
        where = filter_conditions(flt, centre=centre) if flt is not None else []
        return sorted_ids(conn, select(Source.object_id).where(*where))


def filter_conditions(flt: ObjectFilter, *, centre: float | None = None, object_id=None) -> list:
    """SQL conditions on ``sources`` (and ``labels``) that hold exactly for the objects ``flt`` lets through.

    Args:
        flt: the filter (validated by its own type: every value is a checked number or a member of a closed set).
        centre: the r magnitude a ``window`` is centred on (when the window gives none itself).
        object_id: the column the object id comes from (default ``sources.object_id``; a query over
            ``predictions`` passes ``predictions.object_id`` so that label exclusion uses its index).

    Raises:
        InvalidInput: a window with no centre, or ``drop_duplicates_px`` (a rule on ranked results, not a
            condition on one object).
    """
    s = Source.__table__.c
    oid = object_id if object_id is not None else s.object_id
    out: list = []
    if flt.surveys is not None:
        out.append(s.survey.in_(flt.surveys))
    if flt.source_types is not None:
        out.append(s.source_type.in_(flt.source_types))
    for r in flt.mag_ranges:
        col = s[f"mag_{r.band}"]
        if r.low is not None:
            out.append(col >= r.low)
        if r.high is not None:
            out.append(col < r.high)
    if flt.window is not None:
        mid = flt.window.centre if flt.window.centre is not None else centre
        if mid is None:
            raise InvalidInput("a magnitude window needs a centre: give MagWindow(centre=...) or a query object")
        out += [s.mag_r > mid - flt.window.width, s.mag_r < mid + flt.window.width]
    if flt.cone is not None:
        out.append(_cone(flt.cone.ra, flt.cone.dec, flt.cone.radius))
    if flt.exclude_ids:
        out.append(oid.not_in(list(flt.exclude_ids)))
    if flt.exclude_labelled:
        labelled = select(Label.id).where(Label.object_id == oid)
        if flt.label_sets:
            labelled = labelled.join(LabelSet, LabelSet.id == Label.label_set_id).where(
                LabelSet.name.in_(flt.label_sets))
        out.append(not_(exists(labelled)))
    if flt.drop_duplicates_px is not None:
        raise InvalidInput("drop_duplicates_px applies to ranked search results, not to catalogue listings")
    return out


def _cone(ra: float, dec: float, radius: float):
    """Inside the cone: the ``sky_pixel`` ranges of the centre's cover (:func:`lensdb.core.sky.sky_pixel_ranges`,
    the column's B-tree index) and the box of :func:`lensdb.core.sky.cone_box`, then the exact haversine
    separation (``sin``/``cos``/``power``, which SQLite gets from :func:`lensdb.catalog.db.make_engine`)."""
    s = Source.__table__.c
    dec_low, dec_high, ra_ranges = sky.cone_box(ra, dec, radius)
    pixels = or_(*(s.sky_pixel.between(lo, hi) for lo, hi in sky.sky_pixel_ranges(ra, dec, radius * (1 + 1e-6))))
    box = [pixels, s.dec >= dec_low, s.dec <= dec_high]
    if ra_ranges is not None:
        box.append(or_(*(and_(s.ra >= lo, s.ra <= hi) for lo, hi in ra_ranges)))
    rad = np.pi / 180.0
    d1, a1 = dec * rad, ra * rad
    h = (func.power(func.sin((s.dec * rad - d1) / 2), 2)
         + np.cos(d1) * func.cos(s.dec * rad) * func.power(func.sin((s.ra * rad - a1) / 2), 2))
    # 2 asin(sqrt(h)) <= r  <=>  h <= sin^2(r / 2), for 0 <= r <= 180 degrees: no inverse function needed.
    return and_(*box, h <= float(np.sin(radius * rad / 2) ** 2))


# ---------------------------------------------------------------------------------------------------- images
def shard_file(root_path: str | None, path: str) -> str:
    """A shard's file: ``path`` under its survey root's folder, or ``path`` itself when it has no root (see
    :func:`outside_root` for the check that the file stays inside its root)."""
    if root_path is None:
        return path
    return os.path.join(root_path, path)


def outside_root(root_path: str | None, path: str) -> str | None:
    """Why a shard row's file is not confined to its survey root (``None`` when it is): a path recorded under a
    root must be relative and resolve inside the root's folder (no ``..``, no symlink leading out); a shard with
    no root must have an absolute path."""
    if root_path is None:
        return None if os.path.isabs(path) else f"its path {path!r} is relative but it has no survey root"
    if os.path.isabs(path) or os.path.isabs(os.path.normpath(path)):
        return f"its path {path!r} is absolute, not relative to its survey root"
    if os.path.normpath(path).split(os.sep)[0] == "..":
        return f"its path {path!r} leaves its survey root"
    root = os.path.realpath(root_path)
    real = os.path.realpath(os.path.join(root_path, path))
    if os.path.commonpath([root, real]) != root:
        return f"its path {path!r} resolves outside its survey root (a symbolic link leading out of the folder)"
    return None


def confined_shard_file(name: str, root_path: str | None, path: str) -> str:
    """:func:`shard_file`, refused (InvalidInput naming the shard) when the file is not confined to its root."""
    why = outside_root(root_path, path)
    if why is not None:
        raise InvalidInput(f"shard {name}: {why}; its images are not read. Move the file under the root and record "
                           "it there ('lensdb ingest' from inside the root), or re-point the root")
    return shard_file(root_path, path)


_SHARD_FILE = (SurveyRoot.path.label("root_path"), Shard.path)


@dataclass(frozen=True)
class ImageLocation:
    """Where an object's cutout is: the shard's file (under its survey root), its name in the catalogue, the row."""

    path: str
    shard: str
    row: int


def image_locations(bind: Bind, ids) -> dict[int, ImageLocation]:
    """object id -> :class:`ImageLocation`, for the ids that have a shard."""
    s = Source.__table__.c
    query = (select(s.object_id, *_SHARD_FILE, Shard.name, s.row).join(Shard, Shard.id == s.shard_id)
             .outerjoin(SurveyRoot, SurveyRoot.name == Shard.root))
    out: dict[int, ImageLocation] = {}
    files: dict[tuple, str] = {}  # checked once per shard
    with connection(bind) as conn:
        for chunk in _chunks(ids):
            for o, rp, p, n, r in conn.execute(query.where(s.object_id.in_(chunk))):
                if (rp, p) not in files:
                    files[rp, p] = confined_shard_file(n, rp, p)
                out[int(o)] = ImageLocation(files[rp, p], n, int(r))
    return out


@dataclass(frozen=True)
class ShardRow:
    """An ingested shard: ``path`` is its file now (under the root's current folder); ``stored_path`` is what the
    catalogue records (relative to ``root``, or absolute when ``root`` is ``None``)."""

    id: int
    name: str
    path: str
    root: str | None
    stored_path: str
    n_rows: int
    cutout: int
    image_dtype: str
    fingerprint: str
    outside: str | None = None  #: why the file is not confined to its root (then it is not read), or None
    images_sha256: str | None = None  #: sha256 of every image row (None: ingested before revision 0008)

    def checked_path(self) -> str:
        """``path``, refused (InvalidInput naming the shard) when the file is not confined to its root."""
        if self.outside is not None:
            raise InvalidInput(f"shard {self.name}: {self.outside}; its images are not read. Move the file under "
                               "the root and record it there, or re-point the root")
        return self.path


def _shard_rows(bind: Bind, *where) -> list[ShardRow]:
    query = (select(Shard.id, Shard.name, SurveyRoot.path, Shard.root, Shard.path, Shard.n_rows, Shard.cutout,
                    Shard.image_dtype, Shard.fingerprint, Shard.images_sha256)
             .outerjoin(SurveyRoot, SurveyRoot.name == Shard.root).where(*where).order_by(Shard.id))
    with connection(bind) as conn:
        return [ShardRow(i, n, shard_file(rp, p), r, p, nr, c, d, f, outside_root(rp, p), full)
                for i, n, rp, r, p, nr, c, d, f, full in conn.execute(query)]


def shards(bind: Bind) -> list[ShardRow]:
    """Every ingested shard (:class:`ShardRow`), by id."""
    return _shard_rows(bind)


def shard_named(bind: Bind, name: str) -> ShardRow | None:
    """The shard called ``name`` (:class:`ShardRow`), or ``None``."""
    rows = _shard_rows(bind, Shard.name == name)
    return rows[0] if rows else None


@dataclass(frozen=True)
class RootRow:
    """A survey root: its name, folder, when it was last set, and how many shards lie under it."""

    name: str
    path: str
    updated_at: datetime
    n_shards: int


def survey_roots(bind: Bind) -> list[RootRow]:
    """Every survey root (:class:`RootRow`), by name."""
    query = (select(SurveyRoot.name, SurveyRoot.path, SurveyRoot.updated_at, func.count(Shard.id))
             .outerjoin(Shard, Shard.root == SurveyRoot.name).group_by(SurveyRoot.name, SurveyRoot.path,
                                                                      SurveyRoot.updated_at)
             .order_by(SurveyRoot.name))
    with connection(bind) as conn:
        return [RootRow(n, p, t, int(c)) for n, p, t, c in conn.execute(query)]


def footprint(bind: Bind) -> list[tuple[str, int, tuple[float, float, float, float], tuple[float, float]]]:
    """Per survey, the ingested sky: (survey, sources, (RA min, RA max, and both again with RA >= 180 taken as
    RA - 360, for footprints across RA 0), (Dec min, Dec max)), degrees."""
    s = Source.__table__.c
    from sqlalchemy import case

    wrapped = case((s.ra >= 180, s.ra - 360), else_=s.ra)
    query = (select(s.survey, func.count(), func.min(s.ra), func.max(s.ra), func.min(wrapped), func.max(wrapped),
                    func.min(s.dec), func.max(s.dec)).group_by(s.survey).order_by(s.survey))
    with connection(bind) as conn:
        return [(sv, int(n), (float(a), float(b), float(aw), float(bw)), (float(c), float(d)))
                for sv, n, a, b, aw, bw, c, d in conn.execute(query)]


def smallest_cutout(bind: Bind) -> int | None:
    """The smallest cutout side of the ingested shards, pixels (``None`` when none is ingested)."""
    with connection(bind) as conn:
        value = conn.execute(select(func.min(Shard.cutout))).scalar()
    return None if value is None else int(value)


def shard_objects(bind: Bind, shard_id: int, flt: ObjectFilter | None = None) -> dict[int, int]:
    """row -> object id of the sources of one shard (those passing ``flt``)."""
    s = Source.__table__.c
    where = [s.shard_id == shard_id, *(filter_conditions(flt) if flt is not None else [])]
    with connection(bind) as conn:
        return {int(r): int(o) for r, o in conn.execute(select(s.row, s.object_id).where(*where))}


def id_owners(bind: Bind, ids) -> list[tuple[int, str]]:
    """(object id, shard name) of the ids among ``ids`` that some ingested shard holds."""
    s = Source.__table__.c
    query = select(s.object_id, Shard.name).join(Shard, Shard.id == s.shard_id)
    out: list[tuple[int, str]] = []
    with connection(bind) as conn:
        for chunk in _chunks(ids):
            out += [(int(o), n) for o, n in conn.execute(query.where(s.object_id.in_(chunk)))]
    return out


# ---------------------------------------------------------------------------------------------------- labels
@dataclass(frozen=True)
class LabelOf:
    """One label an object carries."""

    label_set: str
    label_class: str
    grade: str | None
    author: str | None
    created_at: datetime | None


def labels_of(bind: Bind, ids) -> dict[int, list[LabelOf]]:
    """object id -> its labels in every set, oldest first."""
    lb = Label.__table__.c
    query = (select(lb.object_id, LabelSet.name, lb["class"], lb.grade, lb.author, lb.created_at)
             .join(LabelSet, LabelSet.id == lb.label_set_id).order_by(lb.id))
    out: dict[int, list[LabelOf]] = defaultdict(list)
    with connection(bind) as conn:
        for chunk in _chunks(ids):
            for oid, set_name, cls, grade, author, created in conn.execute(query.where(lb.object_id.in_(chunk))):
                out[int(oid)].append(LabelOf(set_name, cls, grade, author, created))
    return dict(out)


def label_set_rows(bind: Bind) -> list:
    """Every label set (id, name, source, author, description, created_at), by name."""
    with connection(bind) as conn:
        return conn.execute(select(LabelSet.id, LabelSet.name, LabelSet.source, LabelSet.author,
                                   LabelSet.description, LabelSet.created_at).order_by(LabelSet.name)).all()


def label_set_named(bind: Bind, name: str):
    """The label set called ``name`` (id, name, source, author, description), or ``None``."""
    with connection(bind) as conn:
        return conn.execute(select(LabelSet.id, LabelSet.name, LabelSet.source, LabelSet.author,
                                   LabelSet.description).where(LabelSet.name == name)).first()


def labelled_ids(bind: Bind, label_sets: Sequence[str] = (), classes: Sequence[str] | None = None, *,
                 set_ids: Sequence[int] | None = None) -> np.ndarray:
    """Sorted ids of objects carrying a label (of ``classes``, any class when ``None``) in ``label_sets`` (by
    name) or ``set_ids`` (by id); in any set when neither is given.

    Raises:
        NotFound: a named set does not exist.
    """
    lb = Label.__table__.c
    query = select(lb.object_id)
    with connection(bind) as conn:
        ids = list(set_ids or ())
        if label_sets:
            named = select(LabelSet.name, LabelSet.id).where(LabelSet.name.in_(list(label_sets)))
            found = dict(conn.execute(named).all())
            missing = [n for n in label_sets if n not in found]
            if missing:
                raise NotFound(f"no label set {missing[0]!r}; list them with ListLabelSets or 'lensdb labels list'")
            ids += list(found.values())
        if label_sets or set_ids is not None:
            query = query.where(lb.label_set_id.in_(ids))
        if classes is not None:
            query = query.where(lb["class"].in_(list(classes)))
        return sorted_ids(conn, query)


def latest_labels(bind: Bind, set_ids: Sequence[int]) -> dict[int, str]:
    """object id -> the class of its most recent label in the sets ``set_ids`` (the latest judgement stands)."""
    lb = Label.__table__.c
    with connection(bind) as conn:
        rows = conn.execute(select(lb.object_id, lb["class"]).where(lb.label_set_id.in_(list(set_ids)))
                            .order_by(lb.created_at, lb.id)).all()
    return {int(o): c for o, c in rows}


def label_page(bind: Bind, set_name: str, label_class: str | None, after_id: int | None, limit: int) -> list:
    """Up to ``limit`` labels of set ``set_name`` (of ``label_class``) with id > ``after_id``, in id order: (id,
    object_id, class, grade, name, author, provenance, separation_arcsec, created_at, model)."""
    lb = Label.__table__.c
    cond = [LabelSet.name == set_name]
    if label_class is not None:
        cond.append(lb["class"] == label_class)
    if after_id is not None:
        cond.append(lb.id > after_id)
    query = (select(lb.id, lb.object_id, lb["class"], lb.grade, lb.name, lb.author, lb.provenance,
                    lb.separation_arcsec, lb.created_at, Model.name.label("model"))
             .join(LabelSet, LabelSet.id == lb.label_set_id).join(Model, Model.id == lb.model_id, isouter=True)
             .where(*cond).order_by(lb.id).limit(limit))
    with connection(bind) as conn:
        return conn.execute(query).all()


# ---------------------------------------------------------------------------------------------------- models
def model_rows(bind: Bind, kinds: Sequence[str]) -> list:
    """``models`` rows of ``kinds``, oldest first, each with ``n_predictions``."""
    m, p = Model.__table__.c, Prediction.__table__.c
    counts = select(p.model_id, func.count().label("n")).group_by(p.model_id).subquery()
    query = (select(Model.__table__, func.coalesce(counts.c.n, 0).label("n_predictions"))
             .join(counts, counts.c.model_id == m.id, isouter=True).where(m.kind.in_(list(kinds))).order_by(m.id))
    with connection(bind) as conn:
        return conn.execute(query).all()


def models_matching(bind: Bind, ref: int | str) -> list[dict]:
    """Rows (as dicts) of the models called ``ref``, or with id ``ref`` when it is an integer or a numeral."""
    m = Model.__table__.c
    conds = [m.name == str(ref)]
    numeral = isinstance(ref, int) or (isinstance(ref, str) and ref.isascii() and ref.isdigit())
    if numeral and 0 <= int(ref) < 2**63:  # a bigger numeral can only be a name
        conds.append(m.id == int(ref))
    with connection(bind) as conn:
        return [dict(r) for r in conn.execute(select(Model.__table__).where(or_(*conds))).mappings()]


def recent_model_names(bind: Bind, kinds: Sequence[str] | None = None, limit: int = 10) -> list[str]:
    """Names of the newest models (of ``kinds``), newest first."""
    m = Model.__table__.c
    query = select(m.name).order_by(m.id.desc()).limit(limit)
    if kinds:
        query = query.where(m.kind.in_(list(kinds)))
    with connection(bind) as conn:
        return list(conn.execute(query).scalars())


def model_named(bind: Bind, name: str) -> int | None:
    """The id of the model called ``name``, or ``None``."""
    with connection(bind) as conn:
        return conn.execute(select(Model.id).where(Model.name == name)).scalar()


def candidate_page(bind: Bind, model_id: int, flt: ObjectFilter, *, min_score: float | None = None,
                   after_rank: int | None = None, limit: int = 100) -> list:
    """Up to ``limit`` predictions of a model passing ``flt`` (and ``min_score``) with rank > ``after_rank``, best
    first: (rank, score, object_id, ra, dec, survey, mag_g, mag_r, mag_z, source_type)."""
    p, s = Prediction.__table__.c, Source.__table__.c
    where = [p.model_id == model_id, *filter_conditions(flt, object_id=p.object_id)]
    if after_rank is not None:
        where.append(p.rank > after_rank)
    if min_score is not None:
        where.append(p.score >= min_score)
    query = (select(p.rank, p.score, s.object_id, s.ra, s.dec, s.survey, s.mag_g, s.mag_r, s.mag_z, s.source_type)
             .join(Source, Source.object_id == p.object_id).where(and_(*where)).order_by(p.rank).limit(limit))
    with connection(bind) as conn:
        return conn.execute(query).all()


def top_predictions(bind: Bind, model_id: int, n: int) -> list[int]:
    """Object ids of a model's ``n`` best-ranked predictions, best first."""
    p = Prediction.__table__.c
    with connection(bind) as conn:
        return [int(i) for i in conn.execute(select(p.object_id).where(p.model_id == model_id)
                                             .order_by(p.rank).limit(n)).scalars()]


def candidate_rows(bind: Bind, model_id: int, n: int) -> list[dict]:
    """A model's ``n`` best-ranked predictions from the ``candidates`` view (catalog/views.py), best first: one dict
    per candidate with the view's columns."""
    from sqlalchemy import text

    from lensdb.catalog.views import CANDIDATES

    with connection(bind) as conn:
        result = conn.execute(text(f"SELECT * FROM {CANDIDATES} WHERE model_id = :m ORDER BY rank LIMIT :n"),
                              {"m": int(model_id), "n": int(n)})
        return [dict(r._mapping) for r in result]


def ranking(bind: Bind, model_id: int, limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A model's stored ranking, best first: (object ids int64, scores float64, ranks int64), the first ``limit``."""
    p = Prediction.__table__.c
    query = select(p.object_id, p.score, p.rank).where(p.model_id == model_id).order_by(p.rank)
    if limit is not None:
        query = query.limit(int(limit))
    with connection(bind) as conn:
        rows = conn.execute(query).all()
    return (np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.float64),
            np.array([r[2] for r in rows], np.int64))


def list_set_ids(bind: Bind, grading_source: str) -> list[int]:
    """Ids of the label sets that are not grading sets (lens lists and hand-made sets)."""
    with connection(bind) as conn:
        return [int(r[0]) for r in conn.execute(select(LabelSet.id).where(
            or_(LabelSet.source.is_(None), LabelSet.source != grading_source)))]


def random_ids(bind: Bind, n: int, seed: int, exclude: np.ndarray | None = None) -> np.ndarray:
    """``n`` source ids drawn uniformly without replacement (seeded), none of ``exclude``; fewer when the catalogue
    holds fewer."""
    with connection(bind) as conn:
        every = sorted_ids(conn, select(Source.object_id))
    if exclude is not None and exclude.size:
        every = np.setdiff1d(every, exclude)
    rng = np.random.default_rng(seed)
    return rng.choice(every, size=min(int(n), every.size), replace=False) if every.size else every


def grading_set_ids(bind: Bind, grading_source: str) -> list[int]:
    """Ids of the grading sets (``label_sets.source`` = ``grading_source``)."""
    with connection(bind) as conn:
        return [int(r[0]) for r in conn.execute(select(LabelSet.id).where(LabelSet.source == grading_source))]
