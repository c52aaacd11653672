"""FITS cutouts as the Legacy Survey cutout service writes them, written with astropy, and a catalogue table.

Each file holds a (3, S, S) float32 image, planes g, r, z in nanomaggies, with a TAN WCS centred on the object
(0.262 arcsec pixels), BANDS = 'grz' and BAND0..2, as https://www.legacysurvey.org/viewer/cutout.fits writes them.
The images are a noisy background plus a Gaussian galaxy; every fifth object also has a ring (an "arc"), so a
search from one ring finds others.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

PIXEL_DEG = 0.262 / 3600


def cutout_header(ra: float, dec: float, size: int, *, bunit: str | None = "nanomaggy", wcs: bool = True,
                  bands: str | None = "grz") -> fits.Header:
    h = fits.Header()
    if wcs:
        h.update({"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRVAL1": ra, "CRVAL2": dec,
                  "CRPIX1": (size + 1) / 2, "CRPIX2": (size + 1) / 2, "CD1_1": -PIXEL_DEG, "CD1_2": 0.0,
                  "CD2_1": 0.0, "CD2_2": PIXEL_DEG})
    if bands is not None:
        h["BANDS"] = bands
        for k, b in enumerate(bands):
            h[f"BAND{k}"] = b
    if bunit is not None:
        h["BUNIT"] = bunit
    h["SURVEY"] = "LegacySurvey"
    h["VERSION"] = "DR9"
    return h


def galaxy(rng: np.random.Generator, size: int, ring: bool) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    r2 = xx**2 + yy**2
    width = rng.uniform(2.5, 4.0)
    colour = np.array([0.4, 0.8, 1.4]) * rng.uniform(1.0, 3.0)
    img = colour[:, None, None] * np.exp(-r2 / (2 * width**2))[None]
    if ring:
        radius = rng.uniform(9, 13)
        img += np.array([0.5, 0.35, 0.2])[:, None, None] * np.exp(-(np.sqrt(r2) - radius) ** 2 / 2.0)[None]
    img += rng.normal(0, 0.02, img.shape)
    return img.astype(np.float32)


def positions(n: int, ra0: float = 150.0, dec0: float = 2.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return ra0 + rng.uniform(0, 1.0, n), dec0 + rng.uniform(0, 1.0, n)


def write_cutouts(folder: Path, n: int = 12, *, size: int = 120, seed: int = 0, ra0: float = 150.0,
                  dec0: float = 2.0, table: str | None = "catalogue.ecsv", file_column: bool = False,
                  mags: bool = True) -> tuple[list[Path], Path | None]:
    """Write ``n`` cutouts ``obj_00000.fits``... in ``folder`` and (when ``table``) a catalogue table beside them:
    ra, dec, mag_g/r/z and ebv (and a ``file`` column when ``file_column``). Returns (files, table path)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ra, dec = positions(n, ra0, dec0, seed)
    files = []
    for i in range(n):
        path = folder / f"obj_{i:05d}.fits"
        fits.PrimaryHDU(galaxy(rng, size, ring=i % 5 == 0), header=cutout_header(ra[i], dec[i], size)).writeto(path)
        files.append(path)
    if table is None:
        return files, None
    columns = {"ra": ra, "dec": dec, "ebv": np.full(n, 0.03)}
    if mags:
        for b, m in zip("grz", (19.5, 19.0, 18.6), strict=True):
            columns[f"mag_{b}"] = m + rng.uniform(-1, 1, n)
    if file_column:
        columns["file"] = [p.name for p in files]
    path = folder / table
    Table(columns).write(path, overwrite=True)
    return files, path
