"""Training and validation sets of the paper's imbalance protocol (Stein et al. 2021, Sections 3.3.1 and 4.2).

- Known lenses (``lens`` labels of the imported lists) are split 70/30 into training and validation by a seed.
- Non-lenses are random sources, never one with a lens or ``near_lens`` label (within one cutout, 25.2 arcsec,
  of a known lens: flagged by the label import) nor one near a lens found by grading.
- Training sets at the lens:non-lens ratios 1:1 ... 1:10,000 are nested: the non-lenses of ratio r are the first
  ``r * n_lenses`` of one random order, so every larger set holds every smaller one.
- Validation is at 1:10,000 (the sky's rate) when the data allow it; otherwise the largest ratio they allow, and
  the sets say so (:attr:`TrainingSets.val_ratio`).
- Grades feed the next training: graded lenses join the training lenses, graded false positives join every
  training set as hard negatives. Neither ever enters validation, so validation stays comparable across runs.

Everything is decided from sorted ids and a seeded :class:`numpy.random.Generator`, so the same labels, sources
and seed give the same sets on any backend.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Engine

from lensdb.catalog import queries
from lensdb.catalog.crossmatch import crossmatch
from lensdb.catalog.db import require_current
from lensdb.catalog.labels import GRADE_SOURCE
from lensdb.core.errors import InvalidInput, NotFound
from lensdb.core.filters import MagRange, ObjectFilter
from lensdb.core.units import CUTOUT_RADIUS_ARCSEC

log = logging.getLogger(__name__)

PAPER_RATIOS = (1, 10, 100, 1000, 4000, 10_000)
#: One cutout of 96 pixels at 0.262 arcsec: sources this close to a lens may show it (paper, Section 3.3.1).
NEAR_LENS_ARCSEC = CUTOUT_RADIUS_ARCSEC


@dataclass(frozen=True)
class LabelPools:
    """What the database says about each object, after the source filter (all arrays sorted, unique int64).

    Attributes:
        known_lenses: lenses of the imported lists.
        graded_lenses: objects graded A or B (and not already known).
        hard_negatives: objects graded not-a-lens (and carrying no lens label).
        candidates: sources eligible as random non-lenses (filter passed, nothing excluded).
        selection: how the pools were made (filters, label sets, counts of objects left out), for provenance.
    """

    known_lenses: np.ndarray
    graded_lenses: np.ndarray
    hard_negatives: np.ndarray
    candidates: np.ndarray
    selection: dict = field(default_factory=dict)


def _member(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mask of the entries of ``a`` found in ``b``; ``b`` sorted. A binary search per entry: at a survey's size
    (millions of candidates against a few thousand labels) far cheaper than numpy's set functions, which sort or
    hash both sides again on every call."""
    if b.size == 0:
        return np.zeros(a.shape, bool)
    pos = np.searchsorted(b, a).clip(0, b.size - 1)
    return b[pos] == a


