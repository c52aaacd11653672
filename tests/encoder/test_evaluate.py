"""The lens-enrichment measure behind the encoder benchmark and the demo's "did it learn?" check."""

import numpy as np
import pytest
import torch
from encoder_testdata import tiny_config

from lensdb.core.errors import InvalidInput
from lensdb.encoder.backbones import build_backbone
from lensdb.encoder.evaluate import centre, invariant_projection, lens_enrichment, pca, pixel_features
from lensdb.encoder.inference import Embedder


def clustered(n=400, n_lens=40, dim=16, spread=0.05, seed=0):
    """Lenses around one direction, everything else around another: perfect neighbours."""
    rng = np.random.default_rng(seed)
    is_lens = np.zeros(n, bool)
    is_lens[:n_lens] = True
    x = rng.normal(0, spread, (n, dim))
    x[is_lens, 0] += 1.0
    x[~is_lens, 1] += 1.0
    return x, is_lens


def test_lens_neighbours_of_clustered_lenses_are_lenses():
    x, is_lens = clustered()
    r = lens_enrichment(centre(x), is_lens, np.flatnonzero(is_lens), k=20)
    assert r.mean_fraction == 1.0 and r.base_rate == pytest.approx(0.1) and r.enrichment == pytest.approx(10.0)
    # k beyond the other lenses: 39 of 50 neighbours can be lenses (the query itself is excluded)
    assert lens_enrichment(centre(x), is_lens, np.flatnonzero(is_lens), k=50).mean_fraction == pytest.approx(39 / 50)


def test_random_vectors_give_the_base_rate():
    rng = np.random.default_rng(1)
    is_lens = rng.random(4000) < 0.1
    r = lens_enrichment(centre(rng.normal(size=(4000, 32))), is_lens, np.flatnonzero(is_lens), k=100)
    assert r.mean_fraction == pytest.approx(r.base_rate, abs=4 * r.stderr + 0.005)


def test_magnitude_window_restricts_the_neighbours():
    x, is_lens = clustered()
    mags = np.where(np.arange(len(x)) % 2 == 0, 18.0, 21.0)  # half the lenses sit 3 mag away from the other half
    queries = np.flatnonzero(is_lens)
    r = lens_enrichment(centre(x), is_lens, queries, k=30, mags=mags, mag_window=0.5)
    assert r.mean_fraction == pytest.approx(19 / 30)  # only the 19 other lenses at the same magnitude qualify


def test_bad_input_is_named():
    x, is_lens = clustered()
    with pytest.raises(InvalidInput, match="must be a non-empty list of indices of lenses"):
        lens_enrichment(x, is_lens, np.array([len(x) - 1]), k=5)  # not a lens
    with pytest.raises(InvalidInput, match="k=400 must lie in 1..399"):
        lens_enrichment(x, is_lens, np.array([0]), k=400)
    with pytest.raises(InvalidInput, match="disagree"):
        lens_enrichment(x, is_lens[:-1], np.array([0]), k=5)
    with pytest.raises(InvalidInput, match="mag_window needs mags"):
        lens_enrichment(x, is_lens, np.array([0]), k=5, mag_window=0.5)


def test_centre_gives_unit_rows_about_the_mean():
    x = np.random.default_rng(2).normal(3.0, 1.0, (50, 8))
    c = centre(x)
    assert np.allclose(np.linalg.norm(c, axis=1), 1.0)
    assert np.allclose(centre(x, np.zeros(8)), x / np.linalg.norm(x, axis=1, keepdims=True))


def test_pixel_pca_shapes():
    images = np.random.default_rng(3).uniform(0, 0.2, (30, 3, 40, 40)).astype(np.float32)
    feats = pixel_features(images, 32)
    assert feats.shape == (30, 3 * 32 * 32) and np.isfinite(feats).all()
    assert pca(feats, 8).shape == (30, 8)
    assert pca(feats, 100).shape == (30, 30)  # no more components than objects


def test_invariant_projection_finds_directions_that_survive_augmentation():
    config = tiny_config()
    torch.manual_seed(0)
    emb = Embedder(build_backbone(config), config, "test", "cpu")
    rng = np.random.default_rng(4)
    size = config.crop + 2 * (config.augment.jitter + config.augment.margin)
    images = rng.uniform(0, 0.05, (80, 3, size, size)).astype(np.float32)
    images[:40] += 0.5  # two kinds of object that no augmentation confuses: bright and faint
    mean, proj = invariant_projection(emb, images, np.full(80, 0.02, np.float32), dims=4, n=80)
    assert mean.shape == (emb.dim,) and proj.shape == (emb.dim, 4)
    z = (emb.embed(images).numpy() - mean) @ proj[:, 0]
    assert (np.sign(z[:40]) == np.sign(z[0])).all() and (np.sign(z[40:]) == -np.sign(z[0])).all()
    # A whitened embedder gives the same projection: it is always of the raw backbone, whose views it compares.
    from lensdb.encoder.whitening import fit_whitening

    emb.whitening = fit_whitening(rng.normal(size=(100, emb.dim)), 0.1)
    mean_w, proj_w = invariant_projection(emb, images, np.full(80, 0.02, np.float32), dims=4, n=80)
    np.testing.assert_allclose(mean_w, mean, rtol=1e-5)
    np.testing.assert_allclose(np.abs(proj_w), np.abs(proj), rtol=1e-3, atol=1e-6)


def test_three_way_whitens_every_representation_alike():
    from lensdb.encoder.evaluate import three_way
    from lensdb.encoder.whitening import fit_whitening

    rng = np.random.default_rng(0)
    images = rng.uniform(0, 0.1, (60, 3, 40, 40)).astype(np.float32)
    images[:10, :, 14:26, 14:26] += 0.5  # the "lenses": a bright centre
    is_lens = np.arange(60) < 10
    torch.manual_seed(1)
    config = tiny_config()
    emb = Embedder(build_backbone(config), config, "test")
    raw = three_way(emb, images, is_lens, np.arange(10), k=5, pca_components=4, shrinkage=None)
    fitted = three_way(emb, images, is_lens, np.arange(10), k=5, pca_components=4)
    assert set(raw) == set(fitted) == {"learned", "random", "pixels"}
    # No whitening of its own: the learned vectors are whitened by a fit to these cutouts, like the baselines.
    mine = fit_whitening(emb.embed(images).numpy(), 0.1).apply(emb.embed(images)).numpy()
    expected = lens_enrichment(centre(mine), is_lens, np.arange(10), 5)
    np.testing.assert_allclose(fitted["learned"].fractions, expected.fractions)
    assert not np.allclose(raw["learned"].fractions, fitted["learned"].fractions)  # whitening changed the ranking
    # With a whitening of its own (as a trained checkpoint has), that one is used, and it is left in place.
    emb.whitening = fit_whitening(rng.normal(size=(100, 2048)), 0.1)
    stored = emb.whitening
    again = three_way(emb, images, is_lens, np.arange(10), k=5, pca_components=4)
    own = lens_enrichment(centre(emb.embed(images).numpy()), is_lens, np.arange(10), 5)
    np.testing.assert_allclose(again["learned"].fractions, own.fractions)
    np.testing.assert_allclose(again["random"].fractions, fitted["random"].fractions)
    assert emb.whitening is stored
    three_way(emb, images, is_lens, np.arange(10), k=5, pca_components=4, shrinkage=None)
    assert emb.whitening is stored  # the raw comparison puts it back
