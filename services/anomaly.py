"""An anomaly ranking for "other rare objects": which stored vectors lie far from the rest of the survey.

Two scores (``method``), higher = more unusual, on the stored unit vectors:

- ``knn``: the cosine distance (1 - similarity) to the ``neighbours``-th nearest other object, exact, in blocks: an
  object in a sparse part of the space is far even from its tenth neighbour. Exact and cheap up to a few hundred
  thousand objects (N^2 dot products); beyond that use ``iforest``.
- ``iforest``: an isolation forest (scikit-learn) on the vectors, as Astronomaly (Lochner & Bassett 2021) does:
  objects that random axis-parallel cuts isolate in few steps.

``bench/bench_anomaly.py`` measures how many of the simulator's rare classes (lenses and look-alikes) reach the top
1,000 against a random draw (``bench/results/anomaly*.json``).
"""

from __future__ import annotations

import numpy as np

from lensdb.core.errors import InvalidInput

METHODS = ("knn", "iforest")
#: Neighbour whose distance is the ``knn`` score.
NEIGHBOURS = 10


def anomaly_scores(vectors: np.ndarray, method: str = "knn", neighbours: int = NEIGHBOURS, seed: int = 0,
                   block: int = 2048) -> np.ndarray:
    """(N,) anomaly scores of (N, D) vectors (normalised here), higher = more unusual.

    Raises:
        InvalidInput: an unknown method, fewer objects than ``neighbours`` + 1, neighbours < 1, non-finite vectors.
    """
    if method not in METHODS:
        raise InvalidInput(f"anomaly method {method!r} is not one of {', '.join(METHODS)}")
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise InvalidInput("anomaly scores need a 2-D array of finite vectors")
    if method == "iforest":
        if len(x) < 2:
            raise InvalidInput("an isolation forest needs at least 2 objects")
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=200, max_samples=min(len(x), 1024), random_state=seed)
        forest.fit(x)
        return -forest.score_samples(x)
    if isinstance(neighbours, bool) or not isinstance(neighbours, int | np.integer) or neighbours < 1:
        raise InvalidInput(f"neighbours must be an integer >= 1, got {neighbours!r}")
    if len(x) <= neighbours:
        raise InvalidInput(f"the k-th-neighbour score needs more than {neighbours} objects; got {len(x)}")
    import torch

    u = torch.from_numpy(x)
    u = u / u.norm(dim=1, keepdim=True).clamp_min(1e-12)
    out = np.empty(len(x), dtype=np.float64)
    for s in range(0, len(x), block):
        sim = u[s:s + block] @ u.T
        sim[torch.arange(sim.shape[0]), torch.arange(s, s + sim.shape[0])] = -2.0  # not its own neighbour
        kth = sim.topk(neighbours, dim=1).values[:, -1]
        out[s:s + block] = (1.0 - kth).double().numpy()
    return out
