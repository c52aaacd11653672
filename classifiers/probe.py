"""The linear probe: logistic regression on stored representations, BCE loss, full-batch LBFGS in torch.

The paper (Section 3.3.3) trains ``y = sigmoid(w . z + b)`` on the 2048-d representations with LBFGS over the
whole training set at once, 4.5 million rows at 1:4000, and keeps the epoch with the most true positives in the
top N of the validation set. Here:

- Features live in a :class:`FeatureMatrix`: float32 when they fit the memory budget, float16 (half the memory)
  otherwise, and a float16 file on disk streamed block by block when even that does not fit. Compute is always
  float32, one block of rows at a time, accumulated in float64.
- One pass over the rows gives the loss and its gradient together: each block is multiplied twice
  (``z = X_b w`` then ``X_b^T (sigmoid(z) - y)``), matrix-vector products that are bound by memory bandwidth.
- An epoch is one LBFGS step of up to ``max_iter`` iterations with a strong-Wolfe line search; after each, the
  validation set is scored and the best epoch by TP@N is kept.

The objective is ``mean_i BCE(w . x_i + b, y_i) + l2 / 2 * |w|^2`` (bias not penalised). scikit-learn's
``LogisticRegression(C=C)`` minimises ``C * sum_i BCE + |w|^2 / 2``, the same optimum for ``l2 = 1 / (C * n)``.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lensdb.classifiers.metrics import top_n_report
from lensdb.core.errors import InvalidInput

log = logging.getLogger(__name__)
#: Bytes of one compute block: small enough (with the float16 -> float32 copy) to stay in a core's share of
#: the cache between the two products of a block, so each pass reads the features from memory once.
BLOCK_BYTES = 4 << 20


def block_rows_for(dim: int) -> int:
    """Rows per compute block for ``dim``-wide float32 rows (512 for 2048-d)."""
    return max(64, BLOCK_BYTES // (4 * dim))


class FeatureMatrix:
    """(n, dim) features for the probe, stored compactly, read as float32 blocks.

    Args:
        n, dim: shape.
        dtype: ``float32`` or ``float16`` storage.
        path: when given, the rows live in this file (a numpy memmap) instead of memory.
    """

    def __init__(self, n: int, dim: int, dtype: str = "float32", path: str | Path | None = None):
        if dtype not in ("float32", "float16"):
            raise InvalidInput(f"feature storage must be float32 or float16; got {dtype!r}")
        self.n, self.dim, self.dtype = int(n), int(dim), dtype
        self.path = Path(path) if path is not None else None
        self.temporary = False  # set by temporary_matrix: the file is deleted on close
        if self.path is not None:
            self._rows = np.lib.format.open_memmap(self.path, mode="w+", dtype=dtype, shape=(self.n, self.dim))
        else:
            self._rows = torch.empty((self.n, self.dim), dtype=getattr(torch, dtype))

    @classmethod
    def from_array(cls, array, dtype: str | None = None) -> FeatureMatrix:
        """Wrap (float32, shares memory) or convert (float16) an (n, dim) array."""
        arr = np.asarray(array)
        if arr.ndim != 2:
            raise InvalidInput(f"features must be 2-d (n, dim); got shape {arr.shape}")
        dtype = dtype or ("float16" if arr.dtype == np.float16 else "float32")
        if dtype == "float32" and arr.dtype == np.float32 and arr.flags.c_contiguous:
            out = cls.__new__(cls)
            out.n, out.dim, out.dtype, out.path, out.temporary = arr.shape[0], arr.shape[1], dtype, None, False
            out._rows = torch.from_numpy(arr)
            return out
        out = cls(arr.shape[0], arr.shape[1], dtype)
        for s in range(0, out.n, 65536):
            out.write(s, arr[s:s + 65536])
        return out

    def head(self, n: int) -> FeatureMatrix:
        """A view of the first ``n`` rows (no copy): the nested training sets are prefixes of the largest."""
        out = FeatureMatrix.__new__(FeatureMatrix)
        out.n, out.dim, out.dtype, out.path, out.temporary = min(int(n), self.n), self.dim, self.dtype, self.path, False
        out._rows = self._rows[: out.n]
        return out

    @property
    def nbytes(self) -> int:
        return self.n * self.dim * (4 if self.dtype == "float32" else 2)

    def write(self, start: int, rows) -> None:
        """Store ``rows`` (k, dim) at positions ``start .. start + k``."""
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise InvalidInput(f"feature rows must be (k, {self.dim}); got {rows.shape}")
        if self.path is not None:
            self._rows[start:start + len(rows)] = rows
        else:
            self._rows[start:start + len(rows)].copy_(torch.from_numpy(np.ascontiguousarray(rows)))

    def blocks(self, block_rows: int | None = None, start: int = 0,
               stop: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(row, float32 tensor (b, dim))`` over rows ``start .. stop``; the tensor may be a reused
        buffer, valid until the next one (each caller, and each thread, gets its own buffer)."""
        block_rows = block_rows or block_rows_for(self.dim)
        stop = self.n if stop is None else min(stop, self.n)
        direct = self.path is None and self.dtype == "float32"
        buf = None if direct else torch.empty((min(block_rows, max(1, stop - start)), self.dim), dtype=torch.float32)
        for s in range(start, stop, block_rows):
            e = min(stop, s + block_rows)
            if direct:
                yield s, self._rows[s:e]
                continue
            src = self._rows[s:e] if self.path is None else torch.from_numpy(np.asarray(self._rows[s:e]))
            view = buf[: e - s]
            view.copy_(src)  # float16 -> float32 in one vectorised copy
            yield s, view

    def close(self) -> None:
        """Drop the rows (a temporary file is deleted); the object is unusable afterwards."""
        if self.path is not None and self._rows is not None:
            self._rows.flush()
        self._rows = None
        if self.path is not None and self.temporary:
            self.path.unlink(missing_ok=True)


