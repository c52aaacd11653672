from lensdb.api_grpc.gen.lensdb.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CutoutFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CUTOUT_FORMAT_UNSPECIFIED: _ClassVar[CutoutFormat]
    CUTOUT_FORMAT_PNG: _ClassVar[CutoutFormat]
    CUTOUT_FORMAT_RAW: _ClassVar[CutoutFormat]
CUTOUT_FORMAT_UNSPECIFIED: CutoutFormat
CUTOUT_FORMAT_PNG: CutoutFormat
CUTOUT_FORMAT_RAW: CutoutFormat

class GetCutoutRequest(_message.Message):
    __slots__ = ("object_id", "format", "crop")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CROP_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    format: CutoutFormat
    crop: int
    def __init__(self, object_id: _Optional[int] = ..., format: _Optional[_Union[CutoutFormat, str]] = ..., crop: _Optional[int] = ...) -> None: ...

class Cutout(_message.Message):
    __slots__ = ("object_id", "format", "png", "raw", "size", "pixel_scale_arcsec")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    PNG_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PIXEL_SCALE_ARCSEC_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    format: CutoutFormat
    png: bytes
    raw: _common_pb2.Array
    size: int
    pixel_scale_arcsec: float
    def __init__(self, object_id: _Optional[int] = ..., format: _Optional[_Union[CutoutFormat, str]] = ..., png: _Optional[bytes] = ..., raw: _Optional[_Union[_common_pb2.Array, _Mapping]] = ..., size: _Optional[int] = ..., pixel_scale_arcsec: _Optional[float] = ...) -> None: ...
