import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NewLabel(_message.Message):
    __slots__ = ("object_id", "label_class", "grade", "name", "note")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_CLASS_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    label_class: str
    grade: str
    name: str
    note: str
    def __init__(self, object_id: _Optional[int] = ..., label_class: _Optional[str] = ..., grade: _Optional[str] = ..., name: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AddLabelsRequest(_message.Message):
    __slots__ = ("label_set", "labels", "author", "description")
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    label_set: str
    labels: _containers.RepeatedCompositeFieldContainer[NewLabel]
    author: str
    description: str
    def __init__(self, label_set: _Optional[str] = ..., labels: _Optional[_Iterable[_Union[NewLabel, _Mapping]]] = ..., author: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class AddLabelsResponse(_message.Message):
    __slots__ = ("label_set", "added", "updated", "created_set")
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_FIELD_NUMBER: _ClassVar[int]
    CREATED_SET_FIELD_NUMBER: _ClassVar[int]
    label_set: str
    added: int
    updated: int
    created_set: bool
    def __init__(self, label_set: _Optional[str] = ..., added: _Optional[int] = ..., updated: _Optional[int] = ..., created_set: _Optional[bool] = ...) -> None: ...

class RemoveLabelsRequest(_message.Message):
    __slots__ = ("label_set", "object_ids", "label_class")
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    OBJECT_IDS_FIELD_NUMBER: _ClassVar[int]
    LABEL_CLASS_FIELD_NUMBER: _ClassVar[int]
    label_set: str
    object_ids: _containers.RepeatedScalarFieldContainer[int]
    label_class: str
    def __init__(self, label_set: _Optional[str] = ..., object_ids: _Optional[_Iterable[int]] = ..., label_class: _Optional[str] = ...) -> None: ...

class RemoveLabelsResponse(_message.Message):
    __slots__ = ("removed",)
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    removed: int
    def __init__(self, removed: _Optional[int] = ...) -> None: ...

class Grade(_message.Message):
    __slots__ = ("object_id", "grade")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    grade: str
    def __init__(self, object_id: _Optional[int] = ..., grade: _Optional[str] = ...) -> None: ...

class RecordGradesRequest(_message.Message):
    __slots__ = ("grades", "author", "model", "label_set", "note")
    GRADES_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    grades: _containers.RepeatedCompositeFieldContainer[Grade]
    author: str
    model: str
    label_set: str
    note: str
    def __init__(self, grades: _Optional[_Iterable[_Union[Grade, _Mapping]]] = ..., author: _Optional[str] = ..., model: _Optional[str] = ..., label_set: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class RecordGradesResponse(_message.Message):
    __slots__ = ("label_set", "grade_a", "grade_b", "not_lens", "replaced", "model")
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    GRADE_A_FIELD_NUMBER: _ClassVar[int]
    GRADE_B_FIELD_NUMBER: _ClassVar[int]
    NOT_LENS_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    label_set: str
    grade_a: int
    grade_b: int
    not_lens: int
    replaced: int
    model: str
    def __init__(self, label_set: _Optional[str] = ..., grade_a: _Optional[int] = ..., grade_b: _Optional[int] = ..., not_lens: _Optional[int] = ..., replaced: _Optional[int] = ..., model: _Optional[str] = ...) -> None: ...

class LabelSetSummary(_message.Message):
    __slots__ = ("name", "author", "created_at", "source", "lens", "grade_a", "grade_b", "near_lens", "non_lens")
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    LENS_FIELD_NUMBER: _ClassVar[int]
    GRADE_A_FIELD_NUMBER: _ClassVar[int]
    GRADE_B_FIELD_NUMBER: _ClassVar[int]
    NEAR_LENS_FIELD_NUMBER: _ClassVar[int]
    NON_LENS_FIELD_NUMBER: _ClassVar[int]
    name: str
    author: str
    created_at: _timestamp_pb2.Timestamp
    source: str
    lens: int
    grade_a: int
    grade_b: int
    near_lens: int
    non_lens: int
    def __init__(self, name: _Optional[str] = ..., author: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[str] = ..., lens: _Optional[int] = ..., grade_a: _Optional[int] = ..., grade_b: _Optional[int] = ..., near_lens: _Optional[int] = ..., non_lens: _Optional[int] = ...) -> None: ...

class ListLabelSetsRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListLabelSetsResponse(_message.Message):
    __slots__ = ("label_sets",)
    LABEL_SETS_FIELD_NUMBER: _ClassVar[int]
    label_sets: _containers.RepeatedCompositeFieldContainer[LabelSetSummary]
    def __init__(self, label_sets: _Optional[_Iterable[_Union[LabelSetSummary, _Mapping]]] = ...) -> None: ...

class LabelRecord(_message.Message):
    __slots__ = ("object_id", "label_class", "grade", "name", "author", "provenance", "separation_arcsec", "model", "created_at")
    OBJECT_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_CLASS_FIELD_NUMBER: _ClassVar[int]
    GRADE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    SEPARATION_ARCSEC_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    object_id: int
    label_class: str
    grade: str
    name: str
    author: str
    provenance: str
    separation_arcsec: float
    model: str
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, object_id: _Optional[int] = ..., label_class: _Optional[str] = ..., grade: _Optional[str] = ..., name: _Optional[str] = ..., author: _Optional[str] = ..., provenance: _Optional[str] = ..., separation_arcsec: _Optional[float] = ..., model: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetLabelSetRequest(_message.Message):
    __slots__ = ("name", "label_class", "page_size", "page_token")
    NAME_FIELD_NUMBER: _ClassVar[int]
    LABEL_CLASS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    label_class: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., label_class: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class GetLabelSetResponse(_message.Message):
    __slots__ = ("summary", "labels", "next_page_token")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    summary: LabelSetSummary
    labels: _containers.RepeatedCompositeFieldContainer[LabelRecord]
    next_page_token: str
    def __init__(self, summary: _Optional[_Union[LabelSetSummary, _Mapping]] = ..., labels: _Optional[_Iterable[_Union[LabelRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ImportLensListRequest(_message.Message):
    __slots__ = ("name", "filename", "content", "radius_arcsec", "author", "grade_map", "replace", "ra_column", "dec_column", "name_column", "grade_column", "confirm_replace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    RADIUS_ARCSEC_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    GRADE_MAP_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    RA_COLUMN_FIELD_NUMBER: _ClassVar[int]
    DEC_COLUMN_FIELD_NUMBER: _ClassVar[int]
    NAME_COLUMN_FIELD_NUMBER: _ClassVar[int]
    GRADE_COLUMN_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_REPLACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    filename: str
    content: bytes
    radius_arcsec: float
    author: str
    grade_map: str
    replace: bool
    ra_column: str
    dec_column: str
    name_column: str
    grade_column: str
    confirm_replace: str
    def __init__(self, name: _Optional[str] = ..., filename: _Optional[str] = ..., content: _Optional[bytes] = ..., radius_arcsec: _Optional[float] = ..., author: _Optional[str] = ..., grade_map: _Optional[str] = ..., replace: _Optional[bool] = ..., ra_column: _Optional[str] = ..., dec_column: _Optional[str] = ..., name_column: _Optional[str] = ..., grade_column: _Optional[str] = ..., confirm_replace: _Optional[str] = ...) -> None: ...

class ImportLensListResponse(_message.Message):
    __slots__ = ("label_set", "n_rows", "matched", "unmatched", "lens_labels", "near_lens", "duplicates", "radius_arcsec", "method", "replaced", "unmatched_lines", "summary")
    LABEL_SET_FIELD_NUMBER: _ClassVar[int]
    N_ROWS_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_FIELD_NUMBER: _ClassVar[int]
    LENS_LABELS_FIELD_NUMBER: _ClassVar[int]
    NEAR_LENS_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    RADIUS_ARCSEC_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_LINES_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    label_set: str
    n_rows: int
    matched: int
    unmatched: int
    lens_labels: int
    near_lens: int
    duplicates: int
    radius_arcsec: float
    method: str
    replaced: int
    unmatched_lines: _containers.RepeatedScalarFieldContainer[int]
    summary: str
    def __init__(self, label_set: _Optional[str] = ..., n_rows: _Optional[int] = ..., matched: _Optional[int] = ..., unmatched: _Optional[int] = ..., lens_labels: _Optional[int] = ..., near_lens: _Optional[int] = ..., duplicates: _Optional[int] = ..., radius_arcsec: _Optional[float] = ..., method: _Optional[str] = ..., replaced: _Optional[int] = ..., unmatched_lines: _Optional[_Iterable[int]] = ..., summary: _Optional[str] = ...) -> None: ...
