"""Tiny shards and configs for the encoder tests (small random positive images, valid catalogue columns)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lensdb.encoder.config import AugmentConfig, EncoderConfig
from lensdb.ingest.schema import write_shard


def make_shard(path: str | Path, n: int = 32, size: int = 64, seed: int = 0, *, survey=None, mag_z=None,
               use_flux: bool = False, dtype=np.float32, release: int = 9010, brick: int = 1) -> Path:
    """A shard of ``n`` galaxies: a Gaussian blob on faint positive sky, catalogue columns of the schema.

    Args:
        survey: per-row survey names (default all south); written as the ``survey`` column.
        mag_z: per-row z magnitudes (default uniform 16-21.5); written as ``flux`` when ``use_flux``.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    width = rng.uniform(2.0, 6.0, n)[:, None, None, None]
    amp = rng.uniform(0.05, 0.5, (n, 3))[:, :, None, None]
    images = amp * np.exp(-(xx**2 + yy**2) / (2 * width**2)) + rng.uniform(0.0, 0.01, (n, 3, size, size))
    mag_z = rng.uniform(16.0, 21.5, n) if mag_z is None else np.asarray(mag_z, float)
    survey = np.array(["south"] * n if survey is None else survey)
    cols = {
        "ra": rng.uniform(0, 360, n), "dec": rng.uniform(-30, 30, n),
        "release": np.full(n, release, np.int64), "brickid": np.full(n, brick, np.int64),
        "objid": np.arange(n, dtype=np.int64),
        "ebv": rng.uniform(0.01, 0.1, n).astype(np.float32),
        "psfsize": rng.uniform(1.0, 1.6, (n, 3)), "psfdepth": rng.uniform(100, 1000, (n, 3)),
        "source_type": np.array(["EXP"] * n), "survey": survey,
    }
    if use_flux:
        flux = 10 ** ((22.5 - np.stack([mag_z + 1, mag_z + 0.5, mag_z], 1)) / 2.5)
        cols["flux"] = flux
    else:
        cols.update(mag_g=mag_z + 1, mag_r=mag_z + 0.5, mag_z=mag_z)
    return write_shard(path, images.astype(dtype), cols)


def tiny_config(**overrides) -> EncoderConfig:
    """A MoCo configuration that trains a step in well under a second on one CPU core."""
    values = dict(preset="small", backbone="resnet18_narrow", width=4, crop=32, head_hidden=32, head_dim=16,
                  queue_size=32, bn_splits=2, lr=0.05, lr_batch=8, batch_size=8, epochs=1, precision="fp32",
                  mag_z_max=30.0, num_workers=0, checkpoint_every=100, log_every=1, warmup_steps=0,
                  augment=AugmentConfig(jitter=4, margin=4))
    values.update(overrides)
    return EncoderConfig(**values)


def ddp_worker(rank: int, world: int, port: int, shard: str, out: str, result_dir: str) -> None:
    """One process of a CPU (gloo) DDP run, as torchrun would start it; saves its final weights for comparison."""
    import os

    import torch

    from lensdb.encoder.train import train

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    result = train(tiny_config(epochs=2), [shard], out, progress=False, threads=1, device="cpu")
    torch.save(result.model.state_dict(), f"{result_dir}/rank{rank}.pt")
