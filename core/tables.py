"""Tables in the field's formats, through astropy: FITS, VOTable, ECSV, CSV/TSV and parquet, in and out.

:func:`read_table` and :func:`write_table` pick the astropy format from the file name (or take one), and turn
astropy's and the parsers' errors into one :class:`~lensdb.core.errors.InvalidInput` that names the file.
:func:`find_column` finds a column by the names astronomers give it (case-insensitive), or by the name a user maps.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

from lensdb.core.errors import InvalidInput

#: File name endings and the astropy format each means.
SUFFIX_FORMATS = {
    ".fits": "fits", ".fit": "fits", ".fts": "fits", ".fits.gz": "fits",
    ".vot": "votable", ".votable": "votable", ".xml": "votable",
    ".ecsv": "ascii.ecsv",
    ".csv": "ascii.csv",
    ".tsv": "ascii.tab", ".tab": "ascii.tab",
    ".parquet": "parquet", ".pq": "parquet",
    ".reg": "ds9",
}
#: The formats :func:`write_table` offers, by the short name a command takes.
EXPORT_FORMATS = {"fits": "fits", "votable": "votable", "ecsv": "ascii.ecsv", "csv": "ascii.csv",
                  "tsv": "ascii.tab", "parquet": "parquet"}
EXPORT_SUFFIX = {"fits": ".fits", "votable": ".vot", "ecsv": ".ecsv", "csv": ".csv", "tsv": ".tsv",
                 "parquet": ".parquet", "ds9": ".reg"}


def format_of(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The astropy format of ``path``: ``fmt`` (a short name or an astropy name) or the one its ending means."""
    if fmt:
        return EXPORT_FORMATS.get(fmt, fmt)
    name = Path(path).name.lower()
    for suffix in sorted(SUFFIX_FORMATS, key=len, reverse=True):
        if name.endswith(suffix):
            return SUFFIX_FORMATS[suffix]
    raise InvalidInput(f"{path}: cannot tell the table format from the name; use one of "
                       f"{', '.join(sorted(SUFFIX_FORMATS))} or give the format")


def read_table(path: str | os.PathLike, fmt: str | None = None):
    """An :class:`astropy.table.Table` from ``path`` (any format astropy reads: FITS, VOTable, ECSV, CSV, TSV,
    parquet). CSV/TSV headers are taken as given.

    Raises:
        InvalidInput: the file is missing, empty or not readable in that format (naming the file and the reason).
    """
    from astropy.table import Table
    from astropy.utils.exceptions import AstropyWarning

    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such file; give the catalogue table's path")
    astropy_format = format_of(path, fmt)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AstropyWarning)  # unit strings, VOTable versions: not our reader's business
            warnings.simplefilter("ignore", ResourceWarning)
            table = Table.read(path, format=astropy_format)
    except Exception as exc:  # astropy raises many kinds (OSError, ValueError, InconsistentTableError, ...)
        raise InvalidInput(f"{path}: cannot read as {astropy_format} ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}); check the file and its format") from None
    return table


def write_table(table, path: str | os.PathLike, fmt: str | None = None) -> Path:
    """Write ``table`` (an astropy Table) to ``path`` atomically (a temporary file renamed), replacing it."""
    path = Path(path)
    astropy_format = format_of(path, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    kwargs = {"overwrite": True}
    if astropy_format == "ascii.tab":
        astropy_format, kwargs = "ascii.basic", {"overwrite": True, "delimiter": "\t"}
    with warnings.catch_warnings():
        from astropy.utils.exceptions import AstropyWarning

        warnings.simplefilter("ignore", AstropyWarning)
        table.write(tmp, format=astropy_format, **kwargs)
    tmp.replace(path)
    return path


def find_column(columns: Iterable[str], candidates: Iterable[str], mapped: str | None = None,
                *, what: str = "column", path: str | os.PathLike = "table") -> str | None:
    """The name of the column among ``columns`` that ``mapped`` names (which must exist) or, without one, the first
    of ``candidates`` present, compared case-insensitively; ``None`` when none is."""
    names = list(columns)
    lower = {n.lower(): n for n in names}
    if mapped is not None:
        if mapped in names:
            return mapped
        if mapped.lower() in lower:
            return lower[mapped.lower()]
        raise InvalidInput(f"{path}: no column {mapped!r} for the {what}; the table has: {', '.join(names)}")
    for candidate in candidates:
        if candidate.lower() in lower:
            return lower[candidate.lower()]
    return None


def parse_mapping(items: Iterable[str] | None) -> dict[str, str]:
    """``["ra=RAJ2000", "dec=DEJ2000"]`` -> ``{"ra": "RAJ2000", "dec": "DEJ2000"}``; InvalidInput on a bad item."""
    out: dict[str, str] = {}
    for item in items or ():
        role, sep, column = item.partition("=")
        if not sep or not role.strip() or not column.strip():
            raise InvalidInput(f"column mapping {item!r} is not ROLE=COLUMN (e.g. ra=RAJ2000)")
        out[role.strip()] = column.strip()
    return out


def as_mapping(value: Mapping[str, str] | None) -> dict[str, str]:
    return dict(value or {})
