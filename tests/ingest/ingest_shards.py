"""Small, random but valid test shards, written with :func:`lensdb.ingest.schema.write_shard`.

Independent of the realistic simulator (ingest/simulate): the values only need to pass validation and be easy to
check. Each object's id parts are predictable: ``release``, ``brickid`` and ``objid = first_objid + row``, so two
shards made with different ``first_objid`` ranges never share an object id.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
from sqlalchemy import select

from lensdb.catalog.models import Shard, Source
from lensdb.core.ids import SOURCE_TYPES
from lensdb.ingest.schema import write_shard


def make_columns(n: int, *, seed: int = 0, release: int | np.ndarray = 9010, brickid: int = 1234,
                 first_objid: int = 0, mags: str = "flux", text: str = "bytes",
                 survey: str | np.ndarray | None = None, photo_z: bool = True) -> dict[str, np.ndarray]:
    """Catalogue columns for ``n`` objects.

    Args:
        mags: ``"flux"`` for a (N, 3) flux column (nanomaggies; some non-positive), ``"mag"`` for mag_g/r/z.
        text: ``"bytes"`` for fixed-length bytes text columns, ``"str"`` to be stored as variable-length str.
        survey: value(s) of a ``survey`` column, or None for no such column.
    """
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {
        "ra": rng.uniform(0, 360, n),
        "dec": rng.uniform(-30, 30, n),
        "release": np.broadcast_to(np.asarray(release, dtype=np.int16), (n,)).copy(),
        "brickid": np.full(n, brickid, dtype=np.int32),
        "objid": np.arange(first_objid, first_objid + n, dtype=np.int32),
        "ebv": rng.uniform(0, 0.1, n).astype(np.float32),
        "psfsize": rng.uniform(0.8, 2.0, (n, 3)).astype(np.float32),
        "psfdepth": rng.uniform(100, 5000, (n, 3)).astype(np.float32),
        "source_type": np.array(SOURCE_TYPES[:5])[rng.integers(0, 5, n)].astype("S3"),
    }
    flux = rng.lognormal(1.0, 1.0, (n, 3)).astype(np.float32)
    if n > 3:
        flux[3, 0] = -0.5  # a non-detection in g: its magnitude is NULL
    if mags == "flux":
        cols["flux"] = flux
    else:
        for i, band in enumerate("grz"):
            cols[f"mag_{band}"] = (22.5 - 2.5 * np.log10(np.abs(flux[:, i]))).astype(np.float32)
    if photo_z:
        cols["z_phot_mean"] = rng.uniform(0.05, 1.2, n).astype(np.float32)
        cols["z_phot_std"] = rng.uniform(0.01, 0.2, n).astype(np.float32)
    if survey is not None:
        cols["survey"] = np.broadcast_to(np.asarray(survey, dtype="S5"), (n,)).copy()
    if text == "str":
        cols["source_type"] = cols["source_type"].astype("U")
    return cols


def make_images(n: int, *, cutout: int = 112, dtype=np.float16, seed: int = 0) -> np.ndarray:
    """(n, 3, cutout, cutout) images in nanomaggies: noise around zero."""
    rng = np.random.default_rng(seed + 1)
    return rng.normal(0, 0.01, (n, 3, cutout, cutout)).astype(dtype)


def write_test_shard(path: str | Path, n: int = 50, *, images: np.ndarray | None = None, cutout: int = 112,
                     image_dtype=np.float16, text: str = "bytes", **column_options) -> Path:
    """Write a valid shard of ``n`` objects; ``column_options`` go to :func:`make_columns`.

    ``text="str"`` stores the text columns as variable-length UTF-8 strings (what h5py writes for Python str).
    """
    cols = make_columns(n, text=text, **column_options)
    if images is None:
        images = make_images(n, cutout=cutout, dtype=image_dtype, seed=column_options.get("seed", 0))
    if text != "str":
        return write_shard(path, images, cols)
    text_cols = {k: v for k, v in cols.items() if v.dtype.kind == "U"}
    path = write_shard(path, images, {k: v for k, v in cols.items() if k not in text_cols})
    with h5py.File(path, "a") as f:
        for key, values in text_cols.items():
            f.create_dataset(key, data=values.astype(object), dtype=h5py.string_dtype())
    return path


def edit_shard(path: str | Path, **datasets) -> Path:
    """Replace (or with value None, delete) datasets of an existing shard, to make a bad one."""
    with h5py.File(path, "a") as f:
        for key, value in datasets.items():
            if key in f:
                del f[key]
            if value is not None:
                f.create_dataset(key, data=value)
    return Path(path)


def snapshot(engine) -> tuple[list, list]:
    """Every sources row and every shard (name, fingerprint, n_rows), sorted: two equal snapshots mean that
    nothing was written in between."""
    with engine.connect() as conn:
        sources = conn.execute(select(Source.__table__).order_by(Source.object_id)).all()
        shards = conn.execute(select(Shard.name, Shard.fingerprint, Shard.n_rows).order_by(Shard.name)).all()
    return sources, shards
