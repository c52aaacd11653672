"""Where the probe's features come from: the vector store of one encoder version, or arrays in memory.

Both sides speak :class:`FeatureSource`: unit vectors (L2-normalised float32, as the vector store keeps them)
keyed by object id, fetched by id, streamed in blocks for full passes, and searched by inner product with a raw
query vector (the probe's weight vector). Tests and benchmarks use :class:`ArrayFeatures`; the commands use
:class:`StoreFeatures` over the Milvus collection of an encoder version.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from lensdb.classifiers.probe import FeatureMatrix, temporary_matrix
from lensdb.core.errors import Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from lensdb.vectordb.filters import SearchFilter
    from lensdb.vectordb.store import VectorStore

log = logging.getLogger(__name__)
FETCH_ROWS = 16384


class FeatureSource(Protocol):
    """Unit vectors of one encoder version, keyed by int64 object id."""

    encoder_version: str
    dim: int

    def ids(self) -> np.ndarray:
        """(n,) int64: every object id held."""

    def count(self) -> int:
        """Number of objects held."""

    def fetch(self, ids: np.ndarray) -> np.ndarray:
        """(k, dim) float32 vectors of ``ids`` in that order; NotFound naming missing ids."""

    def blocks(self, block_rows: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every (ids (b,), vectors (b, dim) float32), a block at a time."""

    def search(self, query: np.ndarray, k: int, *, filters: SearchFilter | None = None,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` objects with the largest inner product ``query . x``: (ids, inner products), best first.

        ``filters`` restrict the search where the engine can apply them itself; sources that cannot take
        ``allowed`` (sorted ids) instead. Callers pass both.
        """


def present(source: FeatureSource, ids) -> np.ndarray:
    """Mask of the ``ids`` that have a vector in ``source``: asked by id where the source can (the vector store: a
    lookup per 16,384 ids), else against every id it holds."""
    ids = np.asarray(ids, np.int64)
    ask = getattr(source, "present", None)
    return ask(ids) if ask is not None else np.isin(ids, source.ids())


def fetch_present(source: FeatureSource, ids) -> tuple[np.ndarray, np.ndarray]:
    """(the ``ids`` that have a vector, in the order asked; their (k, dim) vectors): one read by id where the
    source can answer with only what it holds (the vector store)."""
    ids = np.asarray(ids, np.int64)
    ask = getattr(source, "fetch_present", None)
    if ask is not None:
        return ask(ids)
    keep = ids[present(source, ids)]
    return keep, (source.fetch(keep) if keep.size else np.zeros((0, source.dim), np.float32))


def _missing(asked: np.ndarray, found: np.ndarray, version: str) -> NotFound:
    gone = np.setdiff1d(asked, found)
    return NotFound(f"{gone.size} of {asked.size} objects have no vector for encoder version {version!r} "
                    f"(e.g. {', '.join(map(str, gone[:5]))}); embed them, or leave them out")


class ArrayFeatures:
    """Vectors held in memory.

    Args:
        ids: (n,) int64 object ids, unique.
        vectors: (n, dim) representations; normalised to unit length here, as the vector store stores them.
        encoder_version: the version they belong to.
    """

    def __init__(self, ids, vectors, encoder_version: str = "array"):
        ids = np.asarray(ids, np.int64)
        vec = np.asarray(vectors, np.float32)
        if vec.ndim != 2 or vec.shape[0] != ids.shape[0]:
            raise InvalidInput(f"vectors must be (n, dim) with n = {ids.shape[0]} ids; got {vec.shape}")
        if np.unique(ids).size != ids.size:
            raise InvalidInput("object ids must be unique")
        norm = np.linalg.norm(vec, axis=1, keepdims=True)
        if (norm == 0).any():
            raise InvalidInput("a vector of zeros has no direction; drop it")
        self._order = np.argsort(ids)
        self._sorted = ids[self._order]
        self._ids, self.vectors = ids, vec / norm
        self.encoder_version, self.dim = encoder_version, vec.shape[1]

    def ids(self) -> np.ndarray:
        return self._ids.copy()

    def count(self) -> int:
        return int(self._ids.size)

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        pos = np.searchsorted(self._sorted, ids).clip(0, max(0, len(self._sorted) - 1))
        ok = self._sorted[pos] == ids if len(self._sorted) else np.zeros(len(ids), bool)
        if not ok.all():
            raise _missing(ids, ids[ok], self.encoder_version)
        return self._order[pos]

    def fetch(self, ids) -> np.ndarray:
        return self.vectors[self._positions(ids)]

    def present(self, ids) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        if not len(self._sorted):
            return np.zeros(ids.shape, bool)
        return self._sorted[np.searchsorted(self._sorted, ids).clip(0, len(self._sorted) - 1)] == ids

    def blocks(self, block_rows: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for s in range(0, len(self._ids), block_rows):
            yield self._ids[s:s + block_rows], self.vectors[s:s + block_rows]

    def search(self, query, k: int, *, filters=None, allowed=None) -> tuple[np.ndarray, np.ndarray]:
        """Exact: a blocked matrix product over the rows in ``allowed`` (all when ``None``)."""
        q = check_query(query, self.dim)
        best_ids, best_ip = np.zeros(0, np.int64), np.zeros(0, np.float32)
        for ids, vec in self.blocks():
            if allowed is not None:
                keep = np.isin(ids, allowed)
                ids, vec = ids[keep], vec[keep]
            ids = np.concatenate([best_ids, ids])
            ip = np.concatenate([best_ip, vec @ q])
            top = np.lexsort((ids, -ip))[:k]
            best_ids, best_ip = ids[top], ip[top]
        return best_ids, best_ip


class StoreFeatures:
    """The Milvus collection of one encoder version (see :class:`lensdb.vectordb.store.VectorStore`)."""

    def __init__(self, store: VectorStore):
        self.store = store
        self.encoder_version, self.dim = store.encoder_version, store.dim

    @classmethod
    def open(cls, settings, encoder_version: str) -> StoreFeatures:
        """Open the collection of ``encoder_version``; NotFound when nothing was embedded with it."""
        from lensdb.vectordb.store import VectorStore

        return cls(VectorStore.open(settings, encoder_version))

    def close(self) -> None:
        self.store.close()

    def ids(self) -> np.ndarray:
        from lensdb.vectordb.store import milvus_call

        it = milvus_call("query_iterator", self.store.client.query_iterator, self.store.name,
                         batch_size=16384, output_fields=["object_id"])
        parts = []
        try:
            while rows := milvus_call("query_iterator.next", it.next):
                parts.append(np.fromiter((r["object_id"] for r in rows), np.int64, len(rows)))
        finally:
            it.close()
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    def count(self) -> int:
        return self.store.count()

    def present(self, ids) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        return np.isin(ids, self.store.get(ids, fields=())["object_id"])

    def fetch_present(self, ids) -> tuple[np.ndarray, np.ndarray]:
        got = self.store.get(np.asarray(ids, np.int64), fields=(), with_vectors=True)
        return got["object_id"], got["vector"]

    def fetch(self, ids) -> np.ndarray:
        ids = np.asarray(ids, np.int64)
        got = self.store.get(ids, fields=(), with_vectors=True)
        if len(got["object_id"]) != len(ids):
            raise _missing(ids, got["object_id"], self.encoder_version)
        return got["vector"]

    def blocks(self, block_rows: int = 8192) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for batch in self.store.iter_vectors(block_rows):
            yield batch["object_id"], batch["vector"]

    def search(self, query, k: int, *, filters=None, allowed=None) -> tuple[np.ndarray, np.ndarray]:
        """The engine's kNN (exact on a FLAT index, approximate on HNSW); ``allowed`` is not used."""
        import dataclasses

        q = check_query(query, self.dim)
        cfg = self.store.config
        if self.store.index_type.startswith("IVF"):  # a probe's query is near no list: scan ranking_nprobe of them
            self.store.config = dataclasses.replace(cfg, ivf_nprobe=cfg.ranking_nprobe or cfg.ivf_nlist)
        try:
            res = self.store.knn(q, k=int(k), filters=filters, output_fields=())
        finally:
            self.store.config = cfg
        # The engine ranks by cosine with the normalised query; the unit rows make |q| * cosine = q . x.
        return res.ids, (res.similarity.astype(np.float64) * float(np.linalg.norm(q))).astype(np.float32)


def check_query(query, dim: int) -> np.ndarray:
    """``query`` as a (dim,) float32 vector; InvalidInput on a dimension mismatch or non-finite values."""
    q = np.asarray(query, np.float32).ravel()
    if q.shape != (dim,):
        raise InvalidInput(f"dimension mismatch: the probe has {q.size} weights but the vectors are {dim}-d "
                           "(was it trained on another encoder?)")
    if not np.isfinite(q).all() or not q.any():
        raise InvalidInput("the probe's weight vector is zero or not finite; retrain it")
    return q


def check_version(source: FeatureSource, encoder_version: str | None) -> None:
    """Conflict unless ``source`` holds vectors of ``encoder_version``."""
    if encoder_version is not None and source.encoder_version != encoder_version:
        raise Conflict(f"encoder version mismatch: the model was trained on {encoder_version!r} vectors, the "
                       f"features are {source.encoder_version!r}; score with the model's encoder version")


def load_matrix(source: FeatureSource, ids, *, memory_gb: float = 8.0, dtype: str = "auto",
                folder: str | Path | None = None, progress=None) -> FeatureMatrix:
    """The vectors of ``ids`` (in that order) as a :class:`FeatureMatrix` within the memory budget.

    Args:
        source: where the vectors are.
        ids: (n,) object ids.
        memory_gb: budget for the matrix, GiB; past it the rows go to a float16 file in ``folder``.
        dtype: ``auto``, ``float32`` or ``float16``.
        progress: optional callable taking the number of rows just fetched.
    """
    ids = np.asarray(ids, np.int64)
    matrix = temporary_matrix(len(ids), source.dim, memory_gb, dtype, folder)
    try:
        for s in range(0, len(ids), FETCH_ROWS):
            rows = source.fetch(ids[s:s + FETCH_ROWS])
            if rows.shape[1] != source.dim:
                raise InvalidInput(f"dimension mismatch: got {rows.shape[1]}-d vectors from a {source.dim}-d source")
            matrix.write(s, rows)
            if progress:
                progress(len(rows))
    except BaseException:
        matrix.close()
        raise
    return matrix


def write_store(store: VectorStore, engine, ids, vectors, *, shard: str = "unknown") -> int:
    """Insert raw representations of catalogue objects into ``store``: unit vectors, norms and the metadata the
    store filters on (survey, magnitudes, position, type), read from ``sources``.

    For tests, benchmarks and demos that embed outside the embedding job. Returns rows written.
    """
    from lensdb.catalog import queries

    ids = np.asarray(ids, np.int64)
    vec = np.asarray(vectors, np.float32)
    norm = np.linalg.norm(vec, axis=1)
    cols = ("survey", "mag_g", "mag_r", "mag_z", "ra", "dec", "source_type")
    meta = {i: tuple(r[1:]) for i, r in queries.sources(engine, ids, cols).items()}
    if len(meta) != len(ids):
        raise _missing(ids, np.fromiter(meta, np.int64), "catalogue (sources)")
    rows = [meta[int(i)] for i in ids]
    columns = {c: np.array([r[k] for r in rows], dtype=object if c in ("survey", "source_type") else float)
               for k, c in enumerate(cols)}
    columns["mag_g"], columns["mag_r"], columns["mag_z"] = (np.nan_to_num(columns[m].astype(float), nan=np.inf)
                                                           for m in ("mag_g", "mag_r", "mag_z"))
    written = 0
    for i in range(0, len(ids), 20_000):
        sl = slice(i, i + 20_000)
        written += store.insert({"object_id": ids[sl], "vector": vec[sl] / norm[sl, None], "norm": norm[sl],
                                 "shard": np.full(len(ids[sl]), shard), **{c: v[sl] for c, v in columns.items()}})
    return written
