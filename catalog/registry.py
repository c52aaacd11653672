"""Writes of the ``models`` and ``predictions`` tables: a model row, its metrics, and a model's whole ranking.

What a model *is* (a probe's head, a fine-tuned network's file) is the classifiers' business
(:mod:`lensdb.classifiers.registry`); this module only stores rows, each write in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sqlalchemy import Engine, delete, insert, select, update

from lensdb.catalog.bulk import copy_batches
from lensdb.catalog.models import Model, Prediction


def insert_model(engine: Engine, values: Mapping[str, Any]) -> int:
    """Insert one ``models`` row; returns its id (IntegrityError when the name is taken)."""
    with engine.begin() as conn:
        return int(conn.execute(insert(Model).values(**values).returning(Model.id)).scalar_one())


def merge_metrics(engine: Engine, model_id: int, metrics: Mapping[str, Any]) -> None:
    """Merge ``metrics`` into a model's stored metrics (read and write in one transaction)."""
    with engine.begin() as conn:
        old = conn.execute(select(Model.metrics).where(Model.id == model_id)).scalar_one()
        conn.execute(update(Model).where(Model.id == model_id).values(metrics={**(old or {}), **metrics}))


def replace_predictions(engine: Engine, model_id: int, batches: Iterable[Mapping[str, np.ndarray]]) -> int:
    """Replace a model's predictions by ``batches`` of columns (object_id, score, rank; model_id is added), in one
    transaction (COPY on PostgreSQL). Returns the rows written; IntegrityError when an object is not a source."""

    def with_model():
        for cols in batches:
            n = len(cols["object_id"])
            yield {"model_id": np.full(n, model_id, np.int64), **cols}

    with engine.begin() as conn:
        conn.execute(delete(Prediction).where(Prediction.model_id == model_id))
        return copy_batches(conn, Prediction.__tablename__, with_model())
