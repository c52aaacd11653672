"""Inner-product kernels of the similarity array: one block of queries against its magnitude slab.

A block of queries (consecutive in r-magnitude order) meets the database rows whose magnitudes can lie within
the window of at least one query: its slab. The slab is cut into tiles; each tile's scores are computed by one
matrix product, pairs outside the window (``|dmag| >= window``, decided per pair) and the query itself are set
to -inf, and a running top-k keeps the best so far. Each query's valid rows form one contiguous run of the
sorted slab, so only two narrow bands of columns (as wide as the block's own magnitude spread) need masking.

Backends (all exact except the bf16 shortlist, which is re-scored exactly):

- ``torch``: fp32 matrix product (MKL on CPU, cuBLAS on a GPU) and torch top-k.
- ``faiss``: the columns inside every query's window go through ``faiss.knn`` (``knn_gpu`` with faiss-gpu),
  the two masked bands as ``torch``.
- ``torch-bf16``: bf16 products keep ``k + shortlist`` candidates per query; these are re-scored in fp32.
  Fast only where the hardware multiplies bf16 natively (AVX512_BF16/AMX CPUs, GPUs).
"""

from __future__ import annotations

import numpy as np
import torch

from lensdb.core.errors import InvalidInput

BACKENDS = ("torch", "faiss", "torch-bf16")
#: Widening of the slab bounds, mag: the bounds are a conservative pre-selection, the per-pair mask is exact.
_SLAB_PAD = 1e-9


def resolve_backend(name: str) -> tuple[str, torch.device]:
    """The backend and device for ``name`` (``auto``: faiss on a GPU with faiss-gpu, else torch)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "auto":
        # On CPUs faiss's heap selection is slower than a matrix product plus torch.topk for k ~ 1000.
        return ("faiss" if device.type == "cuda" and _faiss_gpus() > 0 else "torch"), device
    if name not in BACKENDS:
        raise InvalidInput(f"similarity backend {name!r} is not one of auto, {', '.join(BACKENDS)}")
    return name, device


def _faiss_gpus() -> int:
    try:
        import faiss

        return int(faiss.get_num_gpus())
    except (ImportError, AttributeError):
        return 0


def slab(sorted_mags: np.ndarray, low: float, high: float, window: float) -> tuple[int, int]:
    """Positions ``[start, stop)`` of the rows whose magnitude may lie within ``window`` of ``[low, high]``."""
    start = int(np.searchsorted(sorted_mags, low - window - _SLAB_PAD, side="left"))
    stop = int(np.searchsorted(sorted_mags, high + window + _SLAB_PAD, side="right"))
    return start, stop


class RunningTopK:
    """The best ``k`` (score, column) pairs per row over a stream of score tiles; unfilled slots hold -inf / -1."""

    def __init__(self, rows: int, k: int, device: torch.device):
        self.k = k
        self.vals = torch.full((rows, k), -torch.inf, device=device)
        self.idx = torch.full((rows, k), -1, dtype=torch.int64, device=device)
        self.filled = False

    def push(self, scores: torch.Tensor, offset: int) -> None:
        """Merge a (rows, T) fp32 tile whose column 0 is column ``offset`` of the slab."""
        # Only scores above a row's current k-th best can enter: after the first tiles that is a few per row,
        # so the expensive selection runs on a small k instead of the full k.
        if self.filled:
            floor = self.vals.min(dim=1, keepdim=True).values
            need = int((scores > floor).sum(dim=1).max())
            if need == 0:
                return
        else:  # nothing kept yet: every score may enter
            need = self.k
        vals, idx = torch.topk(scores, min(need, self.k, scores.shape[1]), dim=1, sorted=False)
        self._merge(vals, idx + offset)

    def push_candidates(self, vals: torch.Tensor, idx: torch.Tensor) -> None:
        """Merge explicit candidates (already offset); idx -1 marks none."""
        self._merge(vals.masked_fill(idx < 0, -torch.inf), idx)

    def _merge(self, vals: torch.Tensor, idx: torch.Tensor) -> None:
        all_vals = torch.cat([self.vals, vals], dim=1)
        all_idx = torch.cat([self.idx, idx], dim=1)
        best, pos = torch.topk(all_vals, self.k, dim=1, sorted=False)
        self.vals, self.idx = best, torch.gather(all_idx, 1, pos)
        self.idx.masked_fill_(self.vals == -torch.inf, -1)
        self.filled = True


def window_bounds(q_mags: np.ndarray, db_mags: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Per query, the slab positions ``[a, b)`` of the rows with ``|q_mag - db_mag| < window`` (float64).

    The rows are sorted by magnitude, so each query's valid rows are one contiguous run. ``searchsorted`` finds
    its ends up to rounding of ``q_mag -+ window``; the loops then move each end until the exact per-pair test
    (the one the brute-force reference applies) holds on both sides of it.
    """
    q = np.asarray(q_mags, dtype=np.float64)
    m = np.asarray(db_mags, dtype=np.float64)
    n = len(m)
    a = np.searchsorted(m, q - window, side="right")
    b = np.searchsorted(m, q + window, side="left")
    while True:  # a: the first row with q - m < window
        down = (a > 0) & (q - m[np.maximum(a - 1, 0)] < window)
        up = (a < n) & ~(q - m[np.minimum(a, n - 1)] < window)
        if not (down.any() or up.any()):
            break
        a = a - down + up
    while True:  # b: the first row with q - m <= -window
        down = (b > 0) & ~(q - m[np.maximum(b - 1, 0)] > -window)
        up = (b < n) & (q - m[np.minimum(b, n - 1)] > -window)
        if not (down.any() or up.any()):
            break
        b = b - down + up
    return a, np.maximum(a, b)


