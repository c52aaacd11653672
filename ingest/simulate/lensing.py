"""Strong lensing by a singular isothermal ellipsoid (SIE) plus external shear: deflection, ray tracing, point-source
images and magnifications, and lensed extended sources.

Conventions (all angles on the sky in arcsec, position angles in radians counter-clockwise from +x):

- SIE convergence ``kappa = theta_E / (2 sqrt(q x'^2 + y'^2 / q))`` in the frame (x', y') of the mass major axis. With
  this normalisation the tangential critical curve is the ellipse ``q x'^2 + y'^2 / q = theta_E^2`` (isothermal
  lenses have det A = 1 - 2 kappa), whose area is pi theta_E^2 for every q, and q = 1 is the SIS of Einstein radius
  theta_E.
- External shear of strength ``gamma`` and angle ``gamma_phi``: potential ``gamma/2 (cos 2phi (x^2 - y^2) +
  2 sin 2phi x y)`` around the lens centre.
- Lens equation ``beta = theta - alpha(theta)``; magnification ``mu = 1 / det(d beta / d theta)``.

The SIE deflection is the closed form for elliptical isothermal mass distributions (e.g. Kormann, Schneider & Bartelmann
1994; Keeton 2001), written here from the formula; tests check it against the convergence independently.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lensdb.core.units import PIXEL_SCALE_ARCSEC
from lensdb.ingest.simulate.profiles import Patch, sersic_sb


@dataclass(frozen=True)
class LensModel:
    """SIE + external shear, centred at (x0, y0) arcsec.

    Attributes:
        theta_e: Einstein radius, arcsec (critical curve area / pi = theta_E^2).
        q: mass axis ratio (0 < q <= 1).
        phi: mass major-axis angle, radians.
        gamma: external shear strength.
        gamma_phi: external shear angle, radians.
    """

    theta_e: float
    q: float = 1.0
    phi: float = 0.0
    gamma: float = 0.0
    gamma_phi: float = 0.0
    x0: float = 0.0
    y0: float = 0.0


@dataclass(frozen=True)
class SourceModel:
    """A Sersic background source in the source plane (arcsec, relative to the lens centre, unit total flux)."""

    x: float
    y: float
    re: float
    n: float = 1.0
    q: float = 1.0
    phi: float = 0.0


def sie_deflection(x, y, theta_e: float, q: float, phi: float) -> tuple[np.ndarray, np.ndarray]:
    """SIE deflection (arcsec) at positions (x, y) (arcsec) relative to the lens centre."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    c, s = np.cos(phi), np.sin(phi)
    xp, yp = x * c + y * s, -x * s + y * c
    if q > 0.99999:
        r = np.maximum(np.hypot(xp, yp), 1e-12)
        axp, ayp = theta_e * xp / r, theta_e * yp / r
    else:
        e = np.sqrt(1.0 - q * q)
        psi = np.maximum(np.sqrt(q * q * xp * xp + yp * yp), 1e-12)
        amp = theta_e * np.sqrt(q) / e
        axp = amp * np.arctan(e * xp / psi)
        ayp = amp * np.arctanh(np.clip(e * yp / psi, -1 + 1e-15, 1 - 1e-15))
    return axp * c - ayp * s, axp * s + ayp * c


def sie_convergence(x, y, theta_e: float, q: float, phi: float) -> np.ndarray:
    """SIE convergence at (x, y) arcsec relative to the centre."""
    c, s = np.cos(phi), np.sin(phi)
    xp, yp = x * c + y * s, -x * s + y * c
    return theta_e / (2.0 * np.sqrt(q * xp * xp + yp * yp / q))


def shear_deflection(x, y, gamma: float, gamma_phi: float) -> tuple[np.ndarray, np.ndarray]:
    """External-shear deflection (arcsec) at (x, y) arcsec relative to the lens centre."""
    g1, g2 = gamma * np.cos(2 * gamma_phi), gamma * np.sin(2 * gamma_phi)
    return g1 * x + g2 * y, g2 * x - g1 * y


