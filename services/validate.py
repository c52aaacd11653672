"""Checks of caller input shared by the services: counts, ids, names, page sizes. Each raises InvalidInput
naming the field and the allowed range, before any backend is touched."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np

from lensdb.core.errors import InvalidInput

INT64_MAX = 2**63 - 1
NAME_MAX = 255


def object_ids(name: str, values: Iterable, limit: int, *, allow_empty: bool = False) -> np.ndarray:
    """``values`` as a 1-D int64 array of non-negative ids, at most ``limit`` of them."""
    items = list(values) if not isinstance(values, np.ndarray) else values
    if not isinstance(items, np.ndarray):
        for v in items:  # Python integers beyond 64 bits: say which, before numpy wraps or refuses them
            if isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) > INT64_MAX:
                raise InvalidInput(f"{name}: object ids lie in [0, {INT64_MAX}] (64-bit); got {int(v)}")
            if isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) < 0:
                raise InvalidInput(f"{name}: object ids are non-negative; got {int(v)}")
    arr = np.asarray(items)
    if arr.size == 0:
        if allow_empty:
            return np.zeros(0, np.int64)
        raise InvalidInput(f"{name}: give at least one object id")
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise InvalidInput(f"{name}: object ids must be integers")
    if arr.size > limit:
        raise InvalidInput(f"{name}: {arr.size} ids is more than the {limit} one request may carry; split it")
    if arr.dtype.kind == "u" and int(arr.max()) > INT64_MAX:
        raise InvalidInput(f"{name}: object ids lie in [0, {INT64_MAX}] (64-bit); got {int(arr.max())}")
    if arr.min() < 0:
        raise InvalidInput(f"{name}: object ids are non-negative; got {int(arr.min())}")
    return arr.astype(np.int64)


def count(name: str, value, low: int, high: int) -> int:
    """An integer in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInput(f"{name} must be an integer; got {value!r}")
    if not low <= int(value) <= high:
        raise InvalidInput(f"{name} must lie in [{low}, {high}]; got {int(value)}")
    return int(value)


def page_size(value: int, default: int, maximum: int) -> int:
    """A page size: 0 means ``default``; otherwise 1..``maximum``."""
    return default if value == 0 else count("page_size", value, 1, maximum)


def real(name: str, value, low: float | None = None, high: float | None = None) -> float:
    """A finite float within the bounds (inclusive)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(float(value)):
        raise InvalidInput(f"{name} must be a finite number; got {value!r}")
    out = float(value)
    if (low is not None and out < low) or (high is not None and out > high):
        raise InvalidInput(f"{name} must lie in [{low}, {high}]; got {out}")
    return out


def name(field: str, value: str | None, *, required: bool = True) -> str | None:
    """A printable name of at most 255 characters (label sets, models, authors)."""
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{field} is required")
        return None
    if not isinstance(value, str) or len(value) > NAME_MAX or not value.isprintable():
        raise InvalidInput(f"{field} must be printable text of at most {NAME_MAX} characters")
    return value


def text(field: str, value: str | None, max_len: int = 4000) -> str | None:
    """Free text (notes, descriptions): at most ``max_len`` characters and no NUL, which no database stores."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_len or "\x00" in value:
        raise InvalidInput(f"{field} must be text of at most {max_len} characters without NUL")
    return value
