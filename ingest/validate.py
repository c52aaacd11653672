"""Checks that decide whether a shard may be ingested. Each failure raises :class:`~lensdb.core.errors.InvalidInput`
with one message naming the file, the key, the problem and what to do:
``<file>: key '<key>': <problem>; <what to do>``.

Cheapest first:

- :func:`check_structure`: keys, shapes, dtypes, band count and cutout size, from the HDF5 metadata alone.
- :func:`check_chunk`: the values of a chunk of catalogue rows (finite, in range, known types and surveys).
- :func:`check_images` and :func:`check_unique_ids`: finite pixels, object ids unique within the shard.

The message format and the pixel check live in :mod:`lensdb.ingest.checks`, where the shard reader uses them too
(:meth:`lensdb.ingest.reader.ShardReader.cutouts`); they are part of this module's interface.

Values are checked in the catalogue columns LensDB stores; the other known columns (nobs, maskbits, ...) get
the shape and dtype checks, and keys LensDB does not know are ignored (the released shards carry several).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import h5py
import numpy as np

from lensdb.core.ids import (
    BANDS,
    BRICK_BITS,
    OBJ_BITS,
    RELEASE_BITS,
    RELEASE_SURVEY,
    SOURCE_TYPES,
    SURVEYS,
    split_object_id,
)
from lensdb.core.units import MIN_CUTOUT
from lensdb.ingest.checks import problem
from lensdb.ingest.reader import IMAGES, PER_BAND, PHOTO_Z, SCALAR_FLOATS, ShardReader, catalog_keys, text_values
from lensdb.ingest.schema import COLUMN_BY_NAME, COLUMNS, IMAGE_DTYPES

_KIND_OK = {"f": "fiu", "i": "iu", "S": "SO"}
_KIND_WORD = {"f": "a number (float)", "i": "an integer", "S": "text (bytes or str)"}
_ID_BITS = {"release": RELEASE_BITS, "brickid": BRICK_BITS, "objid": OBJ_BITS}


@dataclass(frozen=True)
class Layout:
    """What :func:`check_structure` found: rows, cutout side (pixels), image dtype, catalogue keys to read."""

    n_rows: int
    cutout: int
    image_dtype: str
    read_keys: tuple[str, ...]


def check_structure(reader: ShardReader) -> Layout:
    """Check keys, shapes and dtypes from the metadata alone; returns the shard's :class:`Layout`."""
    path = reader.path
    images = reader.dataset(IMAGES)
    shape = images.shape
    if len(shape) != 4:
        raise problem(path, IMAGES, f"shape {shape} is not (N, 3, S, S)",
                      "store the cutouts as (objects, bands g/r/z, pixels, pixels)")
    n, bands, height, width = shape
    if bands != len(BANDS):
        raise problem(path, IMAGES, f"has {bands} bands (shape {shape}); LensDB expects 3 (g, r, z)",
                      "keep only the g, r and z planes, in that order")
    if height != width:
        raise problem(path, IMAGES, f"cutouts are {height}x{width} pixels, not square",
                      "cut square stamps centred on each object")
    if height < MIN_CUTOUT:
        raise problem(path, IMAGES, f"cutouts of {height} pixels are smaller than the minimum {MIN_CUTOUT}",
                      f"cut stamps of at least {MIN_CUTOUT} pixels (the training crop plus its jitter)")
    dtype = images.dtype.newbyteorder("=") if images.dtype.kind == "f" else images.dtype
    if dtype not in IMAGE_DTYPES:
        raise problem(path, IMAGES, f"dtype {images.dtype} is not float32 or float16",
                      "store the pixels in nanomaggies as float32 (or float16)")
    if n == 0:
        raise problem(path, IMAGES, "the shard has no rows", "leave empty shards out of the ingest")

    for column in COLUMNS:
        if column.required and column.name not in reader.keys:
            raise problem(path, column.name, f"is missing ({column.doc})",
                          "add the column; present keys: " + ", ".join(reader.keys))
    if "flux" not in reader.keys:
        for band in BANDS:
            if f"mag_{band}" not in reader.keys:
                raise problem(path, f"mag_{band}", "is missing and there is no 'flux' column",
                              "give magnitudes as flux (N, 3) in nanomaggies or as mag_g, mag_r and mag_z")
    for key in reader.keys:
        if key in COLUMN_BY_NAME:
            _check_column_meta(reader, key, n)
    return Layout(n_rows=int(n), cutout=int(height), image_dtype=str(dtype),
                  read_keys=catalog_keys(reader.keys))


def _check_column_meta(reader: ShardReader, key: str, n: int) -> None:
    column = COLUMN_BY_NAME[key]
    ds = reader.dataset(key)
    expected = (n,) if column.width == 1 else (n, column.width)
    if ds.shape != expected:
        if ds.shape[:1] != (n,):
            what = f"has {ds.shape[0] if ds.shape else 0} rows (shape {ds.shape}) but 'images' has {n}"
        else:
            what = f"shape {ds.shape} is not {expected}"
        raise problem(reader.path, key, what, "every catalogue column needs one row per image" +
                      ("" if column.width == 1 else f", {column.width} values (g, r, z) per row"))
    kind = ds.dtype.kind
    if kind == "O" and h5py.check_string_dtype(ds.dtype) is None:
        kind = "?"  # variable-length data other than text
    if kind not in _KIND_OK[column.kind]:
        raise problem(reader.path, key, f"dtype {ds.dtype} is not {_KIND_WORD[column.kind]}",
                      f"write {key} ({column.doc}) as {_KIND_WORD[column.kind]}")


