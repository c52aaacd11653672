"""The portable sky-pixel index: HEALPix nested pixels at order 29 and the cover of a cone, against exact
separations, at RA 0/360, at and near both poles and at every radius LensDB uses."""

import astropy.units as u
import numpy as np
import pytest
from astropy.coordinates import SkyCoord

from lensdb.core import sky


def _inside(lo, hi, pix):
    sel = np.zeros(pix.shape, bool)
    for a, b in zip(lo, hi, strict=True):
        if a >= 0:
            sel |= (pix >= a) & (pix <= b)
    return sel


def test_pixels_are_nested_order_29_and_coarser_pixels_are_ranges():
    ra, dec = np.array([0.0, 359.9999999, 10.0, 200.0]), np.array([90.0, -90.0, 0.0, -45.0])
    pix = sky.sky_pixel(ra, dec)
    assert pix.dtype == np.int64 and np.all((pix >= 0) & (pix < 12 * 4 ** 29))
    from astropy_healpix import HEALPix
    for level in (0, 7, 16):
        coarse = HEALPix(nside=1 << level, order="nested").lonlat_to_healpix(ra * u.deg, dec * u.deg)
        np.testing.assert_array_equal(pix >> (2 * (29 - level)), coarse)
    assert sky.sky_pixel([], []).size == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_cover_holds_every_position_within_the_radius(seed):
    rng = np.random.default_rng(seed)
    specials = [90.0, -90.0, 89.9999, -89.99, 85.0, -41.81, 41.81, 0.0]
    n_inside = 0
    for _ in range(600):
        ra0 = float(rng.choice([0.0, 359.99999, rng.uniform(0, 360)]))
        dec0 = float(rng.choice(specials + [rng.uniform(-90, 90)] * 4))
        radius = float(rng.choice([0.1, 1.0, 3.0, 25.2, 300.0, 3600.0 * 5, 3600.0 * 40])) / 3600.0
        centre = SkyCoord(ra0 * u.deg, dec0 * u.deg)
        # points on the rim (just inside) and spread over the disc
        pa = rng.uniform(0, 360, 300) * u.deg
        sep = np.concatenate([np.full(150, radius * 0.9999999), radius * np.sqrt(rng.uniform(0, 1, 150))])
        pts = centre.directional_offset_by(pa, sep * u.deg)
        ra, dec = pts.ra.deg % 360.0, pts.dec.deg
        inside = sky.separation(ra, dec, ra0, dec0) <= radius
        lo, hi = sky.sky_pixel_cover([ra0], [dec0], radius)
        assert np.all(_inside(lo[0], hi[0], sky.sky_pixel(ra, dec))[inside])
        ranges = sky.sky_pixel_ranges(ra0, dec0, radius)
        assert np.all(_inside([a for a, _ in ranges], [b for _, b in ranges], sky.sky_pixel(ra, dec))[inside])
        n_inside += int(inside.sum())
    assert n_inside > 100_000


def test_cover_is_a_few_disjoint_ranges():
    lo, hi = sky.sky_pixel_cover([10.0, 0.0], [20.0, 90.0], 25.2 / 3600)
    assert lo.shape == (2, 9)
    for a, b in zip(lo, hi, strict=True):
        ok = a >= 0
        order = np.argsort(a[ok])
        assert np.all(a[ok][order][1:] > b[ok][order][:-1])  # disjoint: a join gives each pair once
    assert sky.sky_pixel_level(25.2 / 3600) == 11 and sky.sky_pixel_level(1e-12) == 29
    assert sky.sky_pixel_level(180.0) == 0
