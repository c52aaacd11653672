"""Test helpers for the catalogue tests: migrated databases, source rows at chosen positions, exact offsets.

Sources are inserted with plain SQLAlchemy Core (not the ingest path): these tests depend only on the schema.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, func, insert, select

from lensdb.catalog.db import make_engine, upgrade
from lensdb.catalog.models import Shard, Source
from lensdb.core.ids import SURVEY_RELEASE, make_object_id

DATA = Path(__file__).resolve().parents[2] / "catalog" / "data"
TRAINING_LENSES = DATA / "training_lenses.tsv"
NEW_LENSES = DATA / "new_lenses.tsv"


def migrated_engine(url: str) -> Engine:
    """Upgrade ``url`` to the newest schema and return an engine on it (the caller disposes it)."""
    upgrade(url)
    return make_engine(url)


def read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def offset(ra, dec, sep_arcsec, pa_deg):
    """The position ``sep_arcsec`` from (ra, dec) along position angle ``pa_deg`` (east of north), degrees.

    Exact spherical "destination point" formula, so test separations are known to ~1e-9 arcsec.
    """
    ra, dec, pa = np.radians(ra), np.radians(dec), np.radians(pa_deg)
    t = np.radians(np.asarray(sep_arcsec, float) / 3600.0)
    dec2 = np.arcsin(np.sin(dec) * np.cos(t) + np.cos(dec) * np.sin(t) * np.cos(pa))
    ra2 = ra + np.arctan2(np.sin(pa) * np.sin(t) * np.cos(dec), np.cos(t) - np.sin(dec) * np.sin(dec2))
    return np.degrees(ra2) % 360.0, np.degrees(dec2)


def brute_force_pairs(ra1, dec1, ra2, dec2, radius_arcsec):
    """All (i, j, separation) with separation(position i, source j) <= radius: the O(N*M) reference."""
    from lensdb.core.sky import separation_arcsec

    ra1, dec1, ra2, dec2 = map(np.asarray, (ra1, dec1, ra2, dec2))
    out = []
    for start in range(0, len(ra1), 256):
        chunk = slice(start, start + 256)
        sep = separation_arcsec(ra1[chunk, None], dec1[chunk, None], ra2[None], dec2[None])
        i, j = np.nonzero(sep <= radius_arcsec)
        out += [(int(a) + start, int(b), float(sep[a, b])) for a, b in zip(i, j, strict=True)]
    return out


def insert_sources(engine: Engine, ra, dec, *, survey="south", mag_z=None, mag_r=None,
                   mag_g=None) -> np.ndarray:
    """Insert one source per position (degrees) and return their object ids (int64).

    ``survey`` and the magnitudes may be scalars or per-source sequences. Ids continue after those present.
    """
    ra, dec = np.atleast_1d(np.asarray(ra, float)), np.atleast_1d(np.asarray(dec, float))
    n = len(ra)
    surveys = np.broadcast_to(np.asarray(survey), (n,))
    mags = {k: np.broadcast_to(np.asarray(20.0 if v is None else v, float), (n,))
            for k, v in (("mag_g", mag_g), ("mag_r", mag_r), ("mag_z", mag_z))}
    with engine.begin() as conn:
        shard_id = conn.execute(select(Shard.id).where(Shard.name == "test-shard")).scalar()
        if shard_id is None:
            shard_id = conn.execute(insert(Shard).values(
                name="test-shard", path="/dev/null", fingerprint="0" * 64, n_rows=0, cutout=152,
                image_dtype="float32").returning(Shard.id)).scalar_one()
        start = conn.execute(select(func.count()).select_from(Source)).scalar_one()
        k = np.arange(start, start + n)
        release = np.array([SURVEY_RELEASE[str(s)] for s in surveys])
        ids = make_object_id(release, 1 + (k >> 20), k & ((1 << 20) - 1))
        rows = [{
            "object_id": int(ids[i]), "release": int(release[i]), "brickid": int(1 + (k[i] >> 20)),
            "objid": int(k[i] & ((1 << 20) - 1)), "survey": str(surveys[i]), "ra": float(ra[i]),
            "dec": float(dec[i]), "mag_g": float(mags["mag_g"][i]), "mag_r": float(mags["mag_r"][i]),
            "mag_z": float(mags["mag_z"][i]), "ebv": 0.03, "psfsize_g": 1.3, "psfsize_r": 1.2,
            "psfsize_z": 1.1, "psfdepth_g": 2000.0, "psfdepth_r": 800.0, "psfdepth_z": 150.0,
            "source_type": "SER", "shard_id": shard_id, "row": int(k[i]),
        } for i in range(n)]
        if rows:
            conn.execute(insert(Source), rows)
    return ids
