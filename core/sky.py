"""Sky geometry: unit vectors, exact separations, cone bounding boxes and membership, and duplicate removal.

All angles are in degrees unless a name says otherwise. Used by the catalogue (cross-match, cone conditions in SQL)
and by the vector store (cone filters and the paper's duplicate rule on search results) alike.
"""

from __future__ import annotations

import itertools
import math

import astropy.units as u
import numpy as np
from astropy_healpix.core import lonlat_to_healpix, neighbours

from lensdb.core.units import ARCSEC_PER_DEG, PIXEL_SCALE_ARCSEC

__all__ = ["DUPLICATE_RADIUS_PX", "PIXEL_SCALE_ARCSEC", "SKY_PIXEL_ORDER", "DuplicateFilter", "cone_box", "in_cone",
           "separation", "separation_arcsec", "sky_pixel", "sky_pixel_cover", "sky_pixel_level",
           "sky_pixel_ranges", "unit_vectors"]

#: The sky-pixel column's HEALPix order (nested scheme): 2^29 pixels a side of each of the 12 base pixels, the
#: finest that fits a signed 64-bit integer (pixels of 0.39 mas). A nested pixel of any coarser order L is one
#: contiguous range of order-29 pixels, so a B-tree index on the column answers "inside these pixels" at every scale.
SKY_PIXEL_ORDER = 29
#: Degrees added to a radius before picking its pixel order, so that rounding never makes the pixels too small.
_PIXEL_PAD_DEG = 1e-7

#: Results closer than one image (96 pixels = 25.152 arcsec) to a better result show the same galaxy.
DUPLICATE_RADIUS_PX = 96.0


def unit_vectors(ra_deg, dec_deg) -> np.ndarray:
    """(..., 3) unit vectors of positions in degrees."""
    a, d = np.radians(np.asarray(ra_deg, float)), np.radians(np.asarray(dec_deg, float))
    cos_d = np.cos(d)
    return np.stack([cos_d * np.cos(a), cos_d * np.sin(a), np.sin(d)], axis=-1)


