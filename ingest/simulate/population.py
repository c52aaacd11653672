"""Parameter draws for the things in a cutout: galaxies (magnitude, redshift, colour, size, shape), stars, field
neighbours and the faint background, plus the photometric-redshift columns.

Everything here is a rough empirical model of the DR9 mag_z < ~21 galaxy population, tuned by eye against Legacy Survey
cutouts: two colour families (a red sequence whose g-r and r-z redden with redshift the way luminous red galaxies do,
and a blue cloud), sizes shrinking with magnitude, number counts rising toward faint magnitudes. Positions are arcsec
from the cutout centre (+x = +column, +y = +row); fluxes are intrinsic nanomaggies g, r, z before Galactic extinction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Neighbour counts 0..4 and their probabilities (brighter field galaxies in the cutout, besides the central object).
NEIGHBOUR_PROBS = (0.25, 0.3, 0.22, 0.14, 0.09)
STARS_PER_CUTOUT = 0.6  # Poisson mean of stars brighter than r = 22.5 in a 40 arcsec cutout at high latitude
FAINT_PER_CUTOUT = 8.0  # Poisson mean of faint (mag_z 21.5-24) background galaxies


@dataclass(frozen=True)
class Component:
    """One light component of a scene.

    Attributes:
        kind: "sersic" (re, n, q, phi), "point", "ring" (radius, width, q, phi, arc_centre, arc_extent), "spiral"
            (re, q, phi, n_arms, pitch, phase, sharpness) or "lensed" (lens: LensModel, source: SourceModel).
        x, y: position, arcsec from the cutout centre.
        flux: intrinsic g, r, z flux, nanomaggies (before extinction).
        shape: the kind's shape parameters (lengths in arcsec, angles in radians).
        central: part of the catalogued central object (its catalogue flux is the sum of these).
    """

    kind: str
    x: float
    y: float
    flux: np.ndarray
    shape: dict[str, Any] = field(default_factory=dict)
    central: bool = False


@dataclass(frozen=True)
class Galaxy:
    """Global properties of one drawn galaxy (before it is turned into components)."""

    mag_z: float
    z: float
    red: bool
    g_r: float
    r_z: float
    re: float  # arcsec, major-axis half-light radius
    q: float
    phi: float

    @property
    def flux(self) -> np.ndarray:
        """Intrinsic g, r, z flux, nanomaggies."""
        return mags_to_flux(self.mag_z + self.r_z + self.g_r, self.mag_z + self.r_z, self.mag_z)


def clip(x: float, lo: float, hi: float) -> float:
    """Scalar clip as a float (np.clip is ~20x slower on scalars, and draws call it a lot)."""
    return float(min(max(x, lo), hi))


def mags_to_flux(mag_g: float, mag_r: float, mag_z: float) -> np.ndarray:
    """AB magnitudes to nanomaggies, ``flux = 10**((22.5 - mag) / 2.5)``, as a (3,) array."""
    return 10.0 ** ((22.5 - np.array([mag_g, mag_r, mag_z], dtype=float)) / 2.5)


def flux_with_colours(mag_r: float, g_r: float, r_z: float) -> np.ndarray:
    """g, r, z flux (nanomaggies) of an object of r magnitude ``mag_r`` and colours g-r, r-z."""
    return mags_to_flux(mag_r + g_r, mag_r, mag_r - r_z)


def draw_counts_mag(rng: np.random.Generator, lo: float, hi: float, slope: float) -> float:
    """A magnitude in [lo, hi] with number counts dN/dm proportional to 10**(slope m)."""
    u = rng.random()
    return float(lo + np.log10(1.0 + u * (10.0 ** (slope * (hi - lo)) - 1.0)) / slope)


def draw_galaxy(rng: np.random.Generator, mag_z: float, red: bool | None = None) -> Galaxy:
    """A galaxy of z magnitude ``mag_z``: red-sequence or blue-cloud colours, redshift, size and shape."""
    if red is None:
        # Red galaxies dominate the bright end of a z-selected sample.
        red = bool(rng.random() < clip(0.75 - 0.1 * (mag_z - 16.0), 0.3, 0.75))
    if red:
        z = clip(0.02 + 0.13 * (mag_z - 15.0) + 0.06 * rng.standard_normal(), 0.02, 1.1)
        g_r = 0.75 + 2.1 * min(z, 0.45) + 0.3 * max(z - 0.45, 0.0) + 0.06 * rng.standard_normal()
        r_z = 0.45 + 1.2 * z + 0.8 * max(z - 0.45, 0.0) + 0.06 * rng.standard_normal()
        re = 2.5 * 10.0 ** (-0.16 * (mag_z - 16.0) + 0.15 * rng.standard_normal())
        q = clip(rng.beta(5.0, 2.0), 0.35, 1.0)
    else:
        z = clip(0.01 + 0.09 * (mag_z - 15.0) + 0.06 * rng.standard_normal(), 0.01, 1.3)
        g_r = 0.3 + 0.9 * z + 0.12 * rng.standard_normal()
        r_z = 0.25 + 0.6 * z + 0.12 * rng.standard_normal()
        re = 3.0 * 10.0 ** (-0.17 * (mag_z - 16.0) + 0.15 * rng.standard_normal())
        q = clip(rng.beta(2.2, 1.6), 0.15, 1.0)
    re = clip(re, 0.12, 12.0)
    return Galaxy(mag_z=float(mag_z), z=z, red=red, g_r=float(g_r), r_z=float(r_z), re=re, q=q,
                  phi=float(rng.uniform(0, np.pi)))


def galaxy_components(rng: np.random.Generator, gal: Galaxy, x: float, y: float,
                      central: bool = False) -> tuple[list[Component], str]:
    """Light components of an ordinary galaxy and its Tractor-like type (DEV, EXP, REX or SER)."""
    flux = gal.flux
    if gal.red:
        if rng.random() < 0.2:
            # S0-like: a bulge plus a faint disc of the same colour; the Tractor fits a free Sersic.
            frac = rng.uniform(0.15, 0.4)
            disc = Component("sersic", x, y, flux * frac, dict(re=gal.re * rng.uniform(1.5, 2.5), n=1.0,
                                                                 q=min(gal.q, rng.uniform(0.3, 0.9)), phi=gal.phi),
                             central)
            bulge = Component("sersic", x, y, flux * (1 - frac), dict(re=gal.re * 0.7, n=4.0, q=gal.q, phi=gal.phi),
                              central)
            return [bulge, disc], "SER"
        if rng.random() < 0.6:
            return [Component("sersic", x, y, flux, dict(re=gal.re, n=4.0, q=gal.q, phi=gal.phi), central)], "DEV"
        n = float(rng.uniform(2.5, 6.0))
        return [Component("sersic", x, y, flux, dict(re=gal.re, n=n, q=gal.q, phi=gal.phi), central)], "SER"
    if gal.re < 0.6:
        q = float(rng.uniform(0.8, 1.0))
        return [Component("sersic", x, y, flux, dict(re=gal.re, n=1.0, q=q, phi=gal.phi), central)], "REX"
    if rng.random() < 0.3:
        # Disc + small redder bulge.
        frac = rng.uniform(0.1, 0.3)
        bulge_flux = flux * frac * np.array([0.7, 1.0, 1.25])
        disc = Component("sersic", x, y, flux - bulge_flux, dict(re=gal.re, n=1.0, q=gal.q, phi=gal.phi), central)
        bulge = Component("sersic", x, y, bulge_flux, dict(re=gal.re * 0.25, n=2.5, q=max(gal.q, 0.6), phi=gal.phi),
                          central)
        return [disc, bulge], "SER"
    n = 1.0 if rng.random() < 0.75 else float(rng.uniform(0.6, 2.0))
    return [Component("sersic", x, y, flux, dict(re=gal.re, n=n, q=gal.q, phi=gal.phi), central)], (
        "EXP" if n == 1.0 else "SER")


def draw_star(rng: np.random.Generator, x: float, y: float) -> Component:
    """A star on the stellar locus (g-r 0.25-1.6), r magnitude 14.5-22.5 with flat-ish counts."""
    mag_r = draw_counts_mag(rng, 14.5, 22.5, 0.15)
    g_r = clip(rng.gamma(4.0, 0.22) + 0.25, 0.25, 1.6)
    r_z = -0.1 + 0.62 * g_r + 2.5 * max(g_r - 1.2, 0.0) + 0.05 * rng.standard_normal()
    return Component("point", x, y, flux_with_colours(mag_r, g_r, r_z))


def field_components(rng: np.random.Generator, half_extent: float,
                     keep_clear: float = 2.5) -> tuple[list[Component], int, int, float]:
    """Neighbour galaxies, stars and faint background galaxies over a square of half-size ``half_extent`` (arcsec).

    Neighbours and stars stay at least ``keep_clear`` arcsec from the centre (close companions are a separate class).

    Returns:
        (components, number of neighbours, number of stars, r magnitude of the brightest star or 99).
    """
    comps: list[Component] = []

    def position(clear: float) -> tuple[float, float]:
        while True:
            x, y = rng.uniform(-half_extent, half_extent, 2)
            if np.hypot(x, y) >= clear:
                return float(x), float(y)

    n_neigh = int(rng.choice(len(NEIGHBOUR_PROBS), p=NEIGHBOUR_PROBS))
    for _ in range(n_neigh):
        gal = draw_galaxy(rng, draw_counts_mag(rng, 16.5, 22.5, 0.4))
        comps.extend(galaxy_components(rng, gal, *position(keep_clear))[0])
    n_stars = min(int(rng.poisson(STARS_PER_CUTOUT)), 3)
    brightest = 99.0
    for _ in range(n_stars):
        star = draw_star(rng, *position(keep_clear))
        brightest = min(brightest, 22.5 - 2.5 * np.log10(star.flux[1]))
        comps.append(star)
    for _ in range(int(rng.poisson(FAINT_PER_CUTOUT))):
        gal = draw_galaxy(rng, draw_counts_mag(rng, 21.5, 24.0, 0.35))
        x, y = position(1.0)
        comps.append(Component("sersic", x, y, gal.flux, dict(re=min(gal.re, 0.8), n=1.0, q=gal.q, phi=gal.phi)))
    return comps, n_neigh, n_stars, float(brightest)


def draw_photoz(rng: np.random.Generator, z: float, red: bool, mag_z: float) -> dict[str, float]:
    """Photometric-redshift columns around the true redshift ``z`` (red galaxies get tighter photo-z's), plus z_spec
    for a few bright ones (-99 otherwise, as in the sweeps)."""
    sigma = (0.02 if red else 0.05) * (1.0 + z) * (1.0 + 0.3 * max(mag_z - 19.0, 0.0))
    mean = max(z + sigma * rng.standard_normal(), 0.001)
    std = sigma * float(np.exp(0.3 * rng.standard_normal()))
    median = max(mean + 0.2 * std * rng.standard_normal(), 0.001)
    z_spec = z if (mag_z < 18.5 and rng.random() < 0.15) else -99.0
    return dict(z_phot_mean=mean, z_phot_median=median, z_phot_std=std, z_phot_l68=max(median - std, 0.0),
                z_phot_u68=median + std, z_spec=z_spec)
