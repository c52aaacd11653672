"""The representation's whitening: the fit's algebra, its place in checkpoints and versions, the embedding paths
that apply it, the CLI, and clear errors that leave the checkpoint as it was."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from encoder_testdata import make_shard, tiny_config

from lensdb.cli import main
from lensdb.core.errors import InvalidInput
from lensdb.encoder.batch import BatchEncoder
from lensdb.encoder.checkpoint import Checkpoint, CorruptCheckpoint, load_checkpoint, save_checkpoint
from lensdb.encoder.data import select_training_sample
from lensdb.encoder.inference import Embedder
from lensdb.encoder.moco import MoCo
from lensdb.encoder.train import train
from lensdb.encoder.whitening import Whitening, fit_whitening
from lensdb.encoder.whitening_fit import sample_cutouts, sample_rows, whiten_checkpoint


def anisotropic(n=4000, scales=(100.0, 10.0, 1.0, 0.1, 0.01), seed=0):
    """Correlated vectors whose covariance has eigenvalues scales**2, rotated off the axes, with an offset."""
    rng = np.random.default_rng(seed)
    rot, _ = np.linalg.qr(rng.normal(size=(len(scales), len(scales))))
    return (rng.normal(size=(n, len(scales))) * scales) @ rot.T + 5.0


def test_fit_shrinks_every_direction_to_the_expected_variance():
    x = anisotropic()
    w = fit_whitening(x, shrinkage=0.1)
    assert w.n_fit == len(x) and w.shrinkage == 0.1
    torch.testing.assert_close(w.matrix, w.matrix.T)  # ZCA: symmetric
    y = w.apply(torch.as_tensor(x)).double()
    assert torch.allclose(y.mean(0), torch.zeros(5, dtype=torch.float64), atol=1e-3)
    lam = np.linalg.eigvalsh(np.cov(x.T, bias=True))
    expected = np.sort(lam / (lam + 0.1 * lam.mean()))  # each direction's variance after whitening
    got = np.linalg.eigvalsh(np.cov(y.numpy().T, bias=True))
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-6)
    # The two strongest directions differed 100-fold in variance and now 3-fold; the noise-level ones stay damped.
    assert lam[-1] / lam[-2] > 90 and got[-1] / got[-2] < 3.1 and got.max() < 1.0 and got.min() < 1e-3


def test_apply_is_the_documented_affine_map_and_state_round_trips():
    x = anisotropic(n=500)
    w = fit_whitening(x)
    t = torch.as_tensor(x, dtype=torch.float32)
    torch.testing.assert_close(w.apply(t), (t - w.mean) @ w.matrix)
    back = Whitening.from_state(w.to_state(), 5)
    assert torch.equal(back.matrix, w.matrix) and back.n_fit == 500 and back.shrinkage == w.shrinkage


@pytest.mark.parametrize(
    ("vectors", "shrinkage", "match"),
    [
        (np.ones((1, 4)), 0.1, "N >= 2"),
        (np.ones(4), 0.1, "N >= 2"),
        (np.array([[1.0, np.nan], [0.0, 1.0]]), 0.1, "NaN"),
        (np.ones((6, 4)), 0.1, "every sampled vector is the same"),
        (np.eye(4), 0.0, "shrinkage must be > 0"),
        (np.eye(4), -1.0, "shrinkage must be > 0"),
    ],
)
def test_fit_refuses_what_it_cannot_whiten(vectors, shrinkage, match):
    with pytest.raises(InvalidInput, match=match):
        fit_whitening(vectors, shrinkage)


def test_state_with_wrong_shapes_or_values_is_refused():
    w = fit_whitening(anisotropic(n=100)).to_state()
    with pytest.raises(InvalidInput, match=r"mean must be a \(4,\)"):
        Whitening.from_state(w, 4)
    with pytest.raises(InvalidInput, match="needs mean"):
        Whitening.from_state({"mean": w["mean"]}, 5)
    with pytest.raises(InvalidInput, match="NaN"):
        Whitening.from_state(dict(w, matrix=w["matrix"] * np.nan), 5)


@pytest.fixture
def saved(tmp_path):
    """An untrained tiny encoder's checkpoint and a shard of 40-px cutouts (crop 32)."""
    config = tiny_config()
    torch.manual_seed(0)
    model = MoCo.from_config(config)
    shard = make_shard(tmp_path / "s.h5", n=24, size=40)
    sel = select_training_sample([shard], mag_z_max=30)
    path = tmp_path / "ckpt.pt"
    version = save_checkpoint(path, Checkpoint(config, sel.to_state(), model.state_dict()))
    return path, version, shard


