"""Fine-tuning on a tiny encoder and shard: oversampling, selection, the stored network, scoring into predictions."""

import h5py
import numpy as np
import pytest
import torch
from clf_helpers import add_labels, add_sources
from sqlalchemy import text

from lensdb.classifiers.config import FinetuneConfig
from lensdb.classifiers.features import ArrayFeatures
from lensdb.classifiers.finetune import cache_side, epoch_order
from lensdb.classifiers.finetune_job import load_finetuned, run_finetune, score_finetuned
from lensdb.classifiers.registry import get_model
from lensdb.core.errors import InvalidInput
from lensdb.encoder.backbones import build_backbone
from lensdb.encoder.checkpoint import Checkpoint, save_checkpoint
from lensdb.encoder.config import AugmentConfig, EncoderConfig

N, N_LENS, SIZE = 160, 12, 48


def _checkpoint(path):
    cfg = EncoderConfig(preset="small", backbone="resnet18_narrow", width=4, crop=32, head_hidden=16, head_dim=8,
                        queue_size=16, batch_size=8, epochs=1, precision="fp32", num_workers=0,
                        augment=AugmentConfig(jitter=4, margin=4))
    torch.manual_seed(0)
    state = {f"encoder_q.{k}": v for k, v in build_backbone(cfg).state_dict().items()}
    return save_checkpoint(path, Checkpoint(cfg, {"digest": "test"}, state))


def _shard(path):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:SIZE, :SIZE] - (SIZE - 1) / 2
    r = np.hypot(yy, xx)
    images = 0.002 * rng.standard_normal((N, 3, SIZE, SIZE)) + 0.3 * np.exp(-(r**2) / 8)
    ring = 0.2 * np.exp(-((r - 9) ** 2) / 2)
    images[:N_LENS, 0] += ring  # lenses: a blue (g-band) ring around the galaxy
    with h5py.File(path, "w") as f:
        f["images"] = images.astype(np.float32)


def test_epoch_order_oversamples_lenses_to_the_asked_share():
    labels = np.r_[np.ones(10, np.uint8), np.zeros(1900, np.uint8)]
    order = epoch_order(labels, 0.05, np.random.default_rng(0))
    assert np.array_equal(np.sort(order[labels[order] == 0]), np.arange(10, 1910))  # non-lenses once each
    share = labels[order].mean()
    assert share == pytest.approx(0.05, abs=0.001)
    counts = np.bincount(order[labels[order] == 1])
    assert counts.min() >= 9 and counts.max() <= 11  # ~10 repeats each, with different augmentations


def test_cache_side_keeps_the_centre():
    assert cache_side(152, 64, 7, 8) == 128 and (152 - 128) % 2 == 0
    assert cache_side(152, 96, 7, 8) == 152


def test_finetune_trains_stores_and_scores(engine, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    version = _checkpoint(ckpt)
    _shard(tmp_path / "shard.h5")
    ids = add_sources(engine, N, shard_path=tmp_path / "shard.h5", cutout=SIZE)
    add_labels(engine, "known", lenses=ids[:N_LENS])
    vectors = np.random.default_rng(1).standard_normal((N, 8)).astype(np.float32)
    vectors[:N_LENS, 0] += 3
    config = FinetuneConfig(ratio=8, val_ratio=8, survey=None, mag_z_max=None, epochs=2, batch_size=16,
                            max_steps=3, positive_fraction=0.25, top_n=4, device="cpu", score_batch=64)
    run = run_finetune(engine, config, checkpoint=ckpt, out_dir=tmp_path / "ft", name="ft1",
                       baseline=ArrayFeatures(ids, vectors, version), export=True, n=10)
    model = get_model(engine, "ft1")
    assert model.kind == "finetune" and model.encoder_version == version
    assert model.params["lr_backbone"] == 0.001 and model.params["lr_head"] == 0.01
    m = model.metrics
    assert m["epochs_run"] == 2 and m["history"][0]["steps"] == 3 and m["top_n"] == 4
    assert 0.1 < m["history"][0]["positive_share"] < 0.45
    assert 0 < m["backbone_relative_change"] < 0.5 and "frozen_probe" in m
    assert model.training_set["n_train_pos"] == 8 and model.training_set["val_ratio_achieved"] == 8
    assert run.score.written == N and len(run.score.sheets) == 1 and run.score.tsv.exists()
    with engine.connect() as conn:
        first = conn.execute(text("SELECT object_id, score FROM predictions p JOIN sources s USING (object_id) "
                                  "WHERE p.model_id = :m ORDER BY p.rank"), {"m": model.id}).all()
    assert len(first) == N
    net, enc = load_finetuned(model, torch.device("cpu"))
    assert enc.crop == 32
    again = score_finetuned(engine, model, config=config)
    with engine.connect() as conn:
        second = conn.execute(text("SELECT object_id, score FROM predictions WHERE model_id = :m ORDER BY rank"),
                              {"m": model.id}).all()
    assert again.written == N and [r[0] for r in second] == [r[0] for r in first]
    assert np.allclose([r[1] for r in second], [r[1] for r in first], atol=1e-5)


def test_finetune_refuses_small_cutouts(sqlite_engine, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    _checkpoint(ckpt)
    ids = add_sources(sqlite_engine, 20, cutout=36)
    add_labels(sqlite_engine, "known", lenses=ids[:4])
    with pytest.raises(InvalidInput, match="at least 40 px"):
        run_finetune(sqlite_engine, FinetuneConfig(survey=None, mag_z_max=None), checkpoint=ckpt,
                     out_dir=tmp_path)
