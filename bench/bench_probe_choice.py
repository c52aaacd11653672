"""Which probe, on which transform of the stored vectors: hidden lenses in the top 100 / 250 / 500 / 1,000 of the
ranking of everything not known, for

  sklearn_baseline     scikit-learn LogisticRegression(class_weight="balanced", C=1) on the stored vectors (baseline)
  validated            LensDB's probe (classifiers/selection.py: balanced, C by cross-validated AP, refitted on all)
  paper                the paper's protocol as LensDB ran it before issue #22 (70/30 split, LBFGS epochs kept by
                       TP@N with N scaled to the validation size, l2 = 0)
  *_unwhitened         the same, on the stored vectors with the encoder's whitening undone (u @ W^-1: the backbone's
                       centred output over its whitened norm), a linear map the probe could fold into its weights

all on the same known lenses, with ``--ratio`` random non-lenses per lens drawn with each of ``--seeds``; the average
precision of each ranking over the hidden lenses (everything not known) is reported too. Writes JSON (and prints a
table)::

    python bench/bench_probe_choice.py --data-dir /tmp/quick --truth /tmp/quick/survey/truth.csv \
        --out bench/results/probe_choice_quick.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_loop import read_truth  # noqa: E402

DEPTHS = (100, 250, 500, 1000)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--truth", required=True)
    ap.add_argument("--lens-column", default="class")
    ap.add_argument("--lens-value", default="lens")
    ap.add_argument("--encoder-version")
    ap.add_argument("--checkpoint", help="encoder checkpoint holding the whitening (default <data-dir>/encoder/"
                    "checkpoint.pt)")
    ap.add_argument("--ratio", type=int, default=100)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="bench/results/probe_choice.json")
    args = ap.parse_args(argv)

    import torch
    from sklearn.linear_model import LogisticRegression

    from lensdb.catalog import queries
    from lensdb.catalog.db import make_engine
    from lensdb.classifiers.features import StoreFeatures
    from lensdb.classifiers.metrics import default_top_n
    from lensdb.classifiers.probe import FeatureMatrix, LbfgsOptions, fit_probe
    from lensdb.classifiers.sampling import load_pools
    from lensdb.classifiers.selection import average_precision, balanced_weights, fit_selected
    from lensdb.core.config import load_settings
    from lensdb.encoder.checkpoint import load_checkpoint

    torch.set_num_threads(2)
    truth = read_truth(args.truth, args.lens_column, args.lens_value or None)
    settings = load_settings(data_dir=args.data_dir)
    engine = make_engine(settings.database_url)
    from lensdb.services import Services

    with Services.open(settings) as services:
        version = args.encoder_version or services.backends.default_version()
    source = StoreFeatures.open(settings, version)
    ids, vecs = [], []
    for i, v in source.blocks(8192):
        ids.append(np.asarray(i, np.int64))
        vecs.append(np.asarray(v, np.float32))
    source.close()
    ids, vecs = np.concatenate(ids), np.concatenate(vecs)
    order = np.argsort(ids)
    ids, vecs = ids[order], vecs[order]
    ckpt = load_checkpoint(args.checkpoint or settings.path("encoder", "checkpoint.pt"))
    transforms = {"": vecs}
    if ckpt.whitening is not None and ckpt.version == version:
        w = ckpt.whitening["matrix"].double().numpy()
        transforms["_unwhitened"] = (vecs.astype(np.float64) @ np.linalg.inv(w)).astype(np.float32)
    else:
        print(f"no whitening in {version}'s checkpoint (or another version): the unwhitened rows are skipped")
    pools = load_pools(engine, use_grades=False, survey=None, mag_z_max=None, available=ids)
    known = pools.known_lenses
    with engine.connect() as conn:
        leave = queries.labelled_ids(conn, classes=("lens", "near_lens"))
    rest = ~np.isin(ids, np.union1d(leave, known))
    is_lens = np.array([truth.get(int(o), False) for o in ids])
    hidden = int((is_lens & rest).sum())
    print(f"{version}: {ids.size} objects, {known.size} known lenses, {hidden} hidden; ratio 1:{args.ratio}")
    rows: dict[str, list[dict]] = {}
    pos_of = np.searchsorted(ids, known)

    def record(name: str, score: np.ndarray, seconds: float, extra: dict | None = None):
        s, lens = score[rest], is_lens[rest]
        top = np.argsort(-s, kind="stable")
        at = {n: int(lens[top[:n]].sum()) for n in DEPTHS if n <= s.size}
        rows.setdefault(name, []).append({"at": at, "ap_hidden": round(average_precision(s, lens), 5),
                                          "seconds": round(seconds, 2), **(extra or {})})

    for seed in [int(s) for s in args.seeds.split(",")]:
        rng = np.random.default_rng([seed, 1])
        cand = pools.candidates
        neg = np.sort(cand[rng.permutation(cand.size)[:min(cand.size, args.ratio * known.size)]])
        tr = np.concatenate([pos_of, np.searchsorted(ids, neg)])
        y = np.r_[np.ones(known.size, np.uint8), np.zeros(neg.size, np.uint8)]
        for suffix, x in transforms.items():
            t0 = time.perf_counter()
            clf = LogisticRegression(class_weight="balanced", C=1.0, max_iter=5000).fit(x[tr], y)
            record("sklearn_baseline" + suffix, x @ clf.coef_[0], time.perf_counter() - t0)
            t0 = time.perf_counter()
            fm = FeatureMatrix.from_array(np.ascontiguousarray(x[tr]))
            w, b, sel = fit_selected(fm, y, balanced_weights(y), np.ones(y.size, bool), seed=seed)
            record("validated" + suffix, x @ w, time.perf_counter() - t0,
                   {"chosen_c": sel.chosen_c, "cv_ap": round(sel.best_ap, 4)})
            # The paper's protocol as rounds ran it: 70/30 lens split, validation at the ratio, TP@N, l2 = 0.
            t0 = time.perf_counter()
            perm = rng.permutation(known.size)
            n_val = round(0.3 * known.size)
            vpos, tpos = pos_of[perm[:n_val]], pos_of[perm[n_val:]]
            nneg = np.searchsorted(ids, neg)
            k = min(args.ratio * n_val, int(0.3 * nneg.size))  # the paper's split when the survey is small
            vneg, tneg = nneg[:k], nneg[k:]
            xt = FeatureMatrix.from_array(np.ascontiguousarray(x[np.r_[tpos, tneg]]))
            xv = FeatureMatrix.from_array(np.ascontiguousarray(x[np.r_[vpos, vneg]]))
            yt = np.r_[np.ones(tpos.size), np.zeros(tneg.size)]
            yv = np.r_[np.ones(vpos.size), np.zeros(vneg.size)]
            top_n = default_top_n(len(yv))
            fit = fit_probe(xt, yt, xv, yv, top_n, LbfgsOptions(epochs=20, max_iter=5, patience=8))
            record("paper" + suffix, x @ fit.weights, time.perf_counter() - t0,
                   {"top_n": top_n, "best_epoch": fit.best_epoch})
    summary = {k: {"at_mean": {n: round(float(np.mean([r["at"][n] for r in v])), 2) for n in v[0]["at"]},
                   "at_std": {n: round(float(np.std([r["at"][n] for r in v])), 2) for n in v[0]["at"]},
                   "ap_hidden_mean": round(float(np.mean([r["ap_hidden"] for r in v])), 5)} for k, v in rows.items()}
    base = summary["sklearn_baseline"]["at_mean"]
    for k, s in summary.items():
        s["ratio_vs_baseline"] = {n: round(s["at_mean"][n] / base[n], 3) if base[n] else None for n in s["at_mean"]}
        print(f"{k:28s} " + " ".join(f"{s['at_mean'][n]:6.1f}+-{s['at_std'][n]:.1f}" for n in s["at_mean"])
              + f"  AP {s['ap_hidden_mean']:.4f}")
    out = {"data_dir": args.data_dir, "encoder_version": version, "objects": int(ids.size),
           "known_lenses": int(known.size), "hidden_lenses": hidden, "ratio": args.ratio, "depths": list(DEPTHS),
           "seeds": args.seeds, "summary": summary, "runs": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
