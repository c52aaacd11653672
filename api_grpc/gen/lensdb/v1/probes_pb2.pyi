import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lensdb.api_grpc.gen.lensdb.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ModelInfo(_message.Message):
    __slots__ = ("id", "name", "kind", "version", "encoder_version", "metrics", "params", "training_set", "created_at", "n_predictions", "has_head")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENCODER_VERSION_FIELD_NUMBER: _ClassVar[int]
    METRICS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    TRAINING_SET_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    N_PREDICTIONS_FIELD_NUMBER: _ClassVar[int]
    HAS_HEAD_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    kind: str
    version: str
    encoder_version: str
    metrics: _struct_pb2.Struct
    params: _struct_pb2.Struct
    training_set: _struct_pb2.Struct
    created_at: _timestamp_pb2.Timestamp
    n_predictions: int
    has_head: bool
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., version: _Optional[str] = ..., encoder_version: _Optional[str] = ..., metrics: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., training_set: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., n_predictions: _Optional[int] = ..., has_head: _Optional[bool] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ("kinds",)
    KINDS_FIELD_NUMBER: _ClassVar[int]
    kinds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, kinds: _Optional[_Iterable[str]] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ...) -> None: ...

class CandidateFilter(_message.Message):
    __slots__ = ("surveys", "mag_ranges", "source_types", "exclude_labelled", "label_sets", "min_score")
    SURVEYS_FIELD_NUMBER: _ClassVar[int]
    MAG_RANGES_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TYPES_FIELD_NUMBER: _ClassVar[int]
    EXCLUDE_LABELLED_FIELD_NUMBER: _ClassVar[int]
    LABEL_SETS_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    surveys: _containers.RepeatedScalarFieldContainer[str]
    mag_ranges: _containers.RepeatedCompositeFieldContainer[_common_pb2.MagRange]
    source_types: _containers.RepeatedScalarFieldContainer[str]
    exclude_labelled: bool
    label_sets: _containers.RepeatedScalarFieldContainer[str]
    min_score: float
    def __init__(self, surveys: _Optional[_Iterable[str]] = ..., mag_ranges: _Optional[_Iterable[_Union[_common_pb2.MagRange, _Mapping]]] = ..., source_types: _Optional[_Iterable[str]] = ..., exclude_labelled: _Optional[bool] = ..., label_sets: _Optional[_Iterable[str]] = ..., min_score: _Optional[float] = ...) -> None: ...

class TopCandidatesRequest(_message.Message):
    __slots__ = ("model", "filter", "page_size", "page_token")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model: str
    filter: CandidateFilter
    page_size: int
    page_token: str
    def __init__(self, model: _Optional[str] = ..., filter: _Optional[_Union[CandidateFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("rank", "score", "object", "label_classes", "grade")
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    LABEL_CLASSES_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    rank: int
    score: float
    object: _common_pb2.ObjectSummary
    label_classes: _containers.RepeatedScalarFieldContainer[str]
    grade: str
    def __init__(self, rank: _Optional[int] = ..., score: _Optional[float] = ..., object: _Optional[_Union[_common_pb2.ObjectSummary, _Mapping]] = ..., label_classes: _Optional[_Iterable[str]] = ..., grade: _Optional[str] = ...) -> None: ...

class TopCandidatesResponse(_message.Message):
    __slots__ = ("model", "candidates", "next_page_token")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    model: str
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    next_page_token: str
    def __init__(self, model: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ScoreObjectsRequest(_message.Message):
    __slots__ = ("model", "object_ids")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    model: str
    object_ids: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, model: _Optional[str] = ..., object_ids: _Optional[_Iterable[int]] = ...) -> None: ...

class ObjectScore(_message.Message):
    __slots__ = ("object_id", "score", "logit")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    LOGIT_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    score: float
    logit: float
    def __init__(self, object_id: _Optional[int] = ..., score: _Optional[float] = ..., logit: _Optional[float] = ...) -> None: ...

class ScoreObjectsResponse(_message.Message):
    __slots__ = ("model", "encoder_version", "scores", "missing")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ENCODER_VERSION_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    model: str
    encoder_version: str
    scores: _containers.RepeatedCompositeFieldContainer[ObjectScore]
    missing: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, model: _Optional[str] = ..., encoder_version: _Optional[str] = ..., scores: _Optional[_Iterable[_Union[ObjectScore, _Mapping]]] = ..., missing: _Optional[_Iterable[int]] = ...) -> None: ...
