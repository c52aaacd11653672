"""Validation of the column arrays written to the store, and their split into requests under the message limits.

Everything is checked before anything is written, so bad input never leaves a half-written batch behind.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensdb.core.errors import InvalidInput
from lensdb.core.ids import SOURCE_TYPES, SURVEYS
from lensdb.vectordb.partitions import MAG_MISSING
from lensdb.vectordb.schema import SHARD_MAX_LEN

REQUIRED = (
    "object_id",
    "vector",
    "norm",
    "survey",
    "mag_g",
    "mag_r",
    "mag_z",
    "ra",
    "dec",
    "source_type",
    "shard",
)
OPTIONAL = ("shard_row",)
#: Bytes of one row besides its vector and shard name (ids, floats, short strings, protobuf framing), generous.
_ROW_OVERHEAD = 160


@dataclass(frozen=True)
class Records:
    """Validated columns, one entry per object (see :mod:`lensdb.vectordb.schema` for units)."""

    object_id: np.ndarray  # (n,) int64
    vector: np.ndarray  # (n, dim) float32, unit L2 norm
    norm: np.ndarray  # (n,) float32
    survey: np.ndarray  # (n,) str objects
    mag_g: np.ndarray  # (n,) float32, AB mag, MAG_MISSING when none
    mag_r: np.ndarray
    mag_z: np.ndarray
    ra: np.ndarray  # (n,) float64, degrees
    dec: np.ndarray
    source_type: np.ndarray  # (n,) str objects
    shard: np.ndarray  # (n,) str objects
    shard_row: np.ndarray  # (n,) int64

    def __len__(self) -> int:
        return int(self.object_id.shape[0])

    def take(self, index: np.ndarray) -> Records:
        """The rows at ``index`` (positions), as new Records."""
        return Records(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})

    def rows(self) -> list[dict[str, Any]]:
        """The rows as the dicts pymilvus sends (vectors stay numpy arrays; scalars become Python values)."""
        columns = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "vector"}
        lists = {name: col.tolist() for name, col in columns.items()}
        return [dict({name: lists[name][i] for name in lists}, vector=self.vector[i]) for i in range(len(self))]


def _strings(name: str, values: Any, allowed: tuple[str, ...] | None, max_len: int) -> np.ndarray:
    out = []
    for v in np.asarray(values, dtype=object).ravel():
        text = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
        if not isinstance(text, str):
            raise InvalidInput(f"column {name}: expected text, got {type(v).__name__} {v!r}")
        text = text.strip()
        if allowed is not None and text not in allowed:
            raise InvalidInput(f"column {name}: {text!r} is not one of {', '.join(allowed)}")
        if len(text.encode()) > max_len:
            raise InvalidInput(f"column {name}: {text[:40]!r}... is longer than {max_len} bytes")
        out.append(text)
    return np.asarray(out, dtype=object)


def _floats(name: str, values: Any, dtype: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu":
        raise InvalidInput(f"column {name}: expected numbers, got dtype {arr.dtype}")
    return arr.astype(dtype).ravel()


def validate(columns: Mapping[str, Any], dim: int, unit_norm_tol: float = 1e-3) -> Records:
    """Check and convert the column arrays of a write.

    Args:
        columns: ``object_id`` (int64), ``vector`` (n, dim) float32 already L2-normalised, ``norm`` (raw L2 norm),
            ``survey``, ``mag_g``/``mag_r``/``mag_z`` (AB mag; NaN or inf when missing), ``ra``/``dec`` (degrees),
            ``source_type``, ``shard`` (shard name) and optionally ``shard_row`` (int, -1 default).
        dim: the collection's vector dimension.
        unit_norm_tol: allowed deviation of each vector's norm from 1.

    Raises:
        InvalidInput: naming the first problem found (missing or unknown column, wrong length, wrong dimension,
            non-finite or non-unit vector, duplicate or negative id, unknown survey or source type, bad position).
    """
    missing = [c for c in REQUIRED if c not in columns]
    unknown = sorted(set(columns) - set(REQUIRED) - set(OPTIONAL))
    if missing or unknown:
        raise InvalidInput(
            f"records: missing column(s) {missing or 'none'}, unknown column(s) {unknown or 'none'}; "
            f"expected {', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}"
        )
    ids = np.asarray(columns["object_id"])
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise InvalidInput(f"records: object_id must be a 1-D integer array; got dtype {ids.dtype}, shape {ids.shape}")
    n = ids.shape[0]
    if n == 0:
        raise InvalidInput("records: no rows to write")
    if ids.dtype.kind == "u" and ids.max() > np.iinfo(np.int64).max:
        raise InvalidInput("records: object_id does not fit int64")
    ids = ids.astype(np.int64)
    if ids.min() < 0:
        raise InvalidInput(f"records: object_id must be >= 0; found {ids.min()}")
    uniq, counts = np.unique(ids, return_counts=True)
    if uniq.size != n:
        raise InvalidInput(f"records: object_id {uniq[counts > 1][0]} appears more than once in one write")
    vec = np.asarray(columns["vector"])
    if vec.ndim != 2 or vec.shape != (n, dim):
        raise InvalidInput(f"records: vector must have shape ({n}, {dim}) for this collection; got {vec.shape}")
    if vec.dtype.kind != "f":
        raise InvalidInput(f"records: vector must be floating point; got dtype {vec.dtype}")
    vec = np.ascontiguousarray(vec, dtype=np.float32)
    finite = np.isfinite(vec).all(axis=1)
    if not finite.all():
        raise InvalidInput(f"records: vector of object_id {ids[~finite][0]} has NaN or inf values")
    lengths = np.linalg.norm(vec.astype(np.float64), axis=1)
    bad = np.abs(lengths - 1.0) > unit_norm_tol
    if bad.any():
        raise InvalidInput(
            f"records: vector of object_id {ids[bad][0]} has L2 norm {lengths[bad][0]:.6g}; store "
            "vectors divided by their norm (and the norm in the 'norm' column)"
        )
    out: dict[str, np.ndarray] = {"object_id": ids, "vector": vec}
    for name in REQUIRED[2:] + OPTIONAL:
        raw = columns.get(name, np.full(n, -1, dtype=np.int64))
        if np.ndim(raw) != 1 or len(raw) != n:
            raise InvalidInput(f"records: column {name} must be 1-D with {n} rows; got shape {np.shape(raw)}")
        out[name] = raw
    out["norm"] = _floats("norm", out["norm"], "float32")
    if not (np.isfinite(out["norm"]) & (out["norm"] > 0)).all():
        raise InvalidInput("records: norm must be finite and > 0 (the raw vector's L2 norm)")
    for band in ("mag_g", "mag_r", "mag_z"):
        mag = _floats(band, out[band], "float32")
        mag[~np.isfinite(mag)] = MAG_MISSING
        if mag.min() < -10 or mag.max() > MAG_MISSING:
            raise InvalidInput(f"records: {band} outside [-10, {MAG_MISSING}] AB mag")
        out[band] = mag
    out["ra"], out["dec"] = _floats("ra", out["ra"], "float64"), _floats("dec", out["dec"], "float64")
    if not (np.isfinite(out["ra"]) & (out["ra"] >= 0) & (out["ra"] < 360)).all():
        raise InvalidInput("records: ra must be finite degrees in [0, 360)")
    if not (np.isfinite(out["dec"]) & (np.abs(out["dec"]) <= 90)).all():
        raise InvalidInput("records: dec must be finite degrees in [-90, 90]")
    out["survey"] = _strings("survey", out["survey"], SURVEYS, 8)
    out["source_type"] = _strings("source_type", out["source_type"], SOURCE_TYPES, 8)
    out["shard"] = _strings("shard", out["shard"], None, SHARD_MAX_LEN)
    rows = np.asarray(out["shard_row"])
    if rows.dtype.kind not in "iu":
        raise InvalidInput(f"records: shard_row must be integers; got dtype {rows.dtype}")
    out["shard_row"] = rows.astype(np.int64)
    return Records(**out)


def batches(records: Records, max_rows: int, max_bytes: int) -> Iterator[Records]:
    """Split records into requests of at most ``max_rows`` rows and about ``max_bytes`` bytes each."""
    row_bytes = records.vector.shape[1] * 4 + SHARD_MAX_LEN + _ROW_OVERHEAD
    step = max(1, min(max_rows, max_bytes // row_bytes))
    for start in range(0, len(records), step):
        yield records.take(np.arange(start, min(start + step, len(records))))
