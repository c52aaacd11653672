"""Proof that the encoder learns: lens fraction among the top-k neighbours of known lenses, three ways.

On a simulated survey with lenses (``lensdb simulate`` or the demo's ``survey/`` folder), for every lens as a
query, the ``k`` (default 100) most similar other objects are found by cosine similarity in each of:

- ``learned``: the trained encoder (``--checkpoint``; without one, the bench trains the small preset first);
- ``random``: the same backbone with random initial weights (the baseline of what the architecture alone gives);
- ``pixels``: PCA of the stretched centre-crop pixels the encoder sees, at several widths (the best is the
  baseline; the issue asks for "raw pixels (PCA of the pixels)").

Vectors are centred on the survey mean before cosine ranking (see :mod:`lensdb.encoder.evaluate`); the un-centred
figures
are written too. Each is reported over the whole survey and with neighbours held to +-0.5 mag in r of the query
(the similarity array's window, which takes brightness out of the comparison), and per arc S/N bin of the query.
Two further rows read the encoders through :func:`lensdb.encoder.evaluate.invariant_projection` (the directions that
survive the training augmentations, found without labels): ``learned+inv`` and ``random+inv``.

``learned+o8`` and ``learned+o8+white`` average each vector over the object's 8 orientations (rotations by 90
degrees x flips, :mod:`lensdb.encoder.orientation`), the whitening fitted alike on averaged vectors; ``pixels+o8+white``
gives pixel PCA the same step (PCA of the orientation-averaged stretched crops, whitened alike).
``ratio_learned_vs_pixels`` is the stored learned row (``learned+o8+white`` when the checkpoint's config says
``orientations = 8``, else ``learned+white``) over the best pixel row given the same label-free steps
(``pixels+white`` or ``pixels+o8+white``). With ``--probe``, a logistic-regression probe per representation
(5-fold cross-validation over all objects, lens or not) gives the lenses among its 100 best held-out scores
(TP@100), ``probe_tp100``, and their ratio ``probe_ratio_learned_vs_pixels``.

``learned+white`` is what LensDB stores: the raw backbone through the whitening that training fits
(:mod:`lensdb.encoder.whitening`; the checkpoint's own, else fitted here as training would, on the whole survey). For a
fair comparison the same label-free whitening is fitted to the baselines too: ``random+white`` and
``pixels+white`` (whitened pixel PCA, best width).

Usage::

    python bench/bench_enrichment.py --survey lensdb-data/survey --checkpoint lensdb-data/encoder/checkpoint.pt
    python bench/bench_enrichment.py --survey /tmp/survey --train-dir /tmp/enc     # trains the small preset
    python bench/bench_enrichment.py --survey /tmp/survey --train-dir /tmp/enc --set temperature=0.2 --train-seed 7
    # the paper's network on a GPU (a survey of >= 126-px cutouts):
    python bench/bench_enrichment.py --survey /tmp/s128 --device cuda --preset resnet50 --set queue_size=4096

Writes ``bench/results/enrichment.json``. Runs of several training seeds (``--train-seed``) combine into a mean and
scatter per representation with ``--combine FILE...`` (written to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from lensdb.core.config import ConfigError
from lensdb.encoder.backbones import build_backbone
from lensdb.encoder.config import EncoderConfig, resolve_config
from lensdb.encoder.evaluate import (
    centre,
    invariant_projection,
    lens_enrichment,
    load_simulated,
    pca,
    pixel_features,
)
from lensdb.encoder.inference import Embedder
from lensdb.encoder.orientation import orientation
from lensdb.encoder.whitening import fit_whitening
from lensdb.encoder.whitening_fit import sample_rows

SNR_BINS = ((0.0, 30.0), (30.0, 100.0), (100.0, float("inf")))


def parse_sets(pairs: list[str]) -> dict:
    """``KEY=VALUE`` encoder-config overrides; values are read as JSON where they parse (numbers, lists, null)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, for example --set mag_bin_width=100")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def train_encoder(survey: Path, out_dir: Path, threads: int, config: EncoderConfig, device: str) -> Path:
    from lensdb.encoder.train import train

    result = train(config, sorted(survey.glob("*.h5")), out_dir, threads=threads, device=device)
    return result.checkpoint


