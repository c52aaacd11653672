"""Fitting the whitening of an encoder checkpoint (:mod:`lensdb.encoder.whitening`) on a random sample of a survey's
cutouts, and writing it into the checkpoint: what ``lensdb encoder whiten`` and the end of training run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from lensdb.core.config import ConfigError
from lensdb.core.errors import InvalidInput
from lensdb.encoder.checkpoint import load_checkpoint, save_checkpoint
from lensdb.encoder.inference import Embedder
from lensdb.encoder.whitening import DEFAULT_SAMPLE, DEFAULT_SHRINKAGE, fit_whitening
from lensdb.ingest.reader import ShardReader


def sample_rows(total: int, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of a uniform random sample of ``min(n, total)`` of ``total`` rows (rows counted through
    the shards in order)."""
    return np.sort(np.random.default_rng(seed).choice(total, min(n, total), replace=False))


def sample_cutouts(shards: Sequence[str | Path], n: int, crop: int, seed: int = 0) -> np.ndarray:
    """A uniform random sample of up to ``n`` centre crops (crop x crop) from all rows of ``shards``.

    Returns (M, 3, crop, crop) float32 nanomaggies, M = min(n, rows), in shard order.

    Raises:
        InvalidInput: no shards, no rows, or cutouts smaller than ``crop``.
    """
    if not shards:
        raise InvalidInput("give at least one shard to sample the whitening from")
    rows = []
    for path in shards:
        with ShardReader(path) as reader:
            held, size = reader.image_shape()
        if size < crop:
            raise InvalidInput(f"{path}: cutouts of {size} px are smaller than the encoder's {crop}-px crop")
        rows.append(held)
    total = int(sum(rows))
    if total == 0:
        raise InvalidInput("the shards hold no images to fit the whitening on")
    pick = sample_rows(total, n, seed)
    out, start = [], 0
    for path, count in zip(shards, rows, strict=True):
        mine = pick[(pick >= start) & (pick < start + count)] - start
        start += count
        if mine.size:
            with ShardReader(path) as reader:
                out.append(reader.cutouts(mine, crop))  # a NaN pixel is named by the shard's own row
    return np.concatenate(out)


def whiten_checkpoint(path: str | Path, shards: Sequence[str | Path], sample: int = DEFAULT_SAMPLE,
                      shrinkage: float = DEFAULT_SHRINKAGE, device: str | torch.device = "cpu", seed: int = 0,
                      batch_size: int = 256, orientations: int | None = None) -> str:
    """Fit the whitening of a checkpoint's backbone on ``sample`` random objects of ``shards`` and write it into
    the checkpoint (atomically, replacing any earlier whitening). Returns the new encoder version.

    ``orientations`` (1 or 8; None = the checkpoint's) is stored in the checkpoint's config too: the whitening is fitted
    on the vectors that setting gives (:mod:`lensdb.encoder.orientation`), and every later embedding uses it.

    Raises:
        InvalidInput: ``sample`` < 2, bad shrinkage, shards without rows, cutouts smaller than the crop, NaN pixels.
        NotFound, CorruptCheckpoint: as :func:`lensdb.encoder.checkpoint.load_checkpoint`.
    """
    if sample < 2:
        raise InvalidInput(f"the whitening needs a sample of at least 2 objects, got {sample}")
    if not shrinkage > 0:
        raise InvalidInput(f"whitening shrinkage must be > 0, got {shrinkage}")
    ckpt = load_checkpoint(path)
    if orientations is not None and orientations != ckpt.config.orientations:
        try:
            ckpt.config = dataclasses.replace(ckpt.config, orientations=orientations)
        except ConfigError as exc:
            raise InvalidInput(str(exc)) from exc
    embedder = Embedder.from_loaded(ckpt, device, what=f"checkpoint {path}")
    images = sample_cutouts([Path(s) for s in shards], sample, embedder.crop, seed)
    raw = embedder.embed(images, batch_size=batch_size, whiten=False)  # whatever the checkpoint held
    fitted = fit_whitening(raw, shrinkage)
    ckpt.whitening = fitted.to_state()
    ckpt.meta = {**ckpt.meta, "whitening": {"objects": fitted.n_fit, "shrinkage": shrinkage, "seed": seed,
                                            "shards": len(shards)}}
    version = save_checkpoint(path, ckpt)
    logging.getLogger("lensdb.encoder").info(
        "whitening fitted on %d objects (shrinkage %g): encoder %s in %s", fitted.n_fit, shrinkage, version, path)
    return version
