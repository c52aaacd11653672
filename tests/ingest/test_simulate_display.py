"""The Legacy Survey viewer stretch and PNG grids (lensdb.core.display)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lensdb.core.display import legacy_rgb, save_grid


def _reference(g, r, z):
    """The stretch written out for one pixel: bands z, r, g -> R, G, B."""
    v = [max(0.0, z * 2.2 + 0.03), max(0.0, r * 3.4 + 0.03), max(0.0, g * 6.0 + 0.03)]
    mean = sum(v) / 3
    f = np.arcsinh(20 * mean) / np.sqrt(20) / mean if mean > 0 else 0.0
    return np.clip(np.array(v) * f, 0, 1)


def test_legacy_rgb_matches_the_formula_and_channel_order():
    rng = np.random.default_rng(0)
    img = rng.normal(0.0, 0.05, (3, 4, 5)).astype(np.float32)
    img[:, 0, 0] = [0.02, 0.05, 0.2]  # a red (z-bright) pixel
    rgb = legacy_rgb(img)
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.float32
    for y, x in [(0, 0), (1, 2), (3, 4)]:
        np.testing.assert_allclose(rgb[y, x], _reference(*img[:, y, x]), rtol=1e-5, atol=1e-6)
    assert rgb[0, 0, 0] > rgb[0, 0, 2]  # z-bright shows red


def test_legacy_rgb_batches_guards_zero_and_clips():
    imgs = np.zeros((2, 3, 6, 6), dtype=np.float16)
    imgs[0] = -1.0  # all bands negative: v = 0, mean = 0
    imgs[1, :, 0, 0] = 100.0
    rgb = legacy_rgb(imgs)
    assert rgb.shape == (2, 6, 6, 3)
    assert np.all(np.isfinite(rgb)) and rgb.min() >= 0 and rgb.max() <= 1
    assert np.all(rgb[0] == 0)
    np.testing.assert_allclose(rgb[1, 0, 0], 1.0)


def test_legacy_rgb_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="g, r, z"):
        legacy_rgb(np.zeros((4, 8, 8)))


def test_save_grid_writes_a_png(tmp_path):
    imgs = np.random.default_rng(1).normal(0, 0.02, (5, 3, 32, 32)).astype(np.float32)
    path = save_grid(imgs, tmp_path / "sub" / "grid.png", ncols=3, titles=[f"#{i}" for i in range(5)],
                     row_labels=["a", "b"], panel_inches=1.0, dpi=50, palette_colors=64)
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.size[0] > im.size[1] > 0
    path2 = save_grid(legacy_rgb(imgs), tmp_path / "rgb.png", ncols=5)
    assert path2.stat().st_size > 0
    with pytest.raises(ValueError, match="titles"):
        save_grid(imgs, tmp_path / "x.png", titles=["one"])
