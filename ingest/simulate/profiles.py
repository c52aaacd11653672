"""Unit-flux surface-brightness profiles rendered into small pixel patches (before PSF convolution).

Every ``*_patch`` function returns a :class:`Patch`: the pixel box ``[y0:y0+h, x0:x0+w]`` of the render grid and
the profile integrated over each pixel, normalised to a total of 1 over the whole (unclipped) profile, so that
multiplying by a flux in nanomaggies gives nanomaggies per pixel. Coordinates are pixels of the render grid, pixel
centres at integers. Position angles ``phi`` are radians counter-clockwise from the +x axis; axis ratios ``q`` are
minor / major.

Sersic profiles are truncated smoothly at a few effective radii, as the Tractor's galaxy models are, so a galaxy has a
finite extent (and a finite render box). Cuspy centres (large n, small r_e) are integrated over each pixel by
oversampling a small window around the centre only, where point sampling would misplace the flux.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
from scipy.special import gammaincinv

MAX_HALF_BOX = 400  # pixels; caps the render box of an enormous profile


class Patch(NamedTuple):
    """A rendered profile: top-left corner (y0, x0) in grid pixels and the (h, w) float32 values."""

    y0: int
    x0: int
    data: np.ndarray


@lru_cache(maxsize=4096)
def sersic_bn(n: float) -> float:
    """The Sersic b_n that makes r_e the half-light radius (exact, via the inverse incomplete gamma function)."""
    return float(gammaincinv(2.0 * n, 0.5))


def truncation_radius(n: float) -> float:
    """Where a Sersic of index ``n`` is cut, in units of r_e (4 r_e for exponentials, 8 r_e for de Vaucouleurs)."""
    return min(max(2.5 + 1.5 * n, 3.0), 8.0)


@lru_cache(maxsize=4096)
def _sersic_radial_integral(n: float) -> float:
    """Integral of ``exp(-b_n (u^(1/n) - 1)) * taper(u) * u du`` from 0 to the truncation radius (u = r / r_e)."""
    ut = truncation_radius(n)
    u = np.concatenate([[0.0], np.geomspace(1e-7, ut, 4000)])
    f = np.exp(-sersic_bn(n) * (u ** (1.0 / n) - 1.0)) * _taper(u, ut) * u
    return float(np.trapezoid(f, u))


def _taper(u, ut):
    """Smooth cut from 1 at ``ut - 1`` to 0 at ``ut`` (u, ut in units of r_e)."""
    t = np.minimum(np.maximum(ut - u, 0.0), 1.0)  # ufuncs: np.clip's wrapper costs more on small arrays
    return t * t * (3.0 - 2.0 * t)


def sersic_sb(dx, dy, re: float, n: float, q: float, phi: float) -> np.ndarray:
    """Unit-flux Sersic surface brightness at offsets (dx, dy) from its centre, per unit area of dx's units.

    ``re`` is the half-light radius along the major axis, in the same units as dx, dy. The profile is truncated at
    :func:`truncation_radius` and normalised so that its integral over the plane is 1.
    """
    n = float(round(n, 4))  # caches stay small; a 1e-4 change of n is invisible
    c, s = np.cos(phi), np.sin(phi)
    xp = dx * c + dy * s
    yp = (dy * c - dx * s) / q
    u2 = (xp * xp + yp * yp) / (re * re)
    b = sersic_bn(n)
    ut = truncation_radius(n)
    if n == 1.0:
        u = np.sqrt(u2)
        val = np.exp(b - b * u)
    else:
        u = np.sqrt(u2)
        # u**(1/n) through exp/log is much faster than a float power; u = 0 gives exp(-inf) = 0 as it should.
        with np.errstate(divide="ignore"):
            val = np.exp(b - b * np.exp(np.log(u) * (1.0 / n)))
    val = val * _taper(u, ut)
    norm = 2.0 * np.pi * q * re * re * _sersic_radial_integral(n)
    return (val / norm).astype(np.float32, copy=False)


def _box(xc: float, yc: float, ax: float, ay: float) -> tuple[int, int, int, int]:
    """Integer box (y0, x0, h, w) covering half-widths ax, ay (pixels) around (xc, yc)."""
    ax, ay = min(ax, MAX_HALF_BOX), min(ay, MAX_HALF_BOX)
    x0, x1 = int(np.floor(xc - ax)), int(np.ceil(xc + ax))
    y0, y1 = int(np.floor(yc - ay)), int(np.ceil(yc + ay))
    return y0, x0, y1 - y0 + 1, x1 - x0 + 1


def _ellipse_half_widths(a: float, q: float, phi: float) -> tuple[float, float]:
    """Half-widths along x and y of an ellipse with semi-major axis ``a``, axis ratio ``q``, angle ``phi``."""
    c, s = np.cos(phi), np.sin(phi)
    return a * np.hypot(c, q * s), a * np.hypot(s, q * c)


def _oversampling(re_px: float, n: float) -> int:
    if re_px > 6.0 and n < 1.5:
        return 1  # smooth on pixel scales: point sampling is already accurate
    return 5 if re_px >= 0.7 else 7


def sersic_patch(xc: float, yc: float, re_px: float, n: float, q: float, phi: float) -> Patch:
    """Render a unit-flux Sersic (centre xc, yc; half-light radius re_px; all in grid pixels) into a patch."""
    ax, ay = _ellipse_half_widths(truncation_radius(n) * re_px, q, phi)
    y0, x0, h, w = _box(xc, yc, ax + 1, ay + 1)
    dx = (np.arange(x0, x0 + w, dtype=np.float32) - np.float32(xc))[None, :]
    dy = (np.arange(y0, y0 + h, dtype=np.float32) - np.float32(yc))[:, None]
    data = sersic_sb(dx, dy, re_px, n, q, phi)
    over = _oversampling(re_px, n)
    if over > 1:
        # Replace the pixels around the centre by their averages over an over x over sub-grid.
        k = 1 if re_px < 2.0 else 2
        cy, cx = int(round(yc)) - y0, int(round(xc)) - x0
        ys, xs = slice(max(cy - k, 0), min(cy + k + 1, h)), slice(max(cx - k, 0), min(cx + k + 1, w))
        sub = (np.arange(over, dtype=np.float32) + 0.5) / over - 0.5
        px = (np.arange(xs.start, xs.stop, dtype=np.float32) + x0 - np.float32(xc))
        py = (np.arange(ys.start, ys.stop, dtype=np.float32) + y0 - np.float32(yc))
        fx = (px[:, None] + sub[None, :]).ravel()[None, :]
        fy = (py[:, None] + sub[None, :]).ravel()[:, None]
        fine = sersic_sb(fx, fy, re_px, n, q, phi)
        data[ys, xs] = fine.reshape(len(py), over, len(px), over).mean(axis=(1, 3))
    # The box holds the whole truncated profile, so any shortfall from 1 is cusp light closer to the centre than the
    # sub-grid resolves (up to ~5 % for n = 4, r_e < 1 px): put it back there, split bilinearly between 4 pixels.
    _add_point(data, xc - x0, yc - y0, 1.0 - float(data.sum(dtype=np.float64)))
    return Patch(y0, x0, data)


def ring_patch(xc: float, yc: float, radius_px: float, width_px: float, q: float, phi: float,
               arc_centre: float = 0.0, arc_extent: float = 2 * np.pi) -> Patch:
    """A unit-flux ring or arc: Gaussian cross-section of sigma ``width_px`` along an ellipse of semi-major axis
    ``radius_px``; ``arc_extent`` (radians, full ring when 2 pi) centred on angle ``arc_centre`` of the ellipse."""
    a = radius_px + 4.0 * width_px
    ax, ay = _ellipse_half_widths(a, q, phi)
    y0, x0, h, w = _box(xc, yc, ax + 1, ay + 1)
    dx = (np.arange(x0, x0 + w, dtype=np.float32) - np.float32(xc))[None, :]
    dy = (np.arange(y0, y0 + h, dtype=np.float32) - np.float32(yc))[:, None]
    c, s = np.cos(phi), np.sin(phi)
    xp = dx * c + dy * s
    yp = (dy * c - dx * s) / q
    rho = np.sqrt(xp * xp + yp * yp)
    data = np.exp(-0.5 * np.square((rho - radius_px) / width_px))
    if arc_extent < 2 * np.pi:
        d = np.angle(np.exp(1j * (np.arctan2(yp, xp) - arc_centre)))  # wrapped to (-pi, pi]
        data = data * np.clip(1.0 - np.square(d / (0.5 * arc_extent)), 0.0, 1.0) ** 1.5
    return Patch(y0, x0, _unit(data))


def spiral_patch(xc: float, yc: float, re_px: float, q: float, phi: float, n_arms: int, pitch: float,
                 phase: float, sharpness: float) -> Patch:
    """Unit-flux spiral arms: an exponential disc modulated by ``n_arms`` logarithmic arms of pitch angle ``pitch``
    (radians), raised to ``sharpness`` (larger = thinner arms), faded out in the bulge region."""
    ax, ay = _ellipse_half_widths(4.0 * re_px, q, phi)
    y0, x0, h, w = _box(xc, yc, ax + 1, ay + 1)
    dx = (np.arange(x0, x0 + w, dtype=np.float32) - np.float32(xc))[None, :]
    dy = (np.arange(y0, y0 + h, dtype=np.float32) - np.float32(yc))[:, None]
    c, s = np.cos(phi), np.sin(phi)
    xp = dx * c + dy * s
    yp = (dy * c - dx * s) / q
    r = np.sqrt(xp * xp + yp * yp) + 1e-3
    theta = np.arctan2(yp, xp)
    arms = 0.5 * (1.0 + np.cos(n_arms * (theta - np.log(r / re_px) / np.tan(pitch)) - phase))
    disc = np.exp(-1.678 * r / re_px) * (r < 4.0 * re_px)
    data = disc * arms**sharpness * (1.0 - np.exp(-np.square(r / (0.4 * re_px))))
    return Patch(y0, x0, _unit(data))


def _add_point(data: np.ndarray, x: float, y: float, flux: float) -> None:
    """Add ``flux`` at sub-pixel position (x, y) of ``data`` (pixel centres at integers), bilinearly, in place."""
    ix, iy = int(np.floor(x)), int(np.floor(y))
    fx, fy = x - ix, y - iy
    for oy, wy in ((0, 1.0 - fy), (1, fy)):
        for ox, wx in ((0, 1.0 - fx), (1, fx)):
            if 0 <= iy + oy < data.shape[0] and 0 <= ix + ox < data.shape[1]:
                data[iy + oy, ix + ox] += flux * wy * wx


def _unit(data: np.ndarray) -> np.ndarray:
    total = float(data.sum())
    return (data / total if total > 0 else data).astype(np.float32, copy=False)