def choose_storage(n: int, dim: int, memory_gb: float, dtype: str = "auto") -> tuple[str, bool]:
    """(dtype, on_disk) for ``n x dim`` features under a budget of ``memory_gb`` GiB.

    ``auto``: float32 in memory when it fits (fastest: no conversion), else float16 in memory, else float16 on
    disk, streamed every pass.
    """
    budget = memory_gb * 2**30
    if dtype == "auto":
        if n * dim * 4 <= budget:
            return "float32", False
        dtype = "float16"
    size = n * dim * (4 if dtype == "float32" else 2)
    return dtype, size > budget


#: Up to this many threads the pass splits rows between Python threads; beyond, BLAS threads do (see below).
FUSED_MAX_THREADS = 4
#: Rows per block when BLAS threads split each product (64 MiB of float32 at 2048-d).
BLAS_BLOCK_ROWS = 8192


def _in_threads(n: int, threads: int | None, work: Callable[[int, int, int | None], object],
                block_rows: int | None) -> list:
    """Run ``work(start, stop, block_rows)`` over row ranges; results in range order.

    Two regimes, both measured (bench/bench_probe.py): with few threads, contiguous row ranges go to Python
    threads that run single-threaded products on cache-sized blocks (torch releases the GIL); this avoids one
    BLAS thread hand-off per small product, which made 2-thread runs on a busy shared machine several times
    slower. With many threads the per-block Python work serialises on the GIL (16 threads ran 2.5x slower than
    OpenBLAS), so one range runs large blocks and BLAS splits each product between its threads.
    """
    threads = threads or torch.get_num_threads()
    if threads > FUSED_MAX_THREADS:
        return [work(0, n, block_rows or BLAS_BLOCK_ROWS)]
    threads = max(1, min(threads, n // 4096 or 1))
    if threads == 1:
        return [work(0, n, block_rows)]
    step = -(-n // threads)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda i: work(i * step, min(n, (i + 1) * step), block_rows), range(threads)))
    finally:
        torch.set_num_threads(before)


def logistic_loss_grad(x: FeatureMatrix, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor, l2: float = 0.0,
                       block_rows: int | None = None, threads: int | None = None,
                       sample_weight: torch.Tensor | None = None) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Mean BCE-with-logits loss (+ L2 on ``w``) and its gradient, in one pass over the rows.

    Args:
        x: (n, dim) features. y: (n,) float32 labels 0/1. w: (dim,) float32. b: () float32.
        block_rows: rows per block (default: cache-sized). threads: parallel row ranges (default: torch's).
        sample_weight: (n,) float32 weights of the rows (class balance, certainty of a grade; 0 leaves a row
            out); the loss is then ``sum_i s_i BCE_i / n``. None = every row weighs 1.

    Returns:
        (loss, grad_w (dim,) float32, grad_b () float32).
    """
    wd, bd = w.detach(), b.detach()

    def work(lo: int, hi: int, block_rows: int | None):
        total = torch.zeros((), dtype=torch.float64)
        gw = torch.zeros(x.dim, dtype=torch.float64)
        gb = torch.zeros((), dtype=torch.float64)
        for s, xb in x.blocks(block_rows, lo, hi):
            z = torch.mv(xb, wd) + bd
            yb = y[s:s + len(z)]
            # softplus(z) - y z is BCE with logits, stable for any z.
            per_row = torch.nn.functional.softplus(z) - yb * z
            r = torch.sigmoid(z) - yb
            if sample_weight is not None:
                sw = sample_weight[s:s + len(z)]
                per_row, r = per_row * sw, r * sw
            total += per_row.sum(dtype=torch.float64)
            gw += torch.mv(xb.T, r)  # while xb is still in cache
            gb += r.sum(dtype=torch.float64)
        return total, gw, gb

    parts = _in_threads(x.n, threads, work, block_rows)
    n = max(1, x.n)
    w64 = wd.double()
    total = sum(p[0] for p in parts)
    gw = sum(p[1] for p in parts)
    gb = sum(p[2] for p in parts)
    loss = total / n + 0.5 * l2 * (w64 @ w64)
    return float(loss), (gw / n + l2 * w64).float(), (gb / n).float()


@torch.no_grad()
def predict_logits(x: FeatureMatrix, w, b: float, block_rows: int | None = None,
                   threads: int | None = None) -> np.ndarray:
    """(n,) float32 logits ``x w + b``."""
    wt = torch.as_tensor(np.asarray(w, np.float32))
    if wt.shape != (x.dim,):
        raise InvalidInput(f"probe has {wt.numel()} weights but the features have {x.dim} dimensions")
    out = np.empty(x.n, np.float32)

    def work(lo: int, hi: int, block_rows: int | None) -> None:
        for s, xb in x.blocks(block_rows, lo, hi):
            out[s:s + len(xb)] = torch.mv(xb, wt).numpy() + np.float32(b)

    _in_threads(x.n, threads, work, block_rows)
    return out


@dataclass(frozen=True)
class LbfgsOptions:
    """Optimiser settings. ``patience``: stop after this many epochs without a better TP@N (None = never);
    ``precondition``: scale the parameters so the starting curvature is about 1 (see :func:`fit_probe`)."""

    epochs: int = 20
    max_iter: int = 20
    history_size: int = 10
    lr: float = 1.0
    l2: float = 0.0
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-10
    block_rows: int | None = None
    threads: int | None = None
    patience: int | None = None
    precondition: bool = True


@dataclass
class ProbeFit:
    """A trained probe.

    Attributes:
        weights: (dim,) float32. bias: float. best_epoch: the epoch kept (1-based).
        history: one dict per epoch: loss, val_tp, val_precision, evaluations, seconds.
        val_logits: (n_val,) float32 validation logits of the kept epoch.
        top_n: N of the model selection.
    """

    weights: np.ndarray
    bias: float
    best_epoch: int
    top_n: int
    history: list[dict] = field(default_factory=list)
    val_logits: np.ndarray | None = None

    @property
    def seconds(self) -> float:
        return float(sum(h["seconds"] for h in self.history))


def fit_probe(x: FeatureMatrix, y, x_val: FeatureMatrix, y_val, top_n: int, opts: LbfgsOptions = LbfgsOptions(),
              on_epoch: Callable[[dict], None] | None = None) -> ProbeFit:
    """Train by full-batch LBFGS, keeping the epoch with the most lenses in the top ``top_n`` of validation.

    Ties in TP@N go to the later epoch (lower training loss). Stops early when LBFGS has converged or after
    ``opts.patience`` epochs without improvement.

    Args:
        x, y: training features (n, dim) and 0/1 labels (n,).
        x_val, y_val: validation features and labels.
        top_n: N of TP@N.
        on_epoch: called with each epoch's history entry (progress bars, logs).
    """
    yt = torch.as_tensor(np.asarray(y, np.float32))
    if yt.shape != (x.n,) or x_val.dim != x.dim:
        raise InvalidInput(f"training labels {tuple(yt.shape)} or validation dim {x_val.dim} do not fit the "
                           f"features ({x.n}, {x.dim})")
    n_pos = float(yt.sum())
    if n_pos == 0 or n_pos == x.n:
        raise InvalidInput("the training set needs both lenses and non-lenses")
    prior = n_pos / x.n
    # LBFGS optimises scaled parameters u = w / s_w, v = b / s_b. At the start the loss curvature is about
    # prior (1 - prior) / dim along w (unit rows) and prior (1 - prior) along b: tiny under heavy imbalance, so
    # LBFGS's first step (at most 1 / |gradient|_1) is orders of magnitude short and its line search spends
    # many passes over the features extrapolating. The scales make the starting curvature about 1.
    s_w = math.sqrt(x.dim / (prior * (1 - prior))) if opts.precondition else 1.0
    s_b = math.sqrt(1 / (prior * (1 - prior))) if opts.precondition else 1.0
    u = torch.zeros(x.dim, dtype=torch.float32, requires_grad=True)
    # Start at the prior's log-odds: at 1:10,000 that alone is most of the first epochs' work.
    v = torch.full((), math.log(n_pos / (x.n - n_pos)) / s_b, dtype=torch.float32, requires_grad=True)

    def params() -> tuple[torch.Tensor, torch.Tensor]:
        return u.detach() * s_w, v.detach() * s_b
    # torch caps evaluations per step at 1.25 x max_iter by default; a strong-Wolfe search may need more, and
    # a step cut by that cap would look like convergence below.
    max_eval = 3 * opts.max_iter + 5
    opt = torch.optim.LBFGS([u, v], lr=opts.lr, max_iter=opts.max_iter, max_eval=max_eval,
                            history_size=opts.history_size,
                            tolerance_grad=opts.tolerance_grad, tolerance_change=opts.tolerance_change,
                            line_search_fn="strong_wolfe")
    calls = [0, 0.0]
    last: dict = {}

    def closure():
        # Each LBFGS step (epoch) starts by evaluating the point where the previous one ended, which the line
        # search has usually just evaluated: reuse it rather than pay another pass over the features.
        if last and torch.equal(last["u"], u.detach()) and torch.equal(last["v"], v.detach()):
            u.grad, v.grad = last["gu"].clone(), last["gv"].clone()
            return torch.tensor(last["loss"], dtype=torch.float32)
        with torch.no_grad():
            w, b = params()
            loss, gw, gb = logistic_loss_grad(x, yt, w, b, opts.l2, opts.block_rows, opts.threads)
        u.grad, v.grad = gw * s_w, (gb * s_b).reshape(())  # chain rule through w = s_w u, b = s_b v
        last.update(u=u.detach().clone(), v=v.detach().clone(), gu=u.grad.clone(), gv=v.grad.clone(), loss=loss)
        calls[0] += 1
        calls[1] = loss
        return torch.tensor(loss, dtype=torch.float32)

    best: ProbeFit | None = None
    history: list[dict] = []
    stale = 0
    for epoch in range(1, opts.epochs + 1):
        t0, before = time.perf_counter(), calls[0]
        iters_before = opt.state[u].get("n_iter", 0)
        opt.step(closure)
        evaluations = calls[0] - before
        iterations = opt.state[u].get("n_iter", 0) - iters_before
        w, b = params()
        val = predict_logits(x_val, w.numpy(), float(b), opts.block_rows, opts.threads)
        rep = top_n_report(val, y_val, top_n)
        entry = {"epoch": epoch, "loss": calls[1], "val_tp": rep.tp, "val_precision": rep.precision,
                 "iterations": iterations, "evaluations": evaluations, "seconds": time.perf_counter() - t0}
        history.append(entry)
        if on_epoch:
            on_epoch(entry)
        if best is None or rep.tp >= best.history[-1]["val_tp"]:
            stale = 0 if best is None or rep.tp > best.history[-1]["val_tp"] else stale + 1
            best = ProbeFit(w.numpy().copy(), float(b), epoch, top_n, [entry], val)
        else:
            stale += 1
        if iterations < opts.max_iter and evaluations < max_eval - 1:
            # LBFGS stopped on its tolerances, not on its budget: further epochs would not move.
            log.info("LBFGS converged at epoch %d", epoch)
            break
        if opts.patience is not None and stale >= opts.patience:
            log.info("no better TP@%d for %d epochs; stopping at epoch %d", top_n, stale, epoch)
            break
    assert best is not None
    best.history = history
    return best


def temporary_matrix(n: int, dim: int, memory_gb: float, dtype: str = "auto",
                     folder: str | Path | None = None) -> FeatureMatrix:
    """A :class:`FeatureMatrix` sized by :func:`choose_storage`; on disk it lives in ``folder`` (or the temp dir)."""
    dtype, on_disk = choose_storage(n, dim, memory_gb, dtype)
    if not on_disk:
        return FeatureMatrix(n, dim, dtype)
    folder = Path(folder or tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkstemp(prefix="probe-features-", suffix=".npy", dir=folder)[1])
    log.info("features (%d x %d, %s, %.1f GiB) streamed from %s", n, dim, dtype, n * dim * 2 / 2**30, path)
    matrix = FeatureMatrix(n, dim, dtype, path)
    matrix.temporary = True
    return matrix
