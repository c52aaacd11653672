"""Labels and label sets: add and remove labels, record grades (:mod:`lensdb.classifiers.grades`), list sets
(:mod:`lensdb.catalog.labels`), page through one set, and import an uploaded known-lens list.

Sets written here carry ``source = "lensdb api"`` (:data:`lensdb.catalog.labels.API_SOURCE`). Grading sets
(written by :func:`lensdb.classifiers.grades.record_grades`) take grades only, and imported lens lists are replaced
whole by re-imports, so AddLabels and RemoveLabels refuse both: they change hand-made sets.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path

from lensdb.catalog import queries
from lensdb.catalog.labels import HandLabel, add_labels, import_labels, list_label_sets, remove_labels
from lensdb.catalog.lenslist import DEFAULT_RADIUS_ARCSEC, ColumnNames, parse_grade_map
from lensdb.catalog.models import GRADES, LABEL_CLASSES
from lensdb.core.errors import InvalidInput
from lensdb.services import paging, validate
from lensdb.services.backends import Backends
from lensdb.services.errors import as_domain
from lensdb.services.types import AddLabelsResult, LabelRecord, LabelSetPage, LensListUpload, NewLabel

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str | None, limit: int = 100) -> str:
    """An uploaded file's base name reduced to safe characters and at most ``limit`` of them (extension kept): it is
    kept in provenance and written to a temporary folder, never used as a path."""
    base = _SAFE_NAME.sub("_", Path(name or "upload.csv").name).strip("._") or "upload.csv"
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = ext[:16]
    return (stem[:limit - len(ext) - 1] + ("." + ext if ext else "")) if len(base) > limit else base


def display_source(source: str | None) -> str | None:
    """A label set's source without the folders of a path in it (``/srv/x/list.tsv sha256:..`` -> ``list.tsv ...``)."""
    if not source:
        return source
    head, sep, tail = source.partition(" sha256:")
    return Path(head).name + sep + tail if "/" in head or "\\" in head else source


def _guard(fn):
    """Run ``fn`` and turn engine failures into domain errors."""
    try:
        return fn()
    except Exception as exc:
        raise as_domain(exc) from exc


