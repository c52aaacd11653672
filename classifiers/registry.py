"""Classifier models in the ``models`` table: weights, hyper-parameters, metrics, training set and encoder version.

A probe is small (2048 weights and a bias), so it is stored whole in the database, in ``params["head"]``: the
weights as base64 of little-endian float32, the bias as a number, and their sha256 in ``artefact_sha256``. A
database backup therefore holds every probe, and scoring needs nothing but the database and the vectors.
A fine-tuned network is too large for a row: its file lives in the data folder (``artefact_path``) and the row
holds its sha256, checked when it is loaded.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from lensdb.catalog import queries
from lensdb.catalog.db import require_current
from lensdb.catalog.registry import insert_model, merge_metrics
from lensdb.core.errors import Conflict, InvalidInput, NotFound


def encode_weights(weights) -> tuple[str, str]:
    """(base64 text, sha256 hex) of a weight vector stored as little-endian float32."""
    raw = np.ascontiguousarray(np.asarray(weights, dtype="<f4").ravel()).tobytes()
    return base64.b64encode(raw).decode("ascii"), hashlib.sha256(raw).hexdigest()


def decode_weights(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class StoredModel:
    """A row of ``models`` (see :class:`lensdb.catalog.models.Model`), with the probe head decoded."""

    id: int
    name: str
    kind: str
    version: str
    encoder_version: str | None
    params: dict
    metrics: dict
    training_set: dict
    artefact_path: str | None
    artefact_sha256: str | None
    created_at: datetime

    @property
    def has_head(self) -> bool:
        return "head" in (self.params or {})

    @property
    def weights(self) -> np.ndarray:
        """(dim,) float32 probe weights; InvalidInput for a model without a stored head."""
        if not self.has_head:
            raise InvalidInput(f"model {self.name!r} ({self.kind}) has no linear head in the database")
        w = decode_weights(self.params["head"]["weights"])
        if self.artefact_sha256 and encode_weights(w)[1] != self.artefact_sha256:
            raise Conflict(f"model {self.name!r}: stored weights do not match their sha256; the row is damaged")
        return w

    @property
    def bias(self) -> float:
        return float(self.params["head"]["bias"])


def model_values(*, kind: str, name: str | None, encoder_version: str | None, params: dict, metrics: dict,
                 training_set: dict, weights=None, bias: float | None = None,
                 artefact_path: str | Path | None = None, job_id: int | None = None) -> dict:
    """The ``models`` row of a model (nothing written): a probe passes ``weights`` and ``bias``; a fine-tuned
    model its ``artefact_path``. The name defaults to ``<kind>-<12 hex of the weights' or file's sha256>``."""
    params = dict(params)
    if weights is not None:
        text, sha = encode_weights(weights)
        params["head"] = {"dim": int(np.asarray(weights).size), "bias": float(bias), "weights": text,
                          "encoding": "base64 float32 little-endian"}
    elif artefact_path is not None:
        sha = file_sha256(artefact_path)
    else:
        raise InvalidInput("a model needs weights or an artefact file")
    version = f"{kind}-{sha[:12]}"
    return dict(name=name or version, kind=kind, version=version, encoder_version=encoder_version, params=params,
                metrics=metrics, training_set=training_set, artefact_sha256=sha, job_id=job_id,
                artefact_path=str(artefact_path) if artefact_path is not None else None)


def save_model(engine: Engine, *, kind: str, name: str | None, encoder_version: str | None, params: dict,
               metrics: dict, training_set: dict, weights=None, bias: float | None = None,
               artefact_path: str | Path | None = None, job_id: int | None = None) -> StoredModel:
    """Insert a model row (see :func:`model_values`).

    Raises:
        Conflict: a model of that name exists.
    """
    values = model_values(kind=kind, name=name, encoder_version=encoder_version, params=params, metrics=metrics,
                          training_set=training_set, weights=weights, bias=bias, artefact_path=artefact_path,
                          job_id=job_id)
    name = values["name"]
    require_current(engine)
    try:
        model_id = insert_model(engine, values)
    except IntegrityError as exc:
        if queries.model_named(engine, name) is not None:
            raise Conflict(f"a model called {name!r} exists already; choose another --name") from exc
        raise
    return get_model(engine, model_id)


def get_model(engine: Engine, ref: int | str, kinds: tuple[str, ...] | None = None) -> StoredModel:
    """The model with id or name ``ref`` (a numeric string is tried as an id, then as a name).

    Raises:
        NotFound: no such model (or not of ``kinds``), naming some that exist.
    """
    rows = sorted(queries.models_matching(engine, ref), key=lambda r: r["name"] != str(ref))  # a name beats an id
    if kinds:
        rows = [r for r in rows if r["kind"] in kinds]
    if not rows:
        known = queries.recent_model_names(engine, kinds)
        what = "/".join(kinds) if kinds else "model"
        raise NotFound(f"unknown {what} {ref!r}; recent ones: {', '.join(known) or 'none (train one first)'}")
    r = rows[0]
    return StoredModel(id=r["id"], name=r["name"], kind=r["kind"], version=r["version"],
                       encoder_version=r["encoder_version"], params=r["params"] or {}, metrics=r["metrics"] or {},
                       training_set=r["training_set"] or {}, artefact_path=r["artefact_path"],
                       artefact_sha256=r["artefact_sha256"], created_at=r["created_at"])


def update_metrics(engine: Engine, model_id: int, **metrics) -> None:
    """Merge ``metrics`` into a model's metrics (e.g. the scoring run's counts)."""
    merge_metrics(engine, model_id, metrics)
