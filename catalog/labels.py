"""Known-lens lists: read a CSV/TSV of positions, match them to sources, store lens and near-lens labels.

A list entry matches the nearest source within the radius (25.2 arcsec = one 96-pixel cutout by default);
that source gets a ``lens`` label. Every *other* source within the radius of an entry gets a ``near_lens``
label, so that training never draws it as a non-lens (it sits in the same cutout as a lens). An import is
one transaction: either the whole set is written or nothing is.

Re-importing: each import fills one label set (named after the file by default). Importing the same file
into the same set again replaces the set's labels with a fresh cross-match, so repeating an import never
duplicates labels and picks up sources ingested since. Importing a *different* file under an existing set
name is refused unless ``replace=True`` (``--replace``), so two lists that share a file name cannot silently
overwrite each other.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, delete, func, insert, select, update

from lensdb.catalog import queries
from lensdb.catalog.bulk import copy_columns
from lensdb.catalog.crossmatch import Matches, Method, crossmatch
from lensdb.catalog.db import require_current
from lensdb.catalog.lenslist import DEFAULT_RADIUS_ARCSEC, ColumnNames, LensList, read_lens_list
from lensdb.catalog.models import Label, LabelSet, utcnow
from lensdb.catalog.queries import label_set_named, missing_ids
from lensdb.core.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)

#: ``label_sets.source`` of the sets written by grading (``lensdb grade``, RecordGrades): they take grades only.
GRADE_SOURCE = "lensdb grade"
#: ``label_sets.source`` of the hand-made sets written through the API (AddLabels); imported lists carry their
#: file's name and its sha256 instead.
API_SOURCE = "lensdb api"
#: Names of grading sets start with this (``grades``, ``grades-2027a``, ...); no other set may take such a name, so
#: no list or hand-made set can block a grading campaign by taking its name first.
GRADING_PREFIX = "grades"


def is_grading_name(name: str) -> bool:
    """True for a name reserved for grading sets."""
    return name.lower().startswith(GRADING_PREFIX)


def check_list_name(name: str) -> None:
    """InvalidInput when ``name``, for a lens list or a hand-made set, is reserved for grading sets."""
    if is_grading_name(name):
        raise InvalidInput(f"label set names starting with '{GRADING_PREFIX}' are reserved for grading sets "
                           f"(RecordGrades, lensdb grade); name this set otherwise than {name!r}")


def check_grading_name(name: str) -> None:
    """InvalidInput unless ``name`` is a grading set's (``grades`` or ``grades...``)."""
    if not is_grading_name(name):
        raise InvalidInput(f"grading sets are named '{GRADING_PREFIX}' or '{GRADING_PREFIX}-<campaign>', not "
                           f"{name!r} (other names belong to lens lists and hand-made sets)")


@dataclass(frozen=True)
class ImportReport:
    """What an import did. ``n_rows = matched + unmatched``; ``lens_labels = matched - duplicates``.

    Attributes:
        label_set: name of the label set written.
        n_rows: entries in the file.
        matched: entries with at least one source within the radius.
        unmatched: entries with none (outside the survey footprint or not yet ingested).
        lens_labels: ``lens`` labels written.
        near_lens: ``near_lens`` labels written (other sources within the radius of an entry).
        duplicates: matched entries whose nearest source was already the match of a closer entry.
        radius_arcsec: match radius, arcsec.
        method: cross-match path used (``q3c`` or ``kdtree``).
        replaced: labels of an earlier import of the same set that this import replaced.
        unmatched_lines: file lines of the unmatched entries.
        duplicate_lines: (line, line of the entry that kept the source) for each duplicate.
    """

    label_set: str
    n_rows: int
    matched: int
    unmatched: int
    lens_labels: int
    near_lens: int
    duplicates: int
    radius_arcsec: float
    method: str
    replaced: int = 0
    unmatched_lines: tuple[int, ...] = field(default=(), repr=False)
    duplicate_lines: tuple[tuple[int, int], ...] = field(default=(), repr=False)
    warning: str | None = None

    def summary(self) -> str:
        again = f"; replaced {self.replaced} earlier labels" if self.replaced else ""
        return (f"label set '{self.label_set}': {self.n_rows} entries, {self.matched} matched within "
                f"{self.radius_arcsec:g} arcsec, {self.unmatched} unmatched, {self.lens_labels} lens labels, "
                f"{self.near_lens} near_lens flags, {self.duplicates} duplicates "
                f"(method {self.method}){again}")