class LabelService:
    """Writes and reads of ``label_sets`` and ``labels``."""

    def __init__(self, backends: Backends):
        self.backends = backends

    # ------------------------------------------------------------------ writes
    def add_labels(self, label_set: str, labels: list[NewLabel], *, author: str | None = None,
                   description: str | None = None) -> AddLabelsResult:
        """Add ``labels`` to ``label_set`` (created when missing); one transaction.

        A label that exists already (same set, object and class) gets the new grade, name and note.

        Raises:
            InvalidInput: bad class or grade, an object twice with the same class, too many labels.
            NotFound: an object id not in the catalogue (nothing is written).
            Conflict: the set is a grading set or an imported lens list.
        """
        validate.name("label_set", label_set)
        validate.name("author", author, required=False)
        validate.text("description", description)
        if not labels:
            raise InvalidInput("labels: give at least one label")
        validate.object_ids("labels", [lb.object_id for lb in labels], self.backends.config.max_ids)
        seen = set()
        for lb in labels:
            if lb.label_class not in LABEL_CLASSES:
                raise InvalidInput(f"label_class {lb.label_class!r} is not one of {', '.join(LABEL_CLASSES)}")
            if lb.grade is not None and (lb.grade not in GRADES or lb.label_class != "lens"):
                raise InvalidInput(f"grade {lb.grade!r}: only lens labels take a grade, A or B")
            validate.name("name", lb.name, required=False)
            validate.text("note", lb.note)
            if (lb.object_id, lb.label_class) in seen:
                raise InvalidInput(f"object {lb.object_id} is labelled {lb.label_class!r} twice in one request")
            seen.add((lb.object_id, lb.label_class))
        return _guard(lambda: self._add(label_set, labels, author, description))

    def _add(self, label_set, labels, author, description) -> AddLabelsResult:
        hand = [HandLabel(lb.object_id, lb.label_class, lb.grade, lb.name, lb.note) for lb in labels]
        added, updated, created = add_labels(self.backends.engine, label_set, hand, author=author,
                                             description=description)
        return AddLabelsResult(label_set, added, updated, created)

    def remove_labels(self, label_set: str, ids, label_class: str | None = None) -> int:
        """Delete the labels of ``ids`` (of ``label_class``, or every class) from a set; returns how many."""
        validate.name("label_set", label_set)
        arr = validate.object_ids("object_ids", ids, self.backends.config.max_ids)
        if label_class is not None and label_class not in LABEL_CLASSES:
            raise InvalidInput(f"label_class {label_class!r} is not one of {', '.join(LABEL_CLASSES)}")

        return _guard(lambda: remove_labels(self.backends.engine, label_set, arr.tolist(), label_class))

    def record_grades(self, grades: list[tuple[int, str]], *, author: str | None, model: str | None = None,
                      label_set: str | None = None, note: str | None = None):
        """Store grades (see :func:`lensdb.classifiers.grades.record_grades`); returns its GradeReport."""
        from lensdb.classifiers.grades import DEFAULT_SET, record_grades

        validate.object_ids("grades", [g[0] for g in grades], self.backends.config.max_ids)
        validate.name("author", author, required=False)
        validate.name("label_set", label_set, required=False)
        validate.name("model", model, required=False)
        validate.text("note", note)
        return _guard(lambda: record_grades(self.backends.engine, grades, author=author, model=model,
                                            label_set=label_set or DEFAULT_SET, note=note))

    def import_lens_list(self, upload: LensListUpload):
        """Import an uploaded known-lens list: CSV/TSV, or FITS, VOTable, ECSV or parquet by its file name's ending
        (see :func:`lensdb.catalog.labels.import_labels`)."""
        if not upload.content:
            raise InvalidInput("content: the uploaded list is empty")
        for field in ("name", "author", "ra_column", "dec_column", "name_column", "grade_column"):
            validate.name(field, getattr(upload, field), required=False)
        validate.text("grade_map", upload.grade_map)
        radius = upload.radius_arcsec or DEFAULT_RADIUS_ARCSEC
        validate.real("radius_arcsec", radius, 0.0, self.backends.config.max_position_radius_arcsec)
        columns = ColumnNames(ra=upload.ra_column, dec=upload.dec_column, name=upload.name_column,
                              grade=upload.grade_column)
        grade_map = parse_grade_map(upload.grade_map)
        filename = safe_filename(upload.filename)
        target = upload.name or Path(filename).stem
        if upload.replace and upload.confirm_replace != target:
            raise InvalidInput(f"replace deletes the labels of set {target!r} before the import: repeat its name in "
                               f"confirm_replace to go ahead (got {upload.confirm_replace!r})")
        with tempfile.TemporaryDirectory(prefix="lensdb-upload-") as tmp:
            path = Path(tmp, filename)
            path.write_bytes(upload.content)
            return _guard(lambda: import_labels(self.backends.engine, path, name=upload.name,
                                                radius_arcsec=radius, author=upload.author, columns=columns,
                                                grade_map=grade_map, replace=upload.replace,
                                                how_to_replace=(
                                                    "give another name (name), or set replace and repeat the set's "
                                                    f"name in confirm_replace ({target!r}) to overwrite it")))

    # ------------------------------------------------------------------ reads
    def list_sets(self, name: str | None = None):
        """Label sets with their counts (see :func:`lensdb.catalog.labels.list_label_sets`); a set's source names
        the file it came from, never a folder of the server (sets imported before LensDB stored names only may
        hold a path: it is cut to the file's name)."""
        validate.name("name", name, required=False)
        sets = _guard(lambda: list_label_sets(self.backends.engine, name or None))
        return [dataclasses.replace(s, source=display_source(s.source)) for s in sets]

    def get_set(self, name: str, label_class: str | None = None, page_size: int = 0,
                page_token: str = "") -> LabelSetPage:
        """A page of the labels of set ``name`` (of ``label_class`` when given), in the order they were written."""
        cfg = self.backends.config
        validate.name("name", name)
        if label_class is not None and label_class not in LABEL_CLASSES:
            raise InvalidInput(f"label_class {label_class!r} is not one of {', '.join(LABEL_CLASSES)}")
        size = validate.page_size(page_size, cfg.page_size, cfg.max_page_size)
        scope = paging.scope_digest("labels", name, label_class)
        after = paging.decode(page_token, scope)
        summary = self.list_sets(name)[0]

        rows = _guard(lambda: queries.label_page(self.backends.engine, name, label_class, after, size + 1))
        more = len(rows) > size
        rows = rows[:size]
        records = [LabelRecord(int(r.object_id), r[2], r.grade, r.name, r.author, r.provenance,
                               r.separation_arcsec, r.model, r.created_at) for r in rows]
        token = paging.encode(scope, rows[-1].id) if more and rows else ""
        return LabelSetPage(summary=summary, labels=records, next_page_token=token)
