"""The central object of a cutout, by class: an ordinary galaxy, a strong lens, or a lens look-alike.

Classes (the ``class`` column of truth.csv):

- ``galaxy``: an ordinary galaxy (red-sequence bulge, S0, or blue disc), the bulk of the survey;
- ``lens``: a galaxy-scale strong lens: an SIE + external shear deflector (85 % red ellipticals) whose lensed blue
  Sersic source forms arcs, rings, doubles or quads, Einstein radius ~0.9-3.2 arcsec;
- the look-alikes that lens searches confuse with lenses: ``ring`` (ring galaxies: a blue, clumpy ring around a
  compact host), ``spiral`` (bulge + disc + blue logarithmic arms), ``companion`` (a red galaxy with one or two small
  blue neighbours 1-4 arcsec away, sometimes tangentially stretched) and ``merger`` (two overlapping galaxies with
  curved tidal tails).

Each builder returns the components (positions relative to the cutout centre, arcsec), the Tractor-like type, the
galaxy record of the central object and, for lenses, the truth parameters.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from lensdb.ingest.simulate.conditions import Conditions
from lensdb.ingest.simulate.lensing import LensModel, SourceModel, find_images, lensed_source_patch
from lensdb.ingest.simulate.population import (
    Component,
    Galaxy,
    clip,
    draw_counts_mag,
    draw_galaxy,
    flux_with_colours,
    galaxy_components,
)

CLASSES = ("galaxy", "lens", "ring", "spiral", "companion", "merger")
LOOKALIKES = ("ring", "spiral", "companion", "merger")

#: What a builder returns: components, Tractor-like type, the central galaxy's record, lens truth (or None). Builders
#: take (rng, conditions, x, y, mag_range): the central position in arcsec and the allowed z magnitude range.
Built = tuple[list[Component], str, Galaxy, dict | None]


def _blue_colours(rng: np.random.Generator) -> tuple[float, float]:
    """g-r, r-z of a star-forming galaxy at z ~ 0.5-2 (lensed sources, rings, companions)."""
    return (clip(0.35 + 0.15 * rng.standard_normal(), -0.1, 0.9),
            clip(0.3 + 0.15 * rng.standard_normal(), -0.2, 0.8))


def _elliptical(rng: np.random.Generator, gal: Galaxy, x: float, y: float) -> tuple[list[Component], str]:
    """A pure bulge (massive early type), as deflectors and companion hosts are."""
    if rng.random() < 0.65:
        n, stype = 4.0, "DEV"
    else:
        n, stype = float(rng.uniform(3.0, 5.5)), "SER"
    return [Component("sersic", x, y, gal.flux, dict(re=gal.re, n=n, q=gal.q, phi=gal.phi), True)], stype


def build_galaxy(rng, cond, x, y, mag_range) -> Built:
    """An ordinary galaxy with z magnitude in ``mag_range`` (counts rising to the faint end)."""
    gal = draw_galaxy(rng, draw_counts_mag(rng, mag_range[0], mag_range[1], 0.4))
    comps, stype = galaxy_components(rng, gal, x, y, central=True)
    return comps, stype, gal, None


def build_lens(rng, cond: Conditions, x, y, mag_range) -> Built:
    """A deflector (mag_z 16.5-19.8), SIE + shear mass, and a blue Sersic source placed to give several images."""
    red = rng.random() < 0.85
    gal = draw_galaxy(rng, draw_counts_mag(rng, max(mag_range[0], 16.5), min(mag_range[1], 19.8), 0.2), red=red)
    comps, stype = (_elliptical(rng, gal, x, y) if red else galaxy_components(rng, gal, x, y, central=True))
    # Brighter deflectors (at similar redshift) are more massive: Einstein radius grows slowly with luminosity.
    theta_e = clip(1.8 * 10 ** (-0.08 * (gal.mag_z - 18.5)) * np.exp(0.25 * rng.standard_normal()),
                            1.0, 3.2)
    lens = LensModel(theta_e=theta_e, q=clip(gal.q + 0.1 * rng.standard_normal(), 0.4, 1.0),
                     phi=float(gal.phi + np.deg2rad(10.0) * rng.standard_normal()),
                     gamma=float(min(rng.rayleigh(0.04), 0.15)), gamma_phi=float(rng.uniform(0, np.pi)))
    src_re = clip(0.3 * 10 ** (0.2 * rng.standard_normal()), 0.08, 0.9)
    g_r, r_z = _blue_colours(rng)
    mag_r = float(rng.uniform(21.5, 24.5))
    # Source offsets: 15 % near the centre (rings, Einstein crosses), the rest spread inside the caustics.
    # Redraw until the source centre has several images, so every object of class "lens" is a strong lens.
    for _ in range(30):
        f = rng.uniform(0.0, 0.2) if rng.random() < 0.15 else 0.75 * rng.random() ** 1.5
        t = rng.uniform(0, 2 * np.pi)
        source = SourceModel(x=float(f * theta_e * np.cos(t)), y=float(f * theta_e * np.sin(t)), re=src_re,
                             n=float(rng.uniform(0.5, 2.0)), q=float(rng.uniform(0.4, 1.0)),
                             phi=float(rng.uniform(0, np.pi)))
        img_x, _, _ = find_images(lens, source.x, source.y)
        if len(img_x) >= 2:
            break
    src_flux = flux_with_colours(mag_r, g_r, r_z)
    comps.append(Component("lensed", x, y, src_flux, dict(lens=lens, source=source)))
    truth = lens_truth(lens, source, src_flux, len(img_x), cond)
    return comps, stype, gal, truth


def lens_truth(lens: LensModel, source: SourceModel, src_flux: np.ndarray, n_images: int,
               cond: Conditions) -> dict:
    """Truth-table parameters of a lens: mass model, source, magnification, and an arc signal-to-noise ratio.

    ``arc_snr`` is the matched-filter S/N of the lensed source alone, summed in quadrature over g, r, z, with the PSF
    approximated by its Gaussian core: a measure of how visible the arcs are against the pixel noise.
    """
    patch = lensed_source_patch(lens, source, 0.0, 0.0)
    mu = float(patch.data.sum(dtype=np.float64))
    observed = src_flux * cond.transmission
    snr2 = 0.0
    for b in range(3):
        sig = float(cond.psf_sigma_px[b])
        blurred = gaussian_filter(np.pad(patch.data.astype(np.float64), int(4 * sig) + 1), sig, mode="constant")
        snr2 += (observed[b] * np.sqrt(np.square(blurred).sum()) / cond.noise_sigma[b]) ** 2
    offset = float(np.hypot(source.x, source.y))
    config = "ring" if offset < source.re else ("quad" if n_images >= 4 else "double")
    lensed_mag = 22.5 - 2.5 * np.log10(np.maximum(observed * mu, 1e-12))
    src_mag = 22.5 - 2.5 * np.log10(src_flux)
    return dict(
        theta_e_arcsec=lens.theta_e, lens_q=lens.q, lens_phi_deg=float(np.rad2deg(lens.phi) % 180.0),
        gamma_ext=lens.gamma, gamma_phi_deg=float(np.rad2deg(lens.gamma_phi) % 180.0),
        source_x_arcsec=source.x, source_y_arcsec=source.y, source_re_arcsec=source.re, source_n=source.n,
        source_q=source.q, source_mag_g=src_mag[0], source_mag_r=src_mag[1], source_mag_z=src_mag[2],
        magnification=mu, n_images=n_images, config=config, arc_mag_g=lensed_mag[0], arc_mag_r=lensed_mag[1],
        arc_mag_z=lensed_mag[2], arc_snr=float(np.sqrt(snr2)),
    )


def build_ring(rng, cond, x, y, mag_range) -> Built:
    """A compact host inside a blue ring (sometimes broken, sometimes clumpy) of Einstein-ring size, 1.2-3.5"."""
    gal = draw_galaxy(rng, draw_counts_mag(rng, max(mag_range[0], 16.8), min(mag_range[1], 20.0), 0.3),
                      red=bool(rng.random() < 0.6))
    host_flux = gal.flux
    comps = [Component("sersic", x, y, host_flux, dict(re=min(gal.re, 1.2), n=float(rng.uniform(1.5, 4.0)),
                                                       q=max(gal.q, 0.6), phi=gal.phi), True)]
    g_r, r_z = _blue_colours(rng)
    ring_flux = flux_with_colours(22.5 - 2.5 * np.log10(host_flux[1] * rng.uniform(0.5, 1.5)), g_r, r_z)
    radius, q, phi = float(rng.uniform(1.2, 3.5)), float(rng.uniform(0.55, 1.0)), float(rng.uniform(0, np.pi))
    extent = 2 * np.pi if rng.random() < 0.5 else float(np.deg2rad(rng.uniform(200, 330)))
    n_clumps = int(rng.integers(0, 6))
    smooth = 1.0 - (0.3 if n_clumps else 0.0)
    comps.append(Component("ring", x, y, ring_flux * smooth, dict(
        radius=radius, width=float(rng.uniform(0.15, 0.4)), q=q, phi=phi,
        arc_centre=float(rng.uniform(-np.pi, np.pi)), arc_extent=extent), True))
    for _ in range(n_clumps):
        t = rng.uniform(0, 2 * np.pi)
        cx, cy = radius * np.cos(t), radius * q * np.sin(t)
        px, py = cx * np.cos(phi) - cy * np.sin(phi), cx * np.sin(phi) + cy * np.cos(phi)
        comps.append(Component("sersic", x + px, y + py, ring_flux * 0.3 / n_clumps,
                               dict(re=float(rng.uniform(0.12, 0.3)), n=1.0, q=float(rng.uniform(0.5, 1)),
                                    phi=float(rng.uniform(0, np.pi))), True))
    return comps, ("EXP" if not gal.red else "SER"), gal, None


