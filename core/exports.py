"""Lists of objects (candidates, search results) out in the field's formats, and Legacy Survey viewer links.

:func:`export_rows` writes rows (dicts with at least ``ra`` and ``dec`` in degrees) as FITS, VOTable, ECSV, CSV, TSV
or parquet through astropy, or as a DS9 region file (one circle per object, through the ``regions`` package), the
format chosen by the file's ending or given. :func:`viewer_url` links a position to the Legacy Survey sky viewer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.tables import EXPORT_FORMATS, format_of, write_table
from lensdb.core.units import CUTOUT_RADIUS_ARCSEC

VIEWER = "https://www.legacysurvey.org/viewer"
#: Export formats by short name (the file's ending picks one when none is given).
FORMATS = (*EXPORT_FORMATS, "ds9")
#: Units of the columns LensDB exports, written into FITS/VOTable/ECSV headers.
UNITS = {"ra": "deg", "dec": "deg", "mag_g": "mag", "mag_r": "mag", "mag_z": "mag", "sep_arcsec": "arcsec",
         "separation_arcsec": "arcsec"}


def viewer_url(ra: float, dec: float, layer: str = "ls-dr9", zoom: int = 16) -> str:
    """The Legacy Survey viewer centred on (ra, dec), degrees."""
    return f"{VIEWER}?ra={float(ra):.6f}&dec={float(dec):.6f}&layer={layer}&zoom={int(zoom)}"


def _column(values: list):
    if all(v is None or isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
           for v in values) and any(v is not None for v in values):
        floats = any(isinstance(v, float | np.floating) or v is None for v in values)
        if floats:
            return np.array([np.nan if v is None else float(v) for v in values])
        return np.array(values, dtype=np.int64)
    return np.array(["" if v is None else str(v) for v in values])


def rows_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None):
    """An astropy Table of ``rows`` (the keys of the first row, or ``columns``), with units on known columns."""
    from astropy.table import Table

    columns = list(columns or (rows[0].keys() if rows else ()))
    table = Table()
    for name in columns:
        table[name] = _column([r.get(name) for r in rows]) if rows else np.array([], dtype=float)
        if name in UNITS:
            table[name].unit = UNITS[name]
    return table


def export_rows(rows: Sequence[Mapping], path: str | os.PathLike, fmt: str | None = None,
                columns: Sequence[str] | None = None, *, radius_arcsec: float = CUTOUT_RADIUS_ARCSEC / 2) -> Path:
    """Write ``rows`` to ``path`` in ``fmt`` (fits, votable, ecsv, csv, tsv, parquet, ds9; default: by ending).

    A DS9 region file holds one ICRS circle of ``radius_arcsec`` per object, its text the object id (and rank).
    """
    path = Path(path)
    if fmt is not None and fmt not in FORMATS:
        raise InvalidInput(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    if (fmt or format_of(path)) == "ds9":
        return write_regions(rows, path, radius_arcsec=radius_arcsec)
    return write_table(rows_table(rows, columns), path, fmt)


def write_regions(rows: Sequence[Mapping], path: str | os.PathLike, *,
                  radius_arcsec: float = CUTOUT_RADIUS_ARCSEC / 2) -> Path:
    """A DS9 region file: one circle per row at (ra, dec), labelled with its object id (and rank when given)."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from regions import CircleSkyRegion, Regions

    path = Path(path)
    regions = []
    for r in rows:
        text = str(r.get("object_id", ""))
        if r.get("rank") is not None:
            text = f"{r['rank']}: {text}"
        regions.append(CircleSkyRegion(SkyCoord(float(r["ra"]) * u.deg, float(r["dec"]) * u.deg, frame="icrs"),
                                       radius_arcsec * u.arcsec, meta={"text": text}))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    Regions(regions).write(str(tmp), format="ds9", overwrite=True)
    tmp.replace(path)
    return path
