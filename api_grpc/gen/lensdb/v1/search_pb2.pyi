from lensdb.api_grpc.gen.lensdb.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SkyPosition(_message.Message):
    __slots__ = ("ra", "dec", "match_radius_arcsec")
    RA_FIELD_NUMBER: _ClassVar[int]
    DEC_FIELD_NUMBER: _ClassVar[int]
    MATCH_RADIUS_ARCSEC_FIELD_NUMBER: _ClassVar[int]
    ra: float
    dec: float
    match_radius_arcsec: float
    def __init__(self, ra: _Optional[float] = ..., dec: _Optional[float] = ..., match_radius_arcsec: _Optional[float] = ...) -> None: ...

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class MagWindow(_message.Message):
    __slots__ = ("width", "centre")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    CENTRE_FIELD_NUMBER: _ClassVar[int]
    width: float
    centre: float
    def __init__(self, width: _Optional[float] = ..., centre: _Optional[float] = ...) -> None: ...

class Cone(_message.Message):
    __slots__ = ("ra", "dec", "radius_arcsec")
    RA_FIELD_NUMBER: _ClassVar[int]
    DEC_FIELD_NUMBER: _ClassVar[int]
    RADIUS_ARCSEC_FIELD_NUMBER: _ClassVar[int]
    ra: float
    dec: float
    radius_arcsec: float
    def __init__(self, ra: _Optional[float] = ..., dec: _Optional[float] = ..., radius_arcsec: _Optional[float] = ...) -> None: ...

class SearchFilter(_message.Message):
    __slots__ = ("surveys", "mag_ranges", "window", "cone", "source_types", "exclude_ids", "exclude_labelled", "label_set", "drop_duplicates_px")
    SURVEYS_FIELD_NUMBER: _ClassVar[int]
    MAG_RANGES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    CONE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TYPES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_IDS_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_LABELLED_FIELD_NUMBER: _ClassVar[int]
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    DROP_DUPLICATES_PX_FIELD_NUMBER: _ClassVar[int]
    surveys: _containers.RepeatedScalarFieldContainer[str]
    mag_ranges: _containers.RepeatedCompositeFieldContainer[_common_pb2.MagRange]
    window: MagWindow
    cone: Cone
    source_types: _containers.RepeatedScalarFieldContainer[str]
    exclude_ids: _containers.RepeatedScalarFieldContainer[int]
    exclude_labelled: bool
    label_set: str
    drop_duplicates_px: float
    def __init__(self, surveys: _Optional[_Iterable[str]] = ..., mag_ranges: _Optional[_Iterable[_Union[_common_pb2.MagRange, _Mapping]]] = ..., window: _Optional[_Union[MagWindow, _Mapping]] = ..., cone: _Optional[_Union[Cone, _Mapping]] = ..., source_types: _Optional[_Iterable[str]] = ..., exclude_ids: _Optional[_Iterable[int]] = ..., exclude_labelled: _Optional[bool] = ..., label_set: _Optional[str] = ..., drop_duplicates_px: _Optional[float] = ...) -> None: ...

class Examples(_message.Message):
    __slots__ = ("positive_ids", "negative_ids", "method")
    POSITIVE_IDS_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_IDS_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    positive_ids: _containers.RepeatedScalarFieldContainer[int]
    negative_ids: _containers.RepeatedScalarFieldContainer[int]
    method: str
    def __init__(self, positive_ids: _Optional[_Iterable[int]] = ..., negative_ids: _Optional[_Iterable[int]] = ..., method: _Optional[str] = ...) -> None: ...

class SimilarRequest(_message.Message):
    __slots__ = ("object_id", "position", "vector", "cutout", "examples", "k", "filter", "encoder_version", "include_query")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    CUTOUT_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    ENCODER_VERSION_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_QUERY_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    position: SkyPosition
    vector: Vector
    cutout: _common_pb2.Array
    examples: Examples
    k: int
    filter: SearchFilter
    encoder_version: str
    include_query: bool
    def __init__(self, object_id: _Optional[int] = ..., position: _Optional[_Union[SkyPosition, _Mapping]] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., cutout: _Optional[_Union[_common_pb2.Array, _Mapping]] = ..., examples: _Optional[_Union[Examples, _Mapping]] = ..., k: _Optional[int] = ..., filter: _Optional[_Union[SearchFilter, _Mapping]] = ..., encoder_version: _Optional[str] = ..., include_query: _Optional[bool] = ...) -> None: ...

class QueryInfo(_message.Message):
    __slots__ = ("object_id", "encoder_version", "match_separation_arcsec")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    ENCODER_VERSION_FIELD_NUMBER: _ClassVar[int]
    MATCH_SEPARATION_ARCSEC_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    encoder_version: str
    match_separation_arcsec: float
    def __init__(self, object_id: _Optional[int] = ..., encoder_version: _Optional[str] = ..., match_separation_arcsec: _Optional[float] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("rank", "similarity", "object")
    RANK_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    rank: int
    similarity: float
    object: _common_pb2.ObjectSummary
    def __init__(self, rank: _Optional[int] = ..., similarity: _Optional[float] = ..., object: _Optional[_Union[_common_pb2.ObjectSummary, _Mapping]] = ...) -> None: ...

class SimilarResponse(_message.Message):
    __slots__ = ("query", "hits")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    query: QueryInfo
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    def __init__(self, query: _Optional[_Union[QueryInfo, _Mapping]] = ..., hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ...) -> None: ...

class UnusualRequest(_message.Message):
    __slots__ = ("k", "method", "neighbours", "encoder_version", "exclude_ids")
    K_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    NEIGHBOURS_FIELD_NUMBER: _ClassVar[int]
    ENCODER_VERSION_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_IDS_FIELD_NUMBER: _ClassVar[int]
    k: int
    method: str
    neighbours: int
    encoder_version: str
    exclude_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, k: _Optional[int] = ..., method: _Optional[str] = ..., neighbours: _Optional[int] = ..., encoder_version: _Optional[str] = ..., exclude_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class UnusualHit(_message.Message):
    __slots__ = ("rank", "score", "object")
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    rank: int
    score: float
    object: _common_pb2.ObjectSummary
    def __init__(self, rank: _Optional[int] = ..., score: _Optional[float] = ..., object: _Optional[_Union[_common_pb2.ObjectSummary, _Mapping]] = ...) -> None: ...

class UnusualResponse(_message.Message):
    __slots__ = ("encoder_version", "method", "hits")
    ENCODER_VERSION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    encoder_version: str
    method: str
    hits: _containers.RepeatedCompositeFieldContainer[UnusualHit]
    def __init__(self, encoder_version: _Optional[str] = ..., method: _Optional[str] = ..., hits: _Optional[_Iterable[_Union[UnusualHit, _Mapping]]] = ...) -> None: ...