def import_labels(engine: Engine, path: str | Path, *, name: str | None = None,
                  radius_arcsec: float = DEFAULT_RADIUS_ARCSEC, author: str | None = None,
                  columns: ColumnNames | None = None, grade_map: Mapping[str, str | None] | None = None,
                  replace: bool = False, method: Method = "auto",
                  how_to_replace: str = "choose another name with --name, or pass --replace to overwrite it"
                  ) -> ImportReport:
    """Import a known-lens list into label set ``name`` (default: the file's stem), cross-matched to sources.

    Args:
        engine: database at the newest schema revision.
        path: CSV or TSV file (see :func:`read_lens_list`).
        radius_arcsec: match radius, arcsec.
        author: who the labels are attributed to.
        columns: header names to use instead of the recognised ones.
        grade_map: file grade value -> ``"A"``, ``"B"`` or ``None`` (e.g. lenscat's confident/probable).
        replace: allow replacing a set that holds a different file's import.
        method: cross-match path (see :func:`lensdb.catalog.crossmatch.crossmatch`).

    Raises:
        InvalidInput: the file is unreadable or malformed (nothing is written).
        Conflict: the set exists and holds something else, and ``replace`` is false.
    """
    lenses = read_lens_list(path, columns=columns, grade_map=grade_map)
    set_name = name or lenses.path.stem
    check_list_name(set_name)
    # The content hash tells a re-import of the same list from a different list that shares its name. The file's
    # name, not its path: the set's provenance is shown to API clients, which must not see the server's folders.
    source = f"{lenses.path.name} sha256:{lenses.sha256}"
    description = f"known lenses from {lenses.path.name}, matched within {radius_arcsec:g} arcsec"
    require_current(engine)
    with engine.begin() as conn:
        existing = conn.execute(select(LabelSet.id, LabelSet.source).where(LabelSet.name == set_name)).first()
        replaced = 0
        if existing is not None:
            if existing.source == GRADE_SOURCE:
                raise Conflict(f"label set '{set_name}' is a grading set: human grades are never replaced by a list; "
                               "import the list under another name (--name)")
            if f"sha256:{lenses.sha256}" not in (existing.source or "") and not replace:
                held = existing.source or "labels not imported from a file"
                raise Conflict(f"label set '{set_name}' already exists and holds {held}; {how_to_replace}")
            set_id = existing.id
            replaced = conn.execute(delete(Label).where(Label.label_set_id == set_id)).rowcount
            conn.execute(update(LabelSet).where(LabelSet.id == set_id).values(
                source=source, author=author, description=description))
        else:
            set_id = conn.execute(insert(LabelSet).values(
                name=set_name, source=source, author=author, description=description,
            ).returning(LabelSet.id)).scalar_one()
        matches = crossmatch(conn, lenses.ra, lenses.dec, radius_arcsec, method=method)
        rows, report = _assign(lenses, matches, set_id=set_id, set_name=set_name, author=author,
                               radius_arcsec=radius_arcsec, replaced=replaced)
        if rows:
            # The backend's bulk path (COPY on PostgreSQL): a full-survey import can write tens of thousands.
            copy_columns(conn, Label.__tablename__, {k: [r[k] for r in rows] for k in rows[0]})
    warning = footprint_warning(engine, lenses, report)
    if warning:
        report = dataclasses.replace(report, warning=warning)
        log.warning("%s", warning)
    log.info("%s", report.summary())
    if report.duplicates:
        log.warning("%s: %d entries matched a source already matched by a closer entry (line, kept line): %s",
                    lenses.path.name, report.duplicates, list(report.duplicate_lines[:10]))
    return report


#: Below this fraction of matched entries an import warns that the list and the ingested sky hardly overlap.
FEW_MATCHED = 0.1


def describe_range(lo: float, hi: float, lo_wrapped: float, hi_wrapped: float) -> str:
    """An RA range in degrees, as the narrower of [lo, hi] and the range across RA 0 ([lo_w, hi_w] in -180..180)."""
    if hi_wrapped - lo_wrapped < hi - lo:
        return f"RA {lo_wrapped % 360:.2f}..{hi_wrapped % 360:.2f} (across 0)"
    return f"RA {lo:.2f}..{hi:.2f}"


