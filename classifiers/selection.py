"""The probe LensDB ranks with: an L2-regularised, class-balanced logistic regression whose regularisation is chosen
by cross-validated average precision on the known lenses, then refitted on all of them.

Why not the paper's protocol (:func:`lensdb.classifiers.probe.fit_probe`) at every size: the paper keeps the LBFGS
epoch with the most true positives in the top N of a 4.85-million-object validation set, N = 1139. Scaled to a
validation set of a few thousand objects N is about 1, so the kept epoch is almost arbitrary; with no penalty
(``l2 = 0``) the converged probe overfits a hundred lenses in 2,048 dimensions; and 30 % of the known lenses never
train the model that ranks the survey. Measured on a survey LensDB never saw (issue #22), that probe found a third
of the hidden lenses a plain ``LogisticRegression(class_weight="balanced", C=1)`` found on the same vectors.

Here, at any size:

- **class balance**: each class weighs half of the loss (scikit-learn's ``class_weight="balanced"``), times an
  optional per-row certainty (a graded lens that is probably a grader's false alarm weighs less);
- **regularisation chosen by validation**: ``C`` from a grid (``l2 = 1 / (C n)``, the same optimum as
  scikit-learn's ``C``), each scored by the average precision of the out-of-fold scores of stratified k-fold
  cross-validation. AP uses every held-out lens, so it means something with 20 or 2,000 of them;
- **evaluation rows**: only known lenses and random non-lenses are scored (graded objects always train), so two
  training recipes that differ in their graded rows are compared on the same held-out objects
  (:func:`lensdb.services.round_policy` accepts a round's model on this comparison);
- **refit on everything**: the chosen ``C`` is refitted on all rows.

The fit is full-batch LBFGS (strong Wolfe) over a :class:`~lensdb.classifiers.probe.FeatureMatrix`, run to
convergence; held-out rows are given weight 0 rather than copied out. Scoring is unchanged: the model is a weight
vector over the stored unit vectors (a feature transform in front of the probe is folded into the weights).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from lensdb.classifiers.probe import FeatureMatrix, logistic_loss_grad, predict_logits
from lensdb.core.errors import InvalidInput

log = logging.getLogger(__name__)

#: Inverse regularisation strengths tried (scikit-learn's ``C``; ``l2 = 1 / (C n)``).
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
#: Folds of the cross-validation.
FOLDS = 3


def balanced_weights(y) -> np.ndarray:
    """(n,) float32 weights giving each class half the total weight: ``n / (2 n_class)`` (scikit-learn's
    ``class_weight="balanced"``)."""
    y = np.asarray(y).astype(bool)
    n, n_pos = y.size, int(y.sum())
    if n_pos == 0 or n_pos == n:
        raise InvalidInput("the training set needs both lenses and non-lenses")
    return np.where(y, n / (2.0 * n_pos), n / (2.0 * (n - n_pos))).astype(np.float32)


def fit_logistic(x: FeatureMatrix, y, sample_weight, l2: float, *, init: tuple[np.ndarray, float] | None = None,
                 max_iter: int = 400, tolerance_grad: float = 1e-6, threads: int | None = None
                 ) -> tuple[np.ndarray, float, dict]:
    """Minimise ``sum_i s_i BCE(w . x_i + b, y_i) / n + l2 / 2 |w|^2`` to convergence (LBFGS, strong Wolfe).

    Args:
        x: (n, dim) features. y: (n,) 0/1. sample_weight: (n,) >= 0 (0 = row left out). l2: > 0.
        init: a warm start (weights, bias), e.g. the fit of the next stronger penalty.

    Returns:
        (weights (dim,) float32, bias, info with iterations and seconds).
    """
    if not l2 > 0:
        raise InvalidInput(f"the penalty l2 must be > 0; got {l2}")
    yt = torch.as_tensor(np.asarray(y, np.float32))
    sw = torch.as_tensor(np.asarray(sample_weight, np.float32))
    if yt.shape != (x.n,) or sw.shape != (x.n,):
        raise InvalidInput(f"labels {tuple(yt.shape)} / weights {tuple(sw.shape)} do not fit {x.n} rows")
    t0 = time.perf_counter()
    # Balanced classes and unit rows: the curvature along w starts near 0.25 * |s| / dim per direction, plus l2.
    curv_w = 0.25 * float(sw.mean()) / x.dim + l2
    s_w, s_b = 1.0 / math.sqrt(curv_w), 1.0 / math.sqrt(0.25 * max(float(sw.mean()), 1e-12))
    w0 = np.zeros(x.dim, np.float32) if init is None else np.asarray(init[0], np.float32)
    b0 = 0.0 if init is None else float(init[1])
    if init is None:
        pos = float((sw * yt).sum())
        neg = float((sw * (1 - yt)).sum())
        b0 = math.log(max(pos, 1e-12) / max(neg, 1e-12))
    u = torch.tensor(w0 / s_w, requires_grad=True)
    v = torch.tensor(b0 / s_b, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.LBFGS([u, v], lr=1.0, max_iter=max_iter, max_eval=int(max_iter * 1.5) + 10,
                            history_size=20, tolerance_grad=tolerance_grad, tolerance_change=1e-12,
                            line_search_fn="strong_wolfe")
    calls = [0]

    def closure():
        with torch.no_grad():
            loss, gw, gb = logistic_loss_grad(x, yt, u.detach() * s_w, v.detach() * s_b, l2, threads=threads,
                                              sample_weight=sw)
        u.grad, v.grad = gw * s_w, (gb * s_b).reshape(())
        calls[0] += 1
        return torch.tensor(loss, dtype=torch.float32)

    opt.step(closure)
    w = (u.detach() * s_w).numpy().astype(np.float32)
    b = float(v.detach() * s_b)
    return w, b, {"evaluations": calls[0], "iterations": int(opt.state[u].get("n_iter", 0)),
                  "seconds": round(time.perf_counter() - t0, 3)}


def stratified_folds(y, eval_mask, k: int, seed: int) -> np.ndarray:
    """(n,) fold of each row, 0..k-1 for evaluation rows (lenses and non-lenses spread evenly), -1 for rows that
    always train."""
    y = np.asarray(y).astype(bool)
    eval_mask = np.asarray(eval_mask, bool)
    folds = np.full(y.size, -1, np.int64)
    rng = np.random.default_rng([seed, 22])
    for cls in (True, False):
        idx = np.flatnonzero(eval_mask & (y == cls))
        idx = idx[rng.permutation(idx.size)]
        folds[idx] = np.arange(idx.size) % k
    return folds


def average_precision(scores, labels) -> float:
    """Average precision of ``scores`` for 0/1 ``labels`` (scikit-learn's definition; nan without lenses)."""
    from sklearn.metrics import average_precision_score

    labels = np.asarray(labels).astype(bool)
    if not labels.any():
        return float("nan")
    return float(average_precision_score(labels, np.asarray(scores, np.float64)))


@dataclass
class Selection:
    """What cross-validation chose and why.

    Attributes:
        c_grid: the ``C`` values tried. cv_ap: pooled out-of-fold AP of each. chosen_c: the best (ties: smaller).
        folds: k. n_eval_pos, n_eval_neg: held-out lenses and non-lenses scored. oof_logits: out-of-fold logits of
        the evaluation rows for the chosen C (``eval_index`` gives their rows).
    """

    c_grid: tuple[float, ...]
    cv_ap: list[float]
    chosen_c: float
    folds: int
    n_eval_pos: int
    n_eval_neg: int
    oof_logits: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.float32))
    eval_index: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    seconds: float = 0.0

    @property
    def best_ap(self) -> float:
        return float(self.cv_ap[self.c_grid.index(self.chosen_c)])

    def as_dict(self) -> dict:
        return {"c_grid": list(self.c_grid), "cv_ap": [round(a, 5) for a in self.cv_ap], "chosen_c": self.chosen_c,
                "cv_ap_best": round(self.best_ap, 5), "folds": self.folds, "n_eval_pos": self.n_eval_pos,
                "n_eval_neg": self.n_eval_neg, "seconds": round(self.seconds, 3)}


