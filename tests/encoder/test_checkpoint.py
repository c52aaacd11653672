"""Checkpoint round trip, the version hash, loading for inference, and clear errors for damaged files."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from encoder_testdata import make_shard, tiny_config

from lensdb.core.errors import Conflict, InvalidInput, NotFound
from lensdb.encoder.checkpoint import (
    Checkpoint,
    CorruptCheckpoint,
    encoder_version,
    load_checkpoint,
    load_state,
    save_checkpoint,
)
from lensdb.encoder.data import select_training_sample
from lensdb.encoder.inference import Embedder, load_encoder
from lensdb.encoder.moco import MoCo
from lensdb.encoder.transforms import inference_pipeline


@pytest.fixture
def saved(tmp_path):
    config = tiny_config()
    torch.manual_seed(0)
    model = MoCo.from_config(config)
    opt = torch.optim.SGD(model.query_parameters(), lr=0.1, momentum=0.9)
    shard = make_shard(tmp_path / "s.h5", n=16, size=40)
    sel = select_training_sample([shard], mag_z_max=30)
    ckpt = Checkpoint(config, sel.to_state(), model.state_dict(), opt.state_dict(), step=7, losses=[3.0, 2.5],
                      meta={"world_size": 1})
    path = tmp_path / "ckpt.pt"
    version = save_checkpoint(path, ckpt)
    return path, version, config, model, sel


def test_round_trip_keeps_everything(saved):
    path, version, config, model, sel = saved
    assert re.fullmatch(r"small_[0-9a-f]{12}", version)
    back = load_checkpoint(path)
    assert back.config == config and back.version == version and back.step == 7
    assert back.losses == [3.0, 2.5] and back.complete is False
    assert back.selection["digest"] == sel.digest and back.meta["world_size"] == 1
    for k, v in model.state_dict().items():
        assert torch.equal(back.model[k], v), k
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write cleaned up


def test_version_depends_on_backbone_weights_only(saved):
    _, version, config, model, _ = saved
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["queue"].zero_()  # the queue and heads do not change the representation
    assert encoder_version(config, state) == version
    state["encoder_q.stem.0.weight"][0, 0, 0, 0] += 1e-3
    assert encoder_version(config, state) != version


def test_embedder_turns_raw_images_into_2048_d_vectors(saved):
    path, version, config, model, _ = saved
    emb = load_encoder(path, device="cpu")
    assert emb.version == version and emb.dim == 2048 and emb.crop == 32
    images = np.random.default_rng(0).uniform(0, 0.1, (5, 3, 40, 40)).astype(np.float16)
    vectors = emb.embed(images, batch_size=2)
    assert vectors.shape == (5, 2048) and vectors.dtype == torch.float32
    model.eval()
    with torch.no_grad():
        expected = model.encoder_q(inference_pipeline(32)(torch.from_numpy(images).float()))
    torch.testing.assert_close(vectors, expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(InvalidInput, match="too small"):
        emb.embed(np.zeros((1, 3, 20, 20), np.float32))
    assert isinstance(Embedder.from_checkpoint(path, "cpu"), Embedder)


def test_truncated_checkpoint_is_rejected_clearly(saved, tmp_path):
    path = saved[0]
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptCheckpoint, match="truncated or corrupt"):
        load_checkpoint(cut)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CorruptCheckpoint, match="not a readable encoder checkpoint"):
        load_checkpoint(junk)
    with pytest.raises(NotFound):
        load_checkpoint(tmp_path / "missing.pt")


def test_wrong_keys_and_tampered_tensors_are_rejected(saved, tmp_path):
    path = saved[0]
    payload = torch.load(path, weights_only=True)
    bad = tmp_path / "bad.pt"

    torch.save({"state_dict": payload["model"]}, bad)  # someone else's checkpoint layout
    with pytest.raises(CorruptCheckpoint, match="not a LensDB encoder checkpoint"):
        load_checkpoint(bad)

    torch.save({k: v for k, v in payload.items() if k != "selection"}, bad)
    with pytest.raises(CorruptCheckpoint, match="lacks key.*selection"):
        load_checkpoint(bad)

    tampered = dict(payload, model={k: v.clone() for k, v in payload["model"].items()})
    tampered["model"]["encoder_q.stem.0.weight"].mul_(1.01)
    torch.save(tampered, bad)
    with pytest.raises(CorruptCheckpoint, match="do not match the recorded version"):
        load_checkpoint(bad)

    torch.save(dict(payload, config={**payload["config"], "no_such_key": 1}), bad)
    with pytest.raises(CorruptCheckpoint, match="invalid encoder config"):
        load_checkpoint(bad)

    torch.save(dict(payload, format_version=99), bad)
    with pytest.raises(Conflict, match="upgrade"):
        load_checkpoint(bad)


def test_state_that_does_not_fit_the_model_is_a_clear_error(saved):
    path, _, config, _, _ = saved
    ckpt = load_checkpoint(path)
    state = dict(ckpt.model)
    state["head_q.9.weight"] = state.pop("head_q.0.weight")
    torch.manual_seed(0)
    with pytest.raises(CorruptCheckpoint, match="does not fit"):
        load_state(MoCo.from_config(config), state, "test state")
