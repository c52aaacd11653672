"""Fine-tuning (Stein et al. 2021, Section 3.3.4): the self-supervised encoder plus a linear head, trained together.

- Start from the query backbone of a MoCo checkpoint; the head (2048 -> 1) starts at random.
- SGD with momentum, lr 0.001 on the backbone (moved only slightly) and 0.01 on the head, BCE loss.
- The training set is the probe's (same labels, ratio, seed): every non-lens once per epoch, lenses drawn with
  replacement so that about ``positive_fraction`` (5 %) of each batch is a lens (the paper's oversampling).
- The training augmentations of the encoder (:func:`lensdb.encoder.transforms.training_pipeline`) on every draw, so
  each repeat of a lens is a new view; validation and scoring use the inference pipeline (centre crop + stretch).
- Model selection by TP@N on the validation set after each epoch; the best epoch is written to
  ``<out>/finetune-<hash>.pt`` and registered as a ``finetune`` model.

Cutouts of the training and validation sets are read once from the shards into memory as float16, cropped to
what the augmentations can reach; scoring streams every shard.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sqlalchemy import Engine
from torch import nn

from lensdb.catalog import queries
from lensdb.classifiers.config import FinetuneConfig
from lensdb.classifiers.metrics import default_top_n, top_n_report
from lensdb.core.errors import InvalidInput
from lensdb.core.filters import ObjectFilter
from lensdb.ingest.cutouts import read_cutouts

log = logging.getLogger(__name__)


class LensClassifier(nn.Module):
    """Backbone ((N, 3, crop, crop) stretched RGB -> (N, 2048)) and a linear head -> (N,) logits."""

    def __init__(self, backbone: nn.Module, dim: int = 2048):
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)).squeeze(1)


def cache_side(cutout: int, crop: int, jitter: int, margin: int) -> int:
    """Side of the cached cutouts: enough for a rotated jittered crop plus the blur margin, at most the cutout.

    The difference to the cutout stays even, so centre crops of the cache and of the cutout coincide.
    """
    side = min(cutout, math.ceil(math.sqrt(2) * (crop + 2 * jitter)) + 2 * margin)
    return side + ((cutout - side) % 2)


@dataclass
class Cutouts:
    """Images of a fixed set of objects: ids (n,), images (n, 3, S, S) float16 nanomaggies, ebv (n,) float32."""

    ids: np.ndarray
    images: torch.Tensor
    ebv: torch.Tensor


def load_cutouts(engine: Engine, ids: np.ndarray, side: int | None, max_gb: float) -> Cutouts:
    """Read the cutouts of ``ids`` from their shards (centre ``side`` pixels) and their E(B-V).

    Raises:
        InvalidInput: they would exceed ``max_gb`` GiB, or a shard cannot be read.
    """
    ids = np.asarray(ids, np.int64)
    need = len(ids) * 3 * (side or 152) ** 2 * 2 / 2**30
    if need > max_gb:
        raise InvalidInput(f"the cutouts of {len(ids)} objects need {need:.1f} GiB, over max_cache_gb={max_gb}; "
                           "lower the training or validation ratio, or raise --max-cache-gb")
    locations = queries.image_locations(engine, ids)
    images = np.empty((0,), np.float16)
    chunks = []
    for s in range(0, len(ids), 4096):
        chunks.append(read_cutouts(locations, ids[s:s + 4096], side, missing="raise").astype(np.float16))
    images = np.concatenate(chunks) if chunks else images
    ebv = queries.sources(engine, ids, ("ebv",))
    return Cutouts(ids, torch.from_numpy(images), torch.tensor([ebv[int(i)].ebv for i in ids], dtype=torch.float32))


def epoch_order(labels: np.ndarray, positive_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Positions for one epoch: every negative once, positives drawn ``p / (1 - p) * n_neg`` times in all
    (whole shuffled passes over the positives, then a random part of one), all shuffled together."""
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    draws = max(len(pos), int(round(positive_fraction / (1 - positive_fraction) * len(neg))))
    reps = [rng.permutation(pos) for _ in range(draws // len(pos))]
    reps.append(rng.permutation(pos)[: draws % len(pos)])
    order = np.concatenate([neg, *reps])
    return order[rng.permutation(len(order))]


@torch.no_grad()
def predict(model: LensClassifier, pipeline, images: torch.Tensor, device: torch.device, batch: int = 256,
            amp: bool = False) -> np.ndarray:
    """(n,) float32 logits of raw cutouts (n, 3, S, S) through the inference pipeline."""
    model.eval()
    out = np.empty(len(images), np.float32)
    for s in range(0, len(images), batch):
        x = pipeline(images[s:s + batch].to(device, non_blocking=True).float())
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            out[s:s + batch] = model(x).float().cpu().numpy()
    return out


@dataclass
class FitResult:
    """The best epoch's weights (CPU state dict), its validation logits, and every epoch's history."""

    state: dict
    best_epoch: int
    val_logits: np.ndarray
    top_n: int
    history: list[dict] = field(default_factory=list)


def fit(model: LensClassifier, train: Cutouts, train_y: np.ndarray, val: Cutouts,
        val_y: np.ndarray, config: FinetuneConfig, *, train_pipeline, eval_pipeline, device: torch.device,
        progress: bool = False) -> FitResult:
    """Train ``model`` by SGD with oversampled lenses; keep the epoch with the best validation TP@N."""
    top_n = config.top_n or default_top_n(len(val_y))
    params = [{"params": model.backbone.parameters(), "lr": config.lr_backbone},
              {"params": model.head.parameters(), "lr": config.lr_head}]
    opt = torch.optim.SGD(params, momentum=config.momentum, weight_decay=config.weight_decay)
    loss_fn = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng([config.seed, 2])
    gen = torch.Generator(device=device).manual_seed(config.seed)
    amp = device.type == "cuda"
    y_all = torch.from_numpy(train_y.astype(np.float32))
    best: FitResult | None = None
    history: list[dict] = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = epoch_order(train_y, config.positive_fraction, rng)
        steps = len(order) // config.batch_size or 1
        if config.max_steps:
            steps = min(steps, config.max_steps)
        t0, losses, seen_pos = time.perf_counter(), [], 0
        bar = _bar(progress, steps, f"fine-tune epoch {epoch}")
        for k in range(steps):
            idx = torch.from_numpy(order[k * config.batch_size:(k + 1) * config.batch_size])
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            x = train.images[idx].to(device, non_blocking=True).float()
            x = train_pipeline(x, ebv=train.ebv[idx].to(device), generator=gen)
            y = y_all[idx].to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = model(x).float()
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            seen_pos += int(y.sum())
            if bar:
                bar.set_postfix(loss=f"{losses[-1]:.4f}")
                bar.update(1)
        if bar:
            bar.close()
        val_logits = predict(model, eval_pipeline, val.images, device, config.score_batch, amp)
        rep = top_n_report(val_logits, val_y, top_n)
        entry = {"epoch": epoch, "loss": float(np.mean(losses)) if losses else float("nan"), "steps": steps,
                 "positive_share": seen_pos / max(1, steps * config.batch_size), "val_tp": rep.tp,
                 "val_precision": rep.precision, "seconds": time.perf_counter() - t0}
        history.append(entry)
        log.info("fine-tune epoch %d: loss %.4f, %.1f%% lenses per batch, TP@%d = %d, %.0f s", epoch, entry["loss"],
                 100 * entry["positive_share"], top_n, rep.tp, entry["seconds"])
        if best is None or rep.tp >= best.history[-1]["val_tp"]:
            best = FitResult({k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}, epoch,
                             val_logits, top_n, [entry])
    assert best is not None
    best.history = history
    model.load_state_dict(best.state)
    return best


def iter_survey(engine: Engine, flt: ObjectFilter | None = None, max_bytes: int = 64 << 20):
    """Yield (object ids (b,), raw cutouts (b, 3, S, S) float32) for every catalogued source with a shard (those
    passing ``flt``)."""
    from lensdb.ingest.reader import ShardReader

    for shard in queries.shards(engine):
        by_row = queries.shard_objects(engine, shard.id, flt)
        if not by_row:
            continue
        lookup = np.full(max(by_row) + 1, -1, np.int64)
        lookup[list(by_row)] = list(by_row.values())
        with ShardReader(shard.checked_path()) as reader:
            for start, images in reader.iter_images(max_bytes):
                pos = np.arange(start, start + len(images))
                inside = pos < len(lookup)
                keep = np.flatnonzero(inside)[lookup[pos[inside]] >= 0]
                if keep.size:
                    yield lookup[pos[keep]], np.asarray(images[keep], np.float32)


def _bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=False)


def clone_backbone(backbone: nn.Module) -> nn.Module:
    """A frozen copy of the starting backbone, to report how far fine-tuning moved it."""
    out = copy.deepcopy(backbone)
    for p in out.parameters():
        p.requires_grad_(False)
    return out
