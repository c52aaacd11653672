"""Stable object identity and survey names.

Every object is keyed by an int64 ``object_id`` built from the Legacy Surveys ``(release, brickid, objid)``
triple, never by a row position (positions change when a survey is re-cut)::

    object_id = release << 40 | brickid << 20 | objid

``release`` gets 23 bits, ``brickid`` and ``objid`` 20 bits each (DR9 has 662,174 bricks and fewer than 2^20 objects per
brick), so the id is a non-negative int64.
"""

from __future__ import annotations

import numpy as np

RELEASE_BITS, BRICK_BITS, OBJ_BITS = 23, 20, 20
_BRICK_SHIFT = OBJ_BITS
_RELEASE_SHIFT = OBJ_BITS + BRICK_BITS

#: DR9 release codes and the survey they belong to (DECaLS + DES = south; BASS + MzLS = north).
RELEASE_SURVEY = {9010: "south", 9011: "north"}
SURVEY_RELEASE = {v: k for k, v in RELEASE_SURVEY.items()}
SURVEYS = ("south", "north")
BANDS = ("g", "r", "z")
#: Tractor morphological types of the Legacy Surveys catalogues.
SOURCE_TYPES = ("PSF", "REX", "DEV", "EXP", "SER", "DUP")


def make_object_id(release, brickid, objid) -> np.ndarray:
    """Pack (release, brickid, objid) arrays (or scalars) into int64 object ids.

    Raises:
        ValueError: a part is negative or does not fit its bit field.
    """
    parts = {
        "release": (np.asarray(release, dtype=np.int64), RELEASE_BITS),
        "brickid": (np.asarray(brickid, dtype=np.int64), BRICK_BITS),
        "objid": (np.asarray(objid, dtype=np.int64), OBJ_BITS),
    }
    for name, (arr, bits) in parts.items():
        if arr.size and (arr.min() < 0 or arr.max() >= (1 << bits)):
            raise ValueError(f"{name} must lie in [0, {1 << bits}); got values in [{arr.min()}, {arr.max()}]")
    rel, brick, obj = (p[0] for p in parts.values())
    return (rel << _RELEASE_SHIFT) | (brick << _BRICK_SHIFT) | obj


def split_object_id(object_id) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inverse of :func:`make_object_id`: (release, brickid, objid) arrays."""
    oid = np.asarray(object_id, dtype=np.int64)
    if oid.size and oid.min() < 0:
        raise ValueError("object ids are non-negative")
    return (
        oid >> _RELEASE_SHIFT,
        (oid >> _BRICK_SHIFT) & ((1 << BRICK_BITS) - 1),
        oid & ((1 << OBJ_BITS) - 1),
    )


def survey_from_release(release: int) -> str:
    """The survey name of a DR9 release code; ValueError naming the known codes otherwise."""
    try:
        return RELEASE_SURVEY[int(release)]
    except KeyError:
        raise ValueError(
            f"unknown release {release}; known: {RELEASE_SURVEY} (or give the survey explicitly)"
        ) from None