def footprint_warning(engine: Engine, lenses: LensList, report: ImportReport) -> str | None:
    """A warning when few or none of the list's positions fall inside the ingested footprint, saying where each
    survey's footprint is and where the list's positions are; ``None`` when enough matched."""
    if report.n_rows == 0 or report.matched >= FEW_MATCHED * report.n_rows:
        return None
    parts = [f"{survey}: {n:,} sources, {describe_range(*ra)}, Dec {d0:.2f}..{d1:.2f}"
             for survey, n, ra, (d0, d1) in queries.footprint(engine)]
    wrapped = np.where(lenses.ra >= 180, lenses.ra - 360, lenses.ra)
    listed = (f"{describe_range(lenses.ra.min(), lenses.ra.max(), wrapped.min(), wrapped.max())}, "
              f"Dec {lenses.dec.min():.2f}..{lenses.dec.max():.2f}")
    where = "; ".join(parts) if parts else "no sources are ingested yet"
    return (f"only {report.matched} of {report.n_rows} entries of {lenses.path.name} fall within "
            f"{report.radius_arcsec:g} arcsec of an ingested source: the list's positions ({listed}) lie mostly "
            f"outside the ingested footprint ({where}); check that the list and the survey cover the same sky "
            "(a simulated survey has its own lens list: truth.csv, class lens) and that ra/dec are the right columns")


def _assign(lenses: LensList, matches: Matches, *, set_id: int, set_name: str, author: str | None,
            radius_arcsec: float, replaced: int) -> tuple[list[dict], ImportReport]:
    """Turn cross-match pairs into label rows: nearest source per entry -> lens, the others -> near_lens."""
    idx, oid, sep = matches.index, matches.object_id, matches.separation_arcsec
    # Pairs come sorted by (entry, separation), so the first pair of each entry is its nearest source.
    first = np.ones(len(idx), bool)
    first[1:] = idx[1:] != idx[:-1]
    fname = lenses.path.name
    lens_of: dict[int, int] = {}  # object id -> entry that keeps it as its lens match
    duplicates: list[tuple[int, int]] = []
    # The closest entry claims a source (ties: the earlier line); the others count as duplicates.
    for k in np.lexsort((idx[first], sep[first])):
        i, o = int(idx[first][k]), int(oid[first][k])
        if o in lens_of:
            duplicates.append((int(lenses.lines[i]), int(lenses.lines[lens_of[o]])))
        else:
            lens_of[o] = i
    near_of: dict[int, tuple[float, int]] = {}  # object id -> (separation, entry) of the closest lens entry
    for k in np.flatnonzero(~first):
        o, s, i = int(oid[k]), float(sep[k]), int(idx[k])
        if o not in lens_of and (o not in near_of or (s, i) < near_of[o]):
            near_of[o] = (s, i)
    nearest_sep = dict(zip(idx[first].tolist(), sep[first].tolist(), strict=True))

    now = utcnow()

    def row(o: int, i: int, cls: str, s: float) -> dict:
        return {"label_set_id": set_id, "object_id": o, "class": cls, "separation_arcsec": s,
                "grade": lenses.grades[i] if cls == "lens" else None, "name": lenses.names[i],
                "provenance": f"{fname}:{lenses.lines[i]}", "author": author, "created_at": now}

    rows = [row(o, i, "lens", nearest_sep[i]) for o, i in lens_of.items()]
    rows += [row(o, i, "near_lens", s) for o, (s, i) in near_of.items()]
    matched = int(first.sum())
    unmatched = np.setdiff1d(np.arange(len(lenses.ra)), idx[first])
    report = ImportReport(
        label_set=set_name, n_rows=len(lenses.ra), matched=matched, unmatched=len(lenses.ra) - matched,
        lens_labels=len(lens_of), near_lens=len(near_of), duplicates=len(duplicates),
        radius_arcsec=radius_arcsec, method=matches.method, replaced=replaced,
        unmatched_lines=tuple(int(x) for x in lenses.lines[unmatched]),
        duplicate_lines=tuple(sorted(duplicates)))
    return rows, report


@dataclass(frozen=True)
class LabelSetSummary:
    """One label set and its label counts per class (lens counts also per grade)."""

    name: str
    author: str | None
    created_at: datetime
    source: str | None
    lens: int = 0
    grade_a: int = 0
    grade_b: int = 0
    near_lens: int = 0
    non_lens: int = 0


