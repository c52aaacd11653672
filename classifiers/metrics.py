"""Top-N metrics of Stein et al. (2021), Section 3.3.2: how many true lenses a human finds in the N images they inspect.

A search for rare objects is judged by its top predictions, not by a probability cut: a human inspects the N
highest-scored images, so the metric is the number of true positives among them (TP@N) and the precision
``TP / N``. The paper fixed N = 1139 for a validation set of 4.85 million galaxies (its 10^4 inspected images
scaled from a 42.5 million search); :func:`default_top_n` scales that N to another validation size.

Ranking is deterministic: scores descending, ties broken by position (earlier first), so two runs on the same
scores give the same top N.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lensdb.core.errors import InvalidInput

#: The paper's inspection cut-off and the validation size it was chosen for.
PAPER_TOP_N = 1139
PAPER_VALIDATION_SIZE = 4_850_000
#: Lens frequency of the real sky assumed for the inspection-effort extrapolation (one in 10^4 galaxies).
SKY_RATIO = 10_000
#: The survey the paper scoped its search to (DECaLS south, mag_z < 20), objects.
PAPER_SEARCH_SIZE = 42_500_000


def default_top_n(n_validation: int) -> int:
    """The paper's N = 1139 per 4.85 million validation objects, scaled to ``n_validation`` objects (at least 1)."""
    if n_validation < 1:
        raise InvalidInput(f"a validation set needs at least one object; got {n_validation}")
    return max(1, int(round(PAPER_TOP_N * n_validation / PAPER_VALIDATION_SIZE)))


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise InvalidInput(f"{s.size} scores for {y.size} labels")
    if s.size and not np.isfinite(s).all():
        raise InvalidInput("scores contain NaN or inf; the model diverged or the features are broken")
    if y.size and not np.isin(y, (0, 1)).all():
        raise InvalidInput("labels must be 0 (non-lens) or 1 (lens)")
    return s, y.astype(bool)


def ranking(scores) -> np.ndarray:
    """Positions of ``scores`` (n,) from the highest to the lowest score; ties keep the earlier position first."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    return np.lexsort((np.arange(s.size), -s))


def top_n(scores, n: int) -> np.ndarray:
    """Positions of the ``n`` highest scores, best first (all of them when fewer than ``n``)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    n = max(0, min(int(n), s.size))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n < s.size // 4:
        # argpartition is O(size); only the selected part needs the (stable) sort.
        part = np.argpartition(-s, n - 1)[:n]
        cut = s[part].min()
        part = np.flatnonzero(s >= cut)  # every tie at the boundary, so the stable tie rule decides
        return part[np.lexsort((part, -s[part]))][:n]
    return ranking(s)[:n]


@dataclass(frozen=True)
class TopN:
    """Top-N quality of one scoring.

    Attributes:
        n: images inspected.
        tp: true lenses among them.
        precision: ``tp / n`` (n capped at the set size).
        recall: ``tp`` over all lenses in the set.
        n_pos, n_total: lenses and objects in the set.
    """

    n: int
    tp: int
    precision: float
    recall: float
    n_pos: int
    n_total: int

    def as_dict(self) -> dict:
        return {"n": self.n, "tp": self.tp, "precision": self.precision, "recall": self.recall,
                "n_pos": self.n_pos, "n_total": self.n_total}


def top_n_report(scores, labels, n: int) -> TopN:
    """TP@N, precision@N and recall@N of ``scores`` (n_total,) against 0/1 ``labels`` (n_total,)."""
    s, y = _check(scores, labels)
    if n < 1:
        raise InvalidInput(f"N must be at least 1; got {n}")
    idx = top_n(s, n)
    tp = int(y[idx].sum())
    n_pos = int(y.sum())
    shown = len(idx)
    return TopN(n=int(n), tp=tp, precision=tp / shown if shown else 0.0,
                recall=tp / n_pos if n_pos else 0.0, n_pos=n_pos, n_total=int(s.size))


def true_positives_at(scores, labels, n: int) -> int:
    """Number of lenses among the ``n`` highest scores."""
    return top_n_report(scores, labels, n).tp


def precision_at(scores, labels, n: int) -> float:
    """Fraction of lenses among the ``n`` highest scores."""
    return top_n_report(scores, labels, n).precision


@dataclass(frozen=True)
class RecallCurve:
    """Lenses found against images inspected, walking down the ranking.

    Attributes:
        inspected: (n_total,) images inspected so far in the validation set, 1..n_total.
        found: (n_total,) lenses among them.
        recall: (n_total,) ``found / n_pos``.
        survey_fraction: (n_total,) fraction of a survey with one lens per ``sky_ratio`` galaxies that must be
            inspected to reach the same recall, if the validation set is representative: each validation
            non-lens stands for ``sky_ratio / (n_neg / n_pos)`` survey non-lenses.
    """

    inspected: np.ndarray
    found: np.ndarray
    recall: np.ndarray
    survey_fraction: np.ndarray

    def inspection_for(self, recall: float) -> float:
        """Smallest survey fraction that reaches ``recall`` (inf when never reached)."""
        hit = np.flatnonzero(self.recall >= recall)
        return float(self.survey_fraction[hit[0]]) if hit.size else float("inf")

    def as_dict(self, points: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)) -> dict:
        return {f"survey_fraction_at_recall_{p:g}": self.inspection_for(p) for p in points}


def recall_curve(scores, labels, sky_ratio: int = SKY_RATIO) -> RecallCurve:
    """The recall curve of ``scores`` (n,) against 0/1 ``labels`` (n,); see :class:`RecallCurve`."""
    s, y = _check(scores, labels)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0:
        raise InvalidInput("the recall curve needs at least one lens among the labels")
    ordered = y[ranking(s)]
    found = np.cumsum(ordered)
    false = np.arange(1, s.size + 1) - found
    # A survey of (1 + sky_ratio) objects per lens: recall r costs r lenses plus FPR * sky_ratio non-lenses.
    fpr = false / n_neg if n_neg else np.zeros_like(found, dtype=np.float64)
    frac = (found / n_pos + fpr * sky_ratio) / (1.0 + sky_ratio)
    return RecallCurve(inspected=np.arange(1, s.size + 1), found=found, recall=found / n_pos,
                       survey_fraction=frac)
