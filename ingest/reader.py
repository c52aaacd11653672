"""Read survey shards (HDF5) in chunks: catalogue columns, in the released variants, and the image stream.

:func:`open_shard` takes a path or an already open :class:`h5py.File` (which the caller keeps open). Reads go
chunk by chunk, so memory stays bounded whatever the shard size (a released shard is 1M rows, 277 GB):
catalogue columns ``chunk_rows`` rows at a time, images a byte budget at a time into one reused buffer.

The catalogue comes in the variants the released shards use (see :mod:`lensdb.ingest.schema`): magnitudes from
``flux`` (N, 3) in nanomaggies or from ``mag_g``/``mag_r``/``mag_z``; text as fixed-length bytes or as
variable-length bytes or str. :func:`catalog_columns` turns a chunk into the columns of the ``sources`` table.
Nothing here judges values: :mod:`lensdb.ingest.validate` does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.ids import BANDS, RELEASE_SURVEY, make_object_id
from lensdb.core.units import flux_to_mag
from lensdb.ingest.checks import IMAGES, check_images

PHOTO_Z = ("z_phot_mean", "z_phot_median", "z_phot_std", "z_phot_l68", "z_phot_u68")
SCALAR_FLOATS = ("ra", "dec", "ebv")  # copied to ``sources`` as they are
PER_BAND = ("psfsize", "psfdepth")  # (N, 3) columns, split into ``<name>_g``, ``_r``, ``_z``

_DAMAGED = "the file is damaged: copy or write it again"


class ShardReader:
    """An open shard; a context manager. A file passed in already open stays open on exit.

    Attributes:
        path: the shard's file path.
        name: its file name, which is the shard's name in the catalogue.
        keys: the names of the datasets at the file's root, sorted.
    """

    def __init__(self, source: str | os.PathLike | h5py.File):
        if isinstance(source, h5py.File):
            self._file, self._owned = source, False
            self.path = Path(source.filename)
        else:
            self.path = Path(source)
            if not self.path.is_file():
                raise InvalidInput(f"{self.path}: no such file; check the path")
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as exc:
                # HDF5 checks the end-of-file address in the superblock against the file size, so a shard cut
                # short by a failed copy is caught here, before any of it is read.
                raise InvalidInput(f"{self.path}: key (file): cannot open as HDF5 ({exc}); the file is "
                                   "truncated or not an HDF5 shard: copy or write it again") from None
            self._owned = True
        self.name = self.path.name
        self.keys = tuple(sorted(self._file.keys()))

    def __enter__(self) -> ShardReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self._file.close()

    @property
    def file_size(self) -> int:
        """Size of the file in bytes (0 for a file that is not on disk, e.g. an in-memory h5py file)."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def dataset(self, key: str) -> h5py.Dataset:
        """Dataset ``key``; InvalidInput naming the file and the key when it is missing or not a dataset."""
        obj = self._file.get(key)
        if not isinstance(obj, h5py.Dataset):
            what = "is missing" if obj is None else f"is a {type(obj).__name__}, not a dataset"
            raise InvalidInput(f"{self.path}: key '{key}': {what}; the shard has: {', '.join(self.keys)}")
        return obj

    def read(self, key: str, start: int, stop: int) -> np.ndarray:
        """Rows ``[start, stop)`` of dataset ``key``; unreadable data raise InvalidInput naming key and rows."""
        dataset = self.dataset(key)
        try:
            return dataset[start:stop]
        except (OSError, RuntimeError, ValueError) as exc:
            raise InvalidInput(f"{self.path}: key '{key}': rows {start}-{stop} cannot be read ({exc}); "
                               + _DAMAGED) from None

    def iter_columns(self, keys: Sequence[str], chunk_rows: int, n_rows: int) -> Iterator[tuple[int, dict]]:
        """Yield ``(start, {key: rows [start, start + chunk_rows)})`` over the first ``n_rows`` rows."""
        for start in range(0, n_rows, max(1, chunk_rows)):
            stop = min(n_rows, start + chunk_rows)
            yield start, {key: self.read(key, start, stop) for key in keys}

    def image_shape(self) -> tuple[int, int]:
        """(rows N, cutout side S) of the ``images`` dataset; InvalidInput unless it is (N, 3, S, S) g, r, z."""
        shape = self.dataset(IMAGES).shape
        if len(shape) != 4 or shape[1] != len(BANDS) or shape[2] != shape[3]:
            raise InvalidInput(f"{self.path}: key '{IMAGES}': shape {shape} is not (N, 3, S, S) in bands g, r, z; "
                               "store the cutouts as (objects, bands g/r/z, pixels, pixels)")
        return int(shape[0]), int(shape[2])

    def read_rows(self, key: str, rows, block: int = 1024, density: float = 1 / 32) -> np.ndarray:
        """Rows ``rows`` (any order, repeats allowed) of dataset ``key``, in that order.

        Dense stretches are read as contiguous slices and picked in memory; only sparse ones use h5py's point
        selection, which costs per row and is slow for long lists.
        """
        rows = np.asarray(rows, dtype=np.int64)
        uniq, inverse = np.unique(rows, return_inverse=True)
        ds = self.dataset(key)
        if uniq.size and (uniq[0] < 0 or uniq[-1] >= ds.shape[0]):
            raise InvalidInput(f"{self.path}: key '{key}': rows {uniq[0]}-{uniq[-1]} asked, the shard has "
                               f"{ds.shape[0]}; the catalogue and the shard disagree: re-ingest the shard")
        out = np.empty((len(uniq), *ds.shape[1:]), ds.dtype)
        i = 0
        try:
            while i < len(uniq):
                j = int(np.searchsorted(uniq, uniq[i] + block, side="left"))  # uniq[i:j] lie within one block
                lo, hi = int(uniq[i]), int(uniq[j - 1]) + 1
                if (j - i) >= density * (hi - lo):
                    out[i:j] = ds[lo:hi][uniq[i:j] - lo]
                else:
                    out[i:j] = ds[uniq[i:j].tolist()]
                i = j
        except (OSError, RuntimeError, ValueError) as exc:
            raise InvalidInput(f"{self.path}: key '{key}': rows cannot be read ({exc}); " + _DAMAGED) from None
        return out[inverse]

    def cutouts(self, rows, crop: int | None = None, *, check: bool = True) -> np.ndarray:
        """(n, 3, c, c) float32 nanomaggies of ``rows`` (any order), centre-cropped to ``crop`` pixels (the stored
        side when ``None``), the crop at ``(S - c) // 2`` as the encoder's CenterCrop takes it.

        Scattered rows are read one slice each with the crop in the HDF5 selection (h5py's list selection is far
        slower for scattered rows); dense ones through :meth:`read_rows`. With ``check``, NaN or infinite pixels are
        refused naming the shard's own row and band.
        """
        n, size = self.image_shape()
        c = size if crop is None else int(crop)
        if c > size:
            raise InvalidInput(f"{self.path}: cutouts of {size} px are smaller than the {c}-px crop asked for")
        rows = np.asarray(rows, dtype=np.int64)
        lo = (size - c) // 2
        if rows.size and rows.size * 32 >= (rows.max() - rows.min() + 1):
            out = self.read_rows(IMAGES, rows)[:, :, lo:lo + c, lo:lo + c].astype(np.float32)
        else:
            ds = self.dataset(IMAGES)
            out = np.empty((rows.size, 3, c, c), np.float32)
            try:
                for k, r in enumerate(rows.tolist()):
                    out[k] = ds[r, :, lo:lo + c, lo:lo + c]
            except (OSError, RuntimeError, ValueError, IndexError) as exc:
                raise InvalidInput(f"{self.path}: key '{IMAGES}': rows cannot be read ({exc}); " + _DAMAGED) from None
        if check:
            bad = np.flatnonzero(~np.isfinite(out.reshape(len(out), -1)).all(axis=1))
            if bad.size:  # the usual message, naming the shard's own row
                check_images(self.path, out[bad[0]:bad[0] + 1], int(rows[bad[0]]))
        return out

    def training_columns(self) -> dict[str, np.ndarray]:
        """The columns the encoder's training selection needs, for every row: ``survey`` (str), ``mag_z``
        (float64, NaN for a flux <= 0), ``ebv`` (float32) and ``object_id`` (int64)."""
        n, _ = self.image_shape()
        missing = [c for c in ("ebv", "release", "brickid", "objid") if c not in self.keys]
        if missing:
            raise InvalidInput(f"{self.path}: missing column(s) {', '.join(missing)}; the shard has: "
                               + ", ".join(self.keys))
        if "mag_z" in self.keys:
            mag_z = np.asarray(self.read("mag_z", 0, n), dtype=np.float64)
        elif "flux" in self.keys and self.dataset("flux").shape == (n, 3):
            mag_z = flux_to_mag(self.read("flux", 0, n)[:, 2])
        else:
            raise InvalidInput(f"{self.path}: needs 'mag_z' or 'flux' (N, 3) to select the training sample")
        raw = {k: self.read(k, 0, n) for k in ("release", "brickid", "objid")}
        if "survey" in self.keys:
            survey = np.char.decode(text_values(self.read("survey", 0, n)), "ascii")
        else:
            survey = np.array([RELEASE_SURVEY.get(int(r), "unknown") for r in raw["release"]])
        columns = {"survey": survey, "mag_z": mag_z, "ebv": np.asarray(self.read("ebv", 0, n), dtype=np.float32),
                   "object_id": object_ids(raw)}
        for name, values in columns.items():
            if values.shape != (n,):
                raise InvalidInput(f"{self.path}: column {name} has shape {values.shape}, expected ({n},)")
        return columns

    def image_rows_per_read(self, max_bytes: int) -> int:
        """Image rows per read within ``max_bytes`` (at least one), in whole HDF5 chunks when they fit, so
        that each compressed chunk is decoded once."""
        ds = self.dataset(IMAGES)
        row_bytes = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize)
        rows = max(1, max_bytes // row_bytes)
        if ds.chunks and ds.chunks[0] <= rows:
            rows -= rows % ds.chunks[0]
        return int(min(rows, max(1, ds.shape[0])))

    def iter_images(self, max_bytes: int = 64 << 20) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, images[start:stop])`` in the stored dtype, at most ``max_bytes`` of pixels at once.

        Each yielded array is a view of one buffer that the next step overwrites: copy what must outlive it.
        """
        ds = self.dataset(IMAGES)
        rows = self.image_rows_per_read(max_bytes)
        buffer = np.empty((rows,) + ds.shape[1:], dtype=ds.dtype)
        for start in range(0, ds.shape[0], rows):
            stop = min(ds.shape[0], start + rows)
            out = buffer[: stop - start]
            try:
                ds.read_direct(out, source_sel=np.s_[start:stop])
            except (OSError, RuntimeError, ValueError) as exc:
                raise InvalidInput(f"{self.path}: key '{IMAGES}': rows {start}-{stop} cannot be read ({exc}); "
                                   + _DAMAGED) from None
            yield start, out


def find_shards(paths: Iterable[str | os.PathLike], *, must_exist: bool = False) -> list[Path]:
    """Files as given and folders expanded to their ``*.h5`` files (name order, not recursive), each once, in order.

    A path that does not exist is kept (an ingest reports it as a rejected shard); with ``must_exist`` it is refused,
    and so is a list that comes to no shard at all.

    Raises:
        InvalidInput: with ``must_exist``, a missing path or no shard.
    """
    found: dict[Path, Path] = {}
    for item in paths:
        path = Path(item)
        if must_exist and not path.exists():
            raise InvalidInput(f"{path}: no such file or folder; give .h5 shard files or folders holding them")
        for shard in sorted(path.glob("*.h5")) if path.is_dir() else [path]:
            found.setdefault(shard.resolve(), shard)
    if must_exist and not found:
        raise InvalidInput("no shards found: give .h5 files or folders that hold some")
    return list(found.values())


def open_shard(source: str | os.PathLike | h5py.File) -> ShardReader:
    """Open a shard from a path or an open :class:`h5py.File` (astropy style); use in a ``with`` block."""
    return ShardReader(source)


def catalog_keys(keys: Sequence[str]) -> tuple[str, ...]:
    """The keys to read for ``sources`` rows, given the keys present: magnitudes from ``flux`` when there is
    one (the released form), else from ``mag_g``/``mag_r``/``mag_z``; survey and photo-z when present."""
    present = set(keys)
    wanted = ["release", "brickid", "objid", *SCALAR_FLOATS, *PER_BAND, "source_type"]
    wanted += ["flux"] if "flux" in present else [f"mag_{b}" for b in BANDS]
    wanted += [k for k in ("survey", *PHOTO_Z) if k in present]
    return tuple(wanted)


def text_values(values: np.ndarray) -> np.ndarray:
    """A text column as a bytes (``S``) array without surrounding blanks. Accepts fixed-length bytes and the
    object arrays h5py returns for variable-length bytes or str. Raises UnicodeError for non-ASCII text."""
    if values.dtype.kind == "S":
        return np.char.strip(values)
    if values.dtype.kind == "U":
        return np.char.strip(values.astype("S"))
    items = [v.encode("ascii") if isinstance(v, str) else bytes(v) for v in values.tolist()]
    return np.char.strip(np.array(items, dtype=bytes)) if items else np.array([], dtype="S1")


def magnitudes(raw: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``mag_g``, ``mag_r``, ``mag_z`` (AB) as float64, from ``flux`` (N, 3) nanomaggies or as given.

    ``mag = 22.5 - 2.5 log10(flux)``; a flux <= 0 (no detection, common in the faint bands) gives NaN, which
    is stored as NULL.
    """
    if "flux" in raw:
        mags = flux_to_mag(raw["flux"])
        return {f"mag_{b}": mags[:, i] for i, b in enumerate(BANDS)}
    return {f"mag_{b}": np.asarray(raw[f"mag_{b}"], dtype=np.float64) for b in BANDS}


