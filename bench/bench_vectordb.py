"""Benchmark of the vector store on Milvus Lite and on the real Milvus server: insert rate, kNN latency, recall.

Every figure comes with a baseline measured in the same run on the same data:

- insert rows/s of ``VectorStore.insert`` (validation, partitioning, batching) vs the raw pymilvus client
  inserting the same rows into a plain collection (the ceiling of the engine);
- kNN p50/p99 latency and QPS for k = 10 and 1000, with and without filters, vs a direct ``client.search`` with
  the same expression, partitions and parameters, and vs numpy brute force over the in-memory matrix;
- recall@k of the kNN against exact brute force, per index type (HNSW, IVF_FLAT, FLAT) and filter selectivity.

The data are synthetic "embeddings": unit vectors scattered around 2,000 cluster centres (cosine ~0.8 inside a
cluster), with r magnitudes correlated with the cluster, because real galaxy embeddings are clustered and pure
Gaussian noise would be an unfair test of approximate indexes. The machine is shared (2 cores): timings are noisy.

Engines (``--engines``): ``lite`` (a Milvus Lite file, the embedded default) and ``milvus`` (the real Milvus 2.3.5
standalone server from PyPI's ``milvus`` package, started here on free loopback ports by the tests' helper
``tests/milvus_server.py``). Each engine gets the same data, queries and baselines in the same run, and the JSON
holds one block per engine plus the server/Lite ratios.

Run: ``.venv/bin/python bench/bench_vectordb.py`` (Lite only, every index type, about 10-15 minutes for
100k x 2048; writes ``bench/results/vectordb.json``), or ``--engines lite,milvus --recall-indexes HNSW --n 20000
--out bench/results/vectordb_engines.json`` for the side-by-side figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from lensdb.core.config import load_settings
from lensdb.core.filters import MagRange, MagWindow, ObjectFilter
from lensdb.vectordb import schema
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.filters import expression
from lensdb.vectordb.partitions import partitions_for
from lensdb.vectordb.store import VectorStore

RESULTS = Path(__file__).parent / "results"


def make_data(n: int, dim: int, seed: int = 0, clusters: int = 2000) -> dict:
    """Clustered unit vectors with catalogue columns (see the module docstring)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    label = rng.integers(0, clusters, n)
    raw = centres[label] + (0.75 / np.sqrt(dim)) * rng.standard_normal((n, dim)).astype(np.float32)
    norm = np.linalg.norm(raw, axis=1)
    cluster_mag = rng.uniform(16.5, 22.5, clusters)
    return {
        "object_id": (9010 << 40) + np.arange(n, dtype=np.int64),
        "vector": (raw / norm[:, None]).astype(np.float32),
        "norm": norm.astype(np.float32),
        "survey": np.where(rng.random(n) < 0.8, "south", "north"),
        "mag_g": (cluster_mag[label] + 0.8 + rng.normal(0, 0.3, n)).astype(np.float32),
        "mag_r": (cluster_mag[label] + rng.normal(0, 0.4, n)).astype(np.float32),
        "mag_z": (cluster_mag[label] - 0.6 + rng.normal(0, 0.3, n)).astype(np.float32),
        "ra": rng.uniform(0, 360, n),
        "dec": np.degrees(np.arcsin(rng.uniform(-0.3, 0.5, n))),
        "source_type": rng.choice(["DEV", "EXP", "REX", "SER", "PSF"], n, p=[0.2, 0.3, 0.3, 0.1, 0.1]),
        "shard": np.array(["images_npix152_000000000_001000000.h5"] * n),
        "shard_row": np.arange(n, dtype=np.int64),
    }


def timed(fns: dict, args: list) -> dict:
    """p50/p99 latency (ms) and QPS of each named ``fn(arg)``. The functions take turns on each argument, so a
    change of load on the shared machine hits them all alike."""
    lat: dict[str, list[float]] = {name: [] for name in fns}
    for arg in args:
        for name, fn in fns.items():
            t = time.perf_counter()
            fn(arg)
            lat[name].append(time.perf_counter() - t)
    out = {}
    for name, values in lat.items():
        v = np.array(values)
        out[name] = {
            "p50_ms": float(np.percentile(v, 50) * 1e3),
            "p99_ms": float(np.percentile(v, 99) * 1e3),
            "qps": float(len(v) / v.sum()),
            "n": len(v),
        }
    return out


