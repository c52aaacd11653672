"""Catalogue columns (the shard's per-object datasets) and truth-table rows of simulated objects.

Catalogue semantics follow the DR9 sweeps: ``flux`` is the observed (not de-reddened) flux of the central object in
nanomaggies, ``psfsize`` the PSF FWHM in arcsec, ``psfdepth`` the PSF-flux inverse variance in 1/nanomaggies^2, tied to
the pixel noise by the paper's equation B1 (see :mod:`lensdb.ingest.simulate.conditions`). For a lens the catalogue
object is
the deflector; its arcs are not in its flux (the Tractor models them as separate sources or residuals).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from lensdb.core.ids import SURVEY_RELEASE, make_object_id
from lensdb.ingest.simulate.objects import ObjectSpec

#: Columns of truth.csv, in order. Lens parameters are empty for other classes.
TRUTH_BASE = ("object_id", "release", "brickid", "objid", "survey", "class", "ra", "dec", "mag_g", "mag_r", "mag_z",
              "source_type", "z_true", "n_neighbours", "n_stars")
TRUTH_LENS = ("theta_e_arcsec", "lens_q", "lens_phi_deg", "gamma_ext", "gamma_phi_deg", "source_x_arcsec",
              "source_y_arcsec", "source_re_arcsec", "source_n", "source_q", "source_mag_g", "source_mag_r",
              "source_mag_z", "magnification", "n_images", "config", "arc_mag_g", "arc_mag_r", "arc_mag_z", "arc_snr")
TRUTH_COLUMNS = TRUTH_BASE + TRUTH_LENS


def flux_to_mag(flux) -> np.ndarray:
    """AB magnitude of nanomaggies, ``22.5 - 2.5 log10(flux)`` (99 for non-positive flux)."""
    flux = np.asarray(flux, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(flux > 0, 22.5 - 2.5 * np.log10(np.where(flux > 0, flux, 1.0)), 99.0)


def catalogue_columns(specs: list[ObjectSpec], brickids, objids, inds) -> dict[str, np.ndarray]:
    """Shard catalogue columns (see :data:`lensdb.ingest.schema.COLUMNS`) for ``specs`` in row order."""
    n = len(specs)
    release = np.array([SURVEY_RELEASE[s.survey] for s in specs], dtype=np.int32)
    cols: dict[str, np.ndarray] = {
        "ra": np.array([s.ra for s in specs], dtype=np.float64),
        "dec": np.array([s.dec for s in specs], dtype=np.float64),
        "release": release,
        "brickid": np.asarray(brickids, dtype=np.int32),
        "objid": np.asarray(objids, dtype=np.int32),
        "flux": np.array([s.flux for s in specs], dtype=np.float32).reshape(n, 3),
        "ebv": np.array([s.conditions.ebv for s in specs], dtype=np.float32),
        "psfsize": np.array([s.conditions.psfsize for s in specs], dtype=np.float32).reshape(n, 3),
        "psfdepth": np.array([s.conditions.psfdepth for s in specs], dtype=np.float32).reshape(n, 3),
        "source_type": np.array([s.source_type for s in specs], dtype="S3"),
        "survey": np.array([s.survey for s in specs], dtype="S5"),
        "nobs": np.array([s.conditions.nobs for s in specs], dtype=np.int16).reshape(n, 3),
        "transmission": np.array([s.conditions.transmission for s in specs], dtype=np.float32).reshape(n, 3),
        "maskbits": np.array([s.maskbits for s in specs], dtype=np.int32),
        "inds": np.asarray(inds, dtype=np.int64),
    }
    for key in ("z_phot_mean", "z_phot_median", "z_phot_std", "z_phot_l68", "z_phot_u68", "z_spec"):
        cols[key] = np.array([s.photoz[key] for s in specs], dtype=np.float32)
    return cols


def truth_rows(specs: list[ObjectSpec], brickids, objids) -> list[dict]:
    """truth.csv rows for ``specs`` (same order)."""
    rows = []
    for spec, brick, obj in zip(specs, brickids, objids, strict=True):
        release = SURVEY_RELEASE[spec.survey]
        mags = flux_to_mag(spec.flux)
        row = {
            "object_id": int(make_object_id(release, int(brick), int(obj))), "release": release,
            "brickid": int(brick), "objid": int(obj), "survey": spec.survey, "class": spec.cls,
            "ra": f"{spec.ra:.7f}", "dec": f"{spec.dec:.7f}", "mag_g": f"{mags[0]:.4f}", "mag_r": f"{mags[1]:.4f}",
            "mag_z": f"{mags[2]:.4f}", "source_type": spec.source_type, "z_true": f"{spec.z:.4f}",
            "n_neighbours": spec.n_neighbours, "n_stars": spec.n_stars,
        }
        for key in TRUTH_LENS:
            value = (spec.lens or {}).get(key, "")
            row[key] = f"{value:.5g}" if isinstance(value, float | np.floating) else value
        rows.append(row)
    return rows


def write_truth(path: str | Path, rows: list[dict]) -> Path:
    """Write truth.csv atomically (header :data:`TRUTH_COLUMNS`)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=TRUTH_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return path


def write_lens_list(path: str | Path, rows: list[dict]) -> Path:
    """Write the simulated survey's own known-lens list atomically: ``name, ra, dec`` of every object of class
    ``lens`` (what ``lensdb labels import`` reads; a real list, on the real sky, matches nothing here)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["name", "ra", "dec"])
        for row in rows:
            if row["class"] == "lens":
                writer.writerow([f"SIM-{row['object_id']}", row["ra"], row["dec"]])
    tmp.replace(path)
    return path


def read_truth(path: str | Path) -> list[dict]:
    """truth.csv as a list of dicts (values as strings; empty strings for absent lens parameters)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))
