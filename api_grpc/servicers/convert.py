"""Conversions shared by the servicers: protocol messages to typed service requests and results back to messages.

Pure translation: values are checked by the service layer (and the typed filters), not here, except what only
the wire format can get wrong (an array whose bytes do not match its shape and dtype).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import grpc
import numpy as np
from google.protobuf import struct_pb2, timestamp_pb2

from lensdb.api_grpc.gen.lensdb.v1 import common_pb2
from lensdb.core.errors import InvalidInput
from lensdb.core.filters import MagRange
from lensdb.services import types
from lensdb.services.deadline import Deadline

ARRAY_DTYPES = {"float32": "<f4", "float16": "<f2"}


def deadline_of(context: grpc.ServicerContext) -> Deadline:
    """The caller's deadline and cancellation as a service-layer :class:`Deadline`."""
    return Deadline.after(context.time_remaining(), lambda: not context.is_active())


def opt(message, name: str):
    """The value of an optional field, ``None`` when it is not set."""
    return getattr(message, name) if message.HasField(name) else None


def text(value: str) -> str | None:
    """An optional text field: ``""`` means not given."""
    return value or None


def mag_ranges(items) -> tuple[MagRange, ...]:
    return tuple(MagRange(r.band, opt(r, "low"), opt(r, "high")) for r in items)


def mag_ranges_pb(ranges) -> list[common_pb2.MagRange]:
    return [common_pb2.MagRange(band=r.band, low=r.low, high=r.high) for r in ranges]


def fill_summary(target: common_pb2.ObjectSummary, obj: types.ObjectSummary) -> None:
    """Set the fields of ``target`` (a sub-message in place: about 3x faster than building and copying one,
    which matters for 1000-hit answers)."""
    target.object_id, target.ra, target.dec = obj.object_id, obj.ra, obj.dec
    target.survey, target.source_type = obj.survey, obj.source_type
    if obj.mag_g is not None:
        target.mag_g = obj.mag_g
    if obj.mag_r is not None:
        target.mag_r = obj.mag_r
    if obj.mag_z is not None:
        target.mag_z = obj.mag_z


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    """A protobuf Timestamp; naive datetimes (SQLite drops the zone) are UTC, as LensDB writes them."""
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value if value.tzinfo else value.replace(tzinfo=UTC))
    return out


def _plain(value):
    """``value`` reduced to what a protobuf Struct holds (non-finite numbers become text)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else str(value)
    return str(value)


def struct(value: dict | None) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(_plain(value or {}))
    return out


def array_from_pb(message: common_pb2.Array, max_elements: int) -> np.ndarray:
    """The array a message carries (a read-only view of its bytes, native float32 or float16)."""
    dtype = ARRAY_DTYPES.get(message.dtype)
    if dtype is None:
        raise InvalidInput(f"array dtype {message.dtype!r} is not one of {', '.join(ARRAY_DTYPES)}")
    shape = tuple(int(s) for s in message.shape)
    if not 1 <= len(shape) <= 4 or any(s < 1 for s in shape):
        raise InvalidInput(f"array shape {list(shape)} must have 1 to 4 positive sides")
    n = math.prod(shape)
    if n > max_elements:
        raise InvalidInput(f"array of {n} values is larger than the {max_elements} allowed")
    if len(message.data) != n * np.dtype(dtype).itemsize:
        raise InvalidInput(f"array data has {len(message.data)} bytes; shape {list(shape)} of {message.dtype} "
                           f"needs {n * np.dtype(dtype).itemsize}")
    return np.frombuffer(message.data, dtype=dtype).reshape(shape)


def array_pb(array: np.ndarray) -> common_pb2.Array:
    """A float32 array as a message (little-endian, C order)."""
    arr = np.ascontiguousarray(array, dtype="<f4")
    return common_pb2.Array(shape=list(arr.shape), dtype="float32", data=arr.tobytes())
