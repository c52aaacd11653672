"""Cutouts of catalogue objects: one image row read from the shard the catalogue points at (``sources.shard_id``,
``sources.row``), as the stored float array or as a PNG in the Legacy Survey viewer's stretch
(:func:`lensdb.core.display.legacy_rgb`)."""

from __future__ import annotations

import io
import os

import numpy as np

from lensdb.catalog import queries
from lensdb.core.errors import Conflict, InvalidInput, NotFound
from lensdb.core.units import PIXEL_SCALE_ARCSEC
from lensdb.ingest.reader import ShardReader
from lensdb.services import validate
from lensdb.services.backends import Backends
from lensdb.services.errors import as_domain
from lensdb.services.types import CutoutImage


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of a (3, S, S) g, r, z cutout in the viewer's stretch, north up (row 0 of the array is south)."""
    from PIL import Image

    from lensdb.core.display import legacy_rgb

    rgb = legacy_rgb(image)  # (S, S, 3) in [0, 1]
    pixels = np.ascontiguousarray(np.flipud(np.round(rgb * 255.0).astype(np.uint8)))
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")  # (S, S, 3) uint8 is RGB
    return buffer.getvalue()


class CutoutService:
    """Reads cutouts from the survey shards."""

    def __init__(self, backends: Backends):
        self.backends = backends

    def get(self, object_id: int, *, crop: int = 0, png: bool = True) -> CutoutImage:
        """The cutout of ``object_id``, centre-cropped to ``crop`` pixels (0 = as stored).

        Raises:
            NotFound: the object is not in the catalogue.
            InvalidInput: ``crop`` is larger than the stored cutout.
            Conflict: the object's shard file is missing or unreadable on the server.
        """
        object_id = validate.count("object_id", object_id, 0, validate.INT64_MAX)
        crop = validate.count("crop", crop, 0, 100_000)
        try:
            row = queries.image_locations(self.backends.engine, [object_id]).get(object_id)
        except Exception as exc:
            raise as_domain(exc) from exc
        if row is None:
            raise NotFound(f"object {object_id} is not in the catalogue (or has no shard)")
        try:
            with ShardReader(row.path) as reader:
                image = reader.cutouts([row.row], check=False)[0]
        except (InvalidInput, OSError) as exc:
            moved = ("; if the data folder moved, re-point its survey root on the server ('lensdb db survey-root NAME "
                     "NEWDIR'; 'lensdb db shards' shows where each shard is read from)"
                     if not os.path.exists(row.path) else "")
            raise Conflict(f"the image of object {object_id} cannot be read from shard {row.shard} on the server: "
                           f"{exc}{moved}") from exc
        size = image.shape[-1]
        if crop > size:
            raise InvalidInput(f"crop {crop} is larger than the stored {size}-pixel cutout")
        if crop:
            lo = (size - crop) // 2
            image = np.ascontiguousarray(image[:, lo:lo + crop, lo:lo + crop])
        return CutoutImage(object_id=object_id, image=image, png=png_bytes(image) if png else None,
                           pixel_scale_arcsec=PIXEL_SCALE_ARCSEC)
