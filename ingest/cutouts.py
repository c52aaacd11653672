"""Cutouts of catalogued objects, read from the shards the catalogue points at, for every part that shows or trains
on images of chosen objects (inspection sheets, fine-tuning, the cutout service, the web page).

The catalogue gives each object's location (:func:`lensdb.catalog.queries.image_locations`: the shard's path and the
row); this module reads the pixels, a shard at a time, rows in increasing order, through
:class:`lensdb.ingest.reader.ShardReader` and its checks.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.ingest.reader import ShardReader

log = logging.getLogger(__name__)


def read_cutouts(locations: Mapping[int, Any], ids, crop: int | None = None, missing: str = "blank") -> np.ndarray:
    """(n, 3, c, c) float32 g, r, z cutouts (nanomaggies) of ``ids`` in that order, centre-cropped to ``crop`` (or
    to the stored side when it is smaller).

    Args:
        locations: object id -> its location, anything with ``path`` and ``row`` (as
            :class:`lensdb.catalog.queries.ImageLocation`).
        missing: ``blank`` (zeros, with a warning) or ``raise`` for ids whose shard or row cannot be read.

    Raises:
        InvalidInput: shards of different cutout sizes without a common ``crop``, or (``missing="raise"``) an
            unreadable shard.
    """
    if missing not in ("blank", "raise"):
        raise InvalidInput(f"missing must be 'blank' or 'raise'; got {missing!r}")
    ids = np.asarray(ids, np.int64)
    per_shard: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for k, oid in enumerate(ids.tolist()):
        loc = locations.get(oid)
        if loc is not None:
            per_shard[loc.path].append((loc.row, k))
    out: np.ndarray | None = None
    lost = len(ids) - sum(len(v) for v in per_shard.values())
    for path, pairs in per_shard.items():
        pairs.sort()
        rows = np.array([r for r, _ in pairs], np.int64)
        try:
            with ShardReader(path) as reader:
                _, size = reader.image_shape()
                c = min(crop or size, size)
                images = reader.cutouts(rows, c, check=False)
        except (InvalidInput, OSError) as exc:
            if missing == "raise":
                raise
            log.warning("cutouts of %d objects unavailable: %s", len(pairs), exc)
            lost += len(pairs)
            continue
        if out is None:
            out = np.zeros((len(ids), 3, c, c), np.float32)
        if c != out.shape[-1]:
            raise InvalidInput(f"shard {path} has {size}-px cutouts, others are smaller; pass a common --crop")
        out[[k for _, k in pairs]] = images
    if lost:
        if missing == "raise":
            raise InvalidInput(f"{lost} of {len(ids)} objects have no shard in the catalogue; ingest them first")
        log.warning("%d of %d cutouts could not be read (no shard, or shard file missing): left blank", lost,
                    len(ids))
    if out is None:
        out = np.zeros((len(ids), 3, crop or 64, crop or 64), np.float32)
    return out
