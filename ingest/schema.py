"""The survey shard format (HDF5), as the paper's released shards define it, plus LensDB's own optional columns.

A shard holds ``N`` objects:

- ``images``: (N, 3, S, S) float32 (or float16) in nanomaggies, bands g, r, z, 0.262 arcsec/pixel; the released
  shards have S = 152, LensDB also accepts any square S >= :data:`MIN_CUTOUT` (the training crop plus jitter).
- catalogue columns, one row per object (see :data:`COLUMNS`). Magnitudes come either from ``flux`` (N, 3)
  nanomaggies or from ``mag_g``/``mag_r``/``mag_z``; ``mag = 22.5 - 2.5 log10(flux)``.
- the survey of each row comes from a ``survey`` column (LensDB's shards) or from ``release`` (9010 south, 9011 north).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from lensdb.core.units import RELEASED_CUTOUT

IMAGE_DTYPES = (np.dtype("float32"), np.dtype("float16"))


@dataclass(frozen=True)
class Column:
    """One catalogue column of a shard: its name, kind ('f' float, 'i' integer, 'S' text), width and need."""

    name: str
    kind: str
    width: int = 1  # 1 for (N,), 3 for (N, 3) per-band columns
    required: bool = False
    doc: str = ""


COLUMNS: tuple[Column, ...] = (
    Column("ra", "f", required=True, doc="right ascension, degrees (ICRS)"),
    Column("dec", "f", required=True, doc="declination, degrees (ICRS)"),
    Column("release", "i", required=True, doc="Legacy Surveys release code (9010 south, 9011 north)"),
    Column("brickid", "i", required=True, doc="brick id"),
    Column("objid", "i", required=True, doc="object id within the brick"),
    Column("flux", "f", 3, doc="g, r, z flux, nanomaggies (or give mag_g, mag_r, mag_z)"),
    Column("mag_g", "f", doc="g magnitude (AB), when flux is absent"),
    Column("mag_r", "f", doc="r magnitude (AB), when flux is absent"),
    Column("mag_z", "f", doc="z magnitude (AB), when flux is absent"),
    Column("ebv", "f", required=True, doc="Galactic E(B-V), magnitudes"),
    Column("psfsize", "f", 3, required=True, doc="PSF FWHM per band, arcsec"),
    Column("psfdepth", "f", 3, required=True, doc="5-sigma PSF depth per band, 1/nanomaggies^2 (inverse variance)"),
    Column("source_type", "S", required=True, doc="Tractor morphology: PSF, REX, DEV, EXP, SER, DUP"),
    Column("survey", "S", doc="south or north (LensDB shards); otherwise derived from release"),
    Column("z_phot_mean", "f", doc="photometric redshift, mean"),
    Column("z_phot_median", "f", doc="photometric redshift, median"),
    Column("z_phot_std", "f", doc="photometric redshift, standard deviation"),
    Column("z_phot_l68", "f", doc="photometric redshift, lower 68% bound"),
    Column("z_phot_u68", "f", doc="photometric redshift, upper 68% bound"),
    Column("z_spec", "f", doc="spectroscopic redshift, -99 when none"),
    Column("nobs", "i", 3, doc="number of exposures per band"),
    Column("transmission", "f", 3, doc="Galactic transmission per band"),
    Column("maskbits", "i", doc="Legacy Surveys mask bits"),
    Column("inds", "i", doc="row position in the authors' sorted survey (not an id)"),
)
COLUMN_BY_NAME = {c.name: c for c in COLUMNS}


def shard_name(start: int, end: int, npix: int = RELEASED_CUTOUT) -> str:
    """The released naming scheme, ``images_npix152_000000000_001000000.h5``."""
    return f"images_npix{npix}_{start:09d}_{end:09d}.h5"


def write_shard(path: str | Path, images: np.ndarray, columns: dict[str, np.ndarray], *,
                compression: str | None = None) -> Path:
    """Write one shard atomically (to ``path.tmp``, then renamed), so a killed writer never leaves a half shard.

    Args:
        path: destination ``.h5`` file.
        images: (N, 3, S, S) float32 or float16, nanomaggies.
        columns: catalogue columns by name (see :data:`COLUMNS`); text columns as str or bytes arrays.
        compression: h5py compression for ``images`` (for example ``"gzip"``), none by default; with one, the
            byte-shuffle filter runs first (it groups the bytes of each value, which compresses noisy floats
            better: float16 simulated cutouts shrink by 13 % with gzip, against 7 % without).
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = images.shape[0]
    with h5py.File(tmp, "w") as f:
        chunks = (min(n, 64),) + images.shape[1:] if n else None
        f.create_dataset("images", data=images, chunks=chunks, compression=compression,
                         shuffle=bool(compression and compression != "none"))
        for name, values in columns.items():
            values = np.asarray(values)
            if values.dtype.kind == "U":
                values = values.astype("S")
            f.create_dataset(name, data=values)
    tmp.replace(path)
    return path