def bench_insert(settings, data: dict, n_raw: int, dim: int, rounds: int = 5) -> dict:
    from pymilvus import MilvusClient

    cfg = VectorDBConfig(dim=dim)
    # Ceiling: the raw client inserting prebuilt row dicts into a collection with the same schema and the same
    # HNSW index (no validation, no partitions), in batches of the size the store uses. The first n_raw rows go
    # in alternating slices (raw, store, raw, store, ...) so that both see the same load on a shared machine.
    rows_per_batch = max(1, min(cfg.max_batch_rows, cfg.max_message_bytes // (dim * 4 + 416)))
    client = MilvusClient(uri=settings.milvus_uri)
    client.create_collection(
        "raw_ceiling", schema=schema.build_schema(dim, "raw"), index_params=schema.index_params(client, cfg)
    )
    rows = [{k: (v[i] if k == "vector" else v[i].item()) for k, v in data.items()} for i in range(n_raw)]
    store = VectorStore.open(settings, "bench-enc", dim=dim, create=True, config=cfg, load=False)
    raw_s = store_s = 0.0
    edges = np.linspace(0, n_raw, rounds + 1).astype(int)
    for r0, r1 in zip(edges, edges[1:], strict=False):
        t = time.perf_counter()
        for start in range(r0, r1, rows_per_batch):
            client.insert("raw_ceiling", rows[start : min(start + rows_per_batch, r1)])
        raw_s += time.perf_counter() - t
        t = time.perf_counter()
        store.insert({k: v[r0:r1] for k, v in data.items()})
        store_s += time.perf_counter() - t
    client.drop_collection("raw_ceiling")
    client.close()
    del rows
    t = time.perf_counter()
    if n_raw < len(data["object_id"]):
        store.insert({k: v[n_raw:] for k, v in data.items()})
    total_s = store_s + time.perf_counter() - t
    raw_rate, rate_first = n_raw / raw_s, n_raw / store_s
    rate = len(data["object_id"]) / total_s
    t = time.perf_counter()
    store.flush(wait=True)  # seal the segments and wait for their HNSW indexes, as a bulk load should
    store.load()
    load_s = time.perf_counter() - t
    print(
        f"insert: store {rate_first:,.0f} rows/s vs raw client {raw_rate:,.0f} rows/s on the same {n_raw} rows "
        f"(ratio {rate_first / raw_rate:.2f}); all {len(data['object_id'])} rows at {rate:,.0f} rows/s; "
        f"flush + index build + load {load_s:.1f} s"
    )
    return {
        "store": store,
        "insert": {
            "store_rows_per_s_same_rows": rate_first,
            "raw_client_rows_per_s": raw_rate,
            "ratio": rate_first / raw_rate,
            "rows_compared": n_raw,
            "store_rows_per_s_all": rate,
            "store_rows": len(data["object_id"]),
            "flush_index_load_s": load_s,
        },
    }


def brute(data, q, k, keep):
    sims = data["vector"] @ q
    idx = np.flatnonzero(keep) if keep is not None else None
    s = sims if idx is None else sims[idx]
    kk = min(k, len(s))
    top = np.argpartition(-s, kk - 1)[:kk]
    top = top[np.argsort(-s[top])]
    return (top if idx is None else idx[top]), s[top]


def filters_for(data, qi):
    """Named filters of increasing selectivity around query row qi, with their numpy masks."""
    m = data["mag_r"].astype(np.float64)
    qm = float(m[qi])
    return {
        "none": (ObjectFilter(), None),
        "survey": (ObjectFilter(surveys=("north",)), data["survey"] == "north"),
        "window0.5": (ObjectFilter(window=MagWindow(0.5)), np.abs(m - qm) < 0.5),
        "window+survey+type": (
            ObjectFilter(surveys=("north",), window=MagWindow(0.5), source_types=("DEV",)),
            (np.abs(m - qm) < 0.5) & (data["survey"] == "north") & (data["source_type"] == "DEV"),
        ),
        "narrow_mag_g": (
            ObjectFilter(mag_ranges=(MagRange("g", qm + 0.8, qm + 0.83),)),
            (data["mag_g"] >= qm + 0.8) & (data["mag_g"] < qm + 0.83),
        ),
    }


def bench_latency(store, data, queries: np.ndarray) -> dict:
    out = {}
    for k in (10, 1000):
        for fname in ("none", "window0.5"):

            def lensdb(qi, k=k, fname=fname):
                flt, _ = filters_for(data, qi)[fname]
                flt = ObjectFilter(window=MagWindow(0.5, centre=float(data["mag_r"][qi]))) if fname != "none" else flt
                return store.knn(data["vector"][qi], k=k, filters=flt, output_fields=("ra", "dec", "mag_r"))

            def by_id(qi, k=k, fname=fname):
                flt, _ = filters_for(data, qi)[fname]
                return store.knn(int(data["object_id"][qi]), k=k, filters=flt, output_fields=("ra", "dec", "mag_r"))

            def raw(qi, k=k, fname=fname):
                qm = float(data["mag_r"][qi])
                flt = ObjectFilter(window=MagWindow(0.5, centre=qm)) if fname != "none" else ObjectFilter()
                parts = partitions_for(store.bins, None, qm - 0.5, qm + 0.5) if fname != "none" else None
                return store.client.search(
                    store.name,
                    data=[data["vector"][qi]],
                    limit=k,
                    filter=expression(flt, qm),
                    partition_names=parts,
                    output_fields=["ra", "dec", "mag_r"],
                    search_params=schema.search_params("HNSW", store.config, k),
                )

            def numpy_bf(qi, k=k, fname=fname):
                keep = filters_for(data, qi)[fname][1]
                return brute(data, data["vector"][qi], k, keep)

            fns = {"lensdb_vector": lensdb, "lensdb_by_id": by_id, "pymilvus_direct": raw, "numpy_bruteforce": numpy_bf}
            row = timed(fns, list(queries))
            row["ratio_qps_vs_pymilvus"] = row["lensdb_vector"]["qps"] / row["pymilvus_direct"]["qps"]
            row["ratio_qps_vs_numpy"] = row["lensdb_vector"]["qps"] / row["numpy_bruteforce"]["qps"]
            out[f"k{k}_{fname}"] = row
            print(
                f"k={k:5d} filter={fname:10s} p50/p99 ms: lensdb {row['lensdb_vector']['p50_ms']:.1f}/"
                f"{row['lensdb_vector']['p99_ms']:.1f}  by-id {row['lensdb_by_id']['p50_ms']:.1f}  pymilvus "
                f"{row['pymilvus_direct']['p50_ms']:.1f}/{row['pymilvus_direct']['p99_ms']:.1f}  numpy "
                f"{row['numpy_bruteforce']['p50_ms']:.1f}; QPS ratio vs pymilvus "
                f"{row['ratio_qps_vs_pymilvus']:.2f}, vs numpy {row['ratio_qps_vs_numpy']:.2f}"
            )
    return out


def bench_recall(store, data, queries: np.ndarray, ks=(10, 100), indexes=("HNSW", "IVF_FLAT", "FLAT")) -> dict:
    table = {}
    variants = [("HNSW", False), ("HNSW", True), ("IVF_FLAT", False), ("FLAT", False)]
    variants = [v for v in variants if v[0] in indexes]
    for index, sel_ef in variants:
        if store.index_type != index:
            t = time.perf_counter()
            store.set_index(index)
            print(f"index {index} built and loaded in {time.perf_counter() - t:.1f} s")
        store.config = dataclasses.replace(store.config, selectivity_ef=sel_ef)
        name = index if index != "HNSW" else ("HNSW, count first" if sel_ef else "HNSW, retry when short")
        for fname in filters_for(data, 0):
            for k in ks:
                recalls, lat, frac = [], [], []
                for qi in queries:
                    flt, keep = filters_for(data, qi)[fname]
                    keep = np.ones(len(data["mag_r"]), bool) if keep is None else keep.copy()
                    keep[qi] = False
                    frac.append(keep.mean())
                    ref, _ = brute(data, data["vector"][qi], k, keep)
                    t = time.perf_counter()
                    got = store.knn(int(data["object_id"][qi]), k=k, filters=flt, output_fields=())
                    lat.append(time.perf_counter() - t)
                    if len(ref):
                        hit = np.isin(data["object_id"][ref], got.ids).sum()
                        recalls.append(hit / len(ref))
                table.setdefault(name, {})[f"{fname}@{k}"] = {
                    "recall": float(np.mean(recalls)) if recalls else None,
                    "selectivity": float(np.mean(frac)),
                    "p50_ms": float(np.median(lat) * 1e3),
                }
                print(
                    f"recall {name:24s} {fname:20s} k={k:4d} sel={np.mean(frac):.4f} "
                    f"recall={np.mean(recalls) if recalls else float('nan'):.4f} p50={np.median(lat) * 1e3:.1f} ms"
                )
    return table


def plot(recall: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, k in zip(axes, (10, 100), strict=True):
        for name, cells in recall.items():
            pts = sorted(
                (c["selectivity"], c["recall"])
                for key, c in cells.items()
                if key.endswith(f"@{k}") and c["recall"] is not None
            )
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=name)
        ax.set_xscale("log")
        ax.set_xlabel("filter selectivity (fraction of rows passing)")
        ax.set_title(f"recall@{k} vs exact brute force")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("recall")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def run_engine(engine: str, work: Path, data: dict, args) -> dict:
    """Insert, latency and recall on one engine; returns its block of the JSON."""
    server = None
    if engine == "lite":
        uri, label = str(work / "milvus.db"), "Milvus Lite (file, in-process gRPC server)"
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from milvus_server import MilvusServer

        server = MilvusServer(work / "milvus-server", time_tick_ms=None).start()  # as shipped: 200 ms ticks
        uri, label = server.uri, "Milvus 2.3.5 standalone (PyPI milvus: segcore/knowhere, embedded etcd, local storage)"
    try:
        settings = load_settings(env={}, data_dir=str(work / engine), milvus_uri=uri)
        print(f"--- {engine}: {label}")
        ins = bench_insert(settings, data, min(args.raw_rows, args.n), args.dim)
        store = ins.pop("store")
        rng = np.random.default_rng(1)
        lat = bench_latency(store, data, rng.choice(args.n, args.queries, replace=False))
        recall = bench_recall(store, data, rng.choice(args.n, args.recall_queries, replace=False),
                              indexes=tuple(args.recall_indexes.split(",")))
        store.drop()
    finally:
        if server is not None:
            server.stop()
    return {"engine": label, **ins, "latency": lat, "recall": recall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--raw-rows", type=int, default=25_000, help="rows for the raw-client insert ceiling")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--recall-queries", type=int, default=30)
    parser.add_argument("--engines", default="lite", help="comma-separated: lite, milvus (the real server)")
    parser.add_argument("--recall-indexes", default="HNSW,IVF_FLAT,FLAT", help="index types of the recall table")
    parser.add_argument("--out", default=str(RESULTS / "vectordb.json"))
    args = parser.parse_args()
    engines = args.engines.split(",")
    if set(engines) - {"lite", "milvus"}:
        parser.error(f"--engines: unknown engine(s) {sorted(set(engines) - {'lite', 'milvus'})}; known: lite, milvus")
    work = Path(tempfile.mkdtemp(prefix="bench-vectordb-"))
    blocks = {}
    try:
        t = time.perf_counter()
        data = make_data(args.n, args.dim)
        print(f"data: {args.n} x {args.dim} in {time.perf_counter() - t:.1f} s")
        for engine in engines:
            blocks[engine] = run_engine(engine, work, data, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    machine = {"platform": platform.platform(), "cores": 2, "note": "shared machine; noisy timings"}
    if engines == ["lite"]:  # the original layout of vectordb.json
        result = {"machine": {**machine, "engine": blocks["lite"].pop("engine")}, "n": args.n, "dim": args.dim,
                  **blocks["lite"]}
        recall = result["recall"]
    else:
        result = {"machine": machine, "n": args.n, "dim": args.dim, "engines": blocks}
        if {"lite", "milvus"} <= set(blocks):
            lite, srv = blocks["lite"], blocks["milvus"]
            result["milvus_vs_lite"] = {
                "insert_rows_per_s": srv["insert"]["store_rows_per_s_all"] / lite["insert"]["store_rows_per_s_all"],
                **{f"qps_{cell}": srv["latency"][cell]["lensdb_vector"]["qps"]
                   / lite["latency"][cell]["lensdb_vector"]["qps"] for cell in srv["latency"]},
            }
            print("server / Lite:", {k: round(v, 2) for k, v in result["milvus_vs_lite"].items()})
        recall = next(iter(blocks.values()))["recall"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    plot(recall, out.with_suffix(".recall.png"))
    print(f"wrote {out} and {out.with_suffix('.recall.png')}")


if __name__ == "__main__":
    main()