def list_label_sets(engine: Engine, name: str | None = None) -> list[LabelSetSummary]:
    """Label sets (all, or the one called ``name``) with their counts, by name.

    Raises:
        NotFound: ``name`` is given and no such set exists.
    """
    require_current(engine)
    with engine.connect() as conn:
        query = select(LabelSet).order_by(LabelSet.name)
        if name is not None:
            query = query.where(LabelSet.name == name)
        sets = conn.execute(query).all()
        if name is not None and not sets:
            known = conn.execute(select(LabelSet.name).order_by(LabelSet.name)).scalars().all()
            listed = ", ".join(known) or "none (import one first)"
            raise NotFound(f"no label set '{name}'; known sets: {listed}")
        counts = conn.execute(select(Label.label_set_id, Label.label_class, Label.grade, func.count())
                              .group_by(Label.label_set_id, Label.label_class, Label.grade)).all()
    per_set: dict[int, dict[str, int]] = {}
    for set_id, cls, grade, n in counts:
        c = per_set.setdefault(set_id, {})
        c[cls] = c.get(cls, 0) + n
        if cls == "lens" and grade in ("A", "B"):
            c[f"grade_{grade.lower()}"] = c.get(f"grade_{grade.lower()}", 0) + n
    return [LabelSetSummary(name=s.name, author=s.author, created_at=s.created_at, source=s.source,
                            **per_set.get(s.id, {})) for s in sets]


# ---------------------------------------------------------------------------------------------------- hand labels
@dataclass(frozen=True)
class HandLabel:
    """One label to add to a hand-made set: an object, a class, and optionally a grade (lens only), a name and a
    note (kept as the label's provenance)."""

    object_id: int
    label_class: str
    grade: str | None = None
    name: str | None = None
    note: str | None = None


def check_editable(label_set: str, source: str | None) -> None:
    """Conflict unless the set is hand-made: grading sets change through grading, imported lists by re-importing."""
    if source == GRADE_SOURCE:
        raise Conflict(f"label set {label_set!r} is a grading set: change it with RecordGrades")
    if source not in (None, API_SOURCE):
        raise Conflict(f"label set {label_set!r} is an imported list ({source}); re-import the list to "
                       "change it, or label into another set")


def add_labels(engine: Engine, label_set: str, labels: list[HandLabel], *, author: str | None = None,
               description: str | None = None) -> tuple[int, int, bool]:
    """Add ``labels`` to the hand-made set ``label_set`` (created when missing), in one transaction.

    A label that exists already (same set, object and class) gets the new grade, name and note. Returns (added,
    updated, whether the set was created).

    Raises:
        NotFound: an object id not in the catalogue (nothing is written).
        Conflict: the set is a grading set or an imported list.
    """
    ids = sorted({lb.object_id for lb in labels})
    with engine.begin() as conn:
        missing = missing_ids(conn, ids)
        if missing:
            raise NotFound(f"{len(missing)} object(s) are not in the catalogue, e.g. {missing[:5]}; "
                           "nothing was written")
        row = label_set_named(conn, label_set)
        created = row is None
        if created:
            check_list_name(label_set)
            set_id = conn.execute(insert(LabelSet).values(
                name=label_set, source=API_SOURCE, author=author, description=description,
            ).returning(LabelSet.id)).scalar_one()
        else:
            check_editable(label_set, row.source)
            set_id = row.id
        existing = {(o, c): i for i, o, c in conn.execute(
            select(Label.id, Label.object_id, Label.label_class).where(
                Label.label_set_id == set_id, Label.object_id.in_(ids)))}
        now, added, updated = utcnow(), [], 0
        for lb in labels:
            values = {"grade": lb.grade, "name": lb.name, "provenance": lb.note or "added through the API",
                      "author": author, "created_at": now}
            key = (lb.object_id, lb.label_class)
            if key in existing:
                conn.execute(update(Label).where(Label.id == existing[key]).values(**values))
                updated += 1
            else:
                added.append({"label_set_id": set_id, "object_id": lb.object_id, "class": lb.label_class,
                              **values})
        if added:
            conn.execute(insert(Label), added)
    return len(added), updated, created


def remove_labels(engine: Engine, label_set: str, ids, label_class: str | None = None) -> int:
    """Delete the labels of ``ids`` (of ``label_class``, or every class) from a hand-made set; returns how many.

    Raises:
        NotFound: no such set. Conflict: the set is a grading set or an imported list.
    """
    with engine.begin() as conn:
        row = label_set_named(conn, label_set)
        if row is None:
            raise NotFound(f"no label set {label_set!r}")
        check_editable(label_set, row.source)
        cond = [Label.label_set_id == row.id, Label.object_id.in_([int(i) for i in ids])]
        if label_class is not None:
            cond.append(Label.label_class == label_class)
        return int(conn.execute(delete(Label).where(*cond)).rowcount)
