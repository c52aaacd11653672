"""Lensing physics of the simulator against analytic results and an independent numerical integration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from lensdb.core.units import PIXEL_SCALE_ARCSEC
from lensdb.ingest.simulate.lensing import (
    LensModel,
    SourceModel,
    find_images,
    jacobian,
    lensed_source_patch,
    magnification,
    ray_trace,
    shear_deflection,
    sie_convergence,
    sie_deflection,
)


def test_sis_point_source_at_origin_maps_the_einstein_circle_to_the_origin():
    lens = LensModel(theta_e=1.7)
    t = np.linspace(0, 2 * np.pi, 25)
    bx, by = ray_trace(lens, 1.7 * np.cos(t), 1.7 * np.sin(t))
    np.testing.assert_allclose(np.hypot(bx, by), 0.0, atol=1e-12)


@pytest.mark.parametrize("beta", [0.1, 0.45, 0.9])
def test_sis_two_images_and_their_magnifications(beta):
    theta_e = 1.3
    lens = LensModel(theta_e=theta_e)
    xs, ys, mu = find_images(lens, beta, 0.0)
    assert len(xs) == 2
    order = np.argsort(xs)
    # Images at beta - theta_E and beta + theta_E on the source's axis; |mu| = |theta| / (|theta| - theta_E).
    np.testing.assert_allclose(xs[order], [beta - theta_e, beta + theta_e], atol=1e-6)
    np.testing.assert_allclose(ys, 0.0, atol=1e-6)
    theta = np.abs(xs[order])
    np.testing.assert_allclose(np.abs(mu[order]), theta / np.abs(theta - theta_e), rtol=1e-4)
    assert mu[order][0] < 0 < mu[order][1]  # the inner image has negative parity


def test_sie_deflection_matches_brute_force_integration_of_its_convergence():
    theta_e, q, phi = 1.5, 0.6, 0.7
    h = 0.01
    g = np.arange(-8, 8, h) + h / 2
    gx, gy = np.meshgrid(g, g)
    kappa = sie_convergence(gx, gy, theta_e, q, phi)
    c, s = np.cos(phi), np.sin(phi)
    xp, yp = gx * c + gy * s, -gx * s + gy * c
    # Mass outside a homoeoid (similar ellipses) pulls nothing inside it, so an elliptical cut is exact.
    inside = (q * xp**2 + yp**2 / q) < 7.5**2
    for x0, y0 in [(0.8, 0.35), (-1.1, 1.6), (0.3, -2.2)]:
        dx, dy = x0 - gx, y0 - gy
        w = kappa * inside / (dx * dx + dy * dy) * h * h / np.pi
        expected = ((w * dx).sum(), (w * dy).sum())
        np.testing.assert_allclose(sie_deflection(x0, y0, theta_e, q, phi), expected, rtol=0.01, atol=0.005)


def test_sie_divergence_is_twice_the_convergence_and_curl_vanishes():
    theta_e, q, phi, h = 1.2, 0.45, -0.4, 1e-5
    rng = np.random.default_rng(0)
    for x, y in rng.uniform(-3, 3, (10, 2)):
        axx = (sie_deflection(x + h, y, theta_e, q, phi)[0] - sie_deflection(x - h, y, theta_e, q, phi)[0]) / (2 * h)
        ayy = (sie_deflection(x, y + h, theta_e, q, phi)[1] - sie_deflection(x, y - h, theta_e, q, phi)[1]) / (2 * h)
        axy = (sie_deflection(x, y + h, theta_e, q, phi)[0] - sie_deflection(x, y - h, theta_e, q, phi)[0]) / (2 * h)
        ayx = (sie_deflection(x + h, y, theta_e, q, phi)[1] - sie_deflection(x - h, y, theta_e, q, phi)[1]) / (2 * h)
        assert axx + ayy == pytest.approx(2 * sie_convergence(x, y, theta_e, q, phi), rel=1e-5)
        assert axy == pytest.approx(ayx, abs=1e-5)


def test_sie_limits():
    x, y = np.array([0.3, -1.0, 2.5]), np.array([1.1, 0.2, -0.7])
    # q -> 1 is the SIS: deflection of size theta_E pointing away from the centre.
    ax, ay = sie_deflection(x, y, 1.4, 0.99999999, 0.3)
    r = np.hypot(x, y)
    np.testing.assert_allclose(ax, 1.4 * x / r, rtol=1e-6)
    np.testing.assert_allclose(ay, 1.4 * y / r, rtol=1e-6)
    # Isothermal: deflection does not depend on the distance along a ray, and is odd in position.
    a1 = np.array(sie_deflection(x, y, 1.4, 0.5, 0.3))
    np.testing.assert_allclose(np.array(sie_deflection(3 * x, 3 * y, 1.4, 0.5, 0.3)), a1, rtol=1e-12)
    np.testing.assert_allclose(np.array(sie_deflection(-x, -y, 1.4, 0.5, 0.3)), -a1, rtol=1e-12)


def test_sie_critical_curve_is_the_ellipse_of_area_pi_theta_e_squared():
    theta_e, q, phi = 1.5, 0.6, 0.5
    lens = LensModel(theta_e=theta_e, q=q, phi=phi)
    t = np.linspace(0, 2 * np.pi, 13)
    xp, yp = theta_e / np.sqrt(q) * np.cos(t), theta_e * np.sqrt(q) * np.sin(t)
    x, y = xp * np.cos(phi) - yp * np.sin(phi), xp * np.sin(phi) + yp * np.cos(phi)
    np.testing.assert_allclose(np.linalg.det(jacobian(lens, x, y)), 0.0, atol=1e-6)


def test_external_shear_jacobian():
    gamma, gphi = 0.08, 0.6
    g1, g2 = gamma * np.cos(2 * gphi), gamma * np.sin(2 * gphi)
    lens = LensModel(theta_e=0.0, gamma=gamma, gamma_phi=gphi)
    np.testing.assert_allclose(jacobian(lens, 0.7, -0.4), [[1 - g1, -g2], [-g2, 1 + g1]], atol=1e-8)
    ax, ay = shear_deflection(1.0, 0.0, gamma, gphi)
    assert (ax, ay) == pytest.approx((g1, g2))


def test_sie_plus_shear_quad_for_a_source_near_the_centre():
    lens = LensModel(theta_e=1.5, q=0.7, phi=0.3, gamma=0.05, gamma_phi=1.0)
    xs, ys, mu = find_images(lens, 0.05, 0.02)
    assert len(xs) == 4
    np.testing.assert_allclose(np.hypot(*ray_trace(lens, xs, ys)) - np.hypot(0.05, 0.02), 0, atol=0.06)
    assert (mu > 0).sum() == 2 and (mu < 0).sum() == 2  # two minima, two saddles
    np.testing.assert_allclose(mu, magnification(lens, xs, ys))


def test_extended_source_magnification_tends_to_the_point_source_sum():
    theta_e, beta = 1.5, 0.3 * 1.5
    lens = LensModel(theta_e=theta_e)
    patch = lensed_source_patch(lens, SourceModel(x=beta, y=0.0, re=0.05, n=1.0), 0.0, 0.0, oversample=15)
    # SIS: |mu+| + |mu-| = 2 theta_E / beta for beta < theta_E.
    assert patch.data.sum() == pytest.approx(2 * theta_e / beta, rel=0.03)


def test_einstein_radius_recovered_from_a_rendered_ring():
    theta_e = 2.0
    lens = LensModel(theta_e=theta_e)
    patch = lensed_source_patch(lens, SourceModel(x=0.0, y=0.0, re=0.1, n=1.0), 0.0, 0.0)
    img = gaussian_filter(np.pad(patch.data, 10), 1.8)  # a typical DR9 PSF, sigma in pixels
    yy, xx = np.indices(img.shape)
    r = np.hypot(xx - (10 - patch.x0), yy - (10 - patch.y0)) * PIXEL_SCALE_ARCSEC
    radius = (r * img).sum() / img.sum()
    assert radius == pytest.approx(theta_e, abs=0.1)
    # Peak of the azimuthal profile too.
    which = np.minimum((r / 0.1).astype(int), 40).ravel()
    counts = np.bincount(which, minlength=41)[:40]
    prof = np.bincount(which, img.ravel(), minlength=41)[:40] / np.maximum(counts, 1)
    assert 0.1 * np.argmax(prof) + 0.05 == pytest.approx(theta_e, abs=0.15)
