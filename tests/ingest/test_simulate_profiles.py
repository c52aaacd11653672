"""Unit profiles, PSF and observing conditions of the simulator."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import gamma

from lensdb.core.units import PIXEL_SCALE_ARCSEC
from lensdb.ingest.simulate.conditions import (
    NOISE_SIGMA_FIT,
    PSF_SIGMA_PX_FIT,
    depth_mag,
    draw_conditions,
    lognormal,
    noise_from_psfdepth,
    transmission,
)
from lensdb.ingest.simulate.profiles import _sersic_radial_integral, ring_patch, sersic_bn, sersic_patch, spiral_patch
from lensdb.ingest.simulate.scene import psf_image, psf_otf


@pytest.mark.parametrize("n", [0.5, 1.0, 2.5, 4.0, 6.0])
@pytest.mark.parametrize("re_px", [0.3, 1.0, 4.0, 15.0])
def test_sersic_patch_has_unit_flux(n, re_px):
    patch = sersic_patch(50.3, 49.8, re_px, n, 0.6, 0.4)
    assert patch.data.dtype == np.float32
    assert patch.data.sum(dtype=np.float64) == pytest.approx(1.0, abs=2e-5)
    assert patch.data.min() >= 0


@pytest.mark.parametrize("n", [1.0, 4.0])
def test_sersic_half_light_radius(n):
    re_px, q, phi = 12.0, 0.7, 0.3
    patch = sersic_patch(100.0, 100.0, re_px, n, q, phi)
    yy, xx = np.indices(patch.data.shape)
    dx, dy = xx + patch.x0 - 100.0, yy + patch.y0 - 100.0
    xp, yp = dx * np.cos(phi) + dy * np.sin(phi), (dy * np.cos(phi) - dx * np.sin(phi)) / q
    inside = patch.data[np.hypot(xp, yp) <= re_px].sum()
    # Half of the untruncated light lies within r_e; the profile is normalised to its truncated total.
    b = sersic_bn(n)
    untruncated = n * np.exp(b) * b ** (-2 * n) * gamma(2 * n)
    assert inside == pytest.approx(0.5 * untruncated / _sersic_radial_integral(n), abs=0.01)


def test_sersic_bn_known_values():
    assert sersic_bn(1.0) == pytest.approx(1.678, abs=1e-3)
    assert sersic_bn(4.0) == pytest.approx(7.669, abs=1e-3)


def test_cuspy_centre_is_pixel_integrated():
    # A compact de Vaucouleurs: the central pixel holds less than point sampling would put there.
    patch = sersic_patch(20.0, 20.0, 0.8, 4.0, 1.0, 0.0)
    centre = patch.data[20 - patch.y0, 20 - patch.x0]
    from lensdb.ingest.simulate.profiles import sersic_sb

    assert centre < float(sersic_sb(np.float32(0.0), np.float32(0.0), 0.8, 4.0, 1.0, 0.0))
    assert patch.data.sum() == pytest.approx(1.0, abs=1e-5)


def test_ring_and_spiral_patches_have_unit_flux():
    assert ring_patch(60, 60, 8.0, 1.2, 0.8, 0.2).data.sum() == pytest.approx(1.0, abs=1e-5)
    assert ring_patch(60, 60, 8.0, 1.2, 0.8, 0.2, 1.0, 2.0).data.sum() == pytest.approx(1.0, abs=1e-5)
    assert spiral_patch(60, 60, 10.0, 0.6, 0.3, 2, 0.3, 0.0, 3.0).data.sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("sigma_px", [1.3, 2.2, 3.0])
def test_psf_fwhm_matches_psfsize_and_psf_is_normalised(sigma_px):
    img = psf_image(sigma_px, 61)
    assert img.sum() == pytest.approx(1.0, abs=1e-6)
    profile = img[30, :]
    half = profile.max() / 2
    # Linear interpolation of the half-maximum crossing on each side.
    above = np.flatnonzero(profile >= half)
    left, right = above[0], above[-1]
    xl = left - (profile[left] - half) / (profile[left] - profile[left - 1])
    xr = right + (profile[right] - half) / (profile[right] - profile[right + 1])
    assert xr - xl == pytest.approx(2.3548 * sigma_px, rel=0.03)
    otf = psf_otf(np.array([sigma_px] * 3), 64)
    assert otf[:, 0, 0] == pytest.approx(1.0)


def test_lognormal_draws_follow_table_2():
    rng = np.random.default_rng(1)
    for shape, loc, scale in PSF_SIGMA_PX_FIT + NOISE_SIGMA_FIT:
        draws = lognormal(rng, np.full(4000, shape), loc, scale)
        assert stats.kstest(draws, "lognorm", args=(shape, loc, scale)).pvalue > 1e-3


def test_north_is_noisier_with_broader_psf_than_south():
    rng = np.random.default_rng(2)
    south = [draw_conditions(rng, "south") for _ in range(400)]
    north = [draw_conditions(rng, "north") for _ in range(400)]
    s_noise = np.median([c.noise_sigma for c in south], axis=0)
    n_noise = np.median([c.noise_sigma for c in north], axis=0)
    assert np.all(n_noise > 1.2 * s_noise)
    assert np.all(np.median([c.psfsize for c in north], axis=0) >= np.median([c.psfsize for c in south], axis=0))
    assert np.all(np.median([depth_mag(c.psfdepth) for c in north], axis=0)
                  < np.median([depth_mag(c.psfdepth) for c in south], axis=0))
    # South medians sit where Table 2 puts them (loc + scale for a lognormal's median).
    np.testing.assert_allclose(s_noise, [fit[1] + fit[2] for fit in NOISE_SIGMA_FIT], rtol=0.08)


def test_psfdepth_inverts_to_the_pixel_noise():
    cond = draw_conditions(np.random.default_rng(3), "south")
    np.testing.assert_allclose(noise_from_psfdepth(cond.psfdepth, cond.psfsize), cond.noise_sigma, rtol=1e-12)
    np.testing.assert_allclose(cond.psfsize, cond.psf_sigma_px * 2.3548 * PIXEL_SCALE_ARCSEC)


def test_transmission_uses_the_released_coefficients():
    np.testing.assert_allclose(transmission(0.1), 10 ** (-np.array([3.214, 2.165, 1.211]) * 0.1 / 2.5))
    assert transmission(np.array([0.0, 0.05])).shape == (2, 3)
