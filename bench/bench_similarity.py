"""Benchmark of the windowed similarity array against faiss IndexFlatIP on the same data, in the same run.

Figures:

- the exact default path (``build_similarity``, torch fp32, k = 999, window 0.5 mag) over all rows, with its
  output files: GFLOP/s (2 x dim per scored pair) and queries/s;
- the backends (torch fp32, faiss, torch bf16 + fp32 re-score) on the same middle slice of rows, with the top-k
  overlap of each against the exact result;
- the baseline: faiss ``IndexFlatIP`` (exact, unwindowed) searching k = 1000 for a sample of queries against all
  rows: GFLOP/s (2 x dim x queries x rows) and queries/s.

GFLOP/s compares the arithmetic rate; queries/s differ in work as well, because the windowed array scores only
the pairs of a magnitude slab (about 1/6 of the rows here) while IndexFlatIP scores every row.

The data are clustered synthetic unit vectors (2,000 clusters) with r magnitudes correlated with the cluster.
The machine is shared (2 cores) and has no bf16 hardware (no AVX512_BF16, no AMX): timings are noisy, and the
bf16 path is expected to be slower than fp32 here.

Run: ``.venv/bin/python bench/bench_similarity.py`` (a few minutes for 100k x 2048); writes
``bench/results/similarity.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import torch

from lensdb.vectordb.config import SimilarityConfig
from lensdb.vectordb.similarity.builder import build_similarity, compute_rows, gather_rows, prepare_inputs
from lensdb.vectordb.similarity.kernels import resolve_backend

RESULTS = Path(__file__).parent / "results"


def make_data(n: int, dim: int, seed: int = 0, clusters: int = 2000):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    label = rng.integers(0, clusters, n)
    v = centres[label] + (0.75 / np.sqrt(dim)) * rng.standard_normal((n, dim)).astype(np.float32)
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    mags = (rng.uniform(16.5, 22.5, clusters)[label] + rng.normal(0, 0.4, n)).astype(np.float32)
    return (9010 << 40) + np.arange(n, dtype=np.int64), v, mags


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean fraction of each row's (valid) neighbour ids that both results share."""
    fr = []
    for x, y in zip(a, b, strict=True):
        x, y = x[x >= 0], y[y >= 0]
        fr.append(len(np.intersect1d(x, y)) / max(1, len(y)))
    return float(np.mean(fr))


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":")[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return sorted(
        f
        for f in flags
        if f.startswith(("avx512", "amx"))
        and f in ("avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--k", type=int, default=999)
    parser.add_argument("--slice", type=int, default=5000, help="rows in the backend comparison slice")
    parser.add_argument("--faiss-queries", type=int, default=2000)
    parser.add_argument("--out", default=str(RESULTS / "similarity.json"))
    args = parser.parse_args()
    ids, v, mags = make_data(args.n, args.dim)
    res: dict = {
        "machine": {
            "platform": platform.platform(),
            "torch_threads": torch.get_num_threads(),
            "faiss_threads": faiss.omp_get_max_threads(),
            "cpu_flags": cpu_flags(),
            "faiss": faiss.__version__ + " " + faiss.get_compile_options(),
            "note": "shared 2-core machine: noisy timings",
        },
        "n": args.n,
        "dim": args.dim,
        "k": args.k,
        "window": 0.5,
    }

    # Baseline: faiss IndexFlatIP, exact, every row, k = 1000 (the released code's k including the object).
    index = faiss.IndexFlatIP(args.dim)
    index.add(v)
    q_rows = np.random.default_rng(1).choice(args.n, args.faiss_queries, replace=False)
    t = time.perf_counter()
    index.search(v[q_rows], args.k + 1)
    ft = time.perf_counter() - t
    res["faiss_indexflatip"] = {
        "queries": len(q_rows),
        "seconds": ft,
        "queries_per_s": len(q_rows) / ft,
        "gflops": 2 * args.dim * len(q_rows) * args.n / ft / 1e9,
    }
    del index
    print(
        f"faiss IndexFlatIP: {res['faiss_indexflatip']['gflops']:.1f} GFLOP/s, "
        f"{res['faiss_indexflatip']['queries_per_s']:.0f} queries/s"
    )
    base = res["faiss_indexflatip"]

    # Backends on one slice of rows in the middle of the magnitude range (same rows for each).
    inp = prepare_inputs(ids, v, mags)
    mid = args.n // 2
    start, stop = mid - args.slice // 2, mid + args.slice // 2
    vecs = gather_rows(inp, 0, args.n)
    exact = None
    res["backends"] = {}
    for name in ("torch", "faiss", "torch-bf16"):
        cfg = SimilarityConfig(k=args.k, backend=name)
        backend, device = resolve_backend(name)
        t = time.perf_counter()
        nbr, sims, pairs = compute_rows(inp, start, stop, args.k, 0.5, cfg, backend, device, vecs)
        dt = time.perf_counter() - t
        exact = nbr if exact is None else exact
        row = {
            "rows": stop - start,
            "seconds": dt,
            "queries_per_s": (stop - start) / dt,
            "gflops": 2 * args.dim * pairs / dt / 1e9,
            "pairs": pairs,
            "topk_overlap_vs_exact": overlap(nbr, exact),
        }
        row["gflops_ratio_vs_faiss"] = row["gflops"] / base["gflops"]
        row["queries_ratio_vs_faiss"] = row["queries_per_s"] / base["queries_per_s"]
        res["backends"][name] = row
        print(
            f"{name:10s}: {row['gflops']:.1f} GFLOP/s ({row['gflops_ratio_vs_faiss']:.2f}x faiss), "
            f"{row['queries_per_s']:.0f} queries/s ({row['queries_ratio_vs_faiss']:.2f}x faiss), "
            f"overlap vs exact {row['topk_overlap_vs_exact']:.5f}"
        )
    del vecs

    # The full exact build with its chunk files, as `lensdb similarity build` runs it.
    out = Path(tempfile.mkdtemp(prefix="bench-similarity-"))
    try:
        report = build_similarity(ids, v, mags, out, config=SimilarityConfig(k=args.k, backend="torch"))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    full = {
        "rows": args.n,
        "seconds": report.seconds,
        "queries_per_s": args.n / report.seconds,
        "gflops": report.gflops,
        "pairs": report.pairs,
        "mean_slab_rows": report.pairs / args.n,
    }
    full["gflops_ratio_vs_faiss"] = full["gflops"] / base["gflops"]
    full["queries_ratio_vs_faiss"] = full["queries_per_s"] / base["queries_per_s"]
    res["full_build_exact"] = full
    print(
        f"full exact build: {full['seconds']:.1f} s, {full['gflops']:.1f} GFLOP/s "
        f"({full['gflops_ratio_vs_faiss']:.2f}x faiss), {full['queries_per_s']:.0f} queries/s "
        f"({full['queries_ratio_vs_faiss']:.2f}x faiss); mean slab {full['mean_slab_rows']:.0f} rows"
    )
    bf = res["backends"]["torch-bf16"]
    res["targets"] = {
        "exact_gflops_ratio>=0.8": full["gflops_ratio_vs_faiss"] >= 0.8,
        "bf16_gflops_ratio>=1.5": bf["gflops_ratio_vs_faiss"] >= 1.5,
        "bf16_overlap>=0.999": bf["topk_overlap_vs_exact"] >= 0.999,
    }
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=2))
    print(f"targets: {res['targets']}; wrote {path}")


if __name__ == "__main__":
    main()
