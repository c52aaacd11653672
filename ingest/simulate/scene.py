"""Render one object's cutout: g, r, z images in nanomaggies per pixel.

How (and why this way, for speed): each component is rendered once as a unit-flux patch, shared by the three bands
and scaled by its observed flux per band; the three band planes are summed on a grid padded beyond the cutout (so
light from just outside spills in and FFT wrap-around stays outside), convolved with the band's PSF in Fourier space
(one real FFT of the three planes), and stars are added directly in Fourier space as phase ramps (exact sub-pixel
positions, no pixel-level rendering at all). The centre crop gets Gaussian pixel noise.

The PSF is a double Gaussian, core plus a 10 % wing twice as wide, a fair stand-in for the extended wings of the
Legacy Surveys' PSF; its FWHM equals the catalogue's ``psfsize``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft
from scipy.optimize import brentq

from lensdb.core.units import PIXEL_SCALE_ARCSEC, RELEASED_CUTOUT
from lensdb.ingest.simulate.conditions import FWHM_PER_SIGMA
from lensdb.ingest.simulate.lensing import lensed_source_patch
from lensdb.ingest.simulate.objects import ObjectSpec
from lensdb.ingest.simulate.profiles import Patch, ring_patch, sersic_patch, spiral_patch

PAD_PX = 16  # margin of the render grid around the cutout, pixels
WING_FRACTION = 0.1  # flux fraction of the PSF wing Gaussian
WING_WIDTH = 2.0  # wing sigma / core sigma
POINT_LIKE_RE_PX = 0.25  # Sersics smaller than this (pixels) are rendered as points


@lru_cache(maxsize=1)
def _core_sigma_per_fwhm() -> float:
    """Core sigma of the double-Gaussian PSF per unit FWHM (computed once from the profile's half maximum)."""
    f, w = WING_FRACTION, WING_WIDTH

    def profile(r):  # radial profile for a unit core sigma
        return (1 - f) * np.exp(-0.5 * r * r) + f / (w * w) * np.exp(-0.5 * r * r / (w * w))

    half = 0.5 * profile(0.0)
    r_half = brentq(lambda r: profile(r) - half, 0.1, 5.0)
    return 1.0 / (2.0 * r_half)


def grid_size(cutout: int) -> int:
    """Side of the padded render grid for a cutout of ``cutout`` pixels (an FFT-friendly even size)."""
    return scipy.fft.next_fast_len(cutout + 2 * PAD_PX, real=True)


def psf_otf(psf_sigma_px: np.ndarray, size: int) -> np.ndarray:
    """Optical transfer function of the double-Gaussian PSF per band on a ``size`` grid: (3, size, size//2+1).

    ``psf_sigma_px`` is the Gaussian-equivalent sigma (FWHM / 2.3548) per band, pixels.
    """
    ky2 = np.square(scipy.fft.fftfreq(size))
    kx2 = np.square(scipy.fft.rfftfreq(size))
    otf = np.empty((3, size, size // 2 + 1), dtype=np.complex64)
    scale = FWHM_PER_SIGMA * _core_sigma_per_fwhm()
    for b, sigma in enumerate(np.asarray(psf_sigma_px, dtype=float)):
        # A Gaussian's transform factorises in kx and ky: two 1-D exponentials and an outer product per Gaussian.
        a = -2.0 * np.pi**2 * (sigma * scale) ** 2
        a_w = a * WING_WIDTH**2
        otf[b] = ((1 - WING_FRACTION) * np.outer(np.exp(a * ky2), np.exp(a * kx2))
                  + WING_FRACTION * np.outer(np.exp(a_w * ky2), np.exp(a_w * kx2)))
    return otf


def psf_image(psf_sigma_px: float, size: int = 41) -> np.ndarray:
    """The PSF of one band as a centred ``size`` x ``size`` image summing to 1 (for tests and plots)."""
    otf = psf_otf(np.array([psf_sigma_px] * 3), size)[0]
    img = scipy.fft.irfft2(otf, s=(size, size))
    return np.fft.fftshift(img)


def _component_patch(comp, gx: float, gy: float) -> Patch | None:
    """The unit-flux patch of a component at grid position (gx, gy), or None for point sources."""
    s, ps = comp.shape, PIXEL_SCALE_ARCSEC
    if comp.kind == "sersic":
        if s["re"] / ps < POINT_LIKE_RE_PX:
            return None
        return sersic_patch(gx, gy, s["re"] / ps, s["n"], s["q"], s["phi"])
    if comp.kind == "ring":
        return ring_patch(gx, gy, s["radius"] / ps, s["width"] / ps, s["q"], s["phi"], s["arc_centre"],
                          s["arc_extent"])
    if comp.kind == "spiral":
        return spiral_patch(gx, gy, s["re"] / ps, s["q"], s["phi"], s["n_arms"], s["pitch"], s["phase"],
                            s["sharpness"])
    if comp.kind == "lensed":
        return lensed_source_patch(s["lens"], s["source"], gx, gy)
    if comp.kind == "point":
        return None
    raise ValueError(f"unknown component kind {comp.kind!r}")


def _add_patch(planes: np.ndarray, patch: Patch, flux: np.ndarray) -> None:
    """planes[:, box] += flux[b] * patch, clipped to the grid."""
    size = planes.shape[-1]
    h, w = patch.data.shape
    y0, x0 = max(patch.y0, 0), max(patch.x0, 0)
    y1, x1 = min(patch.y0 + h, size), min(patch.x0 + w, size)
    if y1 <= y0 or x1 <= x0:
        return
    sub = patch.data[y0 - patch.y0:y1 - patch.y0, x0 - patch.x0:x1 - patch.x0]
    planes[:, y0:y1, x0:x1] += flux.astype(np.float32)[:, None, None] * sub[None]


def render(spec: ObjectSpec, cutout: int = RELEASED_CUTOUT, rng: np.random.Generator | None = None, *,
           noise: bool = True, only_central: bool = False) -> np.ndarray:
    """Render the (3, cutout, cutout) float32 g, r, z image of ``spec``, nanomaggies per pixel.

    Args:
        spec: the object.
        cutout: side in pixels (0.262 arcsec); the object sits at the centre, ``(cutout - 1) / 2``.
        rng: generator of the pixel noise (required when ``noise``). The noise field is always drawn at the
            released 152 px size (or larger) and centre-cropped, so smaller cutouts are exact crops of larger ones.
        noise: add Gaussian pixel noise of the conditions' sigma per band.
        only_central: render the central object only (no field, no lensed source): for flux checks.
    """
    size = grid_size(cutout)
    off = (size - cutout) // 2
    centre = (cutout - 1) / 2.0 + off
    planes = np.zeros((3, size, size), dtype=np.float32)
    trans = spec.conditions.transmission
    points = []
    margin = size / 2.0 - 2.0
    for comp in spec.components:
        if only_central and not comp.central:
            continue
        gx, gy = centre + comp.x / PIXEL_SCALE_ARCSEC, centre + comp.y / PIXEL_SCALE_ARCSEC
        patch = _component_patch(comp, gx, gy)
        if patch is None:
            # Points must stay inside the grid: Fourier phase ramps would wrap them around.
            if abs(gx - (size - 1) / 2) < margin and abs(gy - (size - 1) / 2) < margin:
                points.append((gx, gy, comp.flux * trans))
        else:
            _add_patch(planes, patch, comp.flux * trans)
    ft = scipy.fft.rfft2(planes, axes=(-2, -1))
    if points:
        ky = scipy.fft.fftfreq(size)
        kx = scipy.fft.rfftfreq(size)
        for gx, gy, flux in points:
            ramp = np.exp(-2j * np.pi * ky * gy)[:, None] * np.exp(-2j * np.pi * kx * gx)[None, :]
            ft += flux.astype(np.float32)[:, None, None] * ramp.astype(np.complex64)[None]
    ft *= psf_otf(spec.conditions.psf_sigma_px, size)
    image = scipy.fft.irfft2(ft, s=(size, size), axes=(-2, -1))[:, off:off + cutout, off:off + cutout]
    image = np.ascontiguousarray(image, dtype=np.float32)
    if noise:
        if rng is None:
            raise ValueError("render(noise=True) needs the object's noise generator rng")
        image += noise_field(rng, cutout) * spec.conditions.noise_sigma.astype(np.float32)[:, None, None]
    return image


def noise_field(rng: np.random.Generator, cutout: int) -> np.ndarray:
    """Unit Gaussian noise (3, cutout, cutout) float32, drawn at max(cutout, 152) and centre-cropped."""
    full = max(cutout, RELEASED_CUTOUT)
    field = rng.standard_normal((3, full, full), dtype=np.float32)
    o = (full - cutout) // 2
    return field[:, o:o + cutout, o:o + cutout]
