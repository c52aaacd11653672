"""A PNG grid of simulated cutouts in the Legacy Survey viewer's stretch, so that a person can judge realism.

Rows: ordinary galaxies, strong lenses, then one row per look-alike class (ring galaxies, spirals, blue companions,
mergers). Objects are drawn with the class forced, from ``default_rng([seed, 3, row, column])``: the same seed always
gives the same picture, independent of the survey's own objects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lensdb.core.display import save_grid
from lensdb.ingest.simulate.catalog import flux_to_mag
from lensdb.ingest.simulate.config import SimulateConfig
from lensdb.ingest.simulate.objects import draw_object
from lensdb.ingest.simulate.scene import render

#: (row label, class) of the preview rows.
PREVIEW_ROWS = (("galaxies", "galaxy"), ("galaxies", "galaxy"), ("lenses", "lens"), ("lenses", "lens"),
                ("lenses", "lens"), ("ring galaxies", "ring"), ("spirals", "spiral"),
                ("blue companions", "companion"), ("mergers", "merger"))


def preview_images(config: SimulateConfig, ncols: int = 8) -> tuple[np.ndarray, list[str], list[str]]:
    """Render the preview objects: (N, 3, S, S) float32 images, a caption per image and a label per row."""
    images, captions = [], []
    for r, (_, cls) in enumerate(PREVIEW_ROWS):
        for c in range(ncols):
            rng = np.random.default_rng([config.seed, 3, r, c])
            spec = draw_object(rng, cls=cls, north_fraction=config.north_fraction,
                               mag_range=(config.mag_z_min, config.mag_z_max))
            images.append(render(spec, config.cutout, rng))
            caption = f"{spec.survey[0].upper()} z={flux_to_mag(spec.flux[2]):.1f}"
            if spec.lens:
                caption += f"\nθE={spec.lens['theta_e_arcsec']:.1f}\" {spec.lens['config']}"
            captions.append(caption)
    return np.stack(images), captions, [label for label, _ in PREVIEW_ROWS]


def write_preview(config: SimulateConfig, path: str | Path, ncols: int = 8, crop: int = 96) -> Path:
    """Write the preview grid to ``path`` (PNG): centre ``crop`` px of each cutout (the network's 96 px view)."""
    images, captions, rows = preview_images(config, ncols)
    size = images.shape[-1]
    crop = min(crop, size)
    o = (size - crop) // 2
    return save_grid(images[..., o:o + crop, o:o + crop], path, ncols=ncols, titles=captions, row_labels=rows,
                     panel_inches=crop / 80.0, dpi=100, title_size=5.5, palette_colors=256,
                     suptitle=f"LensDB simulated DR9 cutouts (seed {config.seed}; g,r,z in the viewer's stretch; "
                              f"{crop * 0.262:.0f}\" across)")
