"""Helpers of the classifier tests: catalogue rows, lens labels and synthetic representations.

Rows go in with SQLAlchemy Core and :func:`lensdb.catalog.bulk.copy_columns` (the tests depend on the schema only,
not on
the ingest path). Representations are random unit vectors in which lenses lean along one direction, so a linear
probe can find them but not perfectly.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, func, insert, select

from lensdb.catalog.bulk import copy_columns
from lensdb.catalog.models import Label, LabelSet, Shard, Source
from lensdb.core.ids import SURVEY_RELEASE, make_object_id


def add_sources(engine: Engine, n: int, *, survey="south", mag_z=18.0, ra=None, dec=None, shard_path="/dev/null",
                shard_name="test-shard", rows=None, seed: int = 0, cutout: int = 64) -> np.ndarray:
    """Insert ``n`` sources (positions spread 1 degree apart unless given) and return their object ids."""
    rng = np.random.default_rng(seed)
    surveys = np.broadcast_to(np.asarray(survey), (n,)).astype(str)
    mag_z = np.broadcast_to(np.asarray(mag_z, float), (n,))
    with engine.begin() as conn:
        shard_id = conn.execute(select(Shard.id).where(Shard.name == shard_name)).scalar()
        if shard_id is None:
            shard_id = conn.execute(insert(Shard).values(
                name=shard_name, path=str(shard_path), fingerprint="0" * 64, n_rows=n, cutout=cutout,
                image_dtype="float32").returning(Shard.id)).scalar_one()
        start = conn.execute(select(func.count()).select_from(Source)).scalar_one()
        k = np.arange(start, start + n)
        release = np.array([SURVEY_RELEASE[s] for s in surveys])
        brick, obj = 1 + (k >> 16), k & 0xFFFF
        ids = make_object_id(release, brick, obj)
        # Sources 1 degree apart on a grid: never within 25 arcsec of each other unless placed so.
        ra = (10.0 + (k % 300)) if ra is None else np.broadcast_to(np.asarray(ra, float), (n,))
        dec = (-60.0 + (k // 300) * 1.0) if dec is None else np.broadcast_to(np.asarray(dec, float), (n,))
        copy_columns(conn, "sources", {
            "object_id": ids, "release": release, "brickid": brick, "objid": obj, "survey": surveys,
            "ra": np.asarray(ra, float), "dec": np.asarray(dec, float), "mag_g": mag_z + 1.0, "mag_r": mag_z + 0.5,
            "mag_z": mag_z, "ebv": rng.uniform(0.01, 0.05, n), "psfsize_g": np.full(n, 1.3),
            "psfsize_r": np.full(n, 1.2), "psfsize_z": np.full(n, 1.1), "psfdepth_g": np.full(n, 2000.0),
            "psfdepth_r": np.full(n, 800.0), "psfdepth_z": np.full(n, 150.0), "source_type": np.full(n, "SER"),
            "shard_id": np.full(n, shard_id), "row": np.arange(n) if rows is None else np.asarray(rows),
        })
    return ids


def add_labels(engine: Engine, name: str, lenses=(), near=(), non_lens=(), source: str | None = "test list",
               grades=None) -> int:
    """A label set with ``lens`` (grades optional), ``near_lens`` and ``non_lens`` labels; returns its id."""
    with engine.begin() as conn:
        set_id = conn.execute(insert(LabelSet).values(name=name, source=source).returning(LabelSet.id)).scalar_one()
        rows = [{"label_set_id": set_id, "object_id": int(o), "class": "lens",
                 "grade": grades[i] if grades is not None else None} for i, o in enumerate(lenses)]
        rows += [{"label_set_id": set_id, "object_id": int(o), "class": "near_lens", "grade": None} for o in near]
        rows += [{"label_set_id": set_id, "object_id": int(o), "class": "non_lens", "grade": None} for o in non_lens]
        if rows:
            conn.execute(insert(Label), rows)
    return set_id


def lens_vectors(n: int, lens_mask, dim: int = 16, seed: int = 0, strength: float = 2.5) -> np.ndarray:
    """(n, dim) float32 raw representations: Gaussian, lenses shifted by ``strength`` along the first axis."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x[np.asarray(lens_mask, bool), 0] += strength
    x += 3.0 * np.eye(dim, dtype=np.float32)[1]  # an offset, so unit vectors are not centred at zero
    return x


def survey(engine: Engine, n: int = 3000, n_lens: int = 40, dim: int = 16, seed: int = 0, **source_kw):
    """A catalogue of ``n`` sources, the first ``n_lens`` labelled lenses, and their vectors.

    Returns (ids, is_lens mask, raw vectors).
    """
    ids = add_sources(engine, n, seed=seed, **source_kw)
    mask = np.zeros(n, bool)
    mask[:n_lens] = True
    add_labels(engine, "known", lenses=ids[:n_lens])
    return ids, mask, lens_vectors(n, mask, dim, seed)