def _mask_band(scores: torch.Tensor, t0: int, lo: int, hi: int, bound: torch.Tensor, below: bool) -> None:
    """In tile columns ``[lo, hi)`` (slab positions), set -inf where the column is below (or at/above) ``bound``."""
    lo, hi = max(lo, t0), min(hi, t0 + scores.shape[1])
    if lo >= hi:
        return
    cols = torch.arange(lo, hi, device=scores.device)
    band = scores[:, lo - t0 : hi - t0]
    band.masked_fill_(cols[None, :] < bound[:, None] if below else cols[None, :] >= bound[:, None], -torch.inf)


def block_topk(
    q_vecs: np.ndarray,
    q_mags: np.ndarray,
    q_pos: np.ndarray,
    db_vecs: np.ndarray,
    db_mags: np.ndarray,
    db_start: int,
    k: int,
    window: float,
    *,
    backend: str = "torch",
    device: torch.device | None = None,
    tile_rows: int = 16384,
    shortlist: int = 64,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Top-k neighbours of a block of queries inside its slab.

    Args:
        q_vecs: (B, d) float32 unit query vectors, in increasing magnitude.
        q_mags: (B,) float64 query r magnitudes (AB mag), increasing.
        q_pos: (B,) int64 sorted positions of the queries (to exclude themselves).
        db_vecs, db_mags: the slab's (S, d) float32 vectors and (S,) float64 magnitudes, increasing.
        db_start: sorted position of the slab's first row.
        k: neighbours per query; window: magnitude window (mag).
        backend: ``torch``, ``faiss`` or ``torch-bf16``; device: where torch computes.
        tile_rows: slab rows per matrix product; shortlist: extra bf16 candidates re-scored in fp32.

    Returns:
        (positions (B, k) int64, similarities (B, k) float32, pairs scored): rows sorted by decreasing
        similarity, ties by position; -1 and NaN where fewer than k neighbours exist.
    """
    device = device or torch.device("cpu")
    bf16 = backend == "torch-bf16"
    keep = k + shortlist if bf16 else k
    acc = RunningTopK(len(q_vecs), keep, device)
    q = torch.from_numpy(np.ascontiguousarray(q_vecs)).to(device)
    q_lhs = q.bfloat16() if bf16 else q
    a, b = window_bounds(q_mags, db_mags, window)
    a_t, b_t = torch.from_numpy(a).to(device), torch.from_numpy(b).to(device)
    # Columns in [a.max(), b.min()) are inside every query's window; only the two bands around need a mask.
    left, right = (0, int(a.max())), (int(b.min()), len(db_vecs))
    rows = torch.arange(len(q_vecs), device=device)
    own_col = q_pos - db_start  # each query's own column in the slab

    def scored(c0: int, c1: int) -> None:
        """Columns [c0, c1) by a torch product, masked (window bands, the query itself), into the top-k."""
        x = torch.from_numpy(np.ascontiguousarray(db_vecs[c0:c1])).to(device)
        scores = (q_lhs @ x.bfloat16().T).float() if bf16 else q_lhs @ x.T
        _mask_band(scores, c0, *left, a_t, below=True)
        _mask_band(scores, c0, *right, b_t, below=False)
        own = (own_col >= c0) & (own_col < c1)
        if own.any():
            own_t = torch.from_numpy(own).to(device)
            scores[rows[own_t], torch.from_numpy(own_col[own] - c0).to(device)] = -torch.inf
        acc.push(scores, c0)

    pairs = 0
    for t0 in range(0, len(db_vecs), tile_rows):
        t1 = min(t0 + tile_rows, len(db_vecs))
        pairs += len(q_vecs) * (t1 - t0)
        core0, core1 = max(t0, left[1]), min(t1, right[0])
        if backend == "faiss" and core1 > core0:
            # faiss takes the columns inside every query's window; the bands around them need a mask.
            _faiss_push(acc, q_vecs, db_vecs[core0:core1], core0, own_col, device)
            spans = [(t0, core0), (core1, t1)]
        else:
            spans = [(t0, t1)]
        for c0, c1 in spans:
            if c1 > c0:
                scored(c0, c1)
    vals, idx = acc.vals, acc.idx
    if bf16:
        vals, idx = _rescore(q, db_vecs, idx, k)
    return _finish(vals, idx, db_start) + (pairs,)


_GPU_RESOURCES = []


def _faiss_push(
    acc: RunningTopK, q_vecs: np.ndarray, x: np.ndarray, offset: int, own_col: np.ndarray, device: torch.device
) -> None:
    """Exact top-k of ``x`` (slab columns from ``offset``) by faiss, the queries themselves dropped."""
    import faiss

    kk = min(acc.k + 1, len(x))  # one more: a query may find itself
    q, xb = np.ascontiguousarray(q_vecs), np.ascontiguousarray(x)
    if device.type == "cuda" and _faiss_gpus() > 0:
        if not _GPU_RESOURCES:  # one set of GPU buffers per process, not per call
            _GPU_RESOURCES.append(faiss.StandardGpuResources())
        dist, ids = faiss.knn_gpu(_GPU_RESOURCES[0], q, xb, kk, metric=faiss.METRIC_INNER_PRODUCT)
    else:
        dist, ids = faiss.knn(q, xb, kk, metric=faiss.METRIC_INNER_PRODUCT)
    ids = np.where(ids >= 0, ids + offset, -1)
    ids[ids == own_col[:, None]] = -1
    acc.push_candidates(torch.from_numpy(dist).to(device), torch.from_numpy(ids).to(device))


def _rescore(
    q: torch.Tensor, db_vecs: np.ndarray, idx: torch.Tensor, k: int, rows_per_step: int = 16
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact fp32 similarities of the bf16 shortlist, and its best ``k``."""
    out_vals = torch.empty((len(q), k), device=q.device)
    out_idx = torch.empty((len(q), k), dtype=torch.int64, device=q.device)
    for r0 in range(0, len(q), rows_per_step):
        cand = idx[r0 : r0 + rows_per_step]
        vecs = torch.from_numpy(db_vecs[cand.clamp(min=0).cpu().numpy()]).to(q.device)  # (b, keep, d)
        exact = torch.bmm(vecs, q[r0 : r0 + rows_per_step, :, None])[..., 0]
        exact.masked_fill_(cand < 0, -torch.inf)
        best, pos = torch.topk(exact, k, dim=1, sorted=False)
        out_vals[r0 : r0 + rows_per_step], out_idx[r0 : r0 + rows_per_step] = best, torch.gather(cand, 1, pos)
    out_idx.masked_fill_(torch.isinf(out_vals), -1)
    return out_vals, out_idx


def _finish(vals: torch.Tensor, idx: torch.Tensor, db_start: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort rows by (decreasing similarity, increasing position); map to sorted positions; NaN for none."""
    order = torch.sort(vals, dim=1, descending=True).indices
    v = torch.gather(vals, 1, order).cpu().numpy().astype(np.float32)
    i = torch.gather(idx, 1, order).cpu().numpy()
    # Equal similarities are rare (duplicate images); order those rows by position too, so the result does
    # not depend on how the work was tiled.
    tied = np.flatnonzero(((v[:, 1:] == v[:, :-1]) & np.isfinite(v[:, 1:])).any(axis=1))
    if tied.size:
        sub = np.lexsort((i[tied], -v[tied]), axis=1)
        v[tied], i[tied] = np.take_along_axis(v[tied], sub, 1), np.take_along_axis(i[tied], sub, 1)
    none = np.isinf(v)
    v[none] = np.nan
    return np.where(none, -1, i + db_start).astype(np.int64), v
