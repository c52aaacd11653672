"""The vector store: one Milvus collection per encoder version, written in validated batches, searched by kNN.

The same code serves a Milvus Lite file (``<data_dir>/milvus.db``), a Milvus Lite server (``http://host:port``)
and a Milvus 2.6 standalone or cluster (``uri`` + ``token``); nothing here depends on which one answers.

Typical use (the embedding job)::

    with VectorStore.open(settings, "moco-v2-r50@2024-06", dim=2048, create=True) as store:
        store.insert({"object_id": ids, "vector": unit_vectors, "norm": norms, ...})
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from pymilvus import MilvusClient

from lensdb.core.config import Settings
from lensdb.core.errors import Conflict, InvalidInput, LensDBError, NotFound
from lensdb.vectordb import collection, naming, records, schema, search
from lensdb.vectordb.config import VectorDBConfig
from lensdb.vectordb.connection import connect, disconnect, milvus_call
from lensdb.vectordb.partitions import all_partitions, row_partitions

#: Ids per ``object_id in [...]`` lookup: keeps each expression well under the gRPC message limit.
_ID_CHUNK = 16384
#: What a write needs to know of a stored row: its partition (survey, r magnitude) and where its image came from.
SOURCE_FIELDS = (schema.PRIMARY, "survey", "mag_r", "shard", "shard_row")


class VectorStore:
    """The collection of one encoder version. Create instances with :meth:`open`.

    Attributes:
        client: the pymilvus client; uri: where it points.
        name, encoder_version, dim, bins, index_type: what the collection is (see :class:`CollectionInfo`).
        config: the tunables in use.
    """

    def __init__(self, client: MilvusClient, uri: str, info: collection.CollectionInfo, config: VectorDBConfig):
        self.client, self.uri, self.name = client, uri, info.name
        self.encoder_version, self.dim, self.bins = info.encoder_version, info.dim, info.bins
        self.index_type, self.config = info.index_type or config.index_type, config
        self._closed = False
        self._loaded = False
        self._rows_cache: dict[tuple[str, ...] | None, int] = {}

    @classmethod
    def open(
        cls,
        settings: Settings,
        encoder_version: str,
        *,
        dim: int | None = None,
        create: bool = False,
        config: VectorDBConfig | None = None,
        load: bool = True,
    ) -> VectorStore:
        """Open (or create) the collection of ``encoder_version``.

        Args:
            settings: where Milvus is (``milvus_uri``, ``milvus_token``) and the ``[vectordb]`` config section.
            encoder_version: the exact encoder version string; its vectors never share a collection with another's.
            dim: expected vector dimension (default ``config.dim`` when creating; checked when opening).
            create: create the collection (schema, partitions, index) when it does not exist, and complete the
                layout of one whose creator died half-way.
            config: tunables (default: the ``[vectordb]`` section of the settings).
            load: load the collection for search.

        Raises:
            NotFound: the collection does not exist and ``create`` is False.
            Conflict: the collection holds another encoder version, another dimension, or is not LensDB's.
        """
        config = config or VectorDBConfig.from_settings(settings)
        name = naming.collection_name(encoder_version, config.collection_prefix)
        client = connect(settings, config)
        try:
            if not milvus_call("has_collection", client.has_collection, name):
                if not create:
                    raise NotFound(
                        f"no vectors for encoder version {encoder_version!r} at {settings.milvus_uri} "
                        f"(collection {name}); run the embedding job first, or create it"
                    )
                # an index this server cannot build is refused before anything is created
                collection.check_index_supported(client, config.index_type, settings.milvus_uri)
                collection.create(client, name, encoder_version, dim or config.dim, config)
            info = collection.describe(client, name, encoder_version, dim, config)
            if create:
                info = dataclasses.replace(info, index_type=collection.ensure_layout(client, info, config,
                                                                                      settings.milvus_uri))
            store = cls(client, settings.milvus_uri, info, config)
            if load:
                store.load()
            return store
        except BaseException:
            disconnect(client, settings.milvus_uri)
            raise

    # ------------------------------------------------------------------ lifecycle
    def load(self) -> None:
        """Load the collection (all partitions) into the engine's memory, for search."""
        milvus_call("load_collection", self.client.load_collection, self.name)
        self._loaded = True

    def release(self) -> None:
        """Release the collection from the engine's memory (data stay stored)."""
        milvus_call("release_collection", self.client.release_collection, self.name)
        self._loaded = False

    def drop(self) -> None:
        """Delete the collection and every vector in it. The store is closed afterwards."""
        milvus_call("drop_collection", self.client.drop_collection, self.name)
        self.close()

    def set_index(self, index_type: str) -> None:
        """Replace the vector index (see :data:`lensdb.vectordb.schema.INDEX_TYPES`): release, drop, build, load.

        The stored float vectors stay as they are (the source of truth): a quantised index only adds its codes,
        and going back to HNSW or FLAT rebuilds from the same vectors.

        Raises:
            InvalidInput: an unknown type, or one this server cannot build (named with the server's version).
        """
        if index_type not in schema.INDEX_TYPES:
            raise InvalidInput(f"index type {index_type!r} is not one of {', '.join(schema.INDEX_TYPES)}")
        config = dataclasses.replace(self.config, index_type=index_type)
        collection.check_index_supported(self.client, index_type, self.uri)
        schema.index_params(self.client, config, self.dim)  # a bad pq_m is refused before anything is dropped
        self.config = config
        self.release()
        collection.rebuild_index(self.client, self.name, self.config, self.dim, self.uri)
        self.index_type = index_type
        self.load()

    def _ensure_loaded(self) -> None:
        if not self._loaded:  # Milvus answers queries only on a loaded collection
            self.load()

    def flush(self, wait: bool = True, timeout_s: float = 3600.0, poll_s: float = 0.5) -> None:
        """Seal what was written so that the engine indexes it; call it after a bulk load.

        Until then the newest rows sit in growing segments that every search scans by brute force. With ``wait``,
        return only once the vector index covers every row (or raise after ``timeout_s`` seconds).
        """
        milvus_call("flush", self.client.flush, self.name)
        deadline = time.monotonic() + timeout_s
        while wait:
            info = milvus_call("describe_index", self.client.describe_index, self.name, schema.VECTOR) or {}
            if int(info.get("pending_index_rows", 0)) == 0 and info.get("state", "Finished") == "Finished":
                return
            if time.monotonic() > deadline:
                raise LensDBError(f"the index of {self.name} is still building after {timeout_s:.0f} s: {info}")
            time.sleep(poll_s)

    def close(self) -> None:
        """Close the connection (for a Lite file, stop its in-process server once its last user closes)."""
        if not self._closed:
            self._closed = True
            disconnect(self.client, self.uri)

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ writes
    def _existing(self, ids: np.ndarray, fields: Sequence[str] = (schema.PRIMARY,)) -> list[dict[str, Any]]:
        self._ensure_loaded()
        out: list[dict[str, Any]] = []
        step = _ID_CHUNK
        if schema.VECTOR in fields:  # keep each answer within one gRPC message
            step = max(1, min(step, self.config.max_message_bytes // (4 * self.dim + 512)))
        for start in range(0, len(ids), step):
            chunk = ",".join(str(int(i)) for i in ids[start : start + step])
            out += milvus_call(
                "query",
                self.client.query,
                self.name,
                filter=f"{schema.PRIMARY} in [{chunk}]",
                output_fields=list(fields),
                # the duplicate check of every write must see the writes before it, whatever the collection's level
                consistency_level="Strong",
            )
        return out

    def _write(self, recs: records.Records, method: str) -> int:
        self._rows_cache.clear()
        parts = row_partitions(self.bins, recs.survey, recs.mag_r)
        fn = getattr(self.client, method)
        written = 0
        for part in sorted(set(parts)):
            subset = recs.take(np.flatnonzero(parts == part))
            for batch in records.batches(subset, self.config.max_batch_rows, self.config.max_message_bytes):
                milvus_call(method, fn, self.name, batch.rows(), partition_name=part)
                written += len(batch)
        return written

    def insert(self, columns: Mapping[str, Any]) -> int:
        """Add new objects (see :func:`lensdb.vectordb.records.validate` for the columns). Returns rows written.

        Raises:
            InvalidInput: a column is malformed (nothing is written).
            Conflict: some ids are already stored (nothing is written); use :meth:`upsert` to replace them.
        """
        recs = records.validate(columns, self.dim, self.config.unit_norm_tol)
        found = self._existing(recs.object_id)
        if found:
            raise Conflict(
                f"{len(found)} of {len(recs)} object ids are already stored (e.g. "
                f"{found[0][schema.PRIMARY]}); nothing written; use upsert to replace them"
            )
        return self._write(recs, "insert")

    def stored(self, ids: Sequence[int] | np.ndarray, fields: Sequence[str] = SOURCE_FIELDS) -> dict[int, dict]:
        """The stored rows of ``ids`` (their ``fields``), keyed by id: a Strong read that sees every write before it.

        A writer takes it once for a whole shard and hands it to :meth:`upsert` for each batch, instead of one
        Strong read per batch (that read, waiting for the server's time tick, cost two thirds of the insert rate on
        a Milvus server). The id range is counted first: a shard none of whose range is stored (a first run) costs
        one count.
        """
        arr = np.unique(np.asarray(ids, np.int64))
        if arr.size == 0:
            return {}
        if self.count(expr=f"{schema.PRIMARY} >= {int(arr[0])} and {schema.PRIMARY} <= {int(arr[-1])}") == 0:
            return {}
        return {int(r[schema.PRIMARY]): r for r in self._existing(arr, fields)}

    def upsert(self, columns: Mapping[str, Any], *, same_source: bool = False,
               stored: Mapping[int, Mapping[str, Any]] | None = None) -> int:
        """Insert or replace objects by id. An object whose survey or r bin changed leaves its old partition.

        Args:
            same_source: refuse (Conflict, nothing written) to replace a stored object that came from another shard
                or another row of it: re-embedding a shard replaces its own vectors, never another shard's.
            stored: what :meth:`stored` answered for these ids, taken after the last write to them by anyone else
                (the embedding job takes it once per shard: only it writes the shard's objects); then no read is
                made here, and a batch of which nothing is stored is a plain insert. ``None``: read now.
        """
        recs = records.validate(columns, self.dim, self.config.unit_norm_tol)
        fields = (schema.PRIMARY, "survey", "mag_r") + (("shard", "shard_row") if same_source else ())
        if stored is None:
            found = self._existing(recs.object_id, fields)
        else:
            missing = set(fields) - set(next(iter(stored.values()), {k: None for k in fields}))
            if missing:
                raise InvalidInput(f"upsert: the stored rows given lack field(s) {sorted(missing)}; "
                                   f"take them with stored(ids, {SOURCE_FIELDS})")
            found = [stored[i] for i in recs.object_id.tolist() if i in stored]
            if not found:
                return self._write(recs, "insert")
        if found and same_source:
            pos = {int(i): k for k, i in enumerate(recs.object_id)}
            for r in found:
                k = pos[int(r[schema.PRIMARY])]
                if r["shard"] != recs.shard[k] or int(r["shard_row"]) != int(recs.shard_row[k]):
                    raise Conflict(
                        f"object {r[schema.PRIMARY]} is stored from shard {r['shard']} row {r['shard_row']}, not "
                        f"{recs.shard[k]} row {int(recs.shard_row[k])}: two shards hold the same object id; "
                        "nothing of this batch was written (fix the ids, or drop the other shard's vectors first)")
        if found:
            old = {r[schema.PRIMARY]: r for r in found}
            ids = np.array(list(old), dtype=np.int64)
            old_parts = row_partitions(
                self.bins,
                np.array([old[i]["survey"] for i in ids], dtype=object),
                np.array([old[i]["mag_r"] for i in ids], dtype=np.float32),
            )
            pos = {int(i): k for k, i in enumerate(recs.object_id)}
            sel = np.array([pos[int(i)] for i in ids])
            new_parts = row_partitions(self.bins, recs.survey[sel], recs.mag_r[sel])
            moved = ids[old_parts != new_parts]
            if moved.size:
                self.delete(moved)
        return self._write(recs, "upsert")

    def delete(self, ids: Sequence[int] | np.ndarray) -> int:
        """Delete objects by id (unknown ids are ignored). Returns the number of ids sent."""
        arr = np.asarray(ids)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise InvalidInput(f"delete: ids must be a 1-D list of integers; got dtype {arr.dtype}")
        arr = np.unique(arr.astype(np.int64))
        self._rows_cache.clear()
        for start in range(0, arr.size, _ID_CHUNK):
            milvus_call("delete", self.client.delete, self.name, ids=arr[start : start + _ID_CHUNK].tolist())
        return int(arr.size)

    # ------------------------------------------------------------------ reads
    def get(
        self,
        ids: Sequence[int] | np.ndarray,
        fields: Sequence[str] = tuple(schema.METADATA_FIELDS),
        with_vectors: bool = False,
    ) -> dict[str, np.ndarray]:
        """Stored rows of ``ids`` as column arrays, in the order asked; ids not stored are left out."""
        unknown = set(fields) - set(schema.METADATA_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown field(s) {sorted(unknown)}; known: {', '.join(schema.METADATA_FIELDS)}")
        arr = np.asarray(ids)
        if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
            raise InvalidInput("get: ids must be a 1-D list of integers")
        wanted = [schema.PRIMARY, *fields] + ([schema.VECTOR] if with_vectors else [])
        rows = {r[schema.PRIMARY]: r for r in self._existing(arr.astype(np.int64), wanted)}
        order = [int(i) for i in arr if int(i) in rows]
        out = {schema.PRIMARY: np.array(order, dtype=np.int64)}
        for f in fields:
            out[f] = np.array([rows[i][f] for i in order], dtype=schema.METADATA_FIELDS[f])
        if with_vectors:
            out[schema.VECTOR] = np.array([rows[i][schema.VECTOR] for i in order], dtype=np.float32).reshape(
                len(order), self.dim
            )
        return out

    def count(self, partitions: Sequence[str] | None = None, expr: str = "") -> int:
        """Rows stored (in ``partitions``, matching ``expr``, a compiled filter expression)."""
        self._ensure_loaded()
        # An always-true condition rather than an empty filter: Milvus Lite ignores the partitions of an
        # unfiltered count(*).
        res = milvus_call(
            "count",
            self.client.query,
            self.name,
            filter=expr or f"{schema.PRIMARY} >= 0",
            output_fields=["count(*)"],
            partition_names=list(partitions) if partitions else None,
            consistency_level="Strong",  # a count right after a write includes it
        )
        return int(res[0]["count(*)"])

    def rows_in(self, partitions: Sequence[str] | None) -> int:
        """Rows in ``partitions`` (all when ``None``), cached until this store writes (for search heuristics)."""
        key = tuple(partitions) if partitions else None
        if key not in self._rows_cache:
            self._rows_cache[key] = self.count(partitions)
        return self._rows_cache[key]

    def partition_counts(self) -> dict[str, int]:
        """Rows per partition."""
        return {p: self.count([p]) for p in all_partitions(self.bins)}

    def iter_vectors(self, batch_rows: int | None = None) -> Iterator[dict[str, np.ndarray]]:
        """Every stored (object_id, vector, mag_r), in batches of column arrays, for bulk jobs."""
        batch_rows = batch_rows or max(1, min(16384, self.config.max_message_bytes // (4 * self.dim + 64)))
        self._ensure_loaded()
        it = milvus_call(
            "query_iterator",
            self.client.query_iterator,
            self.name,
            batch_size=batch_rows,
            output_fields=[schema.PRIMARY, schema.VECTOR, "mag_r"],
        )
        try:
            while True:
                rows = milvus_call("query_iterator.next", it.next)
                if not rows:
                    return
                yield {
                    schema.PRIMARY: np.array([r[schema.PRIMARY] for r in rows], dtype=np.int64),
                    schema.VECTOR: np.array([r[schema.VECTOR] for r in rows], dtype=np.float32),
                    "mag_r": np.array([r["mag_r"] for r in rows], dtype=np.float32),
                }
        finally:
            it.close()

    def knn(self, query, k: int = 10, **kwargs):
        """Filtered cosine kNN; see :func:`lensdb.vectordb.search.knn` for the arguments."""
        return search.knn(self, query, k, **kwargs)