def cross_validate(x: FeatureMatrix, y, weights, eval_mask, *, c_grid=C_GRID, folds: int = FOLDS, seed: int = 0,
                   threads: int | None = None) -> Selection:
    """Out-of-fold AP of each ``C`` in ``c_grid`` (see the module's docstring).

    Args:
        x, y: features and 0/1 labels. weights: per-row weights (class balance x certainty).
        eval_mask: rows that may be held out and scored (known lenses, random non-lenses).
    """
    t0 = time.perf_counter()
    y = np.asarray(y).astype(np.uint8)
    weights = np.asarray(weights, np.float32)
    eval_mask = np.asarray(eval_mask, bool)
    n_pos = int((eval_mask & (y == 1)).sum())
    if n_pos < 2 or int((eval_mask & (y == 0)).sum()) < 2:
        raise InvalidInput(f"cross-validation needs at least 2 known lenses and 2 non-lenses to hold out; "
                           f"has {n_pos} lenses")
    k = int(max(2, min(folds, n_pos)))
    fold = stratified_folds(y, eval_mask, k, seed)
    grid = tuple(sorted(float(c) for c in c_grid))
    oof = np.zeros((len(grid), x.n), np.float32)
    for f in range(k):
        train_w = np.where(fold == f, 0.0, weights).astype(np.float32)
        held = np.flatnonzero(fold == f)
        init = None
        for j, c in enumerate(grid):  # strongest penalty first, each fit warm-starts the next
            w, b, _ = fit_logistic(x, y, train_w, 1.0 / (c * x.n), init=init, threads=threads)
            init = (w, b)
            oof[j, held] = predict_logits(x, w, b, threads=threads)[held]
    index = np.flatnonzero(eval_mask)
    aps = [average_precision(oof[j, index], y[index]) for j in range(len(grid))]
    best = int(np.nanargmax(aps))  # first maximum = the strongest penalty among ties
    log.info("cross-validated AP by C: %s; chose C = %g", ", ".join(f"{c:g}: {a:.4f}" for c, a in zip(grid, aps)),
             grid[best])
    return Selection(grid, aps, grid[best], k, n_pos, int(index.size - n_pos), oof[best, index], index,
                     time.perf_counter() - t0)


def fit_selected(x: FeatureMatrix, y, weights, eval_mask, *, c_grid=C_GRID, folds: int = FOLDS, seed: int = 0,
                 threads: int | None = None) -> tuple[np.ndarray, float, Selection]:
    """Choose ``C`` by :func:`cross_validate`, then refit on every row: (weights, bias, selection)."""
    sel = cross_validate(x, y, weights, eval_mask, c_grid=c_grid, folds=folds, seed=seed, threads=threads)
    w, b, _ = fit_logistic(x, y, weights, 1.0 / (sel.chosen_c * x.n), threads=threads)
    return w, b, sel
