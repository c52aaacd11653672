"""Training throughput of the encoder (images/s), batched augmentations against a per-image baseline.

What it measures, on synthetic cutouts held in memory (so shard I/O is left out):

- ``augment``: the training pipeline (two views per image), batched on the device vs. one image at a time (the plain
  way: a loop over images, as a per-image torchvision/scipy pipeline in DataLoader workers would run it);
- ``train_step``: a whole MoCo step (two views + forward + backward + SGD) with either augmentation path;
- ``resnet50``: a couple of steps of the paper's preset (batched augmentations), eager fp32 vs. channels_last.

Usage::

    python bench/bench_encoder_train.py                  # CPU, 2 threads, small preset + ResNet50
    python bench/bench_encoder_train.py --device cuda --batch-size 256 --r50-batch 256

Writes ``bench/results/encoder_train.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from lensdb.encoder.config import PRESETS
from lensdb.encoder.moco import MoCo
from lensdb.encoder.transforms import training_pipeline


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cutouts(n: int, size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, size, size) nanomaggy-like images (a blob on noisy sky) and (n,) E(B-V)."""
    g = torch.Generator().manual_seed(0)
    c = (size - 1) / 2
    y, x = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    width = torch.rand(n, 1, 1, 1, generator=g) * 4 + 2
    images = 0.3 * torch.exp(-(x**2 + y**2) / (2 * width**2)) + 0.005 * torch.randn(n, 3, size, size, generator=g)
    return images.to(device), torch.full((n,), 0.05, device=device)


def views_batched(pipeline, images, ebv, gen):
    return [pipeline(images, ebv=ebv, generator=gen) for _ in range(2)]


def views_per_image(pipeline, images, ebv, gen):
    return [torch.cat([pipeline(images[i:i + 1], ebv=ebv[i:i + 1], generator=gen) for i in range(len(images))])
            for _ in range(2)]


def timed(fn, device: torch.device, min_s: float = 1.0) -> float:
    """Seconds per call of ``fn``, averaged over as many calls as fill ``min_s``."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        sync(device)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_s:
            return elapsed / calls


def compare(fast, slow, n_images: int, rounds: int, device: torch.device) -> dict:
    """images/s of two variants timed in alternation (A, B, A, B, ...), so that load from other processes on a
    shared machine hits both alike; medians over rounds, and the median of the per-round ratios."""
    fast(), slow()  # warm-up
    sync(device)
    a, b = [], []
    for _ in range(rounds):
        a.append(n_images / timed(fast, device))
        b.append(n_images / timed(slow, device))
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    return {"fast": round(statistics.median(a), 2), "baseline": round(statistics.median(b), 2),
            "ratio": round(statistics.median(ratios), 2)}


def train_step_fn(model, optimizer, pipeline, images, ebv, device, make_views, channels_last=False):
    gen = torch.Generator(device=device).manual_seed(1)

    def step():
        with torch.no_grad():
            v = make_views(pipeline, images, ebv, gen)
        if channels_last:
            v = [t.contiguous(memory_format=torch.channels_last) for t in v]
        out = model(v[0], v[1], generator=gen)
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
    return step


def build(preset: str, batch: int, device: torch.device, channels_last: bool = False):
    config = PRESETS[preset]
    torch.manual_seed(0)
    model = MoCo.from_config(config).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.query_parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    images, ebv = cutouts(batch, config.min_cutout + 2 * config.augment.margin, device)
    return config, model, opt, images, ebv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    ap.add_argument("--batch-size", type=int, default=64, help="small preset images per step (default 64)")
    ap.add_argument("--r50-batch", type=int, default=16, help="ResNet50 images per step (default 16)")
    ap.add_argument("--repeats", type=int, default=5, help="A/B rounds (ResNet50: half as many)")
    ap.add_argument("--skip-r50", action="store_true")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "encoder_train.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    results: dict = {"device": str(device), "threads": args.threads, "torch": str(torch.__version__),
                     "cpu": platform.processor() or platform.machine(),
                     "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
                     "note": "synthetic in-memory cutouts, no shard I/O; variants timed in alternation, medians"}

    config, model, opt, images, ebv = build("small", args.batch_size, device)
    pipe = training_pipeline(config)
    gen = torch.Generator(device=device).manual_seed(0)
    n = images.shape[0]
    aug = compare(lambda: views_batched(pipe, images, ebv, gen), lambda: views_per_image(pipe, images, ebv, gen),
                  n, args.repeats, device)
    step = compare(train_step_fn(model, opt, pipe, images, ebv, device, views_batched),
                   train_step_fn(model, opt, pipe, images, ebv, device, views_per_image), n, args.repeats, device)
    results["small"] = {
        "batch": n, "cutout": images.shape[-1], "crop": config.crop,
        "augment_images_per_s": {"batched": aug["fast"], "per_image": aug["baseline"], "ratio": aug["ratio"]},
        "train_step_images_per_s": {"batched": step["fast"], "per_image": step["baseline"], "ratio": step["ratio"]},
    }
    for what, r in (("augment   ", aug), ("train step", step)):
        print(f"small    {what}  batched {r['fast']:8.1f} img/s  per-image {r['baseline']:8.1f} img/s  "
              f"x{r['ratio']:.2f}")

    if not args.skip_r50:
        fns = {}
        for layout in ("channels_last", "eager_fp32"):
            cl = layout == "channels_last"
            config, model, opt, images, ebv = build("resnet50", args.r50_batch, device, channels_last=cl)
            fns[layout] = train_step_fn(model, opt, training_pipeline(config), images, ebv, device, views_batched,
                                        channels_last=cl)
        r = compare(fns["channels_last"], fns["eager_fp32"], args.r50_batch, max(1, args.repeats // 2), device)
        results["resnet50"] = {"batch": args.r50_batch, "crop": 96, "train_step_images_per_s": {
            "channels_last": r["fast"], "eager_fp32": r["baseline"], "ratio": r["ratio"]}}
        print(f"resnet50 train step  channels_last {r['fast']:8.2f} img/s  eager fp32 {r['baseline']:8.2f} img/s  "
              f"x{r['ratio']:.2f}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
