"""Observing conditions of one simulated cutout: PSF, pixel noise, depth, Galactic extinction, number of exposures.

The south (DECaLS + DES) draws come straight from the lognormal fits of Stein et al. (2021), Table 2, made to the DR9
south, mag_z < 20 sample (scipy.stats.lognorm parameterisation: ``x = loc + scale * exp(shape * N(0, 1))``):

- PSF: Gaussian-equivalent sigma in pixels, ``sigma = psfsize / 2.3548`` (psfsize in pixels);
- noise: per-pixel Gaussian sigma in nanomaggies;
- E(B-V) in magnitudes.

The paper gives no fit for the north (BASS g, r + MzLS z). LensDB models it by widening the south distributions with
:data:`NORTH_PSF_FACTOR` and :data:`NORTH_NOISE_FACTOR`, chosen from the published DR9 depths and seeing (BASS is about
0.5 mag shallower in g and r with ~20 % broader seeing; MzLS z is ~0.3 mag shallower with similar seeing).

``psfdepth`` (inverse variance of a PSF flux, 1/nanomaggies^2) is tied to the pixel noise by the paper's
noise-equivalent area relation (its equation B1)::

    1 / sigma_pix^2 = 4 pi psfdepth (psfsize_px / 2.3548)^2

so :func:`noise_from_psfdepth` recovers exactly the noise that was added to the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lensdb.core.units import PIXEL_SCALE_ARCSEC

FWHM_PER_SIGMA = 2.3548  # 2 sqrt(2 ln 2), Gaussian FWHM / sigma

#: Table 2 of the paper, per band (g, r, z): (shape, loc, scale).
PSF_SIGMA_PX_FIT = ((0.2109966, 1.0807153, 1.3153171), (0.3008485, 1.2394326, 0.9164757),
                    (0.3471172, 1.1928363, 0.8233702))
NOISE_SIGMA_FIT = ((0.2264926, -0.0006735, 0.0037602), (0.2431146, -0.0023663, 0.0067417),
                   (0.1334844, -0.0143416, 0.0260779))
EBV_FIT = (0.67306, 0.001146, 0.03338)

#: Extinction coefficients A_band / E(B-V) for DECam g, r, z (the ones the released code uses).
EXTINCTION_COEFF = np.array([3.214, 2.165, 1.211])

#: North / south ratios of PSF width and pixel noise per band (g, r, z); LensDB's model, see the module docstring.
NORTH_PSF_FACTOR = np.array([1.20, 1.18, 1.02])
NORTH_NOISE_FACTOR = np.array([1.60, 1.55, 1.30])

#: Typical exposures per band in DR9 (south, north) used to draw ``nobs``; deeper cutouts get more.
_NOBS_MEDIAN = {"south": np.array([4.0, 4.0, 5.0]), "north": np.array([3.0, 3.0, 3.0])}

# Floors keep a lognormal draw from the far tail (z noise has a negative loc) physically sensible.
_MIN_PSF_SIGMA_PX = 0.8
_MIN_NOISE = 2e-4


def lognormal(rng: np.random.Generator, shape, loc, scale) -> np.ndarray:
    """Draw from scipy.stats.lognorm(shape, loc, scale) without scipy's per-call overhead (arrays broadcast)."""
    shape, loc, scale = (np.asarray(v, dtype=float) for v in (shape, loc, scale))
    return loc + scale * np.exp(shape * rng.standard_normal(np.broadcast(shape, loc, scale).shape))


def transmission(ebv: float | np.ndarray) -> np.ndarray:
    """Galactic transmission per band, ``10**(-A_band E(B-V) / 2.5)``; shape (..., 3)."""
    return 10.0 ** (-np.multiply.outer(ebv, EXTINCTION_COEFF) / 2.5)


def psfdepth_from_noise(noise_sigma, psf_sigma_px) -> np.ndarray:
    """PSF-flux inverse variance (1/nanomaggies^2) from pixel noise (nanomaggies) and PSF sigma (pixels); eq. B1."""
    return 1.0 / (4.0 * np.pi * np.square(psf_sigma_px) * np.square(noise_sigma))


def noise_from_psfdepth(psfdepth, psfsize_arcsec) -> np.ndarray:
    """Per-pixel noise sigma (nanomaggies) implied by catalogue ``psfdepth`` and ``psfsize`` (arcsec FWHM); eq. B1."""
    psf_sigma_px = np.asarray(psfsize_arcsec) / PIXEL_SCALE_ARCSEC / FWHM_PER_SIGMA
    return 1.0 / np.sqrt(4.0 * np.pi * np.asarray(psfdepth) * np.square(psf_sigma_px))


def depth_mag(psfdepth) -> np.ndarray:
    """5-sigma point-source depth in AB magnitudes from ``psfdepth`` (1/nanomaggies^2)."""
    return 22.5 - 2.5 * np.log10(5.0 / np.sqrt(np.asarray(psfdepth)))


@dataclass(frozen=True)
class Conditions:
    """What the survey did to one cutout, per band g, r, z.

    Attributes:
        survey: "south" or "north".
        psf_sigma_px: Gaussian-equivalent PSF sigma, pixels (0.262 arcsec).
        noise_sigma: per-pixel Gaussian noise sigma, nanomaggies.
        ebv: Galactic E(B-V), magnitudes.
        nobs: number of exposures.
    """

    survey: str
    psf_sigma_px: np.ndarray
    noise_sigma: np.ndarray
    ebv: float
    nobs: np.ndarray

    @property
    def psfsize(self) -> np.ndarray:
        """PSF FWHM, arcsec (the catalogue's ``psfsize``)."""
        return self.psf_sigma_px * FWHM_PER_SIGMA * PIXEL_SCALE_ARCSEC

    @property
    def psfdepth(self) -> np.ndarray:
        """PSF-flux inverse variance, 1/nanomaggies^2 (the catalogue's ``psfdepth``), from eq. B1."""
        return psfdepth_from_noise(self.noise_sigma, self.psf_sigma_px)

    @property
    def transmission(self) -> np.ndarray:
        """Galactic transmission per band (the catalogue's ``transmission``)."""
        return transmission(self.ebv)


def draw_conditions(rng: np.random.Generator, survey: str) -> Conditions:
    """Draw the observing conditions of one cutout in ``survey`` ("south" or "north"); bands are independent."""
    if survey not in ("south", "north"):
        raise ValueError(f"survey must be 'south' or 'north', got {survey!r}")
    psf = np.array([lognormal(rng, *fit) for fit in PSF_SIGMA_PX_FIT])
    noise = np.array([lognormal(rng, *fit) for fit in NOISE_SIGMA_FIT])
    if survey == "north":
        psf = psf * NORTH_PSF_FACTOR
        noise = noise * NORTH_NOISE_FACTOR
    psf = np.maximum(psf, _MIN_PSF_SIGMA_PX)
    noise = np.maximum(noise, _MIN_NOISE)
    ebv = float(max(lognormal(rng, *EBV_FIT), 0.0))
    # Deeper images come from more exposures: noise ~ 1/sqrt(nobs) around the survey's typical count.
    typical = np.array([fit[1] + fit[2] for fit in NOISE_SIGMA_FIT])
    if survey == "north":
        typical = typical * NORTH_NOISE_FACTOR
    nobs_float = _NOBS_MEDIAN[survey] * np.square(typical / noise) * np.exp(0.2 * rng.standard_normal(3))
    nobs = np.clip(np.rint(nobs_float), 1, 30).astype(np.int16)
    return Conditions(survey=survey, psf_sigma_px=psf, noise_sigma=noise, ebv=ebv, nobs=nobs)
