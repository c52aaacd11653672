"""Convert a survey team's own files into LensDB shards: FITS cutouts or numpy arrays, plus a catalogue table.

Inputs (one of):

- **FITS cutouts, one file per object**, as the Legacy Survey cutout service writes them: a (3, S, S) image of g, r,
  z planes in nanomaggies with a celestial WCS (the order of the planes from ``BANDS``/``BAND0..2`` when present);
- **a FITS cube**: (N, 3, S, S) in the first image HDU, one object per plane triple;
- **a numpy array** (``.npy``): (N, 3, S, S), read memory-mapped.

plus, optionally, **a catalogue table** in any format astropy reads (FITS, VOTable, ECSV, CSV, TSV, parquet), one row
per object: positions, magnitudes or fluxes, and whichever of the other shard columns the team has. Rows are matched
to per-object files by a ``file`` column (relative to the table's folder or the cutout folder), else in file-name
order (the counts must agree); to a cube or array by position.

Columns a team may not have get documented defaults (:data:`DEFAULTS`, each with its consequence); positions come
from the table, else from each file's WCS (the centre pixel) or ``RA``/``DEC`` header keys.

Everything that can be checked from headers and the table (planes, units, sizes, positions, row counts) is checked
for every object before anything is written; pixels are checked (NaN, infinite) as each shard is written, and a bad
pixel takes back the shards this run wrote, so refused input leaves nothing. A shard is written in a staging folder
and renamed into place when complete, so the output folder only ever holds whole shards: a killed run leaves none
half-written, and re-running the same command skips the shards already done
(``convert.json`` in the output folder records the inputs, and a run with other inputs is refused). Memory stays
bounded: ``chunk_rows`` objects are held at a time, whatever the survey's size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import h5py
import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.ids import BANDS, BRICK_BITS, OBJ_BITS, RELEASE_BITS, SOURCE_TYPES, SURVEYS
from lensdb.core.tables import find_column, read_table
from lensdb.core.units import MIN_CUTOUT, PIXEL_SCALE_ARCSEC, flux_to_mag
from lensdb.ingest.checks import IMAGES
from lensdb.ingest.schema import shard_name

log = logging.getLogger(__name__)

MANIFEST = "convert.json"
STAGING = ".staging"
#: Units accepted in BUNIT (case-insensitive); a cutout without BUNIT is taken as nanomaggies (the cutout service's).
NANOMAGGY_UNITS = ("nanomaggy", "nanomaggies", "nmgy", "nanomaggys")
#: Radius of the aperture that measures a magnitude from the cutout when the table gives none, arcsec.
APERTURE_ARCSEC = 5.0
#: Typical DR9 5-sigma PSF depths (AB mag) in g, r, z, stored as inverse variance (1/nanomaggies^2) by default.
DEFAULT_DEPTH_MAG = (24.0, 23.4, 22.5)


def _depth_ivar(mag: float) -> float:
    sigma = 10 ** ((22.5 - mag) / 2.5) / 5.0
    return 1.0 / sigma**2


@dataclass(frozen=True)
class Default:
    """What a column gets when the table lacks it, and what that changes."""

    value: str
    consequence: str


#: The documented default of each shard column a team may not have ('lensdb convert --help' prints these).
DEFAULTS: dict[str, Default] = {
    "ra/dec": Default("the cutout's WCS at its centre pixel, else its RA/DEC header keys",
                      "none when the WCS is right; a cube or array without a table has no position and is refused"),
    "mag_g/mag_r/mag_z": Default(f"measured on the cutout: the flux within {APERTURE_ARCSEC:g} arcsec of the centre",
                                 "an aperture magnitude, fainter than a model magnitude for extended galaxies: the "
                                 "encoder's training selection (mag_z < 20) and magnitude filters use it"),
    "ebv": Default("0", "E(B-V) = 0 weakens the reddening augmentation (it re-reddens each image from its catalogue "
                   "E(B-V) to a random one, so every image is treated as unreddened) and E(B-V) filters see 0"),
    "psfsize": Default("1.5, 1.3, 1.2 arcsec (g, r, z; typical DR9 FWHM)",
                       "PSF-size filters and the columns in exports are a constant; the encoder does not use them"),
    "psfdepth": Default("DR9-typical 5-sigma depths 24.0, 23.4, 22.5 mag, as inverse variance (1/nanomaggies^2)",
                        "depth filters are a constant; the encoder does not use them"),
    "source_type": Default("REX (round exponential: a resolved galaxy)",
                           "morphology filters cannot tell stars (PSF) from galaxies: drop stars before converting"),
    "release": Default("--release (default 1, a code no DR9 survey uses)",
                       "object ids are release << 40 | brickid << 20 | objid: give each converted survey its own "
                       "release so that two conversions ingested into one catalogue never share ids"),
    "brickid/objid": Default("derived from the row: brickid = row // 2^20, objid = row % 2^20",
                             "ids follow the row order of the input: re-converting the same input in the same order "
                             "gives the same ids; a re-ordered input gives other ids"),
    "survey": Default("--survey (default south)", "the encoder trains on the south by default: convert with "
                      "--survey south, or train with --set survey=north"),
    "z_phot_*": Default("none (NULL)", "no photometric-redshift filters"),
}

_DEFAULT_PSFSIZE = (1.5, 1.3, 1.2)
#: Names astronomers give each column, tried case-insensitively (override any with --col ROLE=NAME).
COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "file": ("file", "filename", "path", "cutout", "fits"),
    "ra": ("ra", "ra_deg", "raj2000", "ra_icrs", "alpha"),
    "dec": ("dec", "dec_deg", "dej2000", "decj2000", "dec_icrs", "delta"),
    "release": ("release",),
    "brickid": ("brickid",),
    "objid": ("objid",),
    "ebv": ("ebv", "e_bv", "e(b-v)"),
    "source_type": ("source_type", "type", "morphtype"),
    "survey": ("survey",),
    **{f"flux_{b}": (f"flux_{b}",) for b in BANDS},
    **{f"mag_{b}": (f"mag_{b}", f"{b}mag", f"{b}_mag") for b in BANDS},
    **{f"psfsize_{b}": (f"psfsize_{b}",) for b in BANDS},
    **{f"psfdepth_{b}": (f"psfdepth_{b}",) for b in BANDS},
    **{k: (k,) for k in ("z_phot_mean", "z_phot_median", "z_phot_std", "z_phot_l68", "z_phot_u68")},
}


@dataclass(frozen=True)
class ConvertConfig:
    """Tunables of ``lensdb convert``.

    Attributes:
        shard_rows: objects per output shard.
        chunk_rows: objects read and written at a time (memory: about chunk_rows x 3 x S x S x 4 bytes).
        release: release code of the object ids (see :data:`DEFAULTS`).
        survey: survey of every object without a ``survey`` column (south or north).
        fill_nan: replace NaN pixels by this value (a plane that is NaN everywhere is still refused); ``None``: NaN
            pixels are an error.
        dtype: stored pixel type, float32 or float16.
        compression: HDF5 compression of the images (e.g. gzip), none by default.
        columns: role -> table column name, for columns the usual names do not find (see :data:`COLUMN_NAMES`).
    """

    shard_rows: int = 10_000
    chunk_rows: int = 256
    release: int = 1
    survey: str = "south"
    fill_nan: float | None = None
    dtype: str = "float32"
    compression: str | None = None
    columns: dict[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.shard_rows < 1 or self.chunk_rows < 1:
            raise InvalidInput("shard_rows and chunk_rows must be at least 1")
        if not 0 <= self.release < (1 << RELEASE_BITS):
            raise InvalidInput(f"release must lie in [0, {1 << RELEASE_BITS}), got {self.release}")
        if self.survey not in SURVEYS:
            raise InvalidInput(f"survey {self.survey!r} is not one of {', '.join(SURVEYS)}")
        if self.dtype not in ("float32", "float16"):
            raise InvalidInput(f"dtype {self.dtype!r} is not float32 or float16")
        unknown = set(self.columns) - set(COLUMN_NAMES)
        if unknown:
            raise InvalidInput(f"unknown column role(s) {', '.join(sorted(unknown))}; known: "
                               f"{', '.join(COLUMN_NAMES)}")


@dataclass
class ConvertReport:
    """What a conversion did."""

    out_dir: Path
    n_objects: int
    cutout: int
    shards: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    defaults: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.n_objects / self.seconds if self.seconds > 0 else 0.0
        return (f"{len(self.written)} shard(s) written, {len(self.skipped)} already done, {self.n_objects:,} objects "
                f"of {self.cutout} px in {self.seconds:.1f} s ({rate:,.0f} objects/s) -> {self.out_dir}")


#: ``progress(event, n)``: "start" with the objects to write, "rows" with objects just written.
ProgressFn = Callable[[str, int], None]


# --------------------------------------------------------------------------------------------- image sources
class _Images:
    """A source of (3, S, S) cutouts, addressed by object index."""

    n: int
    size: int

    def label(self, i: int) -> str:
        raise NotImplementedError

    def read(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def positions(self) -> tuple[np.ndarray, np.ndarray] | None:
        return None

    def close(self) -> None:
        """Release open files (a memory-mapped cube)."""


def _check_bunit(label: str, header) -> None:
    unit = header.get("BUNIT")
    if unit is not None and str(unit).strip().lower() not in NANOMAGGY_UNITS:
        raise InvalidInput(f"{label}: BUNIT is {str(unit).strip()!r}, not nanomaggies; LensDB's shards hold "
                           "nanomaggies (mag = 22.5 - 2.5 log10 flux): convert the pixels (e.g. multiply by "
                           "10^(0.4 (22.5 - zeropoint)) for a zeropoint other than 22.5) and set BUNIT = 'nanomaggy'")


def _band_order(label: str, header, planes: int) -> list[int]:
    """Indices of the g, r, z planes from BANDS or BAND0..BAND<n> (in order g, r, z when the header names none)."""
    names = None
    if "BANDS" in header:
        names = [c for c in str(header["BANDS"]).strip().lower()]
    elif "BAND0" in header:
        names = [str(header.get(f"BAND{k}", "")).strip().lower() for k in range(planes)]
    if names is None:
        if planes != len(BANDS):
            raise InvalidInput(f"{label}: {planes} image planes; LensDB needs 3 (g, r, z in that order) and the "
                               "header names no bands (BANDS): write the g, r and z planes only")
        return [0, 1, 2]
    missing = [b for b in BANDS if b not in names]
    if missing:
        raise InvalidInput(f"{label}: bands {''.join(names)} in the header lack {', '.join(missing)}; LensDB needs "
                           "g, r and z planes")
    if planes != len(names):
        raise InvalidInput(f"{label}: the header names {len(names)} bands ({''.join(names)}) but the image has "
                           f"{planes} planes; write the file again")
    if planes != len(BANDS):
        raise InvalidInput(f"{label}: {planes} image planes ({''.join(names)}); LensDB needs exactly 3, g, r and z: "
                           "cut the other bands out before converting")
    return [names.index(b) for b in BANDS]


def _first_image_hdu(hdul):
    for hdu in hdul:
        if getattr(hdu, "is_image", False) and hdu.header.get("NAXIS", 0) > 0:
            return hdu
    return None


#: FITS BITPIX -> numpy dtype of the stored (big-endian) values.
_BITPIX = {-32: ">f4", -64: ">f8", 8: "u1", 16: ">i2", 32: ">i4", 64: ">i8"}


def _pixel_scale(header) -> float | None:
    """Arcsec per pixel from CD or CDELT keys (no WCS object: this runs for every file)."""
    try:
        if "CD1_1" in header:
            det = header["CD1_1"] * header.get("CD2_2", 0.0) - header.get("CD1_2", 0.0) * header.get("CD2_1", 0.0)
            return float(abs(det) ** 0.5 * 3600)
        if "CDELT1" in header:
            return float(abs(header["CDELT1"]) * 3600)
    except (TypeError, ValueError):
        return None
    return None


class _FitsFiles(_Images):
    """One FITS file per object.

    Headers are read once, up front (every check that needs no pixels); the pixels are then read straight from the
    file at the recorded offset when the image is the primary HDU without scaling (the cutout service's form), else
    through astropy. Positions come from the WCS only when ``need_positions`` (the table has none).
    """

    def __init__(self, files: Sequence[Path], need_positions: bool = True):
        from astropy.io import fits

        self.files = list(files)
        self.n = len(self.files)
        self.order: list[list[int]] = []
        self.where: list[tuple[int, str, int] | tuple[None, None, int]] = []  # (offset, dtype, -) or (-, -, hdu)
        self.wcs_pos: list[tuple[float, float] | None] = []
        sizes: dict[int, Path] = {}
        scales = []
        for path in self.files:
            compressed = path.name.lower().endswith((".gz", ".fz", ".bz2", ".zip"))
            try:
                if compressed:  # astropy decompresses; the raw bytes hold no header to read
                    header, offset = fits.Header(), None
                else:
                    with open(path, "rb") as f:
                        header = fits.Header.fromfile(f)
                        offset = f.tell()
                where: tuple = (offset, _BITPIX.get(header.get("BITPIX")), 0)
                scaled = header.get("BSCALE", 1) != 1 or header.get("BZERO", 0) != 0
                if header.get("NAXIS", 0) == 0 or scaled or where[1] is None or compressed:
                    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
                        hdu = _first_image_hdu(hdul)
                        if hdu is None:
                            raise InvalidInput(f"{path}: no image in the FITS file; write the (3, S, S) g, r, z "
                                               "cutout")
                        header = hdu.header.copy()
                        where = (None, None, hdul.index_of(hdu))
            except InvalidInput:
                raise
            except Exception as exc:
                raise InvalidInput(f"{path}: cannot read as FITS ({type(exc).__name__}: {exc}); copy or write it "
                                   "again") from None
            shape = tuple(header[f"NAXIS{k}"] for k in range(header["NAXIS"], 0, -1))
            self.where.append(where)
            if len(shape) != 3:
                raise InvalidInput(f"{path}: image of shape {shape}; a cutout is (planes g/r/z, S, S): 3 axes")
            planes, height, width = shape
            self.order.append(_band_order(str(path), header, planes))
            if height != width:
                raise InvalidInput(f"{path}: cutout is {height}x{width} pixels, not square; cut square stamps")
            sizes.setdefault(height, path)
            _check_bunit(str(path), header)
            self.wcs_pos.append(_header_position(header, height)[0] if need_positions else None)
            scale = _pixel_scale(header)
            if scale is not None:
                scales.append(scale)
        if len(sizes) > 1:
            first, *others = sorted(sizes.items(), key=lambda kv: self.files.index(kv[1]))
            raise InvalidInput(f"{others[0][1]}: cutout of {others[0][0]} px, but {first[1]} is {first[0]} px: "
                               f"cutouts of several sizes ({', '.join(map(str, sorted(sizes)))} px) among the FITS "
                               "files; cut them all at one size (152 px like the released shards, or any >= "
                               f"{MIN_CUTOUT})")
        self.size = next(iter(sizes)) if sizes else 0
        if scales and abs(np.median(scales) / PIXEL_SCALE_ARCSEC - 1) > 0.05:
            log.warning("cutouts have %.3f arcsec pixels; LensDB's encoder and radii assume %.3f (Legacy Surveys)",
                        float(np.median(scales)), PIXEL_SCALE_ARCSEC)

    def label(self, i: int) -> str:
        return str(self.files[i])

    def read(self, start: int, stop: int) -> np.ndarray:
        from astropy.io import fits

        out = np.empty((stop - start, 3, self.size, self.size), np.float32)
        count = 3 * self.size * self.size
        for k, i in enumerate(range(start, stop)):
            offset, dtype, hdu = self.where[i]
            try:
                if offset is not None:
                    data = np.fromfile(self.files[i], dtype=dtype, count=count, offset=offset)
                    if data.size != count:
                        raise OSError(f"the file ends after {data.size} of {count} pixels")
                    out[k] = data.reshape(3, self.size, self.size)[self.order[i]]
                else:
                    with fits.open(self.files[i], memmap=False) as hdul:
                        out[k] = np.asarray(hdul[hdu].data, dtype=np.float32)[self.order[i]]
            except Exception as exc:
                raise InvalidInput(f"{self.files[i]}: cannot read the pixels ({type(exc).__name__}: {exc}); copy or "
                                   "write the file again") from None
        return out

    def positions(self):
        if any(p is None for p in self.wcs_pos):
            return None
        ra, dec = zip(*self.wcs_pos, strict=True) if self.wcs_pos else ((), ())
        return np.asarray(ra, np.float64), np.asarray(dec, np.float64)

    def missing_position(self) -> str | None:
        for path, pos in zip(self.files, self.wcs_pos, strict=True):
            if pos is None:
                return str(path)
        return None


def _header_position(header, size: int) -> tuple[tuple[float, float] | None, float | None]:
    """((ra, dec) of the centre pixel, pixel scale arcsec) from a celestial WCS, else RA/DEC keys; None when none."""
    from astropy.utils.exceptions import AstropyWarning
    from astropy.wcs import WCS, FITSFixedWarning

    if "CTYPE1" in header and "CTYPE2" in header:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FITSFixedWarning)
                warnings.simplefilter("ignore", AstropyWarning)
                wcs = WCS(header, naxis=2)
            if wcs.has_celestial:
                c = (size - 1) / 2.0
                celestial = wcs.celestial
                ra, dec = celestial.pixel_to_world_values(c, c)
                scales = celestial.proj_plane_pixel_scales()
                scale = float(np.mean([abs(q.to_value('deg')) for q in scales])) * 3600
                if np.isfinite(ra) and np.isfinite(dec):
                    return (float(ra) % 360.0, float(dec)), scale
        except Exception:  # a broken WCS: fall back to the keys, else no position
            pass
    for rk, dk in (("RA", "DEC"), ("RA_OBJ", "DEC_OBJ"), ("OBJRA", "OBJDEC")):
        if rk in header and dk in header:
            try:
                return (float(header[rk]) % 360.0, float(header[dk])), None
            except (TypeError, ValueError):
                return None, None
    return None, None


class _ArrayImages(_Images):
    """(N, 3, S, S) from a FITS cube or a .npy file (memory-mapped)."""

    def __init__(self, path: Path, kind: str):
        self.path = path
        if kind == "npy":
            try:
                self.array = np.load(path, mmap_mode="r")
            except Exception as exc:
                raise InvalidInput(f"{path}: cannot read as a numpy .npy array ({type(exc).__name__}: {exc})") from None
            order = [0, 1, 2]
        else:
            from astropy.io import fits

            try:
                self._hdul = fits.open(path, memmap=True)
            except Exception as exc:
                raise InvalidInput(f"{path}: cannot read as FITS ({type(exc).__name__}: {exc})") from None
            try:
                hdu = _first_image_hdu(self._hdul)
                if hdu is None:
                    raise InvalidInput(f"{path}: no image in the FITS file; write the (N, 3, S, S) cube")
                _check_bunit(str(path), hdu.header)
                self.array = hdu.data
            except BaseException:
                self._hdul.close()
                raise
            order = None
        try:
            self._check_shape(order, hdu.header if order is None else None)
        except BaseException:
            self.close()
            raise

    def _check_shape(self, order, header) -> None:
        path = self.path
        shape = tuple(self.array.shape)
        if len(shape) != 4:
            raise InvalidInput(f"{path}: array of shape {shape}; a cube is (objects, planes g/r/z, S, S)")
        self.n, planes, height, width = shape
        if order is None:
            order = _band_order(str(path), header, planes)
        elif planes != 3:
            raise InvalidInput(f"{path}: {planes} image planes (shape {shape}); LensDB needs 3, g, r and z in that "
                               "order")
        if height != width:
            raise InvalidInput(f"{path}: cutouts are {height}x{width} pixels, not square; cut square stamps")
        self.order = order
        self.size = height

    def label(self, i: int) -> str:
        return f"{self.path} [object {i}]"

    def close(self) -> None:
        self.array = None
        hdul = getattr(self, "_hdul", None)
        if hdul is not None:
            hdul.close()

    def read(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.array[start:stop], dtype=np.float32)[:, self.order]


# ---------------------------------------------------------------------------------------------- the catalogue
def _list_fits(paths: Sequence[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.name.lower().endswith((".fits", ".fit", ".fits.gz",
                                                                                      ".fts"))))
        elif path.is_file():
            files.append(path)
        else:
            raise InvalidInput(f"{path}: no such file or folder; give FITS cutouts or folders holding them")
    if not files:
        raise InvalidInput(f"no FITS cutouts in {', '.join(map(str, paths))}; give .fits files or folders of them")
    return files


def _table_files(table, col: str, table_path: Path, search: Sequence[Path]) -> list[Path]:
    """The cutout of each row, named by column ``col``: a file inside one of the ``search`` folders (a name that
    leaves them, by ``..``, an absolute path or a symbolic link, is refused), each named once."""
    out = []
    seen: dict[Path, int] = {}
    roots = [d.resolve() for d in search]
    for k, value in enumerate(table[col]):
        name = str(value).strip()
        if not name or Path(name).is_absolute() or ".." in Path(name).parts:
            raise InvalidInput(f"{table_path}: row {k}: column {col!r} names {name[:200]!r}, which is not a file name "
                               f"inside {' or '.join(str(d) for d in search)}; name each row's cutout by its path "
                               "relative to the cutouts' folder (no '..', no absolute path)")
        candidates = [d / name for d in search]
        try:
            found = next((c for c in candidates if c.is_file()), None)
        except (OSError, ValueError) as exc:  # a NUL byte, a name longer than the system allows
            raise InvalidInput(f"{table_path}: row {k}: column {col!r} names {name[:80]!r}, which is not a usable "
                               f"file name ({exc.strerror if isinstance(exc, OSError) else exc})") from None
        if found is None:
            raise InvalidInput(f"{table_path}: row {k}: column {col!r} names {name!r}, which is not in "
                               f"{' or '.join(str(d) for d in search)}; the table's rows must match the cutouts")
        real = found.resolve()
        if not any(real.is_relative_to(r) for r in roots):
            raise InvalidInput(f"{table_path}: row {k}: column {col!r} names {name!r}, a symbolic link leading out "
                               f"of {' and '.join(str(d) for d in search)}; copy the cutout into the folder")
        if real in seen:
            raise InvalidInput(f"{table_path}: rows {seen[real]} and {k}: column {col!r} names the same cutout "
                               f"{name!r} twice; each row needs its own cutout")
        seen[real] = k
        out.append(found)
    return out


def _unnamed_cutouts(files: Sequence[Path], cutout_paths: Sequence[Path], table_path: Path, col: str) -> None:
    """Refuse cutouts in the given folders that no row of the table names (they would be dropped silently)."""
    named = {f.resolve() for f in files}
    folders = [p for p in cutout_paths if p.is_dir()]
    extra = [f for f in (_list_fits(folders) if folders else []) if f.resolve() not in named]
    extra += [p for p in cutout_paths if p.is_file() and p.resolve() not in named]
    if extra:
        raise InvalidInput(f"{table_path}: column {col!r} names {len(files):,} cutout(s), but {len(extra):,} more "
                           f"are given (e.g. {extra[0]}), which no row names; add a row for each cutout, or move "
                           "the others out of the folder")


def _float_column(table, name: str, table_path: Path, what: str) -> np.ndarray:
    values = table[name]
    if hasattr(values, "filled"):
        values = values.filled(np.nan)
    try:
        return np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(f"{table_path}: column {name!r} ({what}) is not numeric") from None


def _int_column(table, name: str, table_path, what: str) -> np.ndarray:
    """An integer column (object id parts): every value a whole number that fits 64 bits, else InvalidInput naming
    the row and the column."""
    values = table[name]
    if hasattr(values, "filled") and np.ma.is_masked(values):
        k = int(np.flatnonzero(np.ma.getmaskarray(values))[0])
        raise InvalidInput(f"{table_path}: row {k}: column {name!r} ({what}) is empty; give every row an integer")
    raw = np.asarray(values)
    if raw.dtype.kind in "iu":
        if raw.dtype.kind == "u" and raw.size and int(raw.max()) > np.iinfo(np.int64).max:
            k = int(np.argmax(raw))
            raise InvalidInput(f"{table_path}: row {k}: column {name!r} ({what}) = {raw[k]} does not fit 64 bits")
        return raw.astype(np.int64)
    for k, v in enumerate(raw.tolist()):
        ok = isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) and float(v) == int(v) \
            and -(2**63) <= int(v) < 2**63
        if not ok:
            raise InvalidInput(f"{table_path}: row {k}: column {name!r} ({what}) = {v!r} is not an integer; object "
                               "ids are release << 40 | brickid << 20 | objid, whole numbers")
    return np.asarray([int(v) for v in raw.tolist()], np.int64)


class _Catalogue:
    """The shard columns of every object, from the table and the documented defaults."""

    def __init__(self, table, table_path: Path | None, n: int, images: _Images, config: ConvertConfig):
        self.n = n
        self.cols: dict[str, np.ndarray] = {}
        self.defaults: list[str] = []
        self.measure_mags = False
        names = list(table.colnames) if table is not None else []
        where = table_path or "table"

        def col(role: str) -> str | None:
            return find_column(names, COLUMN_NAMES[role], config.columns.get(role), what=role, path=where)

        ra_c, dec_c = col("ra"), col("dec")
        if ra_c and dec_c:
            ra = _float_column(table, ra_c, where, "ra")
            dec = _float_column(table, dec_c, where, "dec")
        else:
            pos = images.positions()
            if pos is None:
                missing = images.missing_position() if isinstance(images, _FitsFiles) else images.label(0)
                lacking = "no table" if table is None else f"no ra/dec columns in {where}"
                raise InvalidInput(f"{missing}: no position: neither a celestial WCS nor RA/DEC keys in the header, "
                                   f"and {lacking}; give a table with ra and dec (degrees) or cutouts with their WCS")
            ra, dec = pos
            self.defaults.append("ra/dec")
        if ra_c and dec_c:  # a table's positions: name the row and the column
            for c, values, ok in ((ra_c, ra, np.isfinite(ra) & (ra >= -360.0) & (ra <= 360.0)),
                                  (dec_c, dec, np.isfinite(dec) & (np.abs(dec) <= 90))):
                bad = np.flatnonzero(~ok)
                if bad.size:
                    k, what = int(bad[0]), "right ascension" if c == ra_c else "declination"
                    raise InvalidInput(
                        f"{where}: row {k}: column {c!r} = {values[k]!r} is not a {what} "
                        f"({bad.size} such row(s)); positions are ICRS degrees, ra in [-360, 360] (taken modulo "
                        f"360), |dec| <= 90")
        bad = np.flatnonzero(~(np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90)))
        if bad.size:
            raise InvalidInput(f"{images.label(int(bad[0]))}: position ra={ra[bad[0]]}, dec={dec[bad[0]]} is not a "
                               f"sky position ({bad.size} such); positions are ICRS degrees, |dec| <= 90")
        self.cols["ra"], self.cols["dec"] = ra % 360.0, dec

        ids = {k: col(k) for k in ("release", "brickid", "objid")}
        rows = np.arange(n, dtype=np.int64)
        if ids["release"]:
            self.cols["release"] = _int_column(table, ids["release"], where, "release")
        else:
            self.cols["release"] = np.full(n, config.release, np.int64)
            self.defaults.append("release")
        if bool(ids["brickid"]) != bool(ids["objid"]):
            have, lack = ("brickid", "objid") if ids["brickid"] else ("objid", "brickid")
            raise InvalidInput(f"{where}: column {ids[have]!r} ({have}) without a {lack} column; give both (object "
                               "ids are release << 40 | brickid << 20 | objid) or neither (ids derived from the row)")
        if ids["brickid"] and ids["objid"]:
            self.cols["brickid"] = _int_column(table, ids["brickid"], where, "brickid")
            self.cols["objid"] = _int_column(table, ids["objid"], where, "objid")
        else:
            if n >= (1 << (BRICK_BITS + OBJ_BITS)):
                raise InvalidInput(f"{n:,} objects are more than derived ids can number; give brickid/objid columns")
            self.cols["brickid"], self.cols["objid"] = rows >> OBJ_BITS, rows & ((1 << OBJ_BITS) - 1)
            self.defaults.append("brickid/objid")
        from lensdb.core.ids import make_object_id

        try:
            oid = make_object_id(self.cols["release"], self.cols["brickid"], self.cols["objid"])
        except ValueError as exc:
            raise InvalidInput(f"{where}: release/brickid/objid: {exc}") from None
        uniq, counts = np.unique(oid, return_counts=True)
        if (counts > 1).any():
            raise InvalidInput(f"{where}: release/brickid/objid repeat ({int((counts > 1).sum())} ids more than once, "
                               f"e.g. object_id {int(uniq[counts > 1][0])}); each object needs its own")

        c = col("ebv")
        if c:
            self.cols["ebv"] = _float_column(table, c, where, "ebv")
        else:
            self.cols["ebv"] = np.zeros(n)
            self.defaults.append("ebv")
        for key, default in (("psfsize", _DEFAULT_PSFSIZE), ("psfdepth", [_depth_ivar(m) for m in DEFAULT_DEPTH_MAG])):
            found = [col(f"{key}_{b}") for b in BANDS]
            if all(found):
                self.cols[key] = np.stack([_float_column(table, f, where, key) for f in found], axis=1)
            else:
                self.cols[key] = np.tile(np.asarray(default, np.float64), (n, 1))
                self.defaults.append(key)
        c = col("source_type")
        if c:
            values = np.char.upper(np.char.strip(np.asarray(table[c]).astype(str)))
            unknown = sorted(set(values.tolist()) - set(SOURCE_TYPES))
            if unknown:
                raise InvalidInput(f"{where}: column {c!r} holds {', '.join(unknown[:5])}, not Tractor types "
                                   f"({', '.join(SOURCE_TYPES)}); map them or drop the column")
            self.cols["source_type"] = values.astype("S3")
        else:
            self.cols["source_type"] = np.full(n, b"REX", dtype="S3")
            self.defaults.append("source_type")
        c = col("survey")
        if c:
            values = np.char.lower(np.char.strip(np.asarray(table[c]).astype(str)))
            unknown = sorted(set(values.tolist()) - set(SURVEYS))
            if unknown:
                raise InvalidInput(f"{where}: column {c!r} holds {', '.join(unknown[:5])}; surveys are "
                                   f"{', '.join(SURVEYS)}")
            self.cols["survey"] = values.astype("S5")
        else:
            self.cols["survey"] = np.full(n, config.survey.encode(), dtype="S5")
            self.defaults.append("survey")
        fluxes = [col(f"flux_{b}") for b in BANDS]
        mags = [col(f"mag_{b}") for b in BANDS]
        if all(fluxes):
            self.cols["flux"] = np.stack([_float_column(table, f, where, "flux") for f in fluxes], axis=1)
        elif all(mags):
            for b, m in zip(BANDS, mags, strict=True):
                self.cols[f"mag_{b}"] = _float_column(table, m, where, f"mag_{b}")
        else:
            self.measure_mags = True
            self.defaults.append("mag_g/mag_r/mag_z")
        photo = [k for k in ("z_phot_mean", "z_phot_median", "z_phot_std", "z_phot_l68", "z_phot_u68") if col(k)]
        for k in photo:
            self.cols[k] = _float_column(table, col(k), where, k)
        if not photo:
            self.defaults.append("z_phot_*")

    def chunk(self, start: int, stop: int) -> dict[str, np.ndarray]:
        return {k: v[start:stop] for k, v in self.cols.items()}


def _aperture_flux(images: np.ndarray) -> np.ndarray:
    """(n, 3) nanomaggies within :data:`APERTURE_ARCSEC` of the centre."""
    size = images.shape[-1]
    yy, xx = np.mgrid[:size, :size]
    c = (size - 1) / 2.0
    mask = ((yy - c) ** 2 + (xx - c) ** 2) <= (APERTURE_ARCSEC / PIXEL_SCALE_ARCSEC) ** 2
    return images[:, :, mask].sum(axis=2, dtype=np.float64)


# --------------------------------------------------------------------------------------------------- convert
def _fingerprint(inputs: dict, config: ConvertConfig) -> str:
    digest = hashlib.sha256(json.dumps({"inputs": inputs, "config": asdict(config)}, sort_keys=True,
                                       default=str).encode())
    return digest.hexdigest()


def _input_stamp(paths: Sequence[Path]) -> list:
    out = []
    for p in paths:
        st = p.stat()
        out.append([str(p.resolve()), st.st_size, st.st_mtime_ns])
    return out


def convert(out_dir: str | os.PathLike, *, table: str | os.PathLike | None = None,
            cutouts: Sequence[str | os.PathLike] = (), cube: str | os.PathLike | None = None,
            npy: str | os.PathLike | None = None, config: ConvertConfig | None = None,
            progress: ProgressFn | None = None) -> ConvertReport:
    """Convert cutouts (per-object FITS, a FITS cube or a .npy array) plus an optional table into shards.

    Returns:
        What was written (and skipped, on a re-run) and which columns took their defaults.

    Raises:
        InvalidInput: bad input, naming the file and the problem; nothing of it is written.
    """
    config = config or ConvertConfig()
    started = time.perf_counter()
    given = [x for x in (bool(cutouts), cube is not None, npy is not None) if x]
    if len(given) != 1:
        raise InvalidInput("give one image input: FITS cutouts (files or folders), --cube FILE or --npy FILE")
    table_path = Path(table) if table is not None else None
    tab = read_table(table_path) if table_path is not None else None

    if cutouts:
        cutout_paths = [Path(p) for p in cutouts]
        file_col = (find_column(tab.colnames, COLUMN_NAMES["file"], config.columns.get("file"), what="file",
                                path=table_path) if tab is not None else None)
        if file_col is not None:
            search = [p if p.is_dir() else p.parent for p in cutout_paths] + [table_path.parent]
            files = _table_files(tab, file_col, table_path, search)
            _unnamed_cutouts(files, cutout_paths, table_path, file_col)
        else:
            files = _list_fits(cutout_paths)
            if tab is not None and len(tab) != len(files):
                raise InvalidInput(f"{table_path}: {len(tab):,} rows, but {len(files):,} FITS cutouts in "
                                   f"{', '.join(map(str, cutout_paths))}; the table's rows must match the cutouts "
                                   "one to one (in file-name order), or add a 'file' column naming each row's cutout")
        has_positions = tab is not None and all(
            find_column(tab.colnames, COLUMN_NAMES[r], config.columns.get(r), what=r, path=table_path)
            for r in ("ra", "dec"))
        images: _Images = _FitsFiles(files, need_positions=not has_positions)
        inputs = {"cutouts": _input_stamp(files)}
    else:
        path = Path(cube if cube is not None else npy)
        if not path.is_file():
            raise InvalidInput(f"{path}: no such file")
        images = _ArrayImages(path, "fits" if cube is not None else "npy")
        inputs = {"array": _input_stamp([path])}
    try:
        return _convert_images(out_dir, images, tab, table_path, inputs, config, progress, started)
    finally:
        images.close()


def _convert_images(out_dir, images: _Images, tab, table_path: Path | None, inputs: dict, config: ConvertConfig,
                    progress: ProgressFn | None, started: float) -> ConvertReport:
    if not isinstance(images, _FitsFiles):
        if tab is not None and len(tab) != images.n:
            raise InvalidInput(f"{table_path}: {len(tab):,} rows, but {images.path} holds {images.n:,} cutouts; "
                               "the table's rows must match the cutouts one to one")
    if table_path is not None:
        inputs["table"] = _input_stamp([table_path])
    n = images.n
    if n == 0:
        raise InvalidInput("no objects to convert")
    if images.size < MIN_CUTOUT:
        raise InvalidInput(f"{images.label(0)}: cutouts of {images.size} px are smaller than LensDB's minimum "
                           f"{MIN_CUTOUT} (the 96-px training crop plus its jitter); cut larger stamps")
    catalogue = _Catalogue(tab, table_path, n, images, config)

    out = Path(out_dir)
    fingerprint = _fingerprint(inputs, config)
    created = not out.exists()
    _claim(out, fingerprint, inputs, config)
    written: list[Path] = []
    try:
        return _convert_shards(out, images, catalogue, config, progress, started, written)
    except BaseException as exc:
        # Bad input found while writing (pixels) takes back this run's shards: a refused input writes nothing.
        # An interruption keeps them, so that the same command resumes.
        if isinstance(exc, InvalidInput):
            for path in written:
                path.unlink(missing_ok=True)
        shutil.rmtree(out / STAGING, ignore_errors=True)
        if not any(p.suffix == ".h5" for p in out.iterdir()):
            (out / MANIFEST).unlink(missing_ok=True)
            if created and not any(out.iterdir()):
                out.rmdir()
        raise


def _convert_shards(out: Path, images: _Images, catalogue: _Catalogue, config: ConvertConfig,
                    progress: ProgressFn | None, started: float, written: list[Path]) -> ConvertReport:
    n = images.n
    staging = out / STAGING
    report = ConvertReport(out, n, images.size, defaults=catalogue.defaults)
    for name in catalogue.defaults:
        log.info("column %s: default %s (%s)", name, DEFAULTS[name].value, DEFAULTS[name].consequence)
    if progress:
        progress("start", n)
    for start in range(0, n, config.shard_rows):
        stop = min(n, start + config.shard_rows)
        target = out / shard_name(start, stop, images.size)
        report.shards.append(target)
        if target.is_file():
            report.skipped.append(target)
            if progress:
                progress("rows", stop - start)
            continue
        staging.mkdir(parents=True, exist_ok=True)
        tmp = staging / target.name
        try:
            _write_shard(tmp, images, catalogue, start, stop, config, progress)
            tmp.replace(target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        report.written.append(target)
        written.append(target)
        log.info("wrote %s (%d objects)", target, stop - start)
    shutil.rmtree(staging, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _claim(out: Path, fingerprint: str, inputs: dict, config: ConvertConfig) -> None:
    """Record the inputs in ``convert.json``; refuse a folder that holds a conversion of other inputs, and an
    output that is not a folder LensDB can write."""
    if out.exists() and not out.is_dir():
        raise InvalidInput(f"--out {out}: is a file, not a folder; give a folder for the shards (new or empty)")
    try:
        _claim_folder(out, fingerprint, inputs, config)
    except OSError as exc:
        raise InvalidInput(f"--out {out}: cannot write there ({exc.strerror or exc}); give a folder you can "
                           "write to (new or empty)") from None


def _claim_folder(out: Path, fingerprint: str, inputs: dict, config: ConvertConfig) -> None:
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text()).get("fingerprint")
        except ValueError:
            old = None
        if old != fingerprint:
            raise InvalidInput(f"{out}: holds the shards of another conversion (other inputs or settings, see "
                               f"{manifest}); convert into a new folder, or delete this one first")
        return
    if out.is_dir() and any(p.suffix == ".h5" for p in out.iterdir()):
        raise InvalidInput(f"{out}: already holds .h5 files not written by 'lensdb convert'; give an empty folder")
    out.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint, "inputs": inputs, "config": asdict(config),
                               "written_by": "lensdb convert"}, indent=1, default=str))
    tmp.replace(manifest)


def _write_shard(path: Path, images: _Images, catalogue: _Catalogue, start: int, stop: int, config: ConvertConfig,
                 progress: ProgressFn | None) -> None:
    n = stop - start
    size = images.size
    dtype = np.dtype(config.dtype)
    cols = catalogue.chunk(start, stop)
    measured = np.empty((n, 3)) if catalogue.measure_mags else None
    with h5py.File(path, "w") as f:
        ds = f.create_dataset(IMAGES, shape=(n, 3, size, size), dtype=dtype, chunks=(min(n, 64), 3, size, size),
                              compression=config.compression, shuffle=bool(config.compression))
        for a in range(start, stop, config.chunk_rows):
            b = min(stop, a + config.chunk_rows)
            pixels = images.read(a, b)
            _check_pixels(images, pixels, a, config.fill_nan)
            if measured is not None:
                measured[a - start:b - start] = _aperture_flux(pixels)
            ds[a - start:b - start] = pixels.astype(dtype)
            if progress:
                progress("rows", b - a)
        if measured is not None:
            mags = flux_to_mag(measured)
            for i, band in enumerate(BANDS):
                cols[f"mag_{band}"] = mags[:, i]
        for name, values in cols.items():
            f.create_dataset(name, data=values)


def _check_pixels(images: _Images, pixels: np.ndarray, start: int, fill_nan: float | None) -> None:
    """Refuse non-finite pixels (naming the file and band); with ``fill_nan``, fill NaN except in all-NaN planes."""
    finite = np.isfinite(pixels)
    if finite.all():
        return
    per_plane = finite.reshape(len(pixels), 3, -1)
    empty = np.argwhere(~per_plane.any(axis=2))
    if empty.size:
        k, band = (int(v) for v in empty[0])
        raise InvalidInput(f"{images.label(start + k)}: the {BANDS[band]} plane has no finite pixel (all NaN or "
                           "infinite: no data in that band); drop the object or get its cutout again")
    inf = np.isinf(pixels)
    if fill_nan is None or inf.any():
        bad = np.argwhere(~per_plane.all(axis=2))
        k, band = (int(v) for v in bad[0])
        count = int((~finite[k, band]).sum())
        what = "infinite" if inf[k, band].any() else "NaN"
        raise InvalidInput(f"{images.label(start + k)}: {count} {what} pixel(s) in the {BANDS[band]} plane; mask "
                           "them before converting" + ("" if what == "infinite" else
                                                       ", or pass --fill-nan 0 to replace NaN pixels by 0"))
    np.nan_to_num(pixels, copy=False, nan=fill_nan)
