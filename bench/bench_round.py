"""How long one active-learning round takes on a survey of 1,000,000 stored 2048-d vectors, on this machine.

A round (:meth:`lensdb.services.grading.GradingService.run_round`): read the labels and consensus grades, draw the
training and validation sets (paper protocol, random negatives), fetch their vectors, fit the probe (LBFGS), rank
the whole survey by it, write the predictions and the model, and freeze the next queue without the inspected
objects. Here the catalogue is a SQLite file with 1,000,000 sources, 300 known lenses and 600 graded objects, and
the vectors a float16 file read through a memory map (4 GB): LensDB's ``ArrayFeatures`` over it, so the ranking is
an exact pass over every vector (a Milvus server answers the same top N with one inner-product search).

Baseline in the same run, on the same training set: scikit-learn's LogisticRegression (lbfgs) plus a numpy pass
that scores every vector and sorts the top N. The ratio printed is round time / baseline time.

    python bench/bench_round.py --n 1000000          # writes bench/results/round.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 2048


class MemmapFeatures:
    """A FeatureSource over a (n, dim) float16 memory-mapped file of unit vectors (float32 out)."""

    def __init__(self, ids: np.ndarray, path: Path, n: int, dim: int, version: str):
        self._ids = ids
        self._order = np.argsort(ids)
        self._sorted = ids[self._order]
        self.mm = np.memmap(path, np.float16, "r", shape=(n, dim))
        self.encoder_version, self.dim = version, dim

    def ids(self):
        return self._ids.copy()

    def count(self):
        return int(self._ids.size)

    def fetch(self, ids):
        pos = self._order[np.searchsorted(self._sorted, np.asarray(ids, np.int64))]
        order = np.argsort(pos)  # read the file in order, put the rows back
        out = np.empty((len(pos), self.dim), np.float32)
        out[order] = self.mm[pos[order]]
        return out

    def blocks(self, block_rows=65536):
        for s in range(0, len(self._ids), block_rows):
            yield self._ids[s:s + block_rows], np.asarray(self.mm[s:s + block_rows], np.float32)

    def search(self, query, k, *, filters=None, allowed=None):
        best_ids, best = np.zeros(0, np.int64), np.zeros(0, np.float32)
        q = np.asarray(query, np.float32)
        for ids, vec in self.blocks():
            ids = np.concatenate([best_ids, ids])
            ip = np.concatenate([best, vec @ q])
            top = np.argpartition(-ip, min(k, len(ip) - 1))[:k]
            top = top[np.lexsort((ids[top], -ip[top]))]
            best_ids, best = ids[top], ip[top]
        return best_ids, best

    def close(self):
        pass


def build(tmp: Path, n: int, n_lenses: int, n_graded: int, seed: int):
    """The catalogue (SQLite) and the vector file; returns (settings, features, known lens ids, graded ids)."""
    from sqlalchemy import insert

    from lensdb.catalog.bulk import copy_columns
    from lensdb.catalog.db import make_engine, upgrade
    from lensdb.catalog.models import Label, LabelSet, Shard
    from lensdb.core.config import load_settings
    from lensdb.core.ids import make_object_id

    rng = np.random.default_rng(seed)
    url = f"sqlite:///{tmp / 'lensdb.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    k = np.arange(n)
    ids = make_object_id(np.full(n, 9010), 100_000 + k // 5000, k % 5000 + 1)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        sid = conn.execute(insert(Shard).values(name="bench", path="/dev/null", fingerprint="0" * 64, n_rows=n,
                                                cutout=96, image_dtype="float32").returning(Shard.id)).scalar_one()
        mag = rng.uniform(16, 21, n)
        copy_columns(conn, "sources", {
            "object_id": ids, "release": np.full(n, 9010), "brickid": 100_000 + k // 5000, "objid": k % 5000 + 1,
            "survey": np.full(n, "south"), "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-60, 30, n),
            "mag_g": mag + 0.8, "mag_r": mag + 0.4, "mag_z": mag, "ebv": np.full(n, 0.03),
            **{f"psfsize_{b}": np.full(n, 1.2) for b in "grz"}, **{f"psfdepth_{b}": np.full(n, 500.0) for b in "grz"},
            "source_type": np.full(n, "DEV"), "shard_id": np.full(n, sid), "row": k})
    t_catalogue = time.perf_counter() - t0
    # Lenses lie along one direction of the vector space, with noise: a probe has something to learn.
    lens_rows = rng.choice(n, n_lenses + n_graded, replace=False)
    known, graded = ids[lens_rows[:n_lenses]], ids[lens_rows[n_lenses:]]
    with engine.begin() as conn:
        set_id = conn.execute(insert(LabelSet).values(name="known", source="bench").returning(LabelSet.id)
                              ).scalar_one()
        conn.execute(insert(Label), [{"label_set_id": set_id, "object_id": int(o), "class": "lens"} for o in known])
    engine.dispose()
    t0 = time.perf_counter()
    direction = rng.standard_normal(DIM).astype(np.float32)
    direction /= np.linalg.norm(direction)
    is_lens = np.zeros(n, bool)
    is_lens[lens_rows[:n_lenses + n_graded // 3]] = True  # a third of the graded objects are lenses
    mm = np.memmap(tmp / "vectors.f16", np.float16, "w+", shape=(n, DIM))
    for s in range(0, n, 50_000):
        block = rng.standard_normal((min(50_000, n - s), DIM), dtype=np.float32)
        block += np.where(is_lens[s:s + len(block)], 3.0, 0.0)[:, None] * direction * np.sqrt(DIM) / 8
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        mm[s:s + len(block)] = block
    mm.flush()
    del mm
    t_vectors = time.perf_counter() - t0
    settings = load_settings(env={}, data_dir=str(tmp / "data"), database_url=url, milvus_uri=str(tmp / "m.db"))
    return settings, MemmapFeatures(ids, tmp / "vectors.f16", n, DIM, "bench"), known, graded, is_lens, ids, {
        "catalogue_s": round(t_catalogue, 1), "vectors_s": round(t_vectors, 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="stored vectors (default 1,000,000)")
    ap.add_argument("--lenses", type=int, default=300, help="known lenses (default 300)")
    ap.add_argument("--graded", type=int, default=600, help="objects already graded (default 600)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2, the machine's cores)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="bench/results/round.json")
    args = ap.parse_args(argv)

    import torch

    from lensdb.catalog import grading as store
    from lensdb.services import Services
    from lensdb.services.grading import GradingConfig

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-round-"))
    try:
        print(f"building a survey of {args.n:,} sources and {args.n:,} x {DIM} float16 vectors in {tmp} ...")
        settings, features, known, graded, is_lens, ids, setup = build(tmp, args.n, args.lenses, args.graded,
                                                                       args.seed)
        print(f"  catalogue {setup['catalogue_s']} s, vectors {setup['vectors_s']} s")
        services = Services.open(settings)
        services.grading.config = GradingConfig(label_set="grades", calibration_share=0.0, queue_size=500)
        lens_of = dict(zip(ids.tolist(), is_lens.tolist(), strict=True))
        store.write_grades(services.backends.engine, "grades", "bench", [
            store.GradeWrite(int(o), "A" if lens_of[int(o)] else "N") for o in graded])
        overrides = {"survey": None, "mag_z_max": None, "threads": args.threads}
        t0 = time.perf_counter()
        out = services.grading.run_round(grader="bench", features=features, **overrides)
        t_round = time.perf_counter() - t0
        print(f"round: {t_round:.1f} s (train {out['train_s']} s, rank {out['ranked_over']:,} objects "
              f"{out['score_s']} s), queue {out['queue']}")
        # Baseline: the same training set, sklearn + numpy.
        from sklearn.linear_model import LogisticRegression

        ts = out["training_set"]
        from lensdb.classifiers.sampling import build_sets, load_pools

        t0 = time.perf_counter()
        pools = load_pools(services.backends.engine, survey=None, mag_z_max=None)
        sets = build_sets(pools, ratios=(services.grading.config.round_ratio,),
                          val_ratio=services.grading.config.round_val_ratio, seed=0)
        tr_ids, tr_y = sets.train(services.grading.config.round_ratio)
        x = features.fetch(tr_ids)
        clf = LogisticRegression(C=1e4, max_iter=100).fit(x, tr_y)
        w, b = clf.coef_[0].astype(np.float32), np.float32(clf.intercept_[0])
        best = np.zeros(0, np.float32)
        best_ids = np.zeros(0, np.int64)
        for bid, vec in features.blocks():
            s = vec @ w + b
            cat_ids, cat = np.concatenate([best_ids, bid]), np.concatenate([best, s])
            top = np.argpartition(-cat, 5000)[:5000]
            best_ids, best = cat_ids[top], cat[top]
        t_base = time.perf_counter() - t0
        services.close()
        hits = sum(lens_of[int(o)] for o in best_ids)
        print(f"baseline sklearn LogisticRegression + numpy scoring: {t_base:.1f} s ({hits} lenses in its top 5000); "
              f"round / baseline = {t_round / t_base:.2f}")
        result = {"n_vectors": args.n, "dim": DIM, "storage": "float16 memmap", "known_lenses": args.lenses,
                  "graded": args.graded, "threads": args.threads, "round_s": round(t_round, 2),
                  "train_s": out["train_s"], "score_s": out["score_s"], "training_set": ts,
                  "baseline_sklearn_numpy_s": round(t_base, 2), "ratio_round_vs_baseline": round(t_round / t_base, 3),
                  "under_a_minute": t_round < 60, "setup": setup}
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
        print(f"wrote {args.out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
