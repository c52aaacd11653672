"""The two checks every reader of a shard applies, and the one message format of a refused shard.

``<file>: key '<key>': <problem>; <what to do>`` (see :mod:`lensdb.ingest.validate` for the ingest's full checks).
"""

from __future__ import annotations

import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.ids import BANDS

__all__ = ["IMAGES", "check_images", "problem"]

IMAGES = "images"


def problem(path, key: str, what: str, todo: str) -> InvalidInput:
    """The one message format for a rejected shard."""
    return InvalidInput(f"{path}: key '{key}': {what}; {todo}")


def check_images(path, images: np.ndarray, start: int) -> None:
    """Reject NaN or infinite pixels in a chunk of images (N, 3, S, S).

    The clean chunk, the usual case, is cleared by fast reductions; only a bad chunk pays for locating the
    first bad object. float32: min and max propagate NaN and reach +-inf (two SIMD passes, no temporary).
    float16: numpy reduces float16 some 50x slower, so test the bits instead: NaN and inf are the values whose
    exponent bits (0x7C00) are all set.
    """
    if images.size == 0:
        return
    if images.dtype.itemsize == 2:
        bits = images.view(images.dtype.str.replace("f", "u"))  # same byte order as stored
        finite = int((bits & np.uint16(0x7FFF)).max()) < 0x7C00
    else:
        finite = bool(np.isfinite(images.min()) and np.isfinite(images.max()))
    if finite:
        return
    bad = (~np.isfinite(images)).reshape(len(images), images.shape[1], -1).any(axis=2)
    rows, bands = np.nonzero(bad)
    first = f"first at row {start + int(rows[0])}, band {BANDS[int(bands[0])]}"
    raise problem(path, IMAGES, f"NaN or infinite pixels in {len(np.unique(rows))} image(s) of rows "
                  f"{start}-{start + len(images)} ({first})",
                  "replace masked pixels with 0 (or drop those objects) before ingesting")
