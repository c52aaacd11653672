"""Where simulated objects sit on the sky, and their Legacy-Surveys-like identity (brick id, object id in the brick).

Footprints (rough outlines of DR9, degrees): the south is split between the northern Galactic cap below the
dec = 32.375 boundary (DECaLS) and the southern cap (DECaLS + DES, down to dec = -65); the north (BASS + MzLS) is the
northern cap above the boundary. Positions are uniform on the sphere inside these boxes.

Bricks follow the DR9 scheme in spirit: rows of 0.25 deg in declination, each row cut into ~0.25 deg wide bricks in
right ascension, numbered from 1 at the south pole upwards.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

NORTH_SOUTH_DEC = 32.375
BRICK_SIZE_DEG = 0.25

#: (ra_min, ra_max, dec_min, dec_max) boxes, degrees; ra ranges may wrap through 0 (ra_min > ra_max).
FOOTPRINTS = {
    "south": ((110.0, 265.0, -10.0, NORTH_SOUTH_DEC), (310.0, 50.0, -65.0, NORTH_SOUTH_DEC)),
    "north": ((100.0, 280.0, NORTH_SOUTH_DEC, 80.0),),
}


def draw_position(rng: np.random.Generator, survey: str) -> tuple[float, float]:
    """(ra, dec) in degrees, uniform over the survey's footprint (each box weighted by its area)."""
    boxes = FOOTPRINTS[survey]
    areas = np.array([_box_area(b) for b in boxes])
    ra_min, ra_max, dec_min, dec_max = boxes[int(rng.choice(len(boxes), p=areas / areas.sum()))]
    width = (ra_max - ra_min) % 360.0
    ra = (ra_min + rng.uniform(0.0, width)) % 360.0
    s0, s1 = np.sin(np.deg2rad(dec_min)), np.sin(np.deg2rad(dec_max))
    dec = float(np.rad2deg(np.arcsin(rng.uniform(s0, s1))))
    return float(ra), dec


def _box_area(box) -> float:
    ra_min, ra_max, dec_min, dec_max = box
    return ((ra_max - ra_min) % 360.0) * (np.sin(np.deg2rad(dec_max)) - np.sin(np.deg2rad(dec_min)))


@lru_cache(maxsize=1)
def _brick_rows() -> tuple[np.ndarray, np.ndarray]:
    """Per declination row: number of bricks and the brick id before the row's first brick."""
    n_rows = int(round(180.0 / BRICK_SIZE_DEG))
    centres = -90.0 + (np.arange(n_rows) + 0.5) * BRICK_SIZE_DEG
    ncols = np.maximum(1, np.round(360.0 * np.cos(np.deg2rad(centres)) / BRICK_SIZE_DEG)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(ncols)[:-1]])
    return ncols, offsets


def brick_id(ra, dec) -> np.ndarray:
    """Brick id (1 ... ~660,000) of positions (ra, dec) in degrees."""
    ncols, offsets = _brick_rows()
    row = np.clip(np.floor((np.asarray(dec) + 90.0) / BRICK_SIZE_DEG).astype(np.int64), 0, len(ncols) - 1)
    col = np.floor((np.asarray(ra) % 360.0) / 360.0 * ncols[row]).astype(np.int64)
    return offsets[row] + np.minimum(col, ncols[row] - 1) + 1


def objids_within_bricks(brickids: np.ndarray) -> np.ndarray:
    """Object ids numbered 0, 1, 2, ... within each brick, in the order the rows are given."""
    brickids = np.asarray(brickids)
    order = np.argsort(brickids, kind="stable")
    sorted_ids = brickids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])
    counts = np.diff(np.r_[starts, len(sorted_ids)])
    rank = np.arange(len(sorted_ids)) - np.repeat(starts, counts)
    objid = np.empty(len(brickids), dtype=np.int64)
    objid[order] = rank
    return objid


def brick_bounds(brickid: int) -> tuple[float, float, float, float]:
    """(ra_min, ra_max, dec_min, dec_max) of a brick, degrees."""
    ncols, offsets = _brick_rows()
    row = int(np.searchsorted(offsets, brickid - 1, side="right") - 1)
    col = int(brickid - 1 - offsets[row])
    width = 360.0 / ncols[row]
    dec_min = -90.0 + row * BRICK_SIZE_DEG
    return col * width, (col + 1) * width, dec_min, dec_min + BRICK_SIZE_DEG


def draw_in_brick(rng: np.random.Generator, brickid: int, survey: str) -> tuple[float, float]:
    """(ra, dec) uniform inside a brick, kept on the survey's side of the north/south boundary."""
    ra_min, ra_max, dec_min, dec_max = brick_bounds(brickid)
    if survey == "south":
        dec_max = min(dec_max, NORTH_SOUTH_DEC - 1e-6)
    else:
        dec_min = max(dec_min, NORTH_SOUTH_DEC + 1e-6)
    s0, s1 = np.sin(np.deg2rad(dec_min)), np.sin(np.deg2rad(dec_max))
    return float(rng.uniform(ra_min, ra_max)), float(np.rad2deg(np.arcsin(rng.uniform(s0, s1))))
