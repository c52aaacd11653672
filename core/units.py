"""The survey's constants, in one place: pixel scale, magnitude zero point, cutout sizes, the paper's radii.

Units: positions and radii in degrees unless a name says arcsec; fluxes in nanomaggies; magnitudes AB.
"""

from __future__ import annotations

import numpy as np

#: Legacy Surveys pixel scale, arcsec per pixel (DECam, 90Prime and Mosaic-3 cutouts are resampled to it).
PIXEL_SCALE_ARCSEC = 0.262
#: AB magnitude of a flux of 1 nanomaggy: ``mag = 22.5 - 2.5 log10(flux)``.
MAG_ZEROPOINT = 22.5
#: Side of the released cutouts, pixels.
RELEASED_CUTOUT = 152
#: The encoder's training crop and the largest jitter before it, pixels (paper, Section 3.1).
TRAIN_CROP = 96
JITTER_PX = 7
#: Smallest cutout that still allows the training crop with its jitter.
MIN_CUTOUT = TRAIN_CROP + 2 * JITTER_PX
#: One 96-pixel cutout, arcsec (the paper rounds 96 x 0.262 = 25.15 to 25.2): the radius within which a source may
#: show a known lens (never drawn as a non-lens), and the default cross-match radius of known-lens lists.
CUTOUT_RADIUS_ARCSEC = 25.2
ARCSEC_PER_DEG = 3600.0


def flux_to_mag(flux) -> np.ndarray:
    """AB magnitudes of fluxes in nanomaggies; a flux <= 0 (no detection) gives NaN."""
    flux = np.asarray(flux, dtype=np.float64)
    positive = flux > 0
    return np.where(positive, MAG_ZEROPOINT - 2.5 * np.log10(np.where(positive, flux, 1.0)), np.nan)


def mag_to_flux(mag) -> np.ndarray:
    """Fluxes in nanomaggies of AB magnitudes."""
    return 10.0 ** ((MAG_ZEROPOINT - np.asarray(mag, dtype=np.float64)) / 2.5)