def object_ids(raw: Mapping[str, np.ndarray], path: str | os.PathLike = "shard") -> np.ndarray:
    """int64 object ids from the ``release``, ``brickid`` and ``objid`` columns (see :mod:`lensdb.core.ids`).

    Raises:
        InvalidInput: a part is negative or too large for its bit field (naming the shard ``path``).
    """
    try:
        return make_object_id(raw["release"], raw["brickid"], raw["objid"])
    except ValueError as exc:
        raise InvalidInput(f"{path}: key 'release/brickid/objid': {exc}; object ids are built from them, so they "
                           "must hold the Legacy Surveys values") from None


def catalog_columns(raw: Mapping[str, np.ndarray], survey: np.ndarray) -> dict[str, np.ndarray]:
    """The ``sources`` columns of one chunk (all but ``shard_id`` and ``row``) from raw shard columns.

    Args:
        raw: the columns named by :func:`catalog_keys`, validated.
        survey: each row's survey as bytes (from :func:`lensdb.ingest.validate.resolve_survey`).

    Floats become float64, exactly (float32 values are kept bit for bit, so PostgreSQL and SQLite store the
    same numbers); an absent photo-z column gives NaN, i.e. NULL.
    """
    n = len(raw["release"])
    cols: dict[str, np.ndarray] = {
        "object_id": object_ids(raw),
        "release": np.asarray(raw["release"], dtype=np.int64),
        "brickid": np.asarray(raw["brickid"], dtype=np.int64),
        "objid": np.asarray(raw["objid"], dtype=np.int64),
        "survey": survey,
    }
    for key in SCALAR_FLOATS:
        cols[key] = np.asarray(raw[key], dtype=np.float64)
    cols.update(magnitudes(raw))
    for key in PER_BAND:
        values = np.asarray(raw[key], dtype=np.float64)
        for i, band in enumerate(BANDS):
            cols[f"{key}_{band}"] = values[:, i]
    cols["source_type"] = text_values(raw["source_type"])
    for key in PHOTO_Z:
        cols[key] = np.asarray(raw[key], dtype=np.float64) if key in raw else np.full(n, np.nan)
    return cols
