import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ObjectLabel(_message.Message):
    __slots__ = ("label_set", "label_class", "grade", "author", "created_at")
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    LABEL_CLASS_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    label_set: str
    label_class: str
    grade: str
    author: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, label_set: _Optional[str] = ..., label_class: _Optional[str] = ..., grade: _Optional[str] = ..., author: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CatalogObject(_message.Message):
    __slots__ = ("object_id", "release", "brickid", "objid", "survey", "ra", "dec", "mag_g", "mag_r", "mag_z", "ebv", "source_type", "z_phot_mean", "z_phot_median", "z_phot_std", "psfsize", "psfdepth", "shard", "row", "labels")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    BRICKID_FIELD_NUMBER: _ClassVar[int]
    OBJID_FIELD_NUMBER: _ClassVar[int]
    SURVEY_FIELD_NUMBER: _ClassVar[int]
    RA_FIELD_NUMBER: _ClassVar[int]
    DEC_FIELD_NUMBER: _ClassVar[int]
    MAG_G_FIELD_NUMBER: _ClassVar[int]
    MAG_R_FIELD_NUMBER: _ClassVar[int]
    MAG_Z_FIELD_NUMBER: _ClassVar[int]
    EBV_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    Z_PHOT_MEAN_FIELD_NUMBER: _ClassVar[int]
    Z_PHOT_MEDIAN_FIELD_NUMBER: _ClassVar[int]
    Z_PHOT_STD_FIELD_NUMBER: _ClassVar[int]
    PSFSIZE_FIELD_NUMBER: _ClassVar[int]
    PSFDEPTH_FIELD_NUMBER: _ClassVar[int]
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ROW_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    release: int
    brickid: int
    objid: int
    survey: str
    ra: float
    dec: float
    mag_g: float
    mag_r: float
    mag_z: float
    ebv: float
    source_type: str
    z_phot_mean: float
    z_phot_median: float
    z_phot_std: float
    psfsize: _containers.RepeatedScalarFieldContainer[float]
    psfdepth: _containers.RepeatedScalarFieldContainer[float]
    shard: str
    row: int
    labels: _containers.RepeatedCompositeFieldContainer[ObjectLabel]
    def __init__(self, object_id: _Optional[int] = ..., release: _Optional[int] = ..., brickid: _Optional[int] = ..., objid: _Optional[int] = ..., survey: _Optional[str] = ..., ra: _Optional[float] = ..., dec: _Optional[float] = ..., mag_g: _Optional[float] = ..., mag_r: _Optional[float] = ..., mag_z: _Optional[float] = ..., ebv: _Optional[float] = ..., source_type: _Optional[str] = ..., z_phot_mean: _Optional[float] = ..., z_phot_median: _Optional[float] = ..., z_phot_std: _Optional[float] = ..., psfsize: _Optional[_Iterable[float]] = ..., psfdepth: _Optional[_Iterable[float]] = ..., shard: _Optional[str] = ..., row: _Optional[int] = ..., labels: _Optional[_Iterable[_Union[ObjectLabel, _Mapping]]] = ...) -> None: ...

class GetObjectsRequest(_message.Message):
    __slots__ = ("object_ids", "with_labels")
    OBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    WITH_LABELS_FIELD_NUMBER: _ClassVar[int]
    object_ids: _containers.RepeatedScalarFieldContainer[int]
    with_labels: bool
    def __init__(self, object_ids: _Optional[_Iterable[int]] = ..., with_labels: _Optional[bool] = ...) -> None: ...

class GetObjectsResponse(_message.Message):
    __slots__ = ("objects", "missing")
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    objects: _containers.RepeatedCompositeFieldContainer[CatalogObject]
    missing: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, objects: _Optional[_Iterable[_Union[CatalogObject, _Mapping]]] = ..., missing: _Optional[_Iterable[int]] = ...) -> None: ...

class ConeSearchRequest(_message.Message):
    __slots__ = ("ra", "dec", "radius_arcsec", "limit", "with_labels")
    RA_FIELD_NUMBER: _ClassVar[int]
    DEC_FIELD_NUMBER: _ClassVar[int]
    RADIUS_ARCSEC_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    WITH_LABELS_FIELD_NUMBER: _ClassVar[int]
    ra: float
    dec: float
    radius_arcsec: float
    limit: int
    with_labels: bool
    def __init__(self, ra: _Optional[float] = ..., dec: _Optional[float] = ..., radius_arcsec: _Optional[float] = ..., limit: _Optional[int] = ..., with_labels: _Optional[bool] = ...) -> None: ...

class ConeMatch(_message.Message):
    __slots__ = ("object", "separation_arcsec")
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    SEPARATION_ARCSEC_FIELD_NUMBER: _ClassVar[int]
    object: CatalogObject
    separation_arcsec: float
    def __init__(self, object: _Optional[_Union[CatalogObject, _Mapping]] = ..., separation_arcsec: _Optional[float] = ...) -> None: ...

class ConeSearchResponse(_message.Message):
    __slots__ = ("matches", "truncated", "method")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[ConeMatch]
    truncated: bool
    method: str
    def __init__(self, matches: _Optional[_Iterable[_Union[ConeMatch, _Mapping]]] = ..., truncated: _Optional[bool] = ..., method: _Optional[str] = ...) -> None: ...
