"""Writes of the ``shards`` table: one ingested shard and all its ``sources`` rows, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from sqlalchemy import Engine, insert

from lensdb.catalog.bulk import copy_batches
from lensdb.catalog.models import Shard, Source


def write_shard(engine: Engine, shard: Mapping[str, Any], sources: Iterable[Mapping[str, np.ndarray]]) -> int:
    """Insert the ``shards`` row ``shard`` and stream its ``sources`` rows in (``shard_id`` is added to each batch),
    all in one transaction: COPY on PostgreSQL, so the next batch is read while the database stores the last.

    Returns the new shard id. A constraint violation (an object id another shard holds, a shard name taken by a
    concurrent run) raises IntegrityError and rolls everything back: a shard is in the catalogue whole or not at all.
    """
    with engine.begin() as conn:
        shard_id = int(conn.execute(insert(Shard).values(**shard)).inserted_primary_key[0])

        def with_shard():
            for cols in sources:
                yield {**cols, "shard_id": np.full(len(cols["object_id"]), shard_id, dtype=np.int64)}

        copy_batches(conn, Source.__tablename__, with_shard())
    return shard_id
