"""Inspection sheets: PNG grids of the top-ranked cutouts for the fast visual scan of the paper (Section 3.3.2).

The paper's authors scanned 500 images at a time laid out 5 x 100, half a second to a second each. A sheet here is
``rows x cols`` cutouts (default 5 x 100) in the Legacy Survey viewer's colour stretch
(:func:`lensdb.core.display.legacy_rgb`), each captioned with its rank. Cutouts are read from the shards the catalogue
points at (``sources.shard_id``, ``sources.row``), a shard at a time with rows in increasing order.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from sqlalchemy import Engine

from lensdb.catalog import queries
from lensdb.core.errors import InvalidInput
from lensdb.ingest.cutouts import read_cutouts

log = logging.getLogger(__name__)


def mosaic(images: np.ndarray, cols: int, titles: list[str] | None = None, gap: int = 2) -> np.ndarray:
    """(rows * (S + gap), cols * (S + gap), 3) uint8 RGB tiles of g, r, z cutouts (n, 3, S, S), row-major,
    in the Legacy Survey viewer stretch; captions drawn in the top-left corner of each tile."""
    from PIL import Image, ImageDraw

    from lensdb.core.display import legacy_rgb

    n, size = len(images), images.shape[-1]
    rows = max(1, -(-n // cols))
    cell = size + gap
    canvas = np.zeros((rows * cell, cols * cell, 3), np.uint8)
    # The stored orientation has north up at the last row (as save_grid shows it, origin="lower").
    rgb = (legacy_rgb(images)[:, ::-1] * 255 + 0.5).astype(np.uint8)
    for k in range(n):
        r, c = divmod(k, cols)
        canvas[r * cell:r * cell + size, c * cell:c * cell + size] = rgb[k]
    if titles:
        img = Image.fromarray(canvas)
        draw = ImageDraw.Draw(img)
        for k, text in enumerate(titles[:n]):
            r, c = divmod(k, cols)
            draw.text((c * cell + 2, r * cell + 1), text, fill=(255, 255, 255))
        canvas = np.asarray(img)
    return canvas


def write_sheets(engine: Engine, ids: np.ndarray, folder: str | Path, *, prefix: str = "top", rows: int = 5,
                 cols: int = 100, crop: int | None = 96, titles: list[str] | None = None) -> list[Path]:
    """Write PNG sheets of ``rows x cols`` cutouts for ``ids`` (best first); returns the paths written.

    Each tile is one cutout at its native pixel scale, captioned with its rank (or ``titles``); a sheet is
    named ``<prefix>_ranks_<a>-<b>.png``. Tiles are composed in numpy and written once (a 500-panel figure
    through matplotlib takes most of a minute; this takes a fraction of a second).
    """
    from PIL import Image

    if rows < 1 or cols < 1:
        raise InvalidInput(f"a sheet needs at least one row and column; got {rows} x {cols}")
    ids = np.asarray(ids, np.int64)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    per = rows * cols
    locations = queries.image_locations(engine, ids)
    paths = []
    for start in range(0, len(ids), per):
        chunk = ids[start:start + per]
        images = read_cutouts(locations, chunk, crop)
        caps = titles[start:start + per] if titles else [str(start + k + 1) for k in range(len(chunk))]
        path = folder / f"{prefix}_ranks_{start + 1:06d}-{start + len(chunk):06d}.png"
        # A 256-colour palette: noisy cutouts compress poorly as RGB; the palette is 3x smaller and 3x faster.
        Image.fromarray(mosaic(images, min(cols, len(chunk)), caps)).quantize(
            256, method=Image.Quantize.FASTOCTREE).save(path)
        paths.append(path)
        log.info("wrote %s", path)
    return paths