def build_spiral(rng, cond, x, y, mag_range) -> Built:
    """A bright disc galaxy: red bulge, exponential disc and 2-4 blue logarithmic arms."""
    gal = draw_galaxy(rng, draw_counts_mag(rng, max(mag_range[0], 15.5), min(mag_range[1], 19.0), 0.3), red=False)
    re = clip(gal.re * rng.uniform(1.0, 1.6), 1.2, 8.0)
    q, phi = float(rng.uniform(0.35, 1.0)), gal.phi
    total = gal.flux
    f_bulge, f_arms = rng.uniform(0.1, 0.35), rng.uniform(0.3, 0.5)
    # Bulges are redder and arms bluer than the disc average; the three parts still sum to about the total.
    bulge = total * f_bulge * np.array([0.6, 1.0, 1.3])
    arms = total * f_arms * np.array([1.3, 1.0, 0.8])
    disc = np.maximum(total - bulge - arms, 0.05 * total)
    comps = [
        Component("sersic", x, y, bulge, dict(re=float(re * rng.uniform(0.12, 0.3)),
                                              n=float(rng.uniform(2.0, 4.0)), q=max(q, 0.7), phi=phi), True),
        Component("sersic", x, y, disc, dict(re=re, n=1.0, q=q, phi=phi), True),
        Component("spiral", x, y, arms, dict(re=re, q=q, phi=phi, n_arms=int(rng.choice([2, 2, 2, 3, 4])),
                                             pitch=float(np.deg2rad(rng.uniform(10, 30))),
                                             phase=float(rng.uniform(0, 2 * np.pi)),
                                             sharpness=float(rng.uniform(2.0, 6.0))), True),
    ]
    return comps, ("EXP" if rng.random() < 0.7 else "SER"), gal, None