def evaluate(name: str, vectors: np.ndarray, is_lens, queries, mags, snr, k: int) -> dict:
    out: dict = {}
    for label, x in (("centred", centre(vectors)), ("raw", centre(vectors, np.zeros(vectors.shape[1])))):
        out[label] = {
            "all": lens_enrichment(x, is_lens, queries, k).to_dict(),
            "window_0.5": lens_enrichment(x, is_lens, queries, k, mags=mags, mag_window=0.5).to_dict(),
        }
    x = centre(vectors)
    out["by_arc_snr"] = {}
    for lo, hi in SNR_BINS:
        sel = queries[(snr[queries] >= lo) & (snr[queries] < hi)]
        if sel.size:
            out["by_arc_snr"][f"{lo:g}-{hi:g}"] = lens_enrichment(x, is_lens, sel, k).to_dict()
    c = out["centred"]
    bins = "  ".join(f"S/N {b}: {v['mean_fraction']:.3f}" for b, v in out["by_arc_snr"].items())
    print(f"  {name:<15} top-{k} lens fraction {c['all']['mean_fraction']:.3f} +- {c['all']['stderr']:.3f}"
          f" (x{c['all']['enrichment']:.1f}); +-0.5 mag: {c['window_0.5']['mean_fraction']:.3f}; "
          f"un-centred {out['raw']['all']['mean_fraction']:.3f};  {bins}", flush=True)
    return out


def orientation_averaged_pixels(features: np.ndarray, crop: int) -> np.ndarray:
    """Stretched-pixel features (N, 3 * crop^2) averaged over the 8 orientations of each crop."""
    x = torch.from_numpy(features).reshape(-1, 3, crop, crop)
    return (sum(orientation(x, k) for k in range(8)) / 8).flatten(1).numpy()


