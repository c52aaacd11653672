"""The anomaly ranking ("other rare objects"): how many rare objects (lenses and the look-alike classes ring, spiral,
companion, merger) are among the 1,000 objects ranked most unusual, against a random draw of 1,000.

On a simulated survey with an encoder checkpoint, the vectors are those ``lensdb embed`` stores (unit vectors), and
the scores those of :func:`lensdb.services.anomaly.anomaly_scores`: ``knn`` (cosine distance to the 10th neighbour)
and ``iforest`` (an isolation forest). The same is measured on pixel PCA (16 components, whitened alike). The
baseline is random: 1,000 x the rare objects' share of the survey (its expected count, exactly).

Usage::

    python bench/bench_anomaly.py --survey /tmp/survey --checkpoint enc/checkpoint.pt --out bench/results/anomaly.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from bench_fewshot import CLASSES, survey_vectors


def main(argv: list[str] | None = None) -> dict:
    from lensdb.services.anomaly import anomaly_scores

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--survey", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--top", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench/results/anomaly.json"))
    args = ap.parse_args(argv)
    classes, learned, pixels, version, _ = survey_vectors(args.survey, args.checkpoint, args.threads)
    rare = np.isin(classes, CLASSES)
    expected = {c: args.top * float((classes == c).mean()) for c in CLASSES}
    figures = {"bench": "anomaly", "survey": str(args.survey), "objects": int(len(classes)), "top": args.top,
               "encoder_version": version, "rare_share": round(float(rare.mean()), 5),
               "random_expected": {"rare": round(args.top * float(rare.mean()), 1),
                                   **{c: round(v, 1) for c, v in expected.items()}}, "results": {}}
    for rep, vectors in (("learned", learned), ("pixels", pixels)):
        for method in ("knn", "iforest"):
            t = time.perf_counter()
            scores = anomaly_scores(vectors, method)
            seconds = time.perf_counter() - t
            top = np.argsort(-scores, kind="stable")[:args.top]
            row = {"rare": int(rare[top].sum()), **{c: int((classes[top] == c).sum()) for c in CLASSES},
                   "seconds": round(seconds, 1)}
            row["ratio_vs_random"] = round(row["rare"] / max(figures["random_expected"]["rare"], 1e-9), 2)
            figures["results"][f"{rep} {method}"] = row
            expected = figures["random_expected"]["rare"]
            print(f"{rep:<8} {method:<8} rare in top {args.top}: {row['rare']} (random {expected}, "
                  f"x{row['ratio_vs_random']}); " + ", ".join(f"{c} {row[c]}" for c in CLASSES), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    plot(figures, args.out.with_suffix(".png"))
    print(f"wrote {args.out}")
    return figures


def plot(figures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["random", *figures["results"]]
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = np.zeros(len(names))
    for i, cls in enumerate(CLASSES):
        vals = np.array([figures["random_expected"][cls]] + [figures["results"][n][cls] for n in names[1:]])
        ax.bar(names, vals, bottom=bottom, label=cls, color=f"C{i}")
        bottom += vals
    ax.set_ylabel(f"rare objects in the top {figures['top']}")
    ax.set_title(f"anomaly ranking, {figures['objects']:,} objects")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