def test_whitened_checkpoint_is_a_new_version_whose_vectors_are_whitened(saved):
    path, raw_version, shard = saved
    raw = Embedder.from_checkpoint(path, "cpu")
    assert raw.whitening is None
    version = whiten_checkpoint(path, [shard], sample=20, shrinkage=0.2, seed=1)
    assert version != raw_version and version.startswith("small_")
    ckpt = load_checkpoint(path)
    assert ckpt.version == version and ckpt.whitening["n_fit"] == 20
    assert ckpt.meta["whitening"] == {"objects": 20, "shrinkage": 0.2, "seed": 1, "shards": 1}
    emb = Embedder.from_checkpoint(path, "cpu")
    assert emb.version == version and emb.whitening is not None
    with h5py.File(shard, "r") as f:
        images = f["images"][:]
    expected = emb.whitening.apply(raw.embed(images))
    torch.testing.assert_close(emb.embed(images), expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(emb.embed(images, whiten=False), raw.embed(images))
    torch.testing.assert_close(BatchEncoder(emb, batch_size=5)(images), expected, atol=1e-4, rtol=1e-4)
    # Re-fitting starts from the raw backbone again (not from the whitened vectors): same sample, same result.
    assert whiten_checkpoint(path, [shard], sample=20, shrinkage=0.2, seed=1) == version


def test_tampered_or_damaged_whitening_is_rejected(saved, tmp_path):
    path, _, shard = saved
    whiten_checkpoint(path, [shard], sample=16)
    payload = torch.load(path, weights_only=True)
    bad = tmp_path / "bad.pt"
    tampered = dict(payload, whitening=dict(payload["whitening"], matrix=payload["whitening"]["matrix"] * 1.01))
    torch.save(tampered, bad)
    with pytest.raises(CorruptCheckpoint, match="do not match the recorded version"):
        load_checkpoint(bad)
    torch.save(dict(payload, whitening=dict(payload["whitening"], matrix=torch.zeros(3, 3))), bad)
    with pytest.raises(CorruptCheckpoint, match="damaged whitening"):
        load_checkpoint(bad)


def test_bad_sample_leaves_the_checkpoint_as_it_was(saved, tmp_path):
    path, version, shard = saved
    before = path.read_bytes()
    with h5py.File(shard, "r") as f:
        images = f["images"][:]
    images[12:, 1, 20, 20] = np.nan  # every row from 12 on
    nan_shard = tmp_path / "nan.h5"
    with h5py.File(shard, "r") as src, h5py.File(nan_shard, "w") as dst:
        for key in src:
            src.copy(key, dst)
        dst["images"][...] = images
    first_bad = int(sample_rows(24, 10, seed=0)[sample_rows(24, 10, seed=0) >= 12][0])
    with pytest.raises(InvalidInput, match=rf"NaN or infinite pixels.*first at row {first_bad}, band r"):
        whiten_checkpoint(path, [nan_shard], sample=10)  # the shard's own row, not the row's place in the sample
    small = make_shard(tmp_path / "small.h5", n=8, size=24)
    with pytest.raises(InvalidInput, match="smaller than the encoder's 32-px crop"):
        whiten_checkpoint(path, [small], sample=8)
    with pytest.raises(InvalidInput, match="at least 2 objects"):
        whiten_checkpoint(path, [shard], sample=1)
    with pytest.raises(InvalidInput, match="give at least one shard"):
        sample_cutouts([], 10, 32)
    assert path.read_bytes() == before and load_checkpoint(path).version == version


def test_sample_is_uniform_over_all_rows_and_seeded(tmp_path):
    a = make_shard(tmp_path / "a.h5", n=30, size=40, seed=1)
    b = make_shard(tmp_path / "b.h5", n=10, size=40, seed=2, brick=2)
    one = sample_cutouts([a, b], 25, 32, seed=4)
    assert one.shape == (25, 3, 32, 32) and one.dtype == np.float32
    np.testing.assert_array_equal(one, sample_cutouts([a, b], 25, 32, seed=4))
    everything = sample_cutouts([a, b], 1000, 32)
    assert everything.shape[0] == 40  # capped at the rows there are, from both shards


def test_training_ends_with_a_whitening_unless_told_not_to(tmp_path):
    shard = make_shard(tmp_path / "images_npix64_000000000_000000032.h5", n=32, size=64)
    done = train(tiny_config(), [shard], tmp_path / "a", progress=False)
    ckpt = load_checkpoint(tmp_path / "a" / "checkpoint.pt")
    assert ckpt.whitening is not None and ckpt.version == done.version
    assert ckpt.meta["whitening"]["objects"] == 32  # every row of the shard, not only the training selection
    before = (tmp_path / "a" / "checkpoint.pt").read_bytes()
    again = train(tiny_config(), [], tmp_path / "a", progress=False, resume=tmp_path / "a" / "checkpoint.pt")
    assert again.version == done.version  # a complete, whitened run resumed: nothing to train, nothing refitted
    assert (tmp_path / "a" / "checkpoint.pt").read_bytes() == before
    plain = train(tiny_config(whiten_sample=0), [shard], tmp_path / "b", progress=False)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.pt").whitening is None
    assert plain.version != done.version  # same weights (same seed), but another function from images to vectors


def test_cli_whitens_and_reports_clear_errors(saved, capsys):
    path, version, shard = saved
    base = ["--data-dir", str(path.parent / "data"), "encoder"]
    assert main([*base, "whiten", str(path), str(shard), "--shrinkage", "0"]) == 2
    assert "shrinkage must be > 0" in capsys.readouterr().err
    assert load_checkpoint(path).version == version
    assert main([*base, "whiten", str(path), str(shard), "--sample", "24", "--device", "cpu"]) == 0
    new = capsys.readouterr().out
    assert main([*base, "info", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["whitened"] is True and info["version"] in new and info["version"] != version