def probe_tp(vectors: np.ndarray, is_lens: np.ndarray, n: int = 100, folds: int = 5, seed: int = 0) -> int:
    """Lenses among the ``n`` best held-out scores of a logistic-regression probe, ``folds``-fold cross-validated
    (stratified) over all objects: every object is scored by a probe that never saw it."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    x = centre(vectors)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    scores = np.empty(len(x))
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, is_lens):
        clf = LogisticRegression(C=10.0, max_iter=300, class_weight="balanced")
        clf.fit(x[train_idx], is_lens[train_idx])
        scores[test_idx] = clf.decision_function(x[test_idx])
    return int(is_lens[np.argsort(-scores)[:n]].sum())


def combine(files: list[Path], out: Path) -> dict:
    """Mean, scatter and per-run values of each representation's top-k lens fraction over several runs."""
    runs = [json.loads(Path(f).read_text()) for f in files]
    table = {}
    for where in ("summary", "summary_window_0.5"):
        table[where] = {}
        for name in [n for n in runs[0][where] if all(n in r[where] for r in runs)]:  # rows every run has
            values = np.array([r[where][name] for r in runs])
            table[where][name] = {"mean": round(float(values.mean()), 4),
                                  "std": round(float(values.std(ddof=1)), 4) if len(values) > 1 else 0.0,
                                  "runs": values.round(4).tolist()}
    figures = {"bench": "enrichment-combined", "files": [str(f) for f in files],
               "encoders": [r["encoder_version"] for r in runs], **table}
    for r in runs:  # the ratios of both learned rows, from each run's summary (older runs lack the o8 rows)
        sm = r["summary"]
        if "learned+o8+white" in sm and "pixels+o8+white" in sm:
            best_pixels = max(sm["pixels+white"], sm["pixels+o8+white"])
            r["ratio_white_vs_pixels"] = round(sm["learned+white"] / best_pixels, 3)
            r["ratio_o8_white_vs_pixels"] = round(sm["learned+o8+white"] / best_pixels, 3)
        probe = r.get("probe_tp100") or {}
        if probe:
            pixel = max(v for k, v in probe.items() if k.startswith("pixels"))
            r["probe_ratio_o8_vs_pixels"] = round(probe.get("learned+o8+white", 0) / max(pixel, 1), 3)
            r["probe_ratio_white_vs_pixels"] = round(probe.get("learned+white", 0) / max(pixel, 1), 3)
    figures["probe_tp100_runs"] = [r.get("probe_tp100") for r in runs]
    for key in ("ratio_learned_vs_pixels", "probe_ratio_learned_vs_pixels", "ratio_white_vs_pixels",
                "ratio_o8_white_vs_pixels", "probe_ratio_white_vs_pixels", "probe_ratio_o8_vs_pixels"):
        values = np.array([r[key] for r in runs if r.get(key) is not None], dtype=float)
        if values.size:
            figures[key] = round(float(values.mean()), 3)
            figures[f"{key}_runs"] = values.round(3).tolist()
            figures[f"{key}_std"] = round(float(values.std(ddof=1)), 3) if values.size > 1 else 0.0
            print(f"{key}: mean {figures[key]:.3f} over {values.size} runs {values.round(3).tolist()}")
    pairs = [("learned", "pixels"), ("learned+white", "pixels"), ("learned+white", "pixels+white"),
             ("learned+o8+white", "pixels+white"), ("learned+o8+white", "pixels+o8+white"),
             ("learned+o8+white", "learned+white")]
    for mine, theirs in [(a, b) for a, b in pairs if a in table["summary"] and b in table["summary"]]:
        a, b = table["summary"][mine], table["summary"][theirs]
        diffs = np.subtract(a["runs"], b["runs"])
        sem = diffs.std(ddof=1) / np.sqrt(len(diffs)) if len(diffs) > 1 else 0.0
        wins = int((diffs > 0).sum())
        figures[f"{mine} vs {theirs}"] = {
            "mean_difference": round(float(diffs.mean()), 4),
            "in_standard_errors": round(float(diffs.mean() / sem), 2) if sem else None,
            "wins": f"{wins} of {len(runs)} runs"}
    for name, row in table["summary"].items():
        print(f"  {name:<12} mean {row['mean']:.3f} +- {row['std']:.3f} (runs {row['runs']})")
    for key, row in figures.items():
        if " vs " in key:
            print(f"{key}: wins {row['wins']}, mean difference {row['mean_difference']:+.3f} "
                  f"({row['in_standard_errors']} standard errors of the paired difference)")
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {out}")
    return figures


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--survey", type=Path, help="folder with the shards and truth.csv (needed unless --combine)")
    ap.add_argument("--combine", type=Path, nargs="+", metavar="FILE", help="combine earlier runs' JSON files")
    ap.add_argument("--checkpoint", type=Path, help="trained encoder (default: train the small preset)")
    ap.add_argument("--train-dir", type=Path, default=Path("bench/results/enrichment-encoder"),
                    help="where to train when no --checkpoint is given")
    ap.add_argument("--preset", default="small", help="encoder preset when the bench trains (default small)")
    ap.add_argument("--epochs", type=int, help="training epochs when the bench trains (default: the preset's)")
    ap.add_argument("--train-seed", type=int, help="training seed when the bench trains (default: the preset's, 0)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="encoder-config override when the bench trains (repeatable), e.g. --set mag_bin_width=100")
    ap.add_argument("--device", default="cpu", help="training and embedding device (cpu, cuda)")
    ap.add_argument("--k", type=int, default=100, help="neighbours per query lens")
    ap.add_argument("--pca", default="8,16,64,256", help="PCA widths tried for the pixel baseline")
    ap.add_argument("--shrinkage", type=float, default=0.1, help="whitening shrinkage (the training default)")
    ap.add_argument("--inv-dims", type=int, default=64, help="directions kept by the invariant projection")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="seed of the random-init encoder")
    ap.add_argument("--out", type=Path, default=Path("bench/results/enrichment.json"))
    ap.add_argument("--skip-inv", action="store_true",
                    help="leave out the invariant-projection rows (they need cutouts of crop + 2 (jitter + margin))")
    ap.add_argument("--probe", action="store_true",
                    help="also a cross-validated logistic-regression probe per representation (TP@100)")
    args = ap.parse_args(argv)
    if args.combine:
        return combine(args.combine, args.out)
    if args.survey is None:
        ap.error("--survey is required (or --combine)")
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    flags = {"epochs": args.epochs, "seed": args.train_seed}
    try:
        overrides = {**parse_sets(args.set), **{k: v for k, v in flags.items() if v is not None}}
        config = None if args.checkpoint else resolve_config(preset=args.preset, **overrides)
    except ConfigError as exc:
        ap.error(str(exc))
    checkpoint = args.checkpoint or train_encoder(args.survey, args.train_dir, args.threads, config, args.device)
    train_s = time.perf_counter() - t0
    learned = Embedder.from_checkpoint(checkpoint, device=args.device, orientations=1)
    stored_o8 = Embedder.from_checkpoint(checkpoint, device=args.device).orientations == 8
    aug = learned.config.augment
    survey = load_simulated(args.survey, learned.crop + (0 if args.skip_inv else 2 * (aug.jitter + aug.margin)))
    images, mags, is_lens, snr = survey.images, survey.mag_r, survey.is_lens, survey.arc_snr
    queries = np.flatnonzero(is_lens)
    print(f"{len(images):,} objects, {queries.size} lenses (base rate {is_lens.mean():.4f}), k={args.k}, "
          f"encoder {learned.version}")

    torch.manual_seed(args.seed)
    random_net = Embedder(build_backbone(learned.config), learned.config, "random-init", args.device)
    results: dict[str, dict] = {}
    t = time.perf_counter()
    nets = {"learned": learned, "random": random_net}
    raw = {name: net.embed(images, whiten=False).numpy() for name, net in nets.items()}  # the raw backbones
    embed_s = time.perf_counter() - t
    t = time.perf_counter()
    averaged = Embedder.from_checkpoint(checkpoint, device=args.device, orientations=8)
    raw_o8 = averaged.embed(images, whiten=False).numpy()
    embed_o8_s = time.perf_counter() - t
    for name in nets:
        results[name] = evaluate(name, raw[name], is_lens, queries, mags, snr, args.k)
    # The product's vectors: the checkpoint's whitening, or one fitted as training fits it (whiten_sample random
    # rows of the survey, drawn with the training seed). The same fit is given to the untrained encoder and to
    # pixel PCA, so that the baselines get every label-free step the learned vectors get.
    rows = sample_rows(len(images), learned.config.whiten_sample or len(images), learned.config.seed)
    whitenings = {"learned": learned.whitening or fit_whitening(raw["learned"][rows], args.shrinkage),
                  "random": fit_whitening(raw["random"][rows], args.shrinkage)}
    stored_vectors = {}
    for name in nets:
        z = whitenings[name].apply(torch.as_tensor(raw[name])).numpy()
        results[f"{name}+white"] = evaluate(f"{name}+white", z, is_lens, queries, mags, snr, args.k)
        stored_vectors[f"{name}+white"] = z
    # Orientation-averaged: whitened by the checkpoint's own whitening when it was fitted on averaged vectors, else
    # by a fit alike on the same rows.
    results["learned+o8"] = evaluate("learned+o8", raw_o8, is_lens, queries, mags, snr, args.k)
    w8 = (learned.whitening if stored_o8 and learned.whitening is not None
          else fit_whitening(raw_o8[rows], args.shrinkage))
    z8 = w8.apply(torch.as_tensor(raw_o8)).numpy()
    results["learned+o8+white"] = evaluate("learned+o8+white", z8, is_lens, queries, mags, snr, args.k)
    stored_vectors["learned+o8+white"] = z8
    pixels = pixel_features(images, learned.crop)
    pixel_runs, white_runs, plain_white = {}, {}, {}
    for n in (int(v) for v in args.pca.split(",")):
        p = pca(pixels, n)
        pixel_runs[n] = evaluate(f"pixels PCA {n}", p, is_lens, queries, mags, snr, args.k)
        z = fit_whitening(p[rows], args.shrinkage).apply(torch.as_tensor(p)).numpy()
        white_runs[n] = evaluate(f"pixels PCA {n}+white", z, is_lens, queries, mags, snr, args.k)
        plain_white[n] = z
    pixels_o8 = orientation_averaged_pixels(pixels, learned.crop)
    o8_runs, pixel_vectors = {}, {}
    for n in (int(v) for v in args.pca.split(",")):
        p = pca(pixels_o8, n)
        z = fit_whitening(p[rows], args.shrinkage).apply(torch.as_tensor(p)).numpy()
        o8_runs[n] = evaluate(f"pixels PCA {n}+o8+white", z, is_lens, queries, mags, snr, args.k)
        pixel_vectors[("o8", n)] = z
    best_o8 = max(o8_runs, key=lambda n: o8_runs[n]["centred"]["all"]["mean_fraction"])
    results["pixels+o8+white"] = {**o8_runs[best_o8], "pca_components": best_o8}
    best = max(pixel_runs, key=lambda n: pixel_runs[n]["centred"]["all"]["mean_fraction"])
    results["pixels"] = {**pixel_runs[best], "pca_components": best}
    best_white = max(white_runs, key=lambda n: white_runs[n]["centred"]["all"]["mean_fraction"])
    results["pixels+white"] = {**white_runs[best_white], "pca_components": best_white}
    for name, net in ({} if args.skip_inv else nets).items():
        mean, proj = invariant_projection(net, images, survey.ebv, dims=args.inv_dims, seed=args.seed)
        z = (raw[name] - mean) @ proj
        results[f"{name}+inv"] = evaluate(f"{name}+inv", z, is_lens, queries, mags, snr, args.k)

    def frac(name: str, where: str = "all") -> float:
        return results[name]["centred"][where]["mean_fraction"]

    stored_row = "learned+o8+white" if stored_o8 else "learned+white"
    pixel_row = max(("pixels+white", "pixels+o8+white"), key=frac)  # the best pixels given the same steps
    probe = {}
    if args.probe:
        t = time.perf_counter()
        kind, n = ("o8", best_o8) if pixel_row == "pixels+o8+white" else ("plain", best_white)
        pv = pixel_vectors[(kind, n)] if kind == "o8" else plain_white[n]
        for name, vectors in (("learned+white", stored_vectors["learned+white"]),
                              ("learned+o8+white", stored_vectors["learned+o8+white"]), (pixel_row, pv)):
            probe[name] = probe_tp(vectors, is_lens)
        print(f"probe TP@100 (5-fold CV): {probe} in {time.perf_counter() - t:.0f} s", flush=True)

    figures = {
        "bench": "enrichment", "k": args.k, "objects": int(len(images)), "lenses": int(queries.size),
        "base_rate": float(is_lens.mean()), "encoder_version": learned.version, "checkpoint": str(checkpoint),
        "train_s": round(train_s, 1) if args.checkpoint is None else None, "embed_s": round(embed_s, 1),
        "cpu": platform.processor() or platform.machine(), "threads": args.threads, "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        "config": learned.config.to_dict(),
        "summary": {name: round(frac(name), 4) for name in results},
        "summary_window_0.5": {name: round(frac(name, "window_0.5"), 4) for name in results},
        "ratio_learned_over_random": round(frac("learned") / max(frac("random"), 1e-9), 2),
        "ratio_learned_over_pixels": round(frac("learned") / max(frac("pixels"), 1e-9), 2),
        "ratio_learned_inv_over_pixels": (round(frac("learned+inv") / max(frac("pixels"), 1e-9), 2)
                                          if "learned+inv" in results else None),
        "stored_row": stored_row, "pixel_row": pixel_row,
        "ratio_learned_vs_pixels": round(frac(stored_row) / max(frac(pixel_row), 1e-9), 3),
        "ratio_o8_vs_plain": round(frac("learned+o8+white") / max(frac("learned+white"), 1e-9), 3),
        "probe_tp100": probe, "probe_ratio_learned_vs_pixels": (
            round(probe[stored_row] / max(probe[pixel_row], 1), 3) if probe else None),
        "embed_o8_s": round(embed_o8_s, 1),
        "learned_beats_both": frac("learned") > max(frac("random"), frac("pixels")),
        "whitening": {"shrinkage": args.shrinkage, "fit_rows": int(rows.size),
                      "learned_from_checkpoint": learned.whitening is not None},
        "ratio_learned_white_over_best_pixels": round(
            frac("learned+white") / max(frac("pixels"), frac("pixels+white"), 1e-9), 2),
        "learned_white_beats_all_baselines": frac("learned+white") > max(
            frac(n) for n in ("random", "random+white", "pixels", "pixels+white")),
        "results": results, "pixels_pca_all": {str(n): v for n, v in pixel_runs.items()},
        "pixels_pca_white_all": {str(n): v for n, v in white_runs.items()},
    }
    print(f"stored learned ({stored_row}) / best pixels alike ({pixel_row}) = {figures['ratio_learned_vs_pixels']}; "
          f"8-fold / plain = {figures['ratio_o8_vs_plain']}; probe TP@100 {probe or '-'}")
    print(f"learned / random = {figures['ratio_learned_over_random']}, learned / pixels (PCA {best}) = "
          f"{figures['ratio_learned_over_pixels']}, learned+inv / pixels = {figures['ratio_learned_inv_over_pixels']}"
          f"; learned+white / best pixels (whitened or not) = {figures['ratio_learned_white_over_best_pixels']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"wrote {args.out}")
    return figures


if __name__ == "__main__":
    main()
