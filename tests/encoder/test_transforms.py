"""Physics of each augmentation: what it must keep (flux, noise level, identity) and the bounds it must respect."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lensdb.core.errors import InvalidInput
from lensdb.encoder.config import AugmentConfig
from lensdb.encoder.transforms import (
    ArcsinhStretch,
    CenterCrop,
    FlipRotate,
    FusedWarp,
    GaussianNoise,
    JitterCrop,
    PSFBlur,
    Redden,
    Rescale,
    gaussian_blur,
    inference_pipeline,
    training_pipeline,
)


def blob(n=1, size=96, sigma=3.0, offset=(0.0, 0.0)) -> torch.Tensor:
    """(n, 3, size, size) Gaussian sources of unit flux per band, centred on the image centre (+ offset)."""
    c = (size - 1) / 2
    y, x = torch.meshgrid(torch.arange(size) - c - offset[0], torch.arange(size) - c - offset[1], indexing="ij")
    g = torch.exp(-(x**2 + y**2) / (2 * sigma**2)) / (2 * math.pi * sigma**2)
    return g.expand(n, 3, size, size).clone()


def second_moment(images: torch.Tensor) -> torch.Tensor:
    """Per (image, band) Gaussian-equivalent sigma from the flux-weighted second moment, pixels."""
    size = images.shape[-1]
    c = (size - 1) / 2
    y, x = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    r2 = ((x**2 + y**2) * images).sum(dim=(-1, -2)) / images.sum(dim=(-1, -2))
    return torch.sqrt(r2 / 2)


def centroid(images: torch.Tensor) -> torch.Tensor:
    """(..., 2) flux-weighted (row, column) position, pixels."""
    size = images.shape[-1]
    idx = torch.arange(size, dtype=images.dtype)
    total = images.sum(dim=(-1, -2))
    return torch.stack([(images.sum(-1) * idx).sum(-1) / total, (images.sum(-2) * idx).sum(-1) / total], -1)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --- Redden ---------------------------------------------------------------------------------------------------

def test_deredden_then_redden_with_same_ebv_is_identity():
    x = torch.rand(5, 3, 16, 16) + 0.1
    ebv = torch.tensor([0.0, 0.01, 0.05, 0.2, 0.8])
    r = Redden()
    back = r.reddening(r.reddening(x, ebv, torch.zeros(5)), torch.zeros(5), ebv)
    torch.testing.assert_close(back, x, rtol=1e-6, atol=0)
    # apply() with the catalogue value drawn as the "new" E(B-V) changes nothing either
    torch.testing.assert_close(r.apply(x, ebv, ebv=ebv), x, rtol=1e-6, atol=0)


def test_reddening_uses_the_decam_transmission():
    x = torch.ones(1, 3, 4, 4)
    out = Redden().reddening(x, torch.zeros(1), torch.tensor([0.1]))
    expected = 10 ** (-np.array([3.214, 2.165, 1.211]) * 0.1 / 2.5)  # g is dimmed most
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), expected, rtol=1e-6)


def test_random_ebv_follows_the_paper_lognormal():
    draws = Redden().sample(torch.zeros(20000, 3, 1, 1), gen(1))
    assert draws.min() > 0.001146  # loc is the floor
    # scipy.stats.lognorm(0.67306, 0.001146, 0.03338).median() = loc + scale
    assert abs(float(draws.median()) - (0.001146 + 0.03338)) < 0.001


def test_redden_needs_the_catalogue_ebv():
    with pytest.raises(InvalidInput, match="E\\(B-V\\)"):
        Redden()(torch.ones(2, 3, 8, 8))


# --- FlipRotate and Rescale ---------------------------------------------------------------------------------------

def test_rotation_keeps_flux_and_shape():
    x = blob(8, size=96, sigma=3.0, offset=(4.0, -6.0))
    out = FlipRotate()(x, generator=gen(2))
    torch.testing.assert_close(out.sum(dim=(-1, -2)), x.sum(dim=(-1, -2)), rtol=2e-3, atol=0)
    # an off-centre source stays at the same distance from the centre
    size = x.shape[-1]
    c = (size - 1) / 2
    y, xx = torch.meshgrid(torch.arange(size) - c, torch.arange(size) - c, indexing="ij")
    r_in = ((y**2 + xx**2).sqrt() * x).sum(dim=(-1, -2)) / x.sum(dim=(-1, -2))
    r_out = ((y**2 + xx**2).sqrt() * out).sum(dim=(-1, -2)) / out.sum(dim=(-1, -2))
    torch.testing.assert_close(r_out, r_in, rtol=5e-3, atol=0)


def test_quarter_turn_and_flip_are_exact_pixel_permutations():
    x = torch.rand(1, 3, 20, 20)
    t = FlipRotate()
    quarter = t.apply(x, torch.tensor([[1.0, 1.0, math.pi / 2]]))
    assert any(torch.allclose(quarter, torch.rot90(x, k, dims=(-2, -1)), atol=1e-5) for k in (1, -1))
    flipped = t.apply(x, torch.tensor([[-1.0, 1.0, 0.0]]))  # x -> -x mirrors the columns
    torch.testing.assert_close(flipped, x.flip(-1), atol=1e-5, rtol=0)
    both = t.apply(x, torch.tensor([[-1.0, -1.0, 0.0]]))
    torch.testing.assert_close(both, x.flip(-1).flip(-2), atol=1e-5, rtol=0)


def test_flips_happen_half_the_time_and_angles_cover_the_circle():
    p = FlipRotate().sample(torch.zeros(4000, 3, 1, 1), gen(3))
    assert abs(float((p[:, :2] < 0).float().mean()) - 0.5) < 0.03
    assert 0 <= float(p[:, 2].min()) < 0.05 and 2 * math.pi - 0.05 < float(p[:, 2].max()) <= 2 * math.pi


@pytest.mark.parametrize("zoom", [0.9, 1.0, 1.1])
def test_rescale_keeps_flux_and_scales_size(zoom):
    x = blob(1, size=96, sigma=4.0)
    out = Rescale().apply(x, torch.tensor([zoom]))
    torch.testing.assert_close(out.sum(dim=(-1, -2)), x.sum(dim=(-1, -2)), rtol=5e-3, atol=0)
    torch.testing.assert_close(second_moment(out), second_moment(x) * zoom, rtol=1e-2, atol=0)


def test_rescale_without_flux_conservation_keeps_surface_brightness():
    x = blob(1, size=96, sigma=4.0)
    out = Rescale(conserve_flux=False).apply(x, torch.tensor([1.1]))
    torch.testing.assert_close(out.sum(dim=(-1, -2)), x.sum(dim=(-1, -2)) * 1.1**2, rtol=5e-3, atol=0)


def test_rescale_draws_lie_in_the_range():
    s = Rescale().sample(torch.zeros(5000, 3, 1, 1), gen(4))
    assert 0.9 <= float(s.min()) < 0.905 and 1.095 < float(s.max()) <= 1.1


def test_fused_warp_matches_rotation_then_rescale():
    x = blob(4, size=64, sigma=4.0, offset=(5.0, 2.0))
    rot, zoom = FlipRotate(), Rescale()
    p_rot = rot.sample(x, gen(5))
    p_zoom = zoom.sample(x, gen(6))
    fused = FusedWarp((rot, zoom)).apply(x, [p_rot, p_zoom])
    stepwise = zoom.apply(rot.apply(x, p_rot), p_zoom)
    # two bilinear interpolations smooth a little more than one: agree to 2 % of the peak, same centroid
    torch.testing.assert_close(fused, stepwise, atol=0.02 * float(x.max()), rtol=0)
    torch.testing.assert_close(centroid(fused), centroid(stepwise), atol=0.02, rtol=0)
    # a smaller output is the centre of the full one
    small = FusedWarp((rot, zoom), out_size=40).apply(x, [p_rot, p_zoom])
    torch.testing.assert_close(small, fused[..., 12:52, 12:52], atol=1e-6, rtol=0)


# --- PSFBlur ------------------------------------------------------------------------------------------------------

def test_blur_keeps_flux_and_adds_width_in_quadrature():
    x = blob(2, size=64, sigma=2.0)
    sigma = torch.tensor([[0.0, 1.0, 2.5], [3.0, 0.5, 1.5]])
    out = gaussian_blur(x, sigma)
    torch.testing.assert_close(out.sum(dim=(-1, -2)), x.sum(dim=(-1, -2)), rtol=1e-4, atol=0)
    torch.testing.assert_close(second_moment(out), torch.sqrt(4.0 + sigma**2), rtol=1e-2, atol=0)
    torch.testing.assert_close(out[0, 0], x[0, 0])  # sigma 0 leaves the band alone


def test_blur_sigma_is_the_differential_of_two_psf_draws():
    t = PSFBlur()
    s = t.sample(torch.zeros(20000, 3, 1, 1), gen(7))
    assert s.shape == (20000, 3) and float(s.min()) == 0.0
    # present and target are independent draws of one law: half the time the target is sharper -> no blur
    zero_fraction = (s == 0).float().mean(dim=0)
    assert torch.all((zero_fraction - 0.5).abs() < 0.02)
    assert float(s.max()) < 6.0  # pixels; the fits' tails stay below that


def test_batched_blur_equals_per_image_blur():
    x = torch.rand(3, 3, 40, 40)
    sigma = torch.tensor([[0.3, 1.0, 2.0], [0.0, 0.0, 0.0], [1.5, 0.7, 2.5]])
    batched = gaussian_blur(x, sigma)
    single = torch.cat([gaussian_blur(x[i:i + 1], sigma[i:i + 1]) for i in range(3)])
    # the kernel radius follows the batch's largest sigma: the 4-sigma truncation (tails of 6e-5 of the flux)
    # is all that differs
    torch.testing.assert_close(batched, single, atol=1e-4, rtol=0)


# --- JitterCrop ---------------------------------------------------------------------------------------------------

def test_jitter_crop_bounds_and_position():
    size, crop, jitter = 110, 96, 7
    t = JitterCrop(crop, jitter)
    shifts = t.sample(torch.zeros(1, 3, size, size).expand(5000, -1, -1, -1), gen(8))
    assert int(shifts.min()) == -jitter and int(shifts.max()) == jitter  # U{-7..7}, both ends reached
    assert len(torch.unique(shifts)) == 2 * jitter + 1
    x = torch.zeros(300, 3, size, size)
    x[:, :, 55, 55] = 1.0  # a marker at the pixel right of/below the centre (54.5, 54.5)
    out = t.apply(x, shifts[:300])
    assert out.shape == (300, 3, crop, crop)
    where = out[:, 0].flatten(1).argmax(dim=1)
    row, col = where // crop, where % crop
    # without a shift the marker sits at 55 - (110 - 96) // 2 = 48; a shift moves the window, not the sky
    torch.testing.assert_close(row, 48 - shifts[:300, 0])
    torch.testing.assert_close(col, 48 - shifts[:300, 1])


def test_jitter_crop_equals_slicing_and_rejects_small_cutouts():
    x = torch.rand(3, 3, 30, 30)
    shifts = torch.tensor([[0, 0], [-3, 2], [3, -3]])
    out = JitterCrop(20, 3).apply(x, shifts)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        torch.testing.assert_close(out[i], x[i, :, 5 + dy:25 + dy, 5 + dx:25 + dx])
    torch.testing.assert_close(out[0:1], CenterCrop(20)(x[0:1]))
    with pytest.raises(InvalidInput, match="too small"):
        JitterCrop(20, 6)(x)


# --- GaussianNoise ------------------------------------------------------------------------------------------------

def test_added_noise_has_the_drawn_sigma():
    x = torch.zeros(6, 3, 128, 128)
    t = GaussianNoise()
    field = t.sample(x, gen(9))
    sigma = t.sigmas(x, gen(9))  # the same generator state gives the same sigma draws
    measured = field.std(dim=(-1, -2))
    nonzero = sigma > 0
    torch.testing.assert_close(measured[nonzero], sigma[nonzero], rtol=0.03, atol=0)
    assert torch.all(measured[~nonzero] == 0)
    torch.testing.assert_close(t.apply(x + 1.0, field), 1.0 + field)


def test_noise_tops_up_to_the_target_level():
    t = GaussianNoise()
    n = 20000
    present = torch.full((n, 3), 0.004)
    target = torch.full((n, 3), 0.005)
    from lensdb.encoder.transforms.base import differential

    extra = differential(present, target)
    torch.testing.assert_close(torch.sqrt(present**2 + extra**2), target)
    s = t.sigmas(torch.zeros(n, 3, 1, 1), gen(10))
    assert abs(float((s == 0).float().mean()) - 0.5) < 0.02
    # the extra noise is of the order of the survey's own: z (scale 0.026) is the noisiest band
    med = s[s.all(dim=1)].median(dim=0).values
    assert med[2] > med[1] > med[0] > 0


# --- ArcsinhStretch -----------------------------------------------------------------------------------------------

def test_stretch_matches_the_numpy_viewer_stretch():
    from lensdb.core.display import legacy_rgb

    x = torch.randn(4, 3, 16, 16) * 0.05 + 0.02
    x[0, :, :2, :2] = -1.0  # all bands dark: I = 0
    x[1, :, :2, :2] = 50.0  # saturated
    ours = ArcsinhStretch()(x)
    theirs = torch.from_numpy(legacy_rgb(x.numpy())).permute(0, 3, 1, 2)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    assert float(ours.min()) >= 0.0 and float(ours.max()) <= 1.0
    assert torch.all(ours[0, :, :2, :2] == 0) and torch.all(ours[1, :, :2, :2] == 1)


def test_stretch_maps_z_to_red():
    x = torch.zeros(1, 3, 2, 2)
    x[:, 2] = 0.1  # only z is bright
    rgb = ArcsinhStretch()(x)[0, :, 0, 0]
    assert rgb[0] > rgb[1] and rgb[0] > rgb[2]


# --- pipelines ----------------------------------------------------------------------------------------------------

def test_training_pipeline_is_in_the_paper_order_and_reproducible():
    p = training_pipeline(96)
    names = [type(t).__name__ for t in p.transforms]
    assert names == ["Redden", "FlipRotate", "Rescale", "PSFBlur", "JitterCrop", "GaussianNoise", "ArcsinhStretch"]
    x = torch.rand(4, 3, 110, 110) * 0.1
    ebv = torch.full((4,), 0.05)
    a = p(x, ebv=ebv, generator=gen(11))
    b = p(x, ebv=ebv, generator=gen(11))
    c = p(x, ebv=ebv, generator=gen(12))
    assert a.shape == (4, 3, 96, 96) and torch.isfinite(a).all()
    assert float(a.min()) >= 0 and float(a.max()) <= 1
    torch.testing.assert_close(a, b, atol=0, rtol=0)
    assert not torch.allclose(a, c)


def test_skipping_augmentations_keeps_the_crop():
    aug = AugmentConfig(skip=("redden", "fliprotate", "rescale", "psfblur", "jitter", "noise"))
    p = training_pipeline(32, aug)
    assert [type(t).__name__ for t in p.transforms] == ["CenterCrop", "ArcsinhStretch"]
    x = torch.rand(2, 3, 40, 40) * 0.1
    torch.testing.assert_close(p(x), inference_pipeline(32)(x))


def test_inference_pipeline_is_centre_crop_and_the_training_stretch():
    x = torch.rand(2, 3, 152, 152) * 0.1
    out = inference_pipeline(96)(x)
    torch.testing.assert_close(out, ArcsinhStretch()(x[:, :, 28:124, 28:124]))
    with pytest.raises(InvalidInput):
        inference_pipeline(96)(torch.rand(2, 3, 64, 64))
    with pytest.raises(InvalidInput, match="N, 3, H, W"):
        inference_pipeline(96)(torch.rand(3, 152, 152))
