"""Typed requests and results of the service layer: what the servicers translate protocol messages into and out of.

Units: positions ICRS degrees, radii arcsec, magnitudes AB (``None`` when not detected), images nanomaggies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from lensdb.core.filters import ObjectFilter
from lensdb.vectordb.partitions import MAG_MISSING


def optional_mag(value) -> float | None:
    """A stored magnitude, ``None`` for the store's "not detected" value (99) and for NULL / NaN."""
    if value is None:
        return None
    mag = float(value)
    return None if not np.isfinite(mag) or mag >= MAG_MISSING else mag


@dataclass(frozen=True)
class ObjectSummary:
    """What the vector store keeps next to a vector (enough to show a hit)."""

    object_id: int
    ra: float
    dec: float
    survey: str
    mag_g: float | None
    mag_r: float | None
    mag_z: float | None
    source_type: str


@dataclass(frozen=True)
class SkyPosition:
    """A position; ``match_radius_arcsec=None`` means the server's default."""

    ra: float
    dec: float
    match_radius_arcsec: float | None = None


@dataclass(frozen=True)
class Examples:
    """A few-shot query: objects to find more of, and objects to avoid (:mod:`lensdb.services.fewshot`).

    Attributes:
        positive_ids: at least one object with a stored vector.
        negative_ids: objects whose like should rank lower (may be empty).
        method: ``centroid`` (mean of the positives minus half the mean of the negatives) or ``probe`` (a logistic
            regression fitted on the fly against the negatives and a random background sample).
    """

    positive_ids: tuple[int, ...]
    negative_ids: tuple[int, ...] = ()
    method: str = "centroid"


@dataclass(frozen=True)
class SimilarQuery:
    """One similarity search. Exactly one of ``object_id``, ``position``, ``vector``, ``cutout``, ``examples`` is
    set.

    Attributes:
        vector: (dim,) raw representation (normalised by the search).
        cutout: (3, S, S) g, r, z nanomaggies, embedded with the server's encoder.
        examples: several positive (and negative) example objects; the examples themselves are never returned.
        k: hits wanted.
        filters: conditions on the hits.
        encoder_version: ``None`` = the server's default.
        include_query: keep the query object among the hits.
    """

    k: int
    object_id: int | None = None
    position: SkyPosition | None = None
    vector: np.ndarray | None = None
    cutout: np.ndarray | None = None
    filters: ObjectFilter = field(default_factory=ObjectFilter)
    encoder_version: str | None = None
    include_query: bool = False
    examples: Examples | None = None


@dataclass(frozen=True)
class Hit:
    rank: int
    similarity: float
    object: ObjectSummary


@dataclass(frozen=True)
class SimilarResult:
    """Hits best first, and how the query was resolved."""

    hits: list[Hit]
    encoder_version: str
    query_object_id: int | None = None
    match_separation_arcsec: float | None = None


@dataclass(frozen=True)
class UnusualHit:
    """An object of the anomaly ranking: its place (1 = most unusual), score (higher = more unusual) and metadata."""

    rank: int
    score: float
    object: ObjectSummary


@dataclass(frozen=True)
class UnusualResult:
    """The most unusual objects first (:mod:`lensdb.services.anomaly`)."""

    hits: list[UnusualHit]
    encoder_version: str
    method: str


@dataclass(frozen=True)
class LabelInfo:
    label_set: str
    label_class: str
    grade: str | None
    author: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class CatalogObject:
    """A ``sources`` row (see :class:`lensdb.catalog.models.Source`) with its shard's name and, optionally, its
    labels."""

    object_id: int
    release: int
    brickid: int
    objid: int
    survey: str
    ra: float
    dec: float
    mag_g: float | None
    mag_r: float | None
    mag_z: float | None
    ebv: float
    source_type: str
    z_phot_mean: float | None
    z_phot_median: float | None
    z_phot_std: float | None
    psfsize: tuple[float, float, float]
    psfdepth: tuple[float, float, float]
    shard: str
    row: int
    labels: tuple[LabelInfo, ...] = ()


@dataclass(frozen=True)
class ConeResult:
    objects: list[CatalogObject]
    separation_arcsec: list[float]
    truncated: bool
    method: str


@dataclass(frozen=True)
class Candidate:
    rank: int
    score: float
    object: ObjectSummary
    label_classes: tuple[str, ...]
    grade: str | None


@dataclass(frozen=True)
class CandidatePage:
    model: str
    candidates: list[Candidate]
    next_page_token: str


@dataclass(frozen=True)
class ModelSummary:
    """A ``models`` row without the probe's weights, plus its number of stored predictions."""

    id: int
    name: str
    kind: str
    version: str
    encoder_version: str | None
    metrics: dict
    params: dict
    training_set: dict
    created_at: datetime | None
    n_predictions: int
    has_head: bool


@dataclass(frozen=True)
class Scores:
    """Probabilities of objects under a probe, in the order asked; ``missing`` have no stored vector."""

    model: str
    encoder_version: str
    object_ids: np.ndarray
    logits: np.ndarray
    missing: list[int]

    @property
    def scores(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits.astype(np.float64)))


@dataclass(frozen=True)
class NewLabel:
    object_id: int
    label_class: str
    grade: str | None = None
    name: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class AddLabelsResult:
    label_set: str
    added: int
    updated: int
    created_set: bool


@dataclass(frozen=True)
class LabelRecord:
    object_id: int
    label_class: str
    grade: str | None
    name: str | None
    author: str | None
    provenance: str | None
    separation_arcsec: float | None
    model: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class LabelSetPage:
    summary: object  # catalog.labels.LabelSetSummary
    labels: list[LabelRecord]
    next_page_token: str


@dataclass(frozen=True)
class LensListUpload:
    """An uploaded known-lens list and the import options (see :func:`lensdb.catalog.labels.import_labels`)."""

    filename: str
    content: bytes
    name: str | None = None
    radius_arcsec: float | None = None
    author: str | None = None
    grade_map: str | None = None
    replace: bool = False
    confirm_replace: str | None = None
    ra_column: str | None = None
    dec_column: str | None = None
    name_column: str | None = None
    grade_column: str | None = None


@dataclass(frozen=True)
class CutoutImage:
    """One object's cutout: the float array, and a PNG when asked for."""

    object_id: int
    image: np.ndarray  # (3, S, S) float32 g, r, z nanomaggies
    png: bytes | None
    pixel_scale_arcsec: float
