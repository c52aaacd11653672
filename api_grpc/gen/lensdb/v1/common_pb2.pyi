from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ObjectSummary(_message.Message):
    __slots__ = ("object_id", "ra", "dec", "survey", "mag_g", "mag_r", "mag_z", "source_type")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    RA_FIELD_NUMBER: _ClassVar[int]
    DEC_FIELD_NUMBER: _ClassVar[int]
    SURVEY_FIELD_NUMBER: _ClassVar[int]
    MAG_G_FIELD_NUMBER: _ClassVar[int]
    MAG_R_FIELD_NUMBER: _ClassVar[int]
    MAG_Z_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    ra: float
    dec: float
    survey: str
    mag_g: float
    mag_r: float
    mag_z: float
    source_type: str
    def __init__(self, object_id: _Optional[int] = ..., ra: _Optional[float] = ..., dec: _Optional[float] = ..., survey: _Optional[str] = ..., mag_g: _Optional[float] = ..., mag_r: _Optional[float] = ..., mag_z: _Optional[float] = ..., source_type: _Optional[str] = ...) -> None: ...

class MagRange(_message.Message):
    __slots__ = ("band", "low", "high")
    BAND_FIELD_NUMBER: _ClassVar[int]
    LOW_FIELD_NUMBER: _ClassVar[int]
    HIGH_FIELD_NUMBER: _ClassVar[int]
    band: str
    low: float
    high: float
    def __init__(self, band: _Optional[str] = ..., low: _Optional[float] = ..., high: _Optional[float] = ...) -> None: ...

class Array(_message.Message):
    __slots__ = ("shape", "dtype", "data")
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    shape: _containers.RepeatedScalarFieldContainer[int]
    dtype: str
    data: bytes
    def __init__(self, shape: _Optional[_Iterable[int]] = ..., dtype: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...
