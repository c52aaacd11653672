"""Human grades of candidates: A (clear lens), B (probable lens) or not a lens, who gave them, when, and which
model surfaced the object; and what several graders' grades say together (consensus, agreement).

Each grader's grade is a row of ``grades`` in a grading set (default ``grades``; see :mod:`lensdb.catalog.grading`).
Grading an object again replaces only the grader's own grade. The set's labels are the consensus of all graders
(A and B become ``lens`` labels with that grade, not-a-lens a ``non_lens`` label), and the next probe training
reads them (see :func:`lensdb.classifiers.sampling.load_pools`): consensus lenses as training positives,
consensus non-lenses as hard negatives. ``lensdb grade --file``, the API's RecordGrades and the inspection page
all write here.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from lensdb.catalog.db import require_current
from lensdb.catalog.grading import DEFAULT_THRESHOLDS, GradeWrite, Thresholds, write_grades
from lensdb.classifiers.registry import get_model
from lensdb.core.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)
DEFAULT_SET = "grades"
#: Accepted spellings of each verdict (case-insensitive) -> (label class, grade).
VERDICTS = {
    "a": ("lens", "A"), "b": ("lens", "B"),
    **{k: ("non_lens", None) for k in ("n", "no", "not", "not_lens", "not-a-lens", "non_lens", "nonlens", "x", "fp")},
}


def parse_verdict(text: str) -> tuple[str, str | None]:
    """(label class, grade) of a verdict such as ``A``, ``B`` or ``not_lens``; InvalidInput otherwise."""
    key = str(text).strip().lower()
    if key not in VERDICTS:
        raise InvalidInput(f"grade {text!r} is not A, B or not_lens (also accepted: N, no, x, fp)")
    return VERDICTS[key]


@dataclass(frozen=True)
class GradeReport:
    """What :func:`record_grades` wrote: counts per verdict and how many earlier grades it replaced."""

    label_set: str
    grade_a: int
    grade_b: int
    not_lens: int
    replaced: int
    model: str | None

    def summary(self) -> str:
        by = f" (candidates of model {self.model})" if self.model else ""
        return (f"grades in '{self.label_set}'{by}: {self.grade_a} A, {self.grade_b} B, {self.not_lens} not a lens; "
                f"{self.replaced} of your earlier grades replaced")


def record_grades(engine: Engine, grades: Iterable[tuple[int, str]], *, author: str | None,
                  model: int | str | None = None, label_set: str = DEFAULT_SET,
                  note: str | None = None, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> GradeReport:
    """Store grades, one transaction.

    Args:
        grades: (object_id, verdict) pairs; verdicts as :func:`parse_verdict` reads them.
        author: who graded (``None``: ``anonymous``); their own earlier grades of these objects are replaced,
            other graders' grades are kept.
        model: id or name of the model whose candidates these are (recorded on each label).
        label_set: the grading set (created when missing).
        note: free text kept as each label's provenance.

    Raises:
        InvalidInput: a bad verdict or an object graded twice differently in one call.
        NotFound: an object id not in the catalogue, or an unknown model.
        Conflict: ``label_set`` exists but is a lens list, not a grading set.
    """
    pairs: dict[int, tuple[str, str | None]] = {}
    for oid, verdict in grades:
        parsed = parse_verdict(verdict)
        if int(oid) in pairs and pairs[int(oid)] != parsed:
            raise InvalidInput(f"object {oid} is graded twice with different grades; keep one")
        pairs[int(oid)] = parsed
    if not pairs:
        raise InvalidInput("no grades given")
    require_current(engine)
    model_row = get_model(engine, model) if model is not None else None
    provenance = note or ("graded in lensdb" + (f" from model {model_row.name}" if model_row else ""))
    writes = [GradeWrite(oid, "N" if cls == "non_lens" else grade, model_id=model_row.id if model_row else None,
                         note=provenance) for oid, (cls, grade) in pairs.items()]
    _, replaced = write_grades(engine, label_set, author or "anonymous", writes, thresholds=thresholds)
    verdicts = list(pairs.values())
    report = GradeReport(label_set=label_set, grade_a=verdicts.count(("lens", "A")),
                         grade_b=verdicts.count(("lens", "B")), not_lens=verdicts.count(("non_lens", None)),
                         replaced=replaced, model=model_row.name if model_row else None)
    log.info("%s", report.summary())
    return report


def read_grade_file(path: str | Path) -> list[tuple[int, str]]:
    """(object_id, grade) pairs from a TSV or CSV with ``object_id`` and ``grade`` columns.

    The top-N TSV written by ``lensdb probe score`` has both (grade empty): fill in the grades and pass it back.
    Rows with an empty grade are skipped.
    """
    path = Path(path)
    if path.is_dir():
        raise InvalidInput(f"grade file {path} is a folder; give the TSV or CSV file")
    if not path.exists():
        raise NotFound(f"grade file {path} does not exist")
    if not path.is_file():  # /dev/null, a pipe, a socket: nothing to read grades from
        raise InvalidInput(f"grade file {path} is not a regular file (a device, pipe or socket); give the TSV or "
                           "CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            return _grade_rows(path, f)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text ({exc}); save it as UTF-8") from None
    except csv.Error as exc:  # e.g. a field over the csv module's limit: usually an unclosed quote
        raise InvalidInput(f"{path}: cannot be read as TSV/CSV ({exc}); check for an unclosed quote") from None


def _grade_rows(path: Path, f) -> list[tuple[int, str]]:
    header = f.readline()
    f.seek(0)
    reader = csv.DictReader(f, delimiter="\t" if "\t" in header else ",")
    cols = {c.strip().lower(): c for c in (reader.fieldnames or [])}
    if "object_id" not in cols or "grade" not in cols:
        raise InvalidInput(f"{path}: needs 'object_id' and 'grade' columns; has {list(cols)}")
    out = []
    for lineno, rec in enumerate(reader, start=2):
        grade = (rec.get(cols["grade"]) or "").strip()
        if not grade:
            continue
        try:
            oid = int(rec[cols["object_id"]])
        except (TypeError, ValueError):
            raise InvalidInput(f"{path}, line {lineno}: object_id {rec[cols['object_id']]!r} is not an "
                               "integer") from None
        if not 0 <= oid < 2**63:
            raise InvalidInput(f"{path}, line {lineno}: object_id {oid} is not a 64-bit object id")
        parse_verdict(grade)
        out.append((oid, grade))
    return out


# ---------------------------------------------------------------------------------------------------- agreement
@dataclass(frozen=True)
class Agreement:
    """How far graders agree on the objects that two or more of them graded (A / B / not a lens).

    Attributes:
        n_objects: objects with at least two grades.
        fleiss_kappa: Fleiss' kappa over those objects (any number of graders per object); ``None`` when undefined.
        observed: mean pairwise agreement (share of grader pairs giving the same grade).
        lens_agreement: the same with A and B merged (lens or not).
        pairs: per grader pair, (n objects both graded, share agreeing, Cohen's kappa or ``None``).
    """

    n_objects: int
    fleiss_kappa: float | None
    observed: float | None
    lens_agreement: float | None
    pairs: dict[tuple[str, str], tuple[int, float, float | None]]


def _fleiss(counts: np.ndarray) -> tuple[float | None, float | None]:
    """(kappa, observed agreement) of an (objects, categories) count matrix, each row with >= 2 ratings."""
    if counts.shape[0] == 0:
        return None, None
    n_i = counts.sum(axis=1).astype(np.float64)
    p_i = (np.square(counts).sum(axis=1) - n_i) / (n_i * (n_i - 1))
    observed = float(p_i.mean())
    p_j = counts.sum(axis=0) / n_i.sum()
    expected = float(np.square(p_j).sum())
    kappa = None if expected >= 1.0 else (observed - expected) / (1.0 - expected)
    return kappa, observed


def agreement(rows: Iterable[tuple[int, str, str]]) -> Agreement:
    """Agreement statistics of (object_id, grader, grade) rows (calibration items left out by the caller)."""
    by_object: dict[int, dict[str, str]] = {}
    for oid, grader, grade in rows:
        by_object.setdefault(int(oid), {})[grader] = grade
    multi = {o: g for o, g in by_object.items() if len(g) >= 2}
    cats = ("A", "B", "N")
    counts = np.array([[sum(v == c for v in g.values()) for c in cats] for g in multi.values()], np.float64)
    kappa, observed = _fleiss(counts.reshape(-1, 3))
    lens = counts[:, :2].sum(axis=1, keepdims=True) if len(counts) else np.zeros((0, 1))
    _, lens_obs = _fleiss(np.hstack([lens, counts[:, 2:]]) if len(counts) else np.zeros((0, 2)))
    graders = sorted({gr for g in multi.values() for gr in g})
    pairs = {}
    for i, a in enumerate(graders):
        for b in graders[i + 1:]:
            both = [(g[a], g[b]) for g in multi.values() if a in g and b in g]
            if not both:
                continue
            agree = float(np.mean([x == y for x, y in both]))
            pairs[(a, b)] = (len(both), agree, _cohen(both))
    return Agreement(len(multi), kappa, observed, lens_obs, pairs)


def _cohen(pairs: list[tuple[str, str]]) -> float | None:
    cats = sorted({x for p in pairs for x in p})
    n = len(pairs)
    observed = sum(x == y for x, y in pairs) / n
    expected = sum((sum(x == c for x, _ in pairs) / n) * (sum(y == c for _, y in pairs) / n) for c in cats)
    return None if expected >= 1.0 else (observed - expected) / (1.0 - expected)