def build_companion(rng, cond, x, y, mag_range) -> Built:
    """A red elliptical with one or two small blue galaxies 1.2-4" away, half of them stretched tangentially."""
    gal = draw_galaxy(rng, draw_counts_mag(rng, max(mag_range[0], 16.5), min(mag_range[1], 20.0), 0.3), red=True)
    comps, stype = _elliptical(rng, gal, x, y)
    for _ in range(1 if rng.random() < 0.7 else 2):
        d, t = rng.uniform(1.2, 4.0), rng.uniform(0, 2 * np.pi)
        if rng.random() < 0.5:  # stretched tangentially, the way a lensed arc would be
            q, phi = float(rng.uniform(0.3, 0.7)), float(t + np.pi / 2)
        else:
            q, phi = float(rng.uniform(0.5, 1.0)), float(rng.uniform(0, np.pi))
        g_r, r_z = _blue_colours(rng)
        comps.append(Component("sersic", x + d * np.cos(t), y + d * np.sin(t),
                               flux_with_colours(rng.uniform(20.5, 23.0), g_r, r_z),
                               dict(re=float(rng.uniform(0.12, 0.5)), n=1.0, q=q, phi=phi)))
    return comps, stype, gal, None


def build_merger(rng, cond, x, y, mag_range) -> Built:
    """Two galaxies 1-4" apart with one or two curved tidal tails."""
    gal = draw_galaxy(rng, draw_counts_mag(rng, max(mag_range[0], 16.5), min(mag_range[1], 19.5), 0.3))
    comps, stype = galaxy_components(rng, gal, x, y, central=True)
    d, t = rng.uniform(1.0, 4.0), rng.uniform(0, 2 * np.pi)
    sx, sy = x + d * np.cos(t), y + d * np.sin(t)
    second = draw_galaxy(rng, gal.mag_z + rng.uniform(0.0, 1.8))
    comps.extend(galaxy_components(rng, second, float(sx), float(sy))[0])
    mean_gr, mean_rz = 0.5 * (gal.g_r + second.g_r), 0.5 * (gal.r_z + second.r_z)
    for _ in range(int(rng.integers(1, 3))):
        host_x, host_y = (x, y) if rng.random() < 0.6 else (float(sx), float(sy))
        tail_r = gal.flux[1] * rng.uniform(0.08, 0.25)
        comps.append(Component("ring", host_x, host_y,
                               flux_with_colours(22.5 - 2.5 * np.log10(tail_r), mean_gr, mean_rz),
                               dict(radius=float(rng.uniform(2.0, 5.0)), width=float(rng.uniform(0.3, 0.8)),
                                    q=float(rng.uniform(0.5, 1.0)), phi=float(rng.uniform(0, np.pi)),
                                    arc_centre=float(rng.uniform(-np.pi, np.pi)),
                                    arc_extent=float(np.deg2rad(rng.uniform(60, 160)))), True))
    return comps, stype, gal, None


BUILDERS = {"galaxy": build_galaxy, "lens": build_lens, "ring": build_ring, "spiral": build_spiral,
            "companion": build_companion, "merger": build_merger}