def _finite(path, key: str, values: np.ndarray, start: int) -> None:
    if values.dtype.kind != "f" or np.isfinite(values).all():
        return
    bad = ~np.isfinite(values)
    rows, *band = np.nonzero(bad)
    where = f"first at row {start + int(rows[0])}" + (f", band {BANDS[int(band[0][0])]}" if band else "")
    raise problem(path, key, f"{int(np.isnan(values).sum())} NaN and {int(np.isinf(values).sum())} infinite "
                  f"value(s) in rows {start}-{start + len(values)} ({where})",
                  "catalogue values must be finite: fix or drop those rows")


def _in_range(path, key: str, values: np.ndarray, low: float, high: float, start: int, todo: str) -> None:
    bad = (values < low) | (values > high)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise problem(path, key, f"{int(bad.sum())} value(s) outside [{low}, {high}] "
                      f"(first at row {start + row}: {values[row]})", todo)


def check_chunk(path, raw: Mapping[str, np.ndarray], start: int, survey: str | None = None) -> np.ndarray:
    """Check the values of one chunk of catalogue rows (those of :func:`lensdb.ingest.reader.catalog_keys`).

    Args:
        path: the shard (for messages).
        raw: key -> rows ``[start, start + n)``.
        start: the chunk's first row in the shard.
        survey: survey to assume for releases without a known survey (the ``--survey`` flag), or ``None``.

    Returns:
        The survey of each row as bytes (``b"south"``, ``b"north"``).
    """
    for key in (*SCALAR_FLOATS, *PER_BAND, "flux", *(f"mag_{b}" for b in BANDS), *PHOTO_Z):
        if key in raw:
            _finite(path, key, raw[key], start)
    _in_range(path, "ra", raw["ra"], 0.0, 360.0, start, "give right ascension in degrees, 0 to 360")
    _in_range(path, "dec", raw["dec"], -90.0, 90.0, start, "give declination in degrees, -90 to 90")
    for key, bits in _ID_BITS.items():
        _in_range(path, key, raw[key], 0, (1 << bits) - 1, start,
                  "release, brickid and objid must be the Legacy Surveys values (they make the object id)")
    types = _text(path, "source_type", raw["source_type"], start)
    known = np.array([t.encode() for t in SOURCE_TYPES])
    unknown = ~np.isin(types, known)
    if unknown.any():
        row = int(np.flatnonzero(unknown)[0])
        raise problem(path, "source_type", f"unknown morphology {types[row].decode()!r} at row {start + row} "
                      f"({int(unknown.sum())} row(s))", f"use one of {', '.join(SOURCE_TYPES)}")
    return resolve_survey(path, raw, start, survey)


def _text(path, key: str, values: np.ndarray, start: int) -> np.ndarray:
    try:
        return text_values(values)
    except UnicodeError:
        raise problem(path, key, f"non-ASCII text in rows {start}-{start + len(values)}",
                      "write plain ASCII values") from None


def resolve_survey(path, raw: Mapping[str, np.ndarray], start: int, survey: str | None = None) -> np.ndarray:
    """Each row's survey as bytes: from a ``survey`` column, else from ``release`` (9010 south, 9011 north).
    Rows of other releases take ``survey`` (the ``--survey`` flag), which must not contradict a known one."""
    names = np.array([s.encode() for s in SURVEYS])
    if "survey" in raw:
        values = _text(path, "survey", raw["survey"], start)
        bad = ~np.isin(values, names)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise problem(path, "survey", f"unknown survey {values[row].decode()!r} at row {start + row} "
                          f"({int(bad.sum())} row(s))", f"use one of {', '.join(SURVEYS)}")
        return values
    release = np.asarray(raw["release"])
    out = np.full(len(release), b"", dtype="S5")
    for code, name in RELEASE_SURVEY.items():
        out[release == code] = name.encode()
    known = out != b""
    if survey is not None:
        clash = known & (out != survey.encode())
        if clash.any():
            row = int(np.flatnonzero(clash)[0])
            raise problem(path, "release", f"release {release[row]} at row {start + row} is in the "
                          f"{out[row].decode()} survey but --survey {survey} was given",
                          "drop --survey (releases 9010/9011 carry their survey) or split the shard")
        out[~known] = survey.encode()
    elif not known.all():
        row = int(np.flatnonzero(~known)[0])
        raise problem(path, "release", f"release {release[row]} at row {start + row} has no known survey "
                      f"(known: {RELEASE_SURVEY}); unknown survey for {int((~known).sum())} row(s)",
                      f"pass --survey {'|'.join(SURVEYS)} or add a 'survey' column")
    return out


def check_unique_ids(path, object_ids: np.ndarray) -> None:
    """Reject a shard in which one (release, brickid, objid) appears on more than one row."""
    order = np.argsort(object_ids, kind="stable")
    ordered = object_ids[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return
    i = int(np.flatnonzero(same)[0])
    first, second = sorted((int(order[i]), int(order[i + 1])))
    release, brickid, objid = (int(p) for p in split_object_id(ordered[i]))
    raise problem(path, "release/brickid/objid",
                  f"duplicate object ids: {int(same.sum())} row(s) repeat an earlier one; e.g. rows {first} "
                  f"and {second} are both release {release}, brickid {brickid}, objid {objid}",
                  "each object must appear once: drop the repeated rows")