def separation_arcsec(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle separation, arcsec, of positions in degrees (atan2 of cross and dot products: exact at every
    angle)."""
    a, b = unit_vectors(ra1, dec1), unit_vectors(ra2, dec2)
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    dot = np.sum(a * b, axis=-1)
    return np.degrees(np.arctan2(cross, dot)) * ARCSEC_PER_DEG


def separation(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Great-circle separation, degrees (haversine: accurate at arcsecond scales)."""
    a1, d1, a2, d2 = (np.radians(np.asarray(x, dtype=np.float64)) for x in (ra1, dec1, ra2, dec2))
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((a2 - a1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def sky_pixel(ra_deg, dec_deg) -> np.ndarray:
    """HEALPix nested pixel index at :data:`SKY_PIXEL_ORDER` (int64) of positions in degrees (astropy-healpix)."""
    ra = np.atleast_1d(np.asarray(ra_deg, float))
    dec = np.atleast_1d(np.asarray(dec_deg, float))
    if ra.size == 0:
        return np.zeros(0, np.int64)
    return np.asarray(lonlat_to_healpix(ra * u.deg, dec * u.deg, 1 << SKY_PIXEL_ORDER, order="nested"), np.int64)


def sky_pixel_level(radius_deg: float) -> int:
    """The HEALPix order of the pixels a cone of ``radius_deg`` is looked up in: the finest whose nominal width
    (58.6 deg / 2^L) is at least four times the radius (between 0 and :data:`SKY_PIXEL_ORDER`)."""
    width0 = math.degrees(math.sqrt(math.pi / 3.0))
    level = math.floor(math.log2(width0 / (4.0 * max(radius_deg, 1e-12))))
    return int(min(max(level, 0), SKY_PIXEL_ORDER))


def sky_pixel_cover(ra_deg, dec_deg, radius_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Inclusive :func:`sky_pixel` ranges that hold every position within ``radius_deg`` of each centre.

    Each centre's cover is its pixel of order :func:`sky_pixel_level` plus that pixel's 8 neighbours (7 at the few
    pixels with a missing neighbour), each widened to its contiguous range of order-29 pixels. The neighbour ring
    is at least a quarter of a nominal pixel wide, i.e. at least the radius (checked against exact separations in
    ``tests/core/test_sky_pixel.py``, poles and RA 0/360 included), so nothing within the radius falls outside.
    astropy-healpix's own cone search is not used for this: near the poles it leaves out overlapping pixels.

    Returns:
        lo, hi: (N, 9) int64; rows of one centre, disjoint ranges; a missing neighbour is lo = hi = -1.
    """
    ra = np.atleast_1d(np.asarray(ra_deg, float))
    dec = np.atleast_1d(np.asarray(dec_deg, float))
    level = sky_pixel_level(radius_deg + _PIXEL_PAD_DEG)
    nside = 1 << level
    if ra.size == 0:
        return np.zeros((0, 9), np.int64), np.zeros((0, 9), np.int64)
    centre = np.asarray(lonlat_to_healpix(ra * u.deg, dec * u.deg, nside, order="nested"), np.int64)
    with np.errstate(invalid="ignore"):
        ring = np.asarray(neighbours(centre, nside, order="nested"), np.int64).T  # (N, 8), -1 where missing
    pixels = np.concatenate([centre[:, None], ring], axis=1)
    shift = 2 * (SKY_PIXEL_ORDER - level)
    missing = pixels < 0
    lo = np.where(missing, -1, pixels << shift)
    hi = np.where(missing, -1, ((pixels + 1) << shift) - 1)
    return lo, hi


def sky_pixel_ranges(ra: float, dec: float, radius_deg: float) -> list[tuple[int, int]]:
    """:func:`sky_pixel_cover` of one centre: sorted inclusive ranges, adjacent ones merged."""
    lo, hi = sky_pixel_cover([ra], [dec], radius_deg)
    out: list[tuple[int, int]] = []
    for a, b in sorted((int(a), int(b)) for a, b in zip(lo[0], hi[0], strict=True) if a >= 0):
        if out and out[-1][1] + 1 == a:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def cone_box(ra: float, dec: float, radius: float) -> tuple[float, float, list[tuple[float, float]] | None]:
    """A box that contains the cone: (dec_low, dec_high, RA intervals or None for all RA).

    The RA half-width of a small circle is ``asin(sin r / cos dec)``; when the circle reaches a pole every RA is
    inside. Intervals that cross RA = 0 are split in two. A tiny pad keeps the box conservative under rounding;
    membership is then decided exactly by :func:`in_cone`.
    """
    pad = 1e-9
    dec_low, dec_high = max(-90.0, dec - radius - pad), min(90.0, dec + radius + pad)
    if abs(dec) + radius >= 90.0 - pad or radius >= 90.0:
        return dec_low, dec_high, None
    half = math.degrees(math.asin(min(1.0, math.sin(math.radians(radius)) / math.cos(math.radians(dec))))) + pad
    if half >= 180.0:
        return dec_low, dec_high, None
    low, high = ra - half, ra + half
    if low < 0.0:
        return dec_low, dec_high, [(low + 360.0, 360.0), (0.0, high)]
    if high >= 360.0:
        return dec_low, dec_high, [(low, 360.0), (0.0, high - 360.0)]
    return dec_low, dec_high, [(low, high)]


def in_cone(ra: np.ndarray, dec: np.ndarray, centre_ra: float, centre_dec: float, radius: float) -> np.ndarray:
    """True where (ra, dec) lies within ``radius`` of the centre (boundary included)."""
    return separation(ra, dec, centre_ra, centre_dec) <= radius


class DuplicateFilter:
    """Keeps a result only when no better (earlier) kept result lies within ``radius_deg`` of it.

    Positions are hashed into a grid of cubes on the unit sphere whose side is the chord of the radius, so each
    candidate is compared only with kept positions in its 27 neighbouring cells: O(1) per result instead of a scan.
    """

    def __init__(self, radius_deg: float):
        self.radius_deg = radius_deg
        self._cell = 2.0 * math.sin(math.radians(radius_deg) / 2.0)  # chord length of the radius
        self._grid: dict[tuple[int, int, int], list[tuple[float, float, float]]] = {}

    def _key(self, p: tuple[float, float, float]) -> tuple[int, int, int]:
        return (math.floor(p[0] / self._cell), math.floor(p[1] / self._cell), math.floor(p[2] / self._cell))

    def _near(self, p: tuple[float, float, float], key: tuple[int, int, int]) -> bool:
        limit = self._cell * self._cell
        for dx, dy, dz in _NEIGHBOURS:
            for q in self._grid.get((key[0] + dx, key[1] + dy, key[2] + dz), ()):
                if (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 + (p[2] - q[2]) ** 2 <= limit:
                    return True
        return False

    def add(self, ra: float, dec: float) -> None:
        """Mark a position as kept (for example the query's own position)."""
        p = tuple(float(x) for x in unit_vectors(ra, dec))
        self._grid.setdefault(self._key(p), []).append(p)

    def keep(self, ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
        """For results in decreasing similarity: which ones to keep (kept ones join the grid as they are kept)."""
        xyz = unit_vectors(ra, dec).tolist()
        out = np.zeros(len(xyz), dtype=bool)
        for i, p in enumerate(xyz):
            key = self._key(p)
            if not self._near(p, key):
                out[i] = True
                self._grid.setdefault(key, []).append(tuple(p))
        return out


_NEIGHBOURS = list(itertools.product((-1, 0, 1), repeat=3))