def _common(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted unique entries of ``a`` (sorted unique) that are in ``b`` (sorted)."""
    return a[_member(a, b)]


def _minus(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted unique entries of ``a`` (sorted unique) that are not in ``b`` (sorted)."""
    return a[~_member(a, b)]


def load_pools(engine: Engine, *, label_sets: tuple[str, ...] = (), use_grades: bool = True,
               survey: str | None = "south", mag_z_max: float | None = 20.0,
               near_radius_arcsec: float = NEAR_LENS_ARCSEC, available: np.ndarray | None = None) -> LabelPools:
    """Read lenses, grades and eligible non-lenses from the catalogue.

    Args:
        engine: database at the newest schema revision.
        label_sets: names of the lens lists to train on (default: every set not written by grading).
        use_grades: use graded objects (new lenses as positives, false positives as hard negatives).
        survey: only sources of this survey (``south``/``north``; ``None`` = both). The paper trains on south.
        mag_z_max: only sources with ``mag_z`` below this (AB mag; ``None`` = no cut). The paper uses 20.
        near_radius_arcsec: sources this close to a graded lens are never non-lenses (arcsec).
        available: object ids that have vectors (or images); others are left out. ``None`` = all sources.

    Raises:
        NotFound: a named label set does not exist.
        InvalidInput: no lens is labelled (in the chosen sets, after the filter).
    """
    require_current(engine)
    with engine.connect() as conn:
        sets = queries.label_set_rows(conn)
        grade_ids = [s.id for s in sets if s.source == GRADE_SOURCE]
        lists = {s.name: s.id for s in sets if s.source != GRADE_SOURCE}
        unknown = sorted(set(label_sets) - set(lists))
        if unknown:
            raise NotFound(f"no lens list called {', '.join(unknown)}; known: {', '.join(sorted(lists)) or 'none'}")
        list_ids = [lists[n] for n in label_sets] if label_sets else list(lists.values())
        known = queries.labelled_ids(conn, classes=("lens",), set_ids=list_ids)
        flagged = queries.labelled_ids(conn, classes=("lens", "near_lens"))
        graded_lens = graded_neg = np.zeros(0, np.int64)
        if grade_ids:
            latest = queries.latest_labels(conn, grade_ids)  # the most recent grade of an object wins
            graded_lens = np.array(sorted(o for o, c in latest.items() if c == "lens"), np.int64)
            graded_neg = np.array(sorted(o for o, c in latest.items() if c == "non_lens"), np.int64)
        ranges = (MagRange("z", high=float(mag_z_max)),) if mag_z_max is not None else ()
        passing = queries.ids_matching(conn, ObjectFilter(surveys=(survey,) if survey else None, mag_ranges=ranges))
        near_graded = np.zeros(0, np.int64)
        if use_grades and graded_lens.size:
            pos = list(queries.positions(conn, graded_lens).values())
            if pos:
                m = crossmatch(conn, [p[0] for p in pos], [p[1] for p in pos], near_radius_arcsec)
                near_graded = np.unique(m.object_id)
    if available is not None:
        passing = _common(passing, np.sort(np.asarray(available, np.int64)))
    all_graded = np.union1d(graded_lens, graded_neg)
    excluded = np.union1d(np.union1d(flagged, near_graded), all_graded)
    known_kept = _common(known, passing)
    if use_grades:
        graded_lens = _minus(_common(graded_lens, passing), known_kept)
        graded_neg = _minus(_common(graded_neg, passing), flagged)
    else:
        graded_lens = graded_neg = np.zeros(0, np.int64)
    selection = {
        "label_sets": sorted(n for n, i in lists.items() if i in list_ids), "use_grades": use_grades,
        "survey": survey, "mag_z_max": mag_z_max, "near_radius_arcsec": near_radius_arcsec,
        "known_lenses_labelled": int(known.size), "known_lenses_left_out": int(known.size - known_kept.size),
        "excluded_near_or_labelled": int(_member(excluded, passing).sum()),
    }
    if known.size == 0:
        raise InvalidInput("no lenses are labelled" + (f" in {', '.join(label_sets)}" if label_sets else "")
                           + ": import a known-lens list first ('lensdb labels import FILE')")
    if known_kept.size < 2:
        raise InvalidInput(
            f"{known_kept.size} of {known.size} labelled lenses pass the source filter (survey={survey}, "
            f"mag_z < {mag_z_max}) and have vectors; need at least 2 (one to train, one to validate): widen "
            "the filter (--survey any, --mag-z-max none) or embed the missing sources")
    if selection["known_lenses_left_out"]:
        log.warning("%d of %d labelled lenses are left out (source filter or no vector)",
                    selection["known_lenses_left_out"], known.size)
    return LabelPools(known_kept, graded_lens, graded_neg, _minus(passing, excluded), selection)


def _digest(ids: np.ndarray, labels: np.ndarray) -> str:
    order = np.argsort(ids, kind="stable")
    h = hashlib.sha256(np.ascontiguousarray(ids[order], dtype="<i8").tobytes())
    h.update(np.ascontiguousarray(labels[order], dtype="u1").tobytes())
    return h.hexdigest()


def set_digest(ids: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of a training set (ids and labels, in id order): two models trained on the same rows share it."""
    return _digest(np.asarray(ids, np.int64), np.asarray(labels, np.uint8))


@dataclass(frozen=True)
class TrainingSets:
    """Nested training sets and one validation set (object ids, int64).

    Attributes:
        seed: the seed of both random draws.
        train_pos: training lenses (the 70 % of known lenses, plus graded lenses).
        val_pos: validation lenses (the other 30 % of known lenses).
        val_neg: validation non-lenses.
        neg_pool: training non-lenses in draw order; ratio r uses the first ``r * len(train_pos)``.
        hard_negatives: graded false positives, in every training set.
        ratios: the requested training ratios (non-lenses per lens).
        val_ratio_requested: the requested validation ratio.
        selection: how the pools were read (see :class:`LabelPools`).
    """

    seed: int
    train_pos: np.ndarray
    val_pos: np.ndarray
    val_neg: np.ndarray
    neg_pool: np.ndarray
    hard_negatives: np.ndarray
    ratios: tuple[int, ...]
    val_ratio_requested: int
    selection: dict = field(default_factory=dict)

    @property
    def val_ratio(self) -> float:
        """Non-lenses per lens actually in the validation set."""
        return len(self.val_neg) / len(self.val_pos)

    def n_neg(self, ratio: int) -> int:
        """Random non-lenses in the training set of ``ratio`` (capped by what the data hold)."""
        return int(min(int(ratio) * len(self.train_pos), len(self.neg_pool)))

    def capped(self, ratio: int) -> bool:
        return self.n_neg(ratio) < int(ratio) * len(self.train_pos)

    def distinct_ratios(self) -> tuple[int, ...]:
        """The requested ratios whose sets differ: once the data run out, larger ratios repeat the last set."""
        out, seen = [], set()
        for r in sorted(self.ratios):
            if self.n_neg(r) not in seen:
                seen.add(self.n_neg(r))
                out.append(r)
        return tuple(out)

    def train(self, ratio: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, labels) of the training set at ``ratio``: lenses, hard negatives, then random non-lenses."""
        neg = self.neg_pool[: self.n_neg(ratio)]
        ids = np.concatenate([self.train_pos, self.hard_negatives, neg])
        labels = np.concatenate([np.ones(len(self.train_pos), np.uint8),
                                 np.zeros(len(self.hard_negatives) + len(neg), np.uint8)])
        return ids, labels

    def validation(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, labels) of the validation set: lenses, then non-lenses."""
        ids = np.concatenate([self.val_pos, self.val_neg])
        return ids, np.concatenate([np.ones(len(self.val_pos), np.uint8), np.zeros(len(self.val_neg), np.uint8)])

    def describe(self, ratio: int) -> dict:
        """The JSON definition stored with a model trained at ``ratio``: counts, achieved ratios, digests."""
        tr_ids, tr_y = self.train(ratio)
        va_ids, va_y = self.validation()
        return {
            "seed": self.seed, "ratio_requested": int(ratio),
            "ratio_achieved": round(self.n_neg(ratio) / len(self.train_pos), 3), "capped": self.capped(ratio),
            "n_train_pos": int(len(self.train_pos)), "n_train_neg": self.n_neg(ratio),
            "n_hard_negatives": int(len(self.hard_negatives)),
            "n_val_pos": int(len(self.val_pos)), "n_val_neg": int(len(self.val_neg)),
            "val_ratio_requested": self.val_ratio_requested, "val_ratio_achieved": round(self.val_ratio, 3),
            "train_sha256": _digest(tr_ids, tr_y), "val_sha256": _digest(va_ids, va_y),
            "selection": self.selection,
        }

    def summary(self) -> str:
        note = "" if self.val_ratio >= self.val_ratio_requested else (
            f" (requested 1:{self.val_ratio_requested}; the data allow no more)")
        return (f"{len(self.train_pos)} training lenses (+{len(self.hard_negatives)} hard negatives), "
                f"{len(self.val_pos)} validation lenses; validation at 1:{self.val_ratio:.0f}{note}; "
                f"training non-lenses available: {len(self.neg_pool)}")


def build_sets(pools: LabelPools, *, ratios: tuple[int, ...] = PAPER_RATIOS, val_ratio: int = 10_000,
               val_fraction: float = 0.3, seed: int = 0) -> TrainingSets:
    """Split lenses 70/30 and draw nested non-lens sets from the eligible candidates.

    When the candidates cannot fill validation at ``val_ratio`` and the largest training ratio, validation gets
    at least its share ``val_fraction`` of them, so both end near the survey's own ratio.
    """
    if not ratios or any(int(r) < 1 for r in ratios):
        raise InvalidInput(f"training ratios must be positive integers (non-lenses per lens); got {ratios}")
    if val_ratio < 1 or not 0.0 < val_fraction < 1.0:
        raise InvalidInput(f"need val_ratio >= 1 and 0 < val_fraction < 1; got {val_ratio}, {val_fraction}")
    known = pools.known_lenses
    n_val = int(np.clip(round(val_fraction * len(known)), 1, len(known) - 1))
    perm = np.random.default_rng([seed, 0]).permutation(len(known))
    val_pos = np.sort(known[perm[:n_val]])
    train_pos = np.sort(np.concatenate([known[perm[n_val:]], pools.graded_lenses]))
    hard = np.setdiff1d(pools.hard_negatives, val_pos)
    eligible = _minus(pools.candidates, np.unique(np.concatenate([known, pools.graded_lenses, hard])))
    order = eligible[np.random.default_rng([seed, 1]).permutation(len(eligible))]
    val_need = int(val_ratio) * n_val
    train_need = max(int(r) for r in ratios) * len(train_pos)
    n_val_neg = val_need
    if len(order) < val_need + train_need:
        n_val_neg = min(val_need, max(len(order) - train_need, int(len(order) * val_fraction)))
    if n_val_neg < 1 or len(order) - n_val_neg < 1:
        raise InvalidInput(f"only {len(order)} sources are eligible as non-lenses; need at least 2 "
                           "(check the source filter and that the survey is ingested)")
    sets = TrainingSets(seed=seed, train_pos=train_pos, val_pos=val_pos, val_neg=np.sort(order[:n_val_neg]),
                        neg_pool=order[n_val_neg:n_val_neg + train_need], hard_negatives=hard,
                        ratios=tuple(int(r) for r in ratios), val_ratio_requested=int(val_ratio),
                        selection=pools.selection)
    log.info("sets: %s", sets.summary())
    return sets
