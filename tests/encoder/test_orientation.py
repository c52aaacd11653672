"""Orientation averaging at embed time: exact invariance of the 8-fold mean to rotations and flips of the input, one
code path for Embedder and the embedding job's BatchEncoder, and its place in the encoder version."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from encoder_testdata import make_shard, tiny_config

from lensdb.cli import main
from lensdb.core.config import ConfigError
from lensdb.encoder.batch import BatchEncoder
from lensdb.encoder.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from lensdb.encoder.data import select_training_sample
from lensdb.encoder.inference import Embedder
from lensdb.encoder.moco import MoCo
from lensdb.encoder.orientation import averaged, orientation
from lensdb.encoder.whitening_fit import whiten_checkpoint


@pytest.fixture
def saved(tmp_path):
    """A tiny encoder with random weights (crop 32) and a shard of 40-px cutouts with off-centre, asymmetric light."""
    config = tiny_config()
    torch.manual_seed(0)
    model = MoCo.from_config(config)
    shard = make_shard(tmp_path / "s.h5", n=24, size=40)
    with h5py.File(shard, "r+") as f:  # a bright blob off the centre: every orientation is a different image
        f["images"][:, :, 14:18, 22:30] += np.float32(0.4)
        f["images"][:, 0, 10:13, 12:14] += np.float32(0.3)
    path = tmp_path / "ckpt.pt"
    sel = select_training_sample([shard], mag_z_max=30)
    version = save_checkpoint(path, Checkpoint(config, sel.to_state(), model.state_dict()))
    with h5py.File(shard, "r") as f:
        images = torch.from_numpy(f["images"][:])
    return path, version, shard, images


def every_orientation(images: torch.Tensor):
    """The 8 rotations/flips of whole cutouts, built independently of the module under test."""
    for flip in (False, True):
        x = images.flip(3) if flip else images
        for k in range(4):
            yield f"rot{90 * k}{'+flip' if flip else ''}", torch.rot90(x, k, dims=(2, 3))


def test_the_eight_views_are_the_symmetry_group_of_the_square():
    x = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).reshape(2, 3, 5, 5)
    views = [orientation(x, k) for k in range(8)]
    assert torch.equal(views[0], x)
    assert len({v.numpy().tobytes() for v in views}) == 8  # all distinct
    for _, g in every_orientation(x):  # each orientation of the input permutes the set of 8 views
        mine = {orientation(g, k).numpy().tobytes() for k in range(8)}
        assert mine == {v.numpy().tobytes() for v in views}


def test_eight_fold_average_is_invariant_to_any_rotation_or_flip_of_the_input(saved):
    path, _, _, images = saved
    plain = Embedder.from_checkpoint(path, "cpu")
    avg = Embedder.from_checkpoint(path, "cpu", orientations=8)
    reference = avg.embed(images)
    scale = float(reference.abs().max())
    for name, turned in every_orientation(images):
        got = avg.embed(turned.contiguous())
        torch.testing.assert_close(got, reference, atol=1e-5 * scale, rtol=1e-5, msg=name)
    # ... which the plain vectors are not: the test images do change under rotation.
    moved = (plain.embed(torch.rot90(images, 1, dims=(2, 3)).contiguous()) - plain.embed(images)).abs().max()
    assert float(moved) > 1e-2 * float(plain.embed(images).abs().max())
    # And the average is exactly the mean of the plain vectors of the 8 orientations.
    mean = torch.stack([plain.embed(t.contiguous()) for _, t in every_orientation(images)]).mean(0)
    torch.testing.assert_close(reference, mean, atol=1e-5 * scale, rtol=1e-5)


def test_embedding_job_and_embedder_share_the_averaging_and_the_whitening(saved):
    path, _, shard, images = saved
    version = whiten_checkpoint(path, [shard], sample=24, orientations=8)
    ckpt = load_checkpoint(path)
    assert ckpt.config.orientations == 8 and ckpt.version == version
    emb = Embedder.from_checkpoint(path, "cpu")  # the checkpoint's setting is the default
    assert emb.orientations == 8
    expected = emb.embed(images)
    torch.testing.assert_close(BatchEncoder(emb, batch_size=5)(images.numpy()), expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(BatchEncoder(emb, batch_size=7, check_finite=True)(images), expected,
                               atol=1e-4, rtol=1e-4)
    # The whitening was fitted on averaged vectors: they come out with a mean of ~0.
    assert float(emb.embed(images).mean(0).abs().max()) < 1e-3 * float(expected.abs().max())


def test_orientations_are_part_of_the_version_and_checked(saved, tmp_path):
    path, version, shard, _ = saved
    plain = Embedder.from_checkpoint(path, "cpu")
    avg = Embedder.from_checkpoint(path, "cpu", orientations=8)
    assert plain.version == version and avg.version != version and avg.version.startswith("small_")
    assert Embedder.from_checkpoint(path, "cpu", orientations=1).version == version
    # The same version as a checkpoint that stores orientations=8 with the same weights.
    ckpt = load_checkpoint(path)
    other = tmp_path / "o8.pt"
    ckpt.config = tiny_config(orientations=8)
    assert save_checkpoint(other, ckpt) == avg.version
    with pytest.raises(ConfigError, match="orientations must be 1"):
        tiny_config(orientations=4)
    with pytest.raises(ValueError, match="orientations must be 1"):
        Embedder.from_checkpoint(path, "cpu", orientations=2)
    with pytest.raises(ValueError, match="orientations must be 1"):
        averaged(lambda x: x.flatten(1), torch.zeros(1, 3, 4, 4), 3)


def test_cli_sets_the_orientations_of_a_checkpoint_and_refuses_bad_ones(saved, capsys):
    path, version, shard, _ = saved
    base = ["--data-dir", str(path.parent / "data"), "encoder", "whiten", str(path), str(shard), "--sample", "24",
            "--device", "cpu"]
    with pytest.raises(SystemExit) as exc:
        main([*base, "--orientations", "4"])
    assert exc.value.code == 2 and "invalid choice: 4" in capsys.readouterr().err
    assert load_checkpoint(path).version == version
    assert main([*base, "--orientations", "8"]) == 0
    assert load_checkpoint(path).config.orientations == 8
