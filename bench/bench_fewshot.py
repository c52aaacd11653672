"""Few-shot queries: how many objects of a class come back in the top 100 when the query is 1, 5 or 20 examples of it.

On a simulated survey (``lensdb simulate``: lenses and the look-alike classes ring, spiral, companion, merger), with
an encoder checkpoint, every object is embedded as ``lensdb embed`` stores it (the checkpoint's whitening and
orientation setting, unit vectors). For each class and each number of examples n, ``--repeats`` random draws of n
examples are turned into one query by :func:`lensdb.services.fewshot.query_vector` and searched exactly (cosine over
all objects, the examples left out). Rows:

- ``single``: one example, the plain similarity search LensDB had (the baseline: n = 1 only);
- ``centroid``: the n positives' centroid;
- ``centroid+neg``: the same minus half the centroid of n negatives drawn from the *other* rare classes (the
  look-alikes a discoverer wants to avoid);
- ``probe``: the query probe fitted on the fly on the same positives and negatives and 2,000 random objects.

The same rows are measured on pixel PCA (16 components of the stretched centre crops, whitened alike: the label-free
baseline). The figure is the mean class fraction among the top 100, against the class's base rate (random).

Usage::

    python bench/bench_fewshot.py --survey /tmp/survey --checkpoint enc/checkpoint.pt --out bench/results/fewshot.json

Writes the JSON and a PNG beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

CLASSES = ("lens", "ring", "spiral", "companion", "merger")
SHOTS = (1, 5, 20)


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def survey_vectors(survey: Path, checkpoint: Path, threads: int, pca_components: int = 16, shrinkage: float = 0.1):
    """(classes (N,), learned unit vectors, pixel-PCA unit vectors, encoder version) of a simulated survey."""
    from lensdb.encoder.evaluate import load_simulated, pca, pixel_features
    from lensdb.encoder.inference import Embedder
    from lensdb.encoder.whitening import fit_whitening
    from lensdb.encoder.whitening_fit import sample_rows
    from lensdb.ingest.simulate import read_truth

    torch.set_num_threads(threads)
    emb = Embedder.from_checkpoint(checkpoint, device="cpu")
    classes = np.array([r["class"] for r in read_truth(survey / "truth.csv")])
    # The vectors of one (survey, encoder version) are kept beside the checkpoint: the anomaly bench reuses them.
    cache = Path(checkpoint).with_name(f"bench_vectors_{emb.version}_{Path(survey).name}_{pca_components}.npz")
    if cache.is_file():
        got = np.load(cache)
        return classes, got["learned"], got["pixels"], emb.version, float(got["embed_s"])
    data = load_simulated(survey, emb.crop)
    t = time.perf_counter()
    learned = unit(emb.embed(data.images).numpy())  # what lensdb embed stores (whitened, its orientations)
    embed_s = time.perf_counter() - t
    p = pca(pixel_features(data.images, emb.crop), pca_components)
    rows = sample_rows(len(p), 20000, 0)
    pixels = unit(fit_whitening(p[rows], shrinkage).apply(torch.as_tensor(p)).numpy())
    np.savez(cache, learned=learned, pixels=pixels, embed_s=embed_s)
    return classes, learned, pixels, emb.version, embed_s


def top_fraction(vectors: np.ndarray, query: np.ndarray, is_class: np.ndarray, leave_out: np.ndarray,
                 k: int) -> float:
    sims = vectors @ query
    sims[leave_out] = -np.inf
    top = np.argpartition(-sims, k)[:k]
    return float(is_class[top].mean())


def run(classes: np.ndarray, vectors: np.ndarray, repeats: int, k: int, seed: int) -> dict:
    from lensdb.services.fewshot import query_vector

    rng = np.random.default_rng(seed)
    out: dict = {}
    rare = np.flatnonzero(np.isin(classes, CLASSES))
    for cls in CLASSES:
        members = np.flatnonzero(classes == cls)
        others = np.setdiff1d(rare, members)
        is_class = classes == cls
        res: dict = {}
        for n in SHOTS:
            if n > len(members) // 2:
                continue
            rows: dict[str, list[float]] = {"single": [], "centroid": [], "centroid+neg": [], "probe": []}
            for _ in range(repeats):
                pos = rng.choice(members, n, replace=False)
                neg = rng.choice(others, n, replace=False)
                pool = np.setdiff1d(np.arange(len(classes)), np.r_[pos, neg])
                bg = rng.choice(pool, min(2000, len(pool)), replace=False)
                leave = np.r_[pos, neg]
                if n == 1:
                    rows["single"].append(top_fraction(vectors, vectors[pos[0]], is_class, pos, k))
                rows["centroid"].append(top_fraction(vectors, query_vector(vectors[pos]), is_class, leave, k))
                rows["centroid+neg"].append(top_fraction(vectors, query_vector(vectors[pos], vectors[neg]),
                                                         is_class, leave, k))
                rows["probe"].append(top_fraction(vectors, query_vector(vectors[pos], vectors[neg], vectors[bg],
                                                                        "probe"), is_class, leave, k))
            res[str(n)] = {m: {"mean": round(float(np.mean(v)), 4),
                               "stderr": round(float(np.std(v, ddof=1) / np.sqrt(len(v))), 4)}
                           for m, v in rows.items() if v}
        out[cls] = {"members": int(len(members)), "base_rate": round(float(is_class.mean()), 5), "shots": res}
    return out


def plot(figures: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CLASSES), figsize=(4 * len(CLASSES), 3.6), sharey=False)
    for ax, cls in zip(axes, CLASSES, strict=True):
        for rep, style in (("learned", "-"), ("pixels", ":")):
            data = figures[rep][cls]
            shots = [int(n) for n in data["shots"]]
            for method, colour in (("centroid", "C0"), ("centroid+neg", "C1"), ("probe", "C2")):
                ys = [data["shots"][str(n)][method]["mean"] for n in shots]
                ax.plot(shots, ys, style, color=colour, marker="o", label=f"{rep} {method}")
            ax.axhline(data["base_rate"], color="grey", lw=0.8)
        ax.set_xscale("log")
        ax.set_xticks(SHOTS, [str(s) for s in SHOTS])
        ax.set_title(f"{cls} ({figures['learned'][cls]['members']})")
        ax.set_xlabel("examples")
    axes[0].set_ylabel(f"class fraction in the top {figures['k']}")
    axes[0].legend(fontsize=6)
    fig.suptitle(f"few-shot queries, {figures['objects']:,} objects; grey: base rate (random)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--survey", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, required=True)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench/results/fewshot.json"))
    args = ap.parse_args(argv)
    classes, learned, pixels, version, embed_s = survey_vectors(args.survey, args.checkpoint, args.threads)
    t = time.perf_counter()
    figures = {"bench": "fewshot", "survey": str(args.survey), "objects": int(len(classes)), "k": args.k,
               "repeats": args.repeats, "encoder_version": version, "embed_s": round(embed_s, 1),
               "learned": run(classes, learned, args.repeats, args.k, args.seed),
               "pixels": run(classes, pixels, args.repeats, args.k, args.seed)}
    figures["query_s"] = round(time.perf_counter() - t, 1)
    summary = {}
    for cls in CLASSES:
        row = figures["learned"][cls]
        shots = row["shots"]
        if "1" in shots:
            best = max(((n, m, v["mean"]) for n, d in shots.items() for m, v in d.items()), key=lambda t: t[2])
            summary[cls] = {"base_rate": row["base_rate"], "single": shots["1"]["single"]["mean"],
                            "best": {"examples": int(best[0]), "method": best[1], "fraction": best[2]},
                            "pixels_single": figures["pixels"][cls]["shots"]["1"]["single"]["mean"]}
        print(f"{cls:<10} base {row['base_rate']:.4f}  " + "  ".join(
            f"n={n}: " + ", ".join(f"{m} {v['mean']:.3f}" for m, v in d.items()) for n, d in shots.items()),
            flush=True)
    figures["summary"] = summary
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    plot(figures, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return figures


if __name__ == "__main__":
    main()
