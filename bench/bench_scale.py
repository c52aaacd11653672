"""Survey scale on the real Milvus server (PyPI ``milvus`` 2.3.5 standalone, as shipped: 200 ms time tick).

Three measurements, each against a baseline measured in the same run:

1. **Inserts** (``insert``): the embedding job's write path (one ``stored`` read per shard, then plain inserts of
   its chunks) against the raw pymilvus client inserting the same rows (prebuilt row dicts, the store's batch
   size, a collection of the same schema and index), and against the path before this change (a Strong duplicate
   read before every chunk). Slices alternate raw / new / old so that all three see the same machine load.
2. **Compact indexes** (``tradeoff``): one collection of ``--tradeoff-n`` random 2048-d unit vectors with a planted
   lens population, re-indexed FLAT (exact float32: the baseline), HNSW, IVF_SQ8 and IVF_PQ. Per index: bytes per
   object of what the index keeps in memory, the server's resident memory with the collection loaded, recall@10 and
   @1000 of kNN against exact float32 search (numpy), the probe's TP@N (the planted direction as the probe, top N by
   inner-product search) against the exact float32 ranking, query rate, and the footprint at 76 million objects.
3. **A round without a full pass** (``round``): a catalogue (SQLite) and a collection of ``n`` random unit vectors
   of ``--round-dim`` dimensions (IVF_SQ8, exact re-rank) with 300 known lenses and 600 graded objects, at each
   size of ``--sizes``. One :meth:`GradingService.run_round` (train on the vectors it needs, read by id; rank by one
   inner-product search with the probe's weights; the fused neighbour term on that shortlist; the next queue)
   against the baseline: the same probe ranking every stored vector in a full pass (``rank_full_pass``). The first
   1,000 of both orders are compared (probe ranking and fused queue order).

    python bench/bench_scale.py                     # writes bench/results/scale.json and scale.png

Memory: vectors are generated and written in chunks; the client never holds more than one chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the real Milvus server fixture (tests/milvus_server.py)

SURVEY_76M = 76_000_000
VERSION = "bench-scale"


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, MiB (from /proc)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                kids = (task / "children").read_text().split()
                todo += [int(k) for k in kids]
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total / 1024


def unit_rows(rng, n: int, dim: int, lens: np.ndarray, direction: np.ndarray, strength: float) -> np.ndarray:
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x += np.where(lens, strength, 0.0).astype(np.float32)[:, None] * direction * np.sqrt(dim) / 8
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def columns(ids: np.ndarray, vec: np.ndarray, rng) -> dict:
    n = len(ids)
    mag = rng.uniform(16, 21, n).astype(np.float32)
    return {"object_id": ids, "vector": vec, "norm": np.ones(n, np.float32), "survey": np.full(n, "south"),
            "mag_g": mag + 0.8, "mag_r": mag + 0.4, "mag_z": mag, "ra": rng.uniform(0, 360, n),
            "dec": rng.uniform(-60, 30, n), "source_type": np.full(n, "DEV"), "shard": np.full(n, "bench.h5"),
            "shard_row": np.arange(n, dtype=np.int64)}


# ------------------------------------------------------------------------------------------------------ inserts
def bench_insert(settings, n: int, dim: int, chunk: int, slices: int = 4) -> dict:
    from pymilvus import MilvusClient

    from lensdb.vectordb import schema
    from lensdb.vectordb.config import VectorDBConfig
    from lensdb.vectordb.partitions import row_partitions
    from lensdb.vectordb.records import batches, validate
    from lensdb.vectordb.store import VectorStore

    rng = np.random.default_rng(0)
    cols = columns(np.arange(1, n + 1, dtype=np.int64), unit_rows(rng, n, dim, np.zeros(n, bool),
                                                                  np.zeros(dim, np.float32), 0.0), rng)
    cfg = VectorDBConfig(dim=dim)
    recs = validate(cols, dim)
    rows_per_batch = len(next(batches(recs, cfg.max_batch_rows, cfg.max_message_bytes)))
    client = MilvusClient(uri=settings.milvus_uri)
    client.create_collection("raw_ceiling", schema=schema.build_schema(dim, "raw"),
                             index_params=schema.index_params(client, cfg))
    rows = [dict(r) for r in recs.rows()]
    new = VectorStore.open(settings, VERSION + "-new", dim=dim, create=True, config=cfg)
    old = VectorStore.open(settings, VERSION + "-old", dim=dim, create=True, config=cfg)
    # The raw client writing the same rows into the same magnitude partitions (a LensDB collection's layout):
    # what the partitioned layout itself costs, apart from the store's checks.
    laid = VectorStore.open(settings, VERSION + "-raw-partitioned", dim=dim, create=True, config=cfg)
    parts_of = row_partitions(laid.bins, recs.survey, recs.mag_r)
    spent = {"raw": 0.0, "raw_partitioned": 0.0, "new": 0.0, "old": 0.0}
    edges = np.linspace(0, n, slices + 1).astype(int)
    for r0, r1 in zip(edges, edges[1:], strict=False):
        part = {k: v[r0:r1] for k, v in cols.items()}
        t = time.perf_counter()
        for s in range(r0, r1, rows_per_batch):
            client.insert("raw_ceiling", rows[s:min(s + rows_per_batch, r1)])
        spent["raw"] += time.perf_counter() - t
        t = time.perf_counter()
        for name in sorted(set(parts_of[r0:r1])):
            sel = [rows[i] for i in range(r0, r1) if parts_of[i] == name]
            for s in range(0, len(sel), rows_per_batch):
                client.insert(laid.name, sel[s:s + rows_per_batch], partition_name=name)
        spent["raw_partitioned"] += time.perf_counter() - t
        t = time.perf_counter()  # the embedding job: one read for the shard, then its chunks
        before = new.stored(part["object_id"])
        for s in range(0, r1 - r0, chunk):
            new.upsert({k: v[s:s + chunk] for k, v in part.items()}, same_source=True, stored=before)
        spent["new"] += time.perf_counter() - t
        t = time.perf_counter()  # before: a Strong read before every chunk
        for s in range(0, r1 - r0, chunk):
            old.upsert({k: v[s:s + chunk] for k, v in part.items()}, same_source=True)
        spent["old"] += time.perf_counter() - t
    counts = {"new": new.count(), "old": old.count(), "raw_partitioned": laid.count()}
    for store in (new, old, laid):
        store.drop()
    client.drop_collection("raw_ceiling")
    client.close()
    rate = {k: n / v for k, v in spent.items()}
    out = {"rows": n, "dim": dim, "chunk_rows": chunk, "raw_batch_rows": rows_per_batch,
           "raw_rows_per_s": rate["raw"], "raw_partitioned_rows_per_s": rate["raw_partitioned"],
           "store_rows_per_s": rate["new"], "store_before_rows_per_s": rate["old"],
           "ratio_vs_raw": rate["new"] / rate["raw"], "ratio_before_vs_raw": rate["old"] / rate["raw"],
           "ratio_vs_raw_partitioned": rate["new"] / rate["raw_partitioned"],
           "ratio_before_vs_raw_partitioned": rate["old"] / rate["raw_partitioned"],
           "rows_stored": counts}
    print(f"insert {n:,} x {dim}: raw client {rate['raw']:,.0f} rows/s; store (one read per shard) "
          f"{rate['new']:,.0f} rows/s = {out['ratio_vs_raw']:.2f}x raw; before (a read per chunk of {chunk}) "
          f"{rate['old']:,.0f} rows/s = {out['ratio_before_vs_raw']:.2f}x raw; raw client into the same partitions "
          f"{rate['raw_partitioned']:,.0f} rows/s (store {out['ratio_vs_raw_partitioned']:.2f}x, before "
          f"{out['ratio_before_vs_raw_partitioned']:.2f}x)", flush=True)
    return out


# ------------------------------------------------------------------------------------------------- trade-off
def bytes_per_object(kind: str, dim: int, pq_m: int) -> dict:
    """What each index keeps per object (the codes it searches), and what stays on disk (the float vectors)."""
    index = {"FLAT": 4 * dim, "HNSW": 4 * dim + 2 * 16 * 8, "IVF_FLAT": 4 * dim, "IVF_SQ8": dim, "IVF_PQ": pq_m}[kind]
    return {"index_bytes": index, "float_bytes": 4 * dim}


def bench_tradeoff(settings, server_pid: int, n: int, dim: int, n_lens: int, kinds, queries: int = 20) -> dict:
    import dataclasses

    from lensdb.classifiers.features import StoreFeatures
    from lensdb.vectordb.config import VectorDBConfig
    from lensdb.vectordb.store import VectorStore

    rng = np.random.default_rng(1)
    direction = rng.standard_normal(dim).astype(np.float32)
    direction /= np.linalg.norm(direction)
    lens = np.zeros(n, bool)
    lens[rng.choice(n, n_lens, replace=False)] = True
    ids = np.arange(1, n + 1, dtype=np.int64)
    vec = unit_rows(rng, n, dim, lens, direction, 1.5)
    cfg = VectorDBConfig(dim=dim, index_type="FLAT", ivf_nlist=256, ivf_nprobe=16)
    store = VectorStore.open(settings, VERSION + "-tradeoff", dim=dim, create=True, config=cfg, load=False)
    store.release()
    base_mb = rss_mb(server_pid)
    t = time.perf_counter()
    for s in range(0, n, 5000):
        store.upsert(columns(ids[s:s + 5000], vec[s:s + 5000], rng), stored={})
    insert_s = time.perf_counter() - t
    store.flush(wait=True)
    qi = rng.choice(n, queries, replace=False)
    exact = vec[qi] @ vec.T
    truth10 = [set(ids[np.argsort(-e)[:10]].tolist()) for e in exact]
    truth1000 = [set(ids[np.argsort(-e)[:1000]].tolist()) for e in exact]
    n_top = max(100, 2 * n_lens)
    probe_truth = ids[np.argsort(-(vec @ direction))[:n_top]]
    tp_float = int(lens[probe_truth - 1].sum())
    del exact
    rows = {}
    pq_m = dim // 8
    for kind in kinds:
        store.config = dataclasses.replace(cfg, index_type=kind)
        t = time.perf_counter()
        if store.index_type != kind:
            store.set_index(kind)
        store.release()
        store.flush(wait=True)
        released_mb = rss_mb(server_pid)
        store.load()
        build_s = time.perf_counter() - t
        time.sleep(2)
        loaded_mb = rss_mb(server_pid)
        r10, r1000, lat = [], [], []
        for q, t10, t1000 in zip(qi, truth10, truth1000, strict=True):
            t = time.perf_counter()
            res = store.knn(vec[q], k=10, include_query=True, output_fields=())
            lat.append(time.perf_counter() - t)
            r10.append(len(t10 & set(res.ids.tolist())) / 10)
            res = store.knn(vec[q], k=1000, include_query=True, output_fields=())
            r1000.append(len(t1000 & set(res.ids.tolist())) / 1000)
        got, _ = StoreFeatures(store).search(direction, n_top)
        tp = int(lens[got - 1].sum())
        b = bytes_per_object(kind, dim, pq_m)
        rows[kind] = {
            "index_bytes_per_object": b["index_bytes"], "float_bytes_per_object_on_disk": b["float_bytes"],
            "server_rss_loaded_mb": round(loaded_mb, 1), "server_rss_released_mb": round(released_mb, 1),
            "loaded_minus_released_mb": round(loaded_mb - released_mb, 1),
            "recall_at_10": float(np.mean(r10)), "recall_at_1000": float(np.mean(r1000)),
            "probe_tp_at_n": tp, "probe_tp_at_n_float32": tp_float, "probe_tp_ratio_vs_float32": tp / max(1, tp_float),
            "query_k10_p50_ms": 1000 * float(np.median(lat)), "qps_k10": 1.0 / float(np.median(lat)),
            "index_build_and_load_s": round(build_s, 1),
            "index_gb_at_76m": b["index_bytes"] * SURVEY_76M / 1e9,
            "float_gb_at_76m_on_disk": b["float_bytes"] * SURVEY_76M / 1e9,
        }
        print(f"{kind:9s} {b['index_bytes']:5d} B/object, server RSS loaded {loaded_mb:,.0f} MiB "
              f"(released {released_mb:,.0f}); recall@10 {np.mean(r10):.3f} @1000 {np.mean(r1000):.3f}; "
              f"probe TP@{n_top} {tp} vs float32 {tp_float}; k=10 p50 {1000 * np.median(lat):.0f} ms; "
              f"at 76M: {rows[kind]['index_gb_at_76m']:.0f} GB in memory", flush=True)
    store.drop()
    return {"n": n, "dim": dim, "planted_lenses": n_lens, "probe_top_n": n_top, "insert_rows_per_s": n / insert_s,
            "server_rss_before_mb": round(base_mb, 1), "queries": queries, "ivf_nlist": cfg.ivf_nlist,
            "ivf_nprobe": cfg.ivf_nprobe, "rerank_factor": cfg.rerank_factor, "pq_m": pq_m, "indexes": rows}


# ---------------------------------------------------------------------------------------------------- rounds
def build_survey(tmp: Path, settings, n: int, dim: int, n_lenses: int, n_graded: int, index: str, seed: int = 0):
    """Catalogue (SQLite, ``n`` sources, known lenses) + a collection of ``n`` vectors with planted lenses."""
    from sqlalchemy import insert

    from lensdb.catalog.bulk import copy_columns
    from lensdb.catalog.db import make_engine, upgrade
    from lensdb.catalog.models import Label, LabelSet, Shard
    from lensdb.core.ids import make_object_id
    from lensdb.vectordb.config import VectorDBConfig
    from lensdb.vectordb.store import VectorStore

    rng = np.random.default_rng(seed)
    upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    k = np.arange(n)
    ids = make_object_id(np.full(n, 9010), 100_000 + k // 5000, k % 5000 + 1)
    t0 = time.perf_counter()
    mag = rng.uniform(16, 21, n)
    with engine.begin() as conn:
        sid = conn.execute(insert(Shard).values(name="bench", path="/dev/null", fingerprint="0" * 64, n_rows=n,
                                                cutout=96, image_dtype="float32").returning(Shard.id)).scalar_one()
        copy_columns(conn, "sources", {
            "object_id": ids, "release": np.full(n, 9010), "brickid": 100_000 + k // 5000, "objid": k % 5000 + 1,
            "survey": np.full(n, "south"), "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-60, 30, n),
            "mag_g": mag + 0.8, "mag_r": mag + 0.4, "mag_z": mag, "ebv": np.full(n, 0.03),
            **{f"psfsize_{b}": np.full(n, 1.2) for b in "grz"}, **{f"psfdepth_{b}": np.full(n, 500.0) for b in "grz"},
            "source_type": np.full(n, "DEV"), "shard_id": np.full(n, sid), "row": k})
    lens_rows = rng.choice(n, n_lenses + n_graded, replace=False)
    known, graded = ids[lens_rows[:n_lenses]], ids[lens_rows[n_lenses:]]
    with engine.begin() as conn:
        set_id = conn.execute(insert(LabelSet).values(name="known", source="bench").returning(LabelSet.id)
                              ).scalar_one()
        conn.execute(insert(Label), [{"label_set_id": set_id, "object_id": int(o), "class": "lens"} for o in known])
    engine.dispose()
    t_catalogue = time.perf_counter() - t0
    is_lens = np.zeros(n, bool)
    is_lens[lens_rows[:n_lenses + n_graded // 3]] = True  # a third of the graded objects are lenses
    direction = rng.standard_normal(dim).astype(np.float32)
    direction /= np.linalg.norm(direction)
    cfg = VectorDBConfig(dim=dim, index_type=index)
    t0 = time.perf_counter()
    with VectorStore.open(settings, VERSION, dim=dim, create=True, config=cfg, load=False) as store:
        store.release()
        for s in range(0, n, 50_000):
            sl = slice(s, min(n, s + 50_000))
            vec = unit_rows(rng, sl.stop - s, dim, is_lens[sl], direction, 3.0)
            store.upsert({**columns(ids[sl], vec, rng), "mag_z": mag[sl].astype(np.float32),
                          "mag_r": (mag[sl] + 0.4).astype(np.float32), "mag_g": (mag[sl] + 0.8).astype(np.float32)},
                         stored={})
        t_insert = time.perf_counter() - t0
        store.flush(wait=True)
        store.load()
    t_index = time.perf_counter() - t0 - t_insert
    return ids, known, graded, is_lens, {"catalogue_s": round(t_catalogue, 1), "insert_s": round(t_insert, 1),
                                         "insert_rows_per_s": round(n / t_insert), "index_and_load_s": round(t_index, 1)}


class IdPass:
    """A FeatureSource whose full pass reads every vector by id, a block at a time (the baseline's pass)."""

    def __init__(self, source, ids: np.ndarray):
        self.source, self._ids = source, ids
        self.encoder_version, self.dim = source.encoder_version, source.dim

    def blocks(self, block_rows: int = 16384):
        for s in range(0, len(self._ids), block_rows):
            sl = self._ids[s:s + block_rows]
            yield sl, self.source.fetch(sl)


def bench_round(tmp: Path, uri: str, server_pid: int, n: int, dim: int, index: str) -> dict:
    from lensdb.catalog import grading as store
    from lensdb.catalog import queries
    from lensdb.classifiers.features import StoreFeatures
    from lensdb.classifiers.registry import get_model
    from lensdb.classifiers.scoring import rank_full_pass, write_predictions
    from lensdb.core.config import load_settings
    from lensdb.services import Services
    from lensdb.services.grading import GradingConfig

    folder = tmp / f"round-{n}"
    folder.mkdir()
    settings = load_settings(env={}, data_dir=str(folder / "data"), database_url=f"sqlite:///{folder / 'c.sqlite'}",
                             milvus_uri=uri)
    print(f"round at {n:,} x {dim} ({index}): building ...", flush=True)
    ids, known, graded, is_lens, setup = build_survey(folder, settings, n, dim, 300, 600, index)
    print(f"  {setup}; server RSS {rss_mb(server_pid):,.0f} MiB", flush=True)
    services = Services.open(settings)
    try:
        services.grading.config = GradingConfig(label_set="grades", calibration_share=0.0, queue_size=500)
        lens_of = dict(zip(ids.tolist(), is_lens.tolist(), strict=True))
        store.write_grades(services.backends.engine, "grades", "bench", [
            store.GradeWrite(int(o), "A" if lens_of[int(o)] else "N") for o in graded])
        t0 = time.perf_counter()
        out = services.grading.run_round(grader="bench", encoder_version=VERSION, survey=None, mag_z_max=None,
                                         threads=2)
        t_round = time.perf_counter() - t0
        engine = services.backends.engine
        model = get_model(engine, out["model"])
        mips_ids, _, _ = queries.ranking(engine, model.id)
        features = StoreFeatures.open(settings, VERSION)
        try:
            fused_mips = services.grading._fused_order(features, model.id)
            t0 = time.perf_counter()  # the baseline: the same probe over every stored vector
            # every stored vector through the client, read by id 16,384 at a time (the store's query iterator
            # asks Milvus 2.3.5 for a 100 MB answer at this size and is refused: see the report)
            full = rank_full_pass(IdPass(features, ids), model.weights, model.bias, n=len(mips_ids))
            t_full = time.perf_counter() - t0
            write_predictions(engine, model.id, full)
            fused_full = services.grading._fused_order(features, model.id)
        finally:
            features.close()
        seen = set(known.tolist()) | set(graded.tolist())
        q_mips = [i for i in fused_mips.tolist() if i not in seen][:1000]
        q_full = [i for i in fused_full.tolist() if i not in seen][:1000]
        rank_overlap = len(set(mips_ids[:1000].tolist()) & set(full.ids[:1000].tolist())) / 1000
        queue_overlap = len(set(q_mips) & set(q_full)) / max(1, len(q_full))
        hits = sum(lens_of.get(i, False) for i in q_mips)
        row = {"n": n, "dim": dim, "index": index, "round_s": round(t_round, 2), "train_s": out["train_s"],
               "rank_and_queue_s": round(t_round - out["train_s"], 2), "full_pass_rank_s": round(t_full, 2),
               "full_pass_round_s_estimate": round(out["train_s"] + t_full, 2),
               "ratio_round_vs_full_pass_round": round(t_round / (out["train_s"] + t_full), 3),
               "ranking_overlap_at_1000": rank_overlap, "queue_overlap_at_1000": queue_overlap,
               "lenses_in_first_1000_of_queue": int(hits), "training_set": out["training_set"],
               "server_rss_mb": round(rss_mb(server_pid), 1), "setup": setup}
        print(f"  round {t_round:.1f} s (train {out['train_s']} s); full-pass ranking alone {t_full:.1f} s; "
              f"ranking overlap@1000 {rank_overlap:.3f}, queue overlap@1000 {queue_overlap:.3f}", flush=True)
        return row
    finally:
        services.close()
        from lensdb.vectordb.store import VectorStore

        with VectorStore.open(settings, VERSION) as s:
            s.drop()


# ------------------------------------------------------------------------------------------------------ plot
def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    rounds = result.get("round", [])
    if rounds:
        ns = [r["n"] for r in rounds]
        ax[0].plot(ns, [r["round_s"] for r in rounds], "o-", label="round (search, by id)")
        ax[0].plot(ns, [r["full_pass_round_s_estimate"] for r in rounds], "s--", label="round with a full pass")
        ax[0].axhline(10, color="grey", lw=0.8, ls=":")
        ax[0].set_xscale("log")
        ax[0].set_xlabel("stored vectors")
        ax[0].set_ylabel("seconds")
        ax[0].set_title(f"one round ({rounds[0]['dim']}-d, {rounds[0]['index']})")
        ax[0].legend()
    trade = result.get("tradeoff", {}).get("indexes", {})
    if trade:
        kinds = list(trade)
        x = np.arange(len(kinds))
        ax[1].bar(x - 0.2, [trade[k]["recall_at_10"] for k in kinds], 0.4, label="recall@10")
        ax[1].bar(x + 0.2, [trade[k]["recall_at_1000"] for k in kinds], 0.4, label="recall@1000")
        ax[1].plot(x, [trade[k]["probe_tp_ratio_vs_float32"] for k in kinds], "k^", label="probe TP@N / float32")
        ax[1].set_xticks(x, kinds)
        ax[1].set_ylim(0, 1.05)
        ax[1].set_title(f"vs exact float32 ({result['tradeoff']['n']:,} x {result['tradeoff']['dim']})")
        ax[1].legend(loc="lower left", fontsize=8)
        ax[2].bar(x, [trade[k]["index_gb_at_76m"] for k in kinds])
        ax[2].set_xticks(x, kinds)
        ax[2].set_ylabel("GB in query-node memory at 76M objects")
        ax[2].set_title("footprint at 76 million (index bytes/object x 76M)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="insert,tradeoff,round")
    ap.add_argument("--insert-n", type=int, default=12_000)
    ap.add_argument("--insert-dim", type=int, default=2048)
    ap.add_argument("--chunk", type=int, default=1024, help="rows per embedding chunk (default 1024)")
    ap.add_argument("--tradeoff-n", type=int, default=30_000)
    ap.add_argument("--tradeoff-dim", type=int, default=2048)
    ap.add_argument("--sizes", default="100000,1000000")
    ap.add_argument("--round-dim", type=int, default=256)
    ap.add_argument("--round-index", default="IVF_SQ8")
    ap.add_argument("--out", default=str(ROOT / "bench/results/scale.json"))
    args = ap.parse_args(argv)

    import torch

    from milvus_server import MilvusServer

    from lensdb.core.config import load_settings

    torch.set_num_threads(2)
    import torch._dynamo  # noqa: F401 - a long-lived server imports it once (LBFGS does on first use: ~20 s)

    parts = set(args.parts.split(","))
    out_path = Path(args.out)
    result = json.loads(out_path.read_text()) if out_path.exists() else {}
    result.update({"machine": f"{os.cpu_count()} CPU cores (shared)", "server": "milvus 2.3.5 standalone (PyPI), "
                   "default 200 ms time tick"})
    tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    server = MilvusServer(tmp / "milvus", time_tick_ms=None).start()
    pid = server.proc.pid
    try:
        settings = load_settings(env={}, data_dir=str(tmp / "data"), milvus_uri=server.uri)
        if "insert" in parts:
            result["insert"] = bench_insert(settings, args.insert_n, args.insert_dim, args.chunk)
            result["insert_ratio_vs_raw"] = round(result["insert"]["ratio_vs_raw"], 3)
            out_path.write_text(json.dumps(result, indent=1, default=str))
        if "round" in parts:
            rounds = []
            for n in (int(s) for s in args.sizes.split(",")):
                rounds.append(bench_round(tmp, server.uri, pid, n, args.round_dim, args.round_index))
                result["round"] = rounds
                out_path.write_text(json.dumps(result, indent=1, default=str))
            at_1m = [r for r in rounds if r["n"] == 1_000_000]
            if at_1m:
                result["round_s_at_1m"] = at_1m[0]["round_s"]
                result["queue_overlap_at_1000"] = at_1m[0]["queue_overlap_at_1000"]
            out_path.write_text(json.dumps(result, indent=1, default=str))
        if "tradeoff" in parts:
            result["tradeoff"] = bench_tradeoff(settings, pid, args.tradeoff_n, args.tradeoff_dim, 100,
                                                ["FLAT", "HNSW", "IVF_SQ8", "IVF_PQ"])
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(result, indent=1, default=str))
        plot(result, out_path.with_suffix(".png"))
        print(f"wrote {out_path} and {out_path.with_suffix('.png')}")
    finally:
        server.remove()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
