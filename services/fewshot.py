"""Few-shot queries: several examples at once, positives to look for and negatives to avoid, turned into one query
vector that the vector store searches like any other (cosine kNN over the stored unit vectors).

Two ways (``method``), both on the stored unit vectors:

- ``centroid``: the normalised mean of the positives, minus ``negative_weight`` times the normalised mean of the
  negatives (when there are any), normalised again;
- ``probe``: a query probe fitted on the fly: an L2-regularised logistic regression of the positives against the
  negatives and a random background sample of the survey (unlabelled, taken as "not this", as the paper's probes take
  random objects as non-lenses), classes weighted equally. Its weight vector, normalised, is the query: on unit
  vectors the probe's ranking (w . x + b) is the ranking by cosine similarity to w, so the same index serves it.

``bench/bench_fewshot.py`` measures both on the simulator's look-alike classes and lenses
(``bench/results/fewshot*.json``).
"""

from __future__ import annotations

import numpy as np

from lensdb.core.errors import InvalidInput

METHODS = ("centroid", "probe")
#: Weight of the negatives' mean subtracted from the positives' mean (``centroid``).
NEGATIVE_WEIGHT = 0.5
#: Inverse regularisation strength of the on-the-fly probe.
PROBE_C = 1.0


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def query_vector(positives: np.ndarray, negatives: np.ndarray | None = None, background: np.ndarray | None = None,
                 method: str = "centroid", negative_weight: float = NEGATIVE_WEIGHT, seed: int = 0) -> np.ndarray:
    """The unit query vector of a few-shot query.

    Args:
        positives: (P, D) vectors of the objects to look for, P >= 1.
        negatives: (Q, D) vectors of objects to avoid (may be empty or None).
        background: (B, D) vectors of random survey objects; ``probe`` needs them or negatives.
        method: ``centroid`` or ``probe``.
        negative_weight: ``centroid``: weight of the negatives' mean, >= 0.

    Returns:
        (D,) float32 unit vector.

    Raises:
        InvalidInput: no positives, mismatched widths, non-finite vectors, an unknown method, or a probe with nothing
            to tell the positives from.
    """
    if method not in METHODS:
        raise InvalidInput(f"few-shot method {method!r} is not one of {', '.join(METHODS)}")
    pos = np.asarray(positives, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[0] == 0:
        raise InvalidInput("a few-shot query needs at least one positive example")
    neg = np.zeros((0, pos.shape[1])) if negatives is None or len(negatives) == 0 else np.asarray(negatives, np.float64)
    bg = np.zeros((0, pos.shape[1])) if background is None or len(background) == 0 else np.asarray(background,
                                                                                                    np.float64)
    for name, x in (("negative", neg), ("background", bg)):
        if x.ndim != 2 or x.shape[1] != pos.shape[1]:
            raise InvalidInput(f"{name} vectors have {x.shape[-1]} values, the positives {pos.shape[1]}")
    if not (np.isfinite(pos).all() and np.isfinite(neg).all() and np.isfinite(bg).all()):
        raise InvalidInput("the examples' vectors hold NaN or infinite values")
    pos, neg, bg = _unit(pos), _unit(neg), _unit(bg)
    if method == "centroid":
        if not negative_weight >= 0:
            raise InvalidInput(f"negative_weight must be >= 0, got {negative_weight}")
        q = _unit(pos.mean(0))
        if len(neg):
            q = q - negative_weight * _unit(neg.mean(0))
    else:
        others = np.concatenate([neg, bg])
        if len(others) == 0:
            raise InvalidInput("the query probe needs negatives or a background sample to tell the positives from")
        from sklearn.linear_model import LogisticRegression

        x = np.concatenate([pos, others])
        y = np.r_[np.ones(len(pos)), np.zeros(len(others))]
        # Negatives given by hand count as much as the whole background: they are what the user asked to avoid.
        w = np.r_[np.full(len(pos), 1.0 / len(pos)),
                  np.full(len(neg), 0.5 / max(1, len(neg)) if len(bg) else 1.0 / max(1, len(neg))),
                  np.full(len(bg), 0.5 / max(1, len(bg)) if len(neg) else 1.0 / max(1, len(bg)))]
        clf = LogisticRegression(C=PROBE_C, max_iter=500, random_state=seed)
        clf.fit(x, y, sample_weight=w * len(x))
        q = clf.coef_[0]
    norm = np.linalg.norm(q)
    if not np.isfinite(norm) or norm < 1e-9:
        raise InvalidInput("the positives and negatives cancel out: no direction to search along; give other examples")
    return (q / norm).astype(np.float32)


def check_examples(positive_ids, negative_ids, max_ids: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated (positive ids, negative ids): at least one positive, at most ``max_ids`` in all, no id on both
    sides, duplicates dropped (order kept)."""
    from lensdb.services import validate

    pos = validate.object_ids("positive_ids", list(positive_ids), max_ids) if len(positive_ids) else None
    if pos is None or pos.size == 0:
        raise InvalidInput("give at least one positive example (positive_ids): the objects to find more of")
    neg = (validate.object_ids("negative_ids", list(negative_ids), max_ids) if len(negative_ids)
           else np.zeros(0, np.int64))
    if pos.size + neg.size > max_ids:
        raise InvalidInput(f"at most {max_ids} examples in all; got {pos.size + neg.size}")
    pos = pos[np.sort(np.unique(pos, return_index=True)[1])]
    neg = neg[np.sort(np.unique(neg, return_index=True)[1])]
    both = np.intersect1d(pos, neg)
    if both.size:
        raise InvalidInput(f"object_id {int(both[0])} is given both as a positive and as a negative example")
    return pos, neg