def deflection(lens: LensModel, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Total deflection (arcsec) at image-plane positions (x, y) arcsec (same frame as the lens centre)."""
    dx, dy = np.asarray(x, dtype=float) - lens.x0, np.asarray(y, dtype=float) - lens.y0
    ax, ay = sie_deflection(dx, dy, lens.theta_e, lens.q, lens.phi)
    sx, sy = shear_deflection(dx, dy, lens.gamma, lens.gamma_phi)
    return ax + sx, ay + sy


def ray_trace(lens: LensModel, x, y) -> tuple[np.ndarray, np.ndarray]:
    """Source-plane positions beta = theta - alpha(theta) of image-plane positions (x, y), arcsec."""
    ax, ay = deflection(lens, x, y)
    return np.asarray(x) - ax, np.asarray(y) - ay


def jacobian(lens: LensModel, x, y, h: float = 1e-6) -> np.ndarray:
    """d beta / d theta at (x, y) by central differences; shape (..., 2, 2)."""
    bxp, byp = ray_trace(lens, np.asarray(x) + h, y)
    bxm, bym = ray_trace(lens, np.asarray(x) - h, y)
    bxu, byu = ray_trace(lens, x, np.asarray(y) + h)
    bxd, byd = ray_trace(lens, x, np.asarray(y) - h)
    a = np.empty(np.shape(bxp) + (2, 2))
    a[..., 0, 0], a[..., 1, 0] = (bxp - bxm) / (2 * h), (byp - bym) / (2 * h)
    a[..., 0, 1], a[..., 1, 1] = (bxu - bxd) / (2 * h), (byu - byd) / (2 * h)
    return a


def magnification(lens: LensModel, x, y) -> np.ndarray:
    """Signed point-source magnification 1 / det A at image-plane positions (x, y) arcsec."""
    return 1.0 / np.linalg.det(jacobian(lens, x, y))


def find_images(lens: LensModel, bx: float, by: float, extent: float | None = None,
                step: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All images of a point source at (bx, by) arcsec: positions (arcsec) and signed magnifications.

    Grid cells whose source-plane image (two triangles) contains the source give first guesses, refined by Newton's
    method. The SIE's central image is infinitely demagnified and is not returned.
    """
    extent = extent or 2.5 * lens.theta_e / np.sqrt(lens.q) * (1 + 2 * lens.gamma) + np.hypot(bx, by)
    step = step or lens.theta_e / 30.0
    g = np.arange(-extent, extent + step, step) + 0.5 * step * 0.37  # offset: never put a node on the centre
    gx, gy = np.meshgrid(g + lens.x0, g + lens.y0)
    sx, sy = ray_trace(lens, gx, gy)
    px, py = sx - bx, sy - by
    found = []
    for tri in (((0, 0), (0, 1), (1, 0)), ((1, 1), (1, 0), (0, 1))):
        (ay, ax_), (by_, bx_), (cy, cx) = tri
        n0, n1 = gx.shape[0] - 1, gx.shape[1] - 1
        ax1, ay1 = px[ay:ay + n0, ax_:ax_ + n1], py[ay:ay + n0, ax_:ax_ + n1]
        bx1, by1 = px[by_:by_ + n0, bx_:bx_ + n1], py[by_:by_ + n0, bx_:bx_ + n1]
        cx1, cy1 = px[cy:cy + n0, cx:cx + n1], py[cy:cy + n0, cx:cx + n1]
        # The origin lies inside triangle ABC when the three edge cross products share a sign.
        d1 = ax1 * by1 - ay1 * bx1
        d2 = bx1 * cy1 - by1 * cx1
        d3 = cx1 * ay1 - cy1 * ax1
        inside = ((d1 >= 0) & (d2 >= 0) & (d3 >= 0)) | ((d1 <= 0) & (d2 <= 0) & (d3 <= 0))
        iy, ix = np.nonzero(inside)
        found.extend(zip(gx[iy, ix] + 0.5 * step, gy[iy, ix] + 0.5 * step, strict=True))
    images: list[tuple[float, float]] = []
    for x, y in found:
        if np.hypot(x - lens.x0, y - lens.y0) < 0.05 * lens.theta_e:
            continue  # cells around the singular centre map to huge triangles
        sol = _newton(lens, bx, by, x, y)
        if sol is not None and all(np.hypot(sol[0] - u, sol[1] - v) > 1e-4 for u, v in images):
            images.append(sol)
    xs = np.array([p[0] for p in images])
    ys = np.array([p[1] for p in images])
    return xs, ys, magnification(lens, xs, ys) if len(images) else np.array([])


def _newton(lens: LensModel, bx: float, by: float, x: float, y: float) -> tuple[float, float] | None:
    for _ in range(50):
        sx, sy = ray_trace(lens, x, y)
        rx, ry = float(sx) - bx, float(sy) - by
        if np.hypot(rx, ry) < 1e-10:
            return float(x), float(y)
        a = jacobian(lens, x, y)
        try:
            dx, dy = np.linalg.solve(a, [rx, ry])
        except np.linalg.LinAlgError:
            return None
        x, y = x - dx, y - dy
    sx, sy = ray_trace(lens, x, y)
    return (float(x), float(y)) if np.hypot(float(sx) - bx, float(sy) - by) < 1e-7 else None


def lensed_source_patch(lens: LensModel, source: SourceModel, xc: float, yc: float,
                        pixel_scale: float = PIXEL_SCALE_ARCSEC, oversample: int | None = None) -> Patch:
    """Render the lensed image of a unit-flux Sersic source into a pixel patch (before PSF convolution).

    Args:
        lens: the lens, with (x0, y0) the lens centre relative to grid position (xc, yc), arcsec.
        source: the source, position relative to the lens centre.
        xc, yc: grid pixel position of the frame origin.
        pixel_scale: arcsec per pixel.
        oversample: sub-pixels per pixel side (default from the source size).

    Returns:
        A patch whose sum is the total magnification of the source (surface brightness is conserved).
    """
    re_px = source.re / pixel_scale
    over = oversample or (3 if re_px >= 2.0 else 5 if re_px >= 0.7 else 7)
    half = (lens.theta_e / np.sqrt(lens.q) * (1 + 2 * lens.gamma) + np.hypot(source.x, source.y)
            + 4.0 * source.re + 0.5)
    cx, cy = xc + lens.x0 / pixel_scale, yc + lens.y0 / pixel_scale
    hp = half / pixel_scale
    x0, x1 = int(np.floor(cx - hp)), int(np.ceil(cx + hp))
    y0, y1 = int(np.floor(cy - hp)), int(np.ceil(cy + hp))
    sub = (np.arange(over) + 0.5) / over - 0.5
    fx = ((np.arange(x0, x1 + 1)[:, None] + sub[None, :]).ravel() - xc) * pixel_scale
    fy = ((np.arange(y0, y1 + 1)[:, None] + sub[None, :]).ravel() - yc) * pixel_scale
    gx, gy = np.meshgrid(fx, fy)
    bx, by = ray_trace(lens, gx, gy)
    sb = sersic_sb(bx - lens.x0 - source.x, by - lens.y0 - source.y, source.re, source.n, source.q, source.phi)
    h, w = y1 - y0 + 1, x1 - x0 + 1
    data = sb.reshape(h, over, w, over).mean(axis=(1, 3)) * np.float32(pixel_scale**2)
    return Patch(y0, x0, data.astype(np.float32, copy=False))
